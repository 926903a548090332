"""
The ``zoho-crm`` asset URI scheme: normaliser, factory and converter to OpenLineage.

Registered under ``asset-uris`` in the provider info, as common.io registers ``file``. An asset
names what lineage names (:mod:`airflow_provider_zoho_attach.utils.lineage`), under the org's API
host::

    # a record's attachments, one of them, a record's photo, the files of a file-upload field
    Asset("zoho-crm://www.zohoapis.eu/Deals/5725767000001234001/attachments")
    Asset("zoho-crm://www.zohoapis.eu/Deals/5725767000001234001/attachments/5725767000009876001")
    Asset("zoho-crm://www.zohoapis.eu/Contacts/5725767000001234001/photo")
    Asset("zoho-crm://www.zohoapis.eu/Deals/5725767000001234001/fields/Contract")

Airflow calls :func:`sanitize_uri` for every such asset, in DAG files too: module docs names
become API names (``deals`` -> ``Deals``), the host is lower-cased without its default port, and a
bad module, id or shape fails the DAG file with a message that says what is expected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_zoho_attach.utils.lineage import SCHEME, normalize_zoho_uri, parse_zoho_path, zoho_host

if TYPE_CHECKING:
    from urllib.parse import SplitResult

    from airflow.sdk import Asset

__all__ = ["convert_asset_to_openlineage", "create_asset", "sanitize_uri"]


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """
    Check and normalise a split ``zoho-crm`` URI (Airflow's asset URI handler).

    :param uri: the URI, already split, its scheme lower-cased and trailing slashes dropped.
    :raises ValueError: for a URI without host, with a query, or whose path names no Zoho resource.
    """
    return normalize_zoho_uri(uri)


def create_asset(
    *,
    host: str,
    path: str | None = None,
    module: str | None = None,
    record_id: str | int | None = None,
    attachment_id: str | int | None = None,
    extra: dict[str, Any] | None = None,
) -> Asset:
    """
    A ``zoho-crm`` asset (Airflow's asset factory for the scheme, which hook lineage calls).

    :param host: the org's API host or domain (``www.zohoapis.eu`` or ``https://www.zohoapis.eu``).
    :param path: the resource's path (``Deals/123/attachments/456``); or give the three below.
    :param module: the module (API or docs name).
    :param record_id: the record's id.
    :param attachment_id: an attachment's id (``None``: the record's attachments).
    :param extra: the asset's extra (the provider puts ``file_name``, ``size``, ``sha256`` there).
    """
    from airflow.sdk import Asset

    if path is None:
        if module is None or record_id is None:
            raise ValueError("create_asset needs a path, or a module and a record_id")
        path = "/".join(str(p) for p in (module, record_id, "attachments", attachment_id) if p is not None)
    resource = parse_zoho_path(path)
    return Asset(uri=f"{SCHEME}://{zoho_host(host)}/{resource.name}", extra=extra)


def convert_asset_to_openlineage(asset: Asset, lineage_context: Any) -> Any:
    """
    The OpenLineage dataset of a ``zoho-crm`` asset: namespace ``zoho-crm://<host>``, the path as name.

    What the asset's extra tells (``file_name``, ``size``, ``sha256``, ``content_type``) becomes
    the same facets an operator reports.

    :param asset: a normalised ``zoho-crm`` asset.
    :param lineage_context: the hook that reported it (unused: the URI says everything).
    """
    from urllib.parse import urlsplit

    from airflow_provider_zoho_attach.utils.lineage import LineageRecorder
    from airflow_provider_zoho_attach.utils.openlineage import plain_dataset

    parts = urlsplit(asset.uri)
    resource = parse_zoho_path(parts.path)
    extra = asset.extra or {}
    dataset = LineageRecorder(parts.netloc).zoho(resource, extra)
    return plain_dataset(dataset)
