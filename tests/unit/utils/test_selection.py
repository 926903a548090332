"""The record selection (utils/selection.py): one checked value, rows read through a hook's public API."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from airflow_provider_zoho_attach.exceptions import ZohoCRMInvalidRequestError
from airflow_provider_zoho_attach.utils.selection import RecordSelection


class FakeHook:
    """Records what the selection asks; answers COQL with the ids of the query's ``in (...)``."""

    def __init__(self, capped=False):
        self.queries: list[str] = []
        self.iter_calls: list[dict] = []
        self.capped = capped

    def coql(self, query):
        self.queries.append(query)
        inside = query.split("id in (", 1)[1].split(")", 1)[0]
        return {
            "data": [{"id": i.strip(), "Stage": "Won"} for i in inside.split(",")],
            "info": {"more_records": False},
        }

    def iter_records(self, module, **kwargs):
        self.iter_calls.append({"module": module, **kwargs})
        return _Rows([{"id": "1"}, {"id": "2"}], self.capped)


class _Rows:
    def __init__(self, rows, capped):
        self._it = iter(rows)
        self.capped = capped

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._it)


@pytest.mark.parametrize(
    ("kwargs", "kind"),
    [
        ({}, "all"),
        ({"records": "1, 2"}, "records"),
        ({"where": "Stage = 'Won'"}, "where"),
        ({"criteria": "(Stage:equals:Won)"}, "criteria"),
        # What templates render an unset argument to counts as not given.
        ({"records": "", "where": "  ", "criteria": None}, "all"),
        ({"records": [], "where": "Stage = 'Won'"}, "where"),
    ],
)
def test_the_kind_is_the_one_argument_given(kwargs, kind):
    assert RecordSelection.build("deals", **kwargs).kind == kind
    assert RecordSelection.build("deals", **kwargs).module == "Deals"


def test_more_than_one_way_is_refused_with_one_clear_line():
    with pytest.raises(
        ZohoCRMInvalidRequestError, match=r"at most one of .* \(got records, where\)"
    ) as caught:
        RecordSelection.build("Deals", records=["1"], where="Stage = 'Won'")
    assert caught.value.code == "INVALID_ARGUMENT"
    assert "nothing was sent" in str(caught.value)


@pytest.mark.parametrize(
    "records",
    [["1", "x"], "12a", [1.5], [None], [{"name": "no id"}], 7.0],
)
def test_records_must_be_ids(records):
    with pytest.raises(ZohoCRMInvalidRequestError, match="records="):
        RecordSelection.build("Deals", records=records)


def test_records_take_ids_strings_ints_and_find_output():
    selection = RecordSelection.build(
        "Deals", records=[{"module": "Deals", "record_id": "3"}, {"id": "4"}, 5, " 6 ", "3"]
    )
    assert selection.records == ("3", "4", "5", "6")
    assert RecordSelection.build("Deals", records="7,8,,9").records == ("7", "8", "9")


def test_records_of_another_module_are_refused():
    with pytest.raises(ZohoCRMInvalidRequestError, match="records of Deals, not of Leads"):
        RecordSelection.build("Deals", records=[{"module": "Leads", "record_id": "1"}])
    assert RecordSelection.build("Deals", records=[{"module": "deals", "record_id": "1"}]).records == ("1",)


def test_bad_where_criteria_and_time_are_refused():
    with pytest.raises(ZohoCRMInvalidRequestError, match="where="):
        RecordSelection.build("Deals", where="Stage = 'Won' limit 3")
    with pytest.raises(ZohoCRMInvalidRequestError, match="criteria="):
        RecordSelection.build("Deals", criteria="Stage:equals:Won")
    with pytest.raises(ZohoCRMInvalidRequestError, match="modified_since="):
        RecordSelection.build("Deals", modified_since="yesterday-ish")


def test_a_naive_modified_since_is_utc_and_makes_the_selection_partial():
    selection = RecordSelection.build("Deals", modified_since="2024-05-01T10:00:00")
    assert selection.modified_since == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert not selection.complete
    assert RecordSelection.build("Deals").complete


def test_explicit_ids_send_nothing_unless_fields_or_time_need_it():
    hook = FakeHook()
    selection = RecordSelection.build("Deals", records="1,2")
    assert not selection.needs_calls()
    rows = selection.iter_rows(hook)
    assert list(rows) == [{"id": "1"}, {"id": "2"}]
    assert not rows.capped
    assert hook.queries == []
    assert selection.needs_calls(("id", "Stage"))


def test_explicit_ids_with_modified_since_are_read_by_coql_100_at_a_time():
    hook = FakeHook()
    ids = [str(n) for n in range(1, 251)]
    selection = RecordSelection.build("Deals", records=ids, modified_since="2024-05-01T00:00:00Z")
    rows = list(selection.iter_rows(hook, fields=["Stage"]))
    assert [row["id"] for row in rows] == ids
    assert len(hook.queries) == 3
    first = hook.queries[0]
    assert first.startswith("select id, Stage from Deals where (id in (1, 2, ")
    assert "and Modified_Time > '2024-05-01T00:00:00+00:00'" in first
    # The limit is the chunk's size: 100 rows or fewer cost 1 credit each.
    assert first.endswith("order by id asc limit 100")
    assert hook.queries[2].endswith("limit 50")


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, {"where": None, "criteria": None}),
        ({"where": "Stage = 'Won'"}, {"where": "Stage = 'Won'", "criteria": None}),
        ({"criteria": "(Stage:equals:Won)"}, {"where": None, "criteria": "(Stage:equals:Won)"}),
    ],
)
def test_where_criteria_and_all_go_through_iter_records(kwargs, expected):
    hook = FakeHook(capped=True)
    rows = RecordSelection.build("Deals", **kwargs).iter_rows(hook, fields="Stage")
    assert list(rows) == [{"id": "1"}, {"id": "2"}]
    assert rows.capped
    (call,) = hook.iter_calls
    assert call == {"module": "Deals", **expected, "fields": ("id", "Stage"), "modified_since": None}


def test_paging_follows_the_calls_the_hook_sends():
    from airflow_provider_zoho_attach.utils.selection import Paging

    coql = Paging(2000, 3, 2000, 3)
    assert RecordSelection.build("Deals", where="a = 1").paging() == coql
    assert RecordSelection.build("Deals").paging() == coql
    assert (
        RecordSelection.build("Deals", where="a = 1", modified_since="2024-01-01T00:00:00Z").paging() == coql
    )
    # Every record modified since: a Get Records page of 200 (1 credit), then COQL pages.
    since = RecordSelection.build("Deals", modified_since="2024-01-01T00:00:00Z")
    assert since.paging() == Paging(200, 1, 2000, 3)
    assert since.paging(("id", "Owner.name")) == coql  # Get Records takes no lookup fields
    assert RecordSelection.build("Deals", criteria="(a:equals:1)").paging() == Paging(200, 1, 200, 1)
    assert RecordSelection.build("Deals", records="1").paging() == Paging(100, 1, 100, 1)


def test_a_call_is_expected_at_each_page_start():
    from airflow_provider_zoho_attach.utils.selection import Paging

    paging = Paging(200, 1, 2000, 3)
    assert [n for n in range(5000) if paging.call_before(n) is not None] == [0, 200, 2200, 4200]
    assert (paging.call_before(0), paging.call_before(200), paging.call_before(199)) == (1, 3, None)


def test_describe():
    assert RecordSelection.build("Deals", records="1,2").describe() == "Deals: 2 record id(s)"
    assert (
        RecordSelection.build("Deals", where="a = 1", modified_since="2024-01-01T00:00:00Z").describe()
        == "Deals: where a = 1, modified since 2024-01-01T00:00:00+00:00"
    )
