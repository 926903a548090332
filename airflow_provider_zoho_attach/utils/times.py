"""The one reader of times: Zoho's (``Created_Time``, ``Modified_Time``) and the user's (``since``...).

Zoho CRM sends ISO 8601 times with the numeric UTC offset of the org's time zone and no fractional
seconds (``2024-03-02T14:05:11+05:30``). A time is read the same way wherever it comes from, so
that a bound given by the user and a time sent by Zoho compare as instants:

* ``Z`` or ``z`` is UTC; numeric offsets (``+05:30``, ``+0530``, ``+05``) are kept;
* fractional seconds are read (beyond microseconds they are cut);
* surrounding whitespace is ignored;
* a time without an offset (naive) is taken as **UTC**. Zoho does not send those; the provider does
  not know the org's time zone (it is not part of the connection), so it does not guess it.

A Zoho time that is not a time at all is ``None`` (a record without a usable ``Created_Time`` never
matches a time filter); a user's argument that is not one is refused by
:func:`~airflow_provider_zoho_attach.utils.validation.parse_time_argument`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

__all__ = ["as_aware", "created_time", "parse_iso_time", "parse_zoho_time"]


def as_aware(value: datetime) -> datetime:
    """``value`` itself if it has a time zone, else the same wall time in UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def parse_iso_time(text: str) -> datetime | None:
    """
    Return an ISO-8601 time as an aware datetime (naive means UTC), or ``None`` if it is not one.

    :param text: e.g. ``2024-03-02T14:05:11+05:30``, ``2024-03-02T14:05:11.5Z``, ``2024-03-02``.
    """
    text = text.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        return as_aware(datetime.fromisoformat(text))
    except ValueError:
        return None


def parse_zoho_time(value: Any) -> datetime | None:
    """
    A time as Zoho sends it, as an aware datetime; ``None`` if absent or not a time.

    :param value: the field's JSON value (``"2024-03-02T14:05:11+05:30"``, ``None``...).
    """
    if not isinstance(value, str):
        return None
    return parse_iso_time(value)


def created_time(record: Mapping[str, Any]) -> datetime | None:
    """The ``Created_Time`` of a Zoho record as an aware datetime, ``None`` if absent or unreadable."""
    return parse_zoho_time(record.get("Created_Time"))
