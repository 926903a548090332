"""Hardening fixtures: hooks on the emulator whose waits cost (almost) no real time."""

from __future__ import annotations

import asyncio
import time

import pytest

from airflow_provider_zoho_attach.utils import tokens
from tests.e2e.conftest import airflow_db  # noqa: F401 - the DAG-running tests need the metadata DB


@pytest.fixture(autouse=True)
def _fresh_token_memory():
    tokens.clear_memory_cache()
    yield
    tokens.clear_memory_cache()


class NoXCom:
    """The ``ti`` of a hand-made context: operators push their record link to it."""

    def __init__(self):
        self.pushed = []

    def xcom_push(self, key, value, **kwargs):
        self.pushed.append((key, value))


@pytest.fixture
def context():
    """A minimal task context for calling ``execute()`` or ``poke()`` directly."""
    return {"ti": NoXCom()}


@pytest.fixture
def make_hook(zoho_emulator_connection):
    """
    Build sync hooks on the emulator; backoff sleeps advance the emulator's clock.

    ``real_sleep=True`` also sleeps for real (at most 50 ms a time), for the concurrency-limit
    cases where a retry must wait for another call to finish.
    """
    from airflow_provider_zoho_attach.hooks.zoho_crm import ZohoCRMHook

    emulator = zoho_emulator_connection
    hooks = []

    def make(*, real_sleep=False, **kwargs):
        kwargs.setdefault("retry_base_delay", 0.01)
        hook = ZohoCRMHook(**kwargs)

        def sleep(seconds):
            emulator.clock.advance(seconds)
            if real_sleep:
                time.sleep(min(seconds, 0.05))

        hook._sleep = sleep
        hooks.append(hook)
        return hook

    yield make
    for hook in hooks:
        hook.close()


@pytest.fixture
def make_async_hook(zoho_emulator_connection):
    """Build async hooks (for triggers) whose backoff sleeps advance the emulator's clock."""
    from airflow_provider_zoho_attach.hooks.zoho_crm import ZohoCRMAsyncHook

    emulator = zoho_emulator_connection

    def make(*, real_sleep=False, **kwargs):
        kwargs.setdefault("retry_base_delay", 0.01)
        hook = ZohoCRMAsyncHook(**kwargs)

        async def sleep(seconds):
            emulator.clock.advance(seconds)
            await asyncio.sleep(min(seconds, 0.05) if real_sleep else 0)

        hook._sleep = sleep
        return hook

    return make
