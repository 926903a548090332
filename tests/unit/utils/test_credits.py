"""What a call costs in Zoho's daily API credits, and a hook's meter."""

from __future__ import annotations

import json

import pytest

from airflow_provider_zoho_attach.utils.credits import CreditMeter, call_credits, call_type


def coql(query: str) -> bytes:
    return json.dumps({"select_query": query}).encode()


@pytest.mark.parametrize(
    ("method", "path", "body", "credits"),
    [
        ("GET", "Deals/1/Attachments", None, 1),
        ("POST", "files", b"...", 1),
        ("POST", "coql", coql("select id from Deals where id is not null"), 1),
        ("POST", "coql", coql("select id from Deals where id > 0 order by id asc limit 200"), 1),
        ("POST", "coql", coql("select id from Deals where id > 0 LIMIT 201"), 2),
        ("POST", "coql", coql("select id from Deals where id > 0 limit 1000"), 2),
        ("POST", "coql", coql("select id from Deals where id > 0 limit 2000"), 3),
        ("POST", "coql", coql("select id from Deals where id > 0 limit 4000, 1500"), 3),
        ("POST", "coql", b"not json", 1),
    ],
)
def test_what_a_call_costs(method, path, body, credits):
    assert call_credits(method, path, body) == credits


def test_the_meter_counts_and_notes_what_zoho_reports_left():
    meter = CreditMeter()
    assert meter.record("GET", "users", None, None) is False
    assert meter.record("POST", "coql", coql("select id from Deals where id > 0 limit 2000"), "4100") is True
    assert meter.record("GET", "users", None, "4099") is False  # reported once, kept up to date
    assert meter.record("GET", "users", None, "garbage") is False
    assert (meter.used, meter.remaining) == (6, 4099)


@pytest.mark.parametrize(
    ("method", "path", "kind"),
    [
        ("GET", "Deals", "get_records"),
        ("GET", "Deals/1", "get_records"),
        ("PUT", "Deals/1", "update_records"),
        ("GET", "Deals/search", "search"),
        ("POST", "coql", "coql"),
        ("GET", "Deals/1/Attachments", "attachments_list"),
        ("POST", "Deals/1/Attachments", "attachment_upload"),
        ("DELETE", "Deals/1/Attachments", "attachment_delete"),
        ("GET", "Deals/1/Attachments/2", "attachment_download"),
        ("DELETE", "Deals/1/Attachments/2", "attachment_delete"),
        ("POST", "files", "files_upload"),
        ("GET", "files", "files_download"),
        ("GET", "Deals/1/actions/download_fields_attachment", "field_attachment_download"),
        ("GET", "Deals/1/photo", "photo"),
        ("GET", "settings/fields", "metadata"),
        ("GET", "users", "metadata"),
    ],
)
def test_call_types_name_what_the_emulator_counts(method, path, kind):
    assert call_type(method, path) == kind


def test_a_record_update_costs_one_credit_per_ten_records():
    def body(count):
        return json.dumps({"data": [{"id": str(i)} for i in range(count)]}).encode()

    assert [call_credits("PUT", "Deals", body(n)) for n in (1, 10, 11, 100)] == [1, 1, 2, 10]
    assert call_credits("PUT", "Deals/1", b"not json") == 1


def test_the_meter_keeps_credits_by_call_type():
    meter = CreditMeter()
    meter.record("POST", "coql", coql("select id from Deals where id is not null limit 2000"), None)
    meter.record("GET", "Deals", None, None)
    meter.record("GET", "Deals", None, None)
    assert meter.by_type == {"coql": 3, "get_records": 2}
    assert meter.used == 5


def test_a_meter_with_a_limit_refuses_the_call_that_would_pass_it_before_it_is_sent():
    from airflow_provider_zoho_attach.exceptions import ZohoCRMCreditBudgetError
    from airflow_provider_zoho_attach.utils.credits import CreditMeter

    meter = CreditMeter()
    meter.check("POST", "coql", '{"select_query": "select id from Deals limit 2000"}')  # no limit
    meter.limit = 4
    meter.record("GET", "Deals/1/Attachments", None, None)
    meter.check("POST", "coql", '{"select_query": "select id from Deals limit 2000"}')  # 1 + 3 = 4
    meter.record("GET", "Deals/2/Attachments", None, None)
    meter.check("GET", "Deals/3/Attachments", None)  # 2 + 1
    with pytest.raises(ZohoCRMCreditBudgetError) as caught:
        meter.check("POST", "coql", '{"select_query": "select id from Deals limit 2000"}')  # 2 + 3
    assert caught.value.code == "CREDIT_BUDGET_EXCEEDED"
    assert caught.value.details == {"max_credits": 4, "used": 2, "cost": 3}
    assert meter.used == 2
