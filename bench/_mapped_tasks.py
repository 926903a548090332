"""
N mapped download tasks, each in its own process, all started at once: :func:`run` runs each phase
of its spec (``provider``, ``sdk``) and returns ``{kind: {"outcomes": [...], "variable_writes": n,
"seconds": s}}`` (``python -m bench._mapped_tasks SPEC.json`` prints it).

Airflow runs every task instance in its own process. Here a small interpreter imports the client
once and forks one child per task instance behind a barrier (the worst case for token sharing: all
start together). For the provider, each child runs ``ZohoCRMDownloadAttachmentsOperator.execute``
for its record, with the Task SDK's Variable API replaced by a file shared by the processes (what the
metadata database is behind the API server) and ``in_task_runtime()`` true, as in a task. For the
SDK, each child initialises it with one token store file shared by all (the SDK's own way to keep
tokens across processes), lists its record and downloads every file.

A provider phase may set ``private_hosts`` (each task its own temp dir, so its own host lock, and
its own cache dir: every task its own host, as the Kubernetes executor runs them) and
``pool_slots`` (at most that many tasks at once, as an Airflow pool allows: a semaphore shared by
the processes).
"""

from __future__ import annotations

import fcntl
import gc
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import Any


class SharedVariables:
    """A stand-in for Airflow's Variable API: one JSON file, locked, shared by the task processes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.writes = multiprocessing.get_context("fork").Value("i", 0)

    def _read(self, handle: Any) -> dict[str, Any]:
        handle.seek(0)
        text = handle.read()
        return json.loads(text) if text else {}

    def get(self, key: str, default: Any = None, deserialize_json: bool = False) -> Any:
        with open(self.path, "a+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_SH)
            value = self._read(handle).get(key)
        if value is None:
            return default
        return json.loads(value) if deserialize_json else value

    def set(self, key: str, value: Any, description: str | None = None, serialize_json: bool = False) -> None:
        with self.writes.get_lock():
            self.writes.value += 1
        with open(self.path, "a+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            data = self._read(handle)
            data[key] = json.dumps(value) if serialize_json else value
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps(data))


class _TaskInstance:
    """Enough of a task instance for the operator's record link (an XCom push)."""

    def xcom_push(self, key: str, value: Any) -> None:
        del key, value


def _own_host(spec: dict[str, Any], index: int) -> None:
    """Give this task a host of its own: its own temp dir (the host lock) and user cache dir."""
    import tempfile

    host = Path(spec["workdir"], "hosts", str(index))
    (host / "cache").mkdir(parents=True, exist_ok=True)
    tempfile.tempdir = str(host)
    os.environ["XDG_CACHE_HOME"] = str(host / "cache")


def _provider_task(barrier: Any, results: Any, spec: dict[str, Any], index: int) -> None:
    from airflow_provider_zoho_attach.operators.attachments import ZohoCRMDownloadAttachmentsOperator

    if spec.get("private_hosts"):
        _own_host(spec, index)
    slots = spec.get("_slots")
    barrier.wait(timeout=120)
    if slots is not None:
        # An Airflow pool of N slots: at most N of the tasks run at once, the others queue.
        slots.acquire()
    try:
        operator = ZohoCRMDownloadAttachmentsOperator(
            task_id=f"download_{index}",
            module=spec["module"],
            record_id=spec["records"][index],
            destination=f"{spec['workdir']}/provider/{index}/",
        )
        results.put((index, len(operator.execute({"ti": _TaskInstance()}))))  # type: ignore[arg-type]
    except Exception as error:
        results.put((index, f"{type(error).__name__}: {error}"[:300]))
    finally:
        if slots is not None:
            slots.release()


def _sdk_task(barrier: Any, results: Any, spec: dict[str, Any], index: int) -> None:
    from bench import _sdk

    barrier.wait(timeout=120)
    try:
        directory = Path(spec["workdir"], "sdk", str(index))
        directory.mkdir(parents=True, exist_ok=True)
        operations = _sdk.init(
            spec["url"],
            spec["client_id"],
            spec["client_secret"],
            spec["refresh_token"],
            f"{spec['workdir']}/sdk-tokens.csv",
            spec["workdir"],
        )
        rows = _sdk.list_all(operations, spec["module"], spec["records"][index])
        for row in rows:
            _sdk.download(
                operations,
                spec["module"],
                spec["records"][index],
                str(row.get_id()),
                str(directory / str(row.get_id())),
            )
        results.put((index, len(rows)))
    except Exception as error:
        results.put((index, f"{type(error).__name__}: {error}"[:300]))


def _phase(phase: dict[str, Any]) -> dict[str, Any]:
    """Fork the phase's task processes at once and collect their outcomes."""
    processes = int(phase["processes"])
    os.environ.update(phase.get("env", {}))
    store = SharedVariables(f"{phase['workdir']}/variables.json")
    if phase["kind"] == "provider":
        from airflow.sdk import Variable

        from airflow_provider_zoho_attach.utils import tokens

        Variable.get = staticmethod(store.get)  # type: ignore[method-assign]
        Variable.set = staticmethod(store.set)  # type: ignore[method-assign]
        tokens.in_task_runtime = lambda: True
        tokens.tempfile.tempdir = phase["workdir"]  # the host lock file, private to this run
        target = _provider_task
    else:
        target = _sdk_task
    # Keep the collector away from the inherited heap: otherwise each child copies most of it.
    gc.collect()
    gc.freeze()
    context = multiprocessing.get_context("fork")
    if phase.get("pool_slots"):
        phase = {**phase, "_slots": context.Semaphore(int(phase["pool_slots"]))}
    barrier = context.Barrier(processes)
    results = context.Queue()
    started = time.perf_counter()
    children = [context.Process(target=target, args=(barrier, results, phase, i)) for i in range(processes)]
    for child in children:
        child.start()
    outcomes: list[Any] = [None] * processes
    for _ in children:
        index, outcome = results.get(timeout=300)
        outcomes[index] = outcome
    elapsed = time.perf_counter() - started
    for child in children:
        child.join(timeout=60)
        if child.is_alive():
            child.kill()
    return {"outcomes": outcomes, "variable_writes": store.writes.value, "seconds": elapsed}


def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Run each phase of the spec; return ``{name or kind: {"outcomes", "variable_writes", "seconds"}}``."""
    import requests  # noqa: F401 - every client imported once here, not in each child
    import tenacity  # noqa: F401

    import airflow_provider_zoho_attach.operators.attachments  # noqa: F401
    from airflow_provider_zoho_attach.hooks import zoho_crm  # noqa: F401

    if any(phase["kind"] == "sdk" for phase in spec["phases"]):
        # The SDK is in the bench extra only; the provider phases also run in `make test`.
        import zohocrmsdk.src.com.zoho.crm.api.attachments  # noqa: F401

    return {phase.get("name", phase["kind"]): _phase(phase) for phase in spec["phases"]}


if __name__ == "__main__":
    print(json.dumps(run(json.loads(Path(sys.argv[1]).read_text()))))
    sys.stdout.flush()
    os._exit(0)
