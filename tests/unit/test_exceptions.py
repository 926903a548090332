"""The error model of exceptions.py: how errors are built from Zoho's answers, said and carried."""

from __future__ import annotations

import pickle

import pytest

from airflow_provider_zoho_attach.exceptions import (
    ZohoCRMError,
    ZohoCRMInvalidRequestError,
    ZohoCRMNotFoundError,
    ZohoCRMPermissionError,
    ZohoCRMRateLimitError,
    error_from_response,
)
from airflow_provider_zoho_attach.utils.validation import normalize_module


def test_errors_survive_pickling():
    error = error_from_response(429, b'{"code":"TOO_MANY_REQUESTS","message":"slow down","status":"error"}')
    error.retry_after = 3.0
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is ZohoCRMRateLimitError
    assert (copy.code, copy.status_code, copy.message, copy.retry_after) == (
        "TOO_MANY_REQUESTS",
        429,
        "slow down",
        3.0,
    )
    assert str(copy) == str(error)


def test_errors_round_trip_through_dicts():
    error = error_from_response(403, {"code": "NO_PERMISSION", "message": "nope", "details": {"a": 1}})
    copy = ZohoCRMError.from_dict(error.to_dict())
    assert type(copy) is ZohoCRMPermissionError
    assert copy.to_dict() == error.to_dict()


def test_data_wrapped_item_errors_are_reported():
    body = {
        "data": [
            {
                "code": "INVALID_DATA",
                "details": {"id": "9"},
                "message": "record not deleted",
                "status": "error",
            }
        ]
    }
    error = error_from_response(400, body)
    assert error.code == "INVALID_DATA"
    assert error.message == "record not deleted"


def test_empty_body_status_only():
    error = error_from_response(404, b"")
    assert isinstance(error, ZohoCRMNotFoundError)
    assert "empty body" in error.message


def test_errors_raised_before_any_request_do_not_say_a_request_failed():
    error = ZohoCRMInvalidRequestError.for_argument("record_id", "abc", "a Zoho id")
    assert "request failed" not in str(error)
    assert str(error).startswith("Invalid input, not sent to Zoho: [INVALID_ARGUMENT] record_id='abc'")
    with pytest.raises(ZohoCRMInvalidRequestError) as failure:
        normalize_module("Sales Orders")
    assert "request failed" not in str(failure.value)
    connection = ZohoCRMInvalidRequestError("no client id", code="INVALID_CONNECTION")
    assert str(connection).startswith("Invalid Zoho CRM connection, nothing sent to Zoho: ")
    assert "request failed" not in str(ZohoCRMError("all 2 downloads failed", code="ALL_FAILED"))


def test_errors_of_a_request_still_say_so():
    error = error_from_response(500, {"code": "INTERNAL_ERROR", "message": "boom"})
    assert str(error).startswith("Zoho CRM request failed: [INTERNAL_ERROR, HTTP 500] boom")
    named = error_from_response(404, b"", operation="list attachments of Leads/1")
    assert str(named).startswith("list attachments of Leads/1 failed: ")
    # Rebuilt from a trigger event, the same words.
    assert str(ZohoCRMError.from_dict(error.to_dict())) == str(error)
