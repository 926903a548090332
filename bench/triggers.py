"""4. Triggers: hundreds of deferred sensors in one event loop, polling the emulator."""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench._common import Context, Section, Table, Target, Worker, seconds

TITLE = "Triggers"
MODULE = "Deals"
LATENCY_SLACK = 1.0


def _wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _one(ctx: Context, count: int, interval: float) -> dict[str, Any]:
    from airflow_provider_zoho_attach.testing.emulator import ZohoCRMEmulator

    with ZohoCRMEmulator() as emulator:
        records = [emulator.add_record(MODULE) for _ in range(count)]
        since = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        deadline = 6 * interval + 60
        spec = {
            "module": MODULE,
            "records": records,
            "since": since,
            "poll_interval": interval,
            "deadline": deadline,
        }

        def lists() -> int:
            return emulator.count(method="GET", path_contains="/Attachments")

        with Worker("bench._trigger_worker", spec, env=emulator.airflow_env(), commands=True) as worker:
            launched = time.monotonic()
            _wait_for(lambda: lists() >= count, 120, "the first round of polls")
            first_round = time.monotonic() - launched
            at_start = lists()
            worker.send("window_start")
            _wait_for(lambda: lists() >= 3 * count, 10 * interval + 60, "two more rounds")
            at_end = lists()
            worker.send("window_end")
            appeared: dict[str, float] = {}
            for record_id in records:
                emulator.add_attachment(MODULE, record_id, "contract.pdf", b"%PDF-1.7 benchmark")
                appeared[record_id] = time.time()
            report = worker.result(deadline + 120)
        token_calls = emulator.token_calls
        served_429 = emulator.count(status=429)
    events = report["events"]
    latencies = sorted(events[r][0] - appeared[r] for r in records if r in events)
    statuses = [events[r][1] for r in records if r in events]
    window = report["samples"]
    start, end = window["window_start"], window["window_end"]
    polls = at_end - at_start
    cpu = end["cpu"] - start["cpu"]
    return {
        "triggers": count,
        "poll_interval": interval,
        "fired": sum(1 for s in statuses if s == "success"),
        "errors": sum(1 for s in statuses if s != "success"),
        "latency_median": statistics.median(latencies) if latencies else None,
        "latency_p95": latencies[int(0.95 * (len(latencies) - 1))] if latencies else None,
        "latency_max": latencies[-1] if latencies else None,
        "latencies": [round(x, 4) for x in latencies],
        "first_round_s": first_round,
        "memory_per_trigger_kib": (start["rss_kib"] - report["rss_before_kib"]) / count,
        "peak_rss_mib": report["peak_rss_kib"] / 1024,
        "cpu_per_poll_ms": 1000 * cpu / polls if polls else None,
        "cpu_share": cpu / (end["t"] - start["t"]) if end["t"] > start["t"] else None,
        "window_polls": polls,
        "token_calls": token_calls,
        "served_429": served_429,
    }


def run(ctx: Context) -> Section:
    plans = [(200, 1.0)] if ctx.quick else [(100, 5.0), (1000, 5.0)]
    results = [_one(ctx, count, interval) for count, interval in plans]
    rows = [
        [
            f"{r['triggers']:,}",
            seconds(r["poll_interval"]),
            f"{r['fired']} of {r['triggers']}",
            seconds(r["latency_median"]) if r["latency_median"] is not None else "\\-",
            seconds(r["latency_p95"]) if r["latency_p95"] is not None else "\\-",
            seconds(r["latency_max"]) if r["latency_max"] is not None else "\\-",
            f"{r['cpu_per_poll_ms']:.2f}",
            f"{100 * r['cpu_share']:.0f} %",
            f"{r['memory_per_trigger_kib']:.0f}",
            seconds(r["first_round_s"]),
            str(r["token_calls"]),
        ]
        for r in results
    ]
    table = Table(
        "Deferred sensors in one event loop: event latency after the attachment appears, cost per trigger",
        [
            "triggers",
            "poll interval",
            "fired",
            "latency median",
            "p95",
            "max",
            "CPU ms per poll",
            "CPU of one core",
            "KiB per trigger",
            "first round",
            "token calls",
        ],
        rows,
    )
    largest = results[-1]
    limit = largest["poll_interval"] + LATENCY_SLACK
    worst = largest["latency_max"]
    targets = [
        Target(
            f"{largest['triggers']:,} triggers: event latency",
            f"<= poll interval + {LATENCY_SLACK:.0f} s = {seconds(limit)}",
            f"max {seconds(worst)}, median {seconds(largest['latency_median'])}"
            if worst is not None
            else "no event",
            worst is not None and worst <= limit and largest["fired"] == largest["triggers"],
            worst,
        )
    ]
    section = Section(
        key="triggers",
        title=TITLE,
        intro=(
            "One process runs N ``ZohoCRMNewAttachmentTrigger`` (what the deferrable sensor hands to the "
            "triggerer) in one asyncio loop, each on its own record, as Airflow's triggerer does; the "
            "emulator runs in the benchmark's process. Once every trigger has polled three times, one "
            "attachment is added to every record, right after a round of polls (the worst moment); the "
            "latency of a trigger is the time from its attachment being stored to its event. CPU is the "
            "trigger process's CPU time over two rounds of polls, divided by the polls the emulator "
            "served meanwhile; memory is the process's RSS after the first round minus its RSS before the "
            "triggers were created."
        ),
        tables=[table],
        targets=targets,
        data={"results": results},
    )
    section.plots = [_plot(ctx, results)]
    section.analysis = _analysis(section, results)
    return section


def _plot(ctx: Context, results: list[dict[str, Any]]) -> tuple[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 3.6))
    for result in results:
        latencies = result["latencies"]
        if latencies:
            shares = [(i + 1) / len(latencies) for i in range(len(latencies))]
            axis.step(latencies, shares, where="post", label=f"{result['triggers']:,} triggers")
    interval = results[-1]["poll_interval"]
    axis.axvline(interval, color="grey", linestyle=":", linewidth=1, label="poll interval")
    axis.axvline(interval + LATENCY_SLACK, color="grey", linestyle="--", linewidth=1, label="target")
    axis.set_xlabel("event latency after the attachment appears (s)")
    axis.set_ylabel("share of triggers")
    axis.set_xlim(0, interval + LATENCY_SLACK + 1)
    axis.grid(True, alpha=0.3)
    axis.legend(loc="upper left", fontsize="small")
    figure.tight_layout()
    name = "bench-trigger-latency.png"
    figure.savefig(ctx.plot_path(name), dpi=100)
    plt.close(figure)
    return (
        name,
        "Cumulative distribution of the triggers' event latency, with the poll interval and the target",
    )


def _analysis(section: Section, results: list[dict[str, Any]]) -> str:
    largest = results[-1]
    calls_per_day = largest["triggers"] * 86400 / largest["poll_interval"]
    parts = [
        f"All triggers share one access token ({largest['token_calls']} token call for "
        f"{largest['triggers']:,}). A listing is the only work per poll, so the latency is the wait "
        "for the next poll plus one call.",
        f"Mind the bill rather than the triggerer: {largest['triggers']:,} triggers polling every "
        f"{largest['poll_interval']:.0f} s cost {calls_per_day:,.0f} API calls (credits) a day, more "
        "than the daily maximum of every Zoho CRM edition but Ultimate (Enterprise tops out at a few "
        "million, per Zoho's API limits page). Poll every few minutes: an event then arrives at most "
        "one poll interval and one call after its attachment.",
    ]
    missed = [t for t in section.targets if t.met is False]
    if missed:
        parts.append("Missed: " + "; ".join(f"{t.name} ({t.measured})" for t in missed) + ".")
    return "\n\n".join(parts)
