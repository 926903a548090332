"""The connection model: every data centre, environment, override and bad input."""

from __future__ import annotations

import json

import pytest
from airflow.sdk import Connection

from airflow_provider_zoho_attach.exceptions import ZohoCRMInvalidRequestError
from airflow_provider_zoho_attach.utils.datacenters import DATA_CENTERS
from airflow_provider_zoho_attach.utils.settings import ZohoCRMSettings

SECRET = "client-secret-value-123"
REFRESH = "1000.refresh.token-value-456"


def conn(
    extra: dict | None = None, *, login: str | None = "1000.CLIENT", password: str | None = SECRET
) -> Connection:
    base = {"refresh_token": REFRESH}
    base.update(extra or {})
    return Connection(
        conn_id="zoho_test", conn_type="zoho_crm", login=login, password=password, extra=json.dumps(base)
    )


def test_defaults_are_us_production_v8():
    settings = ZohoCRMSettings.from_connection(conn())
    assert settings.accounts_url == "https://accounts.zoho.com"
    assert settings.api_domain == "https://www.zohoapis.com"
    assert settings.api_version == "v8"
    assert settings.timeout == 60
    assert settings.max_concurrency == 5
    assert settings.token_cache == "variable"
    assert settings.max_retries == 5
    assert not settings.api_domain_pinned
    assert settings.token_url == "https://accounts.zoho.com/oauth/v2/token"
    assert settings.api_url("Leads/1/Attachments") == "https://www.zohoapis.com/crm/v8/Leads/1/Attachments"


@pytest.mark.parametrize(
    ("dc", "accounts", "api"),
    [
        ("us", "https://accounts.zoho.com", "https://www.zohoapis.com"),
        ("eu", "https://accounts.zoho.eu", "https://www.zohoapis.eu"),
        ("in", "https://accounts.zoho.in", "https://www.zohoapis.in"),
        ("au", "https://accounts.zoho.com.au", "https://www.zohoapis.com.au"),
        ("jp", "https://accounts.zoho.jp", "https://www.zohoapis.jp"),
        ("cn", "https://accounts.zoho.com.cn", "https://www.zohoapis.com.cn"),
        ("ca", "https://accounts.zohocloud.ca", "https://www.zohoapis.ca"),
        ("sa", "https://accounts.zoho.sa", "https://www.zohoapis.sa"),
        ("uk", "https://accounts.zoho.uk", "https://www.zohoapis.uk"),
    ],
)
def test_every_data_center(dc, accounts, api):
    settings = ZohoCRMSettings.from_connection(conn({"data_center": dc.upper()}))
    assert settings.data_center == dc
    assert settings.accounts_url == accounts
    assert settings.api_domain == api


def test_the_table_covers_the_design():
    assert set(DATA_CENTERS) == {"us", "eu", "in", "au", "jp", "cn", "ca", "sa", "uk"}


@pytest.mark.parametrize(
    ("env", "api"),
    [("sandbox", "https://sandbox.zohoapis.eu"), ("developer", "https://developer.zohoapis.eu")],
)
def test_environments_keep_the_accounts_host(env, api):
    settings = ZohoCRMSettings.from_connection(conn({"data_center": "eu", "environment": env}))
    assert settings.api_domain == api
    assert settings.accounts_url == "https://accounts.zoho.eu"


def test_domain_aliases():
    assert ZohoCRMSettings.from_connection(conn({"data_center": "zoho.com.au"})).data_center == "au"
    assert ZohoCRMSettings.from_connection(conn({"data_center": "zohocloud.ca"})).data_center == "ca"


def test_explicit_hosts_override_and_pin():
    settings = ZohoCRMSettings.from_connection(
        conn(
            {
                "accounts_url": "http://127.0.0.1:8765/",
                "api_domain": "http://127.0.0.1:8765",
                "data_center": "eu",
            }
        )
    )
    assert settings.accounts_url == "http://127.0.0.1:8765"
    assert settings.api_domain == "http://127.0.0.1:8765"
    assert settings.api_domain_pinned


@pytest.mark.parametrize("scheme", ["zoho-crm", "zoho_crm"])
def test_uri_form_coerces_strings(scheme):
    """Airflow only parses ``zoho-crm://``; the design's ``zoho_crm://`` spelling is recovered too."""
    uri = (
        f"{scheme}://1000.CLIENT:s3cr%2Ft%40x%3Ay@/?refresh_token=1000.abc&data_center=eu&timeout=30"
        "&max_concurrency=10&oauth_cache=memory&max_retries=2"
    )
    settings = ZohoCRMSettings.from_connection(Connection.from_uri(uri, conn_id="zoho_uri"))
    assert settings.client_id == "1000.CLIENT"
    assert settings.client_secret == "s3cr/t@x:y"
    assert settings.data_center == "eu"
    assert settings.timeout == 30.0
    assert settings.max_concurrency == 10
    assert settings.token_cache == "memory"
    assert settings.max_retries == 2


def test_legacy_prefixed_extras_and_nulls_from_the_form():
    settings = ZohoCRMSettings.from_connection(
        conn({"extra__zoho_crm__data_center": "jp", "timeout": None, "api_version": "", "environment": None})
    )
    assert settings.data_center == "jp"
    assert settings.timeout == 60
    assert settings.api_version == "v8"
    assert settings.environment == "production"


def test_repr_hides_secrets():
    text = repr(ZohoCRMSettings.from_connection(conn()))
    assert SECRET not in text
    assert REFRESH not in text
    assert "1000.CLIENT" in text


def test_fingerprint_reveals_nothing_and_tracks_credentials():
    one = ZohoCRMSettings.from_connection(conn())
    other = ZohoCRMSettings.from_connection(conn({"refresh_token": "1000.other"}))
    assert one.credentials_fingerprint != other.credentials_fingerprint
    assert REFRESH not in one.credentials_fingerprint
    assert len(one.credentials_fingerprint) == 24


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"login": None}, "no client id"),
        ({"password": ""}, "no client secret"),
        ({"extra": {"refresh_token": ""}}, "no refresh token"),
        ({"extra": {"data_center": "mars"}}, "unknown data_center 'mars'"),
        ({"extra": {"environment": "staging"}}, "unknown environment 'staging'"),
        ({"extra": {"api_version": "8"}}, "malformed api_version"),
        ({"extra": {"accounts_url": "accounts.zoho.com"}}, "malformed accounts_url"),
        ({"extra": {"api_domain": "ftp://x"}}, "malformed api_domain"),
        ({"extra": {"api_domain": "https://x:99999"}}, "malformed api_domain"),
        ({"extra": {"timeout": "soon"}}, "timeout='soon'"),
        ({"extra": {"timeout": -1}}, "timeout=-1"),
        ({"extra": {"max_concurrency": 0}}, "max_concurrency=0"),
        ({"extra": {"max_concurrency": 2.5}}, "max_concurrency=2.5"),
        ({"extra": {"max_retries": True}}, "max_retries=True"),
        ({"extra": {"daily_credit_budget": 0}}, "daily_credit_budget=0"),
        ({"extra": {"daily_credit_budget": "lots"}}, "daily_credit_budget='lots'"),
        ({"extra": {"oauth_cache": "redis"}}, "unknown oauth_cache 'redis'"),
        ({"extra": {"token_cache": "redis"}}, "unknown oauth_cache 'redis'"),
        ({"extra": {"refresh_token": "***"}}, "holds Airflow's mask"),
    ],
)
def test_bad_connections_name_the_field(kwargs, fragment):
    extra = kwargs.pop("extra", None)
    if extra is not None and "refresh_token" not in extra:
        extra = {"refresh_token": REFRESH, **extra}
    connection = conn(**kwargs) if extra is None else conn(**kwargs, extra=None)
    if extra is not None:
        connection = Connection(
            conn_id="zoho_test",
            conn_type="zoho_crm",
            login="1000.CLIENT",
            password=SECRET,
            extra=json.dumps(extra),
        )
    with pytest.raises(ZohoCRMInvalidRequestError) as info:
        ZohoCRMSettings.from_connection(connection)
    message = str(info.value)
    assert fragment in message
    assert "zoho_test" in message
    assert info.value.code == "INVALID_CONNECTION"
    assert SECRET not in message
    assert REFRESH not in message


def test_the_first_name_of_the_cache_extra_still_works():
    """``token_cache`` was renamed ``oauth_cache`` (Airflow masks extras named like tokens); both work."""
    assert ZohoCRMSettings.from_connection(conn({"token_cache": "none"})).token_cache == "none"
    assert ZohoCRMSettings.from_connection(
        conn({"oauth_cache": "memory", "token_cache": "none"})
    ).token_cache == ("memory")


def test_masked_placeholders_written_back_by_a_form_mean_unset():
    settings = ZohoCRMSettings.from_connection(conn({"oauth_cache": "***", "data_center": "***"}))
    assert settings.token_cache == "variable"
    assert settings.data_center == "us"


def test_no_extra_of_the_form_is_masked_by_airflow_unless_it_is_a_secret():
    """Airflow masks extras whose name looks sensitive; only the refresh token may be one of them."""
    from airflow.sdk._shared.secrets_masker.secrets_masker import DEFAULT_SENSITIVE_FIELDS

    from airflow_provider_zoho_attach.utils.connection_form import CONN_FIELDS

    masked = {name for name in CONN_FIELDS if any(word in name.lower() for word in DEFAULT_SENSITIVE_FIELDS)}
    assert masked == {"refresh_token"}


def test_daily_credit_budget_is_optional_and_read_from_the_extra():
    assert (
        ZohoCRMSettings.from_values(
            client_id="1000.C", client_secret="s", refresh_token="r"
        ).daily_credit_budget
        is None
    )
    assert (
        ZohoCRMSettings.from_values(
            client_id="1000.C", client_secret="s", refresh_token="r", daily_credit_budget="50000"
        ).daily_credit_budget
        == 50_000
    )
