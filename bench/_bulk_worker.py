"""
Download every attachment of many records, in several ways one after the other: :func:`run` returns
``{"results": {key: {"seconds", "files", "errors", "surfaced", "statuses", "stats"}}}``. Before each
scenario the emulator's log is reset; after it, its log and counters are read (admin API). The
worker imports every client once.

Modes:

* ``provider-threads``: one task, one ``ZohoCRMHook`` (``max_concurrency`` from the spec) shared by as
  many threads: every record is listed, then every file downloaded.
* ``provider-mapped``: one ``ZohoCRMDownloadAttachmentsOperator`` task per record, each in its own
  forked process, ``slots`` of them at a time (an Airflow pool or worker concurrency); each task
  lists its record and downloads its files with the spec's ``max_concurrency``.
* ``sdk-serial``: the official SDK in a plain loop: list a record, download its files, next record.
"""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any


def _provider_threads(spec: dict[str, Any]) -> tuple[int, list[str]]:
    from airflow_provider_zoho_attach.hooks.zoho_crm import ZohoCRMHook

    hook = ZohoCRMHook(max_concurrency=spec["max_concurrency"])
    hook.get_access_token()
    module, workdir = spec["module"], spec["workdir"]
    surfaced: list[str] = []

    def listing(record_id: str) -> list[tuple[str, str, str]]:
        try:
            return [(record_id, r["id"], r["File_Name"]) for r in hook.iter_attachments(module, record_id)]
        except Exception as error:
            surfaced.append(f"{type(error).__name__}: {error}")
            return []

    def download(item: tuple[str, str, str]) -> int:
        record_id, attachment_id, name = item
        try:
            hook.download_attachment(
                module, record_id, attachment_id, f"{workdir}/{record_id}/", file_name=name
            )
        except Exception as error:
            surfaced.append(f"{type(error).__name__}: {error}")
            return 0
        return 1

    with ThreadPoolExecutor(max_workers=spec["max_concurrency"]) as pool:
        started = time.perf_counter()
        items = [item for found in pool.map(listing, spec["records"]) for item in found]
        done = sum(pool.map(download, items))
        spec["seconds"] = time.perf_counter() - started
    return done, surfaced


class _TaskInstance:
    def xcom_push(self, key: str, value: Any) -> None:
        del key, value


def _mapped_task(spec: dict[str, Any], index: int, write_end: int) -> None:
    from airflow_provider_zoho_attach.operators.attachments import ZohoCRMDownloadAttachmentsOperator

    try:
        operator = ZohoCRMDownloadAttachmentsOperator(
            task_id=f"download_{index}",
            module=spec["module"],
            record_id=spec["records"][index],
            destination=f"{spec['workdir']}/{spec['records'][index]}/",
            max_concurrency=spec["max_concurrency"],
        )
        payload = {"files": len(operator.execute({"ti": _TaskInstance()}))}  # type: ignore[arg-type]
    except Exception as error:
        payload = {"files": 0, "error": f"{type(error).__name__}: {error}"[:300]}
    with os.fdopen(write_end, "w") as out:
        out.write(json.dumps(payload))


def _provider_mapped(spec: dict[str, Any]) -> tuple[int, list[str]]:
    from airflow_provider_zoho_attach.hooks.zoho_crm import ZohoCRMHook
    from airflow_provider_zoho_attach.operators import attachments  # noqa: F401 - imported before forking

    hook = ZohoCRMHook()
    hook.get_access_token()  # shared with the task processes, as the Variable cache would
    hook.close()
    pending = list(range(len(spec["records"])))
    running: dict[int, int] = {}
    outcomes: list[dict[str, Any]] = []
    deadline = time.monotonic() + 600
    started = time.perf_counter()
    while pending or running:
        while pending and len(running) < spec["slots"]:
            index = pending.pop(0)
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(read_end)
                _mapped_task(spec, index, write_end)
                os._exit(0)
            os.close(write_end)
            running[pid] = read_end
        if time.monotonic() > deadline:
            raise TimeoutError("the mapped tasks did not finish within 600 s")
        pid, _ = os.wait()
        with os.fdopen(running.pop(pid)) as pipe:
            text = pipe.read()
        outcomes.append(json.loads(text) if text else {"files": 0, "error": "the task process died"})
    spec["seconds"] = time.perf_counter() - started
    return sum(o["files"] for o in outcomes), [o["error"] for o in outcomes if "error" in o]


def _sdk_serial(spec: dict[str, Any]) -> tuple[int, list[str]]:
    from bench import _sdk

    operations = _sdk.init(
        spec["url"],
        spec["client_id"],
        spec["client_secret"],
        spec["refresh_token"],
        f"{spec['workdir']}/sdk-tokens.csv",
        spec["workdir"],
    )
    done, surfaced = 0, []
    started = time.perf_counter()
    for record_id in spec["records"]:
        directory = Path(spec["workdir"], record_id)
        directory.mkdir(parents=True, exist_ok=True)
        try:
            rows = _sdk.list_all(operations, spec["module"], record_id)
        except Exception as error:
            surfaced.append(f"{type(error).__name__}: {error}")
            continue
        for row in rows:
            try:
                _sdk.download(
                    operations,
                    spec["module"],
                    record_id,
                    str(row.get_id()),
                    str(directory / str(row.get_id())),
                )
                done += 1
            except Exception as error:
                surfaced.append(f"{type(error).__name__}: {error}")
    spec["seconds"] = time.perf_counter() - started
    return done, surfaced


MODES = {
    "provider-threads": _provider_threads,
    "provider-mapped": _provider_mapped,
    "sdk-serial": _sdk_serial,
}


def _admin(url: str, method: str, route: str) -> Any:
    import requests

    response = requests.request(
        method, f"{url}/__emulator__/{route}", json={} if method == "POST" else None, timeout=60
    )
    response.raise_for_status()
    return response.json()


def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Run every scenario of the spec; return ``{"results": {key: {...}}}``."""
    import zohocrmsdk.src.com.zoho.crm.api.attachments  # noqa: F401 - every client imported up front

    import airflow_provider_zoho_attach.operators.attachments  # noqa: F401

    results = {}
    for scenario in spec["scenarios"]:
        run_spec = {**spec, **scenario, "workdir": f"{spec['workdir']}/{scenario['key']}"}
        Path(run_spec["workdir"]).mkdir(parents=True, exist_ok=True)
        _admin(spec["url"], "POST", "reset-log")
        files, surfaced = MODES[scenario["mode"]](run_spec)
        log = _admin(spec["url"], "GET", "requests")["requests"]
        results[scenario["key"]] = {
            "seconds": run_spec["seconds"],
            "files": files,
            "errors": len(surfaced),
            "surfaced": surfaced[:5],
            "statuses": [r["status"] for r in log if r["path"].startswith("/crm/")],
            "stats": _admin(spec["url"], "GET", "stats"),
        }
    return {"results": results}


if __name__ == "__main__":
    print(json.dumps(run(json.loads(Path(sys.argv[1]).read_text()))))
