"""OpenLineage datasets and facets of a task's lineage record (imported only by the OpenLineage provider).

Nothing imports this module unless the OpenLineage provider asks an operator for its lineage, or
converts a ``zoho-crm`` asset: it needs ``openlineage-python`` and ``apache-airflow-providers-openlineage``
(the ``openlineage`` extra). Facets are OpenLineage's standard ones where one exists:

* ``datasetType`` (``FILE``), ``datasource`` (the namespace);
* ``version``: ``sha256:<hex digest>`` of the file's bytes (a content checksum, so a dataset's
  version changes exactly when its bytes do);
* ``inputStatistics`` / ``outputStatistics``: ``size`` in bytes and ``fileCount``;
* ``lifecycleStateChange``: ``DROP`` for what a task deleted;

and one of ours, ``zohoCrmFile`` (:class:`ZohoCRMFileDatasetFacet`), for the Zoho file's name, size,
checksum and media type, which no standard facet holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attr
from openlineage.client.event_v2 import Dataset, InputDataset, OutputDataset
from openlineage.client.facet_v2 import (
    DatasetFacet,
    dataset_type_dataset,
    dataset_version_dataset,
    datasource_dataset,
    input_statistics_input_dataset,
    lifecycle_state_change_dataset,
    output_statistics_output_dataset,
)

if TYPE_CHECKING:
    from airflow_provider_zoho_attach.utils.lineage import LineageDataset, LineageRecorder

__all__ = ["ZohoCRMFileDatasetFacet", "input_dataset", "operator_lineage", "output_dataset"]

#: Where the JSON schema of :class:`ZohoCRMFileDatasetFacet` is published (the docs ship it).
FACET_SCHEMA_URL = (
    "https://airflow-provider-zoho-attach.readthedocs.io/en/latest/_static/"
    "ZohoCRMFileDatasetFacet.json#/$defs/ZohoCRMFileDatasetFacet"
)


#: Kinds of Zoho dataset that hold many things (no ``FILE`` dataset type).
_SETS = ("records", "record_attachments", "record_fields")


@attr.define
class ZohoCRMFileDatasetFacet(DatasetFacet):
    """
    A Zoho CRM file: what Zoho calls it and holds of it.

    :param kind: ``attachment``, ``link``, ``photo``, ``field_file``; ``record_attachments``,
        ``record_fields``, ``records`` for sets of them.
    :param fileName: Zoho's ``File_Name`` (untrusted: the name the user uploaded).
    :param size: the size in bytes.
    :param sha256: the SHA-256 of the bytes, as the provider computed it while moving them.
    :param contentType: the media type Zoho served.
    """

    kind: str | None = attr.field(default=None)
    fileName: str | None = attr.field(default=None)  # OpenLineage's camelCase
    size: int | None = attr.field(default=None)
    sha256: str | None = attr.field(default=None)
    contentType: str | None = attr.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return FACET_SCHEMA_URL


def dataset_facets(dataset: LineageDataset) -> dict[str, Any]:
    """The dataset facets of one file (standard ones, and ``zohoCrmFile`` for a Zoho file)."""
    facets: dict[str, Any] = {
        "datasource": datasource_dataset.DatasourceDatasetFacet(name=dataset.namespace, uri=dataset.namespace)
    }
    if dataset.file_count is None and dataset.kind not in _SETS:
        facets["datasetType"] = dataset_type_dataset.DatasetTypeDatasetFacet(datasetType="FILE")
    if dataset.sha256:
        facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
            datasetVersion=f"sha256:{dataset.sha256}"
        )
    if dataset.is_zoho:
        facets["zohoCrmFile"] = ZohoCRMFileDatasetFacet(
            kind=dataset.kind,
            fileName=dataset.file_name,
            size=dataset.size,
            sha256=dataset.sha256,
            contentType=dataset.content_type,
        )
    if dataset.dropped:
        change = lifecycle_state_change_dataset
        facets["lifecycleStateChange"] = change.LifecycleStateChangeDatasetFacet(
            lifecycleStateChange=change.LifecycleStateChange.DROP,
            previousIdentifier=change.PreviousIdentifier(namespace=dataset.namespace, name=dataset.name),
        )
    return facets


def _statistics(dataset: LineageDataset) -> dict[str, Any]:
    if dataset.size is None and dataset.file_count is None:
        return {}
    return {"size": dataset.size, "fileCount": 1 if dataset.file_count is None else dataset.file_count}


def input_dataset(dataset: LineageDataset) -> InputDataset:
    """An OpenLineage input: the dataset's facets and, if its size is known, ``inputStatistics``."""
    stats = _statistics(dataset)
    if dataset.kind == "records" and dataset.file_count is not None:
        stats = {"rowCount": dataset.file_count}
    return InputDataset(
        namespace=dataset.namespace,
        name=dataset.name,
        facets=dataset_facets(dataset),
        inputFacets=(
            {"inputStatistics": input_statistics_input_dataset.InputStatisticsInputDatasetFacet(**stats)}
            if stats and not dataset.dropped
            else {}
        ),
    )


def output_dataset(dataset: LineageDataset) -> OutputDataset:
    """An OpenLineage output: the dataset's facets and, if its size is known, ``outputStatistics``."""
    stats = _statistics(dataset)
    return OutputDataset(
        namespace=dataset.namespace,
        name=dataset.name,
        facets=dataset_facets(dataset),
        outputFacets=(
            {"outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(**stats)}
            if stats
            else {}
        ),
    )


def plain_dataset(dataset: LineageDataset) -> Dataset:
    """A dataset with its facets only (what an asset converts to: no run-specific statistics)."""
    return Dataset(namespace=dataset.namespace, name=dataset.name, facets=dataset_facets(dataset))


def operator_lineage(recorder: LineageRecorder | None) -> Any:
    """
    The ``OperatorLineage`` of a task's record (empty for ``None``), each dataset once, in order.

    A dataset noted twice (a re-listed attachment) is reported once, with its first description.
    """
    from airflow.providers.openlineage.extractors import OperatorLineage

    if recorder is None:
        return OperatorLineage()

    def unique(datasets: list[LineageDataset]) -> list[LineageDataset]:
        seen: dict[tuple[str, str], LineageDataset] = {}
        for dataset in datasets:
            seen.setdefault((dataset.namespace, dataset.name), dataset)
        return list(seen.values())

    return OperatorLineage(
        inputs=[input_dataset(d) for d in unique(recorder.inputs)],
        outputs=[output_dataset(d) for d in unique(recorder.outputs)],
    )
