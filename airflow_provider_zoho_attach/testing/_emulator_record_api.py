"""
The emulator's endpoints for files that live in ZFS and in record fields.

* ``POST|GET /files`` (:mod:`._emulator_zfs`), scopes ``ZohoCRM.Files.CREATE|READ``;
* ``GET /settings/fields?module=`` and ``GET /settings/modules`` (``ZohoCRM.settings.fields.READ``,
  ``ZohoCRM.settings.modules.READ``);
* ``GET /{Module}`` (``ids``, ``fields``, ``page``...), ``GET /{Module}/{id}``, ``PUT /{Module}`` and
  ``PUT /{Module}/{id}``: records with their file and image fields (module scopes);
* ``GET /{Module}/{id}/actions/download_fields_attachment?fields_attachment_id=``.

The HTTP handler (:mod:`._emulator_server`) has authenticated the call and spent its credit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from airflow_provider_zoho_attach.testing._emulator_attachments import (
    invalid_param,
    missing_param,
)
from airflow_provider_zoho_attach.testing._emulator_fields import FILE_TYPES, field_json, modules_json
from airflow_provider_zoho_attach.testing._emulator_files import FileStore
from airflow_provider_zoho_attach.testing._emulator_get_records import list_records, owner_of
from airflow_provider_zoho_attach.testing._emulator_http import Response, file_response, json_response
from airflow_provider_zoho_attach.testing._emulator_io import BodyReader, TooLarge
from airflow_provider_zoho_attach.testing._emulator_model import STANDARD_MODULES, format_time
from airflow_provider_zoho_attach.testing._emulator_routes import (
    Route,
    module_allowed,
    require,
    scope_mismatch,
)
from airflow_provider_zoho_attach.testing._emulator_store import USER, ApiError, Record, Store
from airflow_provider_zoho_attach.testing._emulator_zfs import download_file, upload_files

__all__ = ["ApiCall", "serve"]

_BODY_LIMIT = 16 * 1024 * 1024
_MAX_RECORDS = 100


@dataclass
class ApiCall:
    """
    One authenticated API call for :func:`serve`.

    :param method: the HTTP method.
    :param route: the matched route.
    :param query: the query parameters.
    :param body: the request body.
    :param content_type: the request's ``Content-Type``.
    :param scopes: the token's scopes, lower case.
    :param store: the emulator's records.
    :param files: the emulator's ZFS and field files.
    :param if_modified_since: the ``If-Modified-Since`` header (Get Records).
    """

    method: str
    route: Route
    query: dict[str, str]
    body: BodyReader
    content_type: str
    scopes: frozenset[str]
    store: Store
    files: FileStore
    if_modified_since: str | None = None


def serve(call: ApiCall) -> Response:
    """
    Answer a call of one of :data:`._emulator_routes.FILES_ROUTES`.

    :raises ApiError: an error answer.
    """
    store, config, kind = call.store, call.store.config, call.route.kind
    if kind == "files":
        operation = "create" if call.method == "POST" else "read"
        require(call.scopes, (f"zohocrm.files.{operation}", "zohocrm.files.all"), config)
        if call.method == "GET":
            return download_file(call.files, call.query)
        return upload_files(
            call.files, body=call.body, content_type_header=call.content_type, query=call.query
        )
    if kind in ("fields", "modules"):
        settings = ("zohocrm.settings.read", "zohocrm.settings.all")
        require(
            call.scopes, (f"zohocrm.settings.{kind}.read", f"zohocrm.settings.{kind}.all", *settings), config
        )
        return _fields(call) if kind == "fields" else _modules(store)
    module = store.resolve_module(call.route.segments[0])
    if module is None:
        raise ApiError(
            400, "INVALID_MODULE", "the module name given seems to be invalid", {"resource_path_index": 0}
        )
    if not module_allowed(store, call.scopes, module, call.method):
        raise scope_mismatch(config)
    if kind == "records":
        if call.method == "PUT":
            return _update(call, module, None)
        render = lambda record, wanted: _record_json(call, record, wanted)  # noqa: E731
        return list_records(store, module, call.query, call.if_modified_since, render)
    record_id = call.route.segments[1]
    if kind == "record" and call.method == "PUT":
        return _update(call, module, record_id)
    record = store.get_record(module, record_id) if record_id.isdigit() else None
    if record is None:
        raise ApiError(400, "INVALID_DATA", "the id given seems to be invalid", {"resource_path_index": 1})
    if kind == "record":
        return json_response(200, {"data": [_record_json(call, record, _wanted(call.query))]})
    return _download_field_file(call, record)


# ---------------------------------------------------------------------- field and module metadata


def _fields(call: ApiCall) -> Response:
    given = call.query.get("module")
    if given is None:
        raise missing_param("module")
    module = call.store.resolve_module(given)
    if module is None:
        raise ApiError(
            400, "INVALID_MODULE", "the module name given seems to be invalid", {"api_name": given}
        )
    kind = call.query.get("type", "used")
    if kind not in ("all", "used", "unused"):
        raise ApiError(400, "INVALID_DATA", "invalid data", {"api_name": "type", "json_path": "$.type"})
    if kind == "unused":
        return Response(status=204)
    return json_response(200, {"fields": [field_json(f, module) for f in call.files.fields(module)]})


def _modules(store: Store) -> Response:
    with store.lock:
        custom = sorted(store.custom_modules)
    return json_response(
        200, modules_json([*((m, False) for m in STANDARD_MODULES), *((m, True) for m in custom)])
    )


# ---------------------------------------------------------------------- records


def _wanted(query: dict[str, str]) -> set[str] | None:
    raw = query.get("fields")
    if raw is None:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def _record_json(call: ApiCall, record: Record, wanted: set[str] | None) -> dict[str, Any]:
    files = call.files
    tz = call.store.config.tz()
    items = files.items(record)
    data: dict[str, Any] = {}
    for field in files.fields(record.module):
        name = field.api_name
        if wanted is not None and name not in wanted:
            continue
        if field.data_type in FILE_TYPES:
            entries = items.get(name)
            data[name] = (
                [files.item_json(record, e, i) for i, e in enumerate(entries, 1)] if entries else None
            )
        elif field.data_type == "profileimage":
            data[name] = files.photo_id(record)
        elif field.data_type == "ownerlookup":
            data[name] = owner_of(record)
        elif field.data_type == "datetime":
            data[name] = format_time(record.created if name == "Created_Time" else record.modified, tz)
        else:
            data[name] = record.name
    # Values given with add_records (Stage, Amount...) as they were set.
    data.update((k, v) for k, v in record.values.items() if wanted is None or k in wanted)
    data["id"] = record.id
    return data


def _read_body(body: BodyReader) -> Any:
    bad = ApiError(400, "INVALID_DATA", "invalid data", {"expected_data_type": "jsonobject"})
    try:
        return json.loads(body.read_all(_BODY_LIMIT) or b"null")
    except (TooLarge, ValueError):
        raise bad from None


def _update(call: ApiCall, module: str, record_id: str | None) -> Response:
    """``PUT /{Module}`` and ``PUT /{Module}/{id}``: one result per record, in order."""
    payload = _read_body(call.body)
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list) or not data:
        raise ApiError(
            400,
            "MANDATORY_NOT_FOUND",
            "required field not found",
            {"api_name": "data", "json_path": "$.data"},
        )
    limit = 1 if record_id is not None else _MAX_RECORDS
    if len(data) > limit:
        raise ApiError(400, "LIMIT_EXCEEDED", "Record count exceeded", {"api_name": "data", "limit": limit})
    results = []
    for index, values in enumerate(data):
        try:
            results.append(_update_one(call, module, record_id, values, index))
        except ApiError as error:
            results.append(error.body())
    ok = any(result["status"] == "success" for result in results)
    return json_response(200 if ok else 400, {"data": results})


def _update_one(call: ApiCall, module: str, record_id: str | None, values: Any, index: int) -> dict[str, Any]:
    path = f"$.data[{index}]"
    if not isinstance(values, dict):
        raise ApiError(
            400, "INVALID_DATA", "invalid data", {"json_path": path, "expected_data_type": "jsonobject"}
        )
    target = record_id if record_id is not None else values.get("id")
    if target is None:
        raise ApiError(
            400,
            "MANDATORY_NOT_FOUND",
            "required field not found",
            {"api_name": "id", "json_path": f"{path}.id"},
        )
    target = str(target)
    record = call.store.get_record(module, target) if target.isdigit() else None
    if record is None:
        raise ApiError(
            400,
            "INVALID_DATA",
            "the id given seems to be invalid",
            {"api_name": "id", "json_path": f"{path}.id"},
        )
    call.files.update(record, values, index)
    tz = call.store.config.tz()
    by = {"name": USER["name"], "id": USER["id"]}
    return {
        "code": "SUCCESS",
        "details": {
            "Modified_Time": format_time(record.modified, tz),
            "Modified_By": by,
            "Created_Time": format_time(record.created, tz),
            "id": record.id,
            "Created_By": dict(by),
            "$approval_state": "approved",
        },
        "message": "record updated",
        "status": "success",
    }


# ---------------------------------------------------------------------- field files


def _download_field_file(call: ApiCall, record: Record) -> Response:
    raw = call.query.get("fields_attachment_id")
    if raw is None:
        raise missing_param("fields_attachment_id")
    if not raw.strip().isdigit():
        raise invalid_param("fields_attachment_id")
    item = call.files.find_item(record, raw.strip())
    if item is None:
        if call.store.config.field_attachment_missing_status == 400:
            raise invalid_param("fields_attachment_id", "the id given seems to be invalid")
        return Response(status=204)
    return file_response(
        file_name=item.file.name,
        content_type="application/x-download",
        disposition=call.store.config.content_disposition_format,
        size=item.file.size,
        path=item.file.path,
        data=item.file.data,
    )
