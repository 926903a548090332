"""The event-driven example tried locally (issue 13.4): the watcher fires, a run given its event downloads.

No scheduler or triggerer: the watcher's trigger runs in a plain asyncio loop (as ``make demo`` does),
and its payload reaches the consumer DAG as conf ``{"events": [...]}``, which the example accepts for
runs started by hand.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.e2e._examples import load_example
from tests.e2e.conftest import run_dag, task_states, xcom

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def first_event(emu, module, record_ids, file_name):
    from airflow_provider_zoho_attach.triggers.attachments import _LOCAL_STATE, ZohoCRMAttachmentEventTrigger

    trigger = ZohoCRMAttachmentEventTrigger(module=module, record_ids=record_ids, poll_interval=0.01)

    async def run():
        generator = trigger.run()
        step = asyncio.ensure_future(generator.__anext__())
        try:
            while trigger.state_key not in _LOCAL_STATE:  # the baseline is taken
                await asyncio.sleep(0.01)
            emu.add_attachment(module, record_ids[0], file_name, b"%PDF-1.4 invoice")
            return (await asyncio.wait_for(step, 30)).payload
        finally:
            step.cancel()
            await asyncio.gather(step, return_exceptions=True)
            await generator.aclose()

    return asyncio.run(run())


def test_the_watcher_fires_and_a_run_given_its_event_downloads(
    airflow_db, zoho_emulator_connection, tmp_path, monkeypatch
):
    emu = zoho_emulator_connection
    deal = emu.add_record("Deals")
    emu.add_attachment("Deals", deal, "already-there.pdf", b"old")
    payload = first_event(emu, "Deals", [deal], "invoice.pdf")
    assert payload["attachment"]["File_Name"] == "invoice.pdf"

    watch = {"module": "Deals", "record_ids": [deal], "destination": tmp_path.as_uri() + "/"}
    monkeypatch.setenv("AIRFLOW_VAR_ZOHO_WATCH_RECORDS", json.dumps(watch))
    module = load_example("example_zoho_attachment_events.py")

    # The payload went through JSON, as conf does.
    run = run_dag(module.dag, run_conf={"events": [json.loads(json.dumps(payload))]})

    assert set(task_states(run).values()) == {"success"}
    downloaded = xcom(run, "download_announced_attachments")
    assert [Path(r["path"].removeprefix("file://")).name for r in downloaded[0]] == ["invoice.pdf"]
    assert (tmp_path / deal / "invoice.pdf").read_bytes() == b"%PDF-1.4 invoice"
