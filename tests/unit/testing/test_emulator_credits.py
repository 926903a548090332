"""The emulator's credits by call type agree with the hook's ``utils.credits`` on every route."""

from __future__ import annotations

import json

import pytest

from airflow_provider_zoho_attach.testing._emulator_credits import (
    CALL_TYPES,
    CreditCount,
    call_type,
    credit_cost,
)
from airflow_provider_zoho_attach.testing._emulator_model import EmulatorConfig
from airflow_provider_zoho_attach.testing._emulator_routes import match_route
from airflow_provider_zoho_attach.utils import credits

CALLS = [
    ("GET", "Deals"),
    ("PUT", "Deals"),
    ("GET", "Deals/1"),
    ("PUT", "Deals/1"),
    ("GET", "Deals/search"),
    ("POST", "coql"),
    ("GET", "Deals/1/Attachments"),
    ("POST", "Deals/1/Attachments"),
    ("DELETE", "Deals/1/Attachments"),
    ("GET", "Deals/1/Attachments/2"),
    ("DELETE", "Deals/1/Attachments/2"),
    ("GET", "Deals/1/photo"),
    ("POST", "Deals/1/photo"),
    ("POST", "files"),
    ("GET", "files"),
    ("GET", "Deals/1/actions/download_fields_attachment"),
    ("GET", "settings/fields"),
    ("GET", "settings/modules"),
    ("GET", "users"),
    ("GET", "org"),
]


@pytest.mark.parametrize(("method", "path"), CALLS)
def test_the_emulator_and_the_hook_name_and_price_each_call_alike(method, path):
    route = match_route(f"/crm/v8/{path}")
    assert route is not None
    kind = call_type(method, route)
    assert kind in CALL_TYPES
    assert kind == credits.call_type(method, path)
    assert credit_cost(kind, None, EmulatorConfig()) == credits.call_credits(method, path, None)


@pytest.mark.parametrize(
    ("limit", "cost"), [(None, 1), (1, 1), (200, 1), (201, 2), (1000, 2), (1001, 3), (2000, 3)]
)
def test_coql_costs_by_limit_on_both_sides(limit, cost):
    query = "select id from Deals where id is not null" + ("" if limit is None else f" limit {limit}")  # noqa: S608
    body = json.dumps({"select_query": query}).encode()
    assert credit_cost("coql", body, EmulatorConfig()) == cost == credits.call_credits("POST", "coql", body)
    assert credit_cost("coql", body, EmulatorConfig(coql_credit_tiers=False)) == 1


def test_updates_cost_one_per_ten_records_and_guesses_are_a_switch():
    body = json.dumps({"data": [{"id": str(i)} for i in range(25)]}).encode()
    assert (
        credit_cost("update_records", body, EmulatorConfig())
        == 3
        == credits.call_credits("PUT", "Deals", body)
    )
    assert credit_cost("search", None, EmulatorConfig(unverified_credit_cost=2)) == 2
    assert credit_cost("get_records", None, EmulatorConfig(unverified_credit_cost=2)) == 1


def test_a_credit_count_reads_as_a_number_and_as_a_call():
    count = CreditCount(7)
    assert count == count() == 7
    assert type(count()) is int
