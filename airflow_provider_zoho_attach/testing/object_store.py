"""
A flaky in-memory object store for tests: ``flakymem://`` in Airflow's object storage.

:class:`FlakyMemoryFileSystem` is an fsspec in-memory filesystem with the semantics of an object
store such as S3 (a written object appears whole when its writer closes it, never half-written; a
failed write leaves the previous object in place; every reader gets its own cursor), plus switches
to make it misbehave the way real stores do:

* :meth:`~FlakyMemoryFileSystem.fail`: the next N calls of an operation on matching paths raise
  (an ``OSError`` by default; any exception, e.g. ``PermissionError`` or a client library's own
  exception type, as real S3 clients raise);
* :meth:`~FlakyMemoryFileSystem.delay`: a pause before an operation (``sleep`` is replaceable, so
  tests need no real waiting);
* :meth:`~FlakyMemoryFileSystem.on`: a callback before an operation, e.g. one that waits on a
  ``threading.Event`` the test sets, to hold a writer at an exact point;
* :meth:`~FlakyMemoryFileSystem.interleave`: calls on matching paths wait for each other (a
  barrier of ``parties``), so two threads that check ``exists`` and then write both see the path
  missing: check-then-write races happen every time instead of once in a thousand runs.

Operations that can be targeted: ``exists``, ``info`` (``stat``, ``size``...), ``list``
(``ls``, ``iterdir``, ``glob``), ``open_read`` (``open("rb")``, ``cat``), ``open_write``
(``open("wb")``), ``commit`` (the close of a written file: the object appears, or the injected
failure is raised and nothing changes), ``delete`` (``rm``, ``unlink``) and ``mkdir``. Patterns
are shell globs (:func:`fnmatch.fnmatchcase`) matched against the path without the protocol, e.g.
``"bucket/out/*.pdf"`` or ``"*"``.

Usage::

    from airflow.sdk import ObjectStoragePath
    from airflow_provider_zoho_attach.testing.object_store import attach_flaky_store

    fs = attach_flaky_store()  # a fresh, empty store behind flakymem://
    fs.fail("commit", "bucket/out/*.pdf", error=PermissionError("AccessDenied"))
    ...  # code under test writes to ObjectStoragePath("flakymem://bucket/out/")
    assert fs.files() == {"bucket/out/a.txt": b"..."}

Every call (targeted or not) is logged in :attr:`~FlakyMemoryFileSystem.calls` as
``(operation, path)``.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from fsspec.implementations.memory import MemoryFile, MemoryFileSystem

__all__ = [
    "DEFAULT_PROTOCOL",
    "OPERATIONS",
    "FlakyMemoryFileSystem",
    "attach_flaky_store",
]

#: The protocol :func:`attach_flaky_store` registers by default.
DEFAULT_PROTOCOL = "flakymem"

#: The operations rules can target.
OPERATIONS: frozenset[str] = frozenset(
    {"exists", "info", "list", "open_read", "open_write", "commit", "delete", "mkdir"}
)


@dataclass
class _Rule:
    operation: str
    pattern: str
    count: int | None  # None: for ever
    action: Callable[[str, str], None]
    fired: int = 0
    description: str = ""
    after: bool = False  # run once the operation has done its work, before it returns

    def matches(self, operation: str, path: str) -> bool:
        return operation == self.operation and fnmatch.fnmatchcase(path, self.pattern)

    @property
    def exhausted(self) -> bool:
        return self.count is not None and self.fired >= self.count


@dataclass
class _Barrier:
    barrier: threading.Barrier
    timeout: float
    broken: list[bool] = field(default_factory=list)

    def __call__(self, operation: str, path: str) -> None:
        try:
            self.barrier.wait(self.timeout)
        except threading.BrokenBarrierError:
            # Fewer callers than parties came: let everyone go on rather than fail the test here.
            self.broken.append(True)


class _PendingWrite(MemoryFile):
    """A file open for writing: its bytes become the object only when it is closed without error."""

    def __init__(self, fs: FlakyMemoryFileSystem, path: str, data: bytes | None = None) -> None:
        super().__init__(fs, path, data)
        self._done = False

    def close(self) -> None:
        if self._done:
            return
        self._done = True
        fs = self.fs
        assert isinstance(fs, FlakyMemoryFileSystem)
        fs._commit(self.path, self.getvalue())

    def discard(self) -> None:
        self._done = True

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            # An error while writing: like an aborted multipart upload, nothing is stored.
            self.discard()
        else:
            self.close()


class _State:
    """What every instance of one protocol's class shares: contents, rules and the call log."""

    def __init__(self) -> None:
        self.store: dict[str, MemoryFile] = {}
        self.pseudo_dirs: list[str] = [""]
        self.calls: list[tuple[str, str]] = []
        self.rules: list[_Rule] = []
        self.lock = threading.RLock()
        self.sleep: Callable[[float], None] = time.sleep


class FlakyMemoryFileSystem(MemoryFileSystem):
    """
    An in-memory object store whose operations can be made to fail, wait or race on request.

    All instances of the class share one store (and its rules): fsspec makes a new instance per
    thread, and Airflow's ``ObjectStoragePath`` reaches the store both through the attached
    instance and through ``fsspec.filesystem(protocol)``, so they must all see the same objects.
    :func:`attach_flaky_store` replaces that shared store with an empty one. The contents are
    never shared with ``memory://``.

    Paths are kept as fsspec's memory filesystem keeps them: ``/bucket/key``.

    :ivar calls: every operation so far, as ``(operation, path)``.
    :ivar sleep: the function :meth:`delay` waits with (``time.sleep``; replace it in tests).
    """

    protocol = (DEFAULT_PROTOCOL,)
    root_marker = ""
    _state: ClassVar[_State] = _State()
    _inside: ClassVar[threading.local] = threading.local()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.pop("global_store", None)
        super().__init__(*args, **kwargs)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._state = _State()
        cls._inside = threading.local()

    # The shared state, under the names fsspec's MemoryFileSystem uses (its __init__ assigns them).
    @property
    def store(self) -> dict[str, MemoryFile]:
        """The objects: path -> file (shared by every instance of the class)."""
        return type(self)._state.store

    @store.setter
    def store(self, value: Any) -> None:
        pass

    @property
    def pseudo_dirs(self) -> list[str]:
        """Directories made with ``mkdir`` (shared by every instance of the class)."""
        return type(self)._state.pseudo_dirs

    @pseudo_dirs.setter
    def pseudo_dirs(self, value: Any) -> None:
        pass

    @property
    def calls(self) -> list[tuple[str, str]]:
        """Every operation so far, as ``(operation, path)``."""
        return type(self)._state.calls

    @property
    def sleep(self) -> Callable[[float], None]:
        """What :meth:`delay` waits with (``time.sleep`` unless replaced)."""
        return type(self)._state.sleep

    @sleep.setter
    def sleep(self, value: Callable[[float], None]) -> None:
        type(self)._state.sleep = value

    @property
    def _lock(self) -> threading.RLock:
        return type(self)._state.lock

    @classmethod
    def _fresh_state(cls) -> None:
        cls._state = _State()

    # ------------------------------------------------------------------ switches

    def fail(
        self,
        operation: str,
        pattern: str = "*",
        *,
        count: int | None = 1,
        error: BaseException | type[BaseException] | None = None,
    ) -> None:
        """
        Make the next ``count`` calls of ``operation`` on paths matching ``pattern`` raise ``error``.

        :param operation: one of :data:`OPERATIONS`.
        :param pattern: a glob on the path without the protocol (``"bucket/dir/*"``).
        :param count: how many calls fail (``None``: all of them, until :meth:`clear_faults`).
        :param error: an exception (instance or class) to raise; default ``OSError(EIO)``.
        """

        def action(op: str, path: str) -> None:
            if error is None:
                raise OSError(errno.EIO, f"injected {op} failure", path)
            if isinstance(error, type):
                raise error(f"injected {op} failure: {path}")
            raise error

        self._add(operation, pattern, count, action, f"fail {operation} {pattern}")

    def delay(self, operation: str, seconds: float, pattern: str = "*", *, count: int | None = None) -> None:
        """Pause ``seconds`` (with :attr:`sleep`) before ``operation`` on matching paths."""

        def action(op: str, path: str) -> None:
            self.sleep(seconds)

        self._add(operation, pattern, count, action, f"delay {operation} {pattern} {seconds}s")

    def on(
        self,
        operation: str,
        callback: Callable[[str, str], None],
        pattern: str = "*",
        *,
        count: int | None = None,
    ) -> None:
        """
        Call ``callback(operation, path)`` before ``operation`` on matching paths.

        The callback runs in the caller's thread, outside the store's lock: it may block (wait on an
        event the test sets) or raise (then the operation fails with that exception).
        """
        self._add(operation, pattern, count, callback, f"on {operation} {pattern}")

    def interleave(
        self,
        operation: str,
        pattern: str = "*",
        *,
        parties: int = 2,
        timeout: float = 5.0,
        count: int | None = None,
    ) -> None:
        """
        Make calls of ``operation`` on matching paths wait for each other before they return.

        Each call does its work (an ``exists`` looks), then waits until ``parties`` calls have got
        that far, then returns. With ``interleave("exists", "bucket/out/report.pdf")`` two threads
        that each check whether ``report.pdf`` exists before writing it both see it missing: a
        check-then-write race, every time. If fewer than ``parties`` callers come within
        ``timeout`` seconds, they go on (nothing is raised).

        :param count: calls the barrier applies to (default: ``parties``, one round).
        """
        gate = _Barrier(threading.Barrier(parties), timeout)
        self._add(
            operation,
            pattern,
            parties if count is None else count,
            gate,
            f"interleave {operation} {pattern} x{parties}",
            after=True,
        )

    def clear_faults(self) -> None:
        """Drop every pending rule (failures, delays, callbacks, barriers)."""
        with self._lock:
            self._state.rules.clear()

    @property
    def pending(self) -> list[str]:
        """What the pending rules do, for messages."""
        with self._lock:
            return [rule.description for rule in self._state.rules]

    def reset(self) -> None:
        """Forget contents, rules and the call log."""
        with self._lock:
            self._state.rules.clear()
            self.store.clear()
            self.pseudo_dirs[:] = [""]
            self.calls.clear()

    def files(self) -> dict[str, bytes]:
        """Every object: path (without protocol) -> bytes."""
        with self._lock:
            return {path: bytes(f.getbuffer()) for path, f in self.store.items()}

    # ------------------------------------------------------------------ plumbing

    def _add(
        self,
        operation: str,
        pattern: str,
        count: int | None,
        action: Callable[[str, str], None],
        description: str,
        *,
        after: bool = False,
    ) -> None:
        if operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}; one of {sorted(OPERATIONS)}")
        if count is not None and count < 1:
            raise ValueError("count must be at least 1 (or None for every call)")
        with self._lock:
            self._state.rules.append(
                _Rule(operation, self._strip_protocol(pattern), count, action, 0, description, after)
            )

    @contextlib.contextmanager
    def _op(self, operation: str, path: str) -> Iterator[None]:
        """Log the call and run the matching rules, unless this is a call made by another operation."""
        depth = getattr(self._inside, "depth", 0)
        before: list[Callable[[str, str], None]] = []
        after: list[Callable[[str, str], None]] = []
        if depth == 0:
            state = self._state
            with state.lock:
                state.calls.append((operation, path))
                for rule in state.rules:
                    if rule.matches(operation, path) and not rule.exhausted:
                        rule.fired += 1
                        (after if rule.after else before).append(rule.action)
                state.rules[:] = [rule for rule in state.rules if not rule.exhausted]
            for action in before:  # outside the lock: actions may block
                action(operation, path)
        self._inside.depth = depth + 1
        try:
            yield
        finally:
            self._inside.depth = depth
        for action in after:
            action(operation, path)

    @classmethod
    def _strip_protocol(cls, path: Any) -> str:
        text = str(path)
        for protocol in cls.protocol if isinstance(cls.protocol, tuple) else (cls.protocol,):
            text = text.removeprefix(f"{protocol}://")
        return str(super()._strip_protocol(text))

    def _commit(self, path: str, data: bytes) -> None:
        with self._op("commit", path):
            stored = MemoryFile(self, path, data)
            with self._lock:
                self.store[path] = stored
                stored.modified = datetime.now(tz=UTC)

    # ------------------------------------------------------------------ fsspec API

    def exists(self, path: Any, **kwargs: Any) -> bool:
        """Whether an object or directory is at ``path`` (operation ``exists``; a failure raises)."""
        path = self._strip_protocol(path)
        with self._op("exists", path):
            try:
                MemoryFileSystem.info(self, path)
            except FileNotFoundError:
                return False
            return True

    def info(self, path: Any, **kwargs: Any) -> dict[str, Any]:
        """``name``, ``size`` and ``type`` of ``path`` (operation ``info``)."""
        path = self._strip_protocol(path)
        with self._op("info", path):
            return dict(super().info(path, **kwargs))

    def ls(self, path: Any, detail: bool = True, **kwargs: Any) -> Any:
        """The entries under ``path`` (operation ``list``)."""
        path = self._strip_protocol(path)
        with self._op("list", path):
            return super().ls(path, detail=detail, **kwargs)

    def mkdir(self, path: Any, create_parents: bool = True, **kwargs: Any) -> None:
        """Make a directory (operation ``mkdir``)."""
        path = self._strip_protocol(path)
        with self._op("mkdir", path):
            super().mkdir(path, create_parents=create_parents, **kwargs)

    def makedirs(self, path: Any, exist_ok: bool = False) -> None:
        """Make a directory and its parents (operation ``mkdir``)."""
        path = self._strip_protocol(path)
        with self._op("mkdir", path):
            super().makedirs(path, exist_ok=exist_ok)

    def cat_file(self, path: Any, start: int | None = None, end: int | None = None, **kwargs: Any) -> bytes:
        """The bytes of an object, or a range of them (operation ``open_read``)."""
        path = self._strip_protocol(path)
        with self._op("open_read", path):
            return bytes(super().cat_file(path, start=start, end=end, **kwargs))

    def _open(
        self,
        path: Any,
        mode: str = "rb",
        block_size: Any = None,
        autocommit: bool = True,
        cache_options: Any = None,
        **kwargs: Any,
    ) -> Any:
        path = self._strip_protocol(path)
        if mode == "rb":
            with self._op("open_read", path):
                with self._lock:
                    stored = self.store.get(path)
                if stored is None:
                    if path in self.pseudo_dirs:
                        raise IsADirectoryError(path)
                    raise FileNotFoundError(path)
                # Each reader gets its own cursor over a snapshot, like a GET of the object.
                copy = MemoryFile(None, path, bytes(stored.getbuffer()))
                copy.seek(0)
                return copy
        if mode in ("wb", "xb"):
            with self._op("open_write", path):
                if mode == "xb" and self.exists(path):
                    raise FileExistsError(path)
                if path in self.pseudo_dirs:
                    raise IsADirectoryError(path)
                return _PendingWrite(self, path, kwargs.get("data"))
        raise ValueError(f"unsupported file mode for {type(self).__name__}: {mode!r}")

    def pipe_file(self, path: Any, value: bytes, mode: str = "overwrite", **kwargs: Any) -> None:
        """Write an object at once (operations ``open_write`` and ``commit``)."""
        handle = self._open(path, "xb" if mode == "create" else "wb")
        handle.write(value)
        handle.close()

    def cp_file(self, path1: Any, path2: Any, **kwargs: Any) -> None:
        """Copy an object: a read of ``path1`` and a write of ``path2`` (both can be made to fail)."""
        path1 = self._strip_protocol(path1)
        path2 = self._strip_protocol(path2)
        if self.isfile(path1):
            data = self.cat_file(path1)
            self.pipe_file(path2, data)
        else:
            super().cp_file(path1, path2, **kwargs)

    def rm_file(self, path: Any) -> None:
        """Delete an object (operation ``delete``)."""
        path = self._strip_protocol(path)
        with self._op("delete", path), self._lock:
            if path not in self.store:
                raise FileNotFoundError(path)
            del self.store[path]

    def _rm(self, path: Any) -> None:
        self.rm_file(path)

    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> None:
        """Delete objects, or a directory with ``recursive=True`` (operation ``delete``)."""
        paths = path if isinstance(path, list) else [path]
        for raw in paths:
            item = self._strip_protocol(raw)
            if not recursive and item in self.store:
                self.rm_file(item)
                continue
            with self._op("delete", item):
                super().rm(item, recursive=recursive, maxdepth=maxdepth)


def attach_flaky_store(
    protocol: str = DEFAULT_PROTOCOL, fs: FlakyMemoryFileSystem | None = None
) -> FlakyMemoryFileSystem:
    """
    Put a (fresh, empty by default) :class:`FlakyMemoryFileSystem` behind ``<protocol>://``.

    Registers the filesystem class with fsspec under ``protocol`` and attaches the instance to
    Airflow's object storage (``airflow.sdk.io.attach``), replacing whatever was attached under
    that protocol before, so ``ObjectStoragePath("flakymem://bucket/key")`` reads and writes it.

    :param protocol: the URL scheme (``flakymem`` by default; another name gives another store).
    :param fs: the filesystem to attach, as it is (default: a new, empty store).
    :return: the attached filesystem.
    """
    import fsspec
    from airflow.sdk.io import attach
    from upath.implementations.memory import MemoryPath
    from upath.registry import register_implementation as register_upath

    if fs is None:
        cls = _class_for(protocol)
        cls._fresh_state()
        fs = cls()
    fsspec.register_implementation(protocol, type(fs), clobber=True)
    register_upath(protocol, MemoryPath, clobber=True)
    store = attach(protocol, fs=fs)
    # attach() returns the store already cached for this protocol, if any: point it at ``fs``.
    store.fs = fs
    return fs


_CLASSES: dict[str, type[FlakyMemoryFileSystem]] = {DEFAULT_PROTOCOL: FlakyMemoryFileSystem}


def _class_for(protocol: str) -> type[FlakyMemoryFileSystem]:
    """One class (so one shared store) per protocol name."""
    if protocol not in _CLASSES:
        _CLASSES[protocol] = type(
            f"FlakyMemoryFileSystem_{protocol}", (FlakyMemoryFileSystem,), {"protocol": (protocol,)}
        )
    return _CLASSES[protocol]
