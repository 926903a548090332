"""What a call costs in Zoho's daily API credits, and a hook's meter."""

from __future__ import annotations

import json

import pytest

from airflow_provider_zoho_attach.utils.credits import CreditMeter, call_credits


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
