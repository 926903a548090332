"""Moving file bytes safely: download targets, upload sources and a streaming multipart body.

Downloads are written to a temporary file and only become visible once complete and verified:
on the local filesystem the temporary file sits beside the destination and is hard-linked (or
renamed) into place atomically; for object storage (``s3://``, ``gs://``, ``memory://``...) it is
spooled in the local temp directory and copied once verified, through a temporary object beside
the target. A clash with an existing file keeps the existing one if it is identical, or picks a
deterministic name otherwise; same-named attachments of one run never share a name
(:class:`NameClaims`). Nothing partial is left behind: a temporary file is locked (``flock``) while
its download runs, and those a killed process left are removed by the next download into their
directory (:func:`remove_stale_temp_files`); uploads of a directory or glob never pick them up.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import secrets
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Protocol

from airflow_provider_zoho_attach.exceptions import ZohoCRMInvalidRequestError, ZohoCRMTransferError
from airflow_provider_zoho_attach.utils.filenames import safe_filename, suffixed_filename

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

__all__ = [
    "CHUNK_SIZE",
    "DownloadTarget",
    "MultipartBody",
    "NameClaims",
    "UploadSource",
    "is_url",
    "to_storage_path",
]

CHUNK_SIZE = 1024 * 1024


class Readable(Protocol):
    """A binary source opened for reading, usable in a ``with`` block."""

    def read(self, size: int = -1, /) -> bytes: ...

    def __enter__(self) -> Any: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None, /
    ) -> Any: ...


_TEMP_PREFIX = ".zoho-download-"


def is_url(value: str) -> bool:
    """Whether ``value`` is an object-storage URL (``scheme://...``) rather than a local path."""
    scheme, sep, _ = value.partition("://")
    return bool(sep) and scheme.replace("+", "").replace("-", "").isalnum() and len(scheme) > 1


def to_storage_path(value: Any, *, argument: str) -> Path | ObjectStoragePath:
    """
    Return a local :class:`~pathlib.Path` or an ``ObjectStoragePath`` for ``value``.

    ``file://`` URLs and plain paths are local (fast, atomic renames); any other URL, and any
    ``ObjectStoragePath`` not on the local filesystem, goes through Airflow's object storage.

    :raises ZohoCRMInvalidRequestError: for ``None``, an empty string or another type.
    """
    # Before isinstance(value, Path): with universal_pathlib < 0.3 (Airflow 3.1) an
    # ObjectStoragePath *is* a pathlib.Path, but its bytes live in object storage.
    if _is_object_storage_path(value):
        if getattr(value, "protocol", None) in ("file", "local"):
            return Path(value.path)
        _require_filesystem(value, argument)
        return value
    if isinstance(value, Path):
        return value
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise ZohoCRMInvalidRequestError.for_argument(argument, value, "a path or an object-storage URL")
        if text.startswith("file://"):
            from urllib.parse import unquote, urlsplit

            return Path(unquote(urlsplit(text).path))
        if is_url(text):
            from airflow.sdk import ObjectStoragePath

            try:
                path = ObjectStoragePath(text)
            except ImportError as error:
                raise _missing_filesystem(argument, text, error) from None
            except ValueError as error:
                raise ZohoCRMInvalidRequestError.for_argument(
                    argument, value, f"a local path or an object-storage URL ({error})"
                ) from None
            _require_filesystem(path, argument)
            return path
        return Path(os.path.expanduser(text))
    if isinstance(value, os.PathLike):
        return Path(os.fspath(value))
    raise ZohoCRMInvalidRequestError.for_argument(
        argument, value, "a path, an ObjectStoragePath or an object-storage URL"
    )


#: The provider's optional extra that brings what Airflow's object storage needs for a URL scheme:
#: the fsspec implementation and the Airflow provider that registers it.
STORAGE_EXTRAS = {
    "s3": "s3",
    "s3a": "s3",
    "gs": "gcs",
    "gcs": "gcs",
    "abfs": "azure",
    "abfss": "azure",
    "az": "azure",
    "adl": "azure",
}


def _require_filesystem(path: ObjectStoragePath, argument: str) -> None:
    """
    Fail before any request if the filesystem of ``path``'s scheme is not installed.

    fsspec and Airflow resolve a scheme's filesystem lazily, so a missing ``s3fs`` would otherwise
    surface only at the first write, after the download, as a bare ``ImportError: Install s3fs``.
    Only a missing module is caught here; any other problem (credentials, a connection) is left to
    the first real use, where it is reported with the file it concerns.
    """
    protocol = str(getattr(path, "protocol", "") or "")
    if not protocol or protocol in ("file", "local"):
        return
    import fsspec

    try:
        fsspec.get_filesystem_class(protocol)
    except ImportError as error:
        raise _missing_filesystem(argument, str(path), error) from None
    except ValueError:  # not a scheme fsspec knows: Airflow's own registry may still have it
        pass
    try:
        path.fs  # noqa: B018 - resolving it imports the filesystem's module
    except ImportError as error:
        raise _missing_filesystem(argument, str(path), error) from None
    except Exception:  # noqa: S110 - reported with its file at the first real use
        pass


def _missing_filesystem(argument: str, url: str, error: ImportError) -> ZohoCRMInvalidRequestError:
    protocol = url.partition("://")[0]
    extra = STORAGE_EXTRAS.get(protocol.lower())
    if extra:
        hint = (
            f"Install it with pip install 'airflow-provider-zoho-attach[{extra}]' wherever the task "
            "runs; nothing was sent to Zoho."
        )
    else:
        hint = (
            f"Install the fsspec filesystem for {protocol}:// and the Airflow provider that registers "
            "it wherever the task runs; nothing was sent to Zoho."
        )
    return ZohoCRMInvalidRequestError(
        f"{argument}: the {protocol}:// filesystem is not installed ({error})",
        code="DESTINATION_ERROR",
        details={"argument": argument, "protocol": protocol, "extra": extra},
        hint=hint,
    )


def _is_object_storage_path(value: Any) -> bool:
    try:
        from airflow.sdk import ObjectStoragePath
    except ImportError:  # pragma: no cover - airflow.sdk always has it on 3.x
        return False
    return isinstance(value, ObjectStoragePath)


def _is_directory_target(path: Path | ObjectStoragePath, raw: Any) -> bool:
    if isinstance(raw, str) and raw.rstrip().endswith(("/", os.sep)):
        return True
    try:
        return path.is_dir()
    except OSError:
        return False


# --------------------------------------------------------------------------------------------
# Downloads


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


_UMASK_LOCK = threading.Lock()
#: The umask read with os.umask(), where /proc does not tell it (empty until then).
_FALLBACK_UMASK: list[int] = []


def new_file_mode() -> int:
    """The mode ``open()`` gives a new file in this process: ``0o666`` less the umask."""
    return 0o666 & ~_current_umask()


def _current_umask() -> int:
    # Linux reports the umask in /proc: reading it there changes nothing, so it cannot race with
    # threads that create files meanwhile (it is read each time, so a changed umask is seen).
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8) & 0o777
    except (OSError, ValueError, IndexError):
        pass
    # Elsewhere os.umask() can only read it by setting it: do so once, under a lock, and set the
    # most restrictive value meanwhile, so a file another thread creates in that instant is never
    # more open than intended.
    with _UMASK_LOCK:
        if not _FALLBACK_UMASK:
            mask = os.umask(0o777)
            os.umask(mask)
            _FALLBACK_UMASK.append(mask)
        return _FALLBACK_UMASK[0]


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


#: How long a temporary file must have gone unmodified before it may be taken for a leftover
#: (besides being unlocked): a running download writes at least once per request timeout (60 s by
#: default), and this guards files of versions that did not lock them or of filesystems where
#: ``flock`` is only local. Airflow's default retry delay (5 minutes) lets a retry clean up.
STALE_TEMP_AGE = 300.0

#: When each directory was last swept for leftovers (time.monotonic()): at most once per
#: STALE_TEMP_AGE, so that a task downloading thousands of files lists its directory once.
_SWEPT: dict[str, float] = {}
_SWEPT_LOCK = threading.Lock()


def is_temp_file_name(name: str) -> bool:
    """Whether ``name`` is a download's temporary file (``.zoho-download-*.part``), never a user's file."""
    return name.startswith(_TEMP_PREFIX) and name.endswith(".part")


def remove_stale_temp_files(directory: Path, *, min_age: float = STALE_TEMP_AGE) -> list[str]:
    """
    Remove the temporary files that killed downloads left in ``directory``.

    Called before a download creates its own temporary file there; a directory is swept at most
    once per ``STALE_TEMP_AGE`` seconds in a process.

    A file is removed only if this process can lock it without waiting, which no running
    download, in any process, lets it do, and if it was not modified for ``min_age`` seconds.
    Anything that cannot be checked is left alone.

    :param directory: a local directory.
    :param min_age: seconds since the last modification.
    :return: the paths removed.
    """
    key = os.path.realpath(directory)
    with _SWEPT_LOCK:
        last = _SWEPT.get(key)
        if last is not None and time.monotonic() - last < STALE_TEMP_AGE:
            return []
        _SWEPT[key] = time.monotonic()
    try:
        names = [entry.name for entry in os.scandir(directory) if is_temp_file_name(entry.name)]
    except OSError:
        return []
    removed = []
    for name in names:
        path = os.path.join(directory, name)
        try:
            # O_NOFOLLOW: a symlink dressed as a temp file is not followed, and not removed either.
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            info = os.fstat(fd)
            if (
                _lock(fd) == "locked"
                and stat.S_ISREG(info.st_mode)
                and time.time() - info.st_mtime >= min_age
                and _still_named(fd, path)
            ):
                # Unlinked while locked: a download that opened it meanwhile would not get the lock.
                os.unlink(path)
                removed.append(path)
        except OSError:
            continue
        finally:
            os.close(fd)
    return removed


def _locked_temp_file(directory: Path | None, *, mode: int | None) -> tuple[int, str]:
    """Create a temporary file, locked, with ``mode``; return its descriptor and path."""
    for _ in range(10):
        fd, name = tempfile.mkstemp(prefix=_TEMP_PREFIX, suffix=".part", dir=directory)
        try:
            if mode is not None:
                os.fchmod(fd, mode)
            # "busy": another process's cleanup locked it in the instant since its creation and is
            # removing it; take another.
            if _lock(fd) != "busy" and _still_named(fd, name):
                return fd, name
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(name)
            raise
        os.close(fd)
    raise OSError(errno.EAGAIN, "temporary files kept disappearing")


def _lock(fd: int) -> str:
    """Lock ``fd`` exclusively without waiting: ``"locked"``, ``"busy"`` or ``"unsupported"``."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - POSIX only
        return "unsupported"
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return "busy"
    except OSError:
        return "unsupported"
    return "locked"


def _still_named(fd: int, path: str) -> bool:
    """Whether ``path`` is still the file open as ``fd``."""
    try:
        named = os.lstat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


# --------------------------------------------------------------------------------------------
# Uploads


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


class MultipartBody:
    """
    A ``multipart/form-data`` body with one file part, streamed in chunks with a known length.

    ``requests`` sends an iterable with ``__len__`` as a stream with a ``Content-Length`` header, so
    the file is never held in memory, whatever its size. The SHA-256 of the file part is computed on
    the way (:attr:`sha256` once fully sent).

    :param field: the form field name (``file``).
    :param file_name: the name to send.
    :param content_type: the part's media type.
    :param opener: returns the file, open at its start.
    :param size: the file's exact size.
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
        self.boundary = secrets.token_hex(16)
        quoted = file_name.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
        self._head = (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="{field}"; filename="{quoted}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        self._tail = f"\r\n--{self.boundary}--\r\n".encode()
        self._opener = opener
        self.size = size
        self.sent = 0
        #: Whether sending began (the head went out), and whether all of it went out: only a body that
        #: went out whole can have been stored by Zoho, also when the file is empty.
        self.started = False
        self.finished = False
        self.sha256: str | None = None
        self._on_progress = on_progress

    @property
    def content_type(self) -> str:
        """The request's ``Content-Type`` header."""
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return len(self._head) + self.size + len(self._tail)

    def __iter__(self) -> Iterator[bytes]:
        digest = hashlib.sha256()
        sent = 0
        self.started = True
        self.finished = False
        yield self._head
        with self._opener() as handle:
            while sent < self.size:
                chunk = handle.read(min(CHUNK_SIZE, self.size - sent))
                if not chunk:
                    break
                digest.update(chunk)
                sent += len(chunk)
                self.sent = sent
                if self._on_progress is not None:
                    self._on_progress(len(chunk))
                yield chunk
        if sent != self.size:
            # The source shrank while we sent it: the Content-Length we promised is now a lie.
            raise ZohoCRMTransferError(
                f"the source changed while it was being sent ({sent} of {self.size} bytes read)",
                code="SOURCE_CHANGED",
                hint="Do not modify a file while it is being uploaded.",
            )
        self.sha256 = digest.hexdigest()
        yield self._tail
        self.finished = True


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
