"""Triggers that watch Zoho CRM records for new attachments, with async I/O (httpx).

* :class:`ZohoCRMNewAttachmentTrigger` is what :class:`~airflow_provider_zoho_attach.sensors.
  attachments.ZohoCRMNewAttachmentSensor` defers to: it polls until enough matching attachments
  exist and fires once.
* :class:`ZohoCRMAttachmentEventTrigger` is a ``BaseEventTrigger`` for ``AssetWatcher``: it fires one
  event per attachment that appears on the watched records, never twice for the same one, also
  across triggerer restarts.

Both keep every piece of state in their kwargs or in a persistent store, never only in memory, and
share the listing, error mapping and retry logic with the sync hook through the async hook.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from typing import Any

from airflow.triggers.base import BaseEventTrigger, BaseTrigger, TriggerEvent

from airflow_provider_zoho_attach.triggers._state import (
    _AssetBackend,
    _parse_state,
    _StateBackend,
    _supervisor,
    _supervisor_available,
)
from airflow_provider_zoho_attach.utils.settings import DEFAULT_CONN_ID

__all__ = ["ZohoCRMAttachmentEventTrigger", "ZohoCRMNewAttachmentTrigger"]

#: Transient failures (5xx, 429, network, after the hook's own retries) tolerated in a row.
DEFAULT_MAX_CONSECUTIVE_FAILURES = 3


def _classpath(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _patterns_kwarg(file_name_pattern: str | Sequence[str] | None) -> str | Sequence[str] | None:
    """``file_name_pattern`` as a JSON-native kwarg: a tuple becomes a list (and serialises alike)."""
    return list(file_name_pattern) if isinstance(file_name_pattern, list | tuple) else file_name_pattern


def _async_hook(zoho_conn_id: str) -> Any:
    """The async hook of a trigger's connection, built when the trigger runs (not when it is made)."""
    from airflow_provider_zoho_attach.hooks.zoho_crm import ZohoCRMAsyncHook

    return ZohoCRMAsyncHook(zoho_conn_id=zoho_conn_id)


class ZohoCRMNewAttachmentTrigger(BaseTrigger):
    """
    Poll a record until at least ``min_count`` new attachments exist, then fire once.

    "New" means: created at or after ``since`` and (if given) before ``until``, not in
    ``known_ids``, and (if given) matching ``file_name_pattern``. All inputs are plain kwargs, so a
    restarted triggerer that runs the trigger again reaches the same answer.

    The event is ``{"status": "success", "attachments": [records]}``, or ``{"status": "error",
    "error": {...}, "message": ...}`` for a permanent error (bad credentials, unknown module...) or
    after ``max_consecutive_failures`` transient ones (network, 5xx, 429, Zoho's token-creation
    throttle) in a row.

    :param module: the module API name.
    :param record_id: the record id.
    :param since: ISO-8601 time; only attachments created at or after it count.
    :param until: ISO-8601 time; only attachments created before it count (exclusive).
    :param known_ids: attachment ids that do not count as new.
    :param file_name_pattern: a glob (or list of globs) the file name must match.
    :param min_count: how many new attachments to wait for.
    :param poll_interval: seconds between two listings.
    :param zoho_conn_id: the ``zoho_crm`` connection.
    :param max_consecutive_failures: transient failures in a row before giving up.
    """

    def __init__(
        self,
        *,
        module: str,
        record_id: str,
        since: str | None = None,
        until: str | None = None,
        known_ids: Sequence[str] | None = None,
        file_name_pattern: str | Sequence[str] | None = None,
        min_count: int = 1,
        poll_interval: float = 60.0,
        zoho_conn_id: str = DEFAULT_CONN_ID,
        max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
    ) -> None:
        super().__init__()
        self.module = module
        self.record_id = str(record_id)
        self.since = since
        self.until = until
        self.known_ids = [str(i) for i in known_ids or ()]
        self.file_name_pattern = _patterns_kwarg(file_name_pattern)
        self.min_count = int(min_count)
        self.poll_interval = float(poll_interval)
        self.zoho_conn_id = zoho_conn_id
        self.max_consecutive_failures = int(max_consecutive_failures)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the classpath and the kwargs that rebuild this trigger (all JSON-native)."""
        return (
            _classpath(type(self)),
            {
                "module": self.module,
                "record_id": self.record_id,
                "since": self.since,
                "until": self.until,
                "known_ids": list(self.known_ids),
                "file_name_pattern": self.file_name_pattern,
                "min_count": self.min_count,
                "poll_interval": self.poll_interval,
                "zoho_conn_id": self.zoho_conn_id,
                "max_consecutive_failures": self.max_consecutive_failures,
            },
        )

    def _hook(self) -> Any:
        return _async_hook(self.zoho_conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until enough new attachments exist (then one success event) or a permanent error."""
        from airflow_provider_zoho_attach.exceptions import ZohoCRMError
        from airflow_provider_zoho_attach.utils.filters import AttachmentFilter

        hook = self._hook()
        failures = 0
        try:
            wanted = AttachmentFilter.new_attachments(
                since=self.since,
                until=self.until,
                known_ids=self.known_ids,
                file_name_pattern=self.file_name_pattern,
            )
            # The sensor checked once before deferring: start at a random point of the interval so
            # that many deferred sensors spread their polls instead of hitting Zoho all at once.
            await asyncio.sleep(_stagger(self.poll_interval))
            # Every poll waits for its turn in the connection's credit budget (if it has one).
            async with _paced(self, hook, None, [self.record_id]) as (pacer, keys, owner):
                while True:
                    key = await pacer.turn(lambda: keys, owner=owner)
                    spent = hook.credits.used
                    try:
                        records = await hook.list_attachments(self.module, self.record_id)
                    except ZohoCRMError as error:
                        pacer.polled(
                            key, credits=max(1, hook.credits.used - spent), changed=False, owner=owner
                        )
                        failures += 1
                        if not _transient(error) or failures >= self.max_consecutive_failures:
                            yield _error_event(error)
                            return
                        self.log.warning("Listing failed (%s); trying again at the next poll", error.code)
                        continue
                    failures = 0
                    matches = wanted.apply(records)
                    pacer.polled(
                        key, credits=max(1, hook.credits.used - spent), changed=bool(matches), owner=owner
                    )
                    if len(matches) >= self.min_count:
                        self.log.info(
                            "%d new attachment(s) on %s/%s", len(matches), self.module, self.record_id
                        )
                        yield TriggerEvent({"status": "success", "attachments": matches})
                        return
        except ZohoCRMError as error:
            yield _error_event(error)
        finally:
            await hook.aclose()


class ZohoCRMAttachmentEventTrigger(BaseEventTrigger):
    """
    Fire one event per new attachment on the watched records, for ``AssetWatcher``.

    The first run records what is already there (nothing fires for it); from then on each attachment
    that appears fires one event with payload ``{"module", "record_id", "attachment_id",
    "idempotency_key", "attachment": record}`` (the key is the attachment id). What has been taken
    is kept in the watched assets' state stores (Airflow >= 3.3) or, before that, in an Airflow
    Variable; run outside Airflow, in this process's memory, which a log line says.

    On Airflow >= 3.3 every watcher of the connection shares one poll (a shared stream in ack
    mode): an event is remembered only once Airflow stored it, so a restarted triggerer hands out
    again what Airflow did not take (at least once; the idempotency key tells a repeat). Before 3.3
    each watcher polls alone and remembers an attachment before handing it out (at most once).
    Polls follow the connection's credit budget (``daily_credit_budget``). A state that cannot be
    read or written is retried with backoff, then the trigger fails (``STATE_UNAVAILABLE``): it
    never takes a new baseline over state it could not read. Nothing fires while nothing changes.

    :param module: the module API name.
    :param record_ids: the records to watch (a list of ids, or one id).
    :param file_name_pattern: only attachments whose name matches this glob (or list of globs).
    :param poll_interval: seconds between two rounds of listings.
    :param zoho_conn_id: the ``zoho_crm`` connection.
    :param max_consecutive_failures: transient failures in a row tolerated before the trigger fails
        (the triggerer then restarts the watcher).
    :param daily_credit_budget: API credits per 24 hours that the watchers and deferred sensors of
        the connection may spend together (the smallest of the connection's ``daily_credit_budget``
        extra and these arguments applies); ``poll_interval`` is then the shortest interval.
    """

    def __init__(
        self,
        *,
        module: str,
        record_ids: Sequence[str] | str,
        file_name_pattern: str | Sequence[str] | None = None,
        poll_interval: float = 60.0,
        zoho_conn_id: str = DEFAULT_CONN_ID,
        max_consecutive_failures: int = 10,
        daily_credit_budget: int | None = None,
    ) -> None:
        from airflow_provider_zoho_attach.utils.validation import normalize_module, validate_id

        super().__init__()
        ids = [record_ids] if isinstance(record_ids, str | int) else list(record_ids)
        # Checked here, when the DAG file is parsed: a typo is an import error, not a failing watcher.
        normalize_module(module)
        for record_id in ids:
            validate_id(record_id, argument="record_ids")
        self.module = module
        self.record_ids = [str(i) for i in ids]
        self.file_name_pattern = _patterns_kwarg(file_name_pattern)
        self.poll_interval = float(poll_interval)
        self.zoho_conn_id = zoho_conn_id
        self.max_consecutive_failures = int(max_consecutive_failures)
        if daily_credit_budget is not None:
            from airflow_provider_zoho_attach.utils.validation import validate_count

            daily_credit_budget = validate_count(
                daily_credit_budget, argument="daily_credit_budget", minimum=1
            )
        self.daily_credit_budget = daily_credit_budget
        # The backoff between attempts to reach the state (injectable: tests must not wait for real).
        self._sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep

    @classmethod
    def for_asset(cls, asset: Any, **kwargs: Any) -> ZohoCRMAttachmentEventTrigger:
        """
        The watcher of the record a ``zoho-crm`` asset names (``zoho-crm://<host>/Deals/<id>/attachments``).

        Checked when the DAG file is parsed, like the asset itself: a URI that names anything other
        than a record's attachments is an import error that says what is expected.

        :param asset: the asset, or its URI.
        :param kwargs: the trigger's other arguments (``poll_interval``, ``zoho_conn_id`` ...).
        """
        from urllib.parse import urlsplit

        from airflow_provider_zoho_attach.utils.lineage import SCHEME, normalize_zoho_uri, parse_zoho_path

        uri = str(getattr(asset, "uri", asset))
        parts = urlsplit(uri)
        if parts.scheme.lower() != SCHEME:
            raise ValueError(f"{uri!r} is not a {SCHEME}:// asset URI")
        resource = parse_zoho_path(normalize_zoho_uri(parts).path)
        if resource.kind != "attachments" or resource.item_id is not None:
            raise ValueError(
                f"{uri!r} names no record's attachments: a watcher watches "
                f"{SCHEME}://<api host>/<Module>/<record_id>/attachments"
            )
        return cls(module=resource.module, record_ids=[str(resource.record_id)], **kwargs)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the classpath and kwargs; deterministic, so identical watchers are deduplicated."""
        return (
            _classpath(type(self)),
            {
                "module": self.module,
                "record_ids": list(self.record_ids),
                "file_name_pattern": self.file_name_pattern,
                "poll_interval": self.poll_interval,
                "zoho_conn_id": self.zoho_conn_id,
                "max_consecutive_failures": self.max_consecutive_failures,
                # Only when set: the kwargs (and so the trigger Airflow dedupes on) of watchers
                # without a budget stay what they were before budgets existed.
                **({"daily_credit_budget": self.daily_credit_budget} if self.daily_credit_budget else {}),
            },
        )

    @property
    def state_key(self) -> str:
        """The key of this watcher's state: what it watches, not how often."""
        identity = json.dumps(
            [self.zoho_conn_id, self.module, sorted(self.record_ids), self.file_name_pattern], sort_keys=True
        )
        return "zoho_crm_attachment_watch_" + hashlib.sha256(identity.encode()).hexdigest()[:16]

    def _hook(self) -> Any:
        return _async_hook(self.zoho_conn_id)

    def shared_stream_key(self) -> Hashable | None:
        """On Airflow >= 3.3 every watcher of the connection shares one poll; before, none."""
        from airflow_provider_zoho_attach.triggers._shared_stream import shared_streams_available, stream_key

        return stream_key(self.zoho_conn_id) if shared_streams_available() else None

    @classmethod
    def create_shared_stream_producer(cls, kwargs: dict[str, Any]) -> Any:
        """The shared poll of a connection, in ack mode (the cursor moves once Airflow took an event)."""
        from airflow_provider_zoho_attach.triggers._shared_stream import AttachmentStreamProducer

        return AttachmentStreamProducer(kwargs)

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        """This watcher's events out of its connection's shared poll (Airflow >= 3.3)."""
        from airflow_provider_zoho_attach.triggers._pacing import owner_name, pacer_for, release_pacer
        from airflow_provider_zoho_attach.triggers._shared_stream import Subscription, subscribed
        from airflow_provider_zoho_attach.utils.filters import AttachmentFilter
        from airflow_provider_zoho_attach.utils.validation import normalize_module, validate_id

        module = normalize_module(self.module)
        record_ids = [validate_id(record_id) for record_id in self.record_ids]
        wanted = AttachmentFilter.build(file_name_pattern=self.file_name_pattern)
        store = _StateStore(self, sleep=self._sleep)
        saved = await store.load()
        pacer = pacer_for(self.zoho_conn_id)
        pacer.join(budget=self.daily_credit_budget, poll_interval=self.poll_interval)
        member = Subscription(
            name=owner_name(self), module=module, record_ids=record_ids, saved=saved, store=store
        )
        try:
            with subscribed(self.shared_stream_key(), member):
                self.log.info(
                    "Watching %d %s record(s) through the shared poll of %s",
                    len(record_ids),
                    module,
                    self.zoho_conn_id,
                )
                async for raw in shared_stream:
                    if raw.get("module") != module or raw.get("record_id") not in record_ids:
                        continue
                    if not wanted.matches(raw.get("attachment") or {}):
                        continue
                    self.log.info(
                        "New attachment %s on %s/%s", raw["attachment_id"], module, raw["record_id"]
                    )
                    yield TriggerEvent(dict(raw))
        finally:
            pacer.leave(budget=self.daily_credit_budget, poll_interval=self.poll_interval)
            release_pacer(pacer)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll the records forever, each on its turn; yield one event per attachment not seen before."""
        from airflow_provider_zoho_attach.exceptions import ZohoCRMError
        from airflow_provider_zoho_attach.utils.filters import AttachmentFilter
        from airflow_provider_zoho_attach.utils.validation import normalize_module, validate_id

        module = normalize_module(self.module)
        record_ids = [validate_id(record_id) for record_id in self.record_ids]
        wanted = AttachmentFilter.build(file_name_pattern=self.file_name_pattern)
        store = _StateStore(self, sleep=self._sleep)
        hook = self._hook()
        try:
            saved = await store.load()
            seen: dict[str, set[str]] = {record_id: set(saved.get(record_id, ())) for record_id in record_ids}
            # A record not in the saved state is new to this watcher: what it holds now is the baseline.
            needs_baseline = {record_id for record_id in record_ids if record_id not in saved}
            async with _paced(self, hook, self.daily_credit_budget, record_ids) as (pacer, keys, owner):
                failures = 0
                while True:
                    key: Any = await pacer.turn(lambda: keys, owner=owner)
                    spent, fired = hook.credits.used, False
                    try:
                        polled = self._poll_record(
                            hook=hook,
                            store=store,
                            module=module,
                            record_id=str(key[1]),
                            seen=seen,
                            needs_baseline=needs_baseline,
                            wanted=wanted,
                        )
                        async for event in polled:
                            fired = True
                            yield event
                        failures = 0
                    except ZohoCRMError as error:
                        failures += 1
                        if not _transient(error) or failures >= self.max_consecutive_failures:
                            raise
                        self.log.warning("Listing %s/%s failed (%s); will retry", module, key[1], error.code)
                    finally:
                        pacer.polled(
                            key, credits=max(1, hook.credits.used - spent), changed=fired, owner=owner
                        )
        finally:
            await hook.aclose()

    async def _poll_record(
        self,
        *,
        hook: Any,
        store: _StateStore,
        module: str,
        record_id: str,
        seen: dict[str, set[str]],
        needs_baseline: set[str],
        wanted: Any,
    ) -> AsyncIterator[TriggerEvent]:
        """One listing of one record (the fallback without shared streams): its new attachments' events."""
        records = await hook.list_attachments(module, record_id)
        current = {str(record.get("id")) for record in records}
        if record_id in needs_baseline:
            needs_baseline.discard(record_id)
            seen[record_id] = current
            await store.save(seen)
            return
        # Zoho lists newest first: fire in creation order.
        for record in reversed(records):
            ident = str(record.get("id"))
            if ident in seen[record_id]:
                continue
            seen[record_id].add(ident)
            if not wanted.matches(record):
                continue
            # Remember before telling: without Airflow's acknowledgement (shared streams, 3.3) a crash
            # now loses this event rather than repeating it.
            await store.save(seen)
            self.log.info("New attachment %s on %s/%s", ident, module, record_id)
            yield TriggerEvent(
                {
                    "module": module,
                    "record_id": record_id,
                    "attachment_id": ident,
                    "idempotency_key": ident,
                    "attachment": record,
                }
            )
        if current and seen[record_id] != current:
            # Forget deleted attachments (ids are never reused), keeping the state small; never on
            # an empty listing (a 204), or everything would fire again next time.
            seen[record_id] = current
            await store.save(seen)


#: Waits, in seconds, between attempts to read or write the watcher's state; then it fails loudly.
STATE_RETRY_DELAYS: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0)
_STATE_HINT = (
    "The triggerer could not reach Airflow's metadata (API server or database). The watcher stopped "
    "rather than miss or repeat events; once Airflow is reachable it resumes from the saved state."
)


class _StateStore:
    """
    The watcher's persistent state: the watched assets' state stores (3.3+) or an Airflow Variable.

    Reading distinguishes "nothing saved yet" (a first run, which takes a baseline) from "could not
    read" (retried, then an error): taking a failed read for a first run would take a new baseline
    and silently drop every attachment that arrived meanwhile.

    :param trigger: the watcher (its ``state_key``, log and, on 3.3+, ``asset_state_store``).
    :param sleep: the wait between attempts (``asyncio.sleep``; injectable for tests).
    """

    def __init__(
        self, trigger: ZohoCRMAttachmentEventTrigger, *, sleep: Callable[[float], Awaitable[Any]]
    ) -> None:
        self.key = trigger.state_key
        self.log = trigger.log
        self.sleep = sleep
        asset_store = getattr(trigger, "asset_state_store", None)
        if asset_store is None and not _supervisor_available():
            # Run by hand or in a test: there is nowhere persistent to keep the state, and failing
            # (as in a triggerer that lost Airflow) would make the trigger impossible to try out.
            self.log.info(
                "No Airflow triggerer or asset state store here: the watcher's state %s is kept in this "
                "process's memory only (a new process takes a new baseline)",
                self.key,
            )
            self.backends: list[_StateBackend] = [_MemoryBackend(key=self.key)]
        else:
            self.backends = _state_backends(asset_store, key=self.key)

    async def load(self) -> dict[str, list[str]]:
        """The attachment ids seen so far, per record id (empty if this watcher never ran)."""
        from airflow_provider_zoho_attach.utils.watching import merge_saved

        states: list[dict[str, set[str]]] = []
        for backend in self.backends:
            value = await self._attempt("read", backend.get)
            if value is not None:  # None: this store has nothing yet (an asset that joined later)
                states.append(_parse_state(value, key=self.key))
        # Stores differ only if a save reached some of them: trust what they all say, so an
        # attachment that one store does not remember fires (again) rather than never.
        record_ids = {record_id for state in states for record_id in state}
        return {record_id: sorted(merge_saved(states, record_id) or ()) for record_id in sorted(record_ids)}

    async def save(self, seen: dict[str, set[str]]) -> None:
        """Persist the ids seen so far in every store; raise if any of them cannot be written."""
        value = {"seen": {k: sorted(v) for k, v in seen.items()}}
        for backend in self.backends:
            await self._attempt("save", functools.partial(backend.set, value))

    async def _attempt(self, action: str, call: Callable[[], Awaitable[Any]]) -> Any:
        from airflow_provider_zoho_attach.exceptions import ZohoCRMError

        for attempt, delay in enumerate((*STATE_RETRY_DELAYS, None), start=1):
            try:
                return await call()
            except ZohoCRMError:
                raise  # already a verdict (no Variable API here...): retrying cannot change it
            except Exception as error:
                if delay is None:
                    raise ZohoCRMError(
                        f"could not {action} the watcher's state {self.key} after {attempt} attempts "
                        f"({type(error).__name__}: {error})",
                        code="STATE_UNAVAILABLE",
                        operation=f"{action} the state of attachment watcher {self.key}",
                        hint=_STATE_HINT,
                    ) from error
                self.log.warning(
                    "Could not %s the watcher's state %s (%s); trying again in %.0f s",
                    action,
                    self.key,
                    type(error).__name__,
                    delay,
                )
                await self.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover - the last attempt returns or raises


class _VariableBackend:
    """
    An Airflow Variable (before Airflow 3.3, or when the trigger watches no asset).

    :param key: the Variable's name, the watcher's state key.
    """

    def __init__(self, *, key: str) -> None:
        self.key = key

    async def get(self) -> Any:
        return await _variable_get(self.key)

    async def set(self, value: dict[str, Any]) -> None:
        await _variable_set(self.key, value)


#: The state of watchers run outside Airflow, per state key: shared by the runs of one process.
_LOCAL_STATE: dict[str, dict[str, Any]] = {}


class _MemoryBackend:
    """
    The state in this process's memory, for a watcher run outside Airflow (a script, a test).

    A watcher run again in the same process resumes from it, as it would in a triggerer.

    :param key: the watcher's state key.
    """

    def __init__(self, *, key: str) -> None:
        self.key = key

    async def get(self) -> Any:
        # Copies: the caller must not change the stored state behind the store's back.
        return copy.deepcopy(_LOCAL_STATE.get(self.key))

    async def set(self, value: dict[str, Any]) -> None:
        _LOCAL_STATE[self.key] = copy.deepcopy(value)


def _state_backends(asset_store: Any, *, key: str) -> list[_StateBackend]:
    """
    Where the state lives, in a fixed order.

    Airflow merges identical watchers of several assets into one trigger row, and the triggerer
    then gives the trigger an ``AssetStateStoreAccessors`` over all of them, whose ``aget``/``aset``
    raise ``ValueError`` unless there is exactly one asset. The state belongs to the trigger (its
    key is derived from the trigger's kwargs), so it is written to every watched asset's store and
    read back from all of them: an asset joining or leaving the merged trigger (and its state rows
    being deleted with it) then never costs the state. Airflow offers no public way to list the
    accessors, hence the private attributes; without them the object is used as one store.
    """
    if asset_store is None:
        return [_VariableBackend(key=key)]
    by_name = getattr(asset_store, "_by_name", None)
    by_uri = getattr(asset_store, "_by_uri", None)
    if isinstance(by_name, dict) and isinstance(by_uri, dict):
        accessors = [by_name[name] for name in sorted(by_name)] + [by_uri[uri] for uri in sorted(by_uri)]
        if accessors:
            return [_AssetBackend(accessor, key=key) for accessor in accessors]
        return [_VariableBackend(key=key)]
    return [_AssetBackend(asset_store, key=key)]


async def _variable_get(key: str) -> Any:
    """The Variable's stored text, ``None`` if it does not exist; raises if it cannot be read."""
    from asgiref.sync import sync_to_async

    def read() -> Any:
        from airflow.sdk.exceptions import AirflowRuntimeError, ErrorType
        from airflow.sdk.execution_time.comms import ErrorResponse, GetVariable, VariableResult

        # Not Variable.get(): its Execution API backend answers "not found" when the API server is
        # unreachable, and a watcher that believes it never ran takes a new baseline.
        answer = _supervisor().send(GetVariable(key=key))
        if isinstance(answer, ErrorResponse):
            if answer.error == ErrorType.VARIABLE_NOT_FOUND:
                return None
            raise AirflowRuntimeError(answer)
        if isinstance(answer, VariableResult):
            # Parsed by _parse_state: text that is not the watcher's JSON is INVALID_STATE, not retried.
            return answer.value
        raise TypeError(f"unexpected answer to GetVariable: {type(answer).__name__}")

    return await sync_to_async(read)()


async def _variable_set(key: str, value: dict[str, Any]) -> None:
    """Write the Variable; raises if Airflow did not store it."""
    from asgiref.sync import sync_to_async

    def write() -> None:
        from airflow.sdk.exceptions import AirflowRuntimeError
        from airflow.sdk.execution_time.comms import ErrorResponse, PutVariable

        # Not Variable.set(): it drops the supervisor's answer, so a refused write would pass unseen.
        answer = _supervisor().send(
            PutVariable(key=key, value=json.dumps(value), description="Zoho CRM attachment watcher state")
        )
        if isinstance(answer, ErrorResponse):
            raise AirflowRuntimeError(answer)

    await sync_to_async(write)()


def _paced(trigger: Any, hook: Any, budget: float | None, record_ids: Sequence[str]) -> Any:
    """The polls of ``record_ids`` on the turns of the connection's pacer (see ``_pacing.paced``)."""
    from airflow_provider_zoho_attach.triggers._pacing import paced

    return paced(trigger, hook, budget, record_ids)


def _stagger(poll_interval: float) -> float:
    """A random start offset within one poll interval."""
    import random

    return random.uniform(0, poll_interval)


def _transient(error: Exception) -> bool:
    """Whether the next poll may succeed where this one failed (bounded by max_consecutive_failures)."""
    from airflow_provider_zoho_attach.exceptions import TOKEN_THROTTLED, ZohoCRMRateLimitError
    from airflow_provider_zoho_attach.utils.protocol import RetryPolicy

    # The hook waits out Zoho's token throttle only up to token_throttle_timeout, but the throttle
    # lifts within 10 minutes: a trigger polls again then, instead of failing the deferred task.
    if isinstance(error, ZohoCRMRateLimitError) and error.code == TOKEN_THROTTLED:
        return True
    return RetryPolicy().is_retryable(error)


def _error_event(error: Exception) -> TriggerEvent:
    from airflow_provider_zoho_attach.exceptions import ZohoCRMError

    details = error.to_dict() if isinstance(error, ZohoCRMError) else {"message": str(error)}
    return TriggerEvent({"status": "error", "error": details, "message": str(error)})
