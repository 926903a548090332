"""A download's temporary files: created locked, with the mode of a user's file; leftovers swept.

A download writes into a temporary file (``.zoho-download-*.part``) that is locked (``flock``) for
as long as the download owns it, so a running download's file can be told from one a killed process
left behind: :func:`remove_stale_temp_files` removes the latter before the next download into their
directory, and :func:`is_temp_file_name` keeps them out of uploads. :func:`new_file_mode` is the mode
``open()`` would give a new file here (``0o666`` less the umask), read without racing other threads.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
import threading
import time
from pathlib import Path

__all__ = ["STALE_TEMP_AGE", "is_temp_file_name", "new_file_mode", "remove_stale_temp_files"]

_TEMP_PREFIX = ".zoho-download-"


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
