"""Operators for the attachments of Zoho CRM records: list, download, upload (file or link), delete.

Every operator returns small JSON by XCom (ids, names, paths, sizes), never file bytes, and works
under dynamic task mapping (``.partial(...).expand(record_id=...)`` and ``.expand_kwargs(...)``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_zoho_attach.operators.base import ZohoCRMBaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_zoho_attach.results import AttachmentRecord

__all__ = [
    "ZohoCRMDeleteAttachmentOperator",
    "ZohoCRMDownloadAttachmentsOperator",
    "ZohoCRMListAttachmentsOperator",
    "ZohoCRMUploadAttachmentOperator",
]


class ZohoCRMListAttachmentsOperator(ZohoCRMBaseOperator):
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
        "file_name_pattern",
        "created_after",
        "created_before",
        "max_items",
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
        from airflow_provider_zoho_attach.utils.filters import AttachmentFilter

        module, record_id = self.target()
        wanted = AttachmentFilter.build(
            file_name_pattern=self.file_name_pattern,
            created_after=self.created_after,
            created_before=self.created_before,
        )
        limit = _max_items(self.max_items)
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
        if self.ids_only:
            return [str(record["id"]) for record in records]
        return records


class ZohoCRMDownloadAttachmentsOperator(ZohoCRMBaseOperator):
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

    Returns one result per file: ``{"attachment_id", "file_name", "path", "size", "sha256",
    "content_type", "module", "record_id", "status"}``.

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
        "file_name_pattern",
        "created_after",
        "created_before",
        "max_items",
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
        overwrite: bool = False,
        fail_on_error: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(module=module, record_id=record_id, **kwargs)
        self.destination = destination
        self.attachment_ids = attachment_ids
        self.file_name_pattern = file_name_pattern
        self.created_after = created_after
        self.created_before = created_before
        self.max_items = max_items
        self.overwrite = overwrite
        self.fail_on_error = fail_on_error

    def execute(self, context: Context) -> list[Mapping[str, Any]]:
        from airflow_provider_zoho_attach.exceptions import ZohoCRMInvalidRequestError
        from airflow_provider_zoho_attach.utils.filters import AttachmentFilter
        from airflow_provider_zoho_attach.utils.protocol import is_link
        from airflow_provider_zoho_attach.utils.transfer import to_storage_path
        from airflow_provider_zoho_attach.utils.validation import normalize_module, validate_id

        if self.destination is None or (isinstance(self.destination, str) and not self.destination.strip()):
            raise ZohoCRMInvalidRequestError.for_argument(
                "destination", self.destination, "a directory or an object-storage URL to download into"
            )
        # A destination whose filesystem is not installed (s3:// without s3fs...) fails here, before
        # the listing, not after the first download.
        to_storage_path(self.destination, argument="destination")
        module = normalize_module(self.module)
        wanted = AttachmentFilter.build(
            file_name_pattern=self.file_name_pattern,
            created_after=self.created_after,
            created_before=self.created_before,
            files_only=True,
        )
        limit = _max_items(self.max_items)
        record_id, given = self._given(module)
        if record_id is None:
            self.log.info("No attachments were given and no record_id: nothing to download")
            return []
        record_id = validate_id(record_id)
        self.persist_record_link(context, module, record_id)
        if given is None:
            # Listed records carry their type and name, so filters and link detection apply.
            given = [(str(r["id"]), r) for r in self.hook.iter_attachments(module, record_id)]
        chosen: list[tuple[str, Mapping[str, Any] | None]] = []
        for ident, record in given:
            if record is not None and is_link(record):
                self.log.info(
                    "Skipping link attachment %s (%s): no file to download", ident, record.get("File_Name")
                )
            elif record is None or wanted.matches(record):
                # Bare ids carry no metadata: they are downloaded as given, without filtering.
                chosen.append((ident, record))
        if limit is not None:
            chosen = chosen[:limit]
        destination = _render_placeholders(self.destination, module=module, record_id=record_id)
        return self._download_all(module, record_id, chosen, destination)

    def _given(self, module: str) -> tuple[str | None, list[tuple[str, Mapping[str, Any] | None]] | None]:
        """The record id and the attachments asked for, with their records when known (``None``: all)."""
        from airflow_provider_zoho_attach.exceptions import ZohoCRMInvalidRequestError
        from airflow_provider_zoho_attach.utils.validation import validate_id, validate_ids

        record_id = None if self.record_id in (None, "") else str(self.record_id)
        if self.attachment_ids is None:
            if record_id is None:
                raise ZohoCRMInvalidRequestError.for_argument(
                    "record_id", self.record_id, "a record id (or attachment records that carry Parent_Id)"
                )
            return record_id, None
        items: list[Any]
        if isinstance(self.attachment_ids, str):
            items = [part for part in self.attachment_ids.split(",") if part.strip()]
        elif isinstance(self.attachment_ids, list | tuple):
            items = list(self.attachment_ids)
        else:
            items = [self.attachment_ids]
        given: dict[str, Mapping[str, Any] | None] = {}
        for item in items:
            if not isinstance(item, Mapping):
                for ident in validate_ids(item, argument="attachment_ids"):
                    given.setdefault(ident, None)
                continue
            # A record without "id" is shown whole in the message, not as "None".
            ident = validate_id(item.get("id", item), argument="attachment_ids")
            parent = item.get("Parent_Id")
            parent_id = str(parent["id"]) if isinstance(parent, Mapping) and parent.get("id") else None
            if record_id is None:
                record_id = parent_id
            elif parent_id is not None and parent_id != record_id:
                raise ZohoCRMInvalidRequestError.for_argument(
                    "attachment_ids", ident, f"attachments of record {record_id}, not of record {parent_id}"
                )
            given[ident] = item
        if given and record_id is None:
            raise ZohoCRMInvalidRequestError.for_argument(
                "record_id", self.record_id, "a record id (the attachment ids given carry no Parent_Id)"
            )
        return record_id, list(given.items())

    def _download_all(
        self,
        module: str,
        record_id: str,
        chosen: list[tuple[str, Mapping[str, Any] | None]],
        destination: Any,
    ) -> list[Mapping[str, Any]]:
        from concurrent.futures import ThreadPoolExecutor

        from airflow_provider_zoho_attach.exceptions import ZohoCRMError
        from airflow_provider_zoho_attach.utils.progress import TransferProgress
        from airflow_provider_zoho_attach.utils.protocol import attachment_size
        from airflow_provider_zoho_attach.utils.transfer import DownloadTarget, NameClaims, choose_file_name

        if not chosen:
            self.log.info("Nothing to download from %s/%s", module, record_id)
            return []
        claims = NameClaims()
        # Fail on a bad destination before the first byte is fetched.
        target = DownloadTarget(destination, overwrite=self.overwrite, directory=True, claims=claims)
        # Same-named attachments: the lowest id takes the plain name, the others their own
        # "name (<id>).ext", decided here, before the threads race, so every run lays the files out
        # alike and a re-run finds them unchanged. (Bare ids have no name yet: first come, first served.)
        for ident, record in sorted(chosen, key=lambda item: (len(item[0]), item[0])):
            if record is not None and record.get("File_Name"):
                target.reserve(choose_file_name(None, str(record["File_Name"]), ident), tag=ident)
        sizes = [attachment_size(record) if record is not None else None for _, record in chosen]
        progress = TransferProgress(
            self.log,
            verb="downloaded",
            total_files=len(chosen),
            total_bytes=sum(s for s in sizes if s is not None) if None not in sizes else None,
        )

        def download(item: tuple[str, Mapping[str, Any] | None]) -> Mapping[str, Any]:
            ident, record = item
            name = str(record.get("File_Name") or "") or None if record is not None else None
            try:
                result = self.hook.download_attachment(
                    module,
                    record_id,
                    ident,
                    destination,
                    overwrite=self.overwrite,
                    # Many files go into it: a directory whatever its type, even before it exists.
                    directory=True,
                    claims=claims,
                    file_name=name,
                    on_progress=progress.add_bytes,
                )
            except ZohoCRMError as error:
                if error.code == "DOWNLOAD_NOT_ALLOWED":
                    # A link attachment given by bare id: nothing to download, and nothing went wrong.
                    progress.file_done(outcome="skipped")
                    self.log.info("Skipping %s: it is a link attachment", ident)
                    return {"attachment_id": ident, "status": "skipped"}
                progress.file_done(outcome="failed")
                self.log.error("Download of attachment %s failed: %s", ident, error)
                return {
                    "attachment_id": ident,
                    "file_name": name,
                    "module": module,
                    "record_id": record_id,
                    "status": "failed",
                    "error": error.to_dict(),
                }
            progress.file_done(outcome="unchanged" if result.get("status") == "unchanged" else "done")
            return result

        workers = max(1, min(len(chosen), self.hook.settings.max_concurrency))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="zoho-download") as pool:
            results = list(pool.map(download, chosen))
        progress.finish()
        failed = [r for r in results if r["status"] == "failed"]
        if failed and self.fail_on_error:
            raise _summary_error("download", failed, len(chosen), done=_tally(results))
        return [r for r in results if r["status"] != "skipped"]


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
            from airflow_provider_zoho_attach.hooks.zoho_crm import check_link

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
        from airflow_provider_zoho_attach.utils.validation import redact_url

        if self.skip_if_exists:
            for record in self.hook.iter_attachments(module, record_id, fields=("$link_url", "File_Name")):
                if record.get("$link_url") == self.link_url:
                    self.log.info(
                        "%s is already attached to %s/%s as %s",
                        redact_url(self.link_url),
                        module,
                        record_id,
                        record["id"],
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
        return {**result, "status": "uploaded"}

    def _upload_all(self, module: str, record_id: str, files: list[Any]) -> list[dict[str, Any]]:
        from airflow_provider_zoho_attach.exceptions import ZohoCRMError
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
            progress.file_done()
        progress.finish()
        if failed:
            raise _summary_error("upload", failed, len(files), done=_tally(results))
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

    def execute(self, context: Context) -> list[dict[str, Any]]:
        from airflow_provider_zoho_attach.utils.validation import validate_ids

        module, record_id = self.target()
        if self.attachment_ids in ([], ()):
            self.log.info("No attachment ids given: nothing to delete")
            return []
        ids = validate_ids(self.attachment_ids, argument="attachment_ids")
        self.persist_record_link(context, module, record_id)
        # The operator's own status ("missing") goes into its copies of the hook's results.
        results = [dict(result) for result in self.hook.delete_attachments(module, record_id, ids)]
        failed = []
        for result in results:
            if result["status"] == "error" and self.ignore_missing and result.get("code") == "INVALID_DATA":
                result["status"] = "missing"
                result.pop("code", None)
                result.pop("message", None)
            if result["status"] in ("error", "unknown"):
                failed.append(result)
        tally = _tally(results)
        self.log.info(
            "%d/%d attachment(s) of %s/%s finished: %s",
            len(results),
            len(ids),
            module,
            record_id,
            ", ".join(f"{count} {status}" for status, count in tally.items()) or "none",
        )
        if failed:
            raise _summary_error("delete", failed, len(ids), done=tally)
        return results


def _max_items(value: Any) -> int | None:
    from airflow_provider_zoho_attach.exceptions import ZohoCRMInvalidRequestError

    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ZohoCRMInvalidRequestError.for_argument("max_items", value, "a whole number >= 0")


def _render_placeholders(destination: Any, *, module: str, record_id: str) -> Any:
    if isinstance(destination, str):
        return destination.replace("{module}", module).replace("{record_id}", record_id)
    return destination


def _tally(results: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """How many results have each status, failures left out (``{"downloaded": 1, "unchanged": 3}``)."""
    tally: dict[str, int] = {}
    for result in results:
        status = str(result.get("status"))
        if status not in ("failed", "error", "unknown"):
            tally[status] = tally.get(status, 0) + 1
    return tally


def _summary_error(
    verb: str, failed: Sequence[Mapping[str, Any]], total: int, *, done: Mapping[str, int] | None = None
) -> Exception:
    """
    The error that fails a bulk task after every item was tried.

    One item that failed alone is re-raised as itself (its class, code and hint). Several that all
    failed are ``ALL_FAILED``; with some that succeeded it is ``PARTIAL_FAILURE``, and the hint says
    what was kept. Neither claims anything that did not happen.

    :param verb: what each item was ("download", "upload", "delete").
    :param failed: the failed items (with ``error``, or Zoho's ``code``/``message`` for deletes).
    :param total: how many items the task had.
    :param done: how many items ended with each other status (``{"downloaded": 2, "unchanged": 1}``).
    """
    from airflow_provider_zoho_attach.exceptions import ZohoCRMError, make_error

    def error_of(item: Mapping[str, Any]) -> ZohoCRMError:
        error = item.get("error")
        if isinstance(error, Mapping):
            return ZohoCRMError.from_dict(error)
        # A delete's per-id result carries Zoho's code and message only.
        return make_error(
            str(item.get("message") or f"{verb} failed"),
            code=item.get("code"),
            status_code=None,
            operation=f"{verb} attachment {item.get('attachment_id')}",
        )

    if len(failed) == total == 1:
        return error_of(failed[0])
    lines = []
    for item in failed[:10]:
        error = item.get("error") or item
        what = item.get("source") or item.get("file_name") or item.get("attachment_id")
        lines.append(f"{what}: {error.get('code')} {error.get('message')}")
    more = f" (and {len(failed) - 10} more)" if len(failed) > 10 else ""
    listed = "; ".join(lines) + more
    codes = {error_of(item).code for item in failed}
    if len(failed) >= total:
        # Nothing succeeded: a shared cause gets its own hint, which says more than "fix them".
        common = error_of(failed[0]).hint if len(codes) == 1 else None
        return ZohoCRMError(
            f"all {total} {verb}s failed: {listed}",
            code="ALL_FAILED",
            details={"failed": len(failed), "total": total},
            hint=(
                f"Nothing succeeded{f' (every {verb} failed with {next(iter(codes))})' if common else ''}. "
                + (common or "Fix the failures listed and re-run.")
            ),
        )
    kept = ", ".join(f"{count} {status}" for status, count in (done or {}).items())
    return ZohoCRMError(
        f"{len(failed)} of {total} {verb}s failed: {listed}",
        code="PARTIAL_FAILURE",
        details={"failed": len(failed), "total": total, **dict(done or {})},
        hint=(
            f"The other {total - len(failed)} succeeded{f' ({kept})' if kept else ''}; fix the failures "
            "and re-run (what succeeded is not done twice)."
        ),
    )
