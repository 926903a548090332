"""Zoho's file-upload and image-upload fields and its File System (ZFS), without any I/O.

Many orgs keep contracts and scans in a record's file-upload or image-upload fields rather than as
attachments. Their files live in the Zoho File System: a file is uploaded to ``/files`` first
(up to ten per request, 20 MB each), which answers with a single-use id, then the record is
updated with ``{"File_Id__s": id}`` items; ``{"id": item id, "_delete": null}`` removes one. This
module reads the field metadata and the items of a record, checks a field's file limit and builds
the update body; the hook does the requests.

The item keys are v8's ``__s`` names; the names of older API versions (``file_Id``,
``attachment_Id``, ``file_Name``, ``original_Size_Byte``) are read too, as Zoho's answers for a
field item have not been captured for v8 (see the facts file's UNVERIFIED points).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_zoho_attach.exceptions import ZohoCRMInvalidRequestError
from airflow_provider_zoho_attach.results import FieldFile

__all__ = [
    "FILE_FIELD_TYPES",
    "MAX_FILES_PER_UPLOAD",
    "MAX_ZFS_FILE_SIZE",
    "FieldFile",
    "FileField",
    "check_field_capacity",
    "field_file_request",
    "field_update_body",
    "not_a_file_field",
    "parse_field_files",
    "parse_file_fields",
    "parse_uploaded_files",
]

#: Files in one ``POST /files`` request.
MAX_FILES_PER_UPLOAD = 10
#: Zoho's limit for one file in the Zoho File System.
MAX_ZFS_FILE_SIZE = 20 * 1024 * 1024
#: The ``data_type`` of the fields that hold files.
FILE_FIELD_TYPES = frozenset({"fileupload", "imageupload"})

# Zoho's documented per-field limits, used when the metadata names none.
_DEFAULT_MAX_FILES = {"fileupload": 5, "imageupload": 10}


@dataclass(frozen=True)
class FileField:
    """A module's file-upload or image-upload field, from ``/settings/fields``."""

    api_name: str
    data_type: str
    max_files: int
    label: str | None = None


def field_file_request(module: str, record_id: str, item_id: str) -> tuple[str, dict[str, str]]:
    """The path and query that download a field's file (``actions/download_fields_attachment``)."""
    return f"{module}/{record_id}/actions/download_fields_attachment", {"fields_attachment_id": item_id}


def parse_file_fields(payload: Any) -> dict[str, FileField]:
    """The file and image fields of a ``/settings/fields`` answer, by API name."""
    fields = payload.get("fields") if isinstance(payload, Mapping) else None
    found: dict[str, FileField] = {}
    for entry in fields if isinstance(fields, list) else []:
        if not isinstance(entry, Mapping):
            continue
        data_type = str(entry.get("data_type") or "").lower()
        name = entry.get("api_name")
        if data_type not in FILE_FIELD_TYPES or not isinstance(name, str) or not name:
            continue
        found[name] = FileField(
            api_name=name,
            data_type=data_type,
            max_files=_max_files(entry.get("length"), data_type),
            label=str(entry.get("field_label") or entry.get("display_label") or "") or None,
        )
    return found


def _max_files(length: Any, data_type: str) -> int:
    try:
        value = int(length)
    except (TypeError, ValueError):
        return _DEFAULT_MAX_FILES[data_type]
    return value if value > 0 else _DEFAULT_MAX_FILES[data_type]


def _first(item: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        value = item.get(key)
        if value not in (None, ""):
            return value
    return None


def _size(value: Any) -> int | None:
    try:
        size = int(value)
    except (TypeError, ValueError):
        return None
    return size if size >= 0 else None


def parse_field_files(record: Any, fields: Iterable[str]) -> list[FieldFile]:
    """
    The files in ``fields`` of a record (as ``GET /{module}/{id}`` returns it), field by field.

    An empty field is ``null`` in Zoho's answer; an item without an id is skipped, as nothing
    could download or remove it.
    """
    files: list[FieldFile] = []
    if not isinstance(record, Mapping):
        return files
    for field in fields:
        items = record.get(field)
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, Mapping):
                continue
            ident = _first(item, "id", "attachment_Id")
            if ident is None:
                continue
            file_id = _first(item, "File_Id__s", "file_Id")
            name = _first(item, "File_Name__s", "file_Name")
            files.append(
                FieldFile(
                    field=field,
                    id=str(ident),
                    file_id=None if file_id is None else str(file_id),
                    file_name=None if name is None else str(name),
                    size=_size(_first(item, "Size__s", "original_Size_Byte", "file_Size")),
                    created_time=_first(item, "Created_Time__s"),
                    modified_time=_first(item, "Modified_Time__s"),
                )
            )
    return files


def parse_uploaded_files(payload: Any, names: Sequence[str], *, operation: str) -> list[dict[str, str]]:
    """
    The ZFS ids of a ``POST /files`` answer: ``[{"file_id", "file_name"}]`` in request order.

    :raises ZohoCRMTransferError: ``INVALID_RESPONSE`` if the answer does not name one id per
        file sent (then nothing can be attached safely).
    """
    from airflow_provider_zoho_attach.exceptions import ZohoCRMTransferError

    data = payload.get("data") if isinstance(payload, Mapping) else None
    uploaded: list[dict[str, str]] = []
    for item in data if isinstance(data, list) else []:
        details = item.get("details") if isinstance(item, Mapping) else None
        if not isinstance(details, Mapping):
            continue
        ident = details.get("id")
        if isinstance(ident, str | int) and str(ident):
            uploaded.append({"file_id": str(ident), "file_name": str(details.get("name") or "")})
    if len(uploaded) != len(names):
        raise ZohoCRMTransferError(
            f"Zoho answered {len(uploaded)} file id(s) for {len(names)} file(s) sent",
            code="INVALID_RESPONSE",
            status_code=200,
            operation=operation,
            hint="The files may be in the Zoho File System unattached; upload them again.",
        )
    for entry, name in zip(uploaded, names, strict=True):
        entry["file_name"] = entry["file_name"] or name
    return uploaded


def check_field_capacity(field: FileField, *, existing: int, adding: int, removing: int) -> None:
    """
    Refuse an update that would leave more files in the field than it holds, before any upload.

    :raises ZohoCRMInvalidRequestError: ``LIMIT_EXCEEDED``, naming the field and its limit.
    """
    total = existing - removing + adding
    if total > field.max_files:
        raise ZohoCRMInvalidRequestError(
            f"the field {field.api_name} holds at most {field.max_files} file(s): it has {existing}, "
            f"{adding} would be added" + (f" and {removing} removed" if removing else ""),
            code="LIMIT_EXCEEDED",
            details={"api_name": field.api_name, "limit": field.max_files},
            hint="Pass replace=True to replace the field's files, or remove some first; "
            "nothing was uploaded.",
        )


def field_update_body(
    record_id: str, field: str, *, add_file_ids: Iterable[str] = (), delete_ids: Iterable[str] = ()
) -> dict[str, Any]:
    """The ``PUT /{module}`` body that adds ZFS files to a field and removes items from it."""
    items: list[dict[str, Any]] = [{"File_Id__s": file_id} for file_id in add_file_ids]
    items += [{"id": ident, "_delete": None} for ident in delete_ids]
    return {"data": [{"id": record_id, field: items}]}


def not_a_file_field(module: str, field: str, fields: Mapping[str, FileField]) -> ZohoCRMInvalidRequestError:
    """The error for a field that is not one of the module's file or image fields."""
    known = ", ".join(sorted(fields)) or "none"
    return ZohoCRMInvalidRequestError(
        f"{module} has no file-upload or image-upload field {field!r} (its file fields: {known})",
        code="NOT_A_FILE_FIELD",
        details={"api_name": field, "module": module},
        hint="Use the field's API name as in Setup > Modules and Fields > the field > API name.",
    )
