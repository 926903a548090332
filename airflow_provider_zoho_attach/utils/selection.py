"""
Which records a task works on: explicit ids, a COQL ``where`` condition, a search ``criteria``, or all.

:class:`RecordSelection` is the one checked value that every record-level path goes through
(:class:`~airflow_provider_zoho_attach.operators.records.ZohoCRMFindRecordsOperator`, the mirror).
It is built and checked without any request (:meth:`RecordSelection.build`), then reads its rows
through a hook's public API (:meth:`RecordSelection.iter_rows`):

* ``records``: the ids as given, no call at all; with ``modified_since`` or fields besides ``id``,
  one COQL query per 100 ids (``id in (...)``, ``limit 100``: 1 credit each);
* ``where``: COQL keyset pages of 2,000 rows (3 credits each), any number of records;
* ``criteria``: search pages of 200 rows (1 credit each), 2,000 records at most: :attr:`capped`
  says when Zoho had more;
* none of them: every record of the module (COQL ``id is not null``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_zoho_attach.exceptions import ZohoCRMInvalidRequestError
from airflow_provider_zoho_attach.utils.records import (
    COQL_PAGE_SIZE,
    GET_RECORDS_PAGE_SIZE,
    SEARCH_PAGE_SIZE,
    CoqlPager,
    build_coql_query,
    modified_after,
    parse_coql_page,
    validate_criteria,
    validate_record_fields,
    validate_where,
)
from airflow_provider_zoho_attach.utils.validation import normalize_module, parse_time_argument, validate_ids

if TYPE_CHECKING:
    from airflow_provider_zoho_attach.hooks.zoho_crm import ZohoCRMHook

__all__ = ["IDS_PER_QUERY", "Paging", "RecordSelection", "SelectionKind", "SelectionRows"]

#: Ids per ``id in (...)`` query when explicit ids must be read (COQL takes 100 values in ``in``).
IDS_PER_QUERY = 100

SelectionKind = Literal["records", "where", "criteria", "all"]


@dataclass(frozen=True)
class Paging:
    """
    When reading a selection's rows sends a call, and what it costs.

    The first call returns up to ``first_rows`` rows for ``first_cost`` credits; each later one up
    to ``rows`` for ``cost``. A caller that keeps a credit budget asks before reading row 0,
    ``first_rows``, ``first_rows + rows``... (at an exact multiple no call may follow: it asks one
    call early, never one late).
    """

    first_rows: int
    first_cost: int
    rows: int
    cost: int

    def call_before(self, count: int) -> int | None:
        """The credits of the call that reading row ``count`` may send (``None``: no call)."""
        if count == 0:
            return self.first_cost
        if count >= self.first_rows and (count - self.first_rows) % self.rows == 0:
            return self.cost
        return None


def _blank(value: Any) -> bool:
    """What a template renders an unset argument to: ``None``, ``""``, or an empty list."""
    return value is None or (isinstance(value, str) and not value.strip()) or value in ([], ())


class SelectionRows(Iterator[dict[str, Any]]):
    """
    The rows of a selection, read as they are consumed: Zoho's ``{"id": ..., <fields>}`` objects.

    :attr:`capped` is true once a search stopped at Zoho's 2,000 records while more matched.
    """

    def __init__(self, rows: Iterator[dict[str, Any]], source: Any = None) -> None:
        self._rows = rows
        self._source = source

    @property
    def capped(self) -> bool:
        """Whether the selection is incomplete because a search hit Zoho's 2,000-record limit."""
        return bool(getattr(self._source, "capped", False))

    def __iter__(self) -> SelectionRows:
        return self

    def __next__(self) -> dict[str, Any]:
        return next(self._rows)


@dataclass(frozen=True)
class RecordSelection:
    """
    A checked choice of records of one module; build it with :meth:`build`.

    :param module: the module's API name.
    :param kind: ``"records"``, ``"where"``, ``"criteria"`` or ``"all"``.
    :param records: the explicit ids (``kind == "records"``).
    :param where: the COQL condition (``kind == "where"``).
    :param criteria: the search criteria (``kind == "criteria"``).
    :param modified_since: only records modified after this time (UTC-aware), or ``None``.
    """

    module: str
    kind: SelectionKind
    records: tuple[str, ...] = ()
    where: str | None = None
    criteria: str | None = None
    modified_since: datetime | None = None

    @classmethod
    def build(
        cls,
        module: Any,
        *,
        records: Any = None,
        where: Any = None,
        criteria: Any = None,
        modified_since: Any = None,
    ) -> RecordSelection:
        """
        Check the arguments (nothing is sent) and return the selection.

        :param module: the module API name (``Deals``) or docs name (``deals``).
        :param records: record ids: a list (ids, or ``{"record_id": ...}``/``{"id": ...}`` dicts
            such as the find operator's output) or a comma-separated string.
        :param where: a COQL condition such as ``"Stage = 'Closed Won'"``.
        :param criteria: a search criteria such as ``"(Stage:equals:Closed Won)"``.
        :param modified_since: a datetime or ISO-8601 string; only records modified after it.
        :raises ZohoCRMInvalidRequestError: more than one of ``records``, ``where`` and
            ``criteria``, or any of them malformed.
        """
        name = normalize_module(module)
        given = {
            k: v for k, v in (("records", records), ("where", where), ("criteria", criteria)) if not _blank(v)
        }
        if len(given) > 1:
            raise ZohoCRMInvalidRequestError(
                f"give at most one of records, where and criteria (got {', '.join(given)})",
                code="INVALID_ARGUMENT",
                details={"argument": sorted(given)[-1]},
                hint="Select records one way: explicit ids, a COQL where condition, or a search "
                "criteria (none: every record of the module); nothing was sent to Zoho.",
            )
        since = parse_time_argument(modified_since, argument="modified_since")  # aware: naive is UTC
        if "records" in given:
            return cls(name, "records", records=_record_ids(records, name), modified_since=since)
        if "where" in given:
            return cls(name, "where", where=validate_where(where), modified_since=since)
        if "criteria" in given:
            return cls(name, "criteria", criteria=validate_criteria(criteria), modified_since=since)
        return cls(name, "all", modified_since=since)

    def describe(self) -> str:
        """One readable line: what is selected."""
        since = f", modified since {self.modified_since.isoformat()}" if self.modified_since else ""
        what = {
            "records": f"{len(self.records)} record id(s)",
            "where": f"where {self.where}",
            "criteria": f"criteria {self.criteria}",
            "all": "every record",
        }[self.kind]
        return f"{self.module}: {what}{since}"

    @property
    def complete(self) -> bool:
        """Whether the rows are the whole selection rather than the records changed lately."""
        return self.modified_since is None

    def paging(self, fields: Any = ("id",)) -> Paging:
        """
        The calls that reading the rows sends (see :class:`Paging`): COQL pages of 2,000 (3
        credits), search pages of 200 (1), COQL queries of 100 explicit ids (1), and for "every
        record modified since" a first Get Records page of 200 (1 credit) before the COQL pages.
        """
        if self.kind == "criteria":
            return Paging(SEARCH_PAGE_SIZE, 1, SEARCH_PAGE_SIZE, 1)
        if self.kind == "records":
            return Paging(IDS_PER_QUERY, 1, IDS_PER_QUERY, 1)
        pager = CoqlPager.create(
            self.module, where=self.where, fields=fields, modified_since=self.modified_since
        )
        if pager.get_records_first():
            return Paging(GET_RECORDS_PAGE_SIZE, 1, COQL_PAGE_SIZE, 3)
        return Paging(COQL_PAGE_SIZE, 3, COQL_PAGE_SIZE, 3)

    def needs_calls(self, fields: Any = ("id",)) -> bool:
        """Whether reading the rows sends any request (explicit ids with only ``id``: none)."""
        return (
            self.kind != "records"
            or self.modified_since is not None
            or validate_record_fields(fields) != ("id",)
        )

    def iter_rows(self, hook: ZohoCRMHook, *, fields: Any = ("id",)) -> SelectionRows:
        """
        Read the selected records through ``hook``, lazily.

        :param hook: the hook that sends the calls (its credits are counted there).
        :param fields: the field API names to read besides ``id``.
        :return: Zoho's record objects (``{"id": ...}`` at least), in ``id`` order except for
            explicit ids (their given order).
        """
        checked = validate_record_fields(fields)
        if self.kind == "records":
            if not self.needs_calls(checked):
                return SelectionRows(iter([{"id": ident} for ident in self.records]))
            return SelectionRows(self._read_ids(hook, checked))
        found = hook.iter_records(
            self.module,
            where=self.where,
            criteria=self.criteria,
            fields=checked,
            modified_since=self.modified_since,
        )
        return SelectionRows(found, found)

    def _read_ids(self, hook: ZohoCRMHook, fields: tuple[str, ...]) -> Iterator[dict[str, Any]]:
        """Explicit ids read by COQL, 100 a query: their fields, and the ``modified_since`` filter."""
        for start in range(0, len(self.records), IDS_PER_QUERY):
            chunk = self.records[start : start + IDS_PER_QUERY]
            condition = modified_after(f"id in ({', '.join(chunk)})", self.modified_since)
            query = build_coql_query(self.module, fields, condition, limit=len(chunk))
            yield from parse_coql_page(hook.coql(query)).records


def _record_ids(records: Any, module: str) -> tuple[str, ...]:
    """
    Explicit record ids from ids, a comma string, or dicts with ``record_id`` (or ``id``).

    A dict naming another module (a find task of another module) is refused: its ids would be
    looked up in the wrong module.
    """
    if isinstance(records, list | tuple):
        for item in records:
            other = item.get("module") if isinstance(item, dict) else None
            if other is not None and normalize_module(other) != module:
                raise ZohoCRMInvalidRequestError.for_argument(
                    "records", item, f"records of {module}, not of {other}"
                )
        records = [
            item.get("record_id", item.get("id")) if isinstance(item, dict) else item for item in records
        ]
    return tuple(validate_ids(records, argument="records"))
