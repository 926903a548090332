"""Sensor that waits for new attachments on a Zoho CRM record (poke, reschedule or deferrable)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_zoho_attach.operators.base import ZohoCRMRecordMixin
from airflow_provider_zoho_attach.utils.settings import DEFAULT_CONN_ID

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_zoho_attach.utils.filters import AttachmentFilter

__all__ = ["ZohoCRMNewAttachmentSensor"]


def _default_deferrable() -> bool:
    import airflow.sdk

    # airflow.sdk.conf exists from Airflow 3.2; 3.1 has only airflow.configuration.conf.
    config: Any = getattr(airflow.sdk, "conf", None)
    if config is None:
        from airflow.configuration import conf as config
    return bool(config.getboolean("operators", "default_deferrable", fallback=False))


class ZohoCRMNewAttachmentSensor(ZohoCRMRecordMixin, BaseSensorOperator):
    """
    Wait until a Zoho CRM record has at least ``min_count`` new attachments.

    New means: created in the window ``[since, until)``, not in ``known_ids``, and matching
    ``file_name_pattern``. By default the window is the run's data interval, so consecutive
    scheduled runs never report the same attachment: ``since`` defaults to the data interval start
    (or the logical date, or when the run was created, for a run without one), and ``until`` to the
    data interval end when the interval is not empty. A manual run (empty or no interval) has no
    upper bound. The matching attachment records are returned by XCom. Each check costs one API call
    for a record with up to 200 attachments.

    The sensor keeps no state between checks, so ``mode="reschedule"`` works as well as ``"poke"``.
    With ``deferrable=True`` it checks once on the worker, then hands the waiting to the triggerer
    (:class:`~airflow_provider_zoho_attach.triggers.attachments.ZohoCRMNewAttachmentTrigger`), which
    polls with async I/O and frees the worker slot. ``timeout`` and ``soft_fail`` behave as for any
    sensor.

    .. seealso::
        :ref:`howto/sensor:ZohoCRMNewAttachmentSensor`

    :param module: the module API name (``Deals``) or docs name (``deals``). (templated)
    :param record_id: the record id. (templated)
    :param since: only attachments created at or after this time count: a datetime or an ISO-8601
        string; default: the data interval start. (templated)
    :param until: only attachments created before this time count (exclusive): a datetime or an
        ISO-8601 string; default: the data interval end if the interval is not empty, else no upper
        bound. (templated)
    :param known_ids: attachment ids (or records) that do not count as new. (templated)
    :param file_name_pattern: a glob (or list of globs) the file name must match, e.g. ``"*.pdf"``.
        (templated)
    :param min_count: how many new attachments to wait for. (templated)
    :param deferrable: wait in the triggerer instead of on a worker; default: Airflow's
        ``[operators] default_deferrable``.
    :param poll_interval: seconds between two checks, in poke and reschedule mode too unless
        ``poke_interval`` is given. (templated)
    :param zoho_conn_id: the ``zoho_crm`` connection. (templated)
    """

    template_fields: Sequence[str] = (
        *ZohoCRMRecordMixin.template_fields,
        "since",
        "until",
        "known_ids",
        "file_name_pattern",
        "min_count",
        "poll_interval",
    )

    def __init__(
        self,
        *,
        module: str,
        record_id: str | int,
        since: Any = None,
        until: Any = None,
        known_ids: Any = None,
        file_name_pattern: str | Sequence[str] | None = None,
        min_count: int | str = 1,
        deferrable: bool | None = None,
        poll_interval: float | str = 60,
        zoho_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        # poll_interval may be a template; then the real poke interval is only known at run time.
        self._poke_follows_poll = "poke_interval" not in kwargs
        if self._poke_follows_poll and isinstance(poll_interval, int | float):
            kwargs["poke_interval"] = poll_interval
        super().__init__(**kwargs)
        self.module = module
        self.record_id = record_id
        self.since = since
        self.until = until
        self.known_ids = known_ids
        self.file_name_pattern = file_name_pattern
        self.min_count = min_count
        self.deferrable = _default_deferrable() if deferrable is None else deferrable
        self.poll_interval = poll_interval
        self.zoho_conn_id = zoho_conn_id

    def _inputs(self, context: Context) -> tuple[str, str, AttachmentFilter, int]:
        """Checked module, record id, filter and min_count (recomputed on every check: no state)."""
        from airflow_provider_zoho_attach.utils.filters import AttachmentFilter
        from airflow_provider_zoho_attach.utils.validation import validate_count, validate_window

        module, record_id = self.target()
        min_count = validate_count(self.min_count, argument="min_count", minimum=1)
        wanted = AttachmentFilter.new_attachments(
            since=self.since if self.since not in (None, "") else _run_start(context),
            until=self.until if self.until not in (None, "") else _run_end(context),
            known_ids=self.known_ids,
            file_name_pattern=self.file_name_pattern,
        )
        # No attachment can match an empty window: fail now rather than poll until the timeout.
        validate_window(wanted.created_after, wanted.created_before)
        return module, record_id, wanted, min_count

    def poke(self, context: Context) -> PokeReturnValue:
        """One listing: done when enough new attachments exist; they are the XCom value."""
        module, record_id, wanted, min_count = self._inputs(context)
        matches = wanted.apply(self.hook.iter_attachments(module, record_id))
        self.log.info(
            "%d new attachment(s) on %s/%s created in [%s, %s) (waiting for %d)",
            len(matches),
            module,
            record_id,
            wanted.created_after,
            wanted.created_before or "now",
            min_count,
        )
        done = len(matches) >= min_count
        if done:
            self.persist_record_link(context, module, record_id)
        return PokeReturnValue(is_done=done, xcom_value=matches if done else None)

    def execute(self, context: Context) -> Any:
        from airflow_provider_zoho_attach.utils.validation import validate_seconds

        poll_seconds = validate_seconds(self.poll_interval, argument="poll_interval")
        if self._poke_follows_poll:
            self.poke_interval = poll_seconds
        if not self.deferrable:
            return super().execute(context)
        # Check once on the worker: if the attachments are already there, no deferral is needed.
        result = self.poke(context)
        if result.is_done:
            return result.xcom_value
        from airflow_provider_zoho_attach.triggers.attachments import ZohoCRMNewAttachmentTrigger

        module, record_id, wanted, min_count = self._inputs(context)
        since = wanted.created_after.isoformat() if wanted.created_after else None
        until = wanted.created_before.isoformat() if wanted.created_before else None
        self.defer(
            trigger=ZohoCRMNewAttachmentTrigger(
                module=module,
                record_id=record_id,
                since=since,
                until=until,
                known_ids=sorted(wanted.known_ids),
                file_name_pattern=self.file_name_pattern,
                min_count=min_count,
                poll_interval=poll_seconds,
                zoho_conn_id=self.zoho_conn_id,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout) if self.timeout else None,
        )
        return None  # pragma: no cover - defer() raises

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Resume after the trigger fired: return the attachments, or raise its error."""
        from airflow_provider_zoho_attach.exceptions import ZohoCRMError

        if not event:
            raise ZohoCRMError("the trigger ended without an event", code="NO_EVENT")
        if event.get("status") == "success":
            attachments = list(event.get("attachments") or [])
            self.log.info("%d new attachment(s) found by the triggerer", len(attachments))
            self.persist_record_link(context, *self.target())
            return attachments
        error = event.get("error")
        if isinstance(error, dict):
            raise ZohoCRMError.from_dict(error)
        raise ZohoCRMError(str(event.get("message") or "the trigger reported an error"), code="TRIGGER_ERROR")


def _run_start(context: Context) -> Any:
    """The default ``since``: the data interval start, else the logical date, else when the run began."""
    for key in ("data_interval_start", "logical_date"):
        value = context.get(key)
        if value is not None:
            return value
    dag_run = context.get("dag_run")
    for attribute in ("run_after", "queued_at", "start_date"):
        value = getattr(dag_run, attribute, None)
        if value is not None:
            return value
    from datetime import UTC, datetime

    return datetime.now(UTC)


def _run_end(context: Context) -> Any:
    """The default ``until``: the data interval end, unless the interval is empty or absent."""
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    # Manual runs and trigger timetables have an empty interval (start == end): no upper bound then.
    if start is not None and end is not None and end > start:
        return end
    return None
