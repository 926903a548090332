"""What every Zoho CRM operator shares: connection, target record, lazy hook, the record link."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_zoho_attach.links.zoho_crm import ZohoCRMRecordLink
from airflow_provider_zoho_attach.utils.settings import DEFAULT_CONN_ID

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_zoho_attach.hooks.zoho_crm import ZohoCRMHook

__all__ = ["ZohoCRMBaseOperator"]


class ZohoCRMBaseOperator(BaseOperator):
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

    template_fields: Sequence[str] = ("zoho_conn_id", "module", "record_id")
    operator_extra_links = (ZohoCRMRecordLink(),)
    ui_color = "#fde8e8"
    ui_fgcolor = "#b41e1e"

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

    @cached_property
    def hook(self) -> ZohoCRMHook:
        """The hook, built on first use (in :meth:`execute`, never at parse time)."""
        from airflow_provider_zoho_attach.hooks.zoho_crm import ZohoCRMHook

        return ZohoCRMHook(zoho_conn_id=self.zoho_conn_id, max_concurrency=self.max_concurrency)

    def target(self) -> tuple[str, str]:
        """The checked module API name and record id (after templates were rendered)."""
        from airflow_provider_zoho_attach.utils.validation import normalize_module, validate_id

        return normalize_module(self.module), validate_id(self.record_id)

    def persist_record_link(self, context: Context, module: str, record_id: str) -> None:
        """Store what the "Zoho CRM record" link needs."""
        ZohoCRMRecordLink.persist(
            context, web_url=self.hook.settings.web_url, module=module, record_id=record_id
        )

    def on_kill(self) -> None:
        """Close the hook's connections when the task is killed."""
        if "hook" in self.__dict__:
            self.hook.close()
