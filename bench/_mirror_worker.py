"""
The mirror benchmark's clients, each run in a worker process: :func:`run` takes ``{"action": ...}``.

* ``mirror``: one run of ``ZohoCRMMirrorAttachmentsOperator.execute`` (as a task process runs it),
  with its wall time, the process's RSS before it and its peak RSS during it (``VmHWM`` after
  ``/proc/self/clear_refs``), and its XCom summary;
* ``sdk_loop``: what a user writes today with Zoho's official SDK: list the records, then for each
  record list its attachments and download each one, in a plain loop;
* ``link``: the same file downloaded by plain ``requests``, ``requests`` hashing it (SHA-256, as the
  provider does), the hook and the mirror, taking turns, ``reps`` times each.
"""

from __future__ import annotations

import gc
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from bench._common import reset_peak_rss, rss_kib


class _TaskInstance:
    def xcom_push(self, key: str, value: Any) -> None:
        del key, value


def _operator(spec: dict[str, Any], destination: str) -> Any:
    from airflow_provider_zoho_attach.operators.mirror import ZohoCRMMirrorAttachmentsOperator

    selection = {k: spec[k] for k in ("records", "where", "criteria") if spec.get(k) is not None}
    return ZohoCRMMirrorAttachmentsOperator(
        task_id="mirror",
        module=spec["module"],
        destination=destination,
        max_concurrency=spec.get("max_concurrency"),
        **selection,
    )


def mirror(spec: dict[str, Any]) -> dict[str, Any]:
    """One mirror run: ``{"summary", "seconds", "baseline_kib", "peak_kib", "peak_reset"}``."""
    from airflow_provider_zoho_attach.hooks.zoho_crm import ZohoCRMHook

    # The token first, as a task that starts finds one shared by its DAG's earlier tasks: the
    # run's time is then the mirror's alone.
    hook = ZohoCRMHook()
    hook.get_access_token()
    hook.close()
    operator = _operator(spec, spec["destination"])
    gc.collect()
    peak_reset = reset_peak_rss()
    baseline = rss_kib()
    started = time.perf_counter()
    summary = operator.execute({"ti": _TaskInstance()})  # type: ignore[arg-type]
    seconds = time.perf_counter() - started
    return {
        "summary": dict(summary),
        "seconds": seconds,
        "baseline_kib": baseline,
        "peak_kib": rss_kib("VmHWM"),
        "peak_reset": peak_reset,
    }


def sdk_loop(spec: dict[str, Any]) -> dict[str, Any]:
    """The SDK loop over the first ``limit`` records: ``{"records", "files", "bytes", "seconds"}``."""
    from bench import _sdk

    workdir = Path(spec["workdir"])
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    operations = _sdk.init(
        spec["url"],
        spec["client_id"],
        spec["client_secret"],
        spec["refresh_token"],
        str(workdir / "sdk-tokens.csv"),
        str(workdir),
    )
    files = written = 0
    record_ids = _sdk.list_record_ids(operations, spec["module"], limit=spec["limit"])
    for record_id in record_ids:
        rows = _sdk.list_all(operations, spec["module"], record_id)
        if not rows:
            continue
        directory = workdir / record_id
        directory.mkdir(exist_ok=True)
        for row in rows:
            written += _sdk.download(
                operations, spec["module"], record_id, str(row.get_id()), str(directory / str(row.get_id()))
            )
            files += 1
    seconds = time.perf_counter() - started
    shutil.rmtree(workdir, ignore_errors=True)
    return {"records": len(record_ids), "files": files, "bytes": written, "seconds": seconds}


class _MirrorClient:
    """The mirror of the link's one record into a fresh directory each time."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.count = 0

    def start(self) -> None:
        pass

    def download(self, job: dict[str, Any], directory: Path) -> None:
        del job
        self.count += 1
        destination = directory / f"mirror-{self.count}"
        summary = _operator(
            {"module": self.spec["module"], "records": [self.spec["download_record"]]}, str(destination)
        ).execute({"ti": _TaskInstance()})  # type: ignore[arg-type]
        if summary["downloaded"] != 1:
            raise RuntimeError(f"the mirror downloaded {summary['downloaded']} files, not 1")
        shutil.rmtree(destination)


def link(spec: dict[str, Any]) -> dict[str, Any]:
    """
    Every client downloads the file ``reps`` times, in turns, in each phase (a bandwidth, reps).

    :return: ``{"times": {phase: {client: [seconds]}}, "cpu": {phase: {client: [CPU seconds]}}}``.
    """
    import requests

    from bench._transfer_worker import Provider, Requests, RequestsSha256

    classes = {
        "requests": Requests,
        "requests-sha256": RequestsSha256,
        "hook": Provider,
        "mirror": _MirrorClient,
    }
    clients = {name: classes[name](spec) for name in spec["clients"]}
    directory = Path(spec["workdir"])
    directory.mkdir(parents=True, exist_ok=True)
    job = {"attachment_id": spec["attachment_id"]}
    for client in clients.values():
        client.start()
        client.download(job, directory)  # warm (on loopback): connections, tokens, first imports
    times: dict[str, dict[str, list[float]]] = {}
    # CPU time of this process (every thread): what a download costs the client whatever else the
    # machine runs, when wall times swing with the load.
    cpu: dict[str, dict[str, list[float]]] = {}
    for phase in spec["phases"]:
        requests.post(
            f"{spec['admin']}/config", json={"bandwidth": phase["bandwidth"]}, timeout=60
        ).raise_for_status()
        times[phase["name"]] = {name: [] for name in clients}
        cpu[phase["name"]] = {name: [] for name in clients}
        for _ in range(int(phase["reps"])):
            for name, client in clients.items():
                started, cpu_started = time.perf_counter(), time.process_time()
                client.download(job, directory)
                times[phase["name"]][name].append(time.perf_counter() - started)
                cpu[phase["name"]][name].append(time.process_time() - cpu_started)
    shutil.rmtree(directory, ignore_errors=True)
    return {"times": times, "cpu": cpu}


ACTIONS = {"mirror": mirror, "sdk_loop": sdk_loop, "link": link}


def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Run ``spec["action"]``."""
    return dict(ACTIONS[spec["action"]](spec))


if __name__ == "__main__":
    print(json.dumps(run(json.loads(Path(sys.argv[1]).read_text()))))
