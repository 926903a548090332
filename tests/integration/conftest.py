"""Integration fixtures: the hook against the emulator over real HTTP on 127.0.0.1."""

from __future__ import annotations

import pytest

from airflow_provider_zoho_attach.utils import tokens


@pytest.fixture(autouse=True)
def _fresh_token_memory():
    tokens.clear_memory_cache()
    yield
    tokens.clear_memory_cache()


@pytest.fixture
def make_hook(zoho_emulator_connection):
    """Build hooks on the emulator whose backoff sleeps advance the emulator's clock instead."""
    from airflow_provider_zoho_attach.hooks.zoho_crm import ZohoCRMHook

    emulator = zoho_emulator_connection
    hooks = []

    def make(**kwargs):
        kwargs.setdefault("retry_base_delay", 0.01)
        hook = ZohoCRMHook(**kwargs)
        hook._sleep = emulator.clock.advance
        hooks.append(hook)
        return hook

    yield make
    for hook in hooks:
        hook.close()


@pytest.fixture
def hook(make_hook):
    return make_hook()
