"""Finding Zoho CRM records, for the record-level operators to map over.

:class:`ZohoCRMFindRecordsOperator` returns one ``{"module", "record_id"}`` dict per record found:
exactly the arguments of the record-level operators, so that
``ZohoCRMDownloadAttachmentsOperator.partial(...).expand_kwargs(find.output)`` runs one task per
record. (``expand_kwargs`` passes every key as an argument: a key the operator does not take fails
the mapped task, hence no other keys by default.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_zoho_attach.operators.base import ZohoCRMHookMixin
from airflow_provider_zoho_attach.utils.settings import DEFAULT_CONN_ID

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["ZohoCRMFindRecordsOperator"]

_OUTPUTS = ("kwargs", "records")


class ZohoCRMFindRecordsOperator(ZohoCRMHookMixin, BaseOperator):
    """
    Find the records of a module: explicit ids, a COQL ``where`` clause or a search ``criteria``.

    With none of them, every record of the module is found. All three go through one checked
    :class:`~airflow_provider_zoho_attach.utils.selection.RecordSelection`. COQL walks any number
    of records (2,000 per call, keyed on ``id``); a search stops at Zoho's 2,000 records, and the
    task then logs a warning saying the selection is incomplete (use ``where`` for more).

    .. seealso::
        :ref:`howto/operator:ZohoCRMFindRecordsOperator`

    :param module: the module API name (``Deals``) or its docs name (``deals``). (templated)
    :param records: explicit record ids: a list, a comma-separated string, or the output of another
        find task; not with ``where`` or ``criteria``. Without ``modified_since`` and other
        ``fields`` no call is sent; otherwise one COQL query per 100 ids. (templated)
    :param where: a COQL condition, e.g. ``"Stage = 'Closed Won'"``, without ``limit``,
        ``offset``, ``order by`` or ``;``. (templated)
    :param criteria: a search criteria, e.g. ``"((Stage:equals:Closed Won)and(Amount:greater_than:1000))"``;
        not with ``where``. (templated)
    :param fields: the field API names to read (``id`` always). (templated)
    :param modified_since: only records modified after this time: a datetime or an ISO-8601 string
        such as ``"{{ data_interval_start }}"``. (templated)
    :param max_records: return at most this many records (in ``id`` order for COQL). (templated)
    :param output_format: ``"kwargs"`` (default): ``[{"module", "record_id"}, ...]``, ready for
        ``.expand_kwargs``; ``"records"``: the same with the ``fields`` read besides (not for
        ``expand_kwargs``, which would pass them as arguments).
    :param zoho_conn_id: the ``zoho_crm`` connection. (templated)
    :return: a list of dicts, one per record found.
    """

    template_fields: Sequence[str] = (
        "zoho_conn_id",
        "module",
        "records",
        "where",
        "criteria",
        "fields",
        "modified_since",
        "max_records",
    )

    def __init__(
        self,
        *,
        module: str,
        records: Any = None,
        where: str | None = None,
        criteria: str | None = None,
        fields: Sequence[str] | str = ("id",),
        modified_since: Any = None,
        max_records: int | str | None = None,
        output_format: str = "kwargs",
        zoho_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if output_format not in _OUTPUTS:
            raise ValueError(f"output_format must be one of {_OUTPUTS}, not {output_format!r}")
        self.module = module
        self.records = records
        self.where = where
        self.criteria = criteria
        self.fields = fields
        self.modified_since = modified_since
        self.max_records = max_records
        self.output_format = output_format
        self.zoho_conn_id = zoho_conn_id

    def execute(self, context: Context) -> list[dict[str, Any]]:
        from airflow_provider_zoho_attach.utils.lineage import ZohoResource
        from airflow_provider_zoho_attach.utils.selection import RecordSelection
        from airflow_provider_zoho_attach.utils.validation import validate_count

        limit = validate_count(self.max_records, argument="max_records", minimum=0, optional=True)
        selection = RecordSelection.build(
            self.module,
            records=self.records,
            where=self.where,
            criteria=self.criteria,
            modified_since=self.modified_since,
        )
        module = selection.module
        found = selection.iter_rows(self.hook, fields=self.fields)
        results: list[dict[str, Any]] = []
        for record in found:
            if limit is not None and len(results) >= limit:
                self.log.info("Stopped at max_records=%d: more records match", limit)
                break
            extra = {} if self.output_format == "kwargs" else {k: v for k, v in record.items() if k != "id"}
            results.append({**extra, "module": module, "record_id": str(record["id"])})
        self.log.info("Found %d record(s) in %s", len(results), module)
        self.lineage.read(self.lineage.zoho(ZohoResource(module, kind="records"), file_count=len(results)))
        return results
