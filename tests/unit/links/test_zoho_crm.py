"""The "Zoho CRM record" extra link points at the record in the connection's data centre."""

from __future__ import annotations

import json

import pytest

from airflow_provider_zoho_attach.links.zoho_crm import ZohoCRMRecordLink, record_web_url
from airflow_provider_zoho_attach.operators.attachments import ZohoCRMListAttachmentsOperator
from airflow_provider_zoho_attach.utils.settings import ZohoCRMSettings


@pytest.mark.parametrize(
    ("data_center", "environment", "expected"),
    [
        ("us", "production", "https://crm.zoho.com/crm/tab/Potentials/42"),
        ("eu", "production", "https://crm.zoho.eu/crm/tab/Potentials/42"),
        ("in", "production", "https://crm.zoho.in/crm/tab/Potentials/42"),
        ("au", "production", "https://crm.zoho.com.au/crm/tab/Potentials/42"),
        ("jp", "production", "https://crm.zoho.jp/crm/tab/Potentials/42"),
        ("cn", "production", "https://crm.zoho.com.cn/crm/tab/Potentials/42"),
        ("ca", "production", "https://crm.zohocloud.ca/crm/tab/Potentials/42"),
        ("sa", "production", "https://crm.zoho.sa/crm/tab/Potentials/42"),
        ("uk", "production", "https://crm.zoho.uk/crm/tab/Potentials/42"),
        ("eu", "sandbox", "https://crmsandbox.zoho.eu/crm/tab/Potentials/42"),
    ],
)
def test_link_for_every_data_center(data_center, environment, expected):
    settings = ZohoCRMSettings.from_values(
        client_id="1000.X",
        client_secret="s",
        refresh_token="r",
        data_center=data_center,
        environment=environment,
    )
    assert record_web_url(settings.web_url, "Deals", "42") == expected


@pytest.mark.parametrize(
    ("module", "tab"),
    [
        ("Leads", "Leads"),
        ("Sales_Orders", "SalesOrders"),
        ("Price_Books", "PriceBooks"),
        ("Custom1", "Custom1"),
    ],
)
def test_module_tabs(module, tab):
    assert record_web_url("https://crm.zoho.com", module, "7") == f"https://crm.zoho.com/crm/tab/{tab}/7"


def test_operator_persists_and_the_link_renders(monkeypatch):
    from types import SimpleNamespace

    pushed = {}

    class TI:
        dag_id, task_id, run_id, map_index = "d", "t", "r", -1

        def xcom_push(self, key, value):
            pushed[key] = value

    monkeypatch.setenv(
        "AIRFLOW_CONN_ZOHO_CRM_DEFAULT",
        json.dumps(
            {
                "conn_type": "zoho_crm",
                "login": "1000.X",
                "password": "s",
                "extra": {"refresh_token": "r", "data_center": "jp"},
            }
        ),
    )
    op = ZohoCRMListAttachmentsOperator(task_id="t", module="deals", record_id="42")
    assert any(isinstance(link, ZohoCRMRecordLink) for link in op.operator_extra_links)
    op.persist_record_link({"ti": TI()}, "Deals", "42")
    value = pushed[ZohoCRMRecordLink.key]

    from airflow.sdk.execution_time import xcom

    def no_lookup(key, ti_key):
        raise AssertionError("the link was persisted in this process: no XCom lookup")

    # In the process that persisted it (where Airflow asks when the task ends): no XCom read.
    monkeypatch.setattr(xcom.XCom, "get_value", staticmethod(no_lookup))
    assert ZohoCRMRecordLink().get_link(op, ti_key=TI()) == "https://crm.zoho.jp/crm/tab/Potentials/42"
    # Asked about another task instance from elsewhere: the XCom answers.
    other = SimpleNamespace(dag_id="d", task_id="t", run_id="r2", map_index=-1)
    monkeypatch.setattr(
        xcom.XCom, "get_value", staticmethod(lambda key, ti_key: value if key == "zoho_crm_record" else None)
    )
    assert ZohoCRMRecordLink().get_link(op, ti_key=other) == "https://crm.zoho.jp/crm/tab/Potentials/42"
    monkeypatch.setattr(xcom.XCom, "get_value", staticmethod(lambda key, ti_key: None))
    assert ZohoCRMRecordLink().get_link(op, ti_key=other) == ""


def test_link_is_registered_in_provider_info():
    from airflow_provider_zoho_attach.get_provider_info import get_provider_info

    assert (
        "airflow_provider_zoho_attach.links.zoho_crm.ZohoCRMRecordLink" in get_provider_info()["extra-links"]
    )
