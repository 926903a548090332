"""
N deferred sensors' triggers in one event loop, as the triggerer runs them: :func:`run` returns
memory, CPU and event times.

Each ``ZohoCRMNewAttachmentTrigger`` watches its own record. The benchmark, which sees the polls at
the emulator, sends ``window_start`` once every trigger has polled once and ``window_end``
two rounds later, just before it adds the attachments; at each the worker notes its RSS and CPU time.
Memory per trigger is the RSS at ``window_start`` minus the RSS before the triggers were created
(imports done); CPU is what the window cost. Each event's wall-clock time is reported, for the
benchmark to compare with when its attachment appeared.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import threading
import time
from typing import Any

from bench._common import rss_kib


def _cpu() -> float:
    times = os.times()
    return times.user + times.system


async def _watch(spec: dict[str, Any], commands: Any) -> dict[str, Any]:
    from airflow_provider_zoho_attach.triggers.attachments import ZohoCRMNewAttachmentTrigger

    records: list[str] = spec["records"]
    interval = float(spec["poll_interval"])
    gc.collect()
    rss_before, cpu_before = rss_kib(), _cpu()
    triggers = [
        ZohoCRMNewAttachmentTrigger(
            module=spec["module"], record_id=record_id, since=spec["since"], poll_interval=interval
        )
        for record_id in records
    ]
    events: dict[str, tuple[float, str]] = {}
    all_fired = asyncio.Event()

    async def consume(record_id: str, trigger: ZohoCRMNewAttachmentTrigger) -> None:
        async for event in trigger.run():
            events[record_id] = (time.time(), str(event.payload.get("status")))
            if len(events) == len(records):
                all_fired.set()
            return

    started = time.monotonic()
    tasks = [asyncio.create_task(consume(r, t)) for r, t in zip(records, triggers, strict=True)]
    samples: dict[str, Any] = {}
    loop = asyncio.get_running_loop()

    def sample(name: str) -> None:
        samples[name] = {"rss_kib": rss_kib(), "cpu": _cpu(), "t": time.monotonic() - started}

    def read_commands() -> None:
        while True:
            try:
                command = commands.recv()
            except (EOFError, OSError):
                return
            loop.call_soon_threadsafe(sample, command)

    threading.Thread(target=read_commands, daemon=True).start()
    deadline = float(spec["deadline"])
    with contextlib.suppress(TimeoutError):  # what did not fire by then is reported as missing
        await asyncio.wait_for(all_fired.wait(), timeout=deadline)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "rss_before_kib": rss_before,
        "cpu_start": cpu_before,
        "samples": samples,
        "events": events,
        "peak_rss_kib": rss_kib("VmHWM"),
    }


def run(spec: dict[str, Any], commands: Any) -> dict[str, Any]:
    """Run the triggers until all fired (or the deadline); ``commands`` delivers the window marks."""
    import httpx  # noqa: F401 - the triggerer has these imported before any trigger runs

    import airflow_provider_zoho_attach.hooks.zoho_crm
    import airflow_provider_zoho_attach.triggers.attachments  # noqa: F401

    return asyncio.run(_watch(spec, commands))
