"""``ZohoCRMHook.call``: any endpoint, with the hook's auth, retries and errors; bad paths never leave."""

from __future__ import annotations

import json

import pytest

from airflow_provider_zoho_attach.exceptions import (
    ZohoCRMInvalidRequestError,
    ZohoCRMNotFoundError,
    ZohoCRMServerError,
)
from tests.unit.conftest import ACCESS_TOKEN, API, TOKEN_URL, token_body

V8 = f"{API}/crm/v8"


@pytest.fixture(autouse=True)
def _token(requests_mock):
    requests_mock.post(TOKEN_URL, json=token_body())


def test_get_returns_the_decoded_json_with_auth_and_params(hook, requests_mock):
    requests_mock.get(f"{V8}/users", json={"users": [{"id": "1", "email": "a@example.com"}]})
    payload = hook.call("get", "users", params={"type": "CurrentUser"})
    assert payload == {"users": [{"id": "1", "email": "a@example.com"}]}
    request = requests_mock.request_history[-1]
    assert request.method == "GET"
    assert request.qs == {"type": ["currentuser"]}
    assert request.headers["Authorization"] == f"Zoho-oauthtoken {ACCESS_TOKEN}"
    assert request.headers["User-Agent"].startswith("airflow-provider-zoho-attach/")


def test_post_json_sends_a_json_body(hook, requests_mock):
    answer = {"data": [{"code": "SUCCESS", "status": "success", "details": {"id": "9"}}]}
    requests_mock.post(f"{V8}/Deals/42/Notes", json=answer, status_code=201)
    sent = {"data": [{"Note_Content": "hello"}]}
    assert hook.call("POST", "Deals/42/Notes", json=sent, headers={"X-Trace": "t1"}) == answer
    request = requests_mock.request_history[-1]
    assert json.loads(request.body) == sent
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Trace"] == "t1"


def test_form_data_is_form_encoded(hook, requests_mock):
    requests_mock.put(f"{V8}/settings/x", json={"ok": True})
    assert hook.call("PUT", "settings/x", data={"a": "1", "b": "two words"}) == {"ok": True}
    request = requests_mock.request_history[-1]
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.text == "a=1&b=two+words"


def test_204_is_none(hook, requests_mock):
    requests_mock.delete(f"{V8}/Deals/42/Notes/9", status_code=204)
    assert hook.call("DELETE", "Deals/42/Notes/9") is None


def test_transient_errors_are_retried(hook, requests_mock, sleeps):
    requests_mock.get(f"{V8}/org", [{"status_code": 503, "text": "busy"}, {"json": {"org": []}}])
    assert hook.call("GET", "org") == {"org": []}
    assert len(sleeps) == 1
    assert requests_mock.call_count == 1 + 2


def test_retries_give_up_with_the_error_model(hook, requests_mock):
    requests_mock.get(f"{V8}/org", status_code=500, text="down")
    with pytest.raises(ZohoCRMServerError) as info:
        hook.call("GET", "org")
    assert "GET org" in str(info.value)
    assert requests_mock.call_count == 1 + hook.retry_policy.max_retries + 1


def test_zoho_errors_are_mapped(hook, requests_mock):
    requests_mock.get(
        f"{V8}/Deals/1",
        status_code=404,
        json={"code": "INVALID_URL_PATTERN", "status": "error", "message": "no such url", "details": {}},
    )
    with pytest.raises(ZohoCRMNotFoundError):
        hook.call("GET", "Deals/1")
    assert requests_mock.call_count == 2  # a 404 is not retried


def test_invalid_token_refreshes_once(hook, requests_mock):
    requests_mock.post(TOKEN_URL, [{"json": token_body("1000.first-token-aaaa")}, {"json": token_body()}])
    requests_mock.get(
        f"{V8}/org",
        [
            {"status_code": 401, "json": {"code": "INVALID_TOKEN", "status": "error", "message": "m"}},
            {"json": {"org": [1]}},
        ],
    )
    assert hook.call("GET", "org") == {"org": [1]}
    assert requests_mock.request_history[-1].headers["Authorization"] == f"Zoho-oauthtoken {ACCESS_TOKEN}"


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/users",
        "https://evil.example/crm/v8/users",
        "//evil.example/users",
        "evil.example:443/users",
        "users?type=CurrentUser",
        "users#x",
        "../v2/users",
        "Deals/../../oauth",
        "Deals/%2e%2e/x",
        "Deals/%2F/x",
        "Deals//1",
        "Deals/./1",
        "Deals/1/",
        "Deals\\1",
        "Deals 1",
        "Deals/\n1",
        None,
        42,
    ],
)
def test_bad_paths_are_refused_before_anything_is_sent(hook, requests_mock, path):
    with pytest.raises(ZohoCRMInvalidRequestError) as info:
        hook.call("GET", path)
    assert info.value.details["argument"] == "path"
    assert requests_mock.call_count == 0


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"method": "TRACE"}, "method"),
        ({"method": None}, "method"),
        ({"json": {"a": 1}, "data": "x"}, "data"),
        ({"data": 3.5}, "data"),
        ({"headers": {"authorization": "Zoho-oauthtoken stolen"}}, "headers"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_sent(hook, requests_mock, kwargs, argument):
    method = kwargs.pop("method", "POST")
    with pytest.raises(ZohoCRMInvalidRequestError) as info:
        hook.call(method, "users", **kwargs)
    assert info.value.details["argument"] == argument
    assert requests_mock.call_count == 0
