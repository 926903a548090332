"""The sync hook's record finding: :meth:`coql` and :meth:`iter_records` (COQL keyset pages or search).

The queries, the checks and the paging decisions are in
:mod:`airflow_provider_zoho_attach.utils.records`; this module only sends them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from airflow_provider_zoho_attach.exceptions import ZohoCRMError, ZohoCRMInvalidRequestError
from airflow_provider_zoho_attach.hooks._base import JsonCall
from airflow_provider_zoho_attach.hooks._sync_transport import _SyncTransport
from airflow_provider_zoho_attach.utils.records import (
    MAX_SEARCH_RECORDS,
    CoqlPager,
    SearchPager,
    coql_error_hint,
    search_error_hint,
)

_JSON = {"Content-Type": "application/json"}


class RecordIterator(Iterator[dict[str, Any]]):
    """
    The records :meth:`ZohoCRMHook.iter_records` finds, fetched page by page as they are read.

    :attr:`capped` turns true once a search stopped at Zoho's 2,000-record limit while more records
    matched (a warning is logged too): the selection is then incomplete.
    """

    def __init__(self, pages: Iterator[dict[str, Any]], search: SearchPager | None = None) -> None:
        self._pages = pages
        self._search = search

    @property
    def capped(self) -> bool:
        """Whether a search hit Zoho's 2,000-record limit with more records matching."""
        return self._search is not None and self._search.capped

    def __iter__(self) -> RecordIterator:
        return self

    def __next__(self) -> dict[str, Any]:
        return next(self._pages)


class _RecordsCore(_SyncTransport):
    """What :class:`~airflow_provider_zoho_attach.hooks.zoho_crm.ZohoCRMHook` does to find records."""

    def coql(self, query: str) -> dict[str, Any]:
        """
        Run one COQL query (``POST /coql``, scope ``ZohoCRM.coql.READ``) and return Zoho's answer.

        One call, no paging: a query returns 2,000 rows at most (its ``LIMIT``; 200 by default). To
        walk every matching record, use :meth:`iter_records`.

        :param query: the whole query, such as ``select id, Stage from Deals where Stage = 'Won'``.
        :return: ``{"data": [...], "info": {"count", "more_records"}}``; no rows gives
            ``{"data": [], "info": {"count": 0, "more_records": False}}``.
        :raises ZohoCRMInvalidRequestError: an empty query (before anything is sent), or Zoho's
            ``SYNTAX_ERROR``, ``INVALID_QUERY``, ``LIMIT_EXCEEDED``... in one line with its details.
        """
        if not isinstance(query, str) or not query.strip():
            raise ZohoCRMInvalidRequestError.for_argument("query", query, "a COQL select query")
        call = JsonCall(
            "POST",
            "coql",
            "run a COQL query",
            body=json.dumps({"select_query": query.strip()}).encode(),
            headers=_JSON,
            empty_ok=True,
        )
        try:
            payload = self._call_json(call)
        except ZohoCRMInvalidRequestError as error:
            raise _with_hint(error, coql_error_hint(error.code, error.details, query)) from error
        if not isinstance(payload, dict):
            return {"data": [], "info": {"count": 0, "more_records": False}}
        return payload

    def iter_records(
        self,
        module: str,
        *,
        where: str | None = None,
        criteria: str | None = None,
        fields: Any = ("id",),
        modified_since: Any = None,
    ) -> RecordIterator:
        """
        Yield the records of a module that a COQL ``where`` clause or a search ``criteria`` selects.

        * ``where``: COQL pages of 2,000 rows keyed on ``id`` (``... and id > <last> order by id
          asc``), with no limit on the number of records;
        * ``criteria``: search pages (``GET /{module}/search``, scopes ``ZohoSearch.securesearch.READ``
          and the module's read): Zoho serves 2,000 records at most. When more match, a warning is
          logged and the iterator's ``capped`` is true: never a silent truncation;
        * neither: every record (``where id is not null``); with ``modified_since`` only, the first
          page comes from Get Records (``GET /{module}`` with ``If-Modified-Since``: 1 credit for up
          to 200 records, a 304 when nothing changed) and the rest from COQL, which costs less
          per record past that (see
          :meth:`~airflow_provider_zoho_attach.utils.records.CoqlPager.get_records_first`).

        Everything is checked before the first request. Records are Zoho's JSON objects: ``id`` and
        the ``fields`` asked for.

        :param module: the module API name (``Deals``) or its docs name (``deals``).
        :param where: a COQL condition, without ``limit``, ``offset``, ``order by`` or ``;``.
        :param criteria: a search criteria such as ``((Stage:equals:Closed Won)and(...))``.
        :param fields: the field API names to read (``id`` is always read).
        :param modified_since: only records modified after this time (a ``datetime`` or ISO string),
            added to the condition (``Modified_Time >``) or criteria (``greater_than``).
        :raises ZohoCRMInvalidRequestError: bad arguments, or both ``where`` and ``criteria``; when
            reading, Zoho's refusal of the query or criteria, in one line with a hint.
        """
        if where is not None and criteria is not None:
            raise ZohoCRMInvalidRequestError.for_argument(
                "criteria", criteria, "either where or criteria, not both"
            )
        if criteria is not None:
            search = SearchPager.create(
                module, criteria=criteria, fields=fields, modified_since=modified_since
            )
            return RecordIterator(self._search_pages(search), search)
        pager = CoqlPager.create(module, where=where, fields=fields, modified_since=modified_since)
        return RecordIterator(self._coql_pages(pager))

    def _coql_pages(self, pager: CoqlPager) -> Iterator[dict[str, Any]]:
        if pager.get_records_first():
            params, headers = pager.get_records_call()
            payload = self._call_json(
                JsonCall(
                    "GET",
                    pager.module,
                    f"list {pager.module} records modified since",
                    params=params,
                    headers=headers,
                    empty_ok=True,  # 304: nothing was modified since
                )
            )
            yield from pager.advance(payload)
        while not pager.finished:
            yield from pager.advance(self.coql(pager.query()))

    def _search_pages(self, search: SearchPager) -> Iterator[dict[str, Any]]:
        more = True
        while more:
            call = JsonCall(
                "GET",
                f"{search.module}/search",
                f"search {search.module}",
                params=search.params(),
                empty_ok=True,
            )
            try:
                payload = self._call_json(call)
            except ZohoCRMInvalidRequestError as error:
                raise _with_hint(error, search_error_hint(error.code, search.criteria)) from error
            records, more = search.advance(payload)
            yield from records
        if search.capped:
            self.log.warning(
                "The search of %s stopped at Zoho's limit of %d records, and more match: the selection "
                "is incomplete. Narrow the criteria, or select with a COQL where clause (no such limit).",
                search.module,
                MAX_SEARCH_RECORDS,
            )


def _with_hint(error: ZohoCRMError, hint: str | None) -> ZohoCRMError:
    """The same error with a hint about this query (the error itself when there is none)."""
    if hint is None:
        return error
    return type(error)(
        error.message,
        code=error.code,
        status_code=error.status_code,
        details=error.details,
        hint=hint,
        operation=error.operation,
    )
