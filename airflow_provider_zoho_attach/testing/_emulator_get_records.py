"""
The emulator's Get Records (``GET /crm/{version}/{Module}``) and the records it serves.

As Zoho documents it (spec ``zoho-crm-api-files-records.md`` §3.1, ``zoho-crm-api.md`` §7):

* ``fields`` is required (at most 50: 400 ``LIMIT_EXCEEDED``); ``ids`` picks records;
* ``sort_by`` ``id`` | ``Created_Time`` | ``Modified_Time`` (default ``id``), ``sort_order`` ``asc`` |
  ``desc`` (default ``desc``);
* ``page`` x ``per_page`` (at most 200) reach the first 2,000 records; past them, the
  ``next_page_token`` of ``info`` (signed, bound to the other parameters, 24 h, 100,000 records);
  ``page`` with ``page_token`` is 400 ``AMBIGUITY_DURING_PROCESSING``;
* ``If-Modified-Since`` keeps the records modified after it; when none is, the answer is 304 with no
  body (an empty module is 204).
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from airflow_provider_zoho_attach.testing._emulator_attachments import (
    ambiguous_pages,
    check_discrete_limit,
    fields_param,
    int_param,
    invalid_param,
    read_page_token,
)
from airflow_provider_zoho_attach.testing._emulator_http import Response, api_error, json_response
from airflow_provider_zoho_attach.testing._emulator_model import format_time, parse_time
from airflow_provider_zoho_attach.testing._emulator_store import USER, Record, Store

__all__ = ["SORT_BY", "add_record_rows", "list_records", "owner_of"]

#: The ``sort_by`` values Get Records accepts.
SORT_BY = ("id", "Created_Time", "Modified_Time")
_MAX_IDS = 100
_MAX_PER_PAGE = 200

#: Renders one record with the fields asked for (``None``: all).
Render = Callable[[Record, "set[str] | None"], dict[str, Any]]


def owner_of(record: Record) -> dict[str, Any]:
    """The record's ``Owner`` lookup (``{id, name, email}``; the one user unless set)."""
    owner = record.values.get("Owner")
    return dict(owner) if isinstance(owner, Mapping) else dict(USER)


def add_record_rows(store: Store, module: str, rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """
    Create records with fields (see ``ZohoCRMEmulator.add_records``).

    ``id``, ``Created_Time`` and ``Modified_Time`` set the record's id and times; an ``Owner``
    (``{"id", "name", "email"}``) replaces the default owner; every other key is a field value.

    :return: the record ids, in order.
    """
    ids = []
    for row in rows:
        values = dict(row)
        record_id = values.pop("id", None)
        created = values.pop("Created_Time", None)
        modified = values.pop("Modified_Time", None)
        owner = values.get("Owner")
        if owner is not None and not (isinstance(owner, Mapping) and {"id", "name"} <= set(owner)):
            raise ValueError(f"an Owner is {{'id', 'name', 'email'}}, not {owner!r}")
        record = store.add_record(module, None if record_id is None else str(record_id))
        with store.lock:
            record.values.update(values)
            if created is not None:
                record.created = parse_time(created, record.created)
                record.modified = (
                    max(record.modified, record.created) if modified is None else record.modified
                )
            if modified is not None:
                record.modified = parse_time(modified, record.modified)
        ids.append(record.id)
    return ids


def _since(header: str | None) -> float | None:
    """``If-Modified-Since`` as epoch seconds: ISO 8601 as Zoho's docs and SDK send it, or HTTP's date."""
    if header is None or not header.strip():
        return None
    text = header.strip()
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            raise api_error(
                400, "INVALID_DATA", "invalid data", {"api_name": "If-Modified-Since", "in": "header"}
            ) from None
    return parse_time(when, 0.0)


def _ids(query: Mapping[str, str]) -> set[str] | None:
    if "ids" not in query:
        return None
    ids = {part.strip() for part in query["ids"].split(",") if part.strip()}
    if not ids or not all(part.isdigit() for part in ids):
        raise invalid_param("ids")
    if len(ids) > _MAX_IDS:
        raise api_error(
            400, "LIMIT_EXCEEDED", "Record count exceeded", {"param_name": "ids", "limit": _MAX_IDS}
        )
    return ids


def _sort_key(record: Record, sort_by: str) -> tuple[float, int]:
    value = record.created if sort_by == "Created_Time" else record.modified
    return (float(int(record.id)) if sort_by == "id" else value), int(record.id)


def _bind(module: str, names: list[str], per_page: int, query: Mapping[str, str], since: float | None) -> str:
    material = "\x00".join(
        (
            module,
            ",".join(sorted(set(names))),
            str(per_page),
            query.get("sort_by", "id"),
            query.get("sort_order", "desc"),
            query.get("ids", ""),
            str(since),
        )
    )
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def _check_sort(query: Mapping[str, str]) -> tuple[str, str]:
    sort_by, sort_order = query.get("sort_by", "id"), query.get("sort_order", "desc")
    if sort_by not in SORT_BY:
        raise invalid_param("sort_by")
    if sort_order not in ("asc", "desc"):
        raise invalid_param("sort_order")
    return sort_by, sort_order


def list_records(
    store: Store, module: str, query: Mapping[str, str], if_modified_since: str | None, render: Render
) -> Response:
    """
    Answer ``GET /{Module}``.

    :param store: the emulator's records.
    :param module: the module's API name (resolved).
    :param query: the query parameters.
    :param if_modified_since: the ``If-Modified-Since`` header.
    :param render: turns a record into its JSON with the fields asked for.
    :raises ApiError: Zoho's error.
    """
    config = store.config
    names = fields_param(dict(query), config)
    ambiguous_pages(dict(query))
    per_page = int_param(dict(query), "per_page", _MAX_PER_PAGE, 1, _MAX_PER_PAGE)
    sort_by, sort_order = _check_sort(query)
    ids, since = _ids(query), _since(if_modified_since)
    bind = _bind(module, names, per_page, query, since)
    with store.lock:
        in_module = [r for r in store.records.values() if r.module == module]
    rows = [r for r in in_module if (ids is None or r.id in ids) and (since is None or r.modified > since)]
    if not rows:
        return Response(status=304 if since is not None and in_module else 204)
    descending = sort_order == "desc"
    rows.sort(key=lambda r: _sort_key(r, sort_by), reverse=descending)
    token = query.get("page_token")
    if token is not None:
        content = read_page_token(store, token, bind)
        page, walked = int(content.get("p", 1)), int(content.get("w", 0))
        start = _position(rows, content.get("a"), sort_by, descending)
    else:
        page = int_param(dict(query), "page", 1, 1, None)
        check_discrete_limit(page, per_page, config.discrete_pagination_limit)
        start = walked = (page - 1) * per_page
    shown = rows[start : start + per_page]
    if not shown:
        return Response(status=204)
    more = start + len(shown) < len(rows)
    info: dict[str, Any] = {
        "per_page": per_page,
        "count": len(shown),
        "page": page,
        "sort_by": sort_by,
        "sort_order": sort_order,
        "more_records": more,
        "next_page_token": None,
        "previous_page_token": None,
        "page_token_expiry": None,
    }
    if more:
        after = _sort_key(shown[-1], sort_by)
        info["next_page_token"], expires = store.make_page_token(
            after=after, walked=walked + len(shown), page=page + 1, bind=bind
        )
        info["page_token_expiry"] = format_time(expires, config.tz())
    if token is not None and start > 0:
        back = start - per_page
        before = _sort_key(rows[back - 1], sort_by) if back > 0 else None
        info["previous_page_token"], _ = store.make_page_token(
            after=before, walked=max(0, walked - per_page), page=max(1, page - 1), bind=bind
        )
    wanted = set(names) if names else None
    return json_response(200, {"data": [render(r, wanted) for r in shown], "info": info})


def _position(rows: list[Record], after: Any, sort_by: str, descending: bool) -> int:
    """Where the page after the row keyed ``after`` starts (0 for ``None``)."""
    if after is None:
        return 0
    key = (float(after[0]), int(after[1]))
    keys = [_sort_key(r, sort_by) for r in rows]
    if descending:
        return bisect.bisect_right([(-k[0], -k[1]) for k in keys], (-key[0], -key[1]))
    return bisect.bisect_right(keys, key)
