"""The hook finds records on the emulator: COQL keyset pages, search with its cap, errors."""

from __future__ import annotations

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
