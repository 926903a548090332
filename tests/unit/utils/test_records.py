"""Finding records without the I/O: queries, checks and paging decisions (utils/records.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from airflow_provider_zoho_attach.exceptions import ZohoCRMInvalidRequestError
from airflow_provider_zoho_attach.utils.records import (
    CoqlPager,
    SearchPager,
    build_coql_query,
    coql_error_hint,
    modified_after,
    parse_coql_page,
    search_error_hint,
    validate_criteria,
    validate_record_fields,
    validate_where,
)


def test_query_of_the_first_and_next_pages():
    assert (
        build_coql_query("Deals", ("id", "Stage"), "Stage = 'Won'")
        == "select id, Stage from Deals where Stage = 'Won' order by id asc limit 2000"
    )
    assert (
        build_coql_query("Deals", ("id",), "a = 1 or b = 2", after_id="42")
        == "select id from Deals where (a = 1 or b = 2) and id > 42 order by id asc limit 2000"
    )


def test_no_where_selects_every_record_and_modified_since_narrows_it():
    pager = CoqlPager.create("deals", fields=["Stage"])
    assert pager.module == "Deals"
    assert pager.query() == "select id, Stage from Deals where id is not null order by id asc limit 2000"
    since = datetime(2024, 5, 1, 10, 0, 0, 123, tzinfo=UTC)
    pager = CoqlPager.create("Deals", where="Stage = 'Won'", modified_since=since)
    assert pager.where == "(Stage = 'Won') and Modified_Time > '2024-05-01T10:00:00+00:00'"


@pytest.mark.parametrize(
    "where",
    [
        "",
        "   ",
        None,
        "Stage = 'x'; delete",
        "Stage = 'x' limit 5",
        "Stage = 'x' LIMIT 5 OFFSET 10",
        "Stage = 'x' order  by id",
        "Stage = 'x' offset 3",
        "Stage = 'unclosed",
        "(Stage = 'x'",
        "Stage = 'x')",
    ],
)
def test_bad_where_clauses_are_refused(where):
    with pytest.raises(ZohoCRMInvalidRequestError, match="where="):
        validate_where(where)


def test_words_inside_strings_are_values_not_clauses():
    assert validate_where("Description = 'no limit; order by me'") == "Description = 'no limit; order by me'"
    assert validate_where("where Stage = 'it\\'s'") == "Stage = 'it\\'s'"


@pytest.mark.parametrize("fields", [[], ["Stage;"], ["a b"], [3], [f"F{i}" for i in range(50)]])
def test_bad_fields_are_refused(fields):
    if fields == []:
        assert validate_record_fields(fields) == ("id",)
        return
    with pytest.raises(ZohoCRMInvalidRequestError, match="fields="):
        validate_record_fields(fields)


def test_fields_keep_id_first_once():
    assert validate_record_fields("Stage, id,Owner.name") == ("id", "Stage", "Owner.name")


def test_keyset_paging_moves_forward_and_stops():
    pager = CoqlPager.create("Leads")
    rows = pager.advance({"data": [{"id": "5"}, {"id": "9"}], "info": {"count": 2, "more_records": True}})
    assert [row["id"] for row in rows] == ["5", "9"]
    assert not pager.finished
    assert pager.query().endswith("where (id is not null) and id > 9 order by id asc limit 2000")
    assert pager.advance({"data": [{"id": "11"}], "info": {"count": 1, "more_records": False}})
    assert pager.finished


def test_a_page_that_does_not_move_forward_stops_the_paging():
    pager = CoqlPager(module="Leads", fields=("id",), where="id is not null", last_id="9")
    pager.advance({"data": [{"id": "7"}], "info": {"count": 1, "more_records": True}})
    assert pager.finished


def test_no_content_is_no_rows():
    page = parse_coql_page(None)
    assert (page.records, page.more, page.count) == ([], False, 0)
    pager = CoqlPager.create("Leads")
    assert pager.advance(None) == []
    assert pager.finished


@pytest.mark.parametrize("criteria", ["", "Stage:equals:x", "((Stage:equals:x)", "(nothing)", 5])
def test_bad_criteria_are_refused(criteria):
    with pytest.raises(ZohoCRMInvalidRequestError, match="criteria="):
        validate_criteria(criteria)


def test_criteria_with_escaped_brackets_pass():
    assert validate_criteria(r"(Name:equals:a\(b)") == r"(Name:equals:a\(b)"


def test_search_stops_at_two_thousand_and_says_so():
    pager = SearchPager.create("Deals", criteria="(Stage:equals:Won)", modified_since="2024-01-01T00:00:00Z")
    assert pager.criteria == "((Stage:equals:Won)and(Modified_Time:greater_than:2024-01-01T00:00:00+00:00))"
    page = {"data": [{"id": str(i)} for i in range(200)], "info": {"more_records": True}}
    for number in range(1, 11):
        assert pager.params()["page"] == str(number)
        _, more = pager.advance(page)
        assert more is (number < 10)
    assert pager.capped


def test_search_that_ends_before_the_cap_is_not_capped():
    pager = SearchPager.create("Deals", criteria="(Stage:equals:Won)")
    records, more = pager.advance({"data": [{"id": "1"}], "info": {"more_records": False}})
    assert records == [{"id": "1"}]
    assert not more
    assert not pager.capped


def test_modified_since_alone_asks_get_records_first_then_coql_from_the_last_id():
    since = datetime(2024, 5, 1, 10, tzinfo=UTC)
    pager = CoqlPager.create("Deals", fields=("Stage",), modified_since=since)
    assert pager.get_records_first()
    params, headers = pager.get_records_call()
    assert params == {"fields": "id,Stage", "sort_by": "id", "sort_order": "asc", "per_page": "200"}
    assert headers == {"If-Modified-Since": "2024-05-01T10:00:00+00:00"}
    page = {"data": [{"id": "5"}, {"id": "9"}], "info": {"more_records": True}}
    assert [r["id"] for r in pager.advance(page)] == ["5", "9"]
    assert not pager.get_records_first()
    assert pager.query().endswith(
        "and Modified_Time > '2024-05-01T10:00:00+00:00') and id > 9 order by id asc limit 2000"
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"where": "Stage = 'Won'", "modified_since": "2024-05-01T10:00:00+00:00"},
        {"fields": ("Owner.email",), "modified_since": "2024-05-01T10:00:00+00:00"},
    ],
)
def test_otherwise_coql_alone(kwargs):
    assert not CoqlPager.create("Deals", **kwargs).get_records_first()


def test_coql_hints_point_at_the_place_the_column_or_the_operator():
    syntax = coql_error_hint("SYNTAX_ERROR", {"near": "and", "line": 1, "column": 9}, "select\n  id")
    assert "near 'and' (line 1, column 9) in: select id." in syntax
    assert "'Stage_Name' is not a field API name" in coql_error_hint(
        "INVALID_QUERY", {"column_name": "Stage_Name"}, ""
    )
    assert "Operator 'like' does not apply to 'Amount'" in coql_error_hint(
        "INVALID_QUERY", {"column_name": "Amount", "operator": "like"}, ""
    )
    assert coql_error_hint("OAUTH_SCOPE_MISMATCH", {}, "") is None
    assert "'(a:b:c)'" in search_error_hint("INVALID_QUERY", "(a:b:c)")
    assert "COQL where clause" in search_error_hint("LIMIT_REACHED", "(a:b:c)")
    assert search_error_hint("INTERNAL_ERROR", "(a:b:c)") is None


def test_modified_after_narrows_a_condition_to_whole_seconds_and_leaves_it_alone_without_a_time():
    assert modified_after("id in (1, 2)", None) == "id in (1, 2)"
    since = datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)
    expected = "(id in (1, 2)) and Modified_Time > '2024-05-01T10:00:00+00:00'"
    assert modified_after("id in (1, 2)", since) == expected
