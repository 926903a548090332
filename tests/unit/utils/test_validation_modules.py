"""Module names (issue 13.7): a misspelt one is refused before any request, saying which one was meant."""

from __future__ import annotations

import pytest

from airflow_provider_zoho_attach.exceptions import (
    ZohoCRMInvalidRequestError,
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
