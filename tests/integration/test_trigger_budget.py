"""
The credit budget without shared streams (Airflow 3.1/3.2, or a watcher run by itself): a watcher's
own polls and a deferred sensor's share the connection's budget, on a simulated clock.
"""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_zoho_attach.exceptions import ZohoCRMInvalidRequestError
from airflow_provider_zoho_attach.triggers import _pacing, _shared_stream
from airflow_provider_zoho_attach.triggers import attachments as triggers
from airflow_provider_zoho_attach.triggers.attachments import (
    ZohoCRMAttachmentEventTrigger,
    ZohoCRMNewAttachmentTrigger,
)
from tests.integration._simclock import SimulatedTime

pytestmark = pytest.mark.integration


def test_without_shared_streams_a_watcher_polls_alone(monkeypatch):
    monkeypatch.setattr(_shared_stream, "shared_streams_available", lambda: False)
    assert ZohoCRMAttachmentEventTrigger(module="Deals", record_ids=["1"]).shared_stream_key() is None


def test_budget_argument_is_checked_and_serialised_only_when_set():
    plain = ZohoCRMAttachmentEventTrigger(module="Deals", record_ids=["1"])
    assert "daily_credit_budget" not in plain.serialize()[1]
    budgeted = ZohoCRMAttachmentEventTrigger(module="Deals", record_ids=["1"], daily_credit_budget="500")
    assert budgeted.serialize()[1]["daily_credit_budget"] == 500
    assert budgeted.state_key == plain.state_key  # the budget is not what is watched
    with pytest.raises(ZohoCRMInvalidRequestError, match="daily_credit_budget"):
        ZohoCRMAttachmentEventTrigger(module="Deals", record_ids=["1"], daily_credit_budget=0)


@pytest.mark.zoho_emulator(daily_credits=10_000_000, token_ttl=10 * 86_400)
def test_a_watcher_and_a_deferred_sensor_share_the_budget(zoho_emulator_connection, monkeypatch):
    emu = zoho_emulator_connection
    budget = 480  # 20 credits an hour
    records = [emu.add_record("Deals") for _ in range(10)]
    awaited = emu.add_record("Deals")
    monkeypatch.setattr(triggers, "_stagger", lambda poll_interval: 0.0)
    clock = SimulatedTime(emu, workers=2)  # the watcher's run() and the sensor's trigger sleep on it
    _pacing._PACERS["zoho_crm_default"] = _pacing.Pacer(
        "zoho_crm_default", clock=clock.now, sleep=clock.sleep
    )
    watcher = ZohoCRMAttachmentEventTrigger(
        module="Deals", record_ids=records, poll_interval=5, daily_credit_budget=budget
    )
    watcher._sleep = clock.sleep
    sensor = ZohoCRMNewAttachmentTrigger(module="Deals", record_id=awaited, poll_interval=5)
    new: list[str] = []
    clock.at(3 * 3600, lambda: new.append(emu.add_attachment("Deals", records[3], "a.pdf", b"a")))
    clock.at(4 * 3600, lambda: new.append(emu.add_attachment("Deals", awaited, "b.pdf", b"b")))

    async def scenario():
        events: list = []

        async def watch():
            async for event in watcher.run():
                events.append(("watcher", event.payload, clock.now() - clock.start))

        async def wait():
            async for event in sensor.run():
                events.append(("sensor", event.payload, clock.now() - clock.start))
            clock.retire()

        tasks = [asyncio.ensure_future(watch()), asyncio.ensure_future(wait())]
        try:
            while clock.now() - clock.start < 8 * 3600:
                await asyncio.sleep(0.01)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return events

    events = asyncio.run(scenario())
    assert [(who, e.get("attachment_id") or e["attachments"][0]["id"]) for who, e, _ in events] == [
        ("watcher", new[0]),
        ("sensor", new[1]),
    ]
    listings = sorted(
        r.started for r in emu.requests if r.method == "GET" and r.path.endswith("/Attachments")
    )
    for start in range(0, 7 * 3600, 300):
        window = [t for t in listings if clock.start + start <= t < clock.start + start + 3600]
        assert len(window) <= budget / 24, (start, len(window))
    # 11 records first listed at once (baselines, the sensor's first check), then spread out.
    assert len(listings) >= 0.8 * budget * 8 / 24
    # Latency within the quiet bound: 11 records inside 20 credits an hour (x 0.95, half for quiet).
    bound = 11 / (0.95 * budget / 86_400 / 2)
    assert events[0][2] - 3 * 3600 <= bound
    assert events[1][2] - 4 * 3600 <= bound
    assert _pacing._PACERS == {}


def test_the_smaller_of_the_argument_and_the_connections_budget_applies():
    class Hook:
        def __init__(self, budget):
            self.budget = budget

        async def get_settings(self):
            return type("Settings", (), {"daily_credit_budget": self.budget})()

    async def resolved():
        return [
            await _pacing.resolve_budget(Hook(100), 500),
            await _pacing.resolve_budget(Hook(100), None),
            await _pacing.resolve_budget(Hook(100), 50),
            await _pacing.resolve_budget(Hook(None), None),
        ]

    assert asyncio.run(resolved()) == [100, 100, 50, None]
