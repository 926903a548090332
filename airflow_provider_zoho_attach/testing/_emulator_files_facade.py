"""The public side of the emulator's ZFS and file fields: :class:`EmulatorFiles` (``emulator.files``)."""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from typing import Any

from airflow_provider_zoho_attach.testing._emulator_fields import field_json
from airflow_provider_zoho_attach.testing._emulator_files import FileStore, ZfsFile
from airflow_provider_zoho_attach.testing._emulator_http import guess_content_type
from airflow_provider_zoho_attach.testing._emulator_model import STANDARD_MODULES, parse_time
from airflow_provider_zoho_attach.testing._emulator_store import Record, Store

__all__ = ["EmulatorFiles", "store_content"]


def store_content(store: Store, content: bytes | str | os.PathLike[str]) -> tuple[str, int, bytes]:
    """
    Write bytes, text (as UTF-8) or a copy of a file into the blob directory.

    :return: the blob's path, its size and its first 16 bytes.
    """
    path = store.blob_path()
    if isinstance(content, str):
        content = content.encode("utf-8")
    if isinstance(content, bytes):
        with open(path, "wb") as handle:
            handle.write(content)
    else:
        shutil.copyfile(os.fspath(content), path)
    with open(path, "rb") as handle:
        head = handle.read(16)
    return path, os.path.getsize(path), head


class EmulatorFiles:
    """
    Files in the emulator's Zoho File System (ZFS) and in records' file-upload and image-upload fields.

    Reach it as ``ZohoCRMEmulator.files``. Records have no file fields until a test declares them
    with :meth:`add_field` (the ``demo`` seed declares ``Signed_Contract``, ``Supporting_Documents``
    and ``Photos`` on Deals).
    """

    def __init__(self, store: Store, files: FileStore) -> None:
        self._store = store
        self._files = files

    def _record(self, module: str, record_id: str) -> Record:
        return self._store.add_record(module, str(record_id))

    # ------------------------------------------------------------------ fields

    def add_field(
        self,
        module: str,
        api_name: str,
        data_type: str = "fileupload",
        *,
        length: int = 1,
        label: str | None = None,
    ) -> dict[str, Any]:
        """
        Declare a file-upload or image-upload field on a module (a non-standard module becomes custom).

        :param module: the module API name.
        :param api_name: the field's API name, e.g. ``Signed_Contract``.
        :param data_type: ``fileupload`` or ``imageupload``.
        :param length: the most files it holds: 1 or 5 for ``fileupload``, 1 to 10 for ``imageupload``.
        :param label: the field label (from the API name by default).
        :return: the field as ``GET /settings/fields`` shows it.
        :raises ValueError: a bad type, name or length, or the module already has that field.
        """
        with self._store.lock:
            if module not in STANDARD_MODULES:
                self._store.custom_modules.add(module)
            return field_json(self._files.declare(module, api_name, data_type, length, label), module)

    def fields(self, module: str) -> list[dict[str, Any]]:
        """A module's fields as ``GET /settings/fields?module=`` answers them."""
        return [field_json(f, module) for f in self._files.fields(module)]

    # ------------------------------------------------------------------ ZFS

    def upload(
        self,
        file_name: str,
        content: bytes | str | os.PathLike[str],
        *,
        content_type: str | None = None,
        inline: bool = False,
    ) -> str:
        """
        Store a file in ZFS as ``POST /files`` would (no limits, no virus check).

        :param file_name: the file name.
        :param content: bytes, text (stored as UTF-8) or the path of a file to copy.
        :param content_type: the type served on download; guessed from the name by default.
        :param inline: as if uploaded with ``type=inline``.
        :return: the ZFS id (single-use: a record can take it once).
        """
        return self._zfs(file_name, content, content_type, inline).id

    def _zfs(
        self, file_name: str, content: bytes | str | os.PathLike[str], content_type: str | None, inline: bool
    ) -> ZfsFile:
        path, size, head = store_content(self._store, content)
        kind = content_type or guess_content_type(file_name)
        return self._files.add_zfs(file_name, size, kind, head, path=path, inline=inline)

    def zfs_files(self, *, used: bool | None = None) -> list[dict[str, Any]]:
        """
        The files in ZFS, oldest first: ``[{"id", "name", "size", "content_type", "inline", "used_by"}]``.

        :param used: only those a record took (``True``: ``used_by`` is ``"Module/record_id/Field"``)
            or only those none took (``False``: uploads left orphaned); ``None``: all.
        """
        with self._store.lock:
            stored = list(self._files.zfs.values())
        return [f.describe() for f in stored if used is None or (f.used_by is not None) == used]

    def content(self, file_id: str) -> bytes:
        """
        The bytes of a ZFS file (by its encrypted id) or of a field entry (by its numeric ``id``).

        :raises KeyError: no such file.
        """
        with self._store.lock:
            stored = self._files.zfs.get(file_id)
            item = self._files.any_item(file_id) if stored is None else None
            if item is not None:
                stored = item.file
        if stored is None:
            raise KeyError(f"no ZFS file or field file {file_id!r}")
        return stored.content()

    def flag_virus(self, file_name: str) -> None:
        """Make ZFS uploads of a file with this name get 400 ``VIRUS_DETECTED`` (the whole request)."""
        with self._store.lock:
            self._files.virus_names.add(file_name)

    def clear_virus_flags(self) -> None:
        """Forget the names given to :meth:`flag_virus` (``virus_signature`` still applies)."""
        with self._store.lock:
            self._files.virus_names.clear()

    # ------------------------------------------------------------------ field files

    def attach(
        self,
        module: str,
        record_id: str,
        field: str,
        file_name: str,
        content: bytes | str | os.PathLike[str],
        *,
        content_type: str | None = None,
        description: str | None = None,
        created_time: datetime | str | float | None = None,
    ) -> dict[str, Any]:
        """
        Put a file in a record's file or image field (the record is created if missing).

        :param module: the module API name.
        :param record_id: the record id.
        :param field: a declared field (:meth:`add_field`).
        :param file_name: ``File_Name__s``.
        :param content: bytes, text (stored as UTF-8) or the path of a file to copy.
        :param content_type: the type served by ``GET /files``; guessed from the name by default.
        :param description: ``Description__s`` of an image.
        :param created_time: ``Created_Time__s`` (``datetime``, ISO string or epoch seconds); now by default.
        :return: the entry as :meth:`field_files` shows it (``id`` for downloads, ``File_Id__s``...).
        :raises KeyError: the module has no such file or image field.
        :raises ValueError: the field is full, or an image field gets something that is not an image.
        """
        declared = self._files.file_field(module, field)
        record = self._record(module, record_id)
        stored = self._zfs(file_name, content, content_type, inline=False)
        try:
            item = self._files.attach(record, declared, stored, description)
        except ValueError:
            self._files.discard(stored)
            raise
        if created_time is not None:
            item.created = item.modified = parse_time(created_time, item.created)
        return next(e for e in self.field_files(module, record.id) if e["id"] == item.id)

    def field_files(self, module: str, record_id: str, field: str | None = None) -> list[dict[str, Any]]:
        """
        The files in a record's file and image fields, field by field in layout order.

        Each entry is what ``GET /{module}/{record_id}`` shows (in the ``v8`` shape, whatever
        ``field_item_shape`` says) plus ``"field"``: its field's API name.

        :param field: only this field.
        """
        record = self._store.get_record(module, str(record_id))
        if record is None:
            return []
        items = self._files.items(record)
        shown = []
        for declared in self._files.fields(module):
            if field is not None and declared.api_name != field:
                continue
            for position, item in enumerate(items.get(declared.api_name, []), start=1):
                shown.append(
                    {"field": declared.api_name, **self._files.item_json(record, item, position, "v8")}
                )
        return shown

    @property
    def removed(self) -> list[dict[str, Any]]:
        """Field entries clients removed: ``[{"id", "module", "record_id", "field", "file_id", ...}]``."""
        with self._store.lock:
            return [dict(entry) for entry in self._files.removed]
