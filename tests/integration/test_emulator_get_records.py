"""The emulator's Get Records (GET /{Module}), credits by call type and the Modified_Time switch."""

from __future__ import annotations

import io

import pytest

from tests.integration._files_client import Api

pytestmark = pytest.mark.integration

BASE = 1_700_000_000
OWNER = {"id": "111", "name": "Ann Other", "email": "ann@example.com"}


@pytest.fixture
def api(zoho_emulator, zoho_oas):
    client = Api(zoho_emulator, zoho_oas)
    yield client
    client.session.close()


def test_fields_times_and_owner(zoho_emulator, api):
    [first, second] = zoho_emulator.add_records(
        "Leads",
        [
            {"Last_Name": "Boyle", "Created_Time": BASE, "Modified_Time": BASE + 60, "Owner": OWNER},
            {"Last_Name": "Chen"},
        ],
    )
    answer = api.get("Leads", fields="Last_Name,Owner,Created_Time,Modified_Time", sort_order="asc")
    assert answer.status_code == 200, answer.text
    rows = answer.json()["data"]
    assert rows[0] == {
        "Last_Name": "Boyle",
        "Owner": OWNER,
        "Created_Time": "2023-11-14T22:13:20+00:00",
        "Modified_Time": "2023-11-14T22:14:20+00:00",
        "id": first,
    }
    assert rows[1]["id"] == second
    assert set(rows[1]["Owner"]) == {"id", "name", "email"}
    assert api.get("Leads").json()["code"] == "REQUIRED_PARAM_MISSING"


def test_sort_and_page(zoho_emulator, api):
    ids = zoho_emulator.add_records("Deals", [{"Modified_Time": BASE + (7 * i) % 5} for i in range(5)])
    by_id = api.get("Deals", fields="id", per_page="2")
    assert [r["id"] for r in by_id.json()["data"]] == ids[::-1][:2]  # default: id desc
    info = by_id.json()["info"]
    assert (info["more_records"], info["sort_by"], info["sort_order"]) == (True, "id", "desc")
    by_time = api.get("Deals", fields="id", sort_by="Modified_Time", sort_order="asc")
    assert [r["id"] for r in by_time.json()["data"]] == [ids[0], ids[3], ids[1], ids[4], ids[2]]
    for param, value, code in [
        ("sort_by", "Amount", "INVALID_DATA"),
        ("sort_order", "up", "INVALID_DATA"),
        ("per_page", "201", "INVALID_DATA"),
        ("page", "11", "DISCRETE_PAGINATION_LIMIT_EXCEEDED"),
        ("fields", ",".join(f"F{i}" for i in range(51)), "LIMIT_EXCEEDED"),
    ]:
        params = {"fields": "id", param: value}
        answer = api.get("Deals", **params)
        assert (answer.status_code, answer.json()["code"]) == (400, code), param


def test_page_tokens_walk_past_two_thousand(zoho_emulator, api):
    ids = zoho_emulator.add_records("Deals", [{} for _ in range(2300)])
    seen, params = [], {"fields": "id", "sort_order": "asc"}
    answer = api.get("Deals", **params, page="10")
    seen = [r["id"] for r in answer.json()["data"]]
    assert seen == ids[1800:2000]
    token = answer.json()["info"]["next_page_token"]
    assert answer.json()["info"]["page_token_expiry"]
    while token:
        answer = api.get("Deals", **params, page_token=token)
        assert answer.status_code == 200, answer.text
        seen += [r["id"] for r in answer.json()["data"]]
        token = answer.json()["info"]["next_page_token"]
    assert seen == ids[1800:]
    back = api.get("Deals", **params, page_token=answer.json()["info"]["previous_page_token"])
    assert [r["id"] for r in back.json()["data"]] == ids[2000:2200]
    first = api.get("Deals", **params, page="1").json()["info"]["next_page_token"]
    assert api.get("Deals", fields="id", page_token=first).json()["code"] == "TOKEN_BOUND_DATA_MISMATCH"
    assert api.get("Deals", **params, page="2", page_token=first).json()["code"] == (
        "AMBIGUITY_DURING_PROCESSING"
    )
    assert api.get("Deals", **params, page_token="nope").json()["code"] == "INVALID_DATA"
    zoho_emulator.clock.advance(24 * 3600 + 1)
    api.session.headers["Authorization"] = f"Zoho-oauthtoken {zoho_emulator.issue_access_token()}"
    assert api.get("Deals", **params, page_token=first).json()["code"] == "EXPIRED_VALUE"


def test_if_modified_since_filters_and_304_when_nothing_changed(zoho_emulator, api):
    old, new = zoho_emulator.add_records("Deals", [{"Modified_Time": BASE}, {"Modified_Time": BASE + 100}])
    since = {"If-Modified-Since": "2023-11-14T22:14:00+00:00"}  # BASE + 40
    answer = api.request("GET", "Deals", params={"fields": "id"}, headers=since)
    assert [r["id"] for r in answer.json()["data"]] == [new]
    later = {"If-Modified-Since": "2023-11-14T22:20:00+00:00"}
    nothing = api.request("GET", "Deals", params={"fields": "id"}, headers=later)
    assert (nothing.status_code, nothing.content) == (304, b"")
    empty = api.request("GET", "Leads", params={"fields": "id"}, headers=later)
    assert empty.status_code == 204
    bad = api.request("GET", "Deals", params={"fields": "id"}, headers={"If-Modified-Since": "soon"})
    assert bad.json()["code"] == "INVALID_DATA"
    assert old


def test_credits_by_call_type(zoho_emulator, api):
    [record] = zoho_emulator.add_records("Deals", [{"Stage": "Won"}])
    zoho_emulator.add_attachment("Deals", record, "a.pdf", b"%PDF")
    api.get("Deals", fields="id")
    api.get("Deals/search", criteria="(Stage:equals:Won)")
    for limit in (200, 201, 1001):
        api.request(
            "POST",
            "coql",
            json={"select_query": f"select id from Deals where id is not null limit {limit}"},  # noqa: S608
        )
    api.request("POST", "coql", json={"select_query": "select id from Deals where id is not null"})
    api.get(f"Deals/{record}/Attachments", fields="id")
    api.put("Deals", *({"id": record} for _ in range(11)))
    assert zoho_emulator.credits_by_type() == {
        "attachments_list": 1,
        "coql": 1 + 2 + 3 + 1,
        "get_records": 1,
        "search": 1,
        "update_records": 2,
    }
    assert zoho_emulator.credits_used == zoho_emulator.credits_used() == 12
    assert zoho_emulator.stats()["credits_by_type"] == zoho_emulator.credits_by_type()
    zoho_emulator.config.coql_credit_tiers = False
    zoho_emulator.config.unverified_credit_cost = 2
    api.request("POST", "coql", json={"select_query": "select id from Deals where id is not null limit 2000"})
    api.get(f"Deals/{record}/Attachments", fields="id")
    assert zoho_emulator.credits_used() == 12 + 1 + 2


def test_a_call_that_would_pass_the_day_is_refused_and_costs_nothing(zoho_emulator, api):
    zoho_emulator.add_records("Deals", [{}])
    zoho_emulator.config.daily_credits = 4
    query = {"select_query": "select id from Deals where id is not null limit 2000"}
    assert api.request("POST", "coql", json=query).status_code == 200
    assert api.request("POST", "coql", json=query).status_code == 429
    assert zoho_emulator.credits_used() == 3
    assert api.get("Deals", fields="id").headers["X-API-CREDITS-REMAINING"] == "0"


@pytest.mark.parametrize("bump", [False, True])
def test_attachments_bump_the_parent_modified_time_only_when_switched_on(zoho_emulator, hook, bump):
    zoho_emulator.config.attachments_bump_modified_time = bump
    [record] = zoho_emulator.add_records("Deals", [{"Modified_Time": BASE}])

    def modified():
        return next(hook.iter_records("Deals", fields=["Modified_Time"]))["Modified_Time"]

    assert modified() == "2023-11-14T22:13:20+00:00"
    zoho_emulator.clock.advance(60)
    attachment = hook.upload_attachment("Deals", record, io.BytesIO(b"x"), file_name="a.txt")
    after_add = modified()
    assert (after_add != "2023-11-14T22:13:20+00:00") is bump
    zoho_emulator.clock.advance(60)
    hook.delete_attachment("Deals", record, attachment["attachment_id"])
    assert (modified() != after_add) is bump
