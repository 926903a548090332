"""
Each client's transfers, each measured in its own process: :func:`run` returns ``{"results":
{client: [...]}}`` (``python -m bench._transfer_worker SPEC.json`` prints it).

The worker imports every client's library (and Airflow, as in a task process) and gets each client's
token once, then forks one child per job (so imports are paid once, and every measurement has a
process of its own). The child does a small warm-up transfer
of the same kind, resets its peak RSS (``/proc/self/clear_refs``), notes its RSS, runs the timed
transfers and exits; the worker reads the child's peak RSS from outside with ``os.wait4``. Growth is
that peak minus the child's RSS just before the first timed transfer.

Clients: ``provider`` (``ZohoCRMHook``), ``requests`` (plain ``requests``: a streamed GET written in
1 MiB chunks; a hand-built multipart body streamed with a ``Content-Length``), ``requests-sha256``
(the same, hashing the bytes on the way as the hook does), ``requests-files``
(``requests``' own ``files=`` upload, what most code does) and ``sdk`` (Zoho's official SDK).
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import secrets
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench._common import MIB, reset_peak_rss, rss_kib

Transfer = Callable[[dict[str, Any]], None]
#: A job's repetitions are spread over at most this many child processes, interleaved with the
#: other clients' (its memory figure is the worst child's).
ROUNDS = 4


class Provider:
    """The provider's hook."""

    def __init__(self, spec: dict[str, Any]) -> None:
        from airflow_provider_zoho_attach.hooks.zoho_crm import ZohoCRMHook

        self.spec = spec
        self.hook_class = ZohoCRMHook
        hook = ZohoCRMHook()
        hook.get_access_token()  # kept in the process's token cache, inherited by the children
        hook.close()

    def start(self) -> None:
        self.hook = self.hook_class()

    def download(self, job: dict[str, Any], directory: Path) -> None:
        result = self.hook.download_attachment(
            self.spec["module"], self.spec["download_record"], job["attachment_id"], f"{directory}/"
        )
        os.unlink(result["path"])

    def upload(self, job: dict[str, Any]) -> str:
        return str(
            self.hook.upload_attachment(self.spec["module"], self.spec["upload_record"], job["path"])[
                "attachment_id"
            ]
        )

    def delete(self, attachment_id: str) -> None:
        self.hook.delete_attachment(self.spec["module"], self.spec["upload_record"], attachment_id)


class Requests:
    """Plain ``requests``, streaming both ways."""

    #: Whether to hash the bytes (SHA-256) on the way, as the hook does.
    hashing = False

    def __init__(self, spec: dict[str, Any]) -> None:
        import requests

        self.spec = spec
        answer = requests.post(
            f"{spec['url']}/oauth/v2/token",
            data={
                "grant_type": "refresh_token",
                "client_id": spec["client_id"],
                "client_secret": spec["client_secret"],
                "refresh_token": spec["refresh_token"],
            },
            timeout=60,
        )
        self.headers = {"Authorization": f"Zoho-oauthtoken {answer.json()['access_token']}"}

    def start(self) -> None:
        import requests

        self.session = requests.Session()

    def _url(self, record: str, attachment_id: str | None = None) -> str:
        base = f"{self.spec['url']}/crm/v8/{self.spec['module']}/{record}/Attachments"
        return f"{base}/{attachment_id}" if attachment_id else base

    def download(self, job: dict[str, Any], directory: Path) -> None:
        target = directory / "download.bin"
        url = self._url(self.spec["download_record"], job["attachment_id"])
        with self.session.get(url, headers=self.headers, stream=True, timeout=60) as response:
            response.raise_for_status()
            digest = hashlib.sha256() if self.hashing else None
            with open(target, "wb") as handle:
                for chunk in response.iter_content(MIB):
                    handle.write(chunk)
                    if digest is not None:
                        digest.update(chunk)
        os.unlink(target)

    def upload(self, job: dict[str, Any]) -> str:
        path = Path(job["path"])
        boundary = secrets.token_hex(16)
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        body = _StreamedBody(head, path, tail, hashlib.sha256() if self.hashing else None)
        response = self.session.post(
            self._url(self.spec["upload_record"]),
            data=body,
            headers={**self.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
            timeout=60,
        )
        response.raise_for_status()
        return str(response.json()["data"][0]["details"]["id"])

    def delete(self, attachment_id: str) -> None:
        self.session.delete(
            self._url(self.spec["upload_record"], attachment_id), headers=self.headers, timeout=60
        ).raise_for_status()


class _StreamedBody:
    """An iterable body with a length: requests then streams it with a ``Content-Length``."""

    def __init__(self, head: bytes, path: Path, tail: bytes, digest: Any = None) -> None:
        self.head, self.path, self.tail, self.digest = head, path, tail, digest

    def __len__(self) -> int:
        return len(self.head) + self.path.stat().st_size + len(self.tail)

    def __iter__(self) -> Iterator[bytes]:
        yield self.head
        with open(self.path, "rb") as handle:
            while chunk := handle.read(MIB):
                if self.digest is not None:
                    self.digest.update(chunk)
                yield chunk
        yield self.tail


class RequestsSha256(Requests):
    """Plain ``requests`` that also hashes what it moves: the hook's integrity check, nothing else."""

    hashing = True


class RequestsFiles(Requests):
    """``requests`` with ``files=``: the multipart upload most code writes."""

    def upload(self, job: dict[str, Any]) -> str:
        path = Path(job["path"])
        with open(path, "rb") as handle:
            response = self.session.post(
                self._url(self.spec["upload_record"]),
                files={"file": (path.name, handle)},
                headers=self.headers,
                timeout=60,
            )
        response.raise_for_status()
        return str(response.json()["data"][0]["details"]["id"])


class Sdk:
    """Zoho's official SDK."""

    def __init__(self, spec: dict[str, Any]) -> None:
        from bench import _sdk

        self.spec = spec
        self.sdk = _sdk
        self.operations = _sdk.init(
            spec["url"],
            spec["client_id"],
            spec["client_secret"],
            spec["refresh_token"],
            f"{spec['workdir']}/sdk-tokens.csv",
            spec["workdir"],
        )

    def start(self) -> None:
        pass

    def download(self, job: dict[str, Any], directory: Path) -> None:
        target = directory / "download.bin"
        self.sdk.download(
            self.operations,
            self.spec["module"],
            self.spec["download_record"],
            job["attachment_id"],
            str(target),
        )
        os.unlink(target)

    def upload(self, job: dict[str, Any]) -> str:
        return str(
            self.sdk.upload(self.operations, self.spec["module"], self.spec["upload_record"], job["path"])
        )

    def delete(self, attachment_id: str) -> None:
        self.operations.delete_attachment(
            int(attachment_id), int(self.spec["upload_record"]), self.spec["module"]
        )


CLIENTS = {
    "provider": Provider,
    "requests": Requests,
    "requests-sha256": RequestsSha256,
    "requests-files": RequestsFiles,
    "sdk": Sdk,
}


def _measure(client: Any, job: dict[str, Any], spec: dict[str, Any], directory: Path) -> dict[str, Any]:
    """In the child: warm up, reset the peak, time the transfers; return times and RSS figures."""
    client.start()
    warm = dict(job, attachment_id=spec["warm_attachment"], path=spec["warm_path"])
    if job["op"] == "download":
        client.download(warm, directory)
    else:
        client.delete(client.upload(warm))
    gc.collect()
    peak_reset = reset_peak_rss()
    baseline = rss_kib()
    times = []
    for _ in range(int(job["reps"])):
        started = time.perf_counter()
        if job["op"] == "download":
            client.download(job, directory)
            times.append(time.perf_counter() - started)
        else:
            attachment_id = client.upload(job)
            times.append(time.perf_counter() - started)
            client.delete(attachment_id)
    return {"times": times, "baseline_kib": baseline, "hwm_kib": rss_kib("VmHWM"), "peak_reset": peak_reset}


def _run_child(client: Any, job: dict[str, Any], spec: dict[str, Any], index: int) -> dict[str, Any]:
    directory = Path(spec["workdir"], f"job-{index}")
    directory.mkdir(parents=True, exist_ok=True)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: measure, report through the pipe, leave without cleanup handlers
        os.close(read_end)
        try:
            payload = json.dumps(_measure(client, job, spec, directory))
        except BaseException as error:
            payload = json.dumps({"error": f"{type(error).__name__}: {error}"[:500]})
        with os.fdopen(write_end, "w") as out:
            out.write(payload)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        payload = pipe.read()
    _, status, usage = os.wait4(pid, 0)
    shutil.rmtree(directory, ignore_errors=True)
    result = json.loads(payload) if payload else {"error": f"the child died (status {status})"}
    result.update(job)
    result["maxrss_kib"] = usage.ru_maxrss  # KiB on Linux: the child's peak, seen from outside
    return result


def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Run every client's jobs; return ``{"results": {client: [job results]}}``."""
    # Every client's library is imported up front, Airflow included: a task process has it loaded.
    import requests  # noqa: F401
    import zohocrmsdk.src.com.zoho.crm.api.attachments  # noqa: F401

    import airflow_provider_zoho_attach.hooks.zoho_crm  # noqa: F401

    clients = {kind: CLIENTS[kind](spec) for kind in spec["clients"]}
    # Clients take turns, a round at a time, so that a burst of load from elsewhere on the machine
    # hits all of them rather than one: each (client, job) runs in up to ROUNDS children.
    plan = [(kind, job) for kind in clients for job in spec["jobs"][kind]]
    parts: dict[int, list[dict[str, Any]]] = {i: [] for i in range(len(plan))}
    index = 0
    max_rounds = int(spec.get("rounds", ROUNDS))
    for round_number in range(max_rounds):
        for number, (kind, job) in enumerate(plan):
            reps = int(job["reps"])
            rounds = min(max_rounds, reps)
            if round_number >= rounds:
                continue
            share = reps // rounds + (1 if round_number < reps % rounds else 0)
            parts[number].append(_run_child(clients[kind], {**job, "reps": share}, spec, index))
            index += 1
    results: dict[str, list[dict[str, Any]]] = {kind: [] for kind in clients}
    for number, (kind, job) in enumerate(plan):
        done = parts[number]
        failed = [p for p in done if "error" in p]
        if failed:
            results[kind].append({**job, "error": failed[0]["error"]})
            continue
        worst = max(done, key=lambda p: max(p["maxrss_kib"], p["hwm_kib"]) - p["baseline_kib"])
        results[kind].append(
            {
                **job,
                "times": [t for p in done for t in p["times"]],
                "baseline_kib": worst["baseline_kib"],
                "hwm_kib": worst["hwm_kib"],
                "maxrss_kib": worst["maxrss_kib"],
                "peak_reset": all(p["peak_reset"] for p in done),
                "processes": len(done),
            }
        )
    return {"results": results}


if __name__ == "__main__":
    print(json.dumps(run(json.loads(Path(sys.argv[1]).read_text()))))
