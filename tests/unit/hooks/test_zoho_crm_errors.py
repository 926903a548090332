"""Errors through the hook: every Zoho code of the spec becomes the right exception, retried or not."""

from __future__ import annotations

import pytest

from airflow_provider_zoho_attach.exceptions import (
    ZohoCRMAuthError,
    ZohoCRMConnectionError,
    ZohoCRMInvalidRequestError,
    ZohoCRMNotFoundError,
    ZohoCRMPermissionError,
    ZohoCRMRateLimitError,
    ZohoCRMServerError,
)
from tests.unit.conftest import ACCESS_TOKEN, API, CLIENT_SECRET, REFRESH_TOKEN, TOKEN_URL, token_body

LIST_URL = f"{API}/crm/v8/Leads/123/Attachments"


def zoho_error(code, message="m", details=None):
    return {"code": code, "details": details or {}, "message": message, "status": "error"}


# (code, HTTP status, details, expected class, retried?)
CASES = [
    ("INVALID_MODULE", 400, {"resource_path_index": 0}, ZohoCRMInvalidRequestError, False),
    ("NOT_SUPPORTED", 400, {}, ZohoCRMInvalidRequestError, False),
    ("INVALID_DATA", 400, {"resource_path_index": 1}, ZohoCRMNotFoundError, False),
    ("INVALID_DATA", 400, {"param_name": "per_page"}, ZohoCRMInvalidRequestError, False),
    ("INVALID_URL_PATTERN", 404, {}, ZohoCRMNotFoundError, False),
    ("INVALID_REQUEST_METHOD", 400, {}, ZohoCRMInvalidRequestError, False),
    ("REQUIRED_PARAM_MISSING", 400, {"param_name": "fields"}, ZohoCRMInvalidRequestError, False),
    ("MANDATORY_NOT_FOUND", 400, {}, ZohoCRMInvalidRequestError, False),
    ("AUTHORIZATION_FAILED", 400, {}, ZohoCRMPermissionError, False),
    ("OAUTH_SCOPE_MISMATCH", 401, {}, ZohoCRMAuthError, False),
    ("OAUTH_SCOPE_MISMATCH", 403, {}, ZohoCRMAuthError, False),
    ("AUTHENTICATION_FAILURE", 401, {}, ZohoCRMAuthError, False),
    ("NO_PERMISSION", 403, {"permissions": ["Crm_Implied_View_Attachments"]}, ZohoCRMPermissionError, False),
    ("DOWNLOAD_NOT_ALLOWED", 400, {}, ZohoCRMInvalidRequestError, False),
    ("FILE_SIZE_MORE_THAN_ALLOWED_SIZE", 413, {}, ZohoCRMInvalidRequestError, False),
    ("FILE_SIZE_MORE_THAN_ALLOWED_SIZE", 415, {}, ZohoCRMInvalidRequestError, False),
    ("BODY_SIZE_REACHED", 413, {}, ZohoCRMInvalidRequestError, False),
    ("RECORD_LOCKED", 400, {}, ZohoCRMInvalidRequestError, False),
    ("NOT_APPROVED", 400, {}, ZohoCRMInvalidRequestError, False),
    ("NOT_REVIEWED", 400, {}, ZohoCRMInvalidRequestError, False),
    ("CANNOT_PERFORM_ACTION", 400, {}, ZohoCRMInvalidRequestError, False),
    ("VIRUS_DETECTED", 400, {}, ZohoCRMInvalidRequestError, False),
    ("failure_in_attachment_handling", 400, {}, ZohoCRMInvalidRequestError, False),
    ("LIMIT_EXCEEDED", 400, {}, ZohoCRMInvalidRequestError, False),
    ("LIMIT_REACHED", 400, {}, ZohoCRMInvalidRequestError, False),
    ("DISCRETE_PAGINATION_LIMIT_EXCEEDED", 400, {}, ZohoCRMInvalidRequestError, False),
    ("AMBIGUITY_DURING_PROCESSING", 400, {}, ZohoCRMInvalidRequestError, False),
    ("TOKEN_BOUND_DATA_MISMATCH", 400, {}, ZohoCRMInvalidRequestError, False),
    ("EXPIRED_VALUE", 400, {}, ZohoCRMInvalidRequestError, False),
    ("PAGINATION_LIMIT_EXCEEDED", 400, {}, ZohoCRMInvalidRequestError, False),
    ("TOO_MANY_REQUESTS", 429, {}, ZohoCRMRateLimitError, True),
    ("RATE_LIMIT_EXCEEDED", 429, {}, ZohoCRMRateLimitError, True),
    ("INTERNAL_ERROR", 500, {}, ZohoCRMServerError, True),
    ("SOMETHING_NEW", 400, {}, ZohoCRMInvalidRequestError, False),
    ("SOMETHING_NEW", 503, {}, ZohoCRMServerError, True),
]


@pytest.mark.parametrize(("code", "status", "details", "expected", "retried"), CASES)
def test_api_error_mapping(hook, requests_mock, sleeps, code, status, details, expected, retried):
    requests_mock.post(TOKEN_URL, json=token_body())
    requests_mock.get(LIST_URL, status_code=status, json=zoho_error(code, "Zoho says no", details))
    with pytest.raises(expected) as info:
        hook.list_attachments("Leads", "123")
    error = info.value
    assert error.code == code
    assert error.status_code == status
    assert error.message.startswith("Zoho says no")
    assert error.details == details
    assert error.hint
    assert "Hint:" in str(error)
    assert "list attachments of Leads/123" in str(error)
    calls = requests_mock.request_history[1:]
    assert len(calls) == (hook.retry_policy.max_retries + 1 if retried else 1)
    if retried:
        assert "gave up after 6 attempts" in str(error)
        assert len(sleeps) == hook.retry_policy.max_retries
    for text in (str(error), repr(error)):
        assert ACCESS_TOKEN not in text
        assert CLIENT_SECRET not in text
        assert REFRESH_TOKEN not in text


def test_invalid_token_refreshes_once_and_retries_once(hook, requests_mock):
    requests_mock.post(TOKEN_URL, [{"json": token_body("1000.first-token-aaaa")}, {"json": token_body()}])
    requests_mock.get(
        LIST_URL,
        [
            {"status_code": 401, "json": zoho_error("INVALID_TOKEN", "invalid oauth token")},
            {"status_code": 204},
        ],
    )
    assert hook.list_attachments("Leads", "123") == []
    history = requests_mock.request_history
    assert [r.url.split("?")[0] for r in history] == [TOKEN_URL, LIST_URL, TOKEN_URL, LIST_URL]
    assert history[1].headers["Authorization"] == "Zoho-oauthtoken 1000.first-token-aaaa"
    assert history[3].headers["Authorization"] == f"Zoho-oauthtoken {ACCESS_TOKEN}"


def test_invalid_token_twice_is_an_auth_error(hook, requests_mock):
    requests_mock.post(TOKEN_URL, json=token_body())
    requests_mock.get(LIST_URL, status_code=401, json=zoho_error("INVALID_TOKEN", "invalid oauth token"))
    with pytest.raises(ZohoCRMAuthError) as info:
        hook.list_attachments("Leads", "123")
    assert info.value.code == "INVALID_TOKEN"
    assert requests_mock.call_count == 4  # token, call, token, call: refreshed once, then gave up


@pytest.mark.parametrize(
    ("status", "code", "attempt", "resend"),
    [
        (401, "INVALID_TOKEN", 1, True),
        (401, "INVALID_OAUTHTOKEN", 1, True),
        (401, "INVALID_TOKEN", 2, False),  # the new token was rejected too: Zoho's error
        (401, "OAUTH_SCOPE_MISMATCH", 1, False),  # a new token would have the same scopes
        (400, "INVALID_TOKEN", 1, False),
    ],
)
def test_the_refresh_once_rule_is_one_pure_decision(status, code, attempt, resend):
    import json

    from airflow_provider_zoho_attach.utils.protocol import refresh_and_resend

    body = json.dumps(zoho_error(code)).encode()
    assert refresh_and_resend(status, body, attempt=attempt) is resend
    reads = []
    assert refresh_and_resend(status, lambda: reads.append(1) or body, attempt=attempt) is resend
    # A body that is read lazily (a streamed download) is only read for a 401 to a first attempt.
    assert len(reads) == (1 if status == 401 and attempt == 1 else 0)


@pytest.mark.parametrize(
    ("body", "code", "fragment"),
    [
        ({"error": "invalid_code"}, "invalid_code", "refresh token"),
        ({"error": "invalid_client"}, "invalid_client", "data centre"),
    ],
)
def test_token_errors_are_auth_errors_with_a_hint(hook, requests_mock, body, code, fragment):
    requests_mock.post(TOKEN_URL, status_code=200, json=body)
    with pytest.raises(ZohoCRMAuthError) as info:
        hook.get_access_token()
    assert info.value.code == code
    assert fragment in str(info.value)
    assert requests_mock.call_count == 1
    assert "https://accounts.zoho.eu" in str(info.value) or code == "invalid_code"
    assert CLIENT_SECRET not in str(info.value)
    assert REFRESH_TOKEN not in str(info.value)


def test_token_throttle_is_waited_out_then_succeeds(hook, requests_mock, sleeps):
    throttle = {
        "error_description": "You have made too many requests continuously. Please try again later.",
        "error": "Access Denied",
        "status": "failure",
    }
    requests_mock.post(TOKEN_URL, [{"json": throttle}, {"json": throttle}, {"json": token_body()}])
    assert hook.get_access_token() == ACCESS_TOKEN
    assert len(sleeps) == 2
    assert sleeps[1] > sleeps[0]


def test_token_throttle_gives_up_after_the_bound(zoho_conn, requests_mock, sleeps):
    from airflow_provider_zoho_attach.hooks.zoho_crm import ZohoCRMHook

    hook = ZohoCRMHook(zoho_conn, retry_base_delay=0.01, token_throttle_timeout=30)
    hook._sleep = sleeps.append
    requests_mock.post(TOKEN_URL, json={"error": "Access Denied", "error_description": "too many requests"})
    with pytest.raises(ZohoCRMRateLimitError) as info:
        hook.get_access_token()
    assert info.value.code == "TOKEN_THROTTLED"
    assert "10 new access tokens per refresh token in 10 minutes" in str(info.value)
    assert sum(sleeps) <= 30
    assert "still throttled" in str(info.value)


def test_html_proxy_page_is_a_server_error(hook, requests_mock):
    requests_mock.post(TOKEN_URL, json=token_body())
    requests_mock.get(LIST_URL, status_code=502, text="<html><body>Bad Gateway</body></html>")
    with pytest.raises(ZohoCRMServerError) as info:
        hook.list_attachments("Leads", "123")
    assert info.value.status_code == 502
    assert "HTML page" in str(info.value)


def test_non_json_success_is_a_clear_error(hook, requests_mock):
    requests_mock.post(TOKEN_URL, json=token_body())
    requests_mock.get(LIST_URL, status_code=200, text="surprise")
    with pytest.raises(ZohoCRMServerError) as info:
        hook.list_attachments("Leads", "123")
    assert info.value.code == "INVALID_RESPONSE"


def test_connection_errors_are_retried_then_wrapped(hook, requests_mock):
    import requests

    requests_mock.post(TOKEN_URL, json=token_body())
    requests_mock.get(LIST_URL, exc=requests.exceptions.ConnectionError("boom http://secret-host/?a=b"))
    with pytest.raises(ZohoCRMConnectionError) as info:
        hook.list_attachments("Leads", "123")
    assert "ConnectionError" in str(info.value)
    assert "secret-host" not in str(info.value)
    assert len(requests_mock.request_history) == 1 + 6


def test_retry_after_is_honoured_and_capped(hook, requests_mock, sleeps):
    requests_mock.post(TOKEN_URL, json=token_body())
    requests_mock.get(
        LIST_URL,
        [
            {"status_code": 429, "json": zoho_error("TOO_MANY_REQUESTS"), "headers": {"Retry-After": "7"}},
            {"status_code": 503, "text": "", "headers": {"Retry-After": "9999"}},
            {"status_code": 204},
        ],
    )
    assert hook.list_attachments("Leads", "123") == []
    assert sleeps == [7.0, 60.0]


def test_backoff_grows_with_jitter(hook):
    policy = hook.retry_policy
    delays = [policy.delay(n) for n in range(1, 6)]
    for n, delay in enumerate(delays, start=1):
        ceiling = min(policy.max_delay, policy.base_delay * 2 ** (n - 1))
        assert ceiling / 2 <= delay <= ceiling
