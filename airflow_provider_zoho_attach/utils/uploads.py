"""Upload sources: the files to send, and a streaming ``multipart/form-data`` body for each.

:class:`UploadSource` is one file (a local path, an object-storage path or URL, or a binary file
object) with its size and the name to give it in Zoho; :class:`MultipartBody` streams it in chunks
with a known length, hashing it on the way; :func:`expand_sources` turns a file, a directory, a glob
or a list of those into the files to upload, never a download's temporary file.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import secrets
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Protocol

from airflow_provider_zoho_attach.exceptions import ZohoCRMInvalidRequestError, ZohoCRMTransferError
from airflow_provider_zoho_attach.utils.filenames import safe_filename
from airflow_provider_zoho_attach.utils.storage import CHUNK_SIZE, _is_object_storage_path, to_storage_path
from airflow_provider_zoho_attach.utils.tempfiles import is_temp_file_name

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

__all__ = ["FilePart", "MultipartBody", "Readable", "UploadSource", "expand_sources"]


class Readable(Protocol):
    """A binary source opened for reading, usable in a ``with`` block."""

    def read(self, size: int = -1, /) -> bytes: ...

    def __enter__(self) -> Any: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None, /
    ) -> Any: ...


class UploadSource:
    """
    One file to upload: a local path, an object-storage path/URL, or a binary file object.

    :param source: the file.
    :param file_name: the name to give it in Zoho (default: the source's own name).
    :param argument: the argument name, for messages.
    """

    def __init__(self, source: Any, *, file_name: str | None = None, argument: str = "source") -> None:
        self._fileobj: IO[bytes] | None = None
        self.path: Path | ObjectStoragePath | None = None
        if hasattr(source, "read") and not isinstance(source, str | os.PathLike):
            self._fileobj = source
            own_name = os.path.basename(str(getattr(source, "name", "") or ""))
            self.size = _fileobj_size(source)
            self.replayable = _seekable(source)
            self._start = source.tell() if self.replayable else 0
        else:
            self.path = to_storage_path(source, argument=argument)
            own_name = self.path.name
            self.size = _path_size(self.path, argument)
            self.replayable = True
        name = (file_name if file_name is not None else own_name) or ""
        if not isinstance(name, str) or not name.strip() or not safe_filename(name, fallback=""):
            raise ZohoCRMInvalidRequestError.for_argument(
                "file_name",
                name,
                "a non-empty file name",
                hint="Pass file_name='report.pdf' (required for nameless file objects); nothing was sent.",
            )
        # The name travels to Zoho as is, minus any directory part; it must be a single component.
        self.file_name = safe_filename(name, fallback="")

    def sha256(self) -> str:
        """
        The SHA-256 of the source's bytes, read from its beginning.

        :raises ZohoCRMTransferError: ``NOT_REPLAYABLE`` for a non-seekable stream (reading it
            would consume what is to be uploaded).
        """
        if not self.replayable:
            raise ZohoCRMTransferError(
                "the source (a non-seekable stream) cannot be read twice",
                code="NOT_REPLAYABLE",
                hint="Upload from a path or a seekable file object.",
            )
        digest = hashlib.sha256()
        with self.open() as handle:
            while chunk := handle.read(CHUNK_SIZE):
                digest.update(chunk)
        return digest.hexdigest()

    def open(self) -> Readable:
        """Open the source from its beginning (again, for a retry)."""
        if self._fileobj is not None:
            if self.replayable:
                self._fileobj.seek(self._start)
            return _NonClosing(self._fileobj)
        assert self.path is not None
        try:
            return self.path.open("rb")
        except OSError as error:
            raise ZohoCRMInvalidRequestError(
                f"cannot read {self.path}: {os.strerror(error.errno) if error.errno else error}",
                code="INVALID_ARGUMENT",
                details={"argument": "source"},
                hint="Check the source path and its permissions; nothing was sent to Zoho.",
            ) from None


class _NonClosing(io.RawIOBase):
    """Hands a caller's file object to the transfer without closing it afterwards."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._handle.read(size)

    def close(self) -> None:
        # Leave the caller's handle open; only this wrapper is done.
        super().close()


def _seekable(handle: Any) -> bool:
    try:
        return bool(handle.seekable())
    except Exception:
        return False


def _fileobj_size(handle: Any) -> int | None:
    if not _seekable(handle):
        return None
    position = handle.tell()
    end = handle.seek(0, os.SEEK_END)
    handle.seek(position)
    return int(end - position)


def _path_size(path: Path | ObjectStoragePath, argument: str) -> int:
    try:
        if not _is_object_storage_path(path):
            if not path.is_file():
                raise FileNotFoundError(errno.ENOENT, "not a file")
            return path.stat().st_size
        return int(path.stat().st_size)
    except Exception as error:  # object stores raise their own exception types, not only OSError
        reason = (
            "no such file" if isinstance(error, FileNotFoundError) else f"{type(error).__name__}: {error}"
        )
        raise ZohoCRMInvalidRequestError.for_argument(
            argument,
            str(path),
            f"an existing, readable file ({reason})",
            hint="Point the source at an existing file; nothing was sent to Zoho.",
        ) from None


@dataclass(frozen=True)
class FilePart:
    """
    One file part of a :class:`MultipartBody`.

    :param field: the form field name (``file``).
    :param file_name: the name to send.
    :param content_type: the part's media type.
    :param opener: returns the file, open at its start.
    :param size: the file's exact size.
    """

    field: str
    file_name: str
    content_type: str
    opener: Callable[[], Readable]
    size: int

    def head(self, boundary: str, *, first: bool) -> bytes:
        """The part's delimiter and headers (after the previous part's data unless ``first``)."""
        quoted = (
            self.file_name.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
        )
        lead = "" if first else "\r\n"
        return (
            f"{lead}--{boundary}\r\n"
            f'Content-Disposition: form-data; name="{self.field}"; filename="{quoted}"\r\n'
            f"Content-Type: {self.content_type}\r\n\r\n"
        ).encode()


class MultipartBody:
    """
    A ``multipart/form-data`` body of file parts, streamed in chunks with a known length.

    ``requests`` sends an iterable with ``__len__`` as a stream with a ``Content-Length`` header, so
    no file is ever held in memory, whatever its size. The SHA-256 of each file part is computed on
    the way (:attr:`sha256s`, and :attr:`sha256` for the first, once fully sent). The keyword
    arguments describe one file part; :meth:`of_parts` builds a body of several (Zoho's Files API
    takes up to ten ``file`` parts in one request).

    :param field: the form field name (``file``).
    :param file_name: the name to send.
    :param content_type: the part's media type.
    :param opener: returns the file, open at its start.
    :param size: the file's exact size.
    :param on_progress: called with the size of each chunk sent.
    """

    def __init__(
        self,
        *,
        field: str,
        file_name: str,
        content_type: str,
        opener: Callable[[], Readable],
        size: int,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        self._set_parts([FilePart(field, file_name, content_type, opener, size)], on_progress)

    @classmethod
    def of_parts(
        cls, parts: Sequence[FilePart], *, on_progress: Callable[[int], None] | None = None
    ) -> MultipartBody:
        """A body of several file parts, sent in order."""
        if not parts:
            raise ValueError("a multipart body needs at least one part")
        body = cls.__new__(cls)
        body._set_parts(list(parts), on_progress)
        return body

    def _set_parts(self, parts: list[FilePart], on_progress: Callable[[int], None] | None) -> None:
        self.boundary = secrets.token_hex(16)
        self.parts = parts
        self._heads = [part.head(self.boundary, first=index == 0) for index, part in enumerate(parts)]
        self._tail = f"\r\n--{self.boundary}--\r\n".encode()
        #: The file bytes of all parts.
        self.size = sum(part.size for part in parts)
        self.sent = 0
        #: Whether sending began (the first head went out), and whether all of it went out: only a
        #: body that went out whole can have been stored by Zoho, also when the files are empty.
        self.started = False
        self.finished = False
        #: The SHA-256 of each part sent whole, in order.
        self.sha256s: list[str] = []
        self._on_progress = on_progress

    @property
    def sha256(self) -> str | None:
        """The first part's SHA-256 once it was sent whole (the file of a one-part body)."""
        return self.sha256s[0] if self.sha256s else None

    @property
    def content_type(self) -> str:
        """The request's ``Content-Type`` header."""
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return sum(len(head) for head in self._heads) + self.size + len(self._tail)

    def __iter__(self) -> Iterator[bytes]:
        self.sent = 0
        self.started = True
        self.finished = False
        self.sha256s = []
        for head, part in zip(self._heads, self.parts, strict=True):
            yield head
            self.sha256s.append((yield from self._stream(part)))
        yield self._tail
        self.finished = True

    def _stream(self, part: FilePart) -> Generator[bytes, None, str]:
        """Yield one part's bytes; return their SHA-256."""
        digest = hashlib.sha256()
        sent = 0
        with part.opener() as handle:
            while sent < part.size:
                chunk = handle.read(min(CHUNK_SIZE, part.size - sent))
                if not chunk:
                    break
                digest.update(chunk)
                sent += len(chunk)
                self.sent += len(chunk)
                if self._on_progress is not None:
                    self._on_progress(len(chunk))
                yield chunk
        if sent != part.size:
            # The source shrank while we sent it: the Content-Length we promised is now a lie.
            raise ZohoCRMTransferError(
                f"the source changed while it was being sent ({sent} of {part.size} bytes read)",
                code="SOURCE_CHANGED",
                hint="Do not modify a file while it is being uploaded.",
            )
        return digest.hexdigest()


def expand_sources(source: Any, *, argument: str = "source") -> list[Any]:
    """
    Return the files named by ``source``: a file, a directory (its files), a glob, or a list of those.

    Works for local paths and object storage alike; every file appears once, in a stable order.

    :raises ZohoCRMInvalidRequestError: if an entry matches no file, naming it.
    """
    entries = list(source) if isinstance(source, list | tuple) else [source]
    files: list[Any] = []
    seen: set[str] = set()
    for entry in entries:
        matched = _expand_one(entry, argument)
        if not matched:
            raise ZohoCRMInvalidRequestError.for_argument(
                argument,
                entry,
                "a file, a directory with files, or a glob that matches files (it matched none)",
            )
        for path in matched:
            if str(path) not in seen:
                seen.add(str(path))
                files.append(path)
    return files


def _expand_one(entry: Any, argument: str) -> list[Any]:
    text = str(entry) if isinstance(entry, str | os.PathLike) or _is_object_storage_path(entry) else None
    if text is not None and any(ch in text for ch in "*?["):
        base, pattern = _split_glob(text)
        root = to_storage_path(base or ".", argument=argument)
        try:
            return sorted((p for p in root.glob(pattern) if _is_user_file(p)), key=str)
        except (OSError, ValueError):
            return []
    path = to_storage_path(entry, argument=argument)
    try:
        if path.is_dir():
            return sorted((p for p in path.iterdir() if _is_user_file(p)), key=str)
        if path.is_file():
            return [path]
    except OSError:
        return []
    return []


def _is_user_file(path: Any) -> bool:
    # A download's temporary file is half a file, maybe still being written: never an upload.
    return not is_temp_file_name(path.name) and bool(path.is_file())


def _split_glob(text: str) -> tuple[str, str]:
    """Split ``/data/*/x.pdf`` (or ``s3://b/k/*.pdf``) into the literal base and the glob pattern."""
    scheme, sep, rest = text.partition("://") if "://" in text else ("", "", text)
    parts = rest.split("/")
    for index, part in enumerate(parts):
        if any(ch in part for ch in "*?["):
            base = "/".join(parts[:index])
            if not base and rest.startswith("/"):
                base = "/"
            return (f"{scheme}{sep}{base}" if sep else base), "/".join(parts[index:])
    return text, ""
