"""Operator that puts files into a Zoho CRM record's file-upload or image-upload field."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_zoho_attach.operators.base import ZohoCRMBaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["ZohoCRMUploadFieldFilesOperator"]


class ZohoCRMUploadFieldFilesOperator(ZohoCRMBaseOperator):
    """
    Put files into a file-upload or image-upload field of a Zoho CRM record.

    The files are uploaded to the Zoho File System, then the record is updated once with all of
    them, so the field never holds half of a task's files. ``source`` takes what the attachment
    upload takes: a file, a directory, a glob, an object-storage URL or ``ObjectStoragePath``, or a
    list of those. The field's file limit (1 or 5 for a file field, up to 10 for an image field) is
    checked before anything is uploaded.

    Re-running is safe: with ``skip_if_exists`` (the default) a file the field already holds with
    the same name, size and SHA-256 is not added again. With ``replace=True`` the field ends up
    holding exactly the given files: its other files are removed in the same update, and nothing
    is sent if it already holds exactly these.

    Returns one result per file: ``{"attachment_id", "file_id", "file_name", "size", "sha256",
    "module", "record_id", "field", "source", "status"}`` with ``status`` ``"uploaded"`` or
    ``"skipped"``; ``attachment_id`` is the field item's id, which
    :meth:`~airflow_provider_zoho_attach.hooks.zoho_crm.ZohoCRMHook.download_field_file` takes.

    .. seealso::
        :ref:`howto/operator:ZohoCRMUploadFieldFilesOperator`

    :param module: the module API name. (templated)
    :param record_id: the record id. (templated)
    :param field: the field's API name, such as ``Signed_Contract``. (templated)
    :param source: what to upload (see above). (templated)
    :param replace: make the field hold exactly these files, removing its others.
    :param skip_if_exists: skip files the field already holds with the same name and bytes.
    :param zoho_conn_id: the ``zoho_crm`` connection. (templated)
    """

    template_fields: Sequence[str] = (*ZohoCRMBaseOperator.template_fields, "field", "source")

    def __init__(
        self,
        *,
        module: str,
        record_id: str | int,
        field: str,
        source: Any,
        replace: bool = False,
        skip_if_exists: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(module=module, record_id=record_id, **kwargs)
        self.field = field
        self.source = source
        self.replace = replace
        self.skip_if_exists = skip_if_exists

    def execute(self, context: Context) -> list[dict[str, Any]]:
        from airflow_provider_zoho_attach.utils.transfer import UploadSource, expand_sources

        module, record_id = self.target()
        files = expand_sources(self.source, argument="source")
        uploads = [UploadSource(path) for path in files]
        self.persist_record_link(context, module, record_id)
        field_name = str(self.field).strip()
        # Also refuses a field that holds no files, before anything is uploaded.
        held = self.hook.list_field_files(module, record_id, field_name)
        matches = self._already_held(module, record_id, uploads, held) if self.skip_if_exists else {}
        if self.replace and len(matches) == len(uploads) == len(held):
            self.log.info("%s of %s/%s already holds exactly these files", field_name, module, record_id)
            skipped = [
                self._skipped(module, record_id, field_name, path, matches[index])
                for index, path in enumerate(files)
            ]
            for entry in skipped:
                self.lineage.uploaded(entry, entry["source"])
            return skipped
        if self.replace:
            matches = {}
        results: list[dict[str, Any] | None] = [None] * len(files)
        for index, item in matches.items():
            results[index] = self._skipped(module, record_id, field_name, files[index], item)
        todo = [index for index in range(len(files)) if index not in matches]
        if todo:
            added = self.hook.attach_to_field(
                module, record_id, field_name, [files[i] for i in todo], replace=self.replace
            )
            for index, result in zip(todo, added, strict=True):
                results[index] = {**result, "source": str(files[index]), "status": "uploaded"}
        done = [entry for entry in results if entry is not None]
        for entry in done:
            self.lineage.uploaded(entry, entry["source"])
        return done

    def _already_held(
        self, module: str, record_id: str, uploads: Sequence[Any], held: Sequence[Mapping[str, Any]]
    ) -> dict[int, Mapping[str, Any]]:
        """Which sources the field already holds byte for byte: source index -> field item."""
        matches: dict[int, Mapping[str, Any]] = {}
        digests: dict[str, str | None] = {}
        taken: set[str] = set()
        for index, upload in enumerate(uploads):
            candidates = [
                item
                for item in held
                if item["id"] not in taken
                and (item["file_name"], item["size"]) == (upload.file_name, upload.size)
            ]
            mine = upload.sha256() if candidates else None
            for item in candidates:
                if item["id"] not in digests:
                    digests[item["id"]] = self.hook.field_file_sha256(module, record_id, item["id"])
                if digests[item["id"]] == mine:
                    matches[index] = item
                    taken.add(item["id"])
                    break
        return matches

    def _skipped(
        self, module: str, record_id: str, field: str, source: Any, item: Mapping[str, Any]
    ) -> dict[str, Any]:
        self.log.info(
            "%s is already in %s of %s/%s as %s (same name, size and SHA-256); skipped",
            item["file_name"],
            field,
            module,
            record_id,
            item["id"],
        )
        return {
            "attachment_id": item["id"],
            "file_id": item["file_id"],
            "file_name": item["file_name"],
            "size": item["size"],
            "module": module,
            "record_id": record_id,
            "field": field,
            "source": str(source),
            "status": "skipped",
        }
