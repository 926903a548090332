"""Zoho's daily API credits: what a call costs, and what a hook has spent (no I/O).

Zoho counts credits per org over a rolling 24 hours: one per call by default, one to three per COQL
query by its ``LIMIT`` (1-200, 201-1,000, 1,001-2,000), one per 10 records updated. The emulator
(:mod:`airflow_provider_zoho_attach.testing`) charges the same and names call types alike. Once
half of the day's credits are used, its answers carry ``X-API-CREDITS-REMAINING``. The meter
counts every call Zoho answered, so its total is what the task cost at most (Zoho may not charge a
refused call).
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

__all__ = ["REMAINING_HEADER", "CreditMeter", "call_credits", "call_type"]

#: The header Zoho adds once half of the day's credits are used.
REMAINING_HEADER = "X-API-CREDITS-REMAINING"

_LIMIT = re.compile(r"\blimit\s+(\d+)(?:\s*,\s*(\d+))?", re.IGNORECASE)
#: A COQL query without LIMIT returns 200 rows.
_COQL_DEFAULT_LIMIT = 200
_RECORDS_PER_CREDIT = 10


def call_type(method: str, path: str) -> str:
    """
    The kind of an API call, as the emulator's ``credits_by_type()`` names it.

    :param method: the HTTP method.
    :param path: the endpoint, relative to ``/crm/<version>/``.
    """
    method = method.upper()
    parts = path.split("?", 1)[0].strip("/").split("/")
    if parts == ["coql"]:
        return "coql"
    if parts[0] == "files":
        return "files_upload" if method == "POST" else "files_download"
    if parts[0] in ("users", "org", "settings"):
        return "metadata"
    if len(parts) <= 2 and parts[-1] == "search":
        return "search"
    if len(parts) <= 2:
        return "update_records" if method == "PUT" else "get_records"
    if parts[2] == "Attachments":
        if len(parts) == 4:
            return "attachment_download" if method == "GET" else "attachment_delete"
        return {"GET": "attachments_list", "POST": "attachment_upload"}.get(method, "attachment_delete")
    if parts[2] == "photo":
        return "photo"
    return "field_attachment_download" if parts[2] == "actions" else "other"


def call_credits(method: str, path: str, body: Any = None) -> int:
    """
    The credits one call costs: 1 by default; 1 to 3 for a COQL query by its ``LIMIT``; 1 per 10
    records for a record update (Kaizen #158). Search, attachment and file calls cost 1 by Zoho's
    default rule (UNVERIFIED per API).

    :param method: the HTTP method.
    :param path: the endpoint, relative to ``/crm/<version>/``.
    :param body: the request body (a COQL query's or a record update's JSON).
    """
    kind = call_type(method, path)
    if kind == "update_records":
        return max(1, -(-_record_count(body) // _RECORDS_PER_CREDIT))
    if kind != "coql":
        return 1
    limit = _coql_limit(body)
    return 1 if limit <= 200 else 2 if limit <= 1000 else 3


def _record_count(body: Any) -> int:
    try:
        data = json.loads(body)["data"] if isinstance(body, bytes | str) else None
    except (ValueError, KeyError, TypeError):
        return 1
    return len(data) if isinstance(data, list) else 1


def _coql_limit(body: Any) -> int:
    try:
        query = json.loads(body)["select_query"] if isinstance(body, bytes | str) else ""
    except (ValueError, KeyError, TypeError):
        return _COQL_DEFAULT_LIMIT
    match = _LIMIT.search(query if isinstance(query, str) else "")
    if match is None:
        return _COQL_DEFAULT_LIMIT
    # LIMIT n, or LIMIT offset, n.
    return int(match.group(2) or match.group(1))


class CreditMeter:
    """The credits one hook spent, and the org's remaining credits when Zoho last said (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: Credits spent by the calls Zoho answered.
        self.used = 0
        #: What ``X-API-CREDITS-REMAINING`` said last (``None`` until Zoho sends it).
        self.remaining: int | None = None
        #: :attr:`used` by call type (:func:`call_type`).
        self.by_type: dict[str, int] = {}
        #: The most credits the hook may spend (a task's ``max_credits``); ``None``: no limit.
        #: Checked before every request, retries included: no estimate made before an operation
        #: can know how many attempts Zoho will make it take.
        self.limit: int | None = None

    def check(self, method: str, path: str, body: Any) -> None:
        """
        Refuse a call that would take :attr:`used` past :attr:`limit` (before it is sent).

        :raises ZohoCRMCreditBudgetError: it would.
        """
        if self.limit is None:
            return
        cost = call_credits(method, path, body)
        with self._lock:
            used = self.used
        if used + cost > self.limit:
            from airflow_provider_zoho_attach.exceptions import ZohoCRMCreditBudgetError

            raise ZohoCRMCreditBudgetError.for_budget(
                limit=self.limit, used=used, cost=cost, what=f"{method} /{path}"
            )

    def record(self, method: str, path: str, body: Any, remaining_header: str | None) -> bool:
        """
        Count one answered call.

        :return: whether Zoho reported the remaining credits for the first time (worth a log line).
        """
        remaining = _as_count(remaining_header)
        cost, kind = call_credits(method, path, body), call_type(method, path)
        with self._lock:
            self.used += cost
            self.by_type[kind] = self.by_type.get(kind, 0) + cost
            first = remaining is not None and self.remaining is None
            if remaining is not None:
                self.remaining = remaining
        return first


def _as_count(value: str | None) -> int | None:
    try:
        return int(str(value).strip()) if value is not None else None
    except ValueError:
        return None
