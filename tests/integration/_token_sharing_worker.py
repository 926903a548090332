"""Forks N "task processes" that each list a record with a fresh hook; prints their outcomes as JSON.

Run by test_token_sharing.py in a small, fresh interpreter: forking the whole pytest session 50 times
costs far more than forking a process that has only imported the hook.
"""

from __future__ import annotations

import fcntl
import json
import multiprocessing
import os
import sys
import time


class FileVariables:
    """Stands in for Airflow's Variable API: one store shared by processes, like the metadata DB."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.writes = multiprocessing.Value("i", 0)

    def _load(self, handle):
        handle.seek(0)
        text = handle.read()
        return json.loads(text) if text else {}

    def get(self, key, default=None, deserialize_json=False):
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


def _task(barrier, module, record_id, results, host):
    import tempfile

    from airflow_provider_zoho_attach.exceptions import ZohoCRMError
    from airflow_provider_zoho_attach.hooks.zoho_crm import ZohoCRMHook

    if host is not None:
        # A host of its own: its own temp dir, so its own host lock (a Kubernetes pod, a Celery worker).
        os.makedirs(host, exist_ok=True)
        tempfile.tempdir = host
    barrier.wait()
    try:
        results.put(len(ZohoCRMHook().list_attachments(module, record_id)))
    except ZohoCRMError as error:
        results.put(error.code)
    except Exception as error:
        results.put(repr(error))


def main(processes: int, module: str, record_id: str, workdir: str, hosts: str = "one-host") -> None:
    import requests  # noqa: F401 - imported once here rather than in every child
    import tenacity  # noqa: F401
    from airflow.sdk import Variable

    from airflow_provider_zoho_attach.hooks.zoho_crm import ZohoCRMHook
    from airflow_provider_zoho_attach.utils import tokens

    # Read the connection once: what that imports (the Task SDK's connection and supervisor
    # modules) a task process has imported before its task runs. Without this each child imported
    # it after the fork: 50 processes compiling the same modules at once. No token is made here.
    ZohoCRMHook().settings  # noqa: B018
    store = FileVariables(f"{workdir}/variables.json")
    Variable.get = staticmethod(store.get)  # type: ignore[method-assign]
    Variable.set = staticmethod(store.set)  # type: ignore[method-assign]
    # Each child behaves as a task process of Airflow's Task SDK, with this run's lock directory
    # (or, with hosts="private", one of its own: see _task).
    tokens.in_task_runtime = lambda: True
    tokens.tempfile.tempdir = workdir
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(processes)
    results = context.Queue()
    started = time.monotonic()
    children = [
        context.Process(
            target=_task,
            args=(barrier, module, record_id, results, f"{workdir}/host-{i}" if hosts == "private" else None),
        )
        for i in range(processes)
    ]
    for child in children:
        child.start()
    outcomes = [results.get(timeout=120) for _ in children]
    for child in children:
        child.join(timeout=60)
    seconds = time.monotonic() - started
    print(json.dumps({"outcomes": outcomes, "variable_writes": store.writes.value, "seconds": seconds}))


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], *sys.argv[5:])
