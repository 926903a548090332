"""
The emulator's Zoho File System (ZFS) and the file-upload and image-upload fields of its records.

Pure state, no HTTP. A ZFS file is what ``POST /files`` stored: an encrypted-looking string id,
a name, content on disk or in memory, and whether a record took it (an id is single-use: once
attached to a field or set as ``Record_Image``, it cannot be attached again). A field file is one
entry of a record's file or image field: a numeric id of its own and the ZFS file it holds.

:class:`FileStore` shares the lock of the emulator's :class:`~._emulator_store.Store`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_zoho_attach.testing._emulator_fields import (
    FILE_TYPES,
    FieldDef,
    file_field,
    standard_fields,
)
from airflow_provider_zoho_attach.testing._emulator_http import sniff_image
from airflow_provider_zoho_attach.testing._emulator_model import format_time
from airflow_provider_zoho_attach.testing._emulator_store import USER, ApiError, Photo, Record, Store

__all__ = ["FieldFile", "FileStore", "ZfsFile"]


@dataclass
class ZfsFile:
    """
    A file in the Zoho File System.

    :param id: the encrypted-looking id (40 hex digits).
    :param name: the file name.
    :param size: bytes.
    :param content_type: the type it is served with.
    :param created: epoch seconds.
    :param head: its first 16 bytes (to tell images).
    :param path: the file holding the content, if on disk ...
    :param data: ... or the content in memory.
    :param inline: uploaded with ``type=inline``.
    :param used_by: ``Module/record_id/Field`` once a record took it (single use), else ``None``.
    """

    id: str
    name: str
    size: int
    content_type: str
    created: float
    head: bytes
    path: str | None = None
    data: bytes | None = None
    inline: bool = False
    used_by: str | None = None

    def content(self) -> bytes:
        """The stored bytes."""
        if self.data is not None:
            return self.data
        assert self.path is not None
        with open(self.path, "rb") as handle:
            return handle.read()

    def describe(self) -> dict[str, Any]:
        """What the facade shows of it."""
        return {
            "id": self.id,
            "name": self.name,
            "size": self.size,
            "content_type": self.content_type,
            "inline": self.inline,
            "used_by": self.used_by,
        }


@dataclass
class FieldFile:
    """One entry of a record's file or image field."""

    id: str
    field: str
    file: ZfsFile
    created: float
    modified: float
    preview_id: str | None = None
    description: str | None = None


def _error(code: str, message: str, **details: Any) -> ApiError:
    return ApiError(400, code, message, details)


def _bad_value(api_name: str, path: str, expected: str) -> ApiError:
    return _error(
        "INVALID_DATA", "invalid data", api_name=api_name, json_path=path, expected_data_type=expected
    )


@dataclass
class _Plan:
    """A validated change of one field, applied by :meth:`FileStore.update` once all are valid."""

    apply: Callable[[], None]


@dataclass
class FileStore:
    """ZFS files, the file and image fields declared per module, and the values records hold."""

    store: Store
    zfs: dict[str, ZfsFile] = field(default_factory=dict)
    declared: dict[str, dict[str, FieldDef]] = field(default_factory=dict)
    values: dict[tuple[str, str], dict[str, list[FieldFile]]] = field(default_factory=dict)
    removed: list[dict[str, Any]] = field(default_factory=list)
    virus_names: set[str] = field(default_factory=set)
    _photos: dict[tuple[str, str], tuple[Photo, str]] = field(default_factory=dict)
    _photo_index: dict[str, tuple[str, str]] = field(default_factory=dict)
    _counter: int = 0

    @property
    def lock(self) -> Any:
        """The store's lock."""
        return self.store.lock

    # ------------------------------------------------------------------ ZFS

    def new_zfs_id(self) -> str:
        """A new encrypted-looking id (deterministic: the n-th id is the same in every emulator)."""
        with self.lock:
            self._counter += 1
            return hashlib.blake2b(f"zfs-{self._counter}".encode(), digest_size=20).hexdigest()

    def add_zfs(
        self,
        name: str,
        size: int,
        content_type: str,
        head: bytes,
        *,
        path: str | None = None,
        data: bytes | None = None,
        inline: bool = False,
        created: float | None = None,
    ) -> ZfsFile:
        """Store a file in ZFS."""
        with self.lock:
            stored = ZfsFile(
                id=self.new_zfs_id(),
                name=name,
                size=size,
                content_type=content_type,
                created=self.store.clock.now() if created is None else created,
                head=head[:16],
                path=path,
                data=data,
                inline=inline,
            )
            self.zfs[stored.id] = stored
            return stored

    def servable(self, file_id: str) -> ZfsFile | None:
        """What ``GET /files?id=`` serves: a ZFS file, a record's photo (``Record_Image``), or ``None``."""
        with self.lock:
            stored = self.zfs.get(file_id)
            if stored is not None:
                in_field = stored.used_by is not None and not stored.used_by.endswith("/Record_Image")
                if in_field and not self.store.config.files_api_serves_field_files:
                    return None
                return stored
            key = self._photo_index.get(file_id)
            record = self.store.get_record(*key) if key is not None else None
            if record is None or record.photo is None or self.photo_id(record) != file_id:
                return None
            photo = record.photo
            extension = photo.content_type.rsplit("/", 1)[-1].replace("jpeg", "jpg")
            return ZfsFile(
                id=file_id,
                name=f"{record.id}.{extension}",
                size=len(photo.data),
                content_type=photo.content_type,
                created=record.modified,
                head=photo.data[:16],
                data=photo.data,
                used_by=f"{record.module}/{record.id}/Record_Image",
            )

    def infected(self, name: str, signature_found: bool) -> bool:
        """The scripted virus verdict for one uploaded file."""
        with self.lock:
            return signature_found or name in self.virus_names

    # ------------------------------------------------------------------ fields

    def declare(self, module: str, api_name: str, data_type: str, length: int, label: str | None) -> FieldDef:
        """Add a file or image field to a module (see :func:`._emulator_fields.file_field`)."""
        with self.lock:
            if any(f.api_name == api_name for f in self.fields(module)):
                raise ValueError(f"{module} already has a field {api_name!r}")
            sequence = len(self.fields(module)) + 1
            declared = file_field(module, api_name, data_type, length, label=label, sequence=sequence)
            self.declared.setdefault(module, {})[api_name] = declared
            return declared

    def fields(self, module: str) -> list[FieldDef]:
        """A module's fields: the standard ones, then the declared ones."""
        with self.lock:
            photo = self.store.supports_photo(module)
            return [*standard_fields(module, photo=photo), *self.declared.get(module, {}).values()]

    def field(self, module: str, api_name: str) -> FieldDef | None:
        """One field of a module, or ``None``."""
        return next((f for f in self.fields(module) if f.api_name == api_name), None)

    def file_field(self, module: str, api_name: str) -> FieldDef:
        """A declared file or image field, for the facade.

        :raises KeyError: the module has no such file or image field.
        """
        found = self.field(module, api_name)
        if found is None or found.data_type not in FILE_TYPES:
            raise KeyError(f"{module} has no file or image field {api_name!r}; declare it with add_field()")
        return found

    def items(self, record: Record) -> dict[str, list[FieldFile]]:
        """A record's field files, per field (a copy of the lists)."""
        with self.lock:
            return {
                name: list(items) for name, items in self.values.get((record.module, record.id), {}).items()
            }

    def find_item(self, record: Record, item_id: str) -> FieldFile | None:
        """The entry ``item_id`` of any file or image field of a record."""
        with self.lock:
            for items in self.values.get((record.module, record.id), {}).values():
                for item in items:
                    if item.id == item_id:
                        return item
            return None

    def any_item(self, item_id: str) -> FieldFile | None:
        """The field entry ``item_id`` of any record."""
        with self.lock:
            for by_field in self.values.values():
                for items in by_field.values():
                    for item in items:
                        if item.id == item_id:
                            return item
            return None

    def attach(
        self, record: Record, field_def: FieldDef, stored: ZfsFile, description: str | None
    ) -> FieldFile:
        """Put a ZFS file in a record's field directly (seeds and tests; limits still apply).

        :raises ValueError: the field is full, the file is taken, or an image field gets a non-image.
        """
        with self.lock:
            current = self.values.get((record.module, record.id), {}).get(field_def.api_name, [])
            if len(current) >= field_def.length:
                raise ValueError(f"{field_def.api_name} holds at most {field_def.length} file(s)")
            if stored.used_by is not None:
                raise ValueError(f"ZFS file {stored.id} is already used by {stored.used_by}")
            if field_def.data_type == "imageupload" and sniff_image(stored.head) is None:
                raise ValueError(f"{stored.name!r} is not a PNG, JPEG, GIF or BMP image")
            item = self._take(record, field_def, stored)
            item.description = description
            self.values.setdefault((record.module, record.id), {})[field_def.api_name] = [*current, item]
            return item

    def _take(self, record: Record, field_def: FieldDef, stored: ZfsFile) -> FieldFile:
        now = float(int(self.store.clock.now()))
        stored.used_by = f"{record.module}/{record.id}/{field_def.api_name}"
        preview = self.new_zfs_id() if field_def.data_type == "imageupload" else None
        return FieldFile(
            id=self.store.new_id(),
            field=field_def.api_name,
            file=stored,
            created=now,
            modified=now,
            preview_id=preview,
        )

    @staticmethod
    def _remove_file(stored: ZfsFile) -> None:
        if stored.path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(stored.path)

    def discard(self, stored: ZfsFile) -> None:
        """Forget a ZFS file and delete its content."""
        with self.lock:
            self.zfs.pop(stored.id, None)
        self._remove_file(stored)

    def _remove(self, record: Record, item: FieldFile) -> None:
        self.zfs.pop(item.file.id, None)
        self.removed.append(
            {
                "id": item.id,
                "module": record.module,
                "record_id": record.id,
                "field": item.field,
                "file_id": item.file.id,
                "file_name": item.file.name,
                "deleted_time": format_time(self.store.clock.now(), self.store.config.tz()),
            }
        )
        self._remove_file(item.file)

    # ------------------------------------------------------------------ record updates

    def update(self, record: Record, values: dict[str, Any], index: int) -> None:
        """
        Apply one record of an update request: every field is checked first, then all change.

        :param record: the record.
        :param values: the record's JSON (``id`` and ``$`` keys are skipped).
        :param index: its position in ``data`` (for ``json_path`` in errors).
        :raises ApiError: the first problem found; nothing changed then.
        """
        config = self.store.config
        with self.lock:
            plans: list[_Plan] = []
            claimed: set[str] = set()
            for key, value in values.items():
                if key == "id" or key.startswith("$"):
                    continue
                path = f"$.data[{index}].{key}"
                found = self.field(record.module, key)
                if found is None:
                    if config.reject_unknown_fields:
                        raise _error("INVALID_DATA", "invalid data", api_name=key, json_path=path)
                elif found.data_type in FILE_TYPES:
                    plans.append(self._plan_files(record, found, value, path, claimed))
                elif found.data_type == "profileimage":
                    plans.append(self._plan_record_image(record, found, value, path, claimed))
                elif found.data_type == "text":
                    if not isinstance(value, str):
                        raise _bad_value(key, path, "text")
                    plans.append(_Plan(functools.partial(setattr, record, "name", value)))
                # Owner and the audit fields: set by the system, ignored as Zoho ignores them.
            for plan in plans:
                plan.apply()
            record.modified = float(int(self.store.clock.now()))

    def _claim(self, field_def: FieldDef, file_id: Any, path: str, claimed: set[str]) -> ZfsFile:
        stored = self.zfs.get(file_id) if isinstance(file_id, str) else None
        if stored is None or stored.used_by is not None or stored.id in claimed:
            raise _error(
                "INVALID_DATA",
                "the id given seems to be invalid",
                api_name=field_def.api_name,
                json_path=path,
            )
        if field_def.data_type != "fileupload" and sniff_image(stored.head) is None:
            raise _error(
                "INVALID_DATA", "The image format is invalid.", api_name=field_def.api_name, json_path=path
            )
        claimed.add(stored.id)
        return stored

    def _plan_files(
        self, record: Record, field_def: FieldDef, value: Any, path: str, claimed: set[str]
    ) -> _Plan:
        name = field_def.api_name
        if value is not None and not isinstance(value, list):
            raise _bad_value(name, path, "jsonarray")
        current = self.values.get((record.module, record.id), {}).get(name, [])
        replace = self.store.config.field_update_mode == "replace"
        result: list[FieldFile | ZfsFile] = [] if replace or value is None else list(current)
        for position, entry in enumerate(value or []):
            where = f"{path}[{position}]"
            if not isinstance(entry, dict):
                raise _bad_value(name, where, "jsonobject")
            if "File_Id__s" in entry and "_delete" not in entry:
                result.append(self._claim(field_def, entry["File_Id__s"], f"{where}.File_Id__s", claimed))
                continue
            if "id" not in entry:
                raise _error(
                    "MANDATORY_NOT_FOUND", "required field not found", api_name="File_Id__s", json_path=where
                )
            item = next((i for i in current if i.id == str(entry["id"])), None)
            if item is None:
                raise _error(
                    "INVALID_DATA", "the id given seems to be invalid", api_name=name, json_path=f"{where}.id"
                )
            if "_delete" in entry:
                if item in result:
                    result.remove(item)
            elif item not in result:
                result.append(item)
        if len(result) > field_def.length:
            message = (
                "Record insertion limit for Image upload field has been exceeded."
                if field_def.data_type == "imageupload"
                else "Record insertion limit has been exceeded."
            )
            code = self.store.config.field_limit_code
            raise _error(code, message, api_name=name, json_path=path, limit=field_def.length)

        def apply() -> None:
            kept = [
                entry if isinstance(entry, FieldFile) else self._take(record, field_def, entry)
                for entry in result
            ]
            for gone in current:
                if gone not in kept:
                    self._remove(record, gone)
            by_field = self.values.setdefault((record.module, record.id), {})
            if kept:
                by_field[name] = kept
            else:
                by_field.pop(name, None)

        return _Plan(apply)

    def _plan_record_image(
        self, record: Record, field_def: FieldDef, value: Any, path: str, claimed: set[str]
    ) -> _Plan:
        if value is None:
            return _Plan(functools.partial(self._drop_photo, record))
        if not isinstance(value, str):
            raise _bad_value(field_def.api_name, path, "string")
        if record.photo is not None and value == self.photo_id(record):
            return _Plan(lambda: None)
        stored = self._claim(field_def, value, path, claimed)

        def apply() -> None:
            self._drop_photo(record)
            data = stored.content()
            self.store.set_photo(record, data, sniff_image(data[:16]) or "image/png")
            stored.used_by = f"{record.module}/{record.id}/Record_Image"
            assert record.photo is not None
            self._register_photo(record, record.photo, stored.id)

        return _Plan(apply)

    # ------------------------------------------------------------------ Record_Image

    def _drop_photo(self, record: Record) -> None:
        """Remove a record's photo, and the ZFS file a ``Record_Image`` update gave it."""
        known = self._photos.pop((record.module, record.id), None)
        if known is not None:
            self._photo_index.pop(known[1], None)
            previous = self.zfs.get(known[1])
            if (
                previous is not None
                and previous.used_by is not None
                and previous.used_by.endswith("/Record_Image")
            ):
                self._remove_file(self.zfs.pop(previous.id))
        record.photo = None

    def _register_photo(self, record: Record, photo: Photo, file_id: str) -> None:
        self._photos[(record.module, record.id)] = (photo, file_id)
        self._photo_index[file_id] = (record.module, record.id)

    def photo_id(self, record: Record) -> str | None:
        """The ZFS id ``Record_Image`` shows for a record's photo (``None``: no photo)."""
        with self.lock:
            photo = record.photo
            if photo is None:
                return None
            known = self._photos.get((record.module, record.id))
            if known is not None and known[0] is photo:
                return known[1]
            material = f"{record.module}/{record.id}/".encode() + hashlib.sha256(photo.data).digest()
            file_id = hashlib.blake2b(material, digest_size=20).hexdigest()
            self._register_photo(record, photo, file_id)
            return file_id

    # ------------------------------------------------------------------ JSON

    def item_json(
        self, record: Record, item: FieldFile, position: int, shape: str | None = None
    ) -> dict[str, Any]:
        """One field entry as records show it (``shape``, by default ``field_item_shape``, picks the keys)."""
        config = self.store.config
        image = item.preview_id is not None
        size = item.file.size
        if (shape or config.field_item_shape) == "legacy":
            url = (
                f"/crm/v8/{record.module}/{record.id}/actions/download_fields_attachment"
                f"?fields_attachment_id={item.id}"
            )
            name = item.file.name
            return {
                "attachment_Id": item.id,
                "file_Id": item.file.id,
                "file_Name": name,
                "extn": name.rsplit(".", 1)[1] if "." in name else "",
                "file_Size": f"{size / 1024:.2f} KB",
                "original_Size_Byte": str(size),
                "download_Url": url,
                "preview_Url": url if image else None,
                "is_Preview_Available": image,
                "entity_Id": record.id,
                "creator_Id": USER["id"],
                "link_Docs": 0,
            }
        tz = config.tz()
        entry: dict[str, Any] = {
            "id": item.id,
            "File_Id__s": item.file.id,
            "File_Name__s": item.file.name,
            "Size__s": str(size),
            "Created_Time__s": format_time(item.created, tz),
            "Modified_Time__s": format_time(item.modified, tz),
            "Created_By__s": dict(USER),
            "Modified_By__s": dict(USER),
            "Owner__s": dict(USER),
        }
        if image:
            entry["Preview_Id__s"] = item.preview_id
            entry["Sequence_Number__s"] = position
            if item.description is not None:
                entry["Description__s"] = item.description
        return entry
