"""Zoho's daily API credits: what a call costs, and what a hook has spent (no I/O).

Zoho counts credits per org over a rolling 24 hours: one per call by default, one to three per COQL
query by its ``LIMIT`` (1-200, 201-1,000, 1,001-2,000). Once half of the day's credits are used,
its answers carry ``X-API-CREDITS-REMAINING``. The meter counts every call Zoho answered, so its
total is what the task cost at most (Zoho may not charge a refused call).
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

__all__ = ["REMAINING_HEADER", "CreditMeter", "call_credits"]

#: The header Zoho adds once half of the day's credits are used.
REMAINING_HEADER = "X-API-CREDITS-REMAINING"

_LIMIT = re.compile(r"\blimit\s+(\d+)(?:\s*,\s*(\d+))?", re.IGNORECASE)
#: A COQL query without LIMIT returns 200 rows.
_COQL_DEFAULT_LIMIT = 200


def call_credits(method: str, path: str, body: Any = None) -> int:
    """
    The credits one call costs: 1, or 1 to 3 for a COQL query by its ``LIMIT``.

    :param method: the HTTP method.
    :param path: the endpoint, relative to ``/crm/<version>/``.
    :param body: the request body (a COQL query's JSON, for ``POST coql``).
    """
    if method.upper() != "POST" or path.strip("/") != "coql":
        return 1
    limit = _coql_limit(body)
    return 1 if limit <= 200 else 2 if limit <= 1000 else 3


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

    def record(self, method: str, path: str, body: Any, remaining_header: str | None) -> bool:
        """
        Count one answered call.

        :return: whether Zoho reported the remaining credits for the first time (worth a log line).
        """
        remaining = _as_count(remaining_header)
        with self._lock:
            self.used += call_credits(method, path, body)
            first = remaining is not None and self.remaining is None
            if remaining is not None:
                self.remaining = remaining
        return first


def _as_count(value: str | None) -> int | None:
    try:
        return int(str(value).strip()) if value is not None else None
    except ValueError:
        return None
