"""The sync hook's download core: one streamed, verified GET, retried from the start."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import IO, TYPE_CHECKING, Any, cast

from airflow_provider_zoho_attach.exceptions import ZohoCRMNotFoundError, ZohoCRMTransferError
from airflow_provider_zoho_attach.hooks._base import (
    _ERROR_BODY_LIMIT,
    _check,
    _check_json_file,
    _content_length,
    _may_be_json_answer,
)
from airflow_provider_zoho_attach.hooks._sync_transport import _SyncTransport
from airflow_provider_zoho_attach.results import DownloadedFile
from airflow_provider_zoho_attach.utils.downloads import BodyCopy
from airflow_provider_zoho_attach.utils.filenames import filename_from_content_disposition
from airflow_provider_zoho_attach.utils.protocol import attachment_path
from airflow_provider_zoho_attach.utils.transfer import CHUNK_SIZE, DownloadTarget

if TYPE_CHECKING:
    import requests


class _DownloadCore(_SyncTransport):
    """Streams a file into a :class:`~airflow_provider_zoho_attach.utils.transfer.DownloadTarget`."""

    def _download(
        self,
        path: str,
        target: DownloadTarget,
        *,
        operation: str,
        tag: str,
        module: str | None = None,
        record_id: str | None = None,
        name_for: Callable[[str | None, str], str],
        on_progress: Callable[[int], None] | None = None,
        not_found: str = "no such attachment",
        params: Mapping[str, Any] | None = None,
    ) -> DownloadedFile:
        """
        Download ``path`` into ``target``, retried from the start until verified and in place.

        :param name_for: the safe file name, from the header's name (if any) and the content type.
        :param tag: what makes a clashing name unique (the attachment or record id).
        :param module: the record's module, reported in the result (none for a ZFS file).
        :param record_id: the record's id, reported in the result (none for a ZFS file).
        :param params: the request's query parameters.
        :return: ``{"file_name", "path", "size", "sha256", "content_type", "module", "record_id",
            "status"}``.
        """

        def attempt() -> DownloadedFile:
            header_name, size, sha256, content_type = self._download_once(
                path, target, operation=operation, on_progress=on_progress, not_found=not_found, params=params
            )
            final = target.commit(name_for(header_name, content_type), size=size, sha256=sha256, tag=tag)
            # A file of the Zoho File System belongs to no record: no module or record_id then.
            on_record = {} if module is None else {"module": module, "record_id": record_id}
            return cast(
                "DownloadedFile",
                {
                    "file_name": final.file_name,
                    "path": final.path,
                    "size": size,
                    "sha256": sha256,
                    "content_type": content_type,
                    **on_record,
                    "status": "unchanged" if final.unchanged else "downloaded",
                },
            )

        try:
            result = self._retry(attempt, operation=operation)
        finally:
            target.discard()
        if result["status"] == "unchanged":
            self.log.info("%s is already at %s (same size and SHA-256); kept it", operation, result["path"])
        return result

    def _file_name_of(self, module: str, record_id: str, attachment_id: str) -> str | None:
        try:
            return str(self._get_attachment(module, record_id, attachment_id).get("File_Name") or "") or None
        except ZohoCRMNotFoundError:
            return None

    def _download_once(
        self,
        path: str,
        target: DownloadTarget,
        *,
        operation: str,
        on_progress: Callable[[int], None] | None,
        not_found: str = "no such attachment",
        params: Mapping[str, Any] | None = None,
    ) -> tuple[str | None, int, str, str]:
        """
        One streamed GET into the target's temp file: (header name, size, sha256, content type).

        :param path: what to download.
        :param target: where the bytes go; its temp file is discarded if anything fails.
        :param operation: what is downloaded, for errors.
        :param on_progress: called with the size of each chunk written.
        :param not_found: what a 204 means, for its error.
        :param params: the request's query parameters.
        """
        target.discard()
        handle = target.open_temp()
        try:
            with self._exchange("GET", path, operation=operation, params=params, stream=True) as response:
                _check_download_status(response, operation=operation, not_found=not_found)
                size, sha256 = _receive_body(response, handle, operation=operation, on_progress=on_progress)
                header_name = filename_from_content_disposition(response.headers.get("Content-Disposition"))
                content_type = (response.headers.get("Content-Type") or "application/octet-stream").split(
                    ";"
                )[0]
            try:
                handle.flush()
            except OSError as error:
                raise _write_error(error, operation) from None
            return header_name, size, sha256, content_type.strip()
        except BaseException:
            handle.close()
            target.discard()
            raise
        finally:
            if not handle.closed:
                handle.close()

    def _attachment_sha256(
        self, module: str, record_id: str, attachment_id: str, operation: str
    ) -> str | None:
        """The SHA-256 of a stored attachment's bytes, streamed and discarded (``None`` if it is gone)."""
        return self._stored_sha256(attachment_path(module, record_id, attachment_id), operation=operation)

    def _stored_sha256(
        self, path: str, *, operation: str, params: Mapping[str, Any] | None = None
    ) -> str | None:
        """The SHA-256 of the file ``path`` answers, streamed and discarded (``None`` for 204)."""
        digest = hashlib.sha256()
        with self._exchange("GET", path, operation=operation, params=params, stream=True) as response:
            if response.status_code == 204:
                return None
            if response.status_code != 200:
                _check(response, operation=operation)
                return None
            try:
                for chunk in response.iter_content(CHUNK_SIZE):
                    digest.update(chunk)
            except Exception as error:
                raise ZohoCRMTransferError(
                    f"the connection broke while reading a stored file to check it ({type(error).__name__})",
                    code="CONNECTION_LOST",
                    status_code=200,
                    operation=operation,
                ) from None
        return digest.hexdigest()


def _check_download_status(response: requests.Response, *, operation: str, not_found: str) -> None:
    """
    Raise the error of a download's answer that is not the file (anything but HTTP 200).

    :param response: the answer, its body not read yet.
    :param operation: what is downloaded, for the error.
    :param not_found: what a 204 means, for its error.
    """
    if response.status_code == 204:
        raise ZohoCRMNotFoundError(
            f"Zoho CRM answered 204 No Content: {not_found}",
            code="NO_CONTENT",
            status_code=204,
            operation=operation,
        )
    if response.status_code != 200:
        _check(response, operation=operation)
        raise ZohoCRMTransferError(
            f"unexpected HTTP {response.status_code} for a download",
            code="UNEXPECTED_STATUS",
            status_code=response.status_code,
            operation=operation,
        )


def _receive_body(
    response: requests.Response,
    handle: IO[bytes],
    *,
    operation: str,
    on_progress: Callable[[int], None] | None,
) -> tuple[int, str]:
    """
    Write a 200 answer's body to ``handle`` and check it is whole and not Zoho's error: (size, sha256).

    :param response: the answer, its body not read yet.
    :param handle: the temp file the body goes to.
    :param operation: what is downloaded, for errors.
    :param on_progress: called with the size of each chunk written.
    """
    import requests

    # Zoho sends some errors as JSON with HTTP 200: keep the start of a JSON body to tell.
    may_be_json = _may_be_json_answer(response)
    expected = _content_length(response)
    body = BodyCopy(handle, keep=_ERROR_BODY_LIMIT + 1 if may_be_json else 0, on_progress=on_progress)
    try:
        body.write_all(response.iter_content(CHUNK_SIZE))
    except requests.RequestException as error:
        raise ZohoCRMTransferError(
            f"the connection broke after {body.size} bytes ({type(error).__name__})",
            code="CONNECTION_LOST",
            status_code=200,
            operation=operation,
            hint="The download is retried from the start; nothing partial is kept.",
        ) from None
    except OSError as error:
        raise _write_error(error, operation) from None
    if expected is not None and body.size != expected:
        raise ZohoCRMTransferError(
            f"the body ended after {body.size} of {expected} bytes",
            code="INCOMPLETE_BODY",
            status_code=200,
            operation=operation,
            hint="The download is retried from the start; nothing partial is kept.",
        )
    if may_be_json and len(body.head) <= _ERROR_BODY_LIMIT:
        # Raises Zoho's error if the body is one; a JSON file that is not one is kept.
        _check_json_file(bytes(body.head), operation=operation)
    return body.size, body.sha256


def _write_error(error: OSError, operation: str) -> ZohoCRMTransferError:
    """The error for a download that could not be written (full disk, no permission)."""
    return ZohoCRMTransferError(
        f"cannot write the download: {error.strerror or error}",
        code="DESTINATION_ERROR",
        operation=operation,
        hint="Check free space and permissions of the destination; nothing partial was kept.",
    )
