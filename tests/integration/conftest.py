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


@pytest.fixture(scope="session")
def zoho_oas():
    """Zoho's OAS files as validators of answers (``None`` when they are absent): see ``_oas.py``."""
    from tests.integration._files_client import load_oas

    return load_oas()


@pytest.fixture
def files_api(zoho_emulator, zoho_oas):
    """A client of the emulator's files endpoints; every answer is checked against the OAS."""
    from tests.integration._files_client import Api

    client = Api(zoho_emulator, zoho_oas)
    yield client
    client.session.close()


@pytest.fixture
def files_deal(zoho_emulator):
    """A Deal with empty Signed_Contract (1 file), Supporting_Documents (5) and Photos (3 images)."""
    from tests.integration._files_client import deal_with_empty_fields

    return deal_with_empty_fields(zoho_emulator)
