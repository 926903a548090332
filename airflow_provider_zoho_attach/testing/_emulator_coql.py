"""
The emulator's COQL: ``POST /crm/{version}/coql`` (scope ``ZohoCRM.coql.READ`` and the module's read).

The subset served: ``select cols from Module where <condition> [order by f [asc|desc], ...]
[limit n | limit m, n | limit n offset m]``, keywords in any case. A condition is ``field op value``
with ``= != < > <= >=``, ``[not] in (...)``, ``[not] like '%x%'``, ``[not] between a and b``,
``is [not] null``, joined two at a time by ``and``/``or`` (more must be bracketed, as Zoho asks).
Columns are ``id``, ``Created_Time``, ``Modified_Time`` and the fields the module's records were
given (:meth:`~airflow_provider_zoho_attach.testing.emulator.ZohoCRMEmulator.add_records`).

Each column has a kind taken from its values (text, number, datetime, boolean, lookup; ``Owner`` is
a lookup, and ``Owner.email`` a column), and an operator its kind does not take (``>`` on text,
``like`` on a number) is refused, as Zoho's operator table says.

Zoho's errors: ``SYNTAX_ERROR`` (with ``near``, ``line`` and ``column``, as coql.json's
``Parse_Error_Details``; a missing ``where`` too), ``INVALID_QUERY`` (unknown column, or an
operator the column's kind does not take: ``reason``, ``column_name``, ``operator``),
``INVALID_MODULE`` (Notes and Attachments too), ``MANDATORY_NOT_FOUND`` (no ``select_query``),
``INVALID_DATA`` (limit 0), ``LIMIT_EXCEEDED`` (limit over 2,000, offset plus limit past 100,000,
``in`` over 100 values). An empty result is a 204.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from airflow_provider_zoho_attach.testing._emulator_get_records import owner_of
from airflow_provider_zoho_attach.testing._emulator_http import Response, json_response
from airflow_provider_zoho_attach.testing._emulator_model import format_time
from airflow_provider_zoho_attach.testing._emulator_routes import module_allowed, require, scope_mismatch
from airflow_provider_zoho_attach.testing._emulator_store import ApiError, Record, Store

__all__ = ["MAX_LIMIT", "MAX_OFFSET", "compare", "coql_answer", "known_columns", "record_row"]

#: Rows one query returns at most.
MAX_LIMIT = 2000
#: How far LIMIT/OFFSET walks (offset + limit).
MAX_OFFSET = 100_000
_DEFAULT_LIMIT = 200
_MAX_IN = 100
#: Modules Zoho's COQL module list leaves out (spec §3.3; that they are refused is UNVERIFIED).
_NOT_QUERYABLE = frozenset({"Notes", "Attachments"})
_TIME_FIELDS = frozenset({"Created_Time", "Modified_Time"})

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<num>-?\d+(?:\.\d+)?)(?![\w.])|(?P<op><=|>=|!=|=|<|>)"
    r"|(?P<punct>[(),;*])|(?P<word>[A-Za-z_$][\w$.]*))"
)


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    at: int = 0

    @property
    def word(self) -> str:
        return self.text.lower() if self.kind == "word" else ""


def _tokens(text: str) -> list[_Tok]:
    tokens, position = [], 0
    while position < len(text):
        if not text[position:].strip():
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            start = len(text) - len(text[position:].lstrip())
            raise _syntax(text[start:].split(" ", maxsplit=1)[0], text, start)
        kind = match.lastgroup or "word"
        tokens.append(_Tok(kind, match.group(kind), match.start(kind)))
        position = match.end()
    return tokens


def _syntax(near: str, text: str = "", at: int | None = None) -> ApiError:
    """Zoho's ``SYNTAX_ERROR``: the word it stopped at, and where (line and column count from 1)."""
    at = len(text.rstrip()) if at is None else at
    line = text.count("\n", 0, at) + 1
    column = at - (text.rfind("\n", 0, at) + 1) + 1
    details = {"near": near or "end", "line": line, "column": column}
    return ApiError(400, "SYNTAX_ERROR", "error occured while parsing the query", details)


def _bad_operator(name: str, operator: str) -> ApiError:
    details = {"reason": "invalid operator found", "column_name": name, "operator": operator}
    return ApiError(400, "INVALID_QUERY", "invalid query formed", details)


def _invalid_column(name: str) -> ApiError:
    return ApiError(400, "INVALID_QUERY", "column given seems to be invalid", {"column_name": name})


#: A condition: a function of a record's row.
Condition = Callable[[dict[str, Any]], bool]


@dataclass
class Query:
    """A parsed query."""

    columns: list[str]
    module: str
    where: Condition
    order: list[tuple[str, bool]]
    limit: int
    offset: int


class _Parser:
    def __init__(self, text: str, columns_of: Callable[[str], dict[str, str] | None]) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.at = 0
        self.columns_of = columns_of
        #: The module's columns and their kinds (``text``, ``number``, ``datetime``...).
        self.known: dict[str, str] = {}

    def fail(self, token: _Tok | None) -> ApiError:
        """A ``SYNTAX_ERROR`` at ``token`` (``None``: the end of the query)."""
        if token is None:
            return _syntax("end", self.text)
        return _syntax(token.text, self.text, token.at)

    def peek(self) -> _Tok | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> _Tok:
        token = self.peek()
        if token is None:
            raise self.fail(None)
        self.at += 1
        return token

    def expect_word(self, *words: str) -> str:
        token = self.take()
        if token.word not in words:
            raise self.fail(token)
        return token.word

    def expect(self, text: str) -> None:
        token = self.take()
        if token.text != text:
            raise self.fail(token)

    def column(self) -> str:
        token = self.take()
        if token.kind != "word":
            raise self.fail(token)
        if token.text not in self.known:
            raise _invalid_column(token.text)
        return token.text

    def parse(self) -> Query:
        self.expect_word("select")
        names = [self.take()]
        while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
            self.take()
            names.append(self.take())
        self.expect_word("from")
        module_token = self.take()
        known = self.columns_of(module_token.text)
        if known is None:
            raise ApiError(400, "INVALID_MODULE", "the module name given seems to be invalid", {})
        self.known = known
        columns = []
        for name in names:
            if name.kind != "word":
                raise self.fail(name)
            if name.text not in known:
                raise _invalid_column(name.text)
            columns.append(name.text)
        token = self.peek()
        if token is None or token.word != "where":
            raise self.fail(token)
        self.take()
        where = self.condition()
        order = self.order_by()
        limit, offset = self.limit()
        token = self.peek()
        if token is not None:
            raise self.fail(token)
        return Query(columns, module_token.text, where, order, limit, offset)

    def condition(self) -> Condition:
        left = self.term()
        token = self.peek()
        if token is None or token.word not in ("and", "or"):
            return left
        self.take()
        right = self.term()
        after = self.peek()
        if after is not None and after.word in ("and", "or"):
            raise self.fail(after)  # Zoho asks for brackets around more than two criteria
        if token.word == "and":
            return lambda row: left(row) and right(row)
        return lambda row: left(row) or right(row)

    def term(self) -> Condition:
        token = self.peek()
        if token is not None and token.text == "(":
            self.take()
            inner = self.condition()
            self.expect(")")
            return inner
        name = self.column()
        token = self.take()
        if token.kind == "op":
            self.check_operator(name, token.text)
            value = self.value()
            op = token.text
            return lambda row: compare(name, row.get(name), op, value)
        negate = token.word == "not"
        if negate:
            token = self.take()
        word = token.word
        if word in ("in", "like", "between"):
            self.check_operator(name, f"{'not ' if negate else ''}{word}")
        if word == "is":
            null = self.take()
            want_null = True
            if null.word == "not":
                want_null, null = False, self.take()
            if null.word != "null" or negate:
                raise self.fail(null)
            return lambda row: (row.get(name) in (None, "", [])) is want_null
        if word == "in":
            found = _in(name, self.values())
        elif word == "like":
            found = _like(name, self.value())
        elif word == "between":
            low = self.value()
            self.expect_word("and")
            found = _between(name, low, self.value())
        else:
            raise _bad_operator(name, token.text)
        if negate:  # like SQL, a null is neither in nor out
            return lambda row: row.get(name) is not None and not found(row)
        return found

    def check_operator(self, name: str, operator: str) -> None:
        """Refuse an operator the column's type does not take (Zoho's table, spec §3.3)."""
        if operator.rsplit(maxsplit=1)[-1] not in _OPERATORS[self.known.get(name, "text")]:
            raise _bad_operator(name, operator)

    def value(self) -> Any:
        token = self.take()
        if token.kind == "str":
            return re.sub(r"\\(.)", r"\1", token.text[1:-1])
        if token.kind == "num":
            return float(token.text) if "." in token.text else int(token.text)
        if token.word in ("true", "false"):
            return token.word == "true"
        raise self.fail(token)

    def values(self) -> list[Any]:
        self.expect("(")
        values = [self.value()]
        while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
            self.take()
            values.append(self.value())
        self.expect(")")
        if len(values) > _MAX_IN:
            raise ApiError(400, "LIMIT_EXCEEDED", "too many values for in", {"limit": _MAX_IN})
        return values

    def order_by(self) -> list[tuple[str, bool]]:
        token = self.peek()
        if token is None or token.word != "order":
            return []
        self.take()
        self.expect_word("by")
        order = []
        while True:
            name = self.column()
            descending = False
            token = self.peek()
            if token is not None and token.word in ("asc", "desc"):
                descending = self.take().word == "desc"
            order.append((name, descending))
            token = self.peek()
            if token is None or token.text != ",":
                return order
            self.take()

    def limit(self) -> tuple[int, int]:
        token = self.peek()
        if token is None or token.word != "limit":
            return _DEFAULT_LIMIT, 0
        self.take()
        first = self._count()
        token = self.peek()
        if token is not None and token.text == ",":
            self.take()
            return self._count(), first  # MySQL's "limit offset, count"
        if token is not None and token.word == "offset":
            self.take()
            return first, self._count()
        return first, 0

    def _count(self) -> int:
        token = self.take()
        if token.kind != "num" or "." in token.text:
            raise ApiError(400, "INVALID_QUERY", "invalid limit or offset", {"limit": token.text})
        return int(token.text)


def _in(name: str, values: list[Any]) -> Condition:
    return lambda row: any(compare(name, row.get(name), "=", value) for value in values)


def _between(name: str, low: Any, high: Any) -> Condition:
    return lambda row: compare(name, row.get(name), ">=", low) and compare(name, row.get(name), "<=", high)


def _like(name: str, pattern: Any) -> Condition:
    text = str(pattern)
    regex = re.compile(
        "^" + ".*".join(re.escape(part) for part in text.split("%")) + "$", re.IGNORECASE | re.S
    )
    return lambda row: row.get(name) is not None and bool(regex.match(str(row.get(name))))


def _as_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _key(name: str, value: Any) -> tuple[int, Any]:
    """A sort and comparison key: numbers, times and text never compare with each other."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return 0, value
    if name == "id" and str(value).isdigit():
        return 0, int(value)  # 19 digits: a float would round them
    if name in _TIME_FIELDS:
        when = _as_time(value)
        if when is not None and when.tzinfo is not None:
            return 1, when.timestamp()
    return 2, str(value).lower()


def compare(name: str, value: Any, op: str, literal: Any) -> bool:
    """Whether ``value`` (a row's ``name``) stands in ``op`` to ``literal``; nothing compares to null."""
    if value is None:
        return op == "!=" and literal is not None
    left, right = _key(name, value), _key(name, literal)
    if left[0] != right[0]:
        if op in ("=", "!="):
            return (op == "!=") ^ (str(value).lower() == str(literal).lower())
        return False
    return {
        "=": left == right,
        "!=": left != right,
        "<": left < right,
        ">": left > right,
        "<=": left <= right,
        ">=": left >= right,
    }[op]


def record_row(record: Record, store: Store) -> dict[str, Any]:
    """
    A record as COQL and search see it: ``id``, its times, its ``Owner``, and the fields it was
    given; a lookup's keys are columns too (``Owner.email``).
    """
    tz = store.config.tz()
    row: dict[str, Any] = {
        "id": record.id,
        "Created_Time": format_time(record.created, tz),
        "Modified_Time": format_time(record.modified, tz),
        **record.values,
    }
    row["Owner"] = owner_of(record)
    for name, value in list(row.items()):
        if isinstance(value, dict):
            row.update((f"{name}.{key}", item) for key, item in value.items())
    return row


_OPERATORS = {
    "text": frozenset({"=", "!=", "like", "in"}),
    "lookup": frozenset({"=", "!=", "in"}),
    "number": frozenset({"=", "!=", "<", ">", "<=", ">=", "in", "between"}),
    "datetime": frozenset({"=", "!=", "<", ">", "<=", ">=", "in", "between"}),
    "boolean": frozenset({"=", "!="}),
}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, dict):
        return "lookup"
    return "datetime" if isinstance(value, datetime) or _DATE.match(str(value)) else "text"


def known_columns(rows: Iterable[dict[str, Any]]) -> dict[str, str]:
    """The columns of a module's rows (:func:`record_row`) and their kinds (``text``, ``number``...)."""
    kinds = {"id": "number", "Created_Time": "datetime", "Modified_Time": "datetime", "Owner": "lookup"}
    for row in rows:
        for name, value in row.items():
            if name not in kinds and value is not None:
                kinds[name] = "number" if name.endswith(".id") else _kind_of(value)
    return kinds


def coql_answer(store: Store, scopes: frozenset[str], body: bytes) -> Response:
    """
    Answer ``POST /coql`` with ``body``.

    :raises ApiError: Zoho's error.
    """
    require(scopes, ("zohocrm.coql.read", "zohocrm.coql.all"), store.config)
    try:
        payload = json.loads(body or b"null")
    except ValueError:
        raise ApiError(400, "INVALID_DATA", "invalid data", {"expected_data_type": "jsonobject"}) from None
    text = payload.get("select_query") if isinstance(payload, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, "MANDATORY_NOT_FOUND", "required field not found", {"api_name": "select_query"})
    rows_of: dict[str, list[dict[str, Any]]] = {}

    def columns_of(name: str) -> dict[str, str] | None:
        module = store.resolve_module(name)
        if module is None or module in _NOT_QUERYABLE:
            return None
        if not module_allowed(store, scopes, module, "GET"):
            raise scope_mismatch(store.config)
        with store.lock:
            records = [r for r in store.records.values() if r.module == module]
        rows_of[name] = [record_row(r, store) for r in records]
        return known_columns(rows_of[name])

    query = _Parser(text, columns_of).parse()
    if query.limit <= 0:
        raise ApiError(400, "INVALID_DATA", "limit should be greater than 0", {"limit": query.limit})
    if query.limit > MAX_LIMIT:
        raise ApiError(400, "LIMIT_EXCEEDED", "limit exceeded", {"limit": MAX_LIMIT, "param_name": "limit"})
    if query.offset + query.limit > MAX_OFFSET:
        raise ApiError(400, "LIMIT_EXCEEDED", "limit exceeded", {"limit": MAX_OFFSET, "param_name": "offset"})
    rows = [row for row in rows_of[query.module] if query.where(row)]
    rows.sort(key=lambda row: _key("id", row["id"]))
    for name, descending in reversed(query.order):
        present = [row for row in rows if row.get(name) is not None]
        absent = [row for row in rows if row.get(name) is None]
        present.sort(key=lambda row, name=name: _key(name, row[name]), reverse=descending)  # type: ignore[misc]
        rows = present + absent
    shown = rows[query.offset : query.offset + query.limit]
    if not shown:
        return Response(status=204)
    data = [{name: row.get(name) for name in (*query.columns, "id")} for row in shown]
    more = len(rows) > query.offset + query.limit
    return json_response(200, {"data": data, "info": {"count": len(data), "more_records": more}})
