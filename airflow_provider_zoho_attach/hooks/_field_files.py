"""The sync hook's file-upload and image-upload fields, and the Zoho File System (ZFS) they use.

A record's file fields hold files kept in ZFS: :meth:`upload_files` puts files there (single-use
ids), :meth:`attach_to_field` uploads and adds them to a field, :meth:`list_field_files`,
:meth:`download_field_file` and :meth:`remove_field_files` read and change what a field holds.
The rules of the fields (metadata, item keys, limits, the update body) are in
:mod:`airflow_provider_zoho_attach.utils.field_files`.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, cast

from airflow_provider_zoho_attach.exceptions import (
    ZohoCRMConnectionError,
    ZohoCRMError,
    ZohoCRMInvalidRequestError,
    ZohoCRMNotFoundError,
    ZohoCRMServerError,
    ZohoCRMTransferError,
)
from airflow_provider_zoho_attach.hooks._base import (
    JsonCall,
    _check,
    _check_size,
    _known_size,
    _not_replayable,
)
from airflow_provider_zoho_attach.hooks._uploads import _UploadCore
from airflow_provider_zoho_attach.results import (
    FieldAttachResult,
    FieldFile,
    FieldFileDownloadResult,
    FieldRemoveResult,
    ZfsDownloadResult,
    ZfsUploadResult,
)
from airflow_provider_zoho_attach.utils.field_files import (
    MAX_FILES_PER_UPLOAD,
    MAX_ZFS_FILE_SIZE,
    FileField,
    check_field_capacity,
    field_file_request,
    field_update_body,
    not_a_file_field,
    parse_field_files,
    parse_file_fields,
    parse_uploaded_files,
)
from airflow_provider_zoho_attach.utils.lineage import report_transfer
from airflow_provider_zoho_attach.utils.protocol import first_item, is_unreachable
from airflow_provider_zoho_attach.utils.transfer import DownloadTarget, NameClaims, UploadSource
from airflow_provider_zoho_attach.utils.uploads import FilePart, MultipartBody
from airflow_provider_zoho_attach.utils.validation import (
    normalize_module,
    validate_file_id,
    validate_id,
    validate_ids,
)

_FILES_PATH = "files"


class _FieldFilesCore(_UploadCore):
    """What :class:`~airflow_provider_zoho_attach.hooks.zoho_crm.ZohoCRMHook` does with file fields."""

    # ------------------------------------------------------------------ metadata and listing

    def get_file_fields(self, module: str) -> dict[str, FileField]:
        """
        Return a module's file-upload and image-upload fields, read once per hook.

        One ``GET /settings/fields?module=`` call (scope ``ZohoCRM.settings.fields.READ``), cached
        for the hook's lifetime.

        :param module: the module API name (``Deals``) or its docs name (``deals``).
        :return: the fields by API name, with their type and how many files each holds.
        """
        return self._file_fields(normalize_module(module))

    def _file_fields(self, module: str) -> dict[str, FileField]:
        cache: dict[str, dict[str, FileField]] = self.__dict__.setdefault("_file_fields_cache", {})
        if module not in cache:
            payload = self._call_json(
                JsonCall("GET", "settings/fields", f"read the fields of {module}", params={"module": module})
            )
            cache[module] = parse_file_fields(payload)
        return cache[module]

    def _file_field(self, module: str, field: Any) -> FileField:
        if not isinstance(field, str) or not field.strip():
            raise ZohoCRMInvalidRequestError.for_argument("field", field, "a field's API name")
        fields = self._file_fields(module)
        found = fields.get(field.strip())
        if found is None:
            raise not_a_file_field(module, field.strip(), fields)
        return found

    def list_field_files(
        self, module: str, record_id: str | int, field: str | Iterable[str] | None = None
    ) -> list[FieldFile]:
        """
        Return the files in a record's file-upload and image-upload fields.

        :param module: the module API name.
        :param record_id: the record id.
        :param field: one field's API name, several, or ``None`` for every file field of the module.
        :return: ``{"field", "id", "file_id", "file_name", "size", "created_time",
            "modified_time"}`` per file, field by field; ``id`` is what
            :meth:`download_field_file` and :meth:`remove_field_files` take.
        :raises ZohoCRMInvalidRequestError: ``NOT_A_FILE_FIELD`` for a field that holds no files.
        """
        module = normalize_module(module)
        record_id = validate_id(record_id)
        if field is None:
            wanted = list(self._file_fields(module))
        else:
            names = [field] if isinstance(field, str) else list(field)
            wanted = [self._file_field(module, name).api_name for name in names]
        return self._list_field_files(module, record_id, wanted)

    def _list_field_files(self, module: str, record_id: str, fields: Sequence[str]) -> list[FieldFile]:
        if not fields:
            return []
        operation = f"read the file fields of {module}/{record_id}"
        payload = self._call_json(
            JsonCall(
                "GET", f"{module}/{record_id}", operation, params={"fields": ",".join(fields)}, empty_ok=True
            )
        )
        if payload is None:
            raise ZohoCRMNotFoundError(
                f"{module} has no record {record_id}",
                code="NO_CONTENT",
                status_code=204,
                operation=operation,
            )
        return parse_field_files(first_item(payload, operation=operation), fields)

    # ------------------------------------------------------------------ the Zoho File System

    def upload_files(
        self,
        sources: Any,
        *,
        inline: bool = False,
        on_progress: Callable[[int], None] | None = None,
    ) -> list[ZfsUploadResult]:
        """
        Upload files to the Zoho File System, ten per request, each streamed from its source.

        Every source is checked (readable, at most 20 MB) before anything is sent. The ids are
        single-use: attaching one to a record consumes it.

        :param sources: a source or a list of them: local paths, object-storage URLs or paths, or
            binary file objects with a ``name``.
        :param inline: upload as inline images (for email templates and rich text).
        :param on_progress: called with the size of each chunk sent.
        :return: ``{"file_id", "file_name", "size", "sha256"}`` per source, in order.
        """
        uploads = self._zfs_sources(sources)
        return self._upload_zfs(uploads, inline=inline, on_progress=on_progress)

    def _zfs_sources(self, sources: Any, *, argument: str = "sources") -> list[UploadSource]:
        entries = list(sources) if isinstance(sources, list | tuple) else [sources]
        if not entries:
            raise ZohoCRMInvalidRequestError.for_argument(argument, sources, "at least one file")
        uploads = [UploadSource(entry, argument=argument) for entry in entries]
        for upload in uploads:
            _check_size(_known_size(upload), MAX_ZFS_FILE_SIZE, "a Zoho File System file", upload.file_name)
        return uploads

    def _upload_zfs(
        self,
        uploads: Sequence[UploadSource],
        *,
        inline: bool = False,
        on_progress: Callable[[int], None] | None = None,
    ) -> list[ZfsUploadResult]:
        results: list[ZfsUploadResult] = []
        for start in range(0, len(uploads), MAX_FILES_PER_UPLOAD):
            results += self._upload_zfs_batch(
                uploads[start : start + MAX_FILES_PER_UPLOAD], inline=inline, on_progress=on_progress
            )
        return results

    def _upload_zfs_batch(
        self,
        uploads: Sequence[UploadSource],
        *,
        inline: bool,
        on_progress: Callable[[int], None] | None,
    ) -> list[ZfsUploadResult]:
        names = [upload.file_name for upload in uploads]
        operation = f"upload {', '.join(repr(name) for name in names)} to the Zoho File System"
        params = {"type": "inline"} if inline else None
        sent_whole = False

        def attempt() -> list[ZfsUploadResult]:
            nonlocal sent_whole
            if sent_whole:
                # ZFS has no listing to find a copy whose answer was lost: say so, then send again.
                self.log.warning(
                    "%s: the last answer was lost after the files went out; Zoho may keep an "
                    "unattached copy, which no record shows",
                    operation,
                )
            if sent_whole and not all(upload.replayable for upload in uploads):
                raise _not_replayable(operation)
            parts = [
                FilePart(
                    field="file",
                    file_name=upload.file_name,
                    content_type=mimetypes.guess_type(upload.file_name)[0] or "application/octet-stream",
                    opener=upload.open,
                    size=_known_size(upload),
                )
                for upload in uploads
            ]
            body = MultipartBody.of_parts(parts, on_progress=on_progress)
            try:
                with self._exchange(
                    "POST",
                    _FILES_PATH,
                    operation=operation,
                    params=params,
                    body=body,
                    headers={"Content-Type": body.content_type},
                ) as response:
                    payload = _check(response, operation=operation)
            except ZohoCRMError:
                sent_whole = sent_whole or body.finished
                raise
            uploaded = parse_uploaded_files(payload, names, operation=operation)
            return [
                {
                    "file_id": entry["file_id"],
                    "file_name": entry["file_name"],
                    "size": part.size,
                    "sha256": digest,
                }
                for entry, part, digest in zip(uploaded, parts, body.sha256s, strict=True)
            ]

        results = self._retry(attempt, operation=operation)
        self.log.info("Uploaded %d file(s) to the Zoho File System", len(results))
        return results

    def download_file(
        self,
        file_id: str,
        destination: Any,
        *,
        overwrite: bool = False,
        directory: bool | None = None,
        claims: NameClaims | None = None,
        file_name: str | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> ZfsDownloadResult:
        """
        Download a file of the Zoho File System by its id (``GET /files?id=``).

        Streamed, verified and moved into place atomically as
        :meth:`~airflow_provider_zoho_attach.hooks.zoho_crm.ZohoCRMHook.download_attachment`, with
        the same arguments for the destination.

        :param file_id: the file's ZFS id (``file_id`` of :meth:`upload_files` or
            :meth:`list_field_files`).
        :param destination: a directory, a file path, or an object-storage URL or path.
        :param overwrite: replace an existing file of the same name.
        :param directory: whether ``destination`` is a directory (see ``download_attachment``).
        :param claims: names shared by the downloads of one run (see ``download_attachment``).
        :param file_name: the name to use if Zoho's answer names none.
        :param on_progress: called with the size of each chunk written.
        :return: ``{"file_id", "file_name", "path", "size", "sha256", "content_type", "status"}``.
        """
        from airflow_provider_zoho_attach.utils.transfer import choose_file_name

        file_id = validate_file_id(file_id)
        target = DownloadTarget(destination, overwrite=overwrite, directory=directory, claims=claims)
        tag = file_id[:12]
        result = self._download(
            _FILES_PATH,
            target,
            operation=f"download file {tag}... of the Zoho File System",
            tag=tag,
            name_for=lambda header, _type: choose_file_name(header, file_name, tag),
            on_progress=on_progress,
            not_found="no such file",
            params={"id": file_id},
        )
        return cast("ZfsDownloadResult", {"file_id": file_id, **result})

    # ------------------------------------------------------------------ one record's fields

    def download_field_file(
        self,
        module: str,
        record_id: str | int,
        field_file_id: str | int,
        destination: Any,
        *,
        field: str | None = None,
        overwrite: bool = False,
        directory: bool | None = None,
        claims: NameClaims | None = None,
        file_name: str | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> FieldFileDownloadResult:
        """
        Download a file held in a record's file or image field.

        Uses ``actions/download_fields_attachment``; streamed, verified and atomic, with the
        destination rules of ``download_attachment``. A name clash takes ``<stem> (<id>)<ext>``.

        :param module: the module API name.
        :param record_id: the record id.
        :param field_file_id: the item's ``id`` from :meth:`list_field_files`.
        :param destination: a directory, a file path, or an object-storage URL or path.
        :param field: the field's API name, reported in the result.
        :param overwrite: replace an existing file of the same name.
        :param directory: whether ``destination`` is a directory (see ``download_attachment``).
        :param claims: names shared by the downloads of one run (see ``download_attachment``).
        :param file_name: the item's file name, used if Zoho's answer names none.
        :param on_progress: called with the size of each chunk written.
        :return: the result of ``download_attachment`` (``attachment_id`` is the item's id),
            plus ``field``.
        """
        from airflow_provider_zoho_attach.utils.transfer import choose_file_name

        module = normalize_module(module)
        record_id = validate_id(record_id)
        item_id = validate_id(field_file_id, argument="field_file_id")
        target = DownloadTarget(destination, overwrite=overwrite, directory=directory, claims=claims)
        path, params = field_file_request(module, record_id, item_id)
        result = self._download(
            path,
            target,
            operation=f"download field file {item_id} of {module}/{record_id}",
            module=module,
            record_id=record_id,
            tag=item_id,
            name_for=lambda header, _type: choose_file_name(header, file_name, item_id),
            on_progress=on_progress,
            not_found="no such field file",
            params=params,
        )
        done: FieldFileDownloadResult = {"attachment_id": item_id, "field": field, **result}
        if field is not None:
            report_transfer(self, done)  # without its field, the file has no dataset name
        return done

    def field_file_sha256(self, module: str, record_id: str | int, field_file_id: str | int) -> str | None:
        """
        Return the SHA-256 of a file held in a record's field (streamed and discarded, with retries).

        :param module: the module API name.
        :param record_id: the record id.
        :param field_file_id: the item's ``id`` from :meth:`list_field_files`.
        :return: the hex digest, or ``None`` if the field holds no such file.
        """
        module = normalize_module(module)
        record_id = validate_id(record_id)
        item_id = validate_id(field_file_id, argument="field_file_id")
        operation = f"check the bytes of field file {item_id} of {module}/{record_id}"
        path, params = field_file_request(module, record_id, item_id)
        return self._retry(
            lambda: self._stored_sha256(path, operation=operation, params=params), operation=operation
        )

    def attach_to_field(
        self,
        module: str,
        record_id: str | int,
        field: str,
        sources_or_file_ids: Any,
        *,
        replace: bool = False,
        on_progress: Callable[[int], None] | None = None,
    ) -> list[FieldAttachResult]:
        """
        Put files into a record's file-upload or image-upload field.

        Sources are uploaded to the Zoho File System, then the record is updated with their ids in
        one call. The field's file limit is checked before anything is uploaded. If the update
        fails, the error names the uploaded ids that were left unattached. If the update's answer
        is lost, the field is read before the update is sent again (a ZFS id is single-use).

        :param module: the module API name.
        :param record_id: the record id.
        :param field: the field's API name (a ``fileupload`` or ``imageupload`` field).
        :param sources_or_file_ids: a source or a list: local paths, object-storage URLs or paths,
            binary file objects, or files already in ZFS as ``{"file_id": ...}`` (what
            :meth:`upload_files` returns).
        :param replace: remove the field's current files in the same update.
        :param on_progress: called with the size of each chunk sent.
        :return: one ``{"attachment_id", "file_id", "file_name", "size", "sha256", "module",
            "record_id", "field", "created_time"}`` per file added (``attachment_id`` is the field
            item's id).
        """
        module = normalize_module(module)
        record_id = validate_id(record_id)
        entries = (
            sources_or_file_ids if isinstance(sources_or_file_ids, list | tuple) else [sources_or_file_ids]
        )
        given = [
            {"file_id": validate_file_id(entry.get("file_id"), argument="sources_or_file_ids")}
            for entry in entries
            if isinstance(entry, Mapping)
        ]
        others = [entry for entry in entries if not isinstance(entry, Mapping)]
        uploads = self._zfs_sources(others, argument="sources_or_file_ids") if others else []
        if not given and not uploads:
            raise ZohoCRMInvalidRequestError.for_argument(
                "sources_or_file_ids", sources_or_file_ids, "at least one file"
            )
        spec = self._file_field(module, field)
        existing = self._list_field_files(module, record_id, [spec.api_name])
        removing = [item["id"] for item in existing] if replace else []
        check_field_capacity(
            spec, existing=len(existing), adding=len(given) + len(uploads), removing=len(removing)
        )
        uploaded = self._upload_zfs(uploads, on_progress=on_progress) if uploads else []
        files = given + uploaded
        try:
            self._update_field(module, record_id, spec.api_name, [f["file_id"] for f in files], removing)
        except ZohoCRMError as error:
            raise _unattached(error, uploaded) from error
        added = self._added_files(
            module, record_id, spec.api_name, files, known=existing, kept=[] if replace else existing
        )
        for index, result in enumerate(added):
            # One result per file, in order: the given ZFS ids (no source known), then the uploads.
            upload = uploads[index - len(given)] if index >= len(given) else None
            report_transfer(self, result, source=getattr(upload, "path", None))
        return added

    def _update_field(
        self, module: str, record_id: str, field: str, add: Sequence[str], delete: Sequence[str]
    ) -> None:
        """One record update of a field, sent again after a lost answer only if it did not apply."""
        operation = f"update the field {field} of {module}/{record_id}"
        body = json.dumps(field_update_body(record_id, field, add_file_ids=add, delete_ids=delete)).encode()
        lost = False

        def applied() -> bool:
            held = self._list_field_files(module, record_id, [field])
            ids = {item["id"] for item in held}
            file_ids = {item["file_id"] for item in held}
            return all(file_id in file_ids for file_id in add) and not ids.intersection(delete)

        def attempt() -> None:
            nonlocal lost
            if lost and applied():
                self.log.warning(
                    "%s: the answer was lost but the update applied; not sending it again", operation
                )
                return
            try:
                # One request per attempt (not _call_json, which would retry it blindly).
                with self._exchange(
                    "PUT",
                    f"{module}/{record_id}",
                    operation=operation,
                    body=body,
                    headers={"Content-Type": "application/json"},
                ) as response:
                    _check(response, operation=operation)
            except (ZohoCRMConnectionError, ZohoCRMServerError) as error:
                lost = lost or not is_unreachable(error)
                raise

        self._retry(attempt, operation=operation)

    def _added_files(
        self,
        module: str,
        record_id: str,
        field: str,
        files: Sequence[Mapping[str, Any]],
        *,
        known: Sequence[FieldFile],
        kept: Sequence[FieldFile],
    ) -> list[FieldAttachResult]:
        """
        The results of an attach: each added file with the item id Zoho gave it.

        :param known: what the field held before the update.
        :param kept: what it must still hold (all of ``known`` unless the update replaced them).
        :raises ZohoCRMTransferError: ``FIELD_FILES_REPLACED`` if Zoho dropped files it should have
            kept (an update that replaces the field's list instead of adding to it).
        """
        held = self._list_field_files(module, record_id, [field])
        _check_kept(held, kept, field=field, where=f"{module}/{record_id}")
        known_ids = {item["id"] for item in known}
        by_file_id = {item["file_id"]: item for item in held if item["id"] not in known_ids}
        results: list[FieldAttachResult] = []
        for entry in files:
            item = by_file_id.get(entry["file_id"])
            results.append(
                {
                    "attachment_id": item["id"] if item else None,
                    "file_id": entry["file_id"],
                    "file_name": (item["file_name"] if item else None) or entry.get("file_name"),
                    "size": item["size"] if item else entry.get("size"),
                    "sha256": entry.get("sha256"),
                    "module": module,
                    "record_id": record_id,
                    "field": field,
                    "created_time": item["created_time"] if item else None,
                }
            )
        self.log.info("Added %d file(s) to %s of %s/%s", len(results), field, module, record_id)
        return results

    def remove_field_files(
        self, module: str, record_id: str | int, field: str, ids: Any
    ) -> list[FieldRemoveResult]:
        """
        Remove files from a record's file or image field (one record update).

        An id the field no longer holds counts as removed, so a re-run succeeds.

        :param module: the module API name.
        :param record_id: the record id.
        :param field: the field's API name.
        :param ids: the items' ids (``id`` of :meth:`list_field_files`): one, a list, or a
            comma-separated string.
        :return: ``{"attachment_id", "module", "record_id", "field", "status"}`` per id, with
            ``status`` ``"deleted"`` or ``"absent"`` (it was not in the field).
        """
        module = normalize_module(module)
        record_id = validate_id(record_id)
        wanted = validate_ids(ids, argument="ids")
        spec = self._file_field(module, field)
        held = {item["id"] for item in self._list_field_files(module, record_id, [spec.api_name])}
        present = [ident for ident in wanted if ident in held]
        if present:
            self._update_field(module, record_id, spec.api_name, (), present)
        return [
            {
                "attachment_id": ident,
                "module": module,
                "record_id": record_id,
                "field": spec.api_name,
                "status": "deleted" if ident in held else "absent",
            }
            for ident in wanted
        ]


def _check_kept(held: Sequence[FieldFile], kept: Sequence[FieldFile], *, field: str, where: str) -> None:
    """Raise if files the field held, and that nobody asked to remove, are gone after an update."""
    held_ids = {item["id"] for item in held}
    gone = [item for item in kept if item["id"] not in held_ids]
    if gone:
        names = ", ".join(repr(item["file_name"] or item["id"]) for item in gone)
        raise ZohoCRMTransferError(
            f"Zoho removed {len(gone)} file(s) of {field} of {where} that the update should have "
            f"kept: {names}",
            code="FIELD_FILES_REPLACED",
            details={"removed_by_zoho": [item["id"] for item in gone], "field": field},
            operation=f"update the field {field} of {where}",
            hint="This org's Zoho replaces a field's files on update: attach all of them at once with "
            "replace=True (download the missing ones first from the record's history or a backup).",
        )


def _unattached(error: ZohoCRMError, uploaded: Sequence[Mapping[str, Any]]) -> ZohoCRMError:
    """``error``, naming the files uploaded to ZFS that the failed update left unattached."""
    if not uploaded:
        return error
    ids = [entry["file_id"] for entry in uploaded]
    names = ", ".join(repr(entry.get("file_name")) for entry in uploaded)
    return type(error)(
        f"{error.message}; uploaded to the Zoho File System but not attached: {names} ({', '.join(ids)})",
        code=error.code,
        status_code=error.status_code,
        details={**error.details, "unattached_file_ids": ids},
        hint="Attach them with sources_or_file_ids=[{'file_id': ...}] once the cause is fixed, "
        "or upload again.",
        operation=error.operation,
    )
