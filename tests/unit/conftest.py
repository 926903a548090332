"""Fixtures for unit tests: a connection in the environment and a hook that never really sleeps."""

from __future__ import annotations

import json

import pytest

from airflow_provider_zoho_attach.utils import tokens

CLIENT_ID = "1000.UNITCLIENTID"
CLIENT_SECRET = "unit-client-secret-0123456789"
REFRESH_TOKEN = "1000.unit-refresh-token-abcdef"
ACCESS_TOKEN = "1000.unit-access-token-fedcba9876"
ACCOUNTS = "https://accounts.zoho.eu"
API = "https://www.zohoapis.eu"
TOKEN_URL = f"{ACCOUNTS}/oauth/v2/token"


@pytest.fixture(autouse=True)
def _fresh_token_memory():
    tokens.clear_memory_cache()
    yield
    tokens.clear_memory_cache()


@pytest.fixture
def zoho_conn(monkeypatch):
    """A ``zoho_crm_default`` connection for the EU data centre, defined by environment variable."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_ZOHO_CRM_DEFAULT",
        json.dumps(
            {
                "conn_type": "zoho_crm",
                "login": CLIENT_ID,
                "password": CLIENT_SECRET,
                "extra": {"refresh_token": REFRESH_TOKEN, "data_center": "eu", "oauth_cache": "memory"},
            }
        ),
    )
    return "zoho_crm_default"


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def hook(zoho_conn, sleeps):
    from airflow_provider_zoho_attach.hooks.zoho_crm import ZohoCRMHook

    hook = ZohoCRMHook(zoho_conn, retry_base_delay=0.01)
    hook._sleep = sleeps.append
    yield hook
    hook.close()


def token_body(token: str = ACCESS_TOKEN, api_domain: str = API, expires_in: int = 3600) -> dict:
    return {"access_token": token, "api_domain": api_domain, "token_type": "Bearer", "expires_in": expires_in}
