"""
The mirror's destination: its files, manifest and checkpoint, on a local disk or in object storage.

* The manifest (``<destination>/manifest.jsonl``) is replaced whole at the end of a run: locally
  a temporary file beside it, flushed, then :func:`os.replace`; in object storage one complete
  PUT of the whole object, written last.
* The checkpoint records each file as soon as it is committed, so a killed or failed run resumes
  without downloading it again: locally a JSON Lines file appended and flushed line by line
  (``manifest.jsonl.checkpoint``); in object storage, which cannot append, one small object per
  file under the prefix ``manifest.jsonl.checkpoint/``. It is removed once the manifest is written.
* :meth:`MirrorStore.inventory` lists the files under ``<destination>/<module>/`` once per run
  (one recursive listing), so deciding what is unchanged needs no request per file.

The decisions are in :mod:`~airflow_provider_zoho_attach.utils.mirror`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from airflow_provider_zoho_attach.exceptions import ZohoCRMTransferError
from airflow_provider_zoho_attach.utils.mirror import (
    CHECKPOINT_NAME,
    MANIFEST_NAME,
    EntryKey,
    ManifestEntry,
    entry_line,
    parse_manifest,
    serialise_manifest,
)
from airflow_provider_zoho_attach.utils.storage import CHUNK_SIZE, _is_object_storage_path, to_storage_path
from airflow_provider_zoho_attach.utils.tempfiles import _TEMP_PREFIX

__all__ = ["CheckpointWriter", "MirrorStore"]


class MirrorStore:
    """
    The destination of a mirror.

    :param destination: a local directory, a ``file://`` or object-storage URL, or an
        ``ObjectStoragePath``.
    """

    def __init__(self, destination: Any) -> None:
        self.root: Any = to_storage_path(destination, argument="destination")
        self.local = not _is_object_storage_path(self.root)

    def path(self, relative: str) -> Any:
        """The local ``Path`` or ``ObjectStoragePath`` of a path relative to the destination."""
        return self.root.joinpath(*relative.split("/"))

    @property
    def manifest(self) -> Any:
        """Where the manifest is."""
        return self.path(MANIFEST_NAME)

    @property
    def checkpoint(self) -> Any:
        """Where the checkpoint is (a file locally, a prefix in object storage)."""
        return self.path(CHECKPOINT_NAME)

    # ------------------------------------------------------------------ reading

    def read_manifest(self) -> dict[EntryKey, ManifestEntry]:
        """The manifest's entries (none before the first run)."""
        text = self._read_text(self.manifest)
        return {} if text is None else parse_manifest(text, source=str(self.manifest))

    def read_checkpoint(self) -> dict[EntryKey, ManifestEntry]:
        """What a stopped run checkpointed and no manifest holds yet (a torn last line dropped)."""
        if self.local:
            text = self._read_text(self.checkpoint)
        else:
            parts = self._list_files(self.checkpoint)
            text = "".join(
                self._read_text(self.root.joinpath(*rel.split("/"))) or "" for rel in sorted(parts)
            )
        return {} if not text else parse_manifest(text, source=str(self.checkpoint), checkpoint=True)

    def inventory(self, module: str) -> dict[str, int]:
        """
        The files under ``<destination>/<module>/``: path relative to the destination -> size.

        Temporary files of downloads in progress (or killed) are left out.
        """
        return {rel: size for rel, size in self._list_files(self.path(module)).items() if not _is_temp(rel)}

    def verify(self, entry: ManifestEntry) -> bool:
        """Whether the file of ``entry`` is there with its size and SHA-256 (read whole to check)."""
        target = self.path(entry["path"])
        try:
            if _size(target) != entry["size"]:
                return False
            digest = hashlib.sha256()
            with target.open("rb") as handle:
                while chunk := handle.read(CHUNK_SIZE):
                    digest.update(chunk)
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError as error:
            raise _store_error(f"read {target}", error) from None
        return digest.hexdigest() == entry["sha256"]

    def _read_text(self, target: Any) -> str | None:
        try:
            with target.open("rb") as handle:
                return bytes(handle.read()).decode("utf-8", errors="replace")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except OSError as error:
            raise _store_error(f"read {target}", error) from None

    def _list_files(self, directory: Any) -> dict[str, int]:
        """Every file under ``directory``, recursively: path relative to the root -> size."""
        if self.local:
            base = Path(directory)
            found: dict[str, int] = {}
            for folder, _dirs, names in os.walk(base):
                for name in names:
                    full = Path(folder) / name
                    with contextlib.suppress(FileNotFoundError):
                        found[full.relative_to(Path(self.root)).as_posix()] = full.stat().st_size
            return found
        prefix = str(self.root.path).rstrip("/") + "/"
        try:
            listing = directory.fs.find(directory.path, detail=True)
        except FileNotFoundError:
            return {}
        except Exception as error:
            raise _store_error(f"list {directory}", error) from None
        return {
            name[len(prefix) :]: int(info.get("size") or 0)
            for name, info in listing.items()
            if name.startswith(prefix) and info.get("type", "file") == "file"
        }

    # ------------------------------------------------------------------ writing

    def write_manifest(self, entries: Iterable[ManifestEntry]) -> None:
        """Replace the manifest atomically with these entries."""
        data = serialise_manifest(entries).encode("utf-8")
        target = self.manifest
        try:
            if self.local:
                _replace_local(Path(target), data)
            else:
                # One PUT of the whole object: a reader sees the old manifest or the new one.
                target.write_bytes(data)
        except OSError as error:
            raise _store_error(f"write the manifest {target}", error) from None

    def open_checkpoint(self) -> CheckpointWriter:
        """A writer that appends lines to the checkpoint as files are committed."""
        return CheckpointWriter(self)

    def clear_checkpoint(self) -> None:
        """Remove the checkpoint (once the manifest holds everything it had)."""
        try:
            if self.local:
                with contextlib.suppress(FileNotFoundError):
                    Path(self.checkpoint).unlink()
            else:
                for rel in self._list_files(self.checkpoint):
                    self.path(rel).unlink()
        except OSError as error:
            raise _store_error(f"remove the checkpoint {self.checkpoint}", error) from None

    def remove(self, relative: str) -> None:
        """
        Remove one file (a tombstone's, with ``delete_missing``); a file already gone is fine.

        Locally its record's directory goes too once empty (object stores have no directories).
        """
        target = self.path(relative)
        try:
            target.unlink()
        except FileNotFoundError:
            return
        except OSError as error:
            raise _store_error(f"remove {target}", error) from None
        if self.local:
            with contextlib.suppress(OSError):  # not empty: another file is still there
                Path(target).parent.rmdir()


class CheckpointWriter:
    """
    Appends checkpoint lines, from any thread, each one durable before the next file is counted.

    :param store: the destination.
    """

    def __init__(self, store: MirrorStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._handle: Any = None
        self._count = 0

    def append(self, entry: ManifestEntry) -> None:
        """Record one committed file."""
        line = entry_line(entry)
        with self._lock:
            try:
                if self._store.local:
                    self._append_local(line)
                else:
                    # Object stores cannot append: one object per line, named in write order.
                    self._count += 1
                    name = f"{time.time_ns():020d}-{os.getpid()}-{self._count:06d}.jsonl"
                    (self._store.checkpoint / name).write_text(line, encoding="utf-8")
            except OSError as error:
                raise _store_error(f"write the checkpoint {self._store.checkpoint}", error) from None

    def _append_local(self, line: str) -> None:
        if self._handle is None:
            path = Path(self._store.checkpoint)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = open(path, "a+b")  # noqa: SIM115 - kept open for the run, closed in close()
            if self._handle.tell() > 0:
                self._handle.seek(-1, os.SEEK_END)
                if self._handle.read(1) != b"\n":
                    # A killed run left half a line: end it so the next line stays whole.
                    self._handle.write(b"\n")
        self._handle.write(line.encode("utf-8"))
        self._handle.flush()

    def close(self) -> None:
        """Close the local checkpoint file, if open."""
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None


def _replace_local(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=".manifest-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(name, 0o644)
        os.replace(name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
        raise


def _size(target: Any) -> int:
    if isinstance(target, Path):
        return target.stat().st_size
    return int(target.fs.info(target.path).get("size") or 0)


def _is_temp(relative: str) -> bool:
    return relative.rsplit("/", 1)[-1].startswith(_TEMP_PREFIX)


def _store_error(what: str, error: BaseException) -> ZohoCRMTransferError:
    return ZohoCRMTransferError(
        f"could not {what}: {type(error).__name__}: {error}",
        code="DESTINATION_ERROR",
        hint="Check that the mirror's destination exists and that the task may list, read, write and "
        "delete in it; the manifest was left as it was.",
    )
