"""The attachment list (with Zoho's pagination rules) and the upload endpoint of the emulator."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from airflow_provider_zoho_attach.testing._emulator_http import (
    FIELD_LIMIT,
    FORM_LIMIT,
    MULTIPART_SLACK,
    Response,
    api_error,
    guess_content_type,
    json_response,
)
from airflow_provider_zoho_attach.testing._emulator_io import (
    BodyReader,
    DiscardSink,
    FileSink,
    MemorySink,
    PartInfo,
    Sink,
    TooLarge,
    parse_header_value,
    parse_multipart,
)
from airflow_provider_zoho_attach.testing._emulator_model import EmulatorConfig, format_time
from airflow_provider_zoho_attach.testing._emulator_store import (
    USER,
    ApiError,
    Attachment,
    PageResult,
    Record,
    Store,
)

__all__ = [
    "ambiguous_pages",
    "check_discrete_limit",
    "fields_param",
    "int_param",
    "invalid_param",
    "list_attachments",
    "missing_param",
    "read_page_token",
    "upload_attachment",
]

_MAX_PER_PAGE = 200
_MAX_URL_LENGTH = 3000
_MAX_TITLE_LENGTH = 255


def missing_param(param: str) -> ApiError:
    """400 ``REQUIRED_PARAM_MISSING`` for a query parameter."""
    return api_error(
        400, "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing", {"param_name": param}
    )


def invalid_param(param: str, message: str = "invalid data") -> ApiError:
    """400 ``INVALID_DATA`` for a query parameter."""
    return api_error(400, "INVALID_DATA", message, {"param_name": param})


def int_param(query: dict[str, str], name: str, default: int, low: int, high: int | None) -> int:
    """An integer query parameter in ``low..high`` (``default`` when absent; else ``INVALID_DATA``)."""
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise invalid_param(name) from None
    if value < low or (high is not None and value > high):
        raise invalid_param(name)
    return value


def fields_param(query: dict[str, str], config: EmulatorConfig) -> list[str]:
    """
    The names in ``fields`` (required while ``fields_required``; at most ``max_fields``).

    :raises ApiError: 400 ``REQUIRED_PARAM_MISSING`` or ``LIMIT_EXCEEDED``.
    """
    fields = [name.strip() for name in query.get("fields", "").split(",") if name.strip()]
    if not fields and config.fields_required:
        raise missing_param("fields")
    if len(fields) > config.max_fields:
        raise api_error(
            400,
            "LIMIT_EXCEEDED",
            "Fields limit exceeded",
            {"param_name": "fields", "limit": config.max_fields},
        )
    return fields


def ambiguous_pages(query: dict[str, str]) -> None:
    """
    Refuse ``page`` together with ``page_token`` (spec §7).

    ``details.ambiguity_due_to`` lists the two, in the shape of Zoho's ``common.json``
    (``AmbiguityDetails``: ``api_name`` and ``json_path`` of each).

    :raises ApiError: 400 ``AMBIGUITY_DURING_PROCESSING``.
    """
    if "page" in query and "page_token" in query:
        raise api_error(
            400,
            "AMBIGUITY_DURING_PROCESSING",
            "page and page_token cannot be given together",
            {
                "ambiguity_due_to": [
                    {"api_name": name, "json_path": f"$.{name}"} for name in ("page", "page_token")
                ]
            },
        )


def check_discrete_limit(page: int, per_page: int, limit: int) -> None:
    """
    Refuse a page beyond the first ``limit`` rows (reachable without ``page_token``).

    :raises ApiError: 400 ``DISCRETE_PAGINATION_LIMIT_EXCEEDED``.
    """
    if page * per_page > limit:
        raise api_error(
            400,
            "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
            f"You can only get the first {limit} records without using page_token param",
            {"limit": limit},
        )


def _bind_digest(record: Record, fields: list[str], per_page: int, ids: list[str] | None) -> str:
    material = "\x00".join(
        (record.module, record.id, ",".join(sorted(set(fields))), str(per_page), ",".join(sorted(ids or ())))
    )
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def list_attachments(store: Store, query: dict[str, str], record: Record) -> Response:
    """
    ``GET .../{module}/{record_id}/Attachments``: one page of a record's attachments, newest first.

    Pagination follows spec §7: ``page`` x ``per_page`` may reach the first
    ``discrete_pagination_limit`` rows; beyond, the signed, parameter-bound ``next_page_token``
    must be used (alone, without ``page``).

    :param store: the emulator's store.
    :param query: the query parameters.
    :param record: the parent record.
    """
    config = store.config
    fields = fields_param(query, config)
    ambiguous_pages(query)
    per_page = int_param(query, "per_page", _MAX_PER_PAGE, 1, _MAX_PER_PAGE)
    page = int_param(query, "page", 1, 1, None)
    ids = _ids_param(query)
    bind = _bind_digest(record, fields, per_page, ids)

    token = query.get("page_token")
    if token is not None:
        page, walked, result = _page_by_token(store, record, token, bind=bind, ids=ids, per_page=per_page)
    else:
        check_discrete_limit(page, per_page, config.discrete_pagination_limit)
        walked = (page - 1) * per_page
        result = store.page(record, ids=ids, per_page=per_page, offset=walked)

    rows = result.rows
    more = result.start + len(rows) < result.total
    if not rows:
        if config.empty_list_status == 204:
            return Response(status=204)
        return json_response(200, {"data": [], "info": _info(per_page, 0, page, False, None, None, None)})
    data = _row_data(rows, fields, config)

    next_token = expiry = previous_token = None
    if more:
        next_token, expires = store.make_page_token(
            after=rows[-1].key, walked=walked + len(rows), page=page + 1, bind=bind
        )
        expiry = format_time(expires, config.tz())
    if token is not None and result.start > 0:
        previous_token, _ = store.make_page_token(
            after=result.previous_after, walked=max(0, walked - per_page), page=max(1, page - 1), bind=bind
        )
    return json_response(
        200,
        {"data": data, "info": _info(per_page, len(data), page, more, next_token, previous_token, expiry)},
    )


def _ids_param(query: dict[str, str]) -> list[str] | None:
    """
    The attachment ids of ``ids`` (``None`` when absent).

    :raises ApiError: 400 ``INVALID_DATA`` for an empty list or an id that is not digits.
    """
    if "ids" not in query:
        return None
    ids = [part.strip() for part in query["ids"].split(",") if part.strip()]
    if not ids or not all(part.isdigit() for part in ids):
        raise invalid_param("ids")
    return ids


def read_page_token(store: Store, token: str, bind: str) -> dict[str, Any]:
    """
    The content of a ``page_token`` (of an attachment listing or of Get Records).

    :param store: the emulator's store.
    :param token: the ``page_token``.
    :param bind: the digest of the parameters the token must have been issued for.
    :raises ApiError: 400 for a token that is not one, was issued for other parameters, has
        expired, or has walked past ``max_token_rows``.
    """
    content = store.read_page_token(token)
    if content is None:
        raise invalid_param("page_token", "The token given seems to be invalid")
    if content.get("b") != bind:
        raise api_error(
            400,
            "TOKEN_BOUND_DATA_MISMATCH",
            "the parameters do not match the ones the page_token was issued for",
            {"param_name": "page_token"},
        )
    if float(content.get("e", 0)) <= store.clock.now():
        raise api_error(400, "EXPIRED_VALUE", "the page_token has expired", {"param_name": "page_token"})
    limit = store.config.max_token_rows
    if int(content.get("w", 0)) >= limit:
        raise api_error(
            400,
            "PAGINATION_LIMIT_EXCEEDED",
            f"You can only get {limit} records using page_token",
            {"limit": limit},
        )
    return content


def _page_by_token(
    store: Store, record: Record, token: str, *, bind: str, ids: list[str] | None, per_page: int
) -> tuple[int, int, PageResult]:
    """
    The page a ``page_token`` points to: (page number, rows walked before it, the page).

    :param store: the emulator's store.
    :param record: the parent record.
    :param token: the ``page_token``.
    :param bind: the digest of the parameters the token must have been issued for.
    :param ids: the ``ids`` filter.
    :param per_page: rows per page.
    :raises ApiError: 400 for a token that is not one, was issued for other parameters, has
        expired, or has walked past ``max_token_rows``.
    """
    content = read_page_token(store, token, bind)
    walked = int(content.get("w", 0))
    page = int(content.get("p", 1))
    after = content.get("a")
    result = store.page(
        record, ids=ids, per_page=per_page, after=(after[0], after[1]) if after is not None else None
    )
    return page, walked, result


def _row_data(rows: list[Attachment], fields: list[str], config: EmulatorConfig) -> list[dict[str, Any]]:
    """
    The attachments of a page as Zoho lists them: the ``fields`` asked for (and ``id``), or all.

    :param rows: the page's attachments.
    :param fields: the names in ``fields`` (empty: every field).
    :param config: the emulator's configuration (whether ``id`` always comes).
    """
    wanted = set(fields)
    if config.always_include_id or not fields:
        wanted.add("id")
    if fields:
        return [{key: value for key, value in row.full.items() if key in wanted} for row in rows]
    return [dict(row.full) for row in rows]


def _info(  # noqa: PLR0917 - mirrors the seven keys of Zoho's info block
    per_page: int,
    count: int,
    page: int,
    more: bool,
    next_token: str | None,
    previous_token: str | None,
    expiry: str | None,
) -> dict[str, Any]:
    return {
        "per_page": per_page,
        "count": count,
        "page": page,
        "more_records": more,
        "next_page_token": next_token,
        "previous_page_token": previous_token,
        "page_token_expiry": expiry,
    }


def _valid_url(url: str) -> bool:
    if len(url) > _MAX_URL_LENGTH or any(c.isspace() for c in url):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and "." in (parts.hostname or "")


def _success(attachment_id: str, created: str) -> dict[str, Any]:
    by = {"name": USER["name"], "id": USER["id"]}
    return {
        "data": [
            {
                "code": "SUCCESS",
                "details": {
                    "Modified_Time": created,
                    "Modified_By": by,
                    "Created_Time": created,
                    "id": attachment_id,
                    "Created_By": dict(by),
                },
                "message": "attachment uploaded successfully",
                "status": "success",
            }
        ]
    }


def upload_attachment(
    store: Store,
    record: Record,
    *,
    body: BodyReader,
    content_type_header: str,
    query: dict[str, str],
    remember_form: Callable[[dict[str, str]], None],
) -> Response:
    """
    ``POST .../{module}/{record_id}/Attachments``: store a file (multipart part ``file``) or a link.

    The file part streams straight into the blob directory, never into memory. A link comes as
    ``attachmentUrl`` (+ ``title``) in the query string (the SDK's way) or as form fields (the
    docs' way).

    :param store: the emulator's store.
    :param record: the parent record.
    :param body: the request body.
    :param content_type_header: the request's ``Content-Type``.
    :param query: the query parameters.
    :param remember_form: receives the text fields of the body (for the request log).
    """
    sent = _read_upload_body(store, body, content_type_header)
    remember_form(sent.form)
    url = query.get("attachmentUrl", sent.form.get("attachmentUrl"))
    title = query.get("title", sent.form.get("title"))
    if sent.file_sink is not None and url is not None:
        sent.discard_file()
        raise api_error(400, "INVALID_DATA", "a file and a link cannot be attached in the same request")
    if sent.extra_files:
        sent.discard_file()
        raise api_error(
            400, "INVALID_DATA", "only one file can be attached per request", {"param_name": "file"}
        )
    if sent.file_sink is None and url is None:
        raise missing_param("file")
    if url is not None:
        return _attach_link(store, record, url, title)
    return _store_file(store, record, sent)


@dataclass
class _UploadBody:
    """
    What the body of an upload held.

    :param form: its ``attachmentUrl`` and ``title`` fields.
    :param file_sink: where its ``file`` part went (``None``: it had none).
    :param file_info: the headers of its ``file`` part.
    :param extra_files: how many more ``file`` parts it had (they were thrown away).
    """

    form: dict[str, str] = field(default_factory=dict)
    file_sink: FileSink | None = None
    file_info: PartInfo | None = None
    extra_files: int = 0

    def discard_file(self) -> None:
        """Delete the stored file part, if any."""
        if self.file_sink is not None:
            self.file_sink.abort()


def _too_big() -> ApiError:
    return api_error(
        413,
        "FILE_SIZE_MORE_THAN_ALLOWED_SIZE",
        "Please check if the size of the file is in the correct range",
    )


def _read_upload_body(store: Store, body: BodyReader, content_type_header: str) -> _UploadBody:
    """
    Read an upload's body: multipart (the file streams to a blob), a form, or nothing else.

    :param store: the emulator's store (its blob directory and upload limit).
    :param body: the request body.
    :param content_type_header: the request's ``Content-Type``.
    """
    content_type, params = parse_header_value(content_type_header)
    if content_type == "multipart/form-data":
        return _read_multipart_upload(store, body, params.get("boundary", ""))
    if content_type == "application/x-www-form-urlencoded":
        try:
            raw = body.read_all(FORM_LIMIT)
        except TooLarge:
            raise invalid_param("attachmentUrl", "the form is too large") from None
        form = {
            key: value
            for key, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
            if key in ("attachmentUrl", "title")
        }
        return _UploadBody(form=form)
    return _UploadBody()


def _read_multipart_upload(store: Store, body: BodyReader, boundary: str) -> _UploadBody:
    """
    Stream a multipart upload: the first ``file`` part to a blob, the link fields to memory.

    :param store: the emulator's store (its blob directory and upload limit).
    :param body: the request body.
    :param boundary: the multipart boundary.
    :raises ApiError: 413 for a body or a file over the upload limit (nothing is kept).
    """
    config = store.config
    # Refuse what is certainly too big before writing a byte of it.
    if body.length is not None and body.length > config.max_upload_size + MULTIPART_SLACK:
        raise _too_big()
    sent = _UploadBody()
    text_sinks: dict[str, MemorySink] = {}

    def open_sink(info: PartInfo) -> Sink:
        if info.name == "file":
            if sent.file_sink is not None:
                sent.extra_files += 1
                return DiscardSink()
            file_sink = FileSink(store.blob_path(), limit=config.max_upload_size)
            sent.file_sink, sent.file_info = file_sink, info
            return file_sink
        if info.name in ("attachmentUrl", "title") and info.filename is None:
            text_sinks[info.name] = MemorySink(limit=FIELD_LIMIT)
            return text_sinks[info.name]
        return DiscardSink()

    try:
        parse_multipart(body, boundary, open_sink)
    except TooLarge:
        sent.discard_file()
        raise _too_big() from None
    except BaseException:
        sent.discard_file()
        raise
    sent.form = {name: sink.text() for name, sink in text_sinks.items()}
    return sent


def _attach_link(store: Store, record: Record, url: str, title: str | None) -> Response:
    """
    Attach a link to ``record``, once: Zoho refuses a URL the record has already.

    :param store: the emulator's store.
    :param record: the parent record.
    :param url: the ``attachmentUrl``.
    :param title: the ``title`` (``None``: the URL is the name).
    """
    if not _valid_url(url):
        raise api_error(
            400,
            "INVALID_URL_PATTERN",
            "the given attachment URL is incorrect",
            {"param_name": "attachmentUrl"},
        )
    if title is not None and not 1 <= len(title) <= _MAX_TITLE_LENGTH:
        raise invalid_param("title")
    with store.lock:
        if store.has_link(record, url):
            raise api_error(
                400,
                "INVALID_DATA",
                "the given attachment URL is already attached to the record",
                {"param_name": "attachmentUrl"},
            )
        attachment = store.add_attachment(
            record, file_name=title or url, size=0, content_type="text/uri-list", link_url=url
        )
    return json_response(200, _success(attachment.id, attachment.full["Created_Time"]))


def _store_file(store: Store, record: Record, sent: _UploadBody) -> Response:
    """
    Keep an upload's file part as an attachment of ``record``, unless its name ends in a blocked type.

    :param store: the emulator's store.
    :param record: the parent record.
    :param sent: the upload's body, with its file part.
    """
    assert sent.file_sink is not None
    assert sent.file_info is not None
    file_name = os.path.basename((sent.file_info.filename or "file").replace("\\", "/")) or "file"
    if file_name.lower().endswith(tuple(ext.lower() for ext in store.config.blocked_extensions)):
        sent.discard_file()
        raise api_error(400, "INVALID_DATA", "invalid file type", {"param_name": "file"})
    part_type = sent.file_info.content_type
    attachment = store.add_attachment(
        record,
        file_name=file_name,
        size=sent.file_sink.size,
        content_type=part_type or guess_content_type(file_name),
        path=sent.file_sink.path,
    )
    return json_response(200, _success(attachment.id, attachment.full["Created_Time"]))
