"""Download targets: a verified download becomes visible whole, under a name no other download has.

A download is written to a temporary file (see :mod:`~airflow_provider_zoho_attach.utils.tempfiles`)
and only becomes visible once complete and verified: on the local filesystem the temporary file sits
beside the destination and is hard-linked (or renamed) into place atomically; for object storage
(``s3://``, ``gs://``, ``memory://``...) it is spooled in the local temp directory and copied once
verified, through a temporary object beside the target. A clash with an existing file keeps the
existing one if it is identical, or picks a deterministic name otherwise; same-named attachments of
one run never share a name (:class:`NameClaims`).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from airflow_provider_zoho_attach.exceptions import ZohoCRMTransferError
from airflow_provider_zoho_attach.utils.filenames import safe_filename, suffixed_filename
from airflow_provider_zoho_attach.utils.storage import (
    CHUNK_SIZE,
    _is_directory_target,
    _is_object_storage_path,
    to_storage_path,
)
from airflow_provider_zoho_attach.utils.tempfiles import (
    _TEMP_PREFIX,
    _locked_temp_file,
    new_file_mode,
    remove_stale_temp_files,
)

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

__all__ = ["BodyCopy", "DownloadTarget", "FinalFile", "NameClaims", "choose_file_name"]


@dataclass
class FinalFile:
    """Where a download ended up, and whether an identical file was already there."""

    path: str
    file_name: str
    unchanged: bool


class NameClaims:
    """
    The file names that the downloads of one run have taken, per directory; shared by its threads.

    A name, once claimed, belongs to that attachment (its ``tag``) for as long as this object lives:
    another attachment of the run that wants it takes its own deterministic name
    ``<stem> (<tag>)<ext>`` instead, even with ``overwrite=True``. So two same-named attachments of
    one run never end up as one file, locally or in object storage, where checking that a name is
    free and writing it are two separate requests. A download operator makes one per run and
    claims the names it expects in the order of the attachment ids before any thread starts, so
    the lowest id gets the plain name whatever thread finishes first, and a re-run finds every
    file where the previous run left it.

    Claims are kept in memory: they order the downloads of one process, not of two processes
    writing to one directory (see :class:`DownloadTarget`).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owners: dict[tuple[str, str], str] = {}

    def claim(self, directory: Any, name: str, *, tag: str) -> bool:
        """
        Claim ``name`` in ``directory`` for ``tag``; ``False`` if another tag holds it.

        :param directory: the directory (a path, URL or ``ObjectStoragePath``).
        :param name: the file name.
        :param tag: who claims it (the attachment id).
        """
        key = (_directory_key(directory), name)
        with self._lock:
            return self._owners.setdefault(key, tag) == tag

    def release(self, directory: Any, name: str, *, tag: str) -> None:
        """
        Give ``name`` back, if ``tag`` holds it.

        :param directory: the directory the name was claimed in.
        :param name: the file name.
        :param tag: who claimed it.
        """
        key = (_directory_key(directory), name)
        with self._lock:
            if self._owners.get(key) == tag:
                del self._owners[key]


#: Names being committed right now by downloads that were given no claims (direct hook calls, maybe
#: in threads): held only while the file is moved into place.
_IN_FLIGHT = NameClaims()


def _directory_key(directory: Any) -> str:
    """One spelling per directory: ``dir`` and ``dir/``, a relative and an absolute path, are one."""
    path = to_storage_path(directory, argument="directory")
    if _is_object_storage_path(path):
        # The connection is part of it: one URL under two connections may be two stores.
        return f"{getattr(path, 'conn_id', None) or ''}@{str(path).rstrip('/')}"
    return os.path.abspath(str(path))


class DownloadTarget:
    """
    Where one download goes: a directory (the name comes from Zoho) or an exact file path.

    Usage: :meth:`open_temp` before the request is sent (so an unwritable destination fails before
    any bytes are fetched), write the body into it, then :meth:`commit` once the body is verified,
    or :meth:`discard` on any failure.

    :param destination: a directory, a file path, a URL or an ``ObjectStoragePath``.
    :param overwrite: replace an existing different file instead of choosing another name.
    :param directory: ``True`` if ``destination`` is a directory (created if missing), ``False`` if
        it is the exact file to write; ``None`` guesses: an existing directory or a string ending
        with ``/`` is a directory, anything else a file.
    :param claims: the names taken by the other downloads of this run (see :class:`NameClaims`);
        ``None``: a name is only reserved while this download moves its file into place.
    :param argument: the argument name, for messages.

    Locally, a file takes its name atomically (a hard link or an exclusive create), so no two
    downloads, of any process, ever share a file. In object storage, checking that a name is free
    and writing it are separate requests: the claims keep the downloads of one process apart, but
    two processes that write the same name into one prefix at the same moment can both succeed,
    the later write winning. Every write goes to a temporary object beside the target first and is
    moved into place only once complete, so a failed write never replaces a good file.
    """

    def __init__(
        self,
        destination: Any,
        *,
        overwrite: bool = False,
        directory: bool | None = None,
        claims: NameClaims | None = None,
        argument: str = "destination",
    ) -> None:
        self.raw = destination
        # A local Path or an ObjectStoragePath; both offer the pathlib API used below.
        self.path: Any = to_storage_path(destination, argument=argument)
        self.local = not _is_object_storage_path(self.path)
        self.overwrite = overwrite
        # Only a caller knows whether a path that does not exist yet (a new S3 prefix) is a directory.
        self.is_directory = _is_directory_target(self.path, destination) if directory is None else directory
        self.claims = claims
        self._temp: Path | None = None
        self._lock_fd: int | None = None
        # Names claimed in _IN_FLIGHT by this download's commit, given back when it ends.
        self._held: list[tuple[str, str]] = []

    @property
    def directory(self) -> Any:
        """The directory the file lands in."""
        return self.path if self.is_directory else self.path.parent

    def open_temp(self) -> IO[bytes]:
        """
        Create the temporary file, locked for as long as this download owns it, open for writing.

        The lock (``flock``) tells a running download's file from one a killed process left
        behind: before the first download into a directory, this process removes the leftovers
        (see :func:`remove_stale_temp_files`).
        """
        if self.local:
            directory = Path(self.directory)
            try:
                directory.mkdir(parents=True, exist_ok=True)
                remove_stale_temp_files(directory)
                # mkstemp makes it 0600; the file it becomes must get the mode of any file the user
                # writes. (The local spool for object storage below stays private.)
                fd, name = _locked_temp_file(directory, mode=new_file_mode())
            except OSError as error:
                raise _unwritable(str(directory), error) from None
        else:
            # Object stores have no real directories; failing to make one is not an error by itself.
            with contextlib.suppress(OSError):
                self.directory.mkdir(parents=True, exist_ok=True)
            remove_stale_temp_files(Path(tempfile.gettempdir()))
            fd, name = _locked_temp_file(None, mode=None)
        self._temp = Path(name)
        self._lock_fd = fd
        # The writer gets its own descriptor: closing it after the body keeps the lock, which goes
        # with the last descriptor of the file, until the file is in place or discarded.
        return os.fdopen(os.dup(fd), "wb")

    def discard(self) -> None:
        """Remove the temporary file, if any, then give up its lock."""
        if self._temp is not None:
            with contextlib.suppress(FileNotFoundError):
                self._temp.unlink()
            self._temp = None
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None

    def reserve(self, file_name: str, *, tag: str) -> bool:
        """
        Claim ``file_name`` in the destination directory for ``tag`` before downloading.

        :param file_name: the safe name the download is expected to get.
        :param tag: the attachment id.
        :return: whether ``tag`` holds the name (``False``: another attachment of the run has it).
        """
        if self.claims is None:
            return True
        return self.claims.claim(self.directory, file_name, tag=tag)

    def commit(self, file_name: str, *, size: int, sha256: str, tag: str) -> FinalFile:
        """
        Move the verified temporary file into place and return where it went.

        :param file_name: the safe name chosen for the file (ignored for an exact file target).
        :param size: the verified byte count.
        :param sha256: the verified hex digest.
        :param tag: what makes a clashing name unique and deterministic (the attachment id).
        """
        if self._temp is None:
            raise RuntimeError("commit() without open_temp()")
        try:
            if not self.is_directory:
                self._claim_exact(tag)
                if self.local:
                    return self._commit_local_file(size=size, sha256=sha256)
                return self._commit_remote_file(size=size, sha256=sha256)
            names = self._names(file_name, tag)
            own = suffixed_filename(file_name, tag)
            if self.local:
                return self._commit_local(names, own=own, size=size, sha256=sha256)
            return self._commit_remote(names, own=own, size=size, sha256=sha256)
        finally:
            for name, owner in self._held:
                _IN_FLIGHT.release(self.directory, name, tag=owner)
            self._held.clear()
            self.discard()

    def _claim(self, name: str, tag: str) -> bool:
        if self.claims is not None:
            return self.claims.claim(self.directory, name, tag=tag)
        if not _IN_FLIGHT.claim(self.directory, name, tag=tag):
            return False
        self._held.append((name, tag))
        return True

    def _claim_exact(self, tag: str) -> None:
        if not self._claim(self.path.name, tag):
            raise ZohoCRMTransferError(
                f"{self.path} is the destination of another download of this run (or of one being "
                "written by this process right now)",
                code="DESTINATION_EXISTS",
                hint="Give each download its own file path, or download into a directory.",
            )

    def _names(self, file_name: str, tag: str) -> list[str]:
        """
        The names this download may take, in order, each one claimed for it.

        The plain name unless another download of the run holds it, then this attachment's
        deterministic name (taken when the plain name holds other bytes from an earlier run).
        """
        names = [name for name in (file_name, suffixed_filename(file_name, tag)) if self._claim(name, tag)]
        if not names:
            # Only if another attachment's own name is literally "<stem> (<this id>)<ext>".
            raise ZohoCRMTransferError(
                f"{file_name!r} and its de-duplicated form are taken by other downloads of this run",
                code="DESTINATION_EXISTS",
                hint="Download these attachments into separate directories.",
            )
        return names

    def _commit_local_file(self, *, size: int, sha256: str) -> FinalFile:
        temp = self._temp
        assert temp is not None
        target = Path(self.path)
        try:
            if self.overwrite:
                os.replace(temp, target)
                return FinalFile(str(target), target.name, unchanged=False)
            if _link_into_place(temp, target):
                return FinalFile(str(target), target.name, unchanged=False)
        except OSError as error:
            raise _unwritable(str(self.directory), error) from None
        if _same_local_file(target, size, sha256):
            return FinalFile(str(target), target.name, unchanged=True)
        raise _exists_error(target)

    def _commit_local(self, names: list[str], *, own: str, size: int, sha256: str) -> FinalFile:
        temp = self._temp
        assert temp is not None
        try:
            if self.overwrite:
                # Replaces what an earlier run left under this name; never another file of this
                # run, which holds another name.
                target = Path(self.path) / names[0]
                os.replace(temp, target)
                return FinalFile(str(target), target.name, unchanged=False)
            for name in names:
                target = Path(self.path) / name
                if _link_into_place(temp, target):
                    return FinalFile(str(target), target.name, unchanged=False)
                if _same_local_file(target, size, sha256):
                    return FinalFile(str(target), target.name, unchanged=True)
                if name == own:
                    # This attachment's own name holds other bytes (a damaged or older copy):
                    # refresh it rather than invent a third name.
                    os.replace(temp, target)
                    return FinalFile(str(target), target.name, unchanged=False)
        except OSError as error:
            raise _unwritable(str(self.directory), error) from None
        raise _exists_error(Path(self.path) / names[-1])

    def _commit_remote_file(self, *, size: int, sha256: str) -> FinalFile:
        target = self.path
        if not self.overwrite and _exists(target):
            if _same_remote_file(target, size, sha256):
                return FinalFile(str(target), target.name, unchanged=True)
            raise _exists_error(target)
        self._copy_to(target)
        return FinalFile(str(target), target.name, unchanged=False)

    def _commit_remote(self, names: list[str], *, own: str, size: int, sha256: str) -> FinalFile:
        for name in names:
            target = self.path / name
            if self.overwrite or not _exists(target):
                break
            if _same_remote_file(target, size, sha256):
                return FinalFile(str(target), target.name, unchanged=True)
            if name == own:
                # This attachment's own name holds other bytes (a damaged or older copy): refresh
                # it rather than invent a third name.
                break
        else:
            raise _exists_error(target)
        self._copy_to(target)
        return FinalFile(str(target), target.name, unchanged=False)

    def _copy_to(self, target: ObjectStoragePath) -> None:
        """Write the verified file to ``target`` through a temporary object beside it."""
        assert self._temp is not None
        temp = target.parent / f"{_TEMP_PREFIX}{secrets.token_hex(8)}.part"
        try:
            with open(self._temp, "rb") as source, temp.open("wb") as sink:
                while chunk := source.read(CHUNK_SIZE):
                    sink.write(chunk)
            # Until this move, the target keeps whatever it held: a good file is never replaced
            # by a partial one.
            target.fs.mv(temp.path, target.path)
        except Exception as error:
            # Only the temporary object is ours to remove; an object store may have kept a partial
            # one when the write failed.
            with contextlib.suppress(Exception):
                temp.fs.rm_file(temp.path)
            raise ZohoCRMTransferError(
                f"could not write {target}: {type(error).__name__}: {error}",
                code="DESTINATION_ERROR",
                hint="Check the object-storage connection and permissions; nothing partial was kept "
                "and an existing file was left as it was.",
            ) from None


class BodyCopy:
    """
    A download's body on its way to a file: how many bytes came, their SHA-256, and the first ones.

    :param handle: the file the body is written to.
    :param keep: how many of the first bytes to keep in :attr:`head` (0: none).
    :param on_progress: called with the size of each chunk written.
    """

    def __init__(
        self, handle: IO[bytes], *, keep: int = 0, on_progress: Callable[[int], None] | None = None
    ) -> None:
        self.handle = handle
        self.size = 0
        self.head = bytearray()
        self._keep = keep
        self._digest = hashlib.sha256()
        self._on_progress = on_progress

    @property
    def sha256(self) -> str:
        """The hex SHA-256 of the bytes written so far."""
        return self._digest.hexdigest()

    def write_all(self, chunks: Iterable[bytes]) -> None:
        """
        Write every chunk, in order; :attr:`size` counts what was written if a chunk fails to come.

        :param chunks: the body's chunks (a network read may raise while they are iterated).
        :raises OSError: if the file cannot be written.
        """
        for chunk in chunks:
            self.handle.write(chunk)
            self._digest.update(chunk)
            self.size += len(chunk)
            if len(self.head) < self._keep:
                self.head += chunk[: self._keep - len(self.head)]
            if self._on_progress is not None:
                self._on_progress(len(chunk))


def _exists_error(target: Any) -> ZohoCRMTransferError:
    return ZohoCRMTransferError(
        f"{target} already exists with different content",
        code="DESTINATION_EXISTS",
        hint="Pass overwrite=True to replace it, or choose another destination.",
    )


def choose_file_name(header_name: str | None, record_name: str | None, attachment_id: str) -> str:
    """The safe name of a download: Zoho's header, else the record's ``File_Name``, else a fallback."""
    fallback = f"attachment-{attachment_id}"
    return safe_filename(header_name or record_name, fallback=safe_filename(record_name, fallback=fallback))


def _link_into_place(temp: Path, target: Path) -> bool:
    """Atomically create ``target`` with the temp file's content; ``False`` if it already exists."""
    try:
        os.link(temp, target)
        return True
    except FileExistsError:
        return False
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
    # No hard links here (some network filesystems): claim the name exclusively, then rename over it.
    try:
        fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    os.close(fd)
    os.replace(temp, target)
    return True


def _same_local_file(path: Path, size: int, sha256: str) -> bool:
    try:
        if not path.is_file() or path.stat().st_size != size:
            return False
        with open(path, "rb") as handle:
            return _digest(handle) == sha256
    except OSError:
        return False


def _exists(path: ObjectStoragePath) -> bool:
    """
    Whether ``path`` exists in object storage.

    Asked with ``info`` rather than ``exists``: fsspec's ``exists`` answers ``False`` for any error,
    and an error (no permission to look, a broken connection) must never pass for "absent", or a
    file would be written over one that could not be seen.
    """
    try:
        path.fs.info(path.path)
    except FileNotFoundError:
        return False
    except Exception as error:
        raise _lookup_error(path, "check whether it exists", error) from None
    return True


def _same_remote_file(path: ObjectStoragePath, size: int, sha256: str) -> bool:
    """Whether ``path`` holds these bytes; an error reading it is raised, never taken for "no"."""
    try:
        if int(path.fs.info(path.path).get("size") or 0) != size:
            return False
        with path.open("rb") as handle:
            return _digest(handle) == sha256
    except FileNotFoundError:
        # Removed since it was seen: it holds nothing of ours either.
        return False
    except Exception as error:
        raise _lookup_error(path, "compare it with the download", error) from None


def _lookup_error(path: Any, what: str, error: BaseException) -> ZohoCRMTransferError:
    return ZohoCRMTransferError(
        f"could not {what}: {path}: {type(error).__name__}: {error}",
        code="DESTINATION_ERROR",
        hint="Check the permissions of the object-storage connection on the destination (it must "
        "be allowed to list and read it, not only to write); nothing was written.",
    )


def _digest(handle: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while chunk := handle.read(CHUNK_SIZE):
        digest.update(chunk)
    return digest.hexdigest()


def _unwritable(where: str, error: OSError) -> ZohoCRMTransferError:
    reason = os.strerror(error.errno) if error.errno else type(error).__name__
    return ZohoCRMTransferError(
        f"cannot write to {where}: {reason}",
        code="DESTINATION_ERROR",
        hint="Check that the destination exists, is writable and has free space; nothing partial was kept.",
    )
