"""
The fault matrix: every operation of the provider against every fault the emulator can make.

Each cell builds a fresh scenario on the emulator, arms one fault, runs the operation and records
the outcome: ``survived`` (the right bytes, records or event, and nothing duplicated), ``empty``
(a 204 read as "no attachments", which is what Zoho's 204 means) or ``<ErrorClass> <code>`` (a
clear :class:`ZohoCRMError` after a bounded time, with nothing partial left behind and no duplicate
stored). :data:`EXPECTED` is the truth the docs table (docs/hardening/index.rst) is checked against.

Backoff sleeps advance the emulator's clock instead of waiting, so the whole matrix runs in seconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_zoho_attach.exceptions import ZohoCRMError
from airflow_provider_zoho_attach.testing._emulator_seed import tiny_png

pytestmark = pytest.mark.integration

CONTENT = hashlib.sha256(b"seed").digest() * 2048  # 64 KiB, so truncations happen mid-body
PNG = tiny_png(8, 8)
NEW_PNG = tiny_png(5, 5)
LINK = "https://example.com/spec"
#: The hook's per-request timeout in the matrix, and the stall of ``slow_body`` (well above it).
TIMEOUT = 0.25
SLOW_BODY_DELAY = 0.8
#: No cell may take longer than this (real seconds), error or not.
CELL_BOUND = 20.0

#: Column id -> what the docs call it.
FAULTS: dict[str, str] = {
    "429": "HTTP 429 ``TOO_MANY_REQUESTS`` on the next 2 calls",
    "credits": "``daily_credits=0``: every call refused (429, daily API credits exhausted)",
    "concurrency": "``max_concurrency=1`` with 3 callers (3 hooks, like 3 tasks) at once: the others get 429",
    "500": "HTTP 500 on the next 2 calls",
    "502": "HTTP 502 on the next 2 calls",
    "503": "HTTP 503 on the next 2 calls",
    "503_forever": "HTTP 503 on every call",
    "reset": "TCP reset before any answer, on the next 2 calls",
    "reset_mid_body": "TCP reset half-way through the answer",
    "truncated": "the answer stops half-way (full ``Content-Length``, then the connection closes)",
    "slow_body": "half the answer, then a 0.8 s stall; the hook's timeout is 0.25 s",
    "html_error": "a proxy's HTML 502 page instead of JSON, on the next 2 calls",
    "invalid_token": "HTTP 401 ``INVALID_TOKEN`` once (the access token was rejected)",
    "access_revoked": "every access token issued so far is revoked",
    "token_throttle": "access tokens revoked, and the token endpoint throttles the next 2 requests",
    "token_throttle_forever": "access tokens revoked, and the token endpoint throttles every request",
    "refresh_revoked": "the refresh token (and its access tokens) revoked",
    "empty_204": "HTTP 204 with no body once, where data was expected",
    "commit_then_reset": "the work is done (stored, attached, deleted), then a reset instead of the answer",
}

#: Row id -> what the docs call it.
OPERATIONS: dict[str, str] = {
    "list": "list (hook ``list_attachments``)",
    "download": "download (hook ``download_attachment``)",
    "upload": "upload a file (hook ``upload_attachment``)",
    "link": "attach a link (hook ``attach_link``)",
    "delete": "delete one (hook ``delete_attachment``)",
    "bulk_delete": "delete many (hook ``delete_attachments``)",
    "photo_upload": "photo upload (hook ``upload_photo``)",
    "photo_download": "photo download (hook ``download_photo``)",
    "zfs_upload": "upload to the Zoho File System (hook ``upload_files``; fault on ``POST /files``)",
    "field_attach": "put a file in a file field (hook ``attach_to_field``; fault on the record update)",
    "field_download": "download a field's file (hook ``download_field_file``)",
    "sensor_poke": "sensor poke (``ZohoCRMNewAttachmentSensor.poke``)",
    "deferred_trigger": "deferred trigger (``ZohoCRMNewAttachmentTrigger.run``)",
    "event_trigger": "event trigger (``ZohoCRMAttachmentEventTrigger.run``)",
}

SURVIVED = "survived"
EMPTY = "empty"
_RATE = "ZohoCRMRateLimitError TOO_MANY_REQUESTS"
_SERVER = "ZohoCRMServerError SERVICE_UNAVAILABLE"
_THROTTLED = "ZohoCRMRateLimitError TOKEN_THROTTLED"
_REVOKED = "ZohoCRMAuthError invalid_code"
_NO_CONTENT = "ZohoCRMNotFoundError NO_CONTENT"

#: Everything survives except what is listed here.
_NOT_SURVIVED: dict[str, str] = {
    "credits": _RATE,
    "503_forever": _SERVER,
    "token_throttle_forever": _THROTTLED,
    "refresh_revoked": _REVOKED,
}
#: A 204 means "nothing here" to Zoho: an empty list, or no such file for a download.
_EMPTY_204: dict[str, str] = {
    "list": EMPTY,
    "download": _NO_CONTENT,
    "photo_download": _NO_CONTENT,
    "field_download": _NO_CONTENT,
}

EXPECTED: dict[str, dict[str, str]] = {
    op: {fault: _NOT_SURVIVED.get(fault, SURVIVED) for fault in FAULTS}
    | {"empty_204": _EMPTY_204.get(op, SURVIVED)}
    for op in OPERATIONS
}


def _iso(delta_seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=delta_seconds)).replace(microsecond=0).isoformat()


@dataclass
class Env:
    emu: Any
    tmp: Path
    make_hook: Any
    make_async_hook: Any
    context: dict


class Scenario:
    """One operation on its own record: set up, run (arming the fault), check the outcome."""

    method = "GET"
    path = "/Attachments$"

    def __init__(self, env: Env, hook_kwargs: dict[str, Any]) -> None:
        self.env = env
        self.emu = env.emu
        self.hook_kwargs = hook_kwargs
        self.dir = env.tmp / uuid.uuid4().hex[:8]
        self.dir.mkdir()
        self.record = self.emu.add_record("Deals")
        self.setup()

    def hook(self) -> Any:
        return self.env.make_hook(**self.hook_kwargs)

    def async_hook(self) -> Any:
        return self.env.make_async_hook(**self.hook_kwargs)

    def setup(self) -> None:
        pass

    def run(self, arm) -> Any:
        raise NotImplementedError

    def check(self, result: Any) -> str:
        raise NotImplementedError

    def check_clean(self) -> None:
        """After an error: nothing partial, nothing lost, nothing duplicated."""

    def ids(self) -> list[str]:
        return [a["id"] for a in self.emu.attachments("Deals", self.record)]

    def files(self, directory: Path) -> list[str]:
        return sorted(os.listdir(directory))


class ListOp(Scenario):
    def setup(self):
        self.expected = {self.emu.add_attachment("Deals", self.record, f"f{i}.txt", b"x") for i in range(3)}

    def run(self, arm):
        hook = self.hook()
        arm()
        return hook.list_attachments("Deals", self.record)

    def check(self, result):
        if result == []:
            return EMPTY
        assert {r["id"] for r in result} == self.expected
        assert len(result) == 3
        return SURVIVED


class DownloadOp(Scenario):
    path = r"/Attachments/\d+$"

    def setup(self):
        self.attachment = self.emu.add_attachment("Deals", self.record, "doc.bin", CONTENT)

    def run(self, arm):
        hook = self.hook()
        arm()
        return hook.download_attachment("Deals", self.record, self.attachment, self.dir)

    def check(self, result):
        assert self.files(self.dir) == ["doc.bin"]
        assert (self.dir / "doc.bin").read_bytes() == CONTENT
        assert result["sha256"] == hashlib.sha256(CONTENT).hexdigest()
        return SURVIVED

    def check_clean(self):
        assert self.files(self.dir) == []
        assert self.ids() == [self.attachment]


class UploadOp(Scenario):
    method = "POST"

    def setup(self):
        self.source = self.dir / "up.bin"
        self.source.write_bytes(CONTENT)

    def run(self, arm):
        hook = self.hook()
        arm()
        return hook.upload_attachment("Deals", self.record, self.source)

    def check(self, result):
        assert self.ids() == [result["attachment_id"]]
        assert self.emu.attachment_content(result["attachment_id"]) == CONTENT
        return SURVIVED

    def check_clean(self):
        assert len(self.ids()) <= 1


class LinkOp(Scenario):
    method = "POST"

    def run(self, arm):
        hook = self.hook()
        arm()
        return hook.attach_link("Deals", self.record, LINK, title="Spec")

    def check(self, result):
        stored = self.emu.attachments("Deals", self.record)
        assert [a["$link_url"] for a in stored] == [LINK]
        assert result["attachment_id"] == stored[0]["id"]
        return SURVIVED

    def check_clean(self):
        assert len(self.ids()) <= 1


class DeleteOp(Scenario):
    method = "DELETE"
    path = r"/Attachments/\d+$"

    def setup(self):
        self.keep = self.emu.add_attachment("Deals", self.record, "keep.txt", b"keep")
        self.doomed = self.emu.add_attachment("Deals", self.record, "doomed.txt", b"doomed")

    def run(self, arm):
        hook = self.hook()
        arm()
        return hook.delete_attachment("Deals", self.record, self.doomed)

    def check(self, result):
        assert result["status"] == "deleted"
        assert self.ids() == [self.keep]
        return SURVIVED

    def check_clean(self):
        assert self.keep in self.ids()


class BulkDeleteOp(Scenario):
    method = "DELETE"

    def setup(self):
        self.keep = self.emu.add_attachment("Deals", self.record, "keep.txt", b"keep")
        self.doomed = [self.emu.add_attachment("Deals", self.record, f"d{i}.txt", b"d") for i in range(3)]

    def run(self, arm):
        hook = self.hook()
        arm()
        return hook.delete_attachments("Deals", self.record, self.doomed)

    def check(self, result):
        assert [r["status"] for r in result] == ["deleted"] * 3, result
        assert self.ids() == [self.keep]
        return SURVIVED

    def check_clean(self):
        assert self.keep in self.ids()


class PhotoUploadOp(Scenario):
    method = "POST"
    path = "/photo$"

    def setup(self):
        self.emu.set_photo("Deals", self.record, PNG)
        self.source = self.dir / "face.png"
        self.source.write_bytes(NEW_PNG)

    def run(self, arm):
        hook = self.hook()
        arm()
        return hook.upload_photo("Deals", self.record, self.source)

    def check(self, result):
        assert self.emu.photo("Deals", self.record) == NEW_PNG
        assert result["size"] == len(NEW_PNG)
        return SURVIVED

    def check_clean(self):
        assert self.emu.photo("Deals", self.record) in (PNG, NEW_PNG)


class PhotoDownloadOp(Scenario):
    path = "/photo$"

    def setup(self):
        self.emu.set_photo("Deals", self.record, PNG)

    def run(self, arm):
        hook = self.hook()
        arm()
        return hook.download_photo("Deals", self.record, self.dir)

    def check(self, result):
        (name,) = self.files(self.dir)
        assert (self.dir / name).read_bytes() == PNG
        assert result["path"] == str(self.dir / name)
        return SURVIVED

    def check_clean(self):
        assert self.files(self.dir) == []


FIELD = "Supporting_Documents"


class FieldScenario(Scenario):
    """A Deal with an empty five-file field ``Supporting_Documents``."""

    def __init__(self, env: Env, hook_kwargs: dict[str, Any]) -> None:
        if not any(f["api_name"] == FIELD for f in env.emu.files.fields("Deals")):
            env.emu.files.add_field("Deals", FIELD, "fileupload", length=5)
        super().__init__(env, hook_kwargs)

    def entries(self) -> list[dict[str, Any]]:
        return self.emu.files.field_files("Deals", self.record, FIELD)

    def unattached(self, name: str) -> list[dict[str, Any]]:
        """This scenario's ZFS files that no record holds (others may share the emulator)."""
        return [f for f in self.emu.files.zfs_files(used=False) if f["name"] == name]


class ZfsUploadOp(FieldScenario):
    method = "POST"
    path = "/files$"

    def setup(self):
        self.source = self.dir / f"zfs-{self.dir.name}.bin"
        self.source.write_bytes(CONTENT)

    def run(self, arm):
        hook = self.hook()
        arm()
        return hook.upload_files(self.source)

    def check(self, result):
        (uploaded,) = result
        assert self.emu.files.content(uploaded["file_id"]) == CONTENT
        assert uploaded["sha256"] == hashlib.sha256(CONTENT).hexdigest()
        # A lost answer may leave the first copy unattached in ZFS (it has no listing to find it).
        assert len(self.unattached(self.source.name)) <= 2
        return SURVIVED


class FieldAttachOp(FieldScenario):
    method = "PUT"
    path = r"/Deals/\d+$"

    def setup(self):
        self.source = self.dir / f"field-{self.dir.name}.bin"
        self.source.write_bytes(CONTENT)

    def run(self, arm):
        hook = self.hook()
        arm()
        return hook.attach_to_field("Deals", self.record, FIELD, self.source)

    def check(self, result):
        (added,) = result
        assert [e["id"] for e in self.entries()] == [added["attachment_id"]]
        assert self.emu.files.content(added["attachment_id"]) == CONTENT
        assert self.unattached(self.source.name) == [], "an upload was left unattached"
        return SURVIVED

    def check_clean(self):
        # Never attached twice; an upload the update could not attach is named by the error.
        assert len(self.entries()) <= 1
        assert len(self.unattached(self.source.name)) <= 1


class FieldDownloadOp(FieldScenario):
    path = "download_fields_attachment"

    def setup(self):
        self.entry = self.emu.files.attach("Deals", self.record, FIELD, "field.bin", CONTENT)

    def run(self, arm):
        hook = self.hook()
        arm()
        return hook.download_field_file("Deals", self.record, self.entry["id"], self.dir, field=FIELD)

    def check(self, result):
        assert self.files(self.dir) == ["field.bin"]
        assert (self.dir / "field.bin").read_bytes() == CONTENT
        assert result["field"] == FIELD
        return SURVIVED

    def check_clean(self):
        assert self.files(self.dir) == []
        assert [e["id"] for e in self.entries()] == [self.entry["id"]]


class SensorPokeOp(Scenario):
    def setup(self):
        self.emu.add_attachment("Deals", self.record, "old.pdf", b"old", created_time=_iso(-86400))
        self.new = self.emu.add_attachment("Deals", self.record, "new.pdf", b"new")

    def run(self, arm):
        from airflow_provider_zoho_attach.sensors.attachments import ZohoCRMNewAttachmentSensor

        sensor = ZohoCRMNewAttachmentSensor(
            task_id=f"wait_{uuid.uuid4().hex[:6]}", module="Deals", record_id=self.record, since=_iso(-60)
        )
        sensor.hook = self.hook()
        arm()
        self.pokes = 0
        for _ in range(3):  # a sensor pokes again after a negative answer
            self.pokes += 1
            answer = sensor.poke(self.env.context)
            if answer.is_done:
                return answer.xcom_value
        return None

    def check(self, result):
        assert result is not None, "three pokes found nothing"
        assert [r["id"] for r in result] == [self.new]
        return SURVIVED


class DeferredTriggerOp(Scenario):
    def setup(self):
        self.emu.add_attachment("Deals", self.record, "old.pdf", b"old", created_time=_iso(-86400))
        self.new = self.emu.add_attachment("Deals", self.record, "new.pdf", b"new")

    def run(self, arm):
        from airflow_provider_zoho_attach.triggers.attachments import ZohoCRMNewAttachmentTrigger

        trigger = ZohoCRMNewAttachmentTrigger(
            module="Deals", record_id=self.record, since=_iso(-60), poll_interval=0.01
        )
        hook = self.async_hook()
        trigger._hook = lambda: hook
        arm()

        async def first_event():
            generator = trigger.run()
            try:
                return await asyncio.wait_for(generator.__anext__(), CELL_BOUND)
            finally:
                await generator.aclose()

        event = asyncio.run(first_event())
        if event.payload["status"] == "error":
            raise ZohoCRMError.from_dict(event.payload["error"])
        return event.payload

    def check(self, result):
        assert [r["id"] for r in result["attachments"]] == [self.new]
        return SURVIVED


class MemoryStateStore:
    """The asset state store (async get/set), in memory."""

    def __init__(self):
        self.values = {}
        self.writes = 0

    async def aget(self, key, default=None):
        return self.values.get(key, default)

    async def aset(self, key, value):
        self.writes += 1
        self.values[key] = value


class EventTriggerOp(Scenario):
    """The watcher takes its baseline, then the fault is armed and a new attachment appears."""

    def setup(self):
        self.existing = [self.emu.add_attachment("Deals", self.record, f"e{i}.pdf", b"e") for i in range(2)]

    def _listings(self) -> int:
        return self.emu.count(method="GET", path_contains=f"/{self.record}/Attachments")

    def run(self, arm):
        from airflow_provider_zoho_attach.triggers.attachments import ZohoCRMAttachmentEventTrigger

        trigger = ZohoCRMAttachmentEventTrigger(module="Deals", record_ids=[self.record], poll_interval=0.01)
        trigger.asset_state_store = self.store = MemoryStateStore()
        hook = self.async_hook()
        trigger._hook = lambda: hook

        async def scenario():
            generator = trigger.run()
            step = asyncio.ensure_future(generator.__anext__())
            deadline = time.monotonic() + CELL_BOUND
            try:
                while self.store.writes < 1 and not step.done() and time.monotonic() < deadline:
                    await asyncio.sleep(0.005)
                arm()
                self.new = self.emu.add_attachment("Deals", self.record, "new.pdf", b"new")
                event = await asyncio.wait_for(step, CELL_BOUND)
                # Never twice: a few more polls bring no other event.
                step = asyncio.ensure_future(generator.__anext__())
                polled = self._listings()
                while self._listings() < polled + 4 and not step.done() and time.monotonic() < deadline:
                    await asyncio.sleep(0.005)
                extra = step.result() if step.done() else None
                return event.payload, extra
            finally:
                step.cancel()
                await asyncio.gather(step, return_exceptions=True)
                await generator.aclose()

        return asyncio.run(scenario())

    def check(self, result):
        payload, extra = result
        assert payload["attachment_id"] == self.new, f"fired for {payload['attachment_id']}"
        assert extra is None, f"fired again: {extra.payload}"
        return SURVIVED


SCENARIOS: dict[str, type[Scenario]] = {
    "list": ListOp,
    "download": DownloadOp,
    "upload": UploadOp,
    "link": LinkOp,
    "delete": DeleteOp,
    "bulk_delete": BulkDeleteOp,
    "photo_upload": PhotoUploadOp,
    "photo_download": PhotoDownloadOp,
    "zfs_upload": ZfsUploadOp,
    "field_attach": FieldAttachOp,
    "field_download": FieldDownloadOp,
    "sensor_poke": SensorPokeOp,
    "deferred_trigger": DeferredTriggerOp,
    "event_trigger": EventTriggerOp,
}


def _arm(fault: str, emu: Any, scenario: Scenario):
    """The function that makes ``fault`` happen to the scenario's main request."""
    target = {"method": scenario.method, "path": scenario.path}
    bursts = {
        "429": ("429", 2, {}),
        "500": ("status", 2, {"status": 500}),
        "502": ("status", 2, {"status": 502}),
        "503": ("status", 2, {"status": 503}),
        "503_forever": ("status", 1000, {"status": 503}),
        "reset": ("reset", 2, {}),
        "reset_mid_body": ("reset_mid_body", 1, {}),
        "truncated": ("truncated", 1, {}),
        "slow_body": ("slow_body", 1, {"delay": SLOW_BODY_DELAY}),
        "html_error": ("html_error", 2, {}),
        "invalid_token": ("invalid_token", 1, {}),
        "empty_204": ("empty_204", 1, {}),
        "commit_then_reset": ("commit_then_reset", 1, {}),
    }

    def arm():
        if fault in bursts:
            kind, count, extra = bursts[fault]
            emu.inject_fault(kind, count=count, **target, **extra)
        elif fault == "credits":
            emu.config.daily_credits = 0
        elif fault == "access_revoked":
            emu.revoke_access_tokens()
        elif fault in ("token_throttle", "token_throttle_forever"):
            # The access token dies and its replacement is throttled.
            emu.inject_fault("token_throttle", count=2 if fault == "token_throttle" else 1000)
            emu.revoke_access_tokens()
        elif fault == "refresh_revoked":
            emu.revoke_refresh_token(emu.refresh_token)
        else:  # pragma: no cover
            raise AssertionError(fault)

    return arm


def _clear_error(scenario: Scenario, error: ZohoCRMError, elapsed: float) -> str:
    """A clear error: bounded in time, one line, with a code; nothing partial or doubled left."""
    assert elapsed < CELL_BOUND
    text = str(error)
    assert "\n" not in text
    assert error.code, text
    scenario.check_clean()
    return f"{type(error).__name__} {error.code}"


def _outcome(scenario: Scenario, arm) -> str:
    started = time.monotonic()
    try:
        result = scenario.run(arm)
    except ZohoCRMError as error:
        return _clear_error(scenario, error, time.monotonic() - started)
    assert time.monotonic() - started < CELL_BOUND
    return scenario.check(result)


def _concurrency_outcome(env: Env, op: str) -> str:
    """Three callers (separate hooks, like three tasks) against an org limit of one call at a time."""
    emu = env.emu
    emu.config.max_concurrency = 1
    kwargs = {"real_sleep": True, "max_retries": 6, "retry_base_delay": 0.02, "timeout": 5}
    scenarios = [SCENARIOS[op](env, kwargs) for _ in range(3)]
    outcomes: list[Any] = [None] * 3

    def work(index):
        try:
            outcomes[index] = _outcome(scenarios[index], lambda: None)
        except BaseException as error:  # reported below, in the test's thread
            outcomes[index] = error

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(3)]
    emu.pause()
    try:
        threads[0].start()
        assert emu.wait_in_flight(1, timeout=CELL_BOUND)
        threads[1].start()
        threads[2].start()
        deadline = time.monotonic() + CELL_BOUND
        while emu.count(status=429) < 2 and time.monotonic() < deadline:
            time.sleep(0.002)
    finally:
        emu.resume()
    for thread in threads:
        thread.join(CELL_BOUND * 2)
    assert emu.count(status=429) >= 2, "the concurrency limit was never hit"
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    assert len(set(outcomes)) == 1, outcomes
    return outcomes[0]


def _cell(op: str, fault: str, env: Env) -> None:
    if fault == "concurrency":
        outcome = _concurrency_outcome(env, op)
    else:
        kwargs = {"timeout": TIMEOUT, "max_retries": 3}
        scenario = SCENARIOS[op](env, kwargs)
        # A token is issued before the fault (as in a task that already made calls).
        env.make_hook().get_access_token()
        outcome = _outcome(scenario, _arm(fault, env.emu, scenario))
    assert outcome == EXPECTED[op][fault]


@pytest.fixture
def env(zoho_emulator_connection, tmp_path, make_hook, make_async_hook, context):
    return Env(zoho_emulator_connection, tmp_path, make_hook, make_async_hook, context)


ALL_FAULTS = pytest.mark.parametrize("fault", list(FAULTS))


@ALL_FAULTS
def test_list(env, fault):
    _cell("list", fault, env)


@ALL_FAULTS
def test_download(env, fault):
    _cell("download", fault, env)


@ALL_FAULTS
def test_upload(env, fault):
    _cell("upload", fault, env)


@ALL_FAULTS
def test_link(env, fault):
    _cell("link", fault, env)


@ALL_FAULTS
def test_delete(env, fault):
    _cell("delete", fault, env)


@ALL_FAULTS
def test_bulk_delete(env, fault):
    _cell("bulk_delete", fault, env)


@ALL_FAULTS
def test_photo_upload(env, fault):
    _cell("photo_upload", fault, env)


@ALL_FAULTS
def test_photo_download(env, fault):
    _cell("photo_download", fault, env)


@ALL_FAULTS
def test_zfs_upload(env, fault):
    _cell("zfs_upload", fault, env)


@ALL_FAULTS
def test_field_attach(env, fault):
    _cell("field_attach", fault, env)


@ALL_FAULTS
def test_field_download(env, fault):
    _cell("field_download", fault, env)


@ALL_FAULTS
def test_sensor_poke(env, fault):
    _cell("sensor_poke", fault, env)


@ALL_FAULTS
def test_deferred_trigger(env, fault):
    _cell("deferred_trigger", fault, env)


@ALL_FAULTS
def test_event_trigger(env, fault):
    _cell("event_trigger", fault, env)
