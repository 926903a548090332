"""
Issue 12 with requests-mock: where traffic goes (11), and a link Zoho stored before answering 5xx (12).

Each test failed on the commit before its fix (b4b884d).
"""

from __future__ import annotations

import pytest

from airflow_provider_zoho_attach.exceptions import ZohoCRMError
from airflow_provider_zoho_attach.utils.protocol import AccessToken
from airflow_provider_zoho_attach.utils.tokens import TokenCache
from tests.unit.conftest import API, TOKEN_URL, token_body

LIST = f"{API}/crm/v8/Deals/42/Attachments"


def test_a_token_naming_another_api_domain_is_refused_naming_both_hosts(hook, requests_mock):
    requests_mock.post(TOKEN_URL, json=token_body(api_domain="https://www.zohoapis.com"))
    with pytest.raises(ZohoCRMError) as failure:
        hook.list_attachments("Deals", "42")
    error = failure.value
    assert error.code == "API_DOMAIN_MISMATCH"
    assert "https://www.zohoapis.com" in str(error)
    assert "https://www.zohoapis.eu" in str(error)
    assert "allow_api_domain_mismatch" in (error.hint or "")
    assert [r.url for r in requests_mock.request_history] == [TOKEN_URL]


def test_allowing_the_mismatch_still_sends_to_the_configured_host(zoho_conn, monkeypatch, requests_mock):
    import json

    from airflow_provider_zoho_attach.hooks.zoho_crm import ZohoCRMHook

    monkeypatch.setenv(
        "AIRFLOW_CONN_ZOHO_CRM_DEFAULT",
        json.dumps(
            {
                "conn_type": "zoho_crm",
                "login": "1000.ID",
                "password": "secret",
                "extra": {
                    "refresh_token": "1000.r",
                    "data_center": "eu",
                    "oauth_cache": "memory",
                    "allow_api_domain_mismatch": "true",
                },
            }
        ),
    )
    requests_mock.post(TOKEN_URL, json=token_body(api_domain="https://elsewhere.example"))
    requests_mock.get(LIST, status_code=204)
    assert ZohoCRMHook().list_attachments("Deals", "42") == []
    assert requests_mock.request_history[-1].url.startswith(LIST)


def test_a_shared_token_cannot_redirect_calls(hook, requests_mock):
    # Anyone who can write Variables can write the shared token, api_domain included.
    planted = AccessToken("1000.planted", 4_000_000_000.0, api_domain="https://attacker.example")
    TokenCache(hook.settings).store(planted)
    requests_mock.get(LIST, status_code=204)
    assert hook.list_attachments("Deals", "42") == []
    assert requests_mock.request_history[-1].url.startswith(LIST)


def test_sandbox_tokens_name_the_production_domain_and_are_accepted(monkeypatch, requests_mock):
    import json

    from airflow_provider_zoho_attach.hooks.zoho_crm import ZohoCRMHook

    monkeypatch.setenv(
        "AIRFLOW_CONN_ZOHO_CRM_DEFAULT",
        json.dumps(
            {
                "conn_type": "zoho_crm",
                "login": "1000.ID",
                "password": "secret",
                "extra": {"refresh_token": "1000.r", "environment": "sandbox", "oauth_cache": "memory"},
            }
        ),
    )
    requests_mock.post(
        "https://accounts.zoho.com/oauth/v2/token", json=token_body(api_domain="https://www.zohoapis.com")
    )
    sandbox = "https://sandbox.zohoapis.com/crm/v8/Deals/42/Attachments"
    requests_mock.get(sandbox, status_code=204)
    assert ZohoCRMHook().list_attachments("Deals", "42") == []
    assert requests_mock.request_history[-1].url.startswith(sandbox)


def test_a_link_stored_before_a_5xx_is_found_not_sent_again(hook, requests_mock):
    url = "https://example.com/spec"
    requests_mock.post(TOKEN_URL, json=token_body())
    requests_mock.post(
        LIST,
        [
            {"status_code": 500, "json": {"code": "INTERNAL_ERROR", "message": "x", "status": "error"}},
            {
                "status_code": 400,
                "json": {"code": "DUPLICATE_DATA", "message": "duplicate", "status": "error", "details": {}},
            },
        ],
    )
    requests_mock.get(
        LIST,
        json={"data": [{"id": "77", "$link_url": url, "File_Name": "Spec"}], "info": {"more_records": False}},
    )
    result = hook.attach_link("Deals", "42", url)
    assert result["attachment_id"] == "77"
    assert sum(1 for r in requests_mock.request_history if r.method == "POST" and r.url.startswith(LIST)) == 1
