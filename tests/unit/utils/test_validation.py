"""Errors say what happened (issue 13.7): input refused before any request, and which module was meant."""

from __future__ import annotations

import pytest

from airflow_provider_zoho_attach.exceptions import (
    ZohoCRMError,
    ZohoCRMInvalidRequestError,
    error_from_response,
)
from airflow_provider_zoho_attach.operators.attachments import ZohoCRMListAttachmentsOperator
from airflow_provider_zoho_attach.utils.validation import normalize_module


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("Lead", "Leads"),
        ("deal", "Deals"),
        ("Contcts", "Contacts"),
        ("Accnts", "Accounts"),
        ("Laeds", "Leads"),
        ("Sales_Order", "Sales_Orders"),
        ("salesorder", "Sales_Orders"),
        ("Invoice", "Invoices"),
        ("Appointment", "Appointments__s"),
    ],
)
def test_a_singular_or_a_slip_gets_did_you_mean(typed, meant):
    with pytest.raises(ZohoCRMInvalidRequestError) as failure:
        normalize_module(typed)
    assert f"did you mean {meant!r}?" in str(failure.value)
    assert failure.value.code == "INVALID_ARGUMENT"
    assert f"module={meant!r}" in failure.value.hint


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Leads", "Leads"),
        ("leads", "Leads"),
        ("SalesOrders", "Sales_Orders"),
        ("salesorders", "Sales_Orders"),
        ("potentials", "Deals"),
        # Custom modules, some of them similar to a standard name, pass through.
        ("CustomModule1", "CustomModule1"),
        ("Projects", "Projects"),
        ("Contracts", "Contracts"),
        ("Dealers", "Dealers"),
        ("Quotas", "Quotas"),
        ("Invites", "Invites"),
    ],
)
def test_standard_and_custom_names_still_pass(given, expected):
    assert normalize_module(given) == expected


def test_the_operator_refuses_a_misspelt_module_before_any_request():
    op = ZohoCRMListAttachmentsOperator(task_id="t", module="Lead", record_id="42")
    with pytest.raises(ZohoCRMInvalidRequestError) as failure:
        op.execute({})
    assert "did you mean 'Leads'?" in str(failure.value)
    assert "hook" not in op.__dict__, "the connection was not even read"


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
