"""The attachment watcher run by hand: a plain asyncio loop, no triggerer, no supervisor (issue 13.4).

Before, its state store asked for Airflow's supervisor and the first ``run()`` step raised
(``ImportError: cannot import name 'SUPERVISOR_COMMS'``, later ``STATE_UNAVAILABLE``), so users could
not try a watcher or test their own DAG's watcher without a running triggerer.
"""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_zoho_attach.triggers import attachments
from airflow_provider_zoho_attach.triggers.attachments import ZohoCRMAttachmentEventTrigger

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _no_local_state():
    attachments._LOCAL_STATE.clear()
    yield
    attachments._LOCAL_STATE.clear()


async def events_after(trigger, emu, *, count, add):
    """Start ``trigger.run()``; once it has taken its baseline, call ``add``; return ``count`` events."""
    generator = trigger.run()
    step = asyncio.ensure_future(generator.__anext__())
    try:
        while trigger.state_key not in attachments._LOCAL_STATE:  # the baseline is saved
            assert not step.done(), step
            await asyncio.sleep(0.01)
        add()
        events = [await asyncio.wait_for(step, 20)]
        while len(events) < count:
            events.append(await asyncio.wait_for(generator.__anext__(), 20))
        return events
    finally:
        step.cancel()
        await asyncio.gather(step, return_exceptions=True)
        await generator.aclose()


def test_the_watcher_runs_in_a_plain_asyncio_loop_and_fires(zoho_emulator_connection, capsys):
    from airflow.sdk.execution_time import task_runner

    assert getattr(task_runner, "SUPERVISOR_COMMS", None) is None  # no Airflow runtime here
    emu = zoho_emulator_connection
    deal = emu.add_record("Deals")
    emu.add_attachment("Deals", deal, "already-there.pdf", b"old")
    trigger = ZohoCRMAttachmentEventTrigger(module="Deals", record_ids=[deal], poll_interval=0.01)

    def attach_two():
        emu.add_attachment("Deals", deal, "one.pdf", b"1")
        emu.add_attachment("Deals", deal, "two.pdf", b"2")

    events = asyncio.run(events_after(trigger, emu, count=2, add=attach_two))

    assert [e.payload["attachment"]["File_Name"] for e in events] == ["one.pdf", "two.pdf"]
    assert {e.payload["record_id"] for e in events} == {deal}
    # Said once, where a user sees it (the trigger's logger, which Airflow renders to stdout).
    assert capsys.readouterr().out.count("kept in this process's memory only") == 1

    # Run again in the same process (a restarted loop): it resumes, nothing fires twice.
    again = ZohoCRMAttachmentEventTrigger(module="Deals", record_ids=[deal], poll_interval=0.01)
    later = asyncio.run(
        events_after(again, emu, count=1, add=lambda: emu.add_attachment("Deals", deal, "three.pdf", b"3"))
    )
    assert [e.payload["attachment"]["File_Name"] for e in later] == ["three.pdf"]


def test_in_a_triggerer_a_missing_state_is_still_an_error(zoho_emulator_connection, monkeypatch):
    """The memory store is for "no Airflow at all"; a triggerer that cannot reach Airflow still stops."""
    from airflow.sdk.execution_time import task_runner

    from airflow_provider_zoho_attach.exceptions import ZohoCRMError

    class Unreachable:
        def send(self, msg):
            raise ConnectionError("API server down")

    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", Unreachable(), raising=False)
    emu = zoho_emulator_connection
    deal = emu.add_record("Deals")
    trigger = ZohoCRMAttachmentEventTrigger(module="Deals", record_ids=[deal], poll_interval=0.01)

    async def no_wait(seconds):
        return None

    trigger._sleep = no_wait

    async def first():
        generator = trigger.run()
        try:
            return await asyncio.wait_for(generator.__anext__(), 20)
        finally:
            await generator.aclose()

    with pytest.raises(ZohoCRMError) as raised:
        asyncio.run(first())
    assert raised.value.code == "STATE_UNAVAILABLE"
