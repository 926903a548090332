"""The hook finds records on the emulator: COQL keyset pages, search with its cap, errors."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from unittest.mock import Mock

import pytest

from airflow_provider_zoho_attach.exceptions import ZohoCRMInvalidRequestError


def test_keyset_paging_returns_every_record_exactly_once(zoho_emulator, hook):
    ids = zoho_emulator.add_records("Leads", ({"Last_Name": f"L{i}"} for i in range(5000)))
    found = [record["id"] for record in hook.iter_records("Leads", fields=["Last_Name"])]
    assert found == ids
    assert zoho_emulator.count("POST", "/coql") == 3


def test_a_where_clause_filters_and_modified_since_narrows(zoho_emulator, hook):
    rows = [{"Stage": "Won" if i % 3 == 0 else "Lost", "Modified_Time": 1_700_000_000 + i} for i in range(30)]
    ids = zoho_emulator.add_records("Deals", rows)
    won = list(hook.iter_records("Deals", where="Stage = 'Won'", fields=("Stage",)))
    assert [r["id"] for r in won] == ids[::3]
    assert {r["Stage"] for r in won} == {"Won"}
    since = datetime.fromtimestamp(1_700_000_020, UTC)
    recent = hook.iter_records("Deals", where="Stage = 'Won'", modified_since=since)
    assert [r["id"] for r in recent] == [ids[21], ids[24], ids[27]]


def test_a_search_past_two_thousand_is_flagged_and_logged(zoho_emulator, hook):
    zoho_emulator.add_records("Contacts", ({"Last_Name": f"Smith {i}"} for i in range(2100)))
    zoho_emulator.add_records("Contacts", [{"Last_Name": "Jones"}])
    found = hook.iter_records("Contacts", criteria="(Last_Name:starts_with:Smith)", fields=["Last_Name"])
    hook._log = log = Mock(wraps=hook.log)
    records = list(found)
    assert len(records) == 2000
    assert len({r["id"] for r in records}) == 2000
    assert found.capped
    (message, *args), _ = log.warning.call_args
    assert "stopped at Zoho's limit of 2000 records" in message % tuple(args)
    few = hook.iter_records("Contacts", criteria="(Last_Name:equals:Jones)")
    assert len(list(few)) == 1
    assert not few.capped


def test_a_coql_syntax_error_is_one_clear_line(zoho_emulator, hook):
    zoho_emulator.add_records("Deals", [{"Stage": "Won"}])
    with pytest.raises(ZohoCRMInvalidRequestError) as caught:
        list(hook.iter_records("Deals", where="Stage = 'Won' and Stage = 'x' and Stage = 'y'"))
    text = str(caught.value)
    assert "\n" not in text
    assert "SYNTAX_ERROR" in text
    assert '"near": "and"' in text
    assert caught.value.code == "SYNTAX_ERROR"
    with pytest.raises(ZohoCRMInvalidRequestError, match=r"INVALID_QUERY.*Nope"):
        hook.coql("select Nope from Deals where id is not null")


def test_coql_returns_the_answer_and_no_rows_is_empty(zoho_emulator, hook):
    zoho_emulator.add_records("Deals", [{"Stage": "Won"}, {"Stage": "Lost"}])
    answer = hook.coql("select Stage from Deals where Stage = 'Lost'")
    assert [row["Stage"] for row in answer["data"]] == ["Lost"]
    assert answer["info"] == {"count": 1, "more_records": False}
    assert hook.coql("select Stage from Deals where Stage = 'None'") == {
        "data": [],
        "info": {"count": 0, "more_records": False},
    }


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"where": "Stage = 'x' limit 10"}, "where"),
        ({"where": "Stage = 'x'; drop"}, "where"),
        ({"where": ""}, "where"),
        ({"criteria": "Stage:equals:x"}, "criteria"),
        ({"where": "a = 1", "criteria": "(a:equals:1)"}, "criteria"),
        ({"fields": ["bad name"]}, "fields"),
        ({"modified_since": "yesterday"}, "modified_since"),
    ],
)
def test_bad_input_is_refused_before_any_request(zoho_emulator, hook, kwargs, argument):
    with pytest.raises(ZohoCRMInvalidRequestError, match=f"{argument}="):
        hook.iter_records("Deals", **kwargs)
    assert zoho_emulator.requests == []


def test_modified_since_alone_starts_with_get_records_and_goes_on_with_coql(zoho_emulator, hook):
    base = 1_700_000_000
    ids = zoho_emulator.add_records("Deals", ({"Modified_Time": base + i} for i in range(700)))
    since = datetime.fromtimestamp(base + 99, UTC)
    found = [r["id"] for r in hook.iter_records("Deals", fields=("Modified_Time",), modified_since=since)]
    assert found == ids[100:]  # each once, ids ascending across the two APIs
    calls = [(r.method, r.path, r.status) for r in zoho_emulator.requests if r.path.startswith("/crm/")]
    assert calls == [("GET", "/crm/v8/Deals", 200), ("POST", "/crm/v8/coql", 200)]
    assert hook.credits.used == 1 + 3


def test_modified_since_with_nothing_changed_costs_one_credit_and_finds_nothing(zoho_emulator, hook):
    zoho_emulator.add_records("Deals", [{"Modified_Time": 1_700_000_000}])
    assert list(hook.iter_records("Deals", modified_since=datetime.fromtimestamp(1_800_000_000, UTC))) == []
    assert [r.status for r in zoho_emulator.requests if r.path.startswith("/crm/")] == [304]
    assert hook.credits.used == 1
    few = list(hook.iter_records("Deals", modified_since=datetime.fromtimestamp(1, UTC)))
    assert len(few) == 1
    assert hook.credits.used == 2  # COQL alone would have cost 3 each time


def test_a_dotted_field_or_a_where_keeps_to_coql(zoho_emulator, hook):
    zoho_emulator.add_records("Deals", [{"Stage": "Won"}])
    since = datetime.fromtimestamp(1, UTC)
    assert len(list(hook.iter_records("Deals", fields=("Owner.email",), modified_since=since))) == 1
    assert len(list(hook.iter_records("Deals", where="Stage = 'Won'", modified_since=since))) == 1
    assert zoho_emulator.count("GET", "/Deals") == 0
    assert zoho_emulator.count("POST", "/coql") == 2


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            "select id from Deals where Stage = 'Won' and Stage = 'x' and Stage = 'y'",
            r"^run a COQL query failed: \[SYNTAX_ERROR, HTTP 400\] error occured while parsing the query "
            r".*Hint: The query stops parsing near 'and' \(line 1, column 58\) in: select id from Deals "
            r"where Stage = 'Won' and Stage = 'x' and Stage = 'y'\. Check quotes and brackets; more than two "
            r"conditions need brackets, as in \(\(A and B\) and C\)\.$",
        ),
        (
            "select Stage_Name from Deals where id is not null",
            r"\[INVALID_QUERY, HTTP 400\].*Hint: 'Stage_Name' is not a field API name of the module",
        ),
        (
            "select id from Deals where Stage > 'W'",
            r"\[INVALID_QUERY, HTTP 400\] invalid query formed .*"
            r"Hint: Operator '>' does not apply to 'Stage'",
        ),
        (
            "select id from Deals where id is not null limit 5000",
            r"\[LIMIT_EXCEEDED, HTTP 400\].*Hint: COQL returns 2,000 rows a call",
        ),
    ],
)
def test_each_coql_error_is_one_line_with_a_hint_about_the_query(zoho_emulator, hook, query, expected):
    zoho_emulator.add_records("Deals", [{"Stage": "Won"}])
    with pytest.raises(ZohoCRMInvalidRequestError) as caught:
        hook.coql(query)
    text = str(caught.value)
    assert "\n" not in text
    assert caught.value.status_code == 400
    assert re.search(expected, text), text


def test_a_search_error_is_one_line_with_a_hint_about_the_criteria(zoho_emulator, hook):
    zoho_emulator.add_records("Deals", [{"Stage": "Won"}])
    with pytest.raises(ZohoCRMInvalidRequestError) as caught:
        list(hook.iter_records("Deals", criteria="((Stage:like:Won)and(Stage:equals:x))"))
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith("search Deals failed: [INVALID_QUERY, HTTP 400] invalid operator found")
    assert "Hint: Zoho refuses the criteria '((Stage:like:Won)and(Stage:equals:x))'" in text
