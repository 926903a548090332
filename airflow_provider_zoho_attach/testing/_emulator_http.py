"""Building blocks of the emulator's HTTP answers: responses, Zoho's JSON headers and error shapes."""

from __future__ import annotations

import json
import mimetypes
from dataclasses import dataclass, field
from typing import Any, BinaryIO
from urllib.parse import quote

from airflow_provider_zoho_attach.testing._emulator_store import ApiError

__all__ = [
    "ADMIN_PREFIX",
    "Response",
    "api_error",
    "base_url",
    "content_disposition",
    "error_response",
    "file_response",
    "guess_content_type",
    "json_response",
    "sniff_image",
    "too_many",
]

#: Where the admin API lives (requests under it are not logged, not counted, never faulted).
ADMIN_PREFIX = "/__emulator__"

MULTIPART_SLACK = 64 * 1024
FORM_LIMIT = 64 * 1024
FIELD_LIMIT = 8 * 1024
_RFC5987_SAFE = "!#$&+^`|"

ZOHO_JSON_HEADERS = (
    ("Content-Type", "application/json;charset=UTF-8"),
    ("Content-Disposition", "attachment; filename=response.json"),
    ("Cache-Control", "no-store, no-cache, must-revalidate, private"),
    ("Pragma", "no-cache"),
    ("Expires", "Thu, 01 Jan 1970 00:00:00 GMT"),
    ("Content-Language", "en-US"),
)

# Guessed from the name when an upload part has no type; fixed here so that results do not
# depend on the machine's mime.types.
_TYPES_BY_EXTENSION = {
    ".pdf": "application/pdf",
    ".txt": "text/plain",
    ".csv": "text/csv",
    ".json": "application/json",
    ".xml": "application/xml",
    ".html": "text/html",
    ".htm": "text/html",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".bmp": "image/bmp",
    ".svg": "image/svg+xml",
    ".zip": "application/zip",
    ".gz": "application/gzip",
    ".doc": "application/msword",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xls": "application/vnd.ms-excel",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".ppt": "application/vnd.ms-powerpoint",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".bin": "application/octet-stream",
}

_IMAGE_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)

STATUS_CODES = {
    400: ("INVALID_DATA", "invalid data"),
    401: ("INVALID_TOKEN", "invalid oauth token"),
    403: ("NO_PERMISSION", "permission denied"),
    404: ("INVALID_URL_PATTERN", "Please check if the URL trying to access is a correct one"),
    429: ("TOO_MANY_REQUESTS", "Too many requests. Please try again after some time."),
    500: ("INTERNAL_ERROR", "Internal Server Error"),
}

HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>ZGS</center>\r\n</body>\r\n</html>\r\n"
)


def base_url(host: str, port: int) -> str:
    """``http://HOST:PORT`` (an IPv6 host in brackets)."""
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}"


def guess_content_type(file_name: str) -> str:
    """The MIME type of a file name (a fixed table first, then :mod:`mimetypes`)."""
    lowered = file_name.lower()
    dot = lowered.rfind(".")
    if dot >= 0 and lowered[dot:] in _TYPES_BY_EXTENSION:
        return _TYPES_BY_EXTENSION[lowered[dot:]]
    guessed, _ = mimetypes.guess_type(file_name, strict=False)
    return guessed or "application/octet-stream"


def sniff_image(head: bytes) -> str | None:
    """The image type of a file's first bytes (PNG, JPEG, GIF, BMP), or ``None``."""
    for signature, content_type in _IMAGE_SIGNATURES:
        if head.startswith(signature):
            return content_type
    return None


def content_disposition(file_name: str, style: str) -> str:
    """
    The ``Content-Disposition`` of a download.

    :param file_name: the file name.
    :param style: ``rfc5987`` (``attachment;filename*=UTF-8''...``), ``quoted``
        (``attachment;filename="..."``, non-ASCII sent as raw UTF-8) or ``both``.
    """
    extended = "filename*=UTF-8''" + quote(file_name, safe=_RFC5987_SAFE)
    if style == "rfc5987":
        return "attachment;" + extended
    if style == "quoted":
        escaped = file_name.replace("\\", "\\\\").replace('"', '\\"')
        # Header lines go out as latin-1: this sends the UTF-8 bytes unchanged.
        return 'attachment;filename="' + escaped.encode("utf-8").decode("latin-1") + '"'
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in file_name)
    return f'attachment;filename="{fallback}";{extended}'


@dataclass
class Response:
    """
    An answer ready to be sent.

    :param status: the HTTP status.
    :param headers: header lines (``Content-Length`` is added when sending).
    :param body: an in-memory body ...
    :param file: ... or an open file whose first ``file_size`` bytes are the body (closed after).
    :param file_size: the length of the file body.
    :param code: Zoho's code (or OAuth error) for the request log.
    :param close: close the connection after this answer.
    """

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    file: BinaryIO | None = None
    file_size: int = 0
    code: str | None = None
    close: bool = False

    @property
    def length(self) -> int:
        """The body length."""
        return self.file_size if self.file is not None else len(self.body)


def file_response(
    *, file_name: str, content_type: str, disposition: str, size: int, path: str | None, data: bytes | None
) -> Response:
    """
    A stored file as a download: from memory, or streamed from disk (``sendfile``).

    :param file_name: the name in ``Content-Disposition``.
    :param content_type: the ``Content-Type``.
    :param disposition: the :func:`content_disposition` style.
    :param size: the file's size (the body length when streamed).
    :param path: the file holding the content ...
    :param data: ... or the content.
    :return: 200, or 204 when the file went away before it could be opened.
    """
    headers = [
        ("Content-Type", content_type),
        ("Content-Disposition", content_disposition(file_name, disposition)),
        ("Cache-Control", "no-store, no-cache, must-revalidate, private"),
    ]
    if data is not None:
        return Response(status=200, headers=headers, body=data)
    assert path is not None
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed by the server's _send
    except FileNotFoundError:
        return Response(status=204)
    return Response(status=200, headers=headers, file=handle, file_size=size)


def json_response(
    status: int, payload: Any, *, zoho: bool = True, code: str | None = None, close: bool = False
) -> Response:
    """
    A JSON answer.

    :param status: the HTTP status.
    :param payload: the JSON value.
    :param zoho: add Zoho's JSON headers (``Content-Disposition: ...response.json`` and the rest);
        ``False`` for the accounts server and the admin API.
    :param code: the code for the log (taken from ``payload["code"]`` when it is an error).
    :param close: close the connection afterwards.
    """
    headers = list(ZOHO_JSON_HEADERS) if zoho else [("Content-Type", "application/json;charset=UTF-8")]
    if code is None and isinstance(payload, dict) and payload.get("status") == "error":
        code = payload.get("code")
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(status=status, headers=headers, body=body, code=code, close=close)


def error_response(error: ApiError) -> Response:
    """The answer of an :class:`ApiError`."""
    return json_response(error.status, error.body(), code=error.code)


def api_error(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> ApiError:
    """An :class:`ApiError` (Zoho's four-key error)."""
    return ApiError(status, code, message, details)


def too_many(message: str) -> Response:
    """A 429 ``TOO_MANY_REQUESTS`` answer (no ``Retry-After``: Zoho documents none)."""
    return error_response(api_error(429, "TOO_MANY_REQUESTS", message))
