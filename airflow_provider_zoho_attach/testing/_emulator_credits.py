"""
What each API call costs the emulator's org, by call type (spec ``zoho-crm-api-files-records.md`` §6).

* Get Records (``GET /{Module}``, ``GET /{Module}/{id}``): 1 per call (Kaizen #60).
* COQL: 1, 2 or 3 for a ``LIMIT`` of 1-200, 201-1,000, 1,001-2,000 (200 when absent). The figures
  come from Zoho's Vertical Solutions copy of the COQL page; that they hold for CRM v8 is a guess
  (switch: ``coql_credit_tiers``).
* Update records (``PUT /{Module}[/{id}]``): 1 per 10 records (Kaizen #158).
* Search, attachments (list, download, upload, delete), Files API, field-file downloads, photos and
  metadata: 1 per call, Zoho's default rule. UNVERIFIED per API: ``unverified_credit_cost`` sets
  what these cost.

The call is classified before it is served, so a refused call (400) costs as much as one that
worked; 401 answers (no valid token) and calls refused for the day's limit cost nothing.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from airflow_provider_zoho_attach.testing._emulator_model import EmulatorConfig
from airflow_provider_zoho_attach.testing._emulator_routes import Route

__all__ = ["CALL_TYPES", "UNVERIFIED_TYPES", "CreditCount", "call_type", "credit_cost"]

#: Every call type the emulator counts credits for.
CALL_TYPES = (
    "get_records",
    "search",
    "coql",
    "update_records",
    "attachments_list",
    "attachment_download",
    "attachment_upload",
    "attachment_delete",
    "files_upload",
    "files_download",
    "field_attachment_download",
    "photo",
    "metadata",
)
#: Call types whose cost Zoho does not publish (Zoho's default rule, 1, is assumed).
UNVERIFIED_TYPES = frozenset(CALL_TYPES) - {"get_records", "coql", "update_records"}


class CreditCount(int):
    """A credit count that is also callable: ``emulator.credits_used`` and ``emulator.credits_used()``."""

    def __call__(self) -> int:
        """The count, as a plain ``int``."""
        return int(self)


_LIMIT = re.compile(r"\blimit\s+(\d+)(?:\s*,\s*(\d+))?", re.IGNORECASE)
_COQL_DEFAULT_LIMIT = 200
_RECORDS_PER_CREDIT = 10


def call_type(method: str, route: Route) -> str:
    """
    The call type of an authenticated call to ``route`` (one of :data:`CALL_TYPES`).

    :param method: the HTTP method.
    :param route: the matched route.
    """
    kind = route.kind
    if kind in ("records", "record"):
        return "update_records" if method == "PUT" else "get_records"
    if kind == "attachments":
        return {"GET": "attachments_list", "POST": "attachment_upload"}.get(method, "attachment_delete")
    if kind == "attachment":
        return "attachment_download" if method == "GET" else "attachment_delete"
    if kind == "files":
        return "files_upload" if method == "POST" else "files_download"
    if kind == "field_attachment":
        return "field_attachment_download"
    if kind in ("coql", "search", "photo"):
        return kind
    return "metadata"  # users, org, settings/fields, settings/modules


def credit_cost(kind: str, body: bytes | None, config: EmulatorConfig) -> int:
    """
    The credits a call of type ``kind`` costs.

    :param kind: the call type (:func:`call_type`).
    :param body: the request body, for COQL (its ``LIMIT``) and record updates (how many records).
    :param config: the emulator's switches.
    """
    if kind == "coql":
        if not config.coql_credit_tiers:
            return 1
        limit = _coql_limit(body)
        return 1 if limit <= 200 else 2 if limit <= 1000 else 3
    if kind == "update_records":
        return max(1, math.ceil(_record_count(body) / _RECORDS_PER_CREDIT))
    if kind in UNVERIFIED_TYPES:
        return config.unverified_credit_cost
    return 1


def _json(body: bytes | None) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError:
        return None


def _coql_limit(body: bytes | None) -> int:
    payload = _json(body)
    query = payload.get("select_query") if isinstance(payload, dict) else None
    match = _LIMIT.search(query) if isinstance(query, str) else None
    if match is None:
        return _COQL_DEFAULT_LIMIT
    return int(match.group(2) or match.group(1))  # LIMIT n, or LIMIT offset, n


def _record_count(body: bytes | None) -> int:
    payload = _json(body)
    data = payload.get("data") if isinstance(payload, dict) else None
    return len(data) if isinstance(data, list) else 1
