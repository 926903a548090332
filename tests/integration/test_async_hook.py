"""The async hook of the triggers behaves like the sync hook: same calls, same errors, same tokens."""

from __future__ import annotations

import asyncio
import math

import pytest

from airflow_provider_zoho_attach.exceptions import (
    ZohoCRMAuthError,
    ZohoCRMInvalidRequestError,
    ZohoCRMNotFoundError,
    ZohoCRMServerError,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def make_async_hook(zoho_emulator_connection):
    from airflow_provider_zoho_attach.hooks.zoho_crm import ZohoCRMAsyncHook

    emulator = zoho_emulator_connection

    def make(**kwargs):
        kwargs.setdefault("retry_base_delay", 0.01)
        hook = ZohoCRMAsyncHook(**kwargs)

        async def advance(seconds: float) -> None:
            emulator.clock.advance(seconds)

        hook._sleep = advance
        return hook

    return make


def run(coroutine):
    return asyncio.run(coroutine)


async def _list(hook, *args, **kwargs):
    try:
        return await hook.list_attachments(*args, **kwargs)
    finally:
        await hook.aclose()


def test_same_call_count_as_the_sync_hook(zoho_emulator_connection, make_async_hook):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    emu.add_attachments_bulk("Deals", record, 5000, size=8)
    emu.reset_log()
    records = run(_list(make_async_hook(), "Deals", record))
    assert len({r["id"] for r in records}) == 5000
    assert emu.count(path_contains="/Attachments") == math.ceil(5000 / 200)
    assert emu.token_calls == 1


def test_the_token_is_shared_with_the_sync_hook(zoho_emulator_connection, make_async_hook, hook):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    hook.list_attachments("Deals", record)
    run(_list(make_async_hook(), "Deals", record))
    assert emu.token_calls == 1


def test_many_concurrent_triggers_make_one_token_call(zoho_emulator_connection, make_async_hook):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")

    async def many():
        return await asyncio.gather(*(_list(make_async_hook(), "Deals", record) for _ in range(50)))

    assert len(run(many())) == 50
    assert emu.token_calls == 1


@pytest.mark.parametrize(
    ("kind", "extra"),
    [("status", {"status": 500}), ("429", {}), ("reset", {}), ("html_error", {}), ("truncated", {})],
)
def test_transient_faults_are_retried(zoho_emulator_connection, make_async_hook, kind, extra):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    emu.add_attachment("Deals", record, "a.txt", b"a")
    emu.inject_fault(kind, count=2, method="GET", **extra)
    assert len(run(_list(make_async_hook(), "Deals", record))) == 1


def test_retries_are_bounded(zoho_emulator_connection, make_async_hook):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    emu.inject_fault("status", status=503, count=100, method="GET")
    with pytest.raises(ZohoCRMServerError) as info:
        run(_list(make_async_hook(max_retries=2), "Deals", record))
    assert "gave up after 3 attempts" in str(info.value)


def test_invalid_token_refreshes_once(zoho_emulator_connection, make_async_hook):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    run(_list(make_async_hook(), "Deals", record))
    emu.revoke_access_tokens()
    run(_list(make_async_hook(), "Deals", record))
    assert emu.token_calls == 2


def test_errors_are_the_same_as_the_sync_hook(zoho_emulator, monkeypatch, make_async_hook, hook):
    for name, value in zoho_emulator.airflow_env().items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ZohoCRMInvalidRequestError) as sync_error:
        hook.list_attachments("NoSuchModule", "1")
    with pytest.raises(ZohoCRMInvalidRequestError) as async_error:
        run(_list(make_async_hook(), "NoSuchModule", "1"))
    assert str(async_error.value) == str(sync_error.value)
    with pytest.raises(ZohoCRMNotFoundError):
        run(_list(make_async_hook(), "Deals", "1"))
    for name, value in zoho_emulator.airflow_env(refresh_token="1000.bad").items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ZohoCRMAuthError) as info:
        run(_list(make_async_hook(), "Deals", "1"))
    assert info.value.code == "invalid_code"


def test_async_hook_uses_a_token_another_host_shared_while_it_waited_out_the_throttle(
    zoho_emulator_connection, make_async_hook, monkeypatch
):
    import time

    from airflow_provider_zoho_attach.utils import tokens
    from airflow_provider_zoho_attach.utils.protocol import AccessToken

    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    # Tokens are shared through a Variable, as in Airflow's triggerer with oauth_cache "variable".
    for name, value in emu.airflow_env(oauth_cache="variable").items():
        monkeypatch.setenv(name, value)
    variables = {}
    monkeypatch.setattr(tokens, "in_task_runtime", lambda: True)
    monkeypatch.setattr(tokens.TokenCache, "_read_variable", lambda cache: variables.get(cache.key))
    monkeypatch.setattr(
        tokens.TokenCache, "_write_variable", lambda cache, value: variables.__setitem__(cache.key, value)
    )
    emu.inject_fault("token_throttle", count=100)
    hook = make_async_hook(token_throttle_timeout=900)
    waits = []

    async def wait(seconds):
        waits.append(seconds)
        emu.clock.advance(seconds)
        # The first wait confirms the token lease; the second waits out the throttle, during which
        # another host of the deployment stores a token it got.
        if len(waits) == 2:
            cache = tokens.TokenCache(await hook.get_settings())
            variables[cache.key] = AccessToken(emu.issue_access_token(), time.time() + 3600).to_json(
                cache.fingerprint
            )

    hook._sleep = wait
    assert run(_list(hook, "Deals", record)) == []
    assert len(waits) == 2
    assert emu.token_calls == 1  # the throttled request only


def test_call_is_the_sync_hooks_twin(zoho_emulator_connection, make_async_hook, hook):
    emu = zoho_emulator_connection
    emu.inject_fault("429", count=1, method="GET", path="/users")

    async def call():
        async_hook = make_async_hook()
        try:
            return await async_hook.call("GET", "users", params={"type": "CurrentUser"})
        finally:
            await async_hook.aclose()

    payload = run(call())
    assert payload == hook.call("GET", "users", params={"type": "CurrentUser"})
    assert payload["users"]
    with pytest.raises(ZohoCRMInvalidRequestError):
        run(make_async_hook().call("GET", "https://evil.example/users"))


def test_async_listing_takes_every_option_of_the_sync_one(zoho_emulator_connection, make_async_hook, hook):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    ids = [emu.add_attachment("Deals", record, f"{n}.txt", b"x") for n in range(5)]

    chosen = run(_list(make_async_hook(), "Deals", record, ids=ids[1:3]))
    assert sorted(r["id"] for r in chosen) == sorted(ids[1:3])
    assert chosen == hook.list_attachments("Deals", record, ids=ids[1:3])

    async def iterate(**options):
        async_hook = make_async_hook()
        try:
            return [record async for record in async_hook.iter_attachments("Deals", record, **options)]
        finally:
            await async_hook.aclose()

    assert run(iterate(ids=ids[3])) == hook.list_attachments("Deals", record, ids=ids[3])
    with pytest.raises(TypeError, match="max_items"):
        run(iterate(max_items=1))  # as the sync iter_attachments, which takes no max_items

    emu.reset_log()
    first = run(_list(make_async_hook(), "Deals", record, max_items=2))
    assert len(first) == 2
    assert emu.count(path_contains="/Attachments") == 1  # per_page follows max_items: one small page
    assert first == hook.list_attachments("Deals", record, max_items=2)
    emu.reset_log()
    assert run(_list(make_async_hook(), "Deals", record, max_items=0)) == []
    assert emu.count(path_contains="/Attachments") == 0

    for bad in ({"max_items": -1}, {"max_items": True}, {"max_items": 2.5}, {"ids": ["x1"]}, {"ids": "1,a"}):
        with pytest.raises(ZohoCRMInvalidRequestError) as sync_error:
            hook.list_attachments("Deals", record, **bad)
        with pytest.raises(ZohoCRMInvalidRequestError) as async_error:
            run(_list(make_async_hook(), "Deals", record, **bad))
        assert str(async_error.value) == str(sync_error.value)


def test_waiting_for_the_refresh_lock_leaves_the_event_loop_free(zoho_emulator_connection, make_async_hook):
    import threading
    import time

    from airflow_provider_zoho_attach.utils.tokens import TokenCache

    emu = zoho_emulator_connection
    hook = make_async_hook()
    held, release = threading.Event(), threading.Event()

    async def main():
        cache = TokenCache(await hook.get_settings())

        def hold_the_lock():  # a sync hook of the same process, creating a token
            with cache.refresh_lock():
                held.set()
                release.wait(10)

        thread = threading.Thread(target=hold_the_lock)
        thread.start()
        held.wait(10)
        ticks = []

        async def tick():
            for _ in range(5):
                await asyncio.sleep(0.01)
                ticks.append(time.monotonic())
            release.set()

        started = time.monotonic()
        try:
            token, _ = await asyncio.gather(hook.get_access_token(), tick())
        finally:
            release.set()
            thread.join()
            await hook.aclose()
        return token, len(ticks), time.monotonic() - started

    token, ticks, elapsed = run(main())
    assert token
    assert ticks == 5
    assert elapsed < 5  # the loop ticked while the token waited for the lock: nobody waited for release
    assert emu.token_calls == 1
