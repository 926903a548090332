"""
Watchers in Airflow 3.3's shared streams, driven by Airflow's own ``SharedStreamManager`` the way
its triggerer drives them, against the emulator: one listing per poll for all watchers of a record,
the cursor saved only after Airflow confirmed it stored the event, redelivery after a restart, and
a simulated day inside the credit budget (the emulator's credit counter and request log).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import pytest

from airflow_provider_zoho_attach.triggers import _pacing
from airflow_provider_zoho_attach.triggers._shared_stream import shared_streams_available
from airflow_provider_zoho_attach.triggers.attachments import ZohoCRMAttachmentEventTrigger
from tests.integration._simclock import SimulatedTime

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not shared_streams_available(), reason="shared streams need Airflow >= 3.3"),
]


class MemoryStateStore:
    """One asset's state store (async get/set), in memory; survives a "restart"."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    async def aget(self, key, default=None):
        return self.values.get(key, default)

    async def aset(self, key, value):
        self.values[key] = json.loads(json.dumps(value))

    def seen(self, trigger) -> dict[str, list[str]]:
        return (self.values.get(trigger.state_key) or {}).get("seen", {})


class Triggerer:
    """
    What Airflow's triggerer does with event triggers that share a stream: subscribe each one, run
    its filter, bind each event it yields, and confirm the events once "stored" (on request).
    """

    def __init__(self, *, confirm: bool = True) -> None:
        from airflow.triggers.shared_stream import SharedStreamManager

        self.manager = SharedStreamManager(ack_timeout=300)
        self.confirm = confirm
        self.events: list[tuple[int, dict[str, Any]]] = []
        self.unconfirmed: list[int] = []
        self.tasks: list[asyncio.Task] = []
        self._ids = itertools.count(1)

    def add(self, trigger) -> int:
        trigger_id = next(self._ids)
        self.tasks.append(asyncio.ensure_future(self._run(trigger_id, trigger)))
        return trigger_id

    async def _run(self, trigger_id, trigger) -> None:
        key = trigger.shared_stream_key()
        stream = self.manager.subscribe(trigger_id=trigger_id, trigger=trigger, key=key)
        try:
            async for event in trigger.filter_shared_stream(stream):
                seq = self.manager.bind_pending_event(trigger_id=trigger_id, key=key)
                self.events.append((trigger_id, event.payload))
                if seq is not None:
                    if self.confirm:
                        self.manager.confirm_persisted([seq])
                    else:
                        self.unconfirmed.append(seq)
        finally:
            await self.manager.unsubscribe(trigger_id, key)

    def confirm_all(self) -> None:
        self.manager.confirm_persisted(self.unconfirmed)
        self.unconfirmed.clear()

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.manager.stop_all()


def _watcher(records, store, **kwargs) -> ZohoCRMAttachmentEventTrigger:
    trigger = ZohoCRMAttachmentEventTrigger(module="Deals", record_ids=records, **kwargs)
    trigger.asset_state_store = store
    return trigger


def _listings(emu, record) -> int:
    return emu.count(method="GET", path_contains=f"/{record}/Attachments")


async def _until(condition, timeout=20.0) -> None:
    async def wait():
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(wait(), timeout)


def test_two_watchers_of_one_record_share_each_listing(zoho_emulator_connection):
    emu = zoho_emulator_connection
    shared, only_b = emu.add_record("Deals"), emu.add_record("Deals")
    store_a, store_b = MemoryStateStore(), MemoryStateStore()
    a = _watcher([shared], store_a, poll_interval=0.05)
    b = _watcher([shared, only_b], store_b, poll_interval=0.05, file_name_pattern="*.pdf")

    async def scenario():
        triggerer = Triggerer()
        triggerer.add(a)
        triggerer.add(b)
        try:
            await _until(lambda: store_a.seen(a) and len(store_b.seen(b)) == 2)  # baselines
            start = _listings(emu, shared)
            await _until(lambda: _listings(emu, shared) >= start + 10)
            pdf = emu.add_attachment("Deals", shared, "contract.pdf", b"%PDF")
            txt = emu.add_attachment("Deals", shared, "notes.txt", b"notes")
            await _until(lambda: len(triggerer.events) == 3)
            await _until(lambda: sorted(store_a.seen(a)[shared]) == sorted([pdf, txt]))
            polls = _listings(emu, shared) - start
            return triggerer.events, polls, pdf, txt
        finally:
            await triggerer.stop()

    events, polls, pdf, txt = asyncio.run(scenario())
    # a takes both, b only the PDF: one event each, with the attachment id as idempotency key.
    assert sorted((tid, e["attachment_id"]) for tid, e in events) == sorted([(1, pdf), (1, txt), (2, pdf)])
    assert all(e["idempotency_key"] == e["attachment_id"] for _, e in events)
    # One listing served both watchers: about one per poll interval, not two.
    assert _pacing._PACERS == {}
    assert polls < 200
    assert emu.count(method="GET", path_contains="/Attachments") == _listings(emu, shared) + _listings(
        emu, only_b
    )


def test_the_cursor_moves_only_after_airflow_stored_the_event_and_a_restart_hands_it_out_again(
    zoho_emulator_connection,
):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    store = MemoryStateStore()

    async def first_life():
        triggerer = Triggerer(confirm=False)
        trigger = _watcher([record], store, poll_interval=0.05)
        triggerer.add(trigger)
        try:
            await _until(lambda: record in store.seen(trigger))
            new = emu.add_attachment("Deals", record, "a.pdf", b"a")
            await _until(lambda: len(triggerer.events) == 1)
            # Several more listings: the event is neither saved nor handed out again meanwhile.
            start = _listings(emu, record)
            await _until(lambda: _listings(emu, record) >= start + 5)
            assert store.seen(trigger)[record] == []
            assert len(triggerer.events) == 1
            return new, trigger
        finally:
            # The triggerer stops before Airflow confirmed the event: it was never taken.
            await triggerer.stop()

    async def second_life(trigger):
        triggerer = Triggerer(confirm=False)
        triggerer.add(_watcher([record], store, poll_interval=0.05))
        try:
            await _until(lambda: len(triggerer.events) == 1)
            triggerer.confirm_all()
            await _until(lambda: store.seen(trigger)[record] != [])
            return triggerer.events
        finally:
            await triggerer.stop()

    async def third_life(trigger):
        triggerer = Triggerer()
        triggerer.add(_watcher([record], store, poll_interval=0.05))
        try:
            start = _listings(emu, record)
            await _until(lambda: _listings(emu, record) >= start + 5)
            return triggerer.events
        finally:
            await triggerer.stop()

    new, trigger = asyncio.run(first_life())
    again = asyncio.run(second_life(trigger))
    assert [e["attachment_id"] for _, e in again] == [new]  # redelivered: Airflow had not taken it
    assert store.seen(trigger)[record] == [new]
    assert asyncio.run(third_life(trigger)) == []  # taken: never again


SIMULATED = 86_400 + 1800


# Tokens outlive the simulated day: token refreshes are not what this test is about.
@pytest.mark.zoho_emulator(daily_credits=10_000_000, token_ttl=10 * 86_400)
def test_a_simulated_day_of_watching_stays_inside_the_connections_budget(
    zoho_emulator_connection, monkeypatch
):
    emu = zoho_emulator_connection
    budget = 1_200  # 50 credits an hour for 30 records: one listing each per 36 minutes at best
    for name, value in emu.airflow_env(daily_credit_budget=budget).items():
        monkeypatch.setenv(name, value)
    records = [emu.add_record("Deals") for _ in range(30)]
    hot = records[0]
    store = MemoryStateStore()
    clock = SimulatedTime(emu, workers=1)  # the shared poll is the only task that sleeps
    _pacing._PACERS["zoho_crm_default"] = _pacing.Pacer(
        "zoho_crm_default", clock=clock.now, sleep=clock.sleep
    )
    added: list[str] = []
    for minute in range(60, 24 * 60, 30):  # the hot record gets a file every 30 minutes from hour 1
        clock.at(
            minute * 60, lambda m=minute: added.append(emu.add_attachment("Deals", hot, f"{m}.pdf", b"x"))
        )
    quiet_file: list[str] = []
    clock.at(12 * 3600, lambda: quiet_file.append(emu.add_attachment("Deals", records[7], "q.pdf", b"q")))
    credits_before = emu.credits_used

    async def scenario():
        triggerer = Triggerer()
        triggerer.add(_watcher(records[:20], store, poll_interval=5))
        triggerer.add(_watcher(records[10:], store, poll_interval=5))
        try:
            await _until(lambda: clock.now() - clock.start >= SIMULATED, timeout=600)
        finally:
            await triggerer.stop()
        return triggerer.events

    events = asyncio.run(scenario())
    listings = [
        r
        for r in emu.requests
        if r.method == "GET" and r.path.endswith("/Attachments") and r.started < clock.start + 86_400
    ]
    spent = emu.credits_used - credits_before
    # The emulator's counter: what a rolling day of watching cost, inside the budget.
    assert spent <= budget
    assert len(listings) <= budget
    # Every sliding hour (every 5 minutes) holds at most budget / 24.
    times = sorted(r.started for r in listings)
    for start in range(0, 86_400 - 3600, 300):
        in_hour = sum(1 for t in times if clock.start + start <= t < clock.start + start + 3600)
        assert in_hour <= budget / 24, (start, in_hour)
    # The budget was used: not far below it either (the watchers did not just stop).
    assert len(listings) > budget * 0.8
    # Each file fired once for each watcher of its record: records[0] has one, records[7] one too.
    fired = sorted(e["attachment_id"] for _, e in events)
    assert fired == sorted([*added, *quiet_file][: len(fired)])
    assert len(fired) >= len(added) - 2  # the last ones may still be waiting for their poll
    assert fired.count(quiet_file[0]) == 1
    # The hot record is polled far more often than the quiet ones.
    hot_polls = sum(1 for r in listings if f"/{hot}/" in r.path)
    quiet_polls = sum(1 for r in listings if f"/{records[20]}/" in r.path)
    assert hot_polls > 10 * quiet_polls
