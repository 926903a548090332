"""
Zoho's official Python SDK (``zohocrmsdk8-0``) finds records on the emulator: Get Records with
sorting, page tokens and ``If-Modified-Since``, search, and COQL with its errors.

The SDK reads every answer into its own models (``record.Info``, ``coql.APIException``...), so a
key or type the emulator gets wrong shows up here as a missing value or an SDK exception.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

pytestmark = [pytest.mark.sdk, pytest.mark.integration]

pytest.importorskip("zohocrmsdk")

from zohocrmsdk.src.com.zoho.crm.api import HeaderMap, ParameterMap, coql  # noqa: E402
from zohocrmsdk.src.com.zoho.crm.api.record import (  # noqa: E402
    GetRecordsHeader,
    GetRecordsParam,
    RecordOperations,
    SearchRecordsParam,
)

from tests.integration._sdk_session import sdk_on_emulator  # noqa: E402

BASE = 1_700_000_000


@pytest.fixture
def sdk(zoho_emulator, tmp_path):
    """Initialise the SDK against the emulator; put its global state back afterwards."""
    with sdk_on_emulator(zoho_emulator, tmp_path):
        yield


@pytest.fixture
def deals(zoho_emulator):
    rows = [
        {"Deal_Name": f"D{i}", "Stage": "Won" if i % 2 else "Lost", "Modified_Time": BASE + i}
        for i in range(2300)
    ]
    return zoho_emulator.add_records("Deals", rows)


def params(cls, **values):
    found = ParameterMap()
    for name, value in values.items():
        found.add(getattr(cls, name), value)
    return found


def ids_of(response):
    assert response.get_status_code() == 200, response.get_object()
    return [str(row.get_id()) for row in response.get_object().get_data()]


def test_sdk_get_records_pages_past_two_thousand_with_tokens(zoho_emulator, sdk, deals):
    operations = RecordOperations("Deals")
    answer = operations.get_records(params(GetRecordsParam, fields="Deal_Name", sort_order="asc", page=10))
    seen = ids_of(answer)
    info = answer.get_object().get_info()
    assert (info.get_page(), info.get_count(), info.get_more_records()) == (10, 200, True)
    assert info.get_sort_by() == "id"
    token = info.get_next_page_token()
    assert info.get_page_token_expiry() is not None
    while token:
        answer = operations.get_records(
            params(GetRecordsParam, fields="Deal_Name", sort_order="asc", page_token=token)
        )
        seen += ids_of(answer)
        token = answer.get_object().get_info().get_next_page_token()
    assert seen == deals[1800:]
    row = answer.get_object().get_data()[0]
    assert row.get_key_value("Deal_Name") == "D2200"


def test_sdk_get_records_if_modified_since_and_304(zoho_emulator, sdk, deals):
    operations = RecordOperations("Deals")
    headers = HeaderMap()
    headers.add(GetRecordsHeader.if_modified_since, datetime.fromtimestamp(BASE + 2297, UTC))
    recent = operations.get_records(
        params(GetRecordsParam, fields="Deal_Name", sort_by="Modified_Time"), headers
    )
    assert ids_of(recent) == [deals[2299], deals[2298]]
    none = HeaderMap()
    none.add(GetRecordsHeader.if_modified_since, datetime.fromtimestamp(BASE + 9999, UTC))
    nothing = operations.get_records(params(GetRecordsParam, fields="Deal_Name"), none)
    assert nothing.get_status_code() == 304
    assert nothing.get_object() is None


def test_sdk_get_records_error_is_an_api_exception(zoho_emulator, sdk, deals):
    answer = RecordOperations("Deals").get_records(params(GetRecordsParam, fields="id", page=11))
    error = answer.get_object()
    assert answer.get_status_code() == 400
    assert error.get_code().get_value() == "DISCRETE_PAGINATION_LIMIT_EXCEEDED"


def test_sdk_search_records(zoho_emulator, sdk, deals):
    answer = RecordOperations("Deals").search_records(
        params(SearchRecordsParam, criteria="((Stage:equals:Won)and(Deal_Name:starts_with:D229))", per_page=5)
    )
    assert ids_of(answer) == [deals[2299], deals[2297], deals[2295], deals[2293], deals[2291]]
    assert answer.get_object().get_info().get_more_records() is True  # D229 itself is the sixth


def test_sdk_coql_rows_and_errors(zoho_emulator, sdk, deals):
    operations = coql.CoqlOperations()
    body = coql.BodyWrapper()
    body.set_select_query("select Deal_Name, Stage from Deals where Stage = 'Won' order by id asc limit 3")
    answer = operations.get_records(body)
    assert ids_of(answer) == [deals[1], deals[3], deals[5]]
    assert [r.get_key_value("Deal_Name") for r in answer.get_object().get_data()] == ["D1", "D3", "D5"]
    info = answer.get_object().get_info()
    assert (info.get_count(), info.get_more_records()) == (3, True)
    body.set_select_query("select Deal_Name from Deals where Stage = 'Won' and Stage = 'x' and Stage = 'y'")
    error = operations.get_records(body)
    assert error.get_status_code() == 400
    assert error.get_object().get_code().get_value() == "SYNTAX_ERROR"
    assert error.get_object().get_details() == {"near": "and", "line": 1, "column": 65}
    body.set_select_query("select id from Deals where id is not null limit 2000 offset 99000")
    assert operations.get_records(body).get_object().get_code().get_value() == "LIMIT_EXCEEDED"
