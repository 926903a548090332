"""What every Zoho CRM task on one record shares: connection, target record, lazy hook, the record link."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_zoho_attach.links.zoho_crm import ZohoCRMRecordLink
from airflow_provider_zoho_attach.operators._lineage import ZohoCRMLineageMixin
from airflow_provider_zoho_attach.utils.settings import DEFAULT_CONN_ID

if TYPE_CHECKING:
    from airflow.sdk import BaseOperatorLink, Context

    from airflow_provider_zoho_attach.hooks.zoho_crm import ZohoCRMHook
    from airflow_provider_zoho_attach.utils.filters import AttachmentFilter

__all__ = ["ZohoCRMAttachmentFilterMixin", "ZohoCRMBaseOperator", "ZohoCRMHookMixin", "ZohoCRMRecordMixin"]


class ZohoCRMHookMixin(ZohoCRMLineageMixin):
    """
    The hook of a Zoho CRM task: built when the task runs, closed on kill, its credits logged.

    Its lineage too (``ZohoCRMLineageMixin`` of ``operators/_lineage.py``):
    the task notes what it read and wrote in ``self.lineage``, which the OpenLineage provider reads.

    A task class lists it (or :class:`ZohoCRMRecordMixin`) before its Airflow base and sets
    ``zoho_conn_id`` in its ``__init__``.
    """

    zoho_conn_id: str
    #: Requests in flight at once for this task; ``None``: the connection's.
    max_concurrency: int | None = None
    ui_color = "#fde8e8"
    ui_fgcolor = "#b41e1e"

    @cached_property
    def hook(self) -> ZohoCRMHook:
        """The hook, built on first use (when the task runs, never at parse time)."""
        from airflow_provider_zoho_attach.hooks.zoho_crm import ZohoCRMHook

        return ZohoCRMHook(zoho_conn_id=self.zoho_conn_id, max_concurrency=self.max_concurrency)

    def on_kill(self) -> None:
        """Close the hook's connections when the task is killed."""
        if "hook" in self.__dict__:
            self.hook.close()

    def post_execute(self, context: Any, result: Any = None) -> None:
        """After the task's work: its asset events (``AssetAlias`` outlets), and its API credits."""
        self.emit_asset_events(context)
        if "hook" in self.__dict__:
            credits = self.hook.credits
            left = (
                ""
                if credits.remaining is None
                else f"; Zoho reports {credits.remaining} left today for the org"
            )
            self.log.info("Zoho API credits used by this task: %d%s", credits.used, left)  # type: ignore[attr-defined]
        super().post_execute(context, result)  # type: ignore[misc]


class ZohoCRMRecordMixin(ZohoCRMHookMixin):
    """
    The record plumbing of the operators and the sensor, defined once.

    A task class lists it before its Airflow base (``class X(ZohoCRMRecordMixin, BaseOperator)``)
    and sets ``module``, ``record_id`` and ``zoho_conn_id`` (and, for operators,
    ``max_concurrency``) in its ``__init__``. Nothing here touches the network or the connection
    before the task runs: DAG files are parsed far more often than tasks run.
    """

    # Typed as on Airflow's BaseOperator, which the mixin is combined with.
    template_fields: Collection[str] = ("zoho_conn_id", "module", "record_id")
    operator_extra_links: Collection[BaseOperatorLink] = (ZohoCRMRecordLink(),)

    module: str
    record_id: str | int | None

    def target(self) -> tuple[str, str]:
        """The checked module API name and record id (after templates were rendered)."""
        from airflow_provider_zoho_attach.utils.validation import normalize_module, validate_id

        return normalize_module(self.module), validate_id(self.record_id)

    def persist_record_link(self, context: Context, module: str, record_id: str) -> None:
        """Store what the "Zoho CRM record" link needs."""
        ZohoCRMRecordLink.persist(
            context, web_url=self.hook.settings.web_url, module=module, record_id=record_id
        )


class ZohoCRMAttachmentFilterMixin:
    """
    The filter arguments of the operators that pick attachments of a record (list, download).

    The operator sets ``file_name_pattern``, ``created_after``, ``created_before`` and
    ``max_items`` in its ``__init__`` and appends :attr:`filter_template_fields` to its
    ``template_fields``; they are checked when the task runs, after templates were rendered.
    """

    filter_template_fields: Sequence[str] = (
        "file_name_pattern",
        "created_after",
        "created_before",
        "max_items",
    )

    file_name_pattern: str | Sequence[str] | None
    created_after: Any
    created_before: Any
    max_items: int | str | None

    def attachment_filter(self, *, files_only: bool = False) -> AttachmentFilter:
        """The checked filter (name globs, ``[created_after, created_before)``; links out if asked)."""
        from airflow_provider_zoho_attach.utils.filters import AttachmentFilter

        return AttachmentFilter.build(
            file_name_pattern=self.file_name_pattern,
            created_after=self.created_after,
            created_before=self.created_before,
            files_only=files_only,
        )

    def item_limit(self) -> int | None:
        """The checked ``max_items`` (``None``: no limit)."""
        from airflow_provider_zoho_attach.utils.validation import validate_count

        return validate_count(self.max_items, argument="max_items", minimum=0, optional=True)


class ZohoCRMBaseOperator(ZohoCRMRecordMixin, BaseOperator):
    """
    Base class of the Zoho CRM operators.

    Nothing here touches the network or the connection until :meth:`execute`: DAG files are parsed
    far more often than tasks run.

    :param module: the module's API name (``Deals``, ``Sales_Orders``, a custom module) or its
        lower-case docs name (``deals``, ``salesorders``). (templated)
    :param record_id: the record's id, a string of digits. (templated)
    :param zoho_conn_id: the ``zoho_crm`` connection. (templated)
    :param max_concurrency: requests in flight at once for this task; default: the connection's.
    """

    def __init__(
        self,
        *,
        module: str,
        record_id: str | int | None,
        zoho_conn_id: str = DEFAULT_CONN_ID,
        max_concurrency: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.module = module
        self.record_id = record_id
        self.zoho_conn_id = zoho_conn_id
        self.max_concurrency = max_concurrency
