"""
pytest plugin (entry point ``pytest11``): fixtures that run the Zoho CRM emulator.

* ``zoho_emulator``: a running, empty :class:`~airflow_provider_zoho_attach.testing.ZohoCRMEmulator`,
  stopped (and its stored files deleted) after the test.
* ``zoho_emulator_connection``: the same emulator, with ``AIRFLOW_CONN_ZOHO_CRM_DEFAULT`` set to it
  for the duration of the test.
* ``zoho_deal_with_files``: a Deal on ``zoho_emulator`` whose fields hold files: ``Signed_Contract``
  (file upload, one file) a PDF, ``Photos`` (image upload, up to 5) two PNG images; the empty
  ``Supporting_Documents`` takes up to 5 files.
* ``flaky_object_store``: a fresh, empty
  :class:`~airflow_provider_zoho_attach.testing.object_store.FlakyMemoryFileSystem` attached to
  Airflow's object storage as ``flakymem://``, whose writes, reads and checks fail, wait or race
  on request.

Mark a test ``@pytest.mark.zoho_emulator(seed="demo", latency=0.01, ...)`` to seed the emulator
or set :class:`~airflow_provider_zoho_attach.testing.EmulatorConfig` fields.

The emulator is imported inside the fixtures, so loading this plugin costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from airflow_provider_zoho_attach.testing.emulator import ZohoCRMEmulator
    from airflow_provider_zoho_attach.testing.object_store import FlakyMemoryFileSystem

__all__ = ["flaky_object_store", "zoho_deal_with_files", "zoho_emulator", "zoho_emulator_connection"]


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``zoho_emulator`` marker (so ``--strict-markers`` accepts it)."""
    config.addinivalue_line(
        "markers",
        "zoho_emulator(seed=None, **config): seed the zoho_emulator fixture and set EmulatorConfig fields",
    )


@pytest.fixture
def zoho_emulator(request: pytest.FixtureRequest) -> Iterator[ZohoCRMEmulator]:
    """A running Zoho CRM emulator on a free loopback port, stopped after the test."""
    from airflow_provider_zoho_attach.testing.emulator import EmulatorConfig, ZohoCRMEmulator

    marker = request.node.get_closest_marker("zoho_emulator")
    options = dict(marker.kwargs) if marker is not None else {}
    seed = options.pop("seed", None)
    config = EmulatorConfig()
    config.update(**options)
    emulator = ZohoCRMEmulator(seed=seed, config=config)
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def zoho_emulator_connection(
    zoho_emulator: ZohoCRMEmulator, monkeypatch: pytest.MonkeyPatch
) -> ZohoCRMEmulator:
    """The running emulator, with ``AIRFLOW_CONN_ZOHO_CRM_DEFAULT`` pointing at it (token cache in memory)."""
    for name, value in zoho_emulator.airflow_env().items():
        monkeypatch.setenv(name, value)
    return zoho_emulator


@pytest.fixture
def zoho_deal_with_files(zoho_emulator: ZohoCRMEmulator) -> dict[str, Any]:
    """
    A new Deal whose file and image fields hold files (the fields are declared if missing).

    :return: ``{"module": "Deals", "record_id", "name", "field_files"}``; ``field_files`` lists the
        entries (``field``, ``id``, ``File_Id__s``, ``File_Name__s``, ``Size__s``...).
    """
    from airflow_provider_zoho_attach.testing._emulator_seed import deal_with_files

    return deal_with_files(zoho_emulator)


@pytest.fixture
def flaky_object_store() -> Iterator[FlakyMemoryFileSystem]:
    """A fresh in-memory object store behind ``flakymem://``, emptied (rules dropped) after the test."""
    from airflow_provider_zoho_attach.testing.object_store import attach_flaky_store

    fs = attach_flaky_store()
    try:
        yield fs
    finally:
        fs.reset()
