"""
Finding records, without the I/O: COQL queries and search criteria, checked before anything is sent,
and the paging decisions of :meth:`~airflow_provider_zoho_attach.hooks.zoho_crm.ZohoCRMHook.iter_records`.

* COQL (``POST /coql``): 2,000 rows a call at most. LIMIT/OFFSET walks only the first 100,000 rows,
  so :class:`CoqlPager` pages by key from the start: ``... and id > <last id> order by id asc limit
  2000``. One code path serves every size, and a page never skips or repeats a record when others
  are added or deleted between two calls (an offset would shift); a page costs the same credits.
* Search (``GET /{Module}/search``): 2,000 records in all at most. :class:`SearchPager` stops there
  and says so (:attr:`SearchPager.capped`); it never truncates silently.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from airflow_provider_zoho_attach.exceptions import ZohoCRMInvalidRequestError
from airflow_provider_zoho_attach.utils.validation import normalize_module, parse_time_argument

__all__ = [
    "COQL_PAGE_SIZE",
    "GET_RECORDS_PAGE_SIZE",
    "MAX_FIELDS",
    "MAX_SEARCH_RECORDS",
    "SEARCH_PAGE_SIZE",
    "CoqlPage",
    "CoqlPager",
    "SearchPager",
    "build_coql_query",
    "coql_error_hint",
    "modified_after",
    "search_error_hint",
    "validate_criteria",
    "validate_record_fields",
    "validate_where",
]

#: Rows a COQL call returns at most (its ``LIMIT``).
COQL_PAGE_SIZE = 2000
#: Records a search returns in all, over every page (past that Zoho answers ``LIMIT_REACHED``).
MAX_SEARCH_RECORDS = 2000
#: Records per search page.
SEARCH_PAGE_SIZE = 200
#: Records per Get Records page (its ``per_page`` at most).
GET_RECORDS_PAGE_SIZE = 200
#: Columns a COQL select takes at most.
MAX_FIELDS = 50

_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)?$")
_STRING = re.compile(r"'(?:[^'\\]|\\.)*'")
_CLAUSE_WORDS = re.compile(r"\b(limit|offset|order\s+by|group\s+by)\b", re.IGNORECASE)


def validate_record_fields(fields: Any) -> tuple[str, ...]:
    """
    Return the API names of the fields to read, ``id`` first, each once.

    :param fields: a field name or a list of them (``("id", "Deal_Name")``).
    :raises ZohoCRMInvalidRequestError: for an empty list, a name that is not an API name, or more
        than :data:`MAX_FIELDS`.
    """
    if isinstance(fields, str):
        fields = [part.strip() for part in fields.split(",")]
    if not isinstance(fields, Iterable):
        raise ZohoCRMInvalidRequestError.for_argument("fields", fields, "a list of field API names")
    names: list[str] = ["id"]
    for name in fields:
        if not isinstance(name, str) or not _FIELD_NAME.match(name):
            raise ZohoCRMInvalidRequestError.for_argument(
                "fields", name, "field API names such as 'Deal_Name' or 'Owner.name'"
            )
        if name not in names:
            names.append(name)
    if len(names) > MAX_FIELDS:
        raise ZohoCRMInvalidRequestError.for_argument(
            "fields", f"{len(names)} fields", f"at most {MAX_FIELDS} fields (a COQL limit)"
        )
    return tuple(names)


def validate_where(where: Any) -> str:
    """
    Return a COQL ``where`` clause (without the word ``where``) once it is safe to extend.

    The provider adds the paging (``and id > ...``, ``order by``, ``limit``), so the clause must be
    a condition only.

    :raises ZohoCRMInvalidRequestError: for an empty clause, a ``;``, an unclosed quote or
        bracket, or a ``limit``, ``offset``, ``order by`` or ``group by`` of its own.
    """
    if not isinstance(where, str) or not where.strip():
        raise ZohoCRMInvalidRequestError.for_argument(
            "where", where, "a COQL condition such as \"Stage = 'Closed Won'\""
        )
    text = where.strip()
    if text.lower().startswith("where "):
        text = text[6:].strip()
    bare = _STRING.sub("_", text)
    if "'" in bare:
        raise ZohoCRMInvalidRequestError.for_argument("where", where, "a condition whose quotes are closed")
    if ";" in bare:
        raise ZohoCRMInvalidRequestError.for_argument("where", where, "one condition, without ';'")
    found = _CLAUSE_WORDS.search(bare)
    if found:
        raise ZohoCRMInvalidRequestError.for_argument(
            "where",
            where,
            f"a condition only, without {found.group(1).lower()!r}",
            hint="Leave paging and order to the provider: it pages by id, 2,000 rows a call.",
        )
    if not _balanced(bare):
        raise ZohoCRMInvalidRequestError.for_argument("where", where, "a condition whose brackets match")
    return text


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def validate_criteria(criteria: Any) -> str:
    """
    Return a search criteria such as ``((Stage:equals:Closed Won)and(Amount:greater_than:100))``.

    :raises ZohoCRMInvalidRequestError: unless it is bracketed, with matching (unescaped) brackets.
    """
    if not isinstance(criteria, str) or not criteria.strip():
        raise ZohoCRMInvalidRequestError.for_argument(
            "criteria", criteria, "a search criteria such as '(Stage:equals:Closed Won)'"
        )
    text = criteria.strip()
    bare = text.replace("\\\\", "").replace("\\(", "").replace("\\)", "")
    if not (bare.startswith("(") and bare.endswith(")") and _balanced(bare)) or ":" not in bare:
        raise ZohoCRMInvalidRequestError.for_argument(
            "criteria", criteria, "bracketed conditions such as '((Field:equals:value)and(...))'"
        )
    return text


def _iso(when: datetime) -> str:
    return when.replace(microsecond=0).isoformat()


def modified_after(condition: str, since: datetime | None) -> str:
    """A COQL condition narrowed to the records modified after ``since`` (unchanged for ``None``)."""
    return condition if since is None else f"({condition}) and Modified_Time > '{_iso(since)}'"


def build_coql_query(
    module: str,
    fields: Iterable[str],
    where: str,
    *,
    after_id: str | None = None,
    limit: int = COQL_PAGE_SIZE,
) -> str:
    """
    The COQL query of one keyset page: ``select ... from Module where (where) and id > N order by id
    asc limit L``. The arguments are taken as checked (see :class:`CoqlPager`).
    """
    condition = where if after_id is None else f"({where}) and id > {after_id}"
    # The clause is the user's own COQL by design (checked by validate_where), run with their token.
    return f"select {', '.join(fields)} from {module} where {condition} order by id asc limit {limit}"  # noqa: S608


@dataclass(frozen=True)
class CoqlPage:
    """A decoded COQL answer: its rows, whether more match, and how many rows it holds."""

    records: list[dict[str, Any]]
    more: bool
    count: int


def parse_coql_page(payload: Any) -> CoqlPage:
    """Read ``{"data": [...], "info": {"count", "more_records"}}``; ``None`` (a 204) is no rows."""
    if not isinstance(payload, Mapping):
        return CoqlPage([], False, 0)
    data = payload.get("data")
    records = [dict(row) for row in data if isinstance(row, Mapping)] if isinstance(data, list) else []
    info = payload.get("info")
    info = info if isinstance(info, Mapping) else {}
    count = info.get("count")
    return CoqlPage(
        records, bool(info.get("more_records")), count if isinstance(count, int) else len(records)
    )


@dataclass
class CoqlPager:
    """
    The pages of a COQL selection, keyed on ``id``: build one with :meth:`create`, send
    :meth:`query`, give the answer to :meth:`advance`, until :attr:`finished`.
    """

    module: str
    fields: tuple[str, ...]
    where: str
    last_id: str | None = None
    finished: bool = False
    #: ``modified_since`` when it is the whole selection (no ``where``): see :meth:`get_records_first`.
    since: datetime | None = None

    @classmethod
    def create(
        cls, module: Any, *, where: Any = None, fields: Any = ("id",), modified_since: Any = None
    ) -> CoqlPager:
        """Check the arguments (nothing is sent); no ``where`` selects every record (``id is not null``)."""
        name = normalize_module(module)
        clause = "id is not null" if where is None else validate_where(where)
        since = parse_time_argument(modified_since, argument="modified_since")
        clause = modified_after(clause, since)
        return cls(name, validate_record_fields(fields), clause, since=since if where is None else None)

    def get_records_first(self) -> bool:
        """
        Whether to ask for the first page with Get Records and ``If-Modified-Since`` (then COQL).

        Only for "every record modified since" (no ``where``) with plain field names (Get Records
        takes no ``Owner.name``). By the credits (spec §6): a Get Records page of 200 costs 1, a
        COQL page of 2,000 costs 3. A nightly "what changed" selection is usually under 200
        records: 1 credit instead of 3, and 1 (a 304) when nothing changed. Past the first page,
        COQL (keyed on ``id``, from the last id seen) is cheaper per record: 3 per 2,000 against
        10. A selection of 201 to 2,000 records costs 1 more than COQL alone.
        """
        return self.since is not None and self.last_id is None and all("." not in f for f in self.fields)

    def get_records_call(self) -> tuple[dict[str, str], dict[str, str]]:
        """The query parameters and headers of that Get Records page (ids ascending, as COQL's)."""
        params = {
            "fields": ",".join(self.fields),
            "sort_by": "id",
            "sort_order": "asc",
            "per_page": str(GET_RECORDS_PAGE_SIZE),
        }
        return params, {"If-Modified-Since": _iso(self.since)} if self.since is not None else {}

    def query(self) -> str:
        """The query of the next page."""
        return build_coql_query(self.module, self.fields, self.where, after_id=self.last_id)

    def advance(self, payload: Any) -> list[dict[str, Any]]:
        """
        Take one answer: return its records, and remember where the next page starts.

        Sets :attr:`finished` when Zoho says no more rows match (or a page would not move forward).
        """
        page = parse_coql_page(payload)
        last = str(page.records[-1].get("id", "")) if page.records else ""
        if (
            not page.more
            or not last.isdigit()
            or (self.last_id is not None and int(last) <= int(self.last_id))
        ):
            # A page that does not move forward would loop for ever: stop rather than repeat.
            self.finished = True
        else:
            self.last_id = last
        return page.records


@dataclass
class SearchPager:
    """
    The pages of a search (``GET /{Module}/search?criteria=``), 2,000 records at most in all.

    When Zoho has more than it will serve, :attr:`capped` turns true: callers must say so.
    """

    module: str
    criteria: str
    fields: tuple[str, ...]
    page: int = 1
    capped: bool = False
    _seen: int = field(default=0, repr=False)

    @classmethod
    def create(
        cls, module: Any, *, criteria: Any, fields: Any = ("id",), modified_since: Any = None
    ) -> SearchPager:
        """Check the arguments (nothing is sent)."""
        name = normalize_module(module)
        text = validate_criteria(criteria)
        since = parse_time_argument(modified_since, argument="modified_since")
        if since is not None:
            text = f"({text}and(Modified_Time:greater_than:{_iso(since)}))"
        return cls(name, text, validate_record_fields(fields))

    def params(self) -> dict[str, str]:
        """The query parameters of the next page."""
        return {
            "criteria": self.criteria,
            "fields": ",".join(self.fields),
            "page": str(self.page),
            "per_page": str(SEARCH_PAGE_SIZE),
            "sort_by": "id",
            "sort_order": "asc",
        }

    def advance(self, payload: Any) -> tuple[list[dict[str, Any]], bool]:
        """
        Take one answer: its records, and whether to ask for another page.

        A page past the 2,000th record is never asked for: if more records match, :attr:`capped`
        is set instead.
        """
        page = parse_coql_page(payload)
        self._seen += len(page.records)
        more = page.more and bool(page.records)
        if more and self._seen >= MAX_SEARCH_RECORDS:
            self.capped = True
            more = False
        self.page += 1
        return page.records, more


def _one_line(text: str, limit: int = 120) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def coql_error_hint(code: str | None, details: Mapping[str, Any], query: str) -> str | None:
    """
    A hint for Zoho's answer to a COQL query, pointing at the column, the operator or the place
    where the query stops parsing (``None``: keep the code's generic hint).

    :param code: Zoho's error code.
    :param details: its ``details``.
    :param query: the query sent.
    """
    column, near = details.get("column_name"), details.get("near")
    if code == "SYNTAX_ERROR" and near is not None:
        where = f" (line {details['line']}, column {details['column']})" if "column" in details else ""
        return (
            f"The query stops parsing near {near!r}{where} in: {_one_line(query)}. Check quotes and "
            "brackets; more than two conditions need brackets, as in ((A and B) and C)."
        )
    if code == "INVALID_QUERY" and column is not None and "operator" in details:
        return (
            f"Operator {details['operator']!r} does not apply to {column!r}: text and picklists take "
            "= != like in; numbers and dates take = != < > <= >= in between (no like); booleans take =."
        )
    if code == "INVALID_QUERY" and column is not None:
        return (
            f"{column!r} is not a field API name of the module: use the API name (Setup > Developer "
            "Hub > APIs, or GET /settings/fields?module=...), not the label."
        )
    if code == "LIMIT_EXCEEDED":
        return (
            "COQL returns 2,000 rows a call, LIMIT plus OFFSET reach 100,000 rows at most and `in` "
            "takes 100 values; iter_records pages by id without these limits."
        )
    if code == "INVALID_MODULE":
        return "The module cannot be queried with COQL (Notes and Attachments cannot); check its API name."
    return None


def search_error_hint(code: str | None, criteria: str) -> str | None:
    """
    A hint for Zoho's answer to a search (``None``: keep the code's generic hint).

    :param code: Zoho's error code.
    :param criteria: the criteria sent.
    """
    if code in ("INVALID_QUERY", "INVALID_DATA"):
        return (
            f"Zoho refuses the criteria {_one_line(criteria)!r}: write ((Field:operator:value)and(...)) "
            "with field API names, at most 10 conditions, and escape ( ) , in values with a backslash."
        )
    if code == "LIMIT_REACHED":
        return "A search serves 2,000 records at most: select with a COQL where clause instead."
    return None
