"""The sync hook's upload core and its recovery from lost answers (uploads and links)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_zoho_attach.exceptions import ZohoCRMError, ZohoCRMTransferError
from airflow_provider_zoho_attach.hooks._base import (
    _check,
    _listing,
    _may_have_stored,
    _not_replayable,
    _source_sha256,
)
from airflow_provider_zoho_attach.hooks._downloads import _DownloadCore
from airflow_provider_zoho_attach.results import UploadResult
from airflow_provider_zoho_attach.utils.filters import link_attachment
from airflow_provider_zoho_attach.utils.protocol import attachment_size, attachments_path, first_item
from airflow_provider_zoho_attach.utils.transfer import MultipartBody, UploadSource


class _UploadCore(_DownloadCore):
    """Sends a file once, and looks for a stored copy before sending it again after a lost answer."""

    def _upload(
        self,
        module: str,
        record_id: str,
        upload: UploadSource,
        *,
        size: int,
        kind: str,
        known_ids: Iterable[str] | None,
        on_progress: Callable[[int], None] | None,
    ) -> UploadResult:
        """
        Upload a checked source with retries (see ``upload_attachment``).

        :param module: the checked module API name.
        :param record_id: the checked record id.
        :param upload: the source, its size known and checked against Zoho's limit.
        :param size: the source's size in bytes.
        :param kind: the file part's media type.
        :param known_ids: ids of attachments that were on the record before this upload, if known.
        :param on_progress: called with the size of each chunk sent.
        """
        pending = _PendingUpload(
            module,
            record_id,
            upload,
            size=size,
            kind=kind,
            on_progress=on_progress,
            # What was on the record before the first attempt can never be this upload's lost copy.
            before={str(ident) for ident in known_ids} if known_ids is not None else None,
        )

        def attempt() -> UploadResult:
            if pending.before is None:
                pending.before = {
                    str(record["id"])
                    for record in self._records(_listing(module, record_id, fields=("File_Name",)))
                }
            if pending.maybe_stored:
                recovered = self._recover_lost_upload(pending)
                if recovered is not None:
                    return recovered
            if pending.started_before and not upload.replayable:
                raise _not_replayable(pending.operation)
            return self._send_upload(pending)

        result = self._retry(attempt, operation=pending.operation)
        self.log.info(
            "Uploaded %r (%d bytes) to %s/%s as %s",
            upload.file_name,
            size,
            module,
            record_id,
            result["attachment_id"],
        )
        return result

    def _recover_lost_upload(self, pending: _PendingUpload) -> UploadResult | None:
        """
        The result of an earlier attempt that stored the file although its answer was lost, if any.

        An earlier attempt failed after Zoho may have stored the file (only the answer was lost):
        look before sending it a second time.

        :param pending: the upload, with what its earlier attempts left to know.
        :return: the upload's result if the record has its stored copy, else ``None`` (send it).
        """
        if pending.source_sha256 is None:
            pending.source_sha256 = _source_sha256(pending.upload, pending.operation)
        recovered = self._find_lost_upload(pending, pending.source_sha256)
        if recovered is None:
            return None
        self.log.warning(
            "%s: the answer was lost but Zoho stored the file as %s (same name, size and "
            "SHA-256, not on the record before); not sending it again",
            pending.operation,
            recovered["id"],
        )
        return self._upload_result(pending, recovered, sha256=pending.source_sha256)

    def _send_upload(self, pending: _PendingUpload) -> UploadResult:
        """
        Send the file once (no retries); note on ``pending`` what a failure may have left at Zoho.

        :param pending: the upload, with what its earlier attempts left to know.
        """
        upload, operation = pending.upload, pending.operation
        body = MultipartBody(
            field="file",
            file_name=upload.file_name,
            content_type=pending.kind,
            opener=upload.open,
            size=pending.size,
            on_progress=pending.on_progress,
        )
        try:
            with self._exchange(
                "POST",
                attachments_path(pending.module, pending.record_id),
                operation=operation,
                body=body,
                headers={"Content-Type": body.content_type},
            ) as response:
                payload = _check(response, operation=operation)
        except ZohoCRMError as error:
            pending.started_before = pending.started_before or body.started
            if _may_have_stored(error, body):
                pending.maybe_stored = True
                pending.source_sha256 = pending.source_sha256 or body.sha256
            raise
        item = first_item(payload, operation=operation)
        details = item.get("details") if isinstance(item.get("details"), Mapping) else {}
        return self._upload_result(pending, details or {}, sha256=body.sha256)

    @staticmethod
    def _upload_result(
        pending: _PendingUpload, details: Mapping[str, Any], *, sha256: str | None
    ) -> UploadResult:
        """
        The result of an upload Zoho stored.

        :param pending: the upload.
        :param details: Zoho's ``details`` of the stored attachment (``id``, ``Created_Time``).
        :param sha256: the SHA-256 of what was sent.
        :raises ZohoCRMTransferError: ``INVALID_RESPONSE`` if Zoho named no attachment id.
        """
        attachment_id = details.get("id")
        if not attachment_id:
            raise ZohoCRMTransferError(
                "Zoho CRM accepted the upload but returned no attachment id",
                code="INVALID_RESPONSE",
                operation=pending.operation,
            )
        return {
            "attachment_id": str(attachment_id),
            "file_name": pending.upload.file_name,
            "size": pending.size,
            "sha256": sha256,
            "module": pending.module,
            "record_id": pending.record_id,
            "created_time": details.get("Created_Time"),
        }

    def _find_lost_upload(self, pending: _PendingUpload, sha256: str) -> Mapping[str, Any] | None:
        """
        The attachment a previous attempt stored before its answer was lost, if there is one.

        Only an attachment that was not on the record before the first attempt, with the same name
        and size, and whose bytes have the same SHA-256 (downloaded to check) counts: another
        user's file of the same name is never taken for ours.

        :param pending: the upload, with the ids that were on the record before its first attempt.
        :param sha256: the SHA-256 of the source.
        """
        module, record_id, operation = pending.module, pending.record_id, pending.operation
        file_name, size, excluded = pending.upload.file_name, pending.size, pending.before or set()
        try:
            listing = _listing(module, record_id, fields=("File_Name", "Size", "Created_Time"))
            records = list(self._records(listing))
            for record in records:
                ident = str(record.get("id"))
                if ident in excluded:
                    continue
                if record.get("File_Name") != file_name or attachment_size(record) != size:
                    continue
                if size and self._attachment_sha256(module, record_id, ident, operation) != sha256:
                    continue
                return {"id": ident, "Created_Time": record.get("Created_Time")}
        except ZohoCRMError as error:
            # Sending again without knowing could store the file twice: fail (or retry the check).
            self.log.warning("Could not check for a stored copy before retrying the upload (%s)", error.code)
            error.extend_message(" (while checking whether Zoho stored the upload; it was not sent again)")
            raise
        return None

    def _find_link(self, module: str, record_id: str, url: str) -> Mapping[str, Any] | None:
        """The link attachment of ``url`` on the record, if there is one (``None`` if the check fails)."""
        try:
            records = list(self._records(_listing(module, record_id, fields=("$link_url", "File_Name"))))
        except ZohoCRMError as error:
            self.log.warning("Could not check for the link before retrying (%s)", error.code)
            return None
        record = link_attachment(records, url)
        if record is not None:
            self.log.warning("The answer was lost but Zoho attached the link as %s", record.get("id"))
        return record


@dataclass
class _PendingUpload:
    """
    One upload across its attempts: what it sends, and what its earlier attempts left to know.

    :param module: the checked module API name.
    :param record_id: the checked record id.
    :param upload: the source.
    :param size: the source's size in bytes.
    :param kind: the file part's media type.
    :param on_progress: called with the size of each chunk sent.
    :param before: the ids on the record before the first attempt (``None``: not listed yet).
    :param maybe_stored: an attempt failed after Zoho may have stored the file.
    :param started_before: an attempt started reading the source.
    :param source_sha256: the SHA-256 of the source, once known.
    """

    module: str
    record_id: str
    upload: UploadSource
    size: int
    kind: str
    on_progress: Callable[[int], None] | None
    before: set[str] | None
    maybe_stored: bool = False
    started_before: bool = False
    source_sha256: str | None = None

    @property
    def operation(self) -> str:
        """What is being done, for log lines and errors."""
        return f"upload {self.upload.file_name!r} to {self.module}/{self.record_id}"
