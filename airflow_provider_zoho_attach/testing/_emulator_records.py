"""
The emulator's CRM endpoints besides listing and uploading: download and delete of attachments,
record photos, and the user and org endpoints. Each takes what it needs and returns a response;
the HTTP handler (:mod:`._emulator_server`) checks authentication and scopes before.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_zoho_attach.testing._emulator_http import (
    MULTIPART_SLACK,
    Response,
    api_error,
    content_disposition,
    file_response,
    json_response,
    sniff_image,
)
from airflow_provider_zoho_attach.testing._emulator_io import (
    BodyReader,
    DiscardSink,
    MemorySink,
    PartInfo,
    Sink,
    TooLarge,
    parse_header_value,
    parse_multipart,
)
from airflow_provider_zoho_attach.testing._emulator_model import EmulatorConfig
from airflow_provider_zoho_attach.testing._emulator_store import ORG_ID, ORG_ZGID, USER, Record, Store

__all__ = ["bulk_delete", "deleted", "download_attachment", "org_payload", "serve_photo", "users_payload"]


def users_payload() -> dict[str, Any]:
    """The answer of ``GET /crm/{version}/users``: the one user."""
    user = {
        "id": USER["id"],
        "full_name": USER["name"],
        "first_name": USER["name"].split()[0],
        "last_name": USER["name"].split()[-1],
        "email": USER["email"],
        "status": "active",
        "confirm": True,
        "role": {"name": "CEO", "id": "5725767000000026005"},
        "profile": {"name": "Administrator", "id": "5725767000000026011"},
        "time_zone": "Etc/UTC",
    }
    return {"users": [user], "info": {"per_page": 200, "count": 1, "page": 1, "more_records": False}}


def org_payload() -> dict[str, Any]:
    """The answer of ``GET /crm/{version}/org``."""
    return {
        "org": [
            {
                "id": ORG_ID,
                "zgid": ORG_ZGID,
                "company_name": "Emulated Org",
                "primary_email": USER["email"],
                "time_zone": "Etc/UTC",
                "currency": "US Dollar - USD",
                "iso_code": "USD",
                "domain_name": "org" + ORG_ZGID,
            }
        ]
    }


def download_attachment(store: Store, config: EmulatorConfig, record: Record, attachment_id: str) -> Response:
    """``GET .../Attachments/{id}``: the file (from memory or streamed from disk), 204 if gone."""
    attachment = store.get_attachment(record, attachment_id)
    if attachment is None:
        return Response(status=204)
    if attachment.kind != "File":
        raise api_error(400, "DOWNLOAD_NOT_ALLOWED", "As it is a linked attachment, you can not download it")
    return file_response(
        file_name=attachment.file_name,
        content_type=attachment.content_type,
        disposition=config.content_disposition_format,
        size=attachment.size,
        path=attachment.path,
        data=attachment.data,
    )


def bulk_delete(store: Store, config: EmulatorConfig, query: dict[str, str], record: Record) -> Response:
    """``DELETE .../Attachments?ids=...``: one entry per id, in order."""
    raw = query.get("ids")
    if raw is None or not raw.strip():
        raise api_error(
            400,
            "REQUIRED_PARAM_MISSING",
            "One of the expected parameter is missing",
            {"param_name": "ids"},
        )
    ids = [part.strip() for part in raw.split(",") if part.strip()]
    limit = config.max_bulk_delete_ids
    if len(ids) > limit:
        raise api_error(
            400,
            "LIMIT_EXCEEDED",
            f"Only {limit} ids can be deleted at once",
            {"param_name": "ids", "limit": limit},
        )
    data = []
    for attachment_id in ids:
        if attachment_id.isdigit() and store.delete_attachment(record, attachment_id):
            data.append(deleted(attachment_id))
        else:
            data.append(
                {
                    "code": "INVALID_DATA",
                    "details": {"id": attachment_id},
                    "message": "record not deleted",
                    "status": "error",
                }
            )
    return json_response(200, {"data": data})


def serve_photo(
    store: Store,
    config: EmulatorConfig,
    method: str,
    record: Record,
    *,
    body: BodyReader,
    content_type_header: str,
) -> Response:
    """``GET``, ``DELETE`` or ``POST .../{record}/photo``."""
    if method == "GET":
        photo = record.photo
        if photo is None:
            return Response(status=204)
        extension = photo.content_type.rsplit("/", 1)[-1].replace("jpeg", "jpg")
        name = f"{record.id}.{extension}"
        return Response(
            status=200,
            headers=[
                ("Content-Type", photo.content_type),
                (
                    "Content-Disposition",
                    content_disposition(name, config.content_disposition_format),
                ),
            ],
            body=photo.data,
        )
    if method == "DELETE":
        with store.lock:
            record.photo = None
        return json_response(
            200, {"code": "SUCCESS", "details": {}, "message": "Photo deleted", "status": "success"}
        )
    return _upload_photo(store, config, record, body, content_type_header)


def _upload_photo(
    store: Store, config: EmulatorConfig, record: Record, body: BodyReader, content_type_header: str
) -> Response:
    content_type, params = parse_header_value(content_type_header)
    too_big = api_error(
        415,
        "FILE_SIZE_MORE_THAN_ALLOWED_SIZE",
        "Please check if the size of the file is in the correct range",
    )
    if content_type != "multipart/form-data":
        raise api_error(
            400,
            "REQUIRED_PARAM_MISSING",
            "One of the expected parameter is missing",
            {"param_name": "file"},
        )
    if body.length is not None and body.length > config.max_photo_size + MULTIPART_SLACK:
        raise too_big
    photo: MemorySink | None = None

    def open_sink(info: PartInfo) -> Sink:
        nonlocal photo
        if info.name == "file" and photo is None:
            photo = MemorySink(limit=config.max_photo_size)
            return photo
        return DiscardSink()

    try:
        parse_multipart(body, params.get("boundary", ""), open_sink)
    except TooLarge:
        raise too_big from None
    if photo is None:
        raise api_error(
            400,
            "REQUIRED_PARAM_MISSING",
            "One of the expected parameter is missing",
            {"param_name": "file"},
        )
    data = bytes(photo.data)
    image_type = sniff_image(data[:16])
    if image_type is None:
        raise api_error(400, "INVALID_DATA", "invalid file type", {"param_name": "file"})
    store.set_photo(record, data, image_type)
    return json_response(
        200,
        {"code": "SUCCESS", "details": {}, "message": "photo uploaded successfully", "status": "success"},
    )


def deleted(attachment_id: str) -> dict[str, Any]:
    """One entry of a delete answer's ``data``: this id was deleted."""
    return {
        "code": "SUCCESS",
        "details": {"id": attachment_id},
        "message": "record deleted",
        "status": "success",
    }
