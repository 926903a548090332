"""The emulator's accounts server (token endpoint) and the API's authentication and scopes."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
import requests

pytestmark = pytest.mark.integration

TIMEOUT = 30
INVALID_TOKEN = {"code": "INVALID_TOKEN", "details": {}, "message": "invalid oauth token", "status": "error"}
THROTTLED = {
    "error_description": "You have made too many requests continuously. Please try again after some time.",
    "error": "Access Denied",
    "status": "failure",
}


def token_request(emulator, *, refresh_token=None, client_id=None, client_secret=None, where="data"):
    params = {
        "grant_type": "refresh_token",
        "client_id": client_id or emulator.client_id,
        "client_secret": client_secret or emulator.client_secret,
        "refresh_token": refresh_token or emulator.refresh_token,
    }
    kwargs = {where: params} if where != "files" else {"files": {k: (None, v) for k, v in params.items()}}
    return requests.post(f"{emulator.url}/oauth/v2/token", timeout=TIMEOUT, **kwargs)


def list_url(emulator, module="Leads", record_id=None, version="v8"):
    record_id = record_id or emulator.add_record(module)
    return f"{emulator.url}/crm/{version}/{module}/{record_id}/Attachments"


def get_list(emulator, token, url=None):
    return requests.get(
        url or list_url(emulator),
        params={"fields": "id"},
        headers={"Authorization": f"Zoho-oauthtoken {token}"},
        timeout=TIMEOUT,
    )


@pytest.mark.parametrize("where", ["data", "params", "files"])
def test_refresh_grant_returns_a_zoho_token(zoho_emulator, where):
    response = token_request(zoho_emulator, where=where)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json;charset=UTF-8"
    body = response.json()
    assert re.fullmatch(r"1000\.[0-9a-f]{32}\.[0-9a-f]{32}", body["access_token"])
    assert body["api_domain"] == zoho_emulator.url
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert "ZohoCRM.modules.ALL" in body["scope"].split()
    assert "refresh_token" not in body
    assert zoho_emulator.token_calls == 1
    assert get_list(zoho_emulator, body["access_token"]).status_code == 204


def test_unknown_or_revoked_refresh_token_is_invalid_code(zoho_emulator):
    assert token_request(zoho_emulator, refresh_token="1000.nope.nope").json() == {"error": "invalid_code"}

    other = zoho_emulator.create_refresh_token()
    assert "access_token" in token_request(zoho_emulator, refresh_token=other).json()
    zoho_emulator.revoke_refresh_token(other)
    response = token_request(zoho_emulator, refresh_token=other)
    assert response.status_code == 200
    assert response.json() == {"error": "invalid_code"}


def test_refresh_token_of_another_client_is_invalid_code(zoho_emulator):
    client_id, secret = zoho_emulator.add_client()
    response = token_request(zoho_emulator, client_id=client_id, client_secret=secret)
    assert response.json() == {"error": "invalid_code"}


@pytest.mark.parametrize(
    ("client_id", "client_secret"), [("1000.UNKNOWN", None), (None, "wrong-secret")], ids=["id", "secret"]
)
def test_wrong_client_is_invalid_client(zoho_emulator, client_id, client_secret):
    response = token_request(zoho_emulator, client_id=client_id, client_secret=client_secret)
    assert response.status_code == 200
    assert response.json() == {"error": "invalid_client"}


def test_token_creation_is_throttled_per_refresh_token(zoho_emulator):
    for _ in range(10):
        assert "access_token" in token_request(zoho_emulator).json()

    throttled = token_request(zoho_emulator)
    assert throttled.status_code == 200
    assert throttled.json() == THROTTLED
    # Another refresh token has its own budget.
    assert (
        "access_token"
        in token_request(zoho_emulator, refresh_token=zoho_emulator.create_refresh_token()).json()
    )

    zoho_emulator.clock.advance(599)
    assert token_request(zoho_emulator).json() == THROTTLED
    zoho_emulator.clock.advance(2)
    assert "access_token" in token_request(zoho_emulator).json()


def test_throttle_limits_are_configurable(zoho_emulator):
    zoho_emulator.config.token_creation_limit = 2
    zoho_emulator.config.token_creation_window = 60
    assert "access_token" in token_request(zoho_emulator).json()
    assert "access_token" in token_request(zoho_emulator).json()
    assert token_request(zoho_emulator).json() == THROTTLED
    zoho_emulator.clock.advance(61)
    assert "access_token" in token_request(zoho_emulator).json()


def test_access_token_expires_after_its_ttl(zoho_emulator):
    token = token_request(zoho_emulator).json()["access_token"]
    url = list_url(zoho_emulator)
    zoho_emulator.clock.advance(3599)
    assert get_list(zoho_emulator, token, url).status_code == 204
    zoho_emulator.clock.advance(2)
    expired = get_list(zoho_emulator, token, url)
    assert expired.status_code == 401
    assert expired.json() == INVALID_TOKEN


def test_configured_ttl_is_announced_and_enforced(zoho_emulator):
    zoho_emulator.config.token_ttl = 60
    body = token_request(zoho_emulator).json()
    assert body["expires_in"] == 60
    zoho_emulator.clock.advance(61)
    assert get_list(zoho_emulator, body["access_token"]).status_code == 401


def test_sixteenth_active_token_revokes_the_oldest(zoho_emulator):
    zoho_emulator.config.token_creation_limit = 100
    tokens = [token_request(zoho_emulator).json()["access_token"] for _ in range(15)]
    url = list_url(zoho_emulator)
    assert all(get_list(zoho_emulator, t, url).status_code == 204 for t in tokens)

    tokens.append(token_request(zoho_emulator).json()["access_token"])

    assert get_list(zoho_emulator, tokens[0], url).json() == INVALID_TOKEN
    assert all(get_list(zoho_emulator, t, url).status_code == 204 for t in tokens[1:])


def test_revoke_endpoint_revokes_refresh_and_access_tokens(zoho_emulator):
    refresh = zoho_emulator.create_refresh_token()
    access = token_request(zoho_emulator, refresh_token=refresh).json()["access_token"]

    response = requests.post(
        f"{zoho_emulator.url}/oauth/v2/token/revoke", params={"token": refresh}, timeout=TIMEOUT
    )

    assert response.json() == {"status": "success"}
    assert token_request(zoho_emulator, refresh_token=refresh).json() == {"error": "invalid_code"}
    assert get_list(zoho_emulator, access).json() == INVALID_TOKEN
    # The default refresh token is untouched.
    assert "access_token" in token_request(zoho_emulator).json()


def test_unsupported_grant(zoho_emulator):
    response = requests.post(
        f"{zoho_emulator.url}/oauth/v2/token", data={"grant_type": "password"}, timeout=TIMEOUT
    )
    assert response.json() == {"error": "unsupported_grant_type"}


def test_missing_authorization_header(zoho_emulator):
    response = requests.get(list_url(zoho_emulator), params={"fields": "id"}, timeout=TIMEOUT)
    assert response.status_code == 401
    assert response.json() == {
        "code": "AUTHENTICATION_FAILURE",
        "details": {},
        "message": "Authentication failed",
        "status": "error",
    }

    zoho_emulator.config.missing_token_code = "INVALID_TOKEN"
    response = requests.get(list_url(zoho_emulator), params={"fields": "id"}, timeout=TIMEOUT)
    assert response.json() == INVALID_TOKEN


@pytest.mark.parametrize(
    "header",
    ["Zoho-oauthtoken 1000.garbage.garbage", "Zoho-oauthtoken ", "Bearer {token}", "zoho-oauthtoken {token}"],
)
def test_bad_authorization_is_invalid_token(zoho_emulator, header):
    token = zoho_emulator.issue_access_token()
    response = requests.get(
        list_url(zoho_emulator),
        params={"fields": "id"},
        headers={"Authorization": header.format(token=token)},
        timeout=TIMEOUT,
    )
    assert response.status_code == 401
    assert response.json() == INVALID_TOKEN


@pytest.mark.parametrize("how", ["revoke_access_tokens", "expire_access_tokens"])
def test_revoked_or_expired_access_tokens(zoho_emulator, how):
    token = zoho_emulator.issue_access_token()
    url = list_url(zoho_emulator)
    assert get_list(zoho_emulator, token, url).status_code == 204
    getattr(zoho_emulator, how)()
    assert get_list(zoho_emulator, token, url).json() == INVALID_TOKEN
    # A new token works again.
    assert get_list(zoho_emulator, zoho_emulator.issue_access_token(), url).status_code == 204


def test_access_token_reset_header(zoho_emulator):
    token_body = token_request(zoho_emulator).json()
    response = get_list(zoho_emulator, token_body["access_token"])
    reset = datetime.fromisoformat(response.headers["X-ACCESSTOKEN-RESET"])
    assert reset.utcoffset() is not None
    expected = zoho_emulator.clock.now() + token_body["expires_in"]
    assert abs(reset.timestamp() - expected) <= 2

    zoho_emulator.config.send_access_token_reset_header = False
    assert "X-ACCESSTOKEN-RESET" not in get_list(zoho_emulator, token_body["access_token"]).headers


SCOPE_MISMATCH = {
    "code": "OAUTH_SCOPE_MISMATCH",
    "details": {},
    "message": "invalid oauth scope to access this URL",
    "status": "error",
}


def scoped_request(emulator, scopes, method, url, **kwargs):
    token = emulator.issue_access_token(emulator.create_refresh_token(scopes))
    return requests.request(
        method, url, headers={"Authorization": f"Zoho-oauthtoken {token}"}, timeout=TIMEOUT, **kwargs
    )


@pytest.mark.parametrize(
    ("scopes", "method", "ok"),
    [
        (["ZohoCRM.modules.leads.READ", "ZohoCRM.modules.attachments.READ"], "GET", True),
        (["ZohoCRM.modules.leads.ALL", "ZohoCRM.modules.attachments.ALL"], "GET", True),
        (["ZohoCRM.modules.ALL"], "GET", True),
        (["ZohoCRM.modules.leads.READ"], "GET", False),
        (["ZohoCRM.modules.attachments.READ"], "GET", False),
        (["ZohoCRM.modules.deals.READ", "ZohoCRM.modules.attachments.READ"], "GET", False),
        (["ZohoCRM.modules.leads.READ", "ZohoCRM.modules.attachments.READ"], "POST", False),
        (["ZohoCRM.modules.leads.CREATE", "ZohoCRM.modules.attachments.CREATE"], "POST", True),
        (["ZohoCRM.modules.leads.WRITE", "ZohoCRM.modules.attachments.WRITE"], "POST", True),
        (["ZohoCRM.modules.leads.READ", "ZohoCRM.modules.attachments.READ"], "DELETE", False),
        (["ZohoCRM.modules.leads.DELETE", "ZohoCRM.modules.attachments.DELETE"], "DELETE", True),
    ],
)
def test_attachment_endpoints_need_module_and_attachments_scopes(zoho_emulator, scopes, method, ok):
    record_id = zoho_emulator.add_record("Leads")
    attachment_id = zoho_emulator.add_attachment("Leads", record_id, "a.txt", "hello")
    url = f"{zoho_emulator.url}/crm/v8/Leads/{record_id}/Attachments"
    if method == "GET":
        response = scoped_request(zoho_emulator, scopes, "GET", url, params={"fields": "id"})
    elif method == "POST":
        response = scoped_request(zoho_emulator, scopes, "POST", url, files={"file": ("b.txt", b"x")})
    else:
        response = scoped_request(zoho_emulator, scopes, "DELETE", f"{url}/{attachment_id}")
    if ok:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 401
        assert response.json() == SCOPE_MISMATCH


def test_scope_names_of_underscored_and_custom_modules(zoho_emulator):
    orders = zoho_emulator.add_record("Sales_Orders")
    custom = zoho_emulator.add_record("Shipments")
    attachments = "ZohoCRM.modules.attachments.READ"
    for module, record_id, scope in [
        ("Sales_Orders", orders, "ZohoCRM.modules.salesorders.READ"),
        ("Shipments", custom, "ZohoCRM.modules.custom.READ"),
        ("Shipments", custom, "ZohoCRM.modules.shipments.READ"),
    ]:
        url = f"{zoho_emulator.url}/crm/v8/{module}/{record_id}/Attachments"
        response = scoped_request(zoho_emulator, [scope, attachments], "GET", url, params={"fields": "id"})
        assert response.status_code == 204, (module, scope, response.text)


def test_photo_endpoints_need_only_the_module_scope(zoho_emulator):
    record_id = zoho_emulator.add_record("Leads")
    url = f"{zoho_emulator.url}/crm/v8/Leads/{record_id}/photo"
    assert scoped_request(zoho_emulator, ["ZohoCRM.modules.leads.READ"], "GET", url).status_code == 204
    assert (
        scoped_request(zoho_emulator, ["ZohoCRM.modules.contacts.READ"], "GET", url).json() == SCOPE_MISMATCH
    )


def test_scope_switches(zoho_emulator):
    record_id = zoho_emulator.add_record("Leads")
    url = f"{zoho_emulator.url}/crm/v8/Leads/{record_id}/Attachments"
    zoho_emulator.config.modules_all_covers_attachments = False
    zoho_emulator.config.oauth_scope_mismatch_status = 403
    response = scoped_request(zoho_emulator, ["ZohoCRM.modules.ALL"], "GET", url, params={"fields": "id"})
    assert response.status_code == 403
    assert response.json() == SCOPE_MISMATCH


def test_users_endpoint_serves_the_current_user(zoho_emulator):
    token = zoho_emulator.issue_access_token()
    response = requests.get(
        f"{zoho_emulator.url}/crm/v8/users",
        params={"type": "CurrentUser"},
        headers={"Authorization": f"Zoho-oauthtoken {token}"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200
    (user,) = response.json()["users"]
    assert user["id"].isdigit()
    assert user["full_name"]
    assert "@" in user["email"]
    limited = scoped_request(
        zoho_emulator, ["ZohoCRM.modules.ALL"], "GET", f"{zoho_emulator.url}/crm/v8/users?type=CurrentUser"
    )
    assert limited.json() == SCOPE_MISMATCH


def test_issue_access_token_obeys_the_throttle(zoho_emulator):
    zoho_emulator.config.token_creation_limit = 1
    zoho_emulator.issue_access_token()
    with pytest.raises(RuntimeError, match="Access Denied"):
        zoho_emulator.issue_access_token()
    assert zoho_emulator.token_calls == 0
