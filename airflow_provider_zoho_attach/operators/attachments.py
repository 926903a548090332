"""Operators for the attachments of Zoho CRM records: list, download, upload (file or link), delete.

Every operator returns small JSON by XCom (ids, names, paths, sizes), never file bytes, and works
under dynamic task mapping (``.partial(...).expand(record_id=...)`` and ``.expand_kwargs(...)``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_zoho_attach.operators._downloads import (
    Item,
    download_progress,
    render_placeholders,
    reserve_names,
)
from airflow_provider_zoho_attach.operators.base import ZohoCRMAttachmentFilterMixin, ZohoCRMBaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_zoho_attach.results import AttachmentRecord
    from airflow_provider_zoho_attach.utils.lineage import LineageRecorder
    from airflow_provider_zoho_attach.utils.progress import TransferProgress
    from airflow_provider_zoho_attach.utils.transfer import NameClaims

__all__ = [
    "ZohoCRMDeleteAttachmentOperator",
    "ZohoCRMDownloadAttachmentsOperator",
    "ZohoCRMListAttachmentsOperator",
    "ZohoCRMUploadAttachmentOperator",
]


class ZohoCRMListAttachmentsOperator(ZohoCRMAttachmentFilterMixin, ZohoCRMBaseOperator):
    """
    List the attachments of a Zoho CRM record, optionally filtered.

    Returns Zoho's attachment records (``id``, ``File_Name``, ``Size``, ``Created_Time``, ``$type``,
    ``$link_url``, ``Parent_Id``...), or only their ids with ``ids_only=True``. Each record is a few
    hundred bytes, so thousands fit comfortably in XCom; use ``ids_only`` for very large lists.

    .. seealso::
        :ref:`howto/operator:ZohoCRMListAttachmentsOperator`

    :param module: the module API name (``Deals``) or docs name (``deals``). (templated)
    :param record_id: the record id. (templated)
    :param fields: field API names to request; default: every field the other operators use. (templated)
    :param file_name_pattern: keep attachments whose ``File_Name`` matches this glob (or any of a list
        of globs), case-insensitively, e.g. ``"*.pdf"``. (templated)
    :param created_after: keep attachments created at or after this time: a datetime or an ISO-8601
        string such as ``"{{ data_interval_start }}"``. (templated)
    :param created_before: keep attachments created strictly before this time, e.g.
        ``"{{ data_interval_end }}"``, so consecutive runs never list the same file twice. (templated)
    :param max_items: return at most this many (after filtering). (templated)
    :param ids_only: return a list of ids instead of records.
    :param zoho_conn_id: the ``zoho_crm`` connection. (templated)
    """

    template_fields: Sequence[str] = (
        *ZohoCRMBaseOperator.template_fields,
        "fields",
        *ZohoCRMAttachmentFilterMixin.filter_template_fields,
    )

    def __init__(
        self,
        *,
        module: str,
        record_id: str | int,
        fields: Sequence[str] | str | None = None,
        file_name_pattern: str | Sequence[str] | None = None,
        created_after: Any = None,
        created_before: Any = None,
        max_items: int | str | None = None,
        ids_only: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(module=module, record_id=record_id, **kwargs)
        self.fields = fields
        self.file_name_pattern = file_name_pattern
        self.created_after = created_after
        self.created_before = created_before
        self.max_items = max_items
        self.ids_only = ids_only

    def execute(self, context: Context) -> list[Any]:
        module, record_id = self.target()
        wanted = self.attachment_filter()
        limit = self.item_limit()
        self.persist_record_link(context, module, record_id)
        records: list[AttachmentRecord] = []
        listed = 0
        for record in self.hook.iter_attachments(module, record_id, fields=self.fields):
            listed += 1
            if wanted.matches(record):
                records.append(record)
                if limit is not None and len(records) >= limit:
                    break
        self.log.info("%s/%s has %d attachment(s) listed, %d kept", module, record_id, listed, len(records))
        self.lineage.listed(module, record_id, records)
        if self.ids_only:
            return [str(record["id"]) for record in records]
        return records


class ZohoCRMDownloadAttachmentsOperator(ZohoCRMAttachmentFilterMixin, ZohoCRMBaseOperator):
    """
    Download attachments of a Zoho CRM record into a directory or object storage.

    With ``attachment_ids=None`` every file attachment of the record that passes the filters is
    downloaded; link attachments are skipped (and logged). Files are streamed to a temporary file,
    verified (``Content-Length``, SHA-256) and renamed into place; up to ``max_concurrency``
    transfers run at once. Re-running is safe: a file already present with the same size and
    SHA-256 is kept (``status: "unchanged"``); a different file of the same name is never
    overwritten unless ``overwrite=True`` (the download gets ``name (<attachment id>).ext``).
    Attachments of one run that share a name never replace each other, with or without
    ``overwrite``: the one with the lowest id takes ``name.ext``, the others
    ``name (<attachment id>).ext``, so every run lays them out alike.

    ``attachment_ids`` may be the output of :class:`ZohoCRMListAttachmentsOperator` (records); their
    ``Parent_Id`` then supplies ``record_id`` when it is not given, so a mapped list task can feed a
    mapped download task directly.

    With ``include_field_files``, the files of the record's file-upload and image-upload fields are
    downloaded too, into the same destination, with the same filters, names and guarantees (one
    more call for the record's fields, one per file).

    Returns one result per file: ``{"attachment_id", "file_name", "path", "size", "sha256",
    "content_type", "module", "record_id", "status"}``, plus ``field`` (the field's API name) for a
    field's file, whose ``attachment_id`` is the field item's id.

    .. seealso::
        :ref:`howto/operator:ZohoCRMDownloadAttachmentsOperator`

    :param module: the module API name. (templated)
    :param record_id: the record id; optional when ``attachment_ids`` are records. (templated)
    :param destination: a local directory or an object-storage URL/``ObjectStoragePath`` (``s3://``,
        ``gs://``, ``file://``...). ``{module}`` and ``{record_id}`` in it are replaced, e.g.
        ``"s3://bucket/zoho/{module}/{record_id}/"``. (templated)
    :param attachment_ids: ids (a list, or a comma-separated string) or attachment records to
        download; ``None`` for every downloadable attachment. (templated)
    :param file_name_pattern: only files whose name matches this glob (or list of globs). (templated)
    :param created_after: only attachments created at or after this time. (templated)
    :param created_before: only attachments created before this time. (templated)
    :param max_items: download at most this many. (templated)
    :param include_field_files: also download the files of the record's file-upload and
        image-upload fields: ``True`` for every such field, or a field's API name or a list of them.
        (templated)
    :param overwrite: replace files of the same name that were there before this run.
    :param fail_on_error: fail the task if any file failed (after trying all of them); with
        ``False`` the failures are logged and returned with ``status: "failed"``.
    :param zoho_conn_id: the ``zoho_crm`` connection. (templated)
    :param max_concurrency: transfers at once; default: the connection's ``max_concurrency``.
    """

    template_fields: Sequence[str] = (
        *ZohoCRMBaseOperator.template_fields,
        "destination",
        "attachment_ids",
        "include_field_files",
        *ZohoCRMAttachmentFilterMixin.filter_template_fields,
    )

    def __init__(
        self,
        *,
        module: str,
        destination: Any,
        record_id: str | int | None = None,
        attachment_ids: Any = None,
        file_name_pattern: str | Sequence[str] | None = None,
        created_after: Any = None,
        created_before: Any = None,
        max_items: int | str | None = None,
        include_field_files: bool | str | Sequence[str] = False,
        overwrite: bool = False,
        fail_on_error: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(module=module, record_id=record_id, **kwargs)
        self.destination = destination
        self.attachment_ids = attachment_ids
        self.include_field_files = include_field_files
        self.file_name_pattern = file_name_pattern
        self.created_after = created_after
        self.created_before = created_before
        self.max_items = max_items
        self.overwrite = overwrite
        self.fail_on_error = fail_on_error

    def execute(self, context: Context) -> list[Mapping[str, Any]]:
        from airflow_provider_zoho_attach.utils.protocol import is_link
        from airflow_provider_zoho_attach.utils.transfer import to_storage_path
        from airflow_provider_zoho_attach.utils.validation import (
            normalize_module,
            require_value,
            validate_attachment_refs,
            validate_field_choice,
            validate_id,
        )

        require_value(
            self.destination,
            argument="destination",
            expected="a directory or an object-storage URL to download into",
        )
        # A destination whose filesystem is not installed (s3:// without s3fs...) fails here, before
        # the listing, not after the first download.
        to_storage_path(self.destination, argument="destination")
        module = normalize_module(self.module)
        wanted = self.attachment_filter(files_only=True)
        limit = self.item_limit()
        fields = validate_field_choice(self.include_field_files)
        record_id, given = validate_attachment_refs(self.attachment_ids, record_id=self.record_id)
        if record_id is None:
            self.log.info("No attachments were given and no record_id: nothing to download")
            return []
        record_id = validate_id(record_id)
        self.persist_record_link(context, module, record_id)
        if given is None:
            # Listed records carry their type and name, so filters and link detection apply.
            given = [(str(r["id"]), r) for r in self.hook.iter_attachments(module, record_id)]
        chosen: list[Item] = []
        for ident, record in given:
            if record is not None and is_link(record):
                self.log.info(
                    "Skipping link attachment %s (%s): no file to download", ident, record.get("File_Name")
                )
            elif record is None or wanted.matches(record):
                # Bare ids carry no metadata: they are downloaded as given, without filtering.
                chosen.append((ident, record, None))
        chosen += [
            item for item in self._field_items(module, record_id, fields) if wanted.matches(item[1] or {})
        ]
        if limit is not None:
            chosen = chosen[:limit]
        destination = render_placeholders(self.destination, module=module, record_id=record_id)
        return self._download_all(module, record_id, chosen, destination)

    def _field_items(self, module: str, record_id: str, fields: list[str] | None) -> list[Item]:
        """The files of the record's file fields (``None``: all), as records the filters read."""
        if fields == []:
            return []
        return [
            (
                item["id"],
                {
                    "id": item["id"],
                    "File_Name": item["file_name"],
                    "Size": item["size"],
                    "Created_Time": item["created_time"],
                },
                item["field"],
            )
            for item in self.hook.list_field_files(module, record_id, fields)
        ]

    def _download_all(
        self,
        module: str,
        record_id: str,
        chosen: list[Item],
        destination: Any,
    ) -> list[Mapping[str, Any]]:
        """
        Download the chosen files in threads, each once; then fail if any failed (``fail_on_error``).

        :param module: the checked module API name.
        :param record_id: the checked record id.
        :param chosen: the attachments and field files to download.
        :param destination: the directory they go to.
        :return: a result per file, links given by bare id left out.
        """
        from concurrent.futures import ThreadPoolExecutor
        from functools import partial

        from airflow_provider_zoho_attach.utils.outcomes import summary_error, tally
        from airflow_provider_zoho_attach.utils.transfer import DownloadTarget, NameClaims

        if not chosen:
            self.log.info("Nothing to download from %s/%s", module, record_id)
            return []
        claims = NameClaims()
        # Fail on a bad destination before the first byte is fetched.
        target = DownloadTarget(destination, overwrite=self.overwrite, directory=True, claims=claims)
        reserve_names(target, chosen)
        progress = download_progress(self.log, chosen)
        download = partial(
            self._download_one,
            module=module,
            record_id=record_id,
            destination=destination,
            claims=claims,
            progress=progress,
        )
        workers = max(1, min(len(chosen), self.hook.settings.max_concurrency))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="zoho-download") as pool:
            results = list(pool.map(download, chosen))
        progress.finish()
        failed = [r for r in results if r["status"] == "failed"]
        if failed and self.fail_on_error:
            raise summary_error("download", failed, len(chosen), done=tally(results))
        return [r for r in results if r["status"] != "skipped"]

    def _download_one(
        self,
        item: Item,
        *,
        module: str,
        record_id: str,
        destination: Any,
        claims: NameClaims,
        progress: TransferProgress,
    ) -> Mapping[str, Any]:
        """
        Download one chosen file: its result, or its failure (a link given by bare id is skipped).

        :param item: the attachment or field file.
        :param module: the checked module API name.
        :param record_id: the checked record id.
        :param destination: the directory it goes to.
        :param claims: the names the run's downloads have taken.
        :param progress: the run's progress, told of its bytes and its outcome.
        """
        from airflow_provider_zoho_attach.exceptions import ZohoCRMError

        ident, record, field = item
        name = str(record.get("File_Name") or "") or None if record is not None else None
        # Many files go into it: a directory whatever its type, even before it exists.
        options: dict[str, Any] = {
            "overwrite": self.overwrite,
            "directory": True,
            "claims": claims,
            "file_name": name,
            "on_progress": progress.add_bytes,
        }
        try:
            if field is None:
                result = self.hook.download_attachment(module, record_id, ident, destination, **options)
            else:
                result = self.hook.download_field_file(
                    module, record_id, ident, destination, field=field, **options
                )
        except ZohoCRMError as error:
            if error.code == "DOWNLOAD_NOT_ALLOWED":
                # A link attachment given by bare id: nothing to download, and nothing went wrong.
                progress.file_done(outcome="skipped")
                self.log.info("Skipping %s: it is a link attachment", ident)
                return {"attachment_id": ident, "status": "skipped"}
            progress.file_done(outcome="failed")
            self.log.error("Download of %s %s failed: %s", field or "attachment", ident, error)
            failure = {
                "attachment_id": ident,
                "file_name": name,
                "module": module,
                "record_id": record_id,
                "status": "failed",
                "error": error.to_dict(),
            }
            return failure if field is None else {**failure, "field": field}
        progress.file_done(outcome="unchanged" if result.get("status") == "unchanged" else "done")
        self.lineage.downloaded(result)
        return result


class ZohoCRMUploadAttachmentOperator(ZohoCRMBaseOperator):
    """
    Attach files (or a link) to a Zoho CRM record.

    ``source`` may be a file, a directory (each file in it), a glob (``/data/out/*.pdf``), an
    object-storage URL or ``ObjectStoragePath`` (globs work there too), or a list of those; each
    file is uploaded once, streamed from its storage. A file that fails does not stop the others;
    the task fails at the end with a summary if any did. With ``skip_if_exists`` (the default) a file
    already attached to the record with the same name and the same bytes (size, then the SHA-256 of
    the stored copy, which costs one download of it) is not uploaded again, so re-running the task
    creates no duplicates, while a different file of the same name is uploaded. Give ``link_url``
    (and optionally ``title``) instead of
    ``source`` to attach a link.

    Returns one result per file: ``{"attachment_id", "file_name", "size", "sha256", "module",
    "record_id", "source", "status"}`` with ``status`` ``"uploaded"`` or ``"skipped"``.

    .. seealso::
        :ref:`howto/operator:ZohoCRMUploadAttachmentOperator`

    :param module: the module API name. (templated)
    :param record_id: the record id. (templated)
    :param source: what to upload (see above). (templated)
    :param link_url: a URL to attach instead of a file. (templated)
    :param title: the link's title. (templated)
    :param file_name: the name in Zoho, for a single file (default: its own name). (templated)
    :param skip_if_exists: skip files already attached with the same name and bytes.
    :param zoho_conn_id: the ``zoho_crm`` connection. (templated)
    """

    template_fields: Sequence[str] = (
        *ZohoCRMBaseOperator.template_fields,
        "source",
        "link_url",
        "title",
        "file_name",
    )

    def __init__(
        self,
        *,
        module: str,
        record_id: str | int,
        source: Any = None,
        link_url: str | None = None,
        title: str | None = None,
        file_name: str | None = None,
        skip_if_exists: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(module=module, record_id=record_id, **kwargs)
        self.source = source
        self.link_url = link_url
        self.title = title
        self.file_name = file_name
        self.skip_if_exists = skip_if_exists

    def execute(self, context: Context) -> list[dict[str, Any]]:
        from airflow_provider_zoho_attach.exceptions import ZohoCRMInvalidRequestError
        from airflow_provider_zoho_attach.utils.transfer import expand_sources
        from airflow_provider_zoho_attach.utils.validation import redact_url

        has_source = self.source not in (None, "", [])
        has_link = self.link_url not in (None, "")
        if has_source == has_link:
            raise ZohoCRMInvalidRequestError(
                "give exactly one of source and link_url "
                f"(source={self.source!r}, link_url="
                f"{redact_url(self.link_url) if isinstance(self.link_url, str) else self.link_url!r})",
                code="INVALID_ARGUMENT",
                details={"argument": "source"},
                hint="Zoho takes a file or a link per attachment, not both; nothing was sent.",
            )
        module, record_id = self.target()
        if has_link:
            from airflow_provider_zoho_attach.utils.validation import check_link

            # Checked before the listing that looks for an existing copy: nothing is sent for bad input.
            check_link(self.link_url, self.title or None)
            self.persist_record_link(context, module, record_id)
            return [self._attach_link(module, record_id)]
        files = expand_sources(self.source, argument="source")
        if self.file_name and len(files) > 1:
            raise ZohoCRMInvalidRequestError.for_argument(
                "file_name", self.file_name, f"no file_name when source names {len(files)} files"
            )
        self.persist_record_link(context, module, record_id)
        return self._upload_all(module, record_id, files)

    def _attach_link(self, module: str, record_id: str) -> dict[str, Any]:
        from airflow_provider_zoho_attach.utils.filters import link_attachment
        from airflow_provider_zoho_attach.utils.lineage import ZohoResource
        from airflow_provider_zoho_attach.utils.validation import redact_url

        if self.skip_if_exists:
            listing = self.hook.iter_attachments(module, record_id, fields=("$link_url", "File_Name"))
            record = link_attachment(listing, str(self.link_url))
            if record is not None:
                link = redact_url(self.link_url)
                self.log.info("%s is already attached to %s/%s as %s", link, module, record_id, record["id"])
                self.lineage.wrote(
                    self.lineage.zoho(ZohoResource(module, record_id, item_id=str(record["id"])))
                )
                return {
                    "attachment_id": str(record["id"]),
                    "file_name": record.get("File_Name"),
                    "size": 0,
                    "module": module,
                    "record_id": record_id,
                    "link_url": self.link_url,
                    "status": "skipped",
                }
        result = self.hook.attach_link(module, record_id, str(self.link_url), title=self.title or None)
        self.lineage.uploaded(result)
        return {**result, "status": "uploaded"}

    def _upload_all(self, module: str, record_id: str, files: list[Any]) -> list[dict[str, Any]]:
        from airflow_provider_zoho_attach.exceptions import ZohoCRMError
        from airflow_provider_zoho_attach.utils.outcomes import summary_error, tally
        from airflow_provider_zoho_attach.utils.progress import TransferProgress
        from airflow_provider_zoho_attach.utils.protocol import attachment_size
        from airflow_provider_zoho_attach.utils.transfer import UploadSource

        # Name and size -> ids of the attachments that have them (candidates to skip).
        existing: dict[tuple[str, int | None], list[str]] = {}
        digests: dict[str, str | None] = {}
        known_ids: set[str] = set()
        # One listing for the whole task, also without skip_if_exists: what was on the record
        # before can never be taken for an upload of ours whose answer was lost.
        for record in self.hook.iter_attachments(module, record_id, fields=("File_Name", "Size", "$type")):
            known_ids.add(str(record["id"]))
            key = (str(record.get("File_Name")), attachment_size(record))
            existing.setdefault(key, []).append(str(record["id"]))
        progress = TransferProgress(self.log, verb="uploaded", total_files=len(files))
        results: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for path in files:
            try:
                upload = UploadSource(path, file_name=self.file_name)
                match = self._same_file(module, record_id, upload, existing, digests)
                if match is not None:
                    self.log.info(
                        "%s is already attached to %s/%s as %s (same name, size and SHA-256); skipped",
                        upload.file_name,
                        module,
                        record_id,
                        match,
                    )
                    results.append(
                        {
                            "attachment_id": match,
                            "file_name": upload.file_name,
                            "size": upload.size,
                            "module": module,
                            "record_id": record_id,
                            "source": str(path),
                            "status": "skipped",
                        }
                    )
                    progress.file_done(outcome="skipped")
                    self.lineage.uploaded(results[-1], path)
                    continue
                result = self.hook.upload_attachment(
                    module,
                    record_id,
                    path,
                    file_name=upload.file_name,
                    known_ids=known_ids,
                    on_progress=progress.add_bytes,
                )
            except ZohoCRMError as error:
                self.log.error("Upload of %s failed: %s", path, error)
                failed.append({"source": str(path), "status": "failed", "error": error.to_dict()})
                progress.file_done(outcome="failed")
                continue
            known_ids.add(result["attachment_id"])
            existing.setdefault((result["file_name"], result["size"]), []).append(result["attachment_id"])
            digests[result["attachment_id"]] = result.get("sha256")
            results.append({**result, "source": str(path), "status": "uploaded"})
            self.lineage.uploaded(result, path)
            progress.file_done()
        progress.finish()
        if failed:
            raise summary_error("upload", failed, len(files), done=tally(results))
        return results

    def _same_file(
        self,
        module: str,
        record_id: str,
        upload: Any,
        existing: Mapping[tuple[str, int | None], list[str]],
        digests: dict[str, str | None],
    ) -> str | None:
        """
        The id of an attachment that already holds exactly this file, if ``skip_if_exists`` allows.

        Name and size are only candidates: another file of the same name and size (next month's
        report, padded to the same length) must be uploaded, not reported as already there. A
        candidate's bytes are checked once (one download, nothing written).
        """
        if not self.skip_if_exists:
            return None
        candidates = existing.get((upload.file_name, upload.size), [])
        if not candidates:
            return None
        if upload.size == 0:
            return candidates[0]
        mine = upload.sha256()
        for ident in candidates:
            if digests.get(ident) is None:
                digests[ident] = self.hook.attachment_sha256(module, record_id, ident)
            if digests[ident] == mine:
                return ident
        return None


class ZohoCRMDeleteAttachmentOperator(ZohoCRMBaseOperator):
    """
    Delete attachments of a Zoho CRM record (Zoho keeps them in its recycle bin).

    Deletes up to 100 per call. With ``ignore_missing`` (the default) an attachment that is already
    gone counts as deleted, so re-running the task is safe; any other failure fails the task after
    the rest were deleted.

    Returns one ``{"attachment_id", "module", "record_id", "status"}`` per id (``"deleted"`` or
    ``"missing"``).

    .. seealso::
        :ref:`howto/operator:ZohoCRMDeleteAttachmentOperator`

    :param module: the module API name. (templated)
    :param record_id: the record id. (templated)
    :param attachment_ids: an id, a list of ids, a comma-separated string, or attachment records
        (the list operator's output). (templated)
    :param ignore_missing: treat attachments that no longer exist as deleted.
    :param zoho_conn_id: the ``zoho_crm`` connection. (templated)
    """

    template_fields: Sequence[str] = (*ZohoCRMBaseOperator.template_fields, "attachment_ids")

    def __init__(
        self,
        *,
        module: str,
        record_id: str | int,
        attachment_ids: Any,
        ignore_missing: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(module=module, record_id=record_id, **kwargs)
        self.attachment_ids = attachment_ids
        self.ignore_missing = ignore_missing

    def plan_lineage(self, recorder: LineageRecorder) -> None:
        """The attachments to delete, as the START event's inputs (not yet dropped)."""
        from airflow_provider_zoho_attach.utils.lineage import ZohoResource
        from airflow_provider_zoho_attach.utils.validation import validate_ids

        module, record_id = self.target()
        ids = validate_ids(self.attachment_ids, argument="attachment_ids")
        recorder.read(*(recorder.zoho(ZohoResource(module, record_id, item_id=i)) for i in ids))

    def execute(self, context: Context) -> list[dict[str, Any]]:
        from airflow_provider_zoho_attach.utils.outcomes import mark_missing, summary_error, tally
        from airflow_provider_zoho_attach.utils.validation import validate_ids

        module, record_id = self.target()
        if self.attachment_ids in ([], ()):
            self.log.info("No attachment ids given: nothing to delete")
            return []
        ids = validate_ids(self.attachment_ids, argument="attachment_ids")
        self.persist_record_link(context, module, record_id)
        # The operator's own status ("missing") goes into its copies of the hook's results.
        results = [dict(result) for result in self.hook.delete_attachments(module, record_id, ids)]
        if self.ignore_missing:
            mark_missing(results)
        for result in results:
            if result["status"] == "deleted":
                self.lineage.deleted(result)
        failed = [result for result in results if result["status"] in ("error", "unknown")]
        counts = tally(results)
        self.log.info(
            "%d/%d attachment(s) of %s/%s finished: %s",
            len(results),
            len(ids),
            module,
            record_id,
            ", ".join(f"{count} {status}" for status, count in counts.items()) or "none",
        )
        if failed:
            raise summary_error("delete", failed, len(ids), done=counts)
        return results
