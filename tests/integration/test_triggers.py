"""The triggers driven directly: serialisation, restart safety, errors, and no double firing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from airflow_provider_zoho_attach.triggers.attachments import (
    ZohoCRMAttachmentEventTrigger,
    ZohoCRMNewAttachmentTrigger,
)

pytestmark = pytest.mark.integration


def _iso(delta_seconds: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=delta_seconds)).replace(microsecond=0).isoformat()


def _rebuild(trigger):
    classpath, kwargs = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    import importlib

    return getattr(importlib.import_module(module), name)(**kwargs)


async def _first_event(trigger, timeout=20.0):
    generator = trigger.run()
    try:
        return await asyncio.wait_for(generator.__anext__(), timeout)
    finally:
        await generator.aclose()


def test_new_attachment_trigger_serialises_to_plain_kwargs():
    trigger = ZohoCRMNewAttachmentTrigger(
        module="Deals",
        record_id="42",
        since=_iso(),
        until=_iso(3600),
        known_ids=["1", "2"],
        file_name_pattern=["*.pdf"],
        min_count=2,
    )
    classpath, kwargs = trigger.serialize()
    assert kwargs["until"] == trigger.until
    assert classpath == "airflow_provider_zoho_attach.triggers.attachments.ZohoCRMNewAttachmentTrigger"
    import json

    assert json.loads(json.dumps(kwargs)) == kwargs
    assert _rebuild(trigger).serialize() == trigger.serialize()


def test_event_trigger_serialises_deterministically():
    one = ZohoCRMAttachmentEventTrigger(module="Deals", record_ids=["2", "1"], poll_interval=5)
    two = ZohoCRMAttachmentEventTrigger(module="Deals", record_ids=["2", "1"], poll_interval=5)
    assert one.serialize() == two.serialize()
    assert _rebuild(one).serialize() == one.serialize()
    assert one.state_key == two.state_key
    assert ZohoCRMAttachmentEventTrigger(module="Deals", record_ids=["3"]).state_key != one.state_key


def test_trigger_waits_then_fires_with_exactly_the_new_ones(zoho_emulator_connection):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    old = emu.add_attachment("Deals", record, "old.pdf", b"old", created_time=_iso(-3600))
    known = emu.add_attachment("Deals", record, "known.pdf", b"known")
    since = _iso(-60)
    trigger = ZohoCRMNewAttachmentTrigger(
        module="Deals", record_id=record, since=since, known_ids=[known], poll_interval=0.05
    )

    async def scenario():
        waiting = asyncio.ensure_future(_first_event(trigger))
        while emu.count(path_contains="/Attachments") < 3:
            await asyncio.sleep(0.01)
        assert not waiting.done()  # nothing new yet: still waiting
        new = emu.add_attachment("Deals", record, "new.pdf", b"new")
        event = await waiting
        return new, event

    new, event = asyncio.run(scenario())
    assert event.payload["status"] == "success"
    assert [a["id"] for a in event.payload["attachments"]] == [new]
    assert old not in str(event.payload)

    # Restart safety: the same kwargs, run again, give the same answer.
    again = asyncio.run(_first_event(_rebuild(trigger)))
    assert [a["id"] for a in again.payload["attachments"]] == [new]


def test_a_permanent_error_is_one_error_event(zoho_emulator_connection):
    trigger = ZohoCRMNewAttachmentTrigger(
        module="No_Such_Module", record_id="1", since=_iso(), poll_interval=0.01
    )
    event = asyncio.run(_first_event(trigger))
    assert event.payload["status"] == "error"
    assert event.payload["error"]["code"] == "INVALID_MODULE"
    assert "INVALID_MODULE" in event.payload["message"]


def test_transient_errors_are_tolerated_then_reported(zoho_emulator_connection):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    emu.add_attachment("Deals", record, "a.pdf", b"a")

    async def fast(trigger):
        # The hook's backoff (1 s, then 2 s ... by default) is not what is tested here.
        hook = trigger._hook()
        hook._retry_base_delay = 0.001
        hook._retry_max_delay = 0.001
        trigger._hook = lambda: hook
        return await _first_event(trigger)

    emu.inject_fault("status", status=503, count=2, method="GET")
    trigger = ZohoCRMNewAttachmentTrigger(
        module="Deals", record_id=record, since=_iso(-60), poll_interval=0.01
    )
    event = asyncio.run(fast(trigger))
    assert event.payload["status"] == "success"
    assert emu.count(method="GET", path_contains="/Attachments") == 3  # two 503s, then the answer

    emu.inject_fault("status", status=503, count=1000, method="GET")
    failing = ZohoCRMNewAttachmentTrigger(
        module="Deals", record_id=record, since=_iso(-60), poll_interval=0.01, max_consecutive_failures=2
    )
    event = asyncio.run(fast(failing))
    assert event.payload["status"] == "error"
    assert event.payload["error"]["status_code"] == 503


def test_a_token_throttle_is_polled_through_within_the_failure_bound(zoho_emulator_connection):
    """Zoho's token throttle passes: a deferred sensor's trigger polls again instead of failing the task."""
    from airflow_provider_zoho_attach.hooks.zoho_crm import ZohoCRMAsyncHook
    from airflow_provider_zoho_attach.utils import tokens

    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    emu.add_attachment("Deals", record, "a.pdf", b"a")

    async def advance(seconds):
        emu.clock.advance(seconds)

    def trigger(**kwargs):
        trigger = ZohoCRMNewAttachmentTrigger(
            module="Deals", record_id=record, since=_iso(-60), poll_interval=0.01, **kwargs
        )
        # The hook waits out the throttle for 5 s (one wait, on the emulator's clock), then reports it.
        hook = ZohoCRMAsyncHook(token_throttle_timeout=5, retry_base_delay=0.01)
        hook._sleep = advance
        trigger._hook = lambda: hook
        return trigger

    emu.inject_fault("token_throttle", count=2)  # the first poll's token request and its one retry
    event = asyncio.run(_first_event(trigger()))
    assert event.payload["status"] == "success", event.payload
    assert emu.token_calls == 3

    tokens.clear_memory_cache()  # the next trigger needs a token of its own
    emu.inject_fault("token_throttle", count=1000)
    event = asyncio.run(_first_event(trigger(max_consecutive_failures=2)))
    assert event.payload["status"] == "error"
    assert event.payload["error"]["code"] == "TOKEN_THROTTLED"
    assert emu.token_calls == 3 + 2 * 2  # two polls of two token requests each


class MemoryStateStore:
    """The asset state store of Airflow 3.3 (async get/set), kept in memory across trigger runs."""

    def __init__(self):
        self.values = {}
        self.writes = 0

    async def aget(self, key, default=None):
        return self.values.get(key, default)

    async def aset(self, key, value):
        self.writes += 1
        self.values[key] = value


def test_event_trigger_fires_once_per_new_attachment_across_restarts(zoho_emulator_connection):
    emu = zoho_emulator_connection
    deal_a, deal_b = emu.add_record("Deals"), emu.add_record("Deals")
    emu.add_attachment("Deals", deal_a, "existing.pdf", b"old")
    store = MemoryStateStore()

    def make():
        trigger = ZohoCRMAttachmentEventTrigger(
            module="Deals", record_ids=[deal_a, deal_b], poll_interval=0.02
        )
        trigger.asset_state_store = store
        return trigger

    async def collect(trigger, until_events, add=()):
        events = []
        generator = trigger.run()
        try:
            step = asyncio.ensure_future(generator.__anext__())
            baseline = emu.count(path_contains="/Attachments") + 2
            while emu.count(path_contains="/Attachments") < baseline:  # both records listed once
                await asyncio.sleep(0.01)
            for action in add:
                action()
            while len(events) < until_events:
                events.append(await asyncio.wait_for(step, 20))
                if len(events) < until_events:
                    step = asyncio.ensure_future(generator.__anext__())
        finally:
            await generator.aclose()
        return events

    first = asyncio.run(
        collect(
            make(),
            2,
            add=[
                lambda: emu.add_attachment("Deals", deal_a, "n1.pdf", b"1"),
                lambda: emu.add_attachment("Deals", deal_b, "n2.pdf", b"2"),
            ],
        )
    )
    assert sorted(e.payload["attachment"]["File_Name"] for e in first) == ["n1.pdf", "n2.pdf"]
    assert {e.payload["record_id"] for e in first} == {deal_a, deal_b}

    # A restarted triggerer with the same state store: the two are not fired again, only the third.
    emu.add_attachment("Deals", deal_b, "n3.pdf", b"3")
    second = asyncio.run(collect(make(), 1))
    assert [e.payload["attachment"]["File_Name"] for e in second] == ["n3.pdf"]


def test_event_trigger_does_not_fire_while_nothing_changes(zoho_emulator_connection):
    emu = zoho_emulator_connection
    deal = emu.add_record("Deals")
    emu.add_attachment("Deals", deal, "existing.pdf", b"old")
    trigger = ZohoCRMAttachmentEventTrigger(module="Deals", record_ids=[deal], poll_interval=0.01)
    trigger.asset_state_store = MemoryStateStore()

    async def watch():
        generator = trigger.run()
        step = asyncio.ensure_future(generator.__anext__())
        try:
            while emu.count(path_contains="/Attachments") < 20 and not step.done():
                await asyncio.sleep(0.01)
            return step.result() if step.done() else None
        finally:
            step.cancel()
            await asyncio.gather(step, return_exceptions=True)
            await generator.aclose()

    assert asyncio.run(watch()) is None


def test_event_trigger_falls_back_to_a_variable_before_airflow_3_3(
    zoho_emulator_connection, monkeypatch, supervisor
):
    from airflow_provider_zoho_attach.triggers import attachments

    variables = {}

    async def get(key):
        return variables.get(key)

    async def put(key, value):
        variables[key] = value

    monkeypatch.setattr(attachments, "_variable_get", get)
    monkeypatch.setattr(attachments, "_variable_set", put)
    emu = zoho_emulator_connection
    deal = emu.add_record("Deals")
    trigger = ZohoCRMAttachmentEventTrigger(module="Deals", record_ids=[deal], poll_interval=0.01)

    async def one_event():
        generator = trigger.run()
        try:
            step = asyncio.ensure_future(generator.__anext__())
            while not variables:
                await asyncio.sleep(0.01)
            emu.add_attachment("Deals", deal, "x.pdf", b"x")
            return await asyncio.wait_for(step, 20)
        finally:
            await generator.aclose()

    event = asyncio.run(one_event())
    assert event.payload["attachment"]["File_Name"] == "x.pdf"
    assert trigger.state_key in variables


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"module": "Sales Orders", "record_ids": ["1"]}, "module"),
        ({"module": "Deals", "record_ids": ["1a"]}, "record_ids"),
    ],
)
def test_event_trigger_refuses_bad_targets_when_the_dag_is_parsed(kwargs, argument):
    from airflow_provider_zoho_attach.exceptions import ZohoCRMInvalidRequestError

    with pytest.raises(ZohoCRMInvalidRequestError, match=argument):
        ZohoCRMAttachmentEventTrigger(**kwargs)


class FakeSupervisor:
    """
    Airflow's supervisor as a trigger's comms see it: Variables and asset state stores.

    ``failures[message type]`` makes that many requests about the watcher's state fail as an
    unreachable API server does (an error frame, raised by the comms as ``AirflowRuntimeError``).
    """

    def __init__(self):
        self.variables = {}
        self.asset_state = {}
        self.failures = {}

    def send(self, msg):
        from airflow.sdk.exceptions import AirflowRuntimeError, ErrorType
        from airflow.sdk.execution_time.comms import AssetStateStoreResult, ErrorResponse, VariableResult

        kind = type(msg).__name__
        if str(getattr(msg, "key", "")).startswith("zoho_crm_attachment_watch_") and self.failures.get(kind):
            self.failures[kind] -= 1
            raise AirflowRuntimeError(ErrorResponse(error=ErrorType.API_SERVER_ERROR, detail={"status": 503}))
        if kind == "GetVariable":
            if msg.key not in self.variables:
                return ErrorResponse(error=ErrorType.VARIABLE_NOT_FOUND)
            return VariableResult(key=msg.key, value=self.variables[msg.key])
        if kind == "PutVariable":
            self.variables[msg.key] = msg.value
        elif kind == "GetAssetStateStoreByName":
            if (msg.name, msg.key) not in self.asset_state:
                return ErrorResponse(error=ErrorType.ASSET_STORE_NOT_FOUND)
            return AssetStateStoreResult(value=self.asset_state[msg.name, msg.key])
        elif kind == "SetAssetStateStoreByName":
            self.asset_state[msg.name, msg.key] = msg.value
        return None

    async def asend(self, msg):
        return self.send(msg)


@pytest.fixture
def supervisor(monkeypatch):
    """Run the triggers as in Airflow's triggerer: state goes through the (fake) supervisor."""
    from airflow.sdk.execution_time import task_runner

    fake = FakeSupervisor()
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", fake, raising=False)
    return fake


async def _no_wait(seconds):
    return None


async def _next_event_or_error(trigger, emu, *, listings=10):
    """The trigger's next event, the error it raised, or ``None`` after ``listings`` listings in vain."""
    generator = trigger.run()
    step = asyncio.ensure_future(generator.__anext__())
    start = emu.count(path_contains="/Attachments")
    try:
        while emu.count(path_contains="/Attachments") < start + listings and not step.done():
            await asyncio.sleep(0.01)
        if not step.done():
            return None
        error = step.exception()
        return error if error is not None else step.result()
    finally:
        step.cancel()
        await asyncio.gather(step, return_exceptions=True)
        await generator.aclose()


def _watcher(record_ids, **kwargs):
    trigger = ZohoCRMAttachmentEventTrigger(
        module="Deals", record_ids=record_ids, poll_interval=0.01, **kwargs
    )
    trigger._sleep = _no_wait  # the state retries' backoff
    return trigger


def test_a_failed_state_read_is_retried_not_taken_for_a_first_run(zoho_emulator_connection, supervisor):
    emu = zoho_emulator_connection
    deal = emu.add_record("Deals")
    emu.add_attachment("Deals", deal, "old.pdf", b"old")
    first = _watcher([deal])
    assert asyncio.run(_next_event_or_error(first, emu, listings=3)) is None  # baseline: old.pdf
    assert first.state_key in supervisor.variables

    # The triggerer restarts while the API server is unreachable; an attachment arrived meanwhile.
    emu.add_attachment("Deals", deal, "arrived.pdf", b"new")
    supervisor.failures["GetVariable"] = 2
    event = asyncio.run(_next_event_or_error(_watcher([deal]), emu))
    assert event is not None, "arrived.pdf never fired: the unreadable state was taken for a first run"
    assert event.payload["attachment"]["File_Name"] == "arrived.pdf"


def test_a_state_that_stays_unreadable_stops_the_watcher_loudly(zoho_emulator_connection, supervisor):
    from airflow_provider_zoho_attach.exceptions import ZohoCRMError

    emu = zoho_emulator_connection
    deal = emu.add_record("Deals")
    emu.add_attachment("Deals", deal, "old.pdf", b"old")
    saved = {"seen": {deal: ["0"]}}
    trigger = _watcher([deal])
    import json

    supervisor.variables[trigger.state_key] = json.dumps(saved)
    supervisor.failures["GetVariable"] = 1000
    outcome = asyncio.run(_next_event_or_error(trigger, emu))
    assert isinstance(outcome, ZohoCRMError), f"the watcher went on without its state: {outcome!r}"
    assert outcome.code == "STATE_UNAVAILABLE"
    assert trigger.state_key in str(outcome)
    assert json.loads(supervisor.variables[trigger.state_key]) == saved  # no new baseline written over it
    assert emu.count(path_contains="/Attachments") == 0


def test_a_state_the_watcher_did_not_write_is_an_error_not_a_first_run(zoho_emulator_connection, supervisor):
    from airflow_provider_zoho_attach.exceptions import ZohoCRMError

    emu = zoho_emulator_connection
    trigger = _watcher([emu.add_record("Deals")])
    supervisor.variables[trigger.state_key] = "not the watcher's JSON"
    outcome = asyncio.run(_next_event_or_error(trigger, emu))
    assert isinstance(outcome, ZohoCRMError), outcome
    assert outcome.code == "INVALID_STATE"
    assert supervisor.variables[trigger.state_key] == "not the watcher's JSON"


def test_a_failed_save_is_retried_and_one_that_keeps_failing_is_an_error(
    zoho_emulator_connection, supervisor
):
    from airflow_provider_zoho_attach.exceptions import ZohoCRMError

    emu = zoho_emulator_connection
    deal = emu.add_record("Deals")
    assert asyncio.run(_next_event_or_error(_watcher([deal]), emu, listings=3)) is None  # baseline
    emu.add_attachment("Deals", deal, "one.pdf", b"1")
    supervisor.failures["PutVariable"] = 2
    event = asyncio.run(_next_event_or_error(_watcher([deal]), emu))
    assert not isinstance(event, BaseException), f"a save that failed once killed the watcher: {event!r}"
    assert event.payload["attachment"]["File_Name"] == "one.pdf"

    # A save that never succeeds: the event is not handed out as if it had been remembered.
    emu.add_attachment("Deals", deal, "two.pdf", b"2")
    supervisor.failures["PutVariable"] = 1000
    outcome = asyncio.run(_next_event_or_error(_watcher([deal]), emu))
    assert isinstance(outcome, ZohoCRMError), outcome
    assert outcome.code == "STATE_UNAVAILABLE"
    # Once Airflow is reachable again, two.pdf fires: it was never remembered, so never lost.
    supervisor.failures.clear()
    event = asyncio.run(_next_event_or_error(_watcher([deal]), emu))
    assert event.payload["attachment"]["File_Name"] == "two.pdf"


def test_one_trigger_watching_two_assets_keeps_its_state_in_both(zoho_emulator_connection, supervisor):
    """
    Airflow merges identical watchers into one trigger row; the triggerer then hands the trigger an
    ``AssetStateStoreAccessors`` of all the assets, whose direct ``aget`` refuses to pick one.
    """
    from airflow.sdk import Asset
    from airflow.sdk.execution_time.context import AssetStateStoreAccessors

    emu = zoho_emulator_connection
    deal = emu.add_record("Deals")
    emu.add_attachment("Deals", deal, "old.pdf", b"old")

    def watcher(*names):
        trigger = _watcher([deal])
        trigger.asset_state_store = AssetStateStoreAccessors(
            inlets=[Asset(name=name, uri=f"zoho://{name}") for name in names]
        )
        return trigger

    first = watcher("contracts", "invoices")
    outcome = asyncio.run(_next_event_or_error(first, emu, listings=3))
    assert outcome is None, f"baseline run: {outcome!r}"
    key = first.state_key
    assert supervisor.asset_state["contracts", key] == supervisor.asset_state["invoices", key]

    emu.add_attachment("Deals", deal, "new.pdf", b"new")
    event = asyncio.run(_next_event_or_error(watcher("invoices", "contracts"), emu))
    assert event.payload["attachment"]["File_Name"] == "new.pdf"

    # A third asset joins the merged trigger and one leaves: its state lives on, nothing re-fires.
    emu.add_attachment("Deals", deal, "newer.pdf", b"newer")
    event = asyncio.run(_next_event_or_error(watcher("orders", "invoices"), emu))
    assert event.payload["attachment"]["File_Name"] == "newer.pdf"
    assert supervisor.asset_state["orders", key] == supervisor.asset_state["invoices", key]
