"""50 task processes share one access token through the Variable cache (Zoho allows 10 per 10 min)."""

from __future__ import annotations

import fcntl
import json
import multiprocessing
import os
import time
from pathlib import Path

import pytest

from airflow_provider_zoho_attach.utils import tokens

pytestmark = pytest.mark.integration

PROCESSES = 50


class FileVariables:
    """Stands in for Airflow's Variable API (one row store shared by processes, like the metadata DB)."""

    def __init__(self, path):
        self.path = path
        self.reads = multiprocessing.Value("i", 0)
        self.writes = multiprocessing.Value("i", 0)

    def _load(self, handle):
        handle.seek(0)
        text = handle.read()
        return json.loads(text) if text else {}

    def get(self, key, default=None, deserialize_json=False):
        with self.reads.get_lock():
            self.reads.value += 1
        with open(self.path, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_SH)
            value = self._load(handle).get(key)
        if value is None:
            return default
        return json.loads(value) if deserialize_json else value

    def set(self, key, value, description=None, serialize_json=False):
        # A slow write (a busy API server) widens the window in which other processes find no token:
        # without the refresh lock, every one of them would then create its own.
        time.sleep(0.3)
        with self.writes.get_lock():
            self.writes.value += 1
        with open(self.path, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            data = self._load(handle)
            data[key] = json.dumps(value) if serialize_json else value
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps(data))


def _task(barrier, module, record_id, results):
    from airflow_provider_zoho_attach.hooks.zoho_crm import ZohoCRMHook

    barrier.wait()
    try:
        results.put(len(ZohoCRMHook().list_attachments(module, record_id)))
    except Exception as error:
        results.put(repr(error))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_fifty_processes_make_one_token_call(zoho_emulator, monkeypatch, tmp_path):
    from airflow.sdk import Variable

    for name, value in zoho_emulator.airflow_env(token_cache="variable").items():
        monkeypatch.setenv(name, value)
    record = zoho_emulator.add_record("Deals")
    zoho_emulator.add_attachment("Deals", record, "a.pdf", b"%PDF")
    store = FileVariables(str(tmp_path / "variables.json"))
    monkeypatch.setattr(Variable, "get", staticmethod(store.get))
    monkeypatch.setattr(Variable, "set", staticmethod(store.set))
    # Each child behaves as a task process of Airflow's Task SDK.
    monkeypatch.setattr(tokens, "in_task_runtime", lambda: True)
    monkeypatch.setattr(tokens.tempfile, "gettempdir", lambda: str(tmp_path))

    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    children = [
        context.Process(target=_task, args=(barrier, "Deals", record, results)) for _ in range(PROCESSES)
    ]
    for child in children:
        child.start()
    outcomes = [results.get(timeout=120) for _ in children]
    for child in children:
        child.join(timeout=60)
    assert outcomes == [1] * PROCESSES
    assert zoho_emulator.token_calls == 1
    assert store.writes.value == 1
    variables = json.loads(Path(store.path).read_text())
    stored = json.loads(variables[tokens.variable_key(_fingerprint(zoho_emulator))])
    assert stored["expires_at"] > 0
    assert not any(name.endswith(".part") for name in os.listdir(tmp_path))


def _fingerprint(emulator):
    from airflow_provider_zoho_attach.utils.settings import ZohoCRMSettings

    return ZohoCRMSettings.from_values(
        client_id=emulator.client_id,
        client_secret=emulator.client_secret,
        refresh_token=emulator.refresh_token,
        accounts_url=emulator.accounts_url,
        api_domain=emulator.api_domain,
    ).credentials_fingerprint
