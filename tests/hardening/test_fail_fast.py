"""
Hosts that cannot answer fail fast, once, and say which host and what to check (issue 13.1).

Attempts are counted through the hooks' injectable sleep (one call per retry) and by counting the
requests sent, never by wall time; the wall-clock figures are in ``bench/time_to_fail.py`` and
``docs/errors.rst``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading

import pytest

from airflow_provider_zoho_attach.exceptions import ZohoCRMConnectionError, ZohoCRMServerError
from airflow_provider_zoho_attach.hooks.zoho_crm import ZohoCRMAsyncHook, ZohoCRMHook
from airflow_provider_zoho_attach.utils.protocol import RetryPolicy, connection_error

CONN_ID = "zoho_crm_fail_fast"
DNS_FAILURE = "http://zoho-attach-fail-fast.invalid"


@contextlib.contextmanager
def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def black_hole():
    """A listener that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.05)
    held, stop = [], threading.Event()

    def accept():
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(1)
        for conn in held:
            conn.close()
        server.close()


FAULTS = {"closed": closed_port, "dns": lambda: contextlib.nullcontext(DNS_FAILURE)}


@pytest.fixture
def connect_to(monkeypatch):
    """Point the connection's accounts and API hosts at ``url``."""

    def point(url, **extra):
        extra = {
            "refresh_token": "1000.fail-fast-refresh",
            "accounts_url": url,
            "api_domain": url,
            "oauth_cache": "memory",
            **extra,
        }
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{CONN_ID.upper()}",
            json.dumps({"conn_type": "zoho_crm", "login": "c", "password": "s", "extra": extra}),
        )

    return point


@pytest.fixture
def sent(monkeypatch):
    """Every request the sync hooks send, by URL."""
    import requests

    urls = []
    original = requests.Session.send

    def send(self, request, **kwargs):
        urls.append(request.url)
        return original(self, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", send)
    return urls


def sync_hook(sleeps, **kwargs):
    hook = ZohoCRMHook(CONN_ID, **kwargs)
    hook._sleep = sleeps.append
    return hook


def assert_names_host_once(error, url, attempts):
    text = str(error)
    host = url.split("://")[1]
    assert host in text, text
    assert f"{host}/" not in text, "a path was named"
    assert text.count("gave up after") == 1, text
    assert f"gave up after {attempts} attempts" in text, text
    assert "data_center" in error.hint, error.hint
    assert "HTTPS_PROXY" in error.hint, error.hint


@pytest.mark.parametrize(("fault", "code"), [("closed", "CONNECTION_REFUSED"), ("dns", "HOST_NOT_FOUND")])
def test_an_unreachable_host_is_tried_twice_per_operation(connect_to, sent, fault, code):
    sleeps = []
    with FAULTS[fault]() as url:
        connect_to(url)
        with pytest.raises(ZohoCRMConnectionError) as info:
            sync_hook(sleeps).list_attachments("Leads", "1")
    # Before: the token fetch's 6 attempts inside each of the listing's 6 (36 requests, 35 waits).
    assert len(sent) == 2, sent
    assert sleeps == [1.0]
    assert info.value.code == code
    assert_names_host_once(info.value, url, attempts=2)
    if fault == "closed":
        assert "emulator" in info.value.hint


def test_the_port_is_named_even_when_the_url_has_none(connect_to, sent):
    connect_to(DNS_FAILURE)
    hook = sync_hook([])
    with pytest.raises(ZohoCRMConnectionError) as info:
        hook.get_access_token()
    assert "http://zoho-attach-fail-fast.invalid:80 " in str(info.value)


def test_a_silent_host_spends_one_budget_for_the_whole_operation(connect_to, sent):
    sleeps = []
    with black_hole() as url:
        connect_to(url, timeout=0.2, max_retries=2)
        with pytest.raises(ZohoCRMConnectionError) as info:
            sync_hook(sleeps, retry_base_delay=0.01).list_attachments("Leads", "1")
    # Before: 3 token attempts inside each of 3 listing attempts (9 requests).
    assert len(sent) == 3, sent
    assert len(sleeps) == 2
    assert info.value.code == "TIMEOUT"
    assert url.split("://")[1] in str(info.value)
    assert str(info.value).count("gave up after") == 1
    assert "gave up after 3 attempts" in str(info.value)


def test_a_503_on_the_token_endpoint_is_retried_once_per_operation(zoho_emulator_connection, make_hook):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    emu.inject_fault("status", status=503, count=100, path="/oauth/")
    sleeps = []
    hook = make_hook(max_retries=3)
    hook._sleep = sleeps.append
    with pytest.raises(ZohoCRMServerError) as info:
        hook.list_attachments("Deals", record)
    # Before: 4 token attempts inside each of 4 listing attempts (16 requests, 15 waits) and
    # "gave up after 4 attempts" twice.
    assert emu.count(path_contains="/oauth/") == 4
    assert len(sleeps) == 3
    assert str(info.value).count("gave up after") == 1
    assert "gave up after 4 attempts" in str(info.value)


@pytest.mark.parametrize("fault", ["closed", "dns"])
def test_the_async_hook_keeps_the_same_budget(connect_to, fault):
    sleeps = []

    async def sleep(seconds):
        sleeps.append(seconds)

    async def listing():
        hook = ZohoCRMAsyncHook(CONN_ID)
        hook._sleep = sleep
        try:
            return await hook.list_attachments("Leads", "1")
        finally:
            await hook.aclose()

    with FAULTS[fault]() as url:
        connect_to(url)
        with pytest.raises(ZohoCRMConnectionError) as info:
            asyncio.run(listing())
    assert sleeps == [1.0]
    assert info.value.code == ("CONNECTION_REFUSED" if fault == "closed" else "HOST_NOT_FOUND")
    assert_names_host_once(info.value, url, attempts=2)


def test_test_connection_has_its_own_short_budget(connect_to, sent):
    sleeps = []
    with black_hole() as url:
        # A connection timeout of 60 s and 5 retries would be 6 minutes; the probe uses 4 s and 1 retry.
        connect_to(url)
        hook = sync_hook(sleeps)
        probe = hook._quick_probe()
        assert probe.settings.timeout == 4.0
        assert probe.retry_policy.max_retries == 1
        assert probe.retry_policy.max_delay == 1.0
        assert probe.retry_policy.token_throttle_timeout == 0.0
        # The same probe, with a 0.2 s timeout so that the test stays fast.
        connect_to(url, timeout=0.2)
        ok, message = sync_hook(sleeps).test_connection()
    assert not ok
    assert len(sent) == 2, sent
    assert len(sleeps) == 1
    assert sleeps[0] <= 1.0
    assert url.split("://")[1] in message
    assert message.count("gave up after 2 attempts") == 1


def test_test_connection_against_a_closed_port(connect_to, sent):
    with closed_port() as url:
        connect_to(url)
        ok, message = sync_hook([]).test_connection()
    assert not ok
    assert len(sent) == 2
    assert "CONNECTION_REFUSED" in message
    assert url.split("://")[1] in message
    assert "emulator" in message


def test_read_timeouts_and_resets_stay_ambiguous():
    """Issue 12: a failure after the request went out may have been processed; a connect failure not."""
    import requests

    read = connection_error("upload", requests.ReadTimeout("read timed out"), timeout=5, url=DNS_FAILURE)
    reset = connection_error(
        "upload", requests.ConnectionError(ConnectionResetError(104, "reset")), url=DNS_FAILURE
    )
    connect = connection_error("upload", requests.ConnectTimeout("connect timed out"), timeout=60)
    assert (read.code, reset.code, connect.code) == ("TIMEOUT", "CONNECTION_ERROR", "CONNECT_TIMEOUT")
    assert "within 10 s" in connect.message  # the connect timeout is capped
    with RetryPolicy(max_retries=5).operation() as budget:
        assert [budget.next_delay(read) is not None for _ in range(6)] == [True] * 5 + [False]
    with RetryPolicy(max_retries=5).operation() as budget:
        assert budget.next_delay(connect) == 1.0
        assert budget.next_delay(connect) is None


def test_a_budget_is_shared_inside_an_operation_and_released_after_it():
    policy = RetryPolicy(max_retries=2)
    with policy.operation() as outer, policy.operation() as inner:
        assert inner is outer
    with policy.operation() as after:
        assert after is not outer


def test_unreachable_uploads_are_not_ambiguous(tmp_path):
    from airflow_provider_zoho_attach.hooks.zoho_crm import _may_have_stored
    from airflow_provider_zoho_attach.utils.transfer import MultipartBody

    source = tmp_path / "a.txt"
    source.write_bytes(b"abc")
    body = MultipartBody(
        field="file", file_name="a.txt", content_type="text/plain", opener=lambda: source.open("rb"), size=3
    )
    list(body)
    assert body.finished
    refused = ZohoCRMConnectionError("x", code="CONNECTION_REFUSED")
    reset = ZohoCRMConnectionError("x", code="CONNECTION_ERROR")
    assert not _may_have_stored(refused, body)
    assert _may_have_stored(reset, body)
