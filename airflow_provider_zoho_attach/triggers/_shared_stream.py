"""
One poll per connection for every attachment watcher in the triggerer (Airflow >= 3.3).

Airflow 3.3's triggerer lets sibling ``BaseEventTrigger`` s share one stream: triggers whose
``shared_stream_key()`` is equal get one producer, whose events are broadcast to each trigger's
``filter_shared_stream``. With a producer (``create_shared_stream_producer``) the stream runs in
*ack mode*: the triggerer calls the producer's ``advance`` with each event only once every watcher
moved past it and the trigger events it made were stored in Airflow's metadata database.

Here the key is the connection. Each watcher registers its records and its state store when its
filter starts; the :class:`AttachmentStreamProducer` lists the union of the registered records, one
record at a time when the connection's :class:`~airflow_provider_zoho_attach.triggers._pacing.Pacer`
says so, and hands out each new attachment once. ``advance`` moves the cursor
(:class:`~airflow_provider_zoho_attach.utils.watching.AttachmentCursor`) and saves it to the state
of every watcher of the record: the cursor never passes an event Airflow has not taken. Two
watchers of one record cost one listing per poll.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_zoho_attach.utils.watching import AttachmentCursor, RecordKey, merge_saved

__all__ = ["AttachmentStreamProducer", "Subscription", "shared_streams_available", "stream_key"]

_STREAM = "zoho_crm_attachments"


def shared_streams_available() -> bool:
    """Whether this Airflow has shared streams with ack mode (3.3 and later)."""
    try:
        from airflow.triggers.base import BaseEventTrigger
        from airflow.triggers.shared_stream import SharedStreamProducer  # noqa: F401
    except ImportError:
        return False
    return hasattr(BaseEventTrigger, "create_shared_stream_producer")


def stream_key(conn_id: str) -> tuple[str, str]:
    """The shared-stream key of every watcher of ``conn_id``."""
    return (_STREAM, conn_id)


@dataclass(eq=False)
class Subscription:
    """
    One watcher in a shared poll.

    :param name: the watcher (for logs).
    :param module: the module.
    :param record_ids: the watched records.
    :param saved: the watcher's saved state ``{record_id: [attachment ids]}``.
    :param store: its state store (``save({record_id: set(ids)})``).
    """

    name: str
    module: str
    record_ids: Sequence[str]
    saved: dict[str, list[str]]
    store: Any
    records: list[RecordKey] = field(init=False)

    def __post_init__(self) -> None:
        self.records = [(self.module, record_id) for record_id in self.record_ids]


#: The watchers of each shared stream in this process.
_SUBSCRIPTIONS: dict[Hashable, list[Subscription]] = {}


@contextlib.contextmanager
def subscribed(key: Hashable, subscription: Subscription) -> Any:
    """Be part of the shared poll ``key`` for the duration of the block."""
    _SUBSCRIPTIONS.setdefault(key, []).append(subscription)
    try:
        yield subscription
    finally:
        members = _SUBSCRIPTIONS.get(key, [])
        if subscription in members:
            members.remove(subscription)
        if not members:
            _SUBSCRIPTIONS.pop(key, None)


def _base() -> type:
    from airflow.triggers.shared_stream import SharedStreamProducer

    return SharedStreamProducer


class AttachmentStreamProducer(_base() if shared_streams_available() else object):  # type: ignore[misc]
    """
    The shared poll of one connection: lists the watched records, hands out new attachments.

    :param kwargs: the kwargs of one watcher of the stream (only ``zoho_conn_id``,
        ``poll_interval`` and ``max_consecutive_failures`` are used: the rest differs between
        watchers).
    """

    def __init__(self, kwargs: dict[str, Any]) -> None:
        self.conn_id = str(kwargs["zoho_conn_id"])
        self.key = stream_key(self.conn_id)
        self.poll_interval = float(kwargs.get("poll_interval", 60.0))
        self.max_consecutive_failures = int(kwargs.get("max_consecutive_failures", 10))
        self.cursor = AttachmentCursor()
        self.name = f"shared attachment poll of {self.conn_id}"
        self._scheduled: set[RecordKey] = set()

    def _members(self) -> list[Subscription]:
        return list(_SUBSCRIPTIONS.get(self.key, ()))

    def _sync(self, pacer: Any) -> list[RecordKey]:
        """Schedule the records watchers joined with, drop the ones they left; return them all."""
        members = self._members()
        wanted = {record for member in members for record in member.records}
        now = pacer.clock()
        for record in wanted - self._scheduled:
            if not self.cursor.knows(record):
                ids = merge_saved((m.saved for m in members if record in m.records), record[1])
                if ids is not None:
                    self.cursor.restore(record, ids)
            # A record without a cursor is listed at once: its baseline must be taken soon.
            pacer.scheduler.add(
                record, now=now, due_now=not self.cursor.knows(record), spread=_spread(record)
            )
            self._scheduled.add(record)
        for record in self._scheduled - wanted:
            pacer.scheduler.remove(record)
            self.cursor.forget(record)
            self._scheduled.discard(record)
        return sorted(self._scheduled)

    def _owner(self, record: RecordKey) -> str:
        """Whom a listing of ``record`` is charged to in the hourly log: the watchers it served."""
        names = sorted({m.name for m in self._members() if record in m.records})
        return " + ".join(names) + " (shared)" if names else self.name

    async def open_stream(self) -> AsyncIterator[tuple[Any, Any]]:
        """List the watched records forever; yield ``(event payload, (module, record, id))``."""
        from airflow_provider_zoho_attach.exceptions import ZohoCRMError
        from airflow_provider_zoho_attach.triggers._pacing import pacer_for, release_pacer, resolve_budget
        from airflow_provider_zoho_attach.triggers.attachments import _async_hook, _transient

        hook = _async_hook(self.conn_id)
        pacer = pacer_for(self.conn_id)
        budget = await resolve_budget(hook, None)
        pacer.join(budget=budget, poll_interval=self.poll_interval)
        failures = 0
        try:
            while True:
                record: Any = await pacer.turn(lambda: self._sync(pacer), owner=self.name)
                module, record_id = record
                spent = hook.credits.used
                try:
                    listing = await hook.list_attachments(module, record_id)
                except ZohoCRMError as error:
                    pacer.polled(
                        record,
                        credits=max(1, hook.credits.used - spent),
                        changed=False,
                        owner=self._owner(record),
                    )
                    failures += 1
                    if not _transient(error) or failures >= self.max_consecutive_failures:
                        raise
                    continue
                failures = 0
                baseline = not self.cursor.knows(record)
                fresh = self.cursor.observe(record, listing)
                pacer.polled(
                    record,
                    credits=max(1, hook.credits.used - spent),
                    changed=bool(fresh),
                    owner=self._owner(record),
                )
                if baseline:
                    await self._save({record})
                for item in fresh:
                    attachment_id = str(item.get("id"))
                    payload = {
                        "module": module,
                        "record_id": record_id,
                        "attachment_id": attachment_id,
                        "idempotency_key": attachment_id,
                        "attachment": dict(item),
                    }
                    yield payload, (module, record_id, attachment_id)
        finally:
            for record in list(self._scheduled):
                pacer.scheduler.remove(record)
            self._scheduled.clear()
            pacer.leave(budget=budget, poll_interval=self.poll_interval)
            release_pacer(pacer)
            await hook.aclose()

    async def advance(self, batch: Sequence[Any]) -> None:
        """Settle the events Airflow resolved and save the cursor of their records."""
        touched: set[RecordKey] = set()
        for item in batch:
            module, record_id, attachment_id = item.broker_payload
            outcome = item.outcome
            # Stored by every watcher that wanted it (or declined by all): taken. A failed watcher,
            # or nobody listening, means it comes again with the next listing.
            delivered = outcome.failed == 0 and (outcome.acked + outcome.rejected) > 0
            self.cursor.settle((module, record_id), attachment_id, delivered=delivered)
            touched.add((module, record_id))
        await self._save(touched)

    async def _save(self, records: set[RecordKey]) -> None:
        """Write the cursor of ``records`` to the state of every watcher of them."""
        for member in self._members():
            if not records.intersection(member.records):
                continue
            state = {
                record_id: set(self.cursor.seen((member.module, record_id)))
                for record_id in member.record_ids
                if self.cursor.knows((member.module, record_id))
            }
            await member.store.save(state)
            # What this watcher would restore from, should the poll start again in this process.
            member.saved = {record_id: sorted(ids) for record_id, ids in state.items()}


def _spread(record: RecordKey) -> float:
    """A fixed place in ``[0, 1)`` for ``record``, so resumed records do not all fall due at once."""
    import hashlib

    digest = hashlib.sha256("/".join(record).encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32
