"""
The emulator's Files API (Zoho File System): ``POST /crm/{version}/files`` and ``GET .../files?id=``.

Uploads stream part by part into the blob directory (:mod:`._emulator_io`), so ten files of
20 MB cost a couple of MiB of memory, not 200 MB. A request is all or nothing: too many files, an
empty part, a file over the size limit or a virus verdict refuses every file of it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from airflow_provider_zoho_attach.testing._emulator_files import FileStore
from airflow_provider_zoho_attach.testing._emulator_http import (
    Response,
    file_response,
    guess_content_type,
    json_response,
)
from airflow_provider_zoho_attach.testing._emulator_io import (
    BodyReader,
    DiscardSink,
    FileSink,
    PartInfo,
    Sink,
    TooLarge,
    parse_header_value,
    parse_multipart,
)
from airflow_provider_zoho_attach.testing._emulator_store import ApiError

__all__ = ["download_file", "upload_files"]

_INVALID_REQUEST = (
    "unable to process your request. please verify whether you have entered proper method name, "
    "parameter and parameter values."
)


class _ScanningSink:
    """A :class:`FileSink` that also looks for the virus signature, across block boundaries."""

    def __init__(self, inner: FileSink, signature: bytes) -> None:
        self.inner = inner
        self.signature = signature
        self.found = False
        self._tail = b""

    def write(self, data: memoryview) -> None:
        self.inner.write(data)
        if self.signature and not self.found:
            window = self._tail + bytes(data)
            self.found = self.signature in window
            self._tail = window[len(window) - len(self.signature) + 1 :]

    def close(self) -> None:
        self.inner.close()


def _failure() -> ApiError:
    return ApiError(
        400,
        "failure_in_attachment_handling",
        "Problem in uploading attachment. kindly upload the file properly",
    )


def upload_files(
    files: FileStore, *, body: BodyReader, content_type_header: str, query: dict[str, str]
) -> Response:
    """
    ``POST .../files``: store each ``file`` part in ZFS; one ``data`` entry per file, in order.

    :param files: the emulator's ZFS.
    :param body: the request body.
    :param content_type_header: the request's ``Content-Type``.
    :param query: the query parameters (``type=inline`` marks inline images).
    """
    kind = query.get("type")
    if kind is not None and kind != "inline":
        raise ApiError(400, "INVALID_DATA", "invalid data", {"param_name": "type"})
    content_type, params = parse_header_value(content_type_header)
    if content_type != "multipart/form-data":
        raise _failure()
    sent = _read_file_parts(files, body, params.get("boundary", ""))
    names = [
        os.path.basename((info.filename or "file").replace("\\", "/")) or "file" for info, _ in sent.parts
    ]
    error = _refusal(files, sent, names)
    if error is not None:
        sent.discard()
        raise error
    data = []
    for name, (info, sink) in zip(names, sent.parts, strict=True):
        stored = files.add_zfs(
            name,
            sink.inner.size,
            info.content_type or guess_content_type(name),
            sink.inner.head,
            path=sink.inner.path,
            inline=kind == "inline",
        )
        data.append(
            {
                "code": "SUCCESS",
                "details": {"name": name, "id": stored.id},
                "message": f"{name} uploaded successfully",
                "status": "success",
            }
        )
    return json_response(200, {"data": data})


@dataclass
class _FileParts:
    """
    The ``file`` parts of a ZFS upload, each streamed to a blob and scanned.

    :param parts: each part's headers and sink, in order.
    :param extra: how many parts over the limit were thrown away.
    """

    parts: list[tuple[PartInfo, _ScanningSink]] = field(default_factory=list)
    extra: int = 0

    def discard(self) -> None:
        """Delete every stored part: a request is all or nothing."""
        for _, sink in self.parts:
            sink.inner.abort()


def _read_file_parts(files: FileStore, body: BodyReader, boundary: str) -> _FileParts:
    """
    Stream the ``file`` parts of a multipart body to blobs, up to ``max_zfs_files`` of them.

    :param files: the emulator's ZFS (its limits, its virus signature).
    :param body: the request body.
    :param boundary: the multipart boundary.
    :raises ApiError: ``FILE_SIZE_MORE_THAN_ALLOWED_SIZE`` for a file over the size limit (nothing
        is kept).
    """
    config = files.store.config
    signature = config.virus_signature.encode("utf-8")
    sent = _FileParts()

    def open_sink(info: PartInfo) -> Sink:
        if info.name != "file":
            return DiscardSink()
        if len(sent.parts) >= config.max_zfs_files:
            sent.extra += 1
            return DiscardSink()
        sink = _ScanningSink(FileSink(files.store.blob_path(), limit=config.max_zfs_file_size), signature)
        sent.parts.append((info, sink))
        return sink

    try:
        parse_multipart(body, boundary, open_sink)
    except TooLarge:
        sent.discard()
        raise ApiError(
            config.zfs_oversize_status,
            "FILE_SIZE_MORE_THAN_ALLOWED_SIZE",
            "Please check if the size of the file is in the correct range",
        ) from None
    except BaseException:
        sent.discard()
        raise
    return sent


def _refusal(files: FileStore, sent: _FileParts, names: list[str]) -> ApiError | None:
    """
    Why ZFS refuses every file of an upload, if it does: too many, an empty one, or a virus.

    :param files: the emulator's ZFS (its virus verdicts).
    :param sent: the upload's file parts.
    :param names: their file names, in order.
    """
    if sent.extra:
        return ApiError(400, "INVALID_REQUEST", _INVALID_REQUEST)
    if not sent.parts or any(sink.inner.size == 0 for _, sink in sent.parts):
        return _failure()
    if any(files.infected(name, sink.found) for name, (_, sink) in zip(names, sent.parts, strict=True)):
        return ApiError(400, "VIRUS_DETECTED", "Unable to process your request. Virus has been detected.")
    return None


def download_file(files: FileStore, query: dict[str, str]) -> Response:
    """``GET .../files?id=``: the file with its own type; 204 for an unknown (or empty) id."""
    if "id" not in query:
        raise ApiError(
            400, "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing", {"param_name": "id"}
        )
    found = files.servable(query["id"].strip())
    if found is None:
        return Response(status=204)
    return file_response(
        file_name=found.name,
        content_type=found.content_type,
        disposition=files.store.config.content_disposition_format,
        size=found.size,
        path=found.path,
        data=found.data,
    )
