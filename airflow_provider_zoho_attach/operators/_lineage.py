"""
The OpenLineage side of every Zoho CRM task: its lineage record and the methods OpenLineage calls.

Kept apart from :mod:`airflow_provider_zoho_attach.utils.lineage` (the names and the record, which
it imports when a task runs) so that importing an operator module costs no more than this class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_zoho_attach.utils.lineage import LineageRecorder

__all__ = ["ZohoCRMLineageMixin"]


class ZohoCRMLineageMixin:
    """
    OpenLineage for a Zoho CRM task: its recorder, and the two methods the OpenLineage provider calls.

    The task notes what it read and wrote in :attr:`lineage` as it runs (an operator adds a line or
    two); ``get_openlineage_facets_on_complete`` (and on failure: what was done before it failed)
    turns that into datasets. Without the OpenLineage provider nothing calls them, and nothing of
    OpenLineage is ever imported.
    """

    hook: Any

    @property
    def lineage(self) -> LineageRecorder:
        """The task's lineage record, started on first use (when the task runs)."""
        recorder = self.__dict__.get("_zoho_lineage")
        if recorder is None:
            from airflow_provider_zoho_attach.utils.lineage import LineageRecorder

            recorder = LineageRecorder(self.hook.settings.api_domain)
            self.__dict__["_zoho_lineage"] = recorder
        return recorder

    def emit_asset_events(self, context: Any) -> None:
        """
        Add an asset event to each ``AssetAlias`` in the task's ``outlets`` for every asset it wrote.

        Static ``Asset`` outlets get their event from Airflow itself when the task succeeds; an
        alias gets the assets known only at run time (:meth:`LineageRecorder.written_assets`).

        :param context: the task's context (its ``outlet_events``).
        """
        recorder = self.__dict__.get("_zoho_lineage")
        if recorder is None or not getattr(self, "outlets", None):
            return
        from airflow.sdk import Asset, AssetAlias

        aliases = [outlet for outlet in self.outlets if isinstance(outlet, AssetAlias)]  # type: ignore[attr-defined]
        for uri, extra in recorder.written_assets() if aliases else []:
            for alias in aliases:
                context["outlet_events"][alias].add(Asset(uri), extra=extra)

    def plan_lineage(self, recorder: LineageRecorder) -> None:
        """
        Note the datasets known before the task runs (from its arguments), for the START event.

        Most datasets are known only once the task has listed the record; an operator that knows
        some in advance (a delete of given ids, a record's photo) notes them here.

        :param recorder: an empty recorder to note them in.
        """

    def get_openlineage_facets_on_start(self) -> Any:
        """The datasets the arguments name (most are only known on completion)."""
        from airflow_provider_zoho_attach.utils.lineage import LineageRecorder
        from airflow_provider_zoho_attach.utils.openlineage import operator_lineage

        if type(self).plan_lineage is ZohoCRMLineageMixin.plan_lineage:
            return operator_lineage(None)  # nothing known in advance: not even the connection is read
        recorder = LineageRecorder(self.hook.settings.api_domain)
        try:
            self.plan_lineage(recorder)
        except Exception:  # bad input: the task itself says so when it runs
            return operator_lineage(None)
        return operator_lineage(recorder)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """What the task read and wrote (on failure too: what it did before it failed)."""
        from airflow_provider_zoho_attach.utils.openlineage import operator_lineage

        return operator_lineage(self.__dict__.get("_zoho_lineage"))
