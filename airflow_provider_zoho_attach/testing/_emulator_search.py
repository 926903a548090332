"""
The emulator's search: ``GET /crm/{version}/{Module}/search?criteria=...`` (the module's read scope and
``ZohoSearch.securesearch.READ``).

``criteria`` is ``(Field:op:value)`` or bracketed groups joined by ``and``/``or``
(``((A:equals:x)and(B:starts_with:y))``), with ``\\(``, ``\\)``, ``\\,`` and ``\\\\`` escapes.
Operators: ``equals`` (on text it matches a part, as Zoho's does), ``not_equal``, ``starts_with``,
``in``, ``greater_than``, ``greater_equal``, ``less_than``, ``less_equal``, ``between``. Zoho serves
2,000 records at most: a page past them is 400 ``LIMIT_REACHED``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow_provider_zoho_attach.testing._emulator_attachments import int_param, invalid_param
from airflow_provider_zoho_attach.testing._emulator_coql import compare, record_row
from airflow_provider_zoho_attach.testing._emulator_http import Response, json_response
from airflow_provider_zoho_attach.testing._emulator_routes import module_allowed, require, scope_mismatch
from airflow_provider_zoho_attach.testing._emulator_store import ApiError, Store

__all__ = ["MAX_SEARCH_RECORDS", "search_answer"]

#: Records a search serves in all.
MAX_SEARCH_RECORDS = 2000
_MAX_CONDITIONS = 10
_OPS = {
    "not_equal": "!=",
    "greater_than": ">",
    "greater_equal": ">=",
    "less_than": "<",
    "less_equal": "<=",
}
Condition = Callable[[dict[str, Any]], bool]


def _bad(criteria: str) -> ApiError:
    return ApiError(400, "INVALID_QUERY", "invalid query formed", {"criteria": criteria})


def _split_escaped(text: str, sep: str) -> list[str]:
    parts, current, escaped = [], "", False
    for char in text:
        if escaped:
            current, escaped = current + char, False
        elif char == "\\":
            escaped = True
        elif char == sep:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def _condition(text: str, criteria: str) -> Condition:
    parts = text.split(":", 2)
    if len(parts) != 3 or not parts[0]:
        raise _bad(criteria)
    name, op, raw = parts
    values = _split_escaped(raw, ",")
    value = values[0]
    if op == "equals":
        return lambda row: _equals(name, row.get(name), value)
    if op == "starts_with":
        return lambda row: row.get(name) is not None and str(row[name]).lower().startswith(value.lower())
    if op == "in":
        return lambda row: any(_equals(name, row.get(name), v) for v in values)
    if op == "between" and len(values) == 2:
        return lambda row: (
            compare(name, row.get(name), ">=", values[0]) and compare(name, row.get(name), "<=", values[1])
        )
    if op in _OPS:
        return lambda row: compare(name, row.get(name), _OPS[op], _number(value))
    raise ApiError(400, "INVALID_QUERY", "invalid operator found", {"api_name": name, "operator": op})


def _number(value: str) -> Any:
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return value


def _equals(name: str, actual: Any, value: str) -> bool:
    if isinstance(actual, str) and name != "id":
        return value.lower() in actual.lower()
    return compare(name, actual, "=", _number(value))


def _join(word: str, left: Condition, right: Condition) -> Condition:
    if word == "and":
        return lambda row: left(row) and right(row)
    return lambda row: left(row) or right(row)


class _Criteria:
    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0
        self.conditions = 0

    def parse(self) -> Condition:
        found = self.group()
        if self.at != len(self.text) or self.conditions > _MAX_CONDITIONS:
            raise _bad(self.text)
        return found

    def group(self) -> Condition:
        if not self.text.startswith("(", self.at):
            raise _bad(self.text)
        self.at += 1
        if self.text.startswith("(", self.at):
            found = self.group()
            while not self.text.startswith(")", self.at):
                for word in ("and", "or"):
                    if self.text.startswith(word, self.at):
                        self.at += len(word)
                        found = _join(word, found, self.group())
                        break
                else:
                    raise _bad(self.text)
            self.at += 1
            return found
        end, escaped = self.at, False
        while end < len(self.text) and (escaped or self.text[end] != ")"):
            escaped = not escaped and self.text[end] == "\\"
            end += 1
        if end == len(self.text):
            raise _bad(self.text)
        inner, self.at = self.text[self.at : end], end + 1
        self.conditions += 1
        return _condition(inner, self.text)


def search_answer(store: Store, scopes: frozenset[str], module_name: str, query: dict[str, str]) -> Response:
    """
    Answer ``GET /{Module}/search``.

    :raises ApiError: Zoho's error.
    """
    module = store.resolve_module(module_name)
    if module is None:
        raise ApiError(400, "INVALID_MODULE", "the module name given seems to be invalid", {})
    if not module_allowed(store, scopes, module, "GET"):
        raise scope_mismatch(store.config)
    require(scopes, ("zohosearch.securesearch.read", "zohosearch.securesearch.all"), store.config)
    criteria = query.get("criteria")
    if not criteria:
        raise ApiError(400, "EXPECTED_PARAM_MISSING", "One of the expected parameter is missing", {})
    where = _Criteria(criteria).parse()
    per_page = int_param(query, "per_page", 200, 1, 200)
    page = int_param(query, "page", 1, 1, None)
    if page * per_page > MAX_SEARCH_RECORDS:
        raise ApiError(400, "LIMIT_REACHED", "Maximum response iteration limit reached", {})
    sort_by, sort_order = query.get("sort_by", "id"), query.get("sort_order", "desc")
    if sort_order not in ("asc", "desc"):
        raise invalid_param("sort_order")
    with store.lock:
        records = [r for r in store.records.values() if r.module == module]
    rows = [row for row in (record_row(r, store) for r in records) if where(row)]
    rows.sort(key=lambda row: int(row["id"]), reverse=sort_order == "desc")
    if sort_by != "id":
        rows.sort(key=lambda row: str(row.get(sort_by) or ""), reverse=sort_order == "desc")
    start = (page - 1) * per_page
    shown = rows[start : start + per_page]
    if not shown:
        return Response(status=204)
    wanted = [name.strip() for name in query.get("fields", "").split(",") if name.strip()]
    data = [
        {
            **({k: row.get(k) for k in wanted} if wanted else {k: v for k, v in row.items() if "." not in k}),
            "id": row["id"],
        }
        for row in shown
    ]
    info = {
        "per_page": per_page,
        "count": len(data),
        "page": page,
        "sort_by": sort_by,
        "sort_order": sort_order,
        "more_records": len(rows) > start + per_page,
    }
    return json_response(200, {"data": data, "info": info})
