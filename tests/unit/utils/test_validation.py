"""The shared argument checks: what they accept, and the one error they raise for the rest."""

from __future__ import annotations

import pytest

from airflow_provider_zoho_attach.exceptions import ZohoCRMInvalidRequestError
from airflow_provider_zoho_attach.utils.validation import (
    parse_flag,
    parse_number,
    require_value,
    validate_count,
    validate_known_ids,
    validate_patterns,
    validate_seconds,
)


def _refused(call, argument):
    with pytest.raises(ZohoCRMInvalidRequestError) as caught:
        call()
    assert caught.value.code == "INVALID_ARGUMENT"
    assert caught.value.details == {"argument": argument}
    return caught.value


@pytest.mark.parametrize(
    ("value", "expected"), [(0, 0), (7, 7), ("7", 7), (" 12 ", 12), (None, None), ("", None)]
)
def test_an_optional_count(value, expected):
    assert validate_count(value, argument="max_items", minimum=0, optional=True) == expected


@pytest.mark.parametrize("value", [-1, "-1", 1.0, "1.5", True, "many", " ", [1]])
def test_an_optional_count_refuses(value):
    error = _refused(
        lambda: validate_count(value, argument="max_items", minimum=0, optional=True), "max_items"
    )
    assert "a whole number >= 0" in str(error)


@pytest.mark.parametrize("value", ["7", " 12 ", "", "0", -1, True, 2.5])
def test_a_count_not_from_text_refuses_every_string(value):
    error = _refused(
        lambda: validate_count(value, argument="max_items", minimum=0, from_text=False), "max_items"
    )
    assert "a whole number >= 0" in str(error)


@pytest.mark.parametrize("value", ["5", "", True, -1])
def test_the_hooks_max_items_takes_an_int_only(value):
    from airflow_provider_zoho_attach.hooks._base import _checked_listing

    options = {"max_items": value}
    error = _refused(lambda: _checked_listing("Deals", "1", options, caller="list_attachments"), "max_items")
    assert f"max_items={value!r} is not valid" in str(error)
    assert _checked_listing("Deals", "1", {"max_items": 3}, caller="list_attachments").max_items == 3


@pytest.mark.parametrize("value", [0, "0", None, "", False])
def test_a_required_count_below_its_minimum_or_missing_is_refused(value):
    error = _refused(lambda: validate_count(value, argument="min_count", minimum=1), "min_count")
    assert "a whole number >= 1" in str(error)


@pytest.mark.parametrize(("value", "expected"), [(60, 60.0), ("0.5", 0.5), (" 2 ", 2.0)])
def test_seconds(value, expected):
    assert validate_seconds(value, argument="poll_interval") == expected


@pytest.mark.parametrize("value", [0, -1, "0", "soon", None, float("nan"), [1]])
def test_seconds_refused(value):
    error = _refused(lambda: validate_seconds(value, argument="poll_interval"), "poll_interval")
    assert "seconds > 0" in str(error)


@pytest.mark.parametrize("value", [None, "", "   "])
def test_a_missing_value_is_refused(value):
    error = _refused(lambda: require_value(value, argument="destination", expected="a path"), "destination")
    assert "expected a path" in str(error)


def test_a_given_value_is_returned_as_is():
    marker = object()
    assert require_value(marker, argument="source", expected="a path") is marker


def test_patterns():
    assert validate_patterns(None) == ()
    assert validate_patterns("") == ()
    assert validate_patterns("*.pdf") == ("*.pdf",)
    assert validate_patterns(["*.pdf", "*.PNG"]) == ("*.pdf", "*.PNG")
    for bad in (["*.pdf", ""], [3], 3):
        _refused(lambda bad=bad: validate_patterns(bad), "file_name_pattern")


def test_known_ids_take_ids_and_records():
    assert validate_known_ids(None) == frozenset()
    assert validate_known_ids(["1", 2, {"id": "3", "File_Name": "a.pdf"}]) == {"1", "2", "3"}
    for bad in ("1,2", b"1", 5):
        _refused(lambda bad=bad: validate_known_ids(bad), "known_ids")


FLAGS = [(True, True), (False, False), ("true", True), (" Yes ", True), ("ON", True), ("1", True)]
FLAGS += [(1, True), ("false", False), ("no", False), ("Off", False), ("0", False), (0, False)]
FLAGS += [("maybe", None), (2, None)]


@pytest.mark.parametrize(("value", "expected"), FLAGS)
def test_parse_flag(value, expected):
    assert parse_flag(value) is expected


NUMBERS = [(5, False, 5.0), ("0.5", False, 0.5), ("5", True, 5.0), (5.0, True, 5.0), (5.5, True, None)]
NUMBERS += [(True, False, None), ("abc", False, None), (None, False, None), (10**400, False, None)]
NUMBERS += [("inf", True, None)]


@pytest.mark.parametrize(("value", "integer", "expected"), NUMBERS)
def test_parse_number(value, integer, expected):
    assert parse_number(value, integer=integer) == expected


def test_attachment_refs_from_ids_and_records():
    from airflow_provider_zoho_attach.utils.validation import validate_attachment_refs

    record = {"id": "11", "File_Name": "a.pdf", "Parent_Id": {"id": "5", "name": "Deal"}}
    assert validate_attachment_refs(None, record_id=5) == ("5", None)
    assert validate_attachment_refs("11, 12,11", record_id="5") == ("5", [("11", None), ("12", None)])
    assert validate_attachment_refs([record, "12"], record_id=None) == ("5", [("11", record), ("12", None)])
    assert validate_attachment_refs([], record_id=None) == (None, [])


@pytest.mark.parametrize(
    ("attachment_ids", "record_id", "argument"),
    [
        (None, None, "record_id"),
        (None, "", "record_id"),
        (["11"], None, "record_id"),
        ([{"id": "11", "Parent_Id": {"id": "6"}}], "5", "attachment_ids"),
        (["11a"], "5", "attachment_ids"),
        ([{"File_Name": "no id"}], "5", "attachment_ids"),
    ],
)
def test_attachment_refs_refused(attachment_ids, record_id, argument):
    from airflow_provider_zoho_attach.utils.validation import validate_attachment_refs

    _refused(lambda: validate_attachment_refs(attachment_ids, record_id=record_id), argument)


def test_a_window_that_no_time_is_in_is_refused():
    from datetime import UTC, datetime

    from airflow_provider_zoho_attach.utils.validation import validate_window

    start = datetime(2024, 3, 2, tzinfo=UTC)
    validate_window(start, None)
    validate_window(None, start)
    validate_window(start, start.replace(day=3))
    for until in (start, start.replace(day=1)):
        error = _refused(lambda until=until: validate_window(start, until), "until")
        assert "a time after since (2024-03-02T00:00:00+00:00)" in str(error)
