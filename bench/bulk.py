"""3. Bulk under Zoho's limits: many small files, 50 ms per call, at most 10 calls in flight."""

from __future__ import annotations

import shutil
from typing import Any

from bench._common import (
    Context,
    EmulatorProcess,
    Section,
    Table,
    Target,
    ratio,
    run_worker,
    seconds,
    size_label,
)

TITLE = "Bulk under Zoho's limits"
MODULE = "Deals"
LATENCY = 0.05
ORG_LIMIT = 10
FILE_SIZE = 64 * 1024
IDEAL_FACTOR = 1.25


def _scenarios(quick: bool) -> list[dict[str, Any]]:
    return [
        {
            "key": "threads",
            "mode": "provider-threads",
            "label": f"provider: one task, one hook, max_concurrency={ORG_LIMIT}",
            "max_concurrency": ORG_LIMIT,
        },
        {
            "key": "mapped-pool",
            "mode": "provider-mapped",
            "label": "provider: a task per record, 2 at a time (a pool), max_concurrency=5",
            "max_concurrency": 5,
            "slots": 2,
        },
        {
            "key": "mapped-16",
            "mode": "provider-mapped",
            "label": f"provider: a task per record, {4 if quick else 16} at a time, max_concurrency=5 "
            "(exceeds the org limit)",
            "max_concurrency": 5,
            "slots": 4 if quick else 16,
        },
        {"key": "serial", "mode": "sdk-serial", "label": "official SDK: a serial loop", "max_concurrency": 1},
    ]


def run(ctx: Context) -> Section:
    records, per_record = (8, 5) if ctx.quick else (50, 10)
    spec = {
        "config": {"latency": LATENCY, "max_concurrency": ORG_LIMIT, "token_creation_limit": 1000},
        "bulk": [{"record": f"r{i}", "count": per_record, "size": FILE_SIZE} for i in range(records)],
    }
    files = records * per_record
    calls = records + files  # one listing per record (up to 200 files), one call per file
    ideal = calls * LATENCY / ORG_LIMIT
    measured: dict[str, dict[str, Any]] = {}
    with EmulatorProcess(spec) as emulator:
        record_ids = [emulator.info["records"][f"r{i}"] for i in range(records)]
        worker_spec = {
            "scenarios": _scenarios(ctx.quick),
            "module": MODULE,
            "records": record_ids,
            "workdir": str(ctx.shm / "bulk"),
            "url": emulator.url,
            "client_id": emulator.info["client_id"],
            "client_secret": emulator.info["client_secret"],
            "refresh_token": emulator.info["refresh_token"],
        }
        report = run_worker("bench._bulk_worker", worker_spec, timeout=900, env=emulator.env)
    shutil.rmtree(ctx.shm / "bulk", ignore_errors=True)
    for scenario in _scenarios(ctx.quick):
        result = report["results"][scenario["key"]]
        statuses = result.pop("statuses")
        measured[scenario["key"]] = {
            **result,
            "label": scenario["label"],
            "api_calls": len(statuses),
            "answered_429": statuses.count(429),
            "peak_in_flight": result["stats"]["peak_in_flight"],
            "vs_ideal": result["seconds"] / ideal,
        }
    serial = measured["serial"]["seconds"]
    rows = [
        [
            m["label"],
            seconds(m["seconds"]),
            ratio(m["vs_ideal"]),
            ratio(serial / m["seconds"]),
            f"{m['files']} of {files}",
            str(m["api_calls"]),
            str(m["peak_in_flight"]),
            str(m["answered_429"]),
            str(m["errors"]),
        ]
        for m in measured.values()
    ]
    table = Table(
        f"{files} files of {size_label(FILE_SIZE)} on {records} records; {LATENCY * 1000:.0f} ms per call; "
        f"{ORG_LIMIT} calls in flight at most; ideal {seconds(ideal)} ({calls} calls x "
        f"{LATENCY * 1000:.0f} ms / {ORG_LIMIT})",
        [
            "client",
            "wall time",
            "vs ideal",
            "faster than serial",
            "files",
            "API calls",
            "peak in flight",
            "429s on the wire",
            "errors surfaced",
        ],
        rows,
    )
    best = measured["threads"]
    targets = [
        Target(
            "bulk: wall time against the ideal",
            f"<= {IDEAL_FACTOR}x",
            f"{ratio(best['vs_ideal'])} ({seconds(best['seconds'])} vs {seconds(ideal)})",
            best["vs_ideal"] <= IDEAL_FACTOR,
            best["vs_ideal"],
        ),
        Target(
            "bulk: errors surfaced to the user (every provider variant)",
            "0",
            ", ".join(f"{k}: {m['errors']}" for k, m in measured.items() if k != "serial")
            + f" ({sum(m['answered_429'] for k, m in measured.items() if k != 'serial')} 429s on the wire, "
            "all retried)",
            all(m["errors"] == 0 and m["files"] == files for k, m in measured.items() if k != "serial"),
            float(sum(m["errors"] for k, m in measured.items() if k != "serial")),
        ),
    ]
    section = Section(
        key="bulk",
        title=TITLE,
        intro=(
            f"The emulator (its own process) adds {LATENCY * 1000:.0f} ms to every API call and answers "
            f"429 ``TOO_MANY_REQUESTS`` to any call beyond {ORG_LIMIT} in flight, as Zoho does per org. "
            "Every record is listed (one call each) and every file downloaded (one call each); the "
            f"ideal is the calls times the latency divided by {ORG_LIMIT}. *One task* is one process "
            "with one hook whose ``max_concurrency`` is the org's limit, shared by that many threads. "
            "*A task per record* forks one process per mapped task instance running "
            "``ZohoCRMDownloadAttachmentsOperator``, a few at a time, as Airflow's pools or worker "
            "slots would; nothing coordinates their calls but Zoho's 429s and the hook's retries. The "
            "serial loop is the official SDK listing a record and downloading its files one by one. "
            "429s are counted at the emulator; errors surfaced are the exceptions (or failed tasks) the "
            "user sees."
        ),
        tables=[table],
        targets=targets,
        data={"measured": measured, "ideal_seconds": ideal, "calls": calls},
    )
    section.analysis = _analysis(section, measured, ideal)
    return section


def _analysis(section: Section, measured: dict[str, dict[str, Any]], ideal: float) -> str:
    threads, pool, crowded = measured["threads"], measured["mapped-pool"], measured["mapped-16"]
    parts = [
        f"One hook capped at the org's limit keeps {threads['peak_in_flight']} calls in flight and "
        f"finishes in {ratio(threads['vs_ideal'])} the ideal, "
        f"{ratio(measured['serial']['seconds'] / threads['seconds'])} faster than the serial loop.",
        f"Mapped tasks pay for their independence: with two tasks of five slots each the org's limit "
        f"is never exceeded ({pool['answered_429']} 429s), but each task lists its record before it "
        f"can fill its slots ({ratio(pool['vs_ideal'])} the ideal). With more tasks at once than the "
        f"limit allows, Zoho answers 429 ({crowded['answered_429']} times here) and the hook retries "
        f"with jittered backoff: {crowded['errors']} errors reach the user, at "
        f"{ratio(crowded['vs_ideal'])} the ideal. Size Airflow pools so that slots times "
        "``max_concurrency`` stays within the org's limit.",
    ]
    missed = [t for t in section.targets if t.met is False]
    if missed:
        parts.append("Missed: " + "; ".join(f"{t.name} ({t.measured})" for t in missed) + ".")
    return "\n\n".join(parts)
