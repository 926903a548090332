"""Operator extra link to the record in Zoho CRM's web UI."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator, Context
    from airflow.sdk.types import TaskInstanceKey

__all__ = ["ZohoCRMRecordLink", "record_web_url"]

# Module API names whose web UI tab is spelled differently (Deals were "Potentials" once).
_WEB_TABS = {
    "Deals": "Potentials",
    "Sales_Orders": "SalesOrders",
    "Purchase_Orders": "PurchaseOrders",
    "Price_Books": "PriceBooks",
    "Appointments__s": "Appointments",
    "Services__s": "Services",
}


def record_web_url(web_url: str, module: str, record_id: str) -> str:
    """
    Return the URL of a record in Zoho CRM's web UI.

    Zoho redirects ``/crm/tab/<Tab>/<id>`` to the user's org, so no org id is needed.

    :param web_url: the CRM web UI of the data centre (``https://crm.zoho.eu``).
    :param module: the module API name.
    :param record_id: the record id.

    >>> record_web_url("https://crm.zoho.eu", "Deals", "42")
    'https://crm.zoho.eu/crm/tab/Potentials/42'
    """
    return f"{web_url.rstrip('/')}/crm/tab/{_WEB_TABS.get(module, module)}/{record_id}"


class ZohoCRMRecordLink(BaseOperatorLink):
    """
    "Zoho CRM record": opens the record an operator worked on, in the connection's data centre.

    The operator stores the link's data with :meth:`persist` while it runs; the link is empty for
    runs that stopped before that point (bad input, nothing to do, a deferral still waiting).

    Airflow asks for the link in the task's own process when the task ends, whatever its state.
    The answer comes from what :meth:`persist` remembered in that process, so no XCom is read
    that may not exist: a missing XCom makes Airflow log ``[error] XCom not found``, which would
    show in normal runs, on deferral and on failure.
    """

    name = "Zoho CRM record"
    key = "zoho_crm_record"

    @classmethod
    def persist(cls, context: Context, *, web_url: str, module: str, record_id: str) -> None:
        """Remember where the record lives, for :meth:`get_link` (in this process and in XCom)."""
        value = {"web_url": web_url, "module": module, "record_id": str(record_id)}
        ti = context["ti"]
        with _LOCK:
            _PERSISTED[_key_of(ti)] = value
        ti.xcom_push(key=cls.key, value=value)

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """Return the record's URL, or ``""`` if the task did not get that far."""
        with _LOCK:
            value: Any = _PERSISTED.get(_key_of(ti_key))
        if value is None and not _is_running_here(ti_key):
            # Asked from elsewhere (not the task's own process): only the XCom can tell.
            from airflow.sdk.execution_time.xcom import XCom

            value = XCom.get_value(key=self.key, ti_key=ti_key)
        if not isinstance(value, Mapping) or not all(
            value.get(k) for k in ("web_url", "module", "record_id")
        ):
            return ""
        return record_web_url(str(value["web_url"]), str(value["module"]), str(value["record_id"]))


# What persist() stored in this process, by task instance. A task process runs one task instance
# (dag.test() a few), so this stays small.
_PERSISTED: dict[tuple[Any, ...], dict[str, str]] = {}
_LOCK = threading.Lock()


def _key_of(ti: Any) -> tuple[Any, ...]:
    return tuple(getattr(ti, name, None) for name in ("dag_id", "task_id", "run_id", "map_index"))


def _is_running_here(ti_key: Any) -> bool:
    """Whether ``ti_key`` is the task instance this process runs (Airflow's finalize passes it)."""
    try:
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
    except ImportError:  # pragma: no cover - every Airflow 3 task SDK has it
        return False
    return isinstance(ti_key, RuntimeTaskInstance)
