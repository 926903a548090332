"""What a task read and wrote, named for lineage: Zoho CRM files, local files and object storage.

Sans-I/O and free of OpenLineage: this module only names things and keeps a task's record of them.
:mod:`~airflow_provider_zoho_attach.utils.openlineage` turns that record into OpenLineage datasets,
and is imported only when the OpenLineage provider asks for them, so a deployment without it pays
nothing. The names:

* a Zoho CRM file is a dataset in namespace ``zoho-crm://<api host>`` (``zoho-crm://www.zohoapis.eu``)
  named ``<module>/<record_id>/attachments/<attachment_id>``; a record's photo is
  ``<module>/<record_id>/photo``, a file of a file-upload field
  ``<module>/<record_id>/fields/<field>/<item id>``, the records of a module ``<module>``;
* a local file is ``file://<worker host>`` + its absolute path (OpenLineage's remote file naming:
  a path means nothing without the machine it is on);
* an object is ``<scheme>://<bucket>`` + its key (``s3://bucket`` + ``zoho/Deals/report.pdf``),
  as Airflow's ``ObjectStoragePath.namespace`` and the S3 and GCS operators name them.

The same resources are Airflow assets under the ``zoho-crm`` URI scheme
(:mod:`airflow_provider_zoho_attach.assets.zoho_crm`): ``zoho-crm://<api host>/<dataset name>``.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, urlsplit

__all__ = [
    "SCHEME",
    "LineageDataset",
    "LineageRecorder",
    "ZohoResource",
    "file_location",
    "parse_zoho_path",
    "report_hook_lineage",
    "report_transfer",
    "zoho_host",
    "zoho_namespace",
]

#: The URI scheme of Zoho CRM datasets and assets.
SCHEME = "zoho-crm"
_DEFAULT_PORTS = {"https": "443", "http": "80"}
#: Object-storage schemes that name the same store under another spelling (as OpenLineage does).
_SCHEME_ALIASES = {"gcs": "gs", "s3a": "s3", "s3n": "s3"}
#: A field's API name (field names are case-sensitive: kept as given).
_FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,99}$")


def zoho_host(api_domain: str) -> str:
    """
    The host part of a Zoho CRM namespace: the API domain's host, lower-cased, without a default port.

    :param api_domain: the connection's API domain (``https://www.zohoapis.eu``), or a bare host.
    """
    text = str(api_domain).strip()
    parts = urlsplit(text if "://" in text else f"https://{text}")
    host = parts.netloc.rpartition("@")[2].lower()
    name, _, port = host.partition(":")
    if not name:
        raise ValueError(f"a Zoho CRM API host is needed, not {api_domain!r}")
    if port and port != _DEFAULT_PORTS.get(parts.scheme.lower()):
        return f"{name}:{port}"
    return name


def zoho_namespace(api_domain: str) -> str:
    """The OpenLineage namespace of a Zoho org's files: ``zoho-crm://<api host>``."""
    return f"{SCHEME}://{zoho_host(api_domain)}"


@dataclass(frozen=True)
class ZohoResource:
    """
    A Zoho CRM thing that lineage and assets name: a module's records, or a record's files.

    :param module: the module's API name.
    :param record_id: the record's id (``None``: the module's records).
    :param kind: ``"records"``, ``"attachments"``, ``"photo"`` or ``"fields"``.
    :param item_id: the attachment's or field item's id (``None``: all of the record's).
    :param field: the file-upload field's API name (``kind="fields"``).
    """

    module: str
    record_id: str | None = None
    kind: str = "attachments"
    item_id: str | None = None
    field: str | None = None

    @classmethod
    def of(cls, result: Mapping[str, Any], kind: str | None = None) -> ZohoResource:
        """
        The Zoho file a hook or operator result is about.

        :param result: ``{"module", "record_id", "attachment_id"}``, with ``field`` for a field's file.
        :param kind: ``"photo"`` for a record's photo (its result has no id).
        """
        module, record_id = str(result["module"]), str(result["record_id"])
        if kind == "photo":
            return cls(module, record_id, "photo")
        ident = result.get("attachment_id")
        item = None if ident is None else str(ident)
        if result.get("field"):
            return cls(module, record_id, "fields", item, field=str(result["field"]))
        return cls(module, record_id, "attachments", item)

    @property
    def name(self) -> str:
        """The dataset name (the asset URI's path without its leading ``/``)."""
        if self.kind == "records":
            return self.module
        base = f"{self.module}/{self.record_id}"
        if self.kind == "photo":
            return f"{base}/photo"
        if self.kind == "fields":
            return "/".join(p for p in (base, "fields", self.field, self.item_id) if p)
        return f"{base}/attachments/{self.item_id}" if self.item_id else f"{base}/attachments"


def parse_zoho_path(path: str) -> ZohoResource:
    """
    Check and normalise the path of a ``zoho-crm`` URI (module names become API names).

    :param path: ``Deals/123/attachments``, ``deals/123/attachments/456``, ``Contacts/9/photo``,
        ``Deals/123/fields/Contract[/789]`` or ``Deals`` (a leading ``/`` is allowed).
    :raises ValueError: for anything else, saying what was expected.
    """
    from airflow_provider_zoho_attach.exceptions import ZohoCRMInvalidRequestError
    from airflow_provider_zoho_attach.utils.validation import normalize_module, validate_id

    parts = path.strip("/").split("/")
    expected = (
        "a zoho-crm URI path <Module>[/<record_id>/attachments[/<attachment_id>] | /<record_id>/photo | "
        "/<record_id>/fields/<Field>[/<item_id>]], e.g. zoho-crm://www.zohoapis.com/Deals/123/attachments"
    )
    try:
        module = normalize_module(parts[0])
        if len(parts) == 1:
            return ZohoResource(module, kind="records")
        record_id = validate_id(parts[1])
        kind, rest = (parts[2], parts[3:]) if len(parts) > 2 else ("", [])
        if kind == "attachments" and len(rest) <= 1:
            item = validate_id(rest[0], argument="attachment_id") if rest else None
            return ZohoResource(module, record_id, "attachments", item)
        if kind == "photo" and not rest:
            return ZohoResource(module, record_id, "photo")
        if kind == "fields" and 1 <= len(rest) <= 2:
            if not _FIELD.match(rest[0]):
                raise ValueError(f"{path!r} is not {expected}: {rest[0]!r} is no field API name")
            item = validate_id(rest[1], argument="item_id") if len(rest) == 2 else None
            return ZohoResource(module, record_id, "fields", item, field=rest[0])
    except ZohoCRMInvalidRequestError as error:
        raise ValueError(f"{path!r} is not {expected}: {error.message}") from None
    raise ValueError(f"{path!r} is not {expected}")


def normalize_zoho_uri(parts: SplitResult) -> SplitResult:
    """
    Normalise a split ``zoho-crm`` URI: lower-case host without default port, API module names.

    :raises ValueError: without a host, with a query, or with a path :func:`parse_zoho_path` refuses.
    """
    if not parts.netloc:
        raise ValueError(
            f"a zoho-crm URI names the org's API host: zoho-crm://www.zohoapis.com/..., not {parts.geturl()}"
        )
    if parts.query:
        raise ValueError(f"a zoho-crm URI takes no query ({parts.query!r})")
    resource = parse_zoho_path(parts.path)
    return parts._replace(netloc=zoho_host(parts.netloc), path=f"/{resource.name}")


def file_location(location: Any, *, hostname: str | None = None) -> tuple[str, str]:
    """
    The namespace and name of a local file or an object.

    :param location: a local path, a ``file://`` URL, an object-storage URL or an ``ObjectStoragePath``.
    :param hostname: the machine a local file is on (default: this worker, as Airflow names it).
    :return: ``("file://<host>", "/abs/path")`` or ``("s3://bucket", "key")``.
    """
    text = str(location)
    if "://" in text:
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        if scheme != "file":
            bucket = parts.netloc.rpartition("@")[2]  # a connection id in the URL is no part of the name
            return f"{_SCHEME_ALIASES.get(scheme, scheme)}://{bucket}", parts.path.lstrip("/")
        text = parts.path
    return f"file://{hostname or local_hostname()}", os.path.abspath(os.path.expanduser(text))


def local_hostname() -> str:
    """This machine's name as Airflow records it for a task (``[core] hostname_callable``)."""
    try:
        from airflow.sdk.api.client import get_hostname
    except ImportError:  # pragma: no cover - Airflow moved it
        import socket

        return socket.getfqdn()
    return str(get_hostname())


@dataclass(frozen=True)
class LineageDataset:
    """
    One dataset a task read or wrote, before it becomes an OpenLineage dataset.

    :param namespace: ``zoho-crm://host``, ``file://host``, ``s3://bucket``...
    :param name: the dataset's name in its namespace.
    :param file_name: the file's name (Zoho's ``File_Name`` for a Zoho file).
    :param size: its size in bytes, if known.
    :param sha256: the SHA-256 of its bytes, if known.
    :param content_type: its media type, if known.
    :param kind: for a Zoho file: ``attachment``, ``link``, ``photo``, ``field_file``; for a set of
        them ``record_attachments``, ``record_fields``; a module's records: ``records``.
    :param dropped: it was deleted by the task (a ``DROP`` lifecycle change).
    :param file_count: for a directory or a module: how many files or records were read or written.
    """

    namespace: str
    name: str
    file_name: str | None = None
    size: int | None = None
    sha256: str | None = None
    content_type: str | None = None
    kind: str | None = None
    dropped: bool = False
    file_count: int | None = None

    @property
    def is_zoho(self) -> bool:
        """Whether this is a Zoho CRM dataset."""
        return self.namespace.startswith(f"{SCHEME}://")

    @property
    def uri(self) -> str:
        """The Airflow asset URI of this dataset."""
        if self.namespace.startswith("file://"):
            return f"file://{self.name}"
        return f"{self.namespace}/{self.name}"


def _int(value: Any) -> int | None:
    with contextlib.suppress(TypeError, ValueError):
        return int(value)
    return None


def _described(result: Mapping[str, Any]) -> dict[str, Any]:
    """What a hook or operator result tells of a file: its name, size, SHA-256 and media type."""
    return {
        "file_name": result.get("file_name"),
        "size": _int(result.get("size")),
        "sha256": result.get("sha256"),
        "content_type": result.get("content_type"),
    }


@dataclass
class LineageRecorder:
    """
    What a task read (``inputs``) and wrote (``outputs``), noted as it goes (threads included).

    :param api_domain: the Zoho org's API domain (its namespace).
    """

    api_domain: str
    inputs: list[LineageDataset] = field(default_factory=list)
    outputs: list[LineageDataset] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __deepcopy__(self, memo: dict[int, Any]) -> LineageRecorder:
        # Airflow deep-copies operators (a lock cannot be copied; the datasets are immutable).
        return LineageRecorder(self.api_domain, list(self.inputs), list(self.outputs))

    @property
    def namespace(self) -> str:
        """The org's namespace, ``zoho-crm://<api host>``."""
        return zoho_namespace(self.api_domain)

    def zoho(
        self, resource: ZohoResource, result: Mapping[str, Any] | None = None, **extra: Any
    ) -> LineageDataset:
        """A Zoho dataset, described by a hook or operator result (``file_name``, ``size``, ``sha256``)."""
        result = result or {}
        kind = {"attachments": "attachment", "fields": "field_file"}.get(resource.kind, resource.kind)
        if resource.item_id is None and resource.kind in ("attachments", "fields"):
            kind = f"record_{resource.kind}"  # a record's files, not one file
        if result.get("link_url"):
            kind = "link"
        return LineageDataset(
            self.namespace, resource.name, **_described(result), kind=extra.pop("kind", kind), **extra
        )

    def file(self, location: Any, result: Mapping[str, Any] | None = None, **extra: Any) -> LineageDataset:
        """A local file or an object (the other end of a transfer), with what ``result`` tells of it."""
        namespace, name = file_location(location)
        return LineageDataset(namespace, name, **_described(result or {}), **extra)

    def read(self, *datasets: LineageDataset) -> None:
        """Note datasets the task read."""
        with self._lock:
            self.inputs.extend(datasets)

    def wrote(self, *datasets: LineageDataset) -> None:
        """Note datasets the task wrote (or deleted)."""
        with self._lock:
            self.outputs.extend(datasets)

    def transfer(self, source: LineageDataset, target: LineageDataset) -> None:
        """Note one file copied from ``source`` to ``target``."""
        self.read(source)
        self.wrote(target)

    def downloaded(self, result: Mapping[str, Any], *, kind: str | None = None) -> None:
        """
        Note a hook's download result: its Zoho file read, its ``path`` written.

        :param result: ``{"module", "record_id", "attachment_id", "path", "size", "sha256"...}``
            (``field`` for a field's file).
        :param kind: ``"photo"`` for a record's photo.
        """
        self.transfer(self.zoho(ZohoResource.of(result, kind), result), self.file(result["path"], result))

    def uploaded(self, result: Mapping[str, Any], source: Any = None, *, kind: str | None = None) -> None:
        """
        Note a hook's upload result: its source read (none for a link), its Zoho file written.

        :param result: ``{"module", "record_id", "attachment_id", "file_name", "size"...}``.
        :param source: the local path or URL uploaded.
        :param kind: ``"photo"`` for a record's photo.
        """
        target = self.zoho(ZohoResource.of(result, kind), result)
        if source is None or result.get("link_url"):
            self.wrote(target)
        else:
            self.transfer(self.file(source, result), target)

    def deleted(self, result: Mapping[str, Any], *, kind: str | None = None) -> None:
        """
        Note a Zoho file the task deleted: an input with a ``DROP`` lifecycle change.

        An input, as Airflow's S3 and GCS delete operators report what they delete.
        """
        self.read(self.zoho(ZohoResource.of(result, kind), result, dropped=True))

    def listed(self, module: str, record_id: str, records: Iterable[Mapping[str, Any]]) -> None:
        """Note attachment records a task read from Zoho's listing (``id``, ``File_Name``, ``Size``)."""
        self.read(
            *(
                self.zoho(
                    ZohoResource(module, record_id, "attachments", str(record["id"])),
                    {"file_name": record.get("File_Name"), "size": record.get("Size")},
                    kind="link" if record.get("$type") == "Link URL" else "attachment",
                )
                for record in records
            )
        )

    def written_assets(self) -> list[tuple[str, dict[str, Any]]]:
        """
        The Airflow assets the task wrote, with the extra of their asset events.

        A Zoho file counts for its record: ``zoho-crm://<host>/<module>/<id>/attachments`` (or
        ``.../photo``, ``.../fields/<field>``), the asset a watcher watches, once with the ids of
        every file written there; a local file or an object is its own asset.
        """
        assets: dict[str, dict[str, Any]] = {}
        seen: set[tuple[str, str]] = set()
        for dataset in self.outputs:
            if (dataset.namespace, dataset.name) in seen:
                continue
            seen.add((dataset.namespace, dataset.name))
            if not dataset.is_zoho:
                facts = {"size": dataset.size, "sha256": dataset.sha256, "files": dataset.file_count}
                assets[dataset.uri] = {k: v for k, v in facts.items() if v is not None}
                continue
            parts = dataset.name.split("/")
            record = "/".join(parts[: 4 if parts[2:3] == ["fields"] else 3])
            entry = assets.setdefault(f"{dataset.namespace}/{record}", {"attachment_ids": [], "bytes": 0})
            if len(parts) > len(record.split("/")):
                entry["attachment_ids"].append(parts[-1])
            entry["bytes"] += dataset.size or 0
        return list(assets.items())

    def mirrored(
        self, destination: Any, *, files: int, size: int, records: Iterable[tuple[str, str]] = ()
    ) -> None:
        """
        Note a mirror run: the records it read, and its destination with output statistics.

        :param destination: the mirror's directory or object-storage prefix.
        :param files: the files it wrote (downloaded) in this run.
        :param size: the bytes it wrote in this run.
        :param records: ``(module, record_id)`` of the records whose attachments it read
            (``<module>/<record_id>/attachments`` each).
        """
        self.read(*(self.zoho(ZohoResource(module, str(record_id))) for module, record_id in records))
        self.wrote(self.file(destination, {"size": size}, file_count=files))


def report_hook_lineage(
    hook: Any, *, inputs: Iterable[LineageDataset] = (), outputs: Iterable[LineageDataset] = ()
) -> None:
    """
    Tell Airflow's hook lineage collector what a hook call read and wrote, as ``S3Hook`` does.

    Zoho files go through the ``zoho-crm`` asset factory (their name, size and SHA-256 as the
    asset's extra, which the converter turns into OpenLineage facets); files and objects by URI.
    Lineage never fails a transfer: any error here is logged at debug level and dropped.

    :param hook: the hook that did it (the collector's context).
    :param inputs: what it read.
    :param outputs: what it wrote.
    """
    try:
        collector = _hook_lineage_collector()
        for add, datasets in ((collector.add_input_asset, inputs), (collector.add_output_asset, outputs)):
            for dataset in datasets:
                add(context=hook, **_asset_arguments(dataset))
    except Exception:
        hook.log.debug("Hook lineage not reported", exc_info=True)


def report_transfer(
    hook: Any, result: Mapping[str, Any], *, source: Any = None, kind: str | None = None
) -> None:
    """
    Tell Airflow's hook lineage collector of one hook transfer: a download (its result has a
    ``path``) or an upload of ``source``.

    Nothing is built when nobody collects (no hook lineage reader, such as the OpenLineage
    provider, is installed and enabled).

    :param hook: the Zoho CRM hook.
    :param result: the hook's result.
    :param source: what an upload read (a path or URL; a file object is not named).
    :param kind: ``"photo"`` for a record's photo.
    """
    try:
        if type(_hook_lineage_collector()).__name__ == "NoOpCollector":
            return
        recorder = LineageRecorder(hook.settings.api_domain)
        if "path" in result:
            recorder.downloaded(result, kind=kind)
        else:
            recorder.uploaded(result, source if _nameable(source) else None, kind=kind)
    except Exception:
        hook.log.debug("Hook lineage not reported", exc_info=True)
        return
    report_hook_lineage(hook, inputs=recorder.inputs, outputs=recorder.outputs)


def _nameable(source: Any) -> bool:
    return isinstance(source, str | os.PathLike)


def _hook_lineage_collector() -> Any:
    try:
        from airflow.sdk.lineage import get_hook_lineage_collector
    except ImportError:  # Airflow 3.1
        from airflow.lineage.hook import get_hook_lineage_collector  # type: ignore[no-redef]
    return get_hook_lineage_collector()


def _asset_arguments(dataset: LineageDataset) -> dict[str, Any]:
    extra = {
        key: value
        for key, value in (
            ("file_name", dataset.file_name),
            ("size", dataset.size),
            ("sha256", dataset.sha256),
            ("content_type", dataset.content_type),
        )
        if value is not None
    }
    if dataset.is_zoho:
        return {
            "scheme": SCHEME,
            "asset_kwargs": {"host": dataset.namespace.split("://", 1)[1], "path": dataset.name},
            "asset_extra": extra or None,
        }
    return {"uri": dataset.uri, "asset_extra": extra or None}
