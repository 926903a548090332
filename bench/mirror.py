"""6. The incremental mirror: credits, time, re-runs, a kill, memory, the SDK loop and a realistic link."""

from __future__ import annotations

import math
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._common import Context, Section, Worker, run_worker

TITLE = "Incremental mirror"
MODULE = "Deals"
WHERE = "Stage = 'Closed Won'"
LATENCY = 0.05
ORG_LIMIT = 10
FILE_SIZE = 16 * 1024
FILES_PER_RECORD = 3
#: One record in this many has attachments.
EVERY = 4
NEW_FILES = 10
#: Rows per COQL call, and the credits of a call with that LIMIT (Zoho: 1-200, 201-1,000, 1,001-2,000).
COQL_ROWS, COQL_CREDITS = 2000, 3
IDEAL_FACTOR = 1.25
_DOWNLOAD = re.compile(r"^/crm/v\d+/[^/]+/(\d+)/Attachments/(\d+)$")
_LISTING = re.compile(r"^/crm/v\d+/[^/]+/\d+/Attachments$")
#: ``GET /{module}`` and ``/{module}/search`` (not ``/users``, ``/org``, ``/settings/...``).
_SELECTION = re.compile(r"^/crm/v\d+/(?!users$|org$|settings/)[A-Za-z_]\w*(/search)?$")


@dataclass(frozen=True)
class Sizes:
    """How big each part of the benchmark is (quick mode: smaller)."""

    records: int
    sdk_records: int
    memory_records: tuple[int, int]
    #: One record in this many has attachments, at each memory size (the same files in both).
    memory_every: tuple[int, int]
    link_size: int
    link_reps: int


def sizes(quick: bool) -> Sizes:
    """The sizes of a quick or a full run."""
    if quick:
        return Sizes(200, 40, (500, 5000), (4, 40), 16 * 1024 * 1024, 2)
    return Sizes(2000, 200, (2000, 20000), (4, 40), 128 * 1024 * 1024, 7)


# ---------------------------------------------------------------------------------------------- the log


def calls(log: list[Any]) -> dict[str, Any]:
    """
    What a run cost, from the emulator's request log: calls by kind, Zoho's credits, downloads.

    :param log: the emulator's :class:`RequestRecord` objects (or their dicts).
    :return: ``{"selection", "listing", "download", "other", "token", "api", "credits", "429",
        "downloads": [attachment ids answered 200], "bytes"}``.
    """
    counts = dict.fromkeys(("selection", "listing", "download", "other", "token", "429"), 0)
    credits = 0
    downloads: list[str] = []
    received = 0
    for entry in log:
        method, path, status = _field(entry, "method"), _field(entry, "path"), _field(entry, "status")
        if path == "/oauth/v2/token":
            counts["token"] += 1
            continue
        if not path.startswith("/crm/"):
            continue
        if status == 429:
            counts["429"] += 1
        download = _DOWNLOAD.match(path)
        if method == "POST" and path.endswith("/coql"):
            kind, cost = "selection", COQL_CREDITS
        elif method == "GET" and _SELECTION.match(path):
            kind, cost = "selection", 1
        elif method == "GET" and _LISTING.match(path):
            kind, cost = "listing", 1
        elif method == "GET" and download:
            kind, cost = "download", 1
            if status == 200:
                downloads.append(download.group(2))
                received += int(_field(entry, "bytes_out"))
        else:
            kind, cost = "other", 1
        counts[kind] += 1
        credits += cost
    api = counts["selection"] + counts["listing"] + counts["download"] + counts["other"]
    return {**counts, "api": api, "credits": credits, "downloads": downloads, "bytes": received}


def _field(entry: Any, name: str) -> Any:
    return entry[name] if isinstance(entry, dict) else getattr(entry, name)


def least(records: int, listed: int, files: int) -> dict[str, int]:
    """The fewest calls and credits a mirror can spend: select, list each record, fetch each file."""
    pages = max(1, math.ceil(records / COQL_ROWS))
    return {
        "selection": pages,
        "calls": pages + listed + files,
        "credits": pages * COQL_CREDITS + listed + files,
    }


# ---------------------------------------------------------------------------------------------- setup


def populate(emulator: Any, module: str, records: int, every: int) -> dict[str, Any]:
    """
    ``records`` records, the first of every ``every`` (by id) with :data:`FILES_PER_RECORD` files.

    :return: ``{"records": [ids sorted], "with_files": [ids], "files": [attachment ids]}``.
    """
    rows = [{"Stage": "Closed Won", "Deal_Name": f"deal {i}"} for i in range(records)]
    ids = sorted(emulator.add_records(module, rows), key=int)
    with_files = ids[::every]
    files: list[str] = []
    for record_id in with_files:
        files += emulator.add_attachments_bulk(
            module, record_id, FILES_PER_RECORD, size=FILE_SIZE, name_pattern="document-{i}.pdf"
        )
    return {"records": ids, "with_files": with_files, "files": files}


def worker_spec(emulator: Any, ctx: Context, **extra: Any) -> dict[str, Any]:
    """What every mirror worker is given: the emulator's URL and credentials, the module, a workdir."""
    return {
        "url": emulator.url,
        "client_id": emulator.client_id,
        "client_secret": emulator.client_secret,
        "refresh_token": emulator.refresh_token,
        "module": MODULE,
        "max_concurrency": ORG_LIMIT,
        "workdir": str(ctx.shm / "mirror-work"),
        **extra,
    }


def mirror_once(emulator: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """Run the mirror in a worker process; return its result with the calls the emulator saw."""
    emulator.reset_log()
    result = run_worker(
        "bench._mirror_worker", {**spec, "action": "mirror"}, timeout=900, env=emulator.airflow_env()
    )
    result["log"] = calls(emulator.requests)
    result["peak_in_flight"] = emulator.peak_in_flight
    return dict(result)


# ---------------------------------------------------------------------------------------------- the kill


def killed_and_resumed(emulator: Any, spec: dict[str, Any], files: list[str]) -> dict[str, Any]:
    """
    Kill a mirror halfway through its downloads (SIGKILL), then resume it into the same destination.

    At the kill the emulator holds every API call (``pause``) and waits until the client has
    :data:`ORG_LIMIT` calls waiting: each of its threads then handled all it was answered before.
    The log at that moment holds the downloads the killed run got; the held calls are never answered
    to it. A file downloaded twice is one in both that log and the resumed run's.
    """
    emulator.reset_log()
    env = emulator.airflow_env()
    half = len(files) // 2
    with Worker("bench._mirror_worker", {**spec, "action": "mirror"}, env=env) as worker:
        deadline = time.monotonic() + 600
        while len(calls(emulator.requests)["downloads"]) < half:
            if not worker.process.is_alive():
                raise RuntimeError("the mirror ended before it could be killed halfway")
            if time.monotonic() > deadline:
                raise TimeoutError("the mirror did not get halfway within 600 s")
            time.sleep(0.02)
        emulator.pause()
        settled = emulator.wait_in_flight(ORG_LIMIT, timeout=10)
        held = emulator.in_flight
        before = calls(emulator.requests)
        worker.kill()
    emulator.resume()
    deadline = time.monotonic() + 60
    while emulator.in_flight and time.monotonic() < deadline:
        time.sleep(0.02)
    resumed = mirror_once(emulator, spec)
    first, second = set(before["downloads"]), set(resumed["log"]["downloads"])
    return {
        "killed_after": len(before["downloads"]),
        "held_at_kill": held,
        "settled": settled,
        "resumed_downloads": len(resumed["log"]["downloads"]),
        "downloaded_twice": sorted(first & second),
        "repeated_in_one_run": len(before["downloads"])
        - len(first)
        + len(resumed["log"]["downloads"])
        - len(second),
        "never_downloaded": len(set(files) - first - second),
        "summary": resumed["summary"],
        "resume_seconds": resumed["seconds"],
    }


# ---------------------------------------------------------------------------------------------- the run


def run(ctx: Context) -> Section:
    from bench import _mirror_report

    plan = sizes(ctx.quick)
    data: dict[str, Any] = {"sizes": plan.__dict__}
    data.update(_module_runs(ctx, plan))
    data["memory"] = _memory(ctx, plan)
    data["link"] = _link(ctx, plan)
    data["load"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    shutil.rmtree(ctx.shm / "mirror-work", ignore_errors=True)
    return _mirror_report.section(data, quick=ctx.quick)


def _emulator(ctx: Context, **config: Any) -> Any:
    from airflow_provider_zoho_attach.testing.emulator import EmulatorConfig, ZohoCRMEmulator

    settings = EmulatorConfig()
    # Every worker is a new task process with its own token; 10 a window would throttle them.
    settings.update(token_creation_limit=10_000, request_log_limit=None, **config)
    return ZohoCRMEmulator(config=settings, storage_dir=ctx.shm)


def _module_runs(ctx: Context, plan: Sizes) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with _emulator(ctx, latency=LATENCY, max_concurrency=ORG_LIMIT) as emulator:
        module = populate(emulator, MODULE, plan.records, EVERY)
        out["module"] = {k: len(v) for k, v in module.items()}
        destination = ctx.shm / "mirror-work" / "first"
        spec = worker_spec(emulator, ctx, where=WHERE, destination=str(destination))
        out["first"] = mirror_once(emulator, spec)
        out["unchanged"] = mirror_once(emulator, spec)
        # New files on records that had none: nothing about their records changes (spec §4).
        fresh = [r for r in module["records"] if r not in set(module["with_files"])][:NEW_FILES]
        out["new_ids"] = [
            emulator.add_attachment(MODULE, record_id, "new.pdf", b"%PDF-1.4 new\n" * 1000)
            for record_id in fresh
        ]
        out["after_new"] = mirror_once(emulator, spec)
        out["after_new"]["new_downloaded"] = sorted(
            set(out["after_new"]["log"]["downloads"]) & set(out["new_ids"])
        )
        kill_spec = {**spec, "destination": str(ctx.shm / "mirror-work" / "killed")}
        out["killed"] = killed_and_resumed(emulator, kill_spec, module["files"] + out["new_ids"])
        out["sdk"] = _sdk_loop(emulator, ctx, plan)
    for item in ("first", "unchanged", "after_new"):
        out[item]["log"].pop("downloads")
    return out


def _sdk_loop(emulator: Any, ctx: Context, plan: Sizes) -> dict[str, Any]:
    emulator.reset_log()
    spec = worker_spec(
        emulator, ctx, action="sdk_loop", limit=plan.sdk_records, workdir=str(ctx.shm / "mirror-work" / "sdk")
    )
    result = run_worker("bench._mirror_worker", spec, timeout=900)
    result["log"] = calls(emulator.requests)
    result["log"].pop("downloads")
    return dict(result)


def _memory(ctx: Context, plan: Sizes) -> list[dict[str, Any]]:
    """The mirror's peak RSS at two module sizes with the same files, without latency (no timing)."""
    results = []
    for records, every in zip(plan.memory_records, plan.memory_every, strict=True):
        with _emulator(ctx, max_concurrency=ORG_LIMIT) as emulator:
            module = populate(emulator, MODULE, records, every)
            destination = ctx.shm / "mirror-work" / f"memory-{records}"
            result = mirror_once(
                emulator, worker_spec(emulator, ctx, where=WHERE, destination=str(destination))
            )
            shutil.rmtree(destination, ignore_errors=True)
        result["log"].pop("downloads")
        result["records"], result["files"] = records, len(module["files"])
        results.append(result)
    return results


def _link(ctx: Context, plan: Sizes) -> dict[str, Any]:
    """The same file fetched by every client, on loopback and through a 100 MiB/s link."""
    source = ctx.shm / "mirror-work" / "link.bin"
    source.parent.mkdir(parents=True, exist_ok=True)
    _random_file(source, plan.link_size)
    with _emulator(ctx) as emulator:
        record_id = emulator.add_record(MODULE)
        attachment_id = emulator.add_attachment(MODULE, record_id, "big.bin", source)
        source.unlink()
        spec = worker_spec(
            emulator,
            ctx,
            action="link",
            admin=f"{emulator.url}/__emulator__",
            download_record=record_id,
            attachment_id=attachment_id,
            clients=["requests", "requests-sha256", "hook", "mirror"],
            # Loopback transfers are short and noisier on a busy machine: more of them.
            phases=[
                {"name": "loopback", "bandwidth": None, "reps": 2 * plan.link_reps if ctx.quick else 10},
                {"name": "link", "bandwidth": LINK_RATE, "reps": plan.link_reps},
            ],
            workdir=str(ctx.shm / "mirror-work" / "link"),
        )
        result = run_worker("bench._mirror_worker", spec, timeout=900, env=emulator.airflow_env())
    result["size"] = plan.link_size
    return dict(result)


LINK_RATE = 100 * 1024 * 1024


def _random_file(path: Path, size: int) -> None:
    block = os.urandom(1024 * 1024)
    with open(path, "wb") as handle:
        for offset in range(0, size, len(block)):
            handle.write(block[: min(len(block), size - offset)])
