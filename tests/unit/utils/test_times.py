"""One reading of a time, whoever wrote it: Zoho (``Created_Time``) or the user (``since``...)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from airflow_provider_zoho_attach.utils.filters import AttachmentFilter, created_time, parse_time_argument

INSTANT = datetime(2024, 3, 2, 14, 5, 11, tzinfo=UTC)

#: Spellings of INSTANT: Zoho's own (the org's offset), RFC 3339's, and a naive one (taken as UTC).
SPELLINGS = [
    "2024-03-02T14:05:11+00:00",
    "2024-03-02T19:35:11+05:30",
    "2024-03-02T09:05:11-05:00",
    "2024-03-02T14:05:11Z",
    "2024-03-02T14:05:11z",
    "2024-03-02T14:05:11.000Z",
    "2024-03-02T14:05:11.000000+00:00",
    " 2024-03-02T14:05:11+00:00\n",
    "2024-03-02T14:05:11",
]


@pytest.mark.parametrize("text", SPELLINGS)
def test_a_zoho_time_and_a_time_argument_are_read_alike(text):
    assert created_time({"Created_Time": text}) == INSTANT
    assert parse_time_argument(text, argument="since") == INSTANT


@pytest.mark.parametrize("text", SPELLINGS)
def test_a_time_filter_keeps_an_attachment_created_in_its_window(text):
    wanted = AttachmentFilter.build(created_after=INSTANT, created_before=INSTANT + timedelta(seconds=1))
    assert wanted.matches({"id": "1", "Created_Time": text})


@pytest.mark.parametrize(
    "value",
    [None, "", "  ", "Z", "garbage", "2024-13-02T00:00:00+00:00", "2024-03-02T14:05:11 UTC", 1709388311, {}],
)
def test_a_zoho_time_that_is_not_one_is_none(value):
    from airflow_provider_zoho_attach.utils.times import parse_zoho_time

    assert parse_zoho_time(value) is None
    assert created_time({"Created_Time": value}) is None


def test_fractional_seconds_beyond_microseconds_are_cut():
    from airflow_provider_zoho_attach.utils.times import parse_zoho_time

    assert parse_zoho_time("2024-03-02T14:05:11.123456789+00:00") == INSTANT.replace(microsecond=123456)


@pytest.mark.parametrize("value", ["garbage", "2024-13-02", "Z", 1709388311, ["2024-03-02"]])
def test_a_time_argument_that_is_not_one_is_a_provider_error(value):
    from airflow_provider_zoho_attach.exceptions import ZohoCRMInvalidRequestError

    with pytest.raises(ZohoCRMInvalidRequestError) as caught:
        parse_time_argument(value, argument="since")
    assert caught.value.code == "INVALID_ARGUMENT"
    assert caught.value.details["argument"] == "since"


def test_an_unset_time_argument_is_none_and_a_naive_datetime_is_utc():
    assert parse_time_argument(None, argument="since") is None
    assert parse_time_argument(" ", argument="since") is None
    assert parse_time_argument(datetime(2024, 3, 2, 14, 5, 11), argument="since") == INSTANT
