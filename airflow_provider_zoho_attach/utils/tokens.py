"""Where access tokens are kept, and who may create a new one.

Zoho lets one refresh token create only 10 access tokens in 10 minutes (and keeps 15 alive, the
16th revoking the oldest), while Airflow runs every task in its own process. A DAG of 50 parallel
tasks that each asked for a token would lock itself out. So tokens are shared:

* ``variable`` (the default): in a task or the triggerer, shared between processes and workers
  through an Airflow Variable named ``zoho_crm_access_token_<fingerprint>`` (the word "token" makes
  Airflow mask the value in logs and the UI). Outside a task there is no Variable API, so the
  per-user file cache of ``file`` mode is used: every script, CLI call and test run of one user
  shares one token instead of creating its own.
* ``file``: always the per-user file cache (``<user cache dir>/airflow-provider-zoho-attach/tokens/
  <fingerprint>.json``, mode 0600), in tasks too: for one host, or workers that share a user.
* ``memory``: one token per process and credentials, shared by every hook and trigger in it, never
  written anywhere (tests that count token calls, or hosts whose disk must not hold tokens).
* ``none``: no sharing; a hook still reuses its own token for its lifetime.

Creating a token happens under a refresh lock: a thread lock in the process and, when tokens are
shared between processes, a file lock on the host, so that processes queue behind the first one
and then find its token in the Variable or the file. Each host makes at most one token call per
expiry. With the Variable, the hosts of a deployment (Celery workers, Kubernetes pods) then take a
lease in the Variable itself (:mod:`~airflow_provider_zoho_attach.utils.token_lease`): one token call
per expiry for the whole deployment, and a refusal of the refresh token is shared with every task.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from airflow_provider_zoho_attach.exceptions import ZohoCRMError
from airflow_provider_zoho_attach.utils.protocol import AccessToken, RetryPolicy
from airflow_provider_zoho_attach.utils.settings import ZohoCRMSettings
from airflow_provider_zoho_attach.utils.token_lease import (
    SHARED_AFTER_THROTTLE,
    THROTTLE_WARNING,
    ClusterRefresh,
    TokenThrottle,
)

__all__ = [
    "FileTokenStore",
    "TokenCache",
    "TokenThrottle",
    "VariableStore",
    "in_task_runtime",
    "token_cache_dir",
    "variable_key",
]

log = logging.getLogger(__name__)

_MEMORY: dict[str, AccessToken] = {}
_MEMORY_LOCK = threading.Lock()
_REFRESH_LOCKS: dict[str, threading.Lock] = {}
# Token values Zoho rejected in this process (INVALID_OAUTHTOKEN): a shared token among them is
# treated as absent, so that it is replaced once (see token_lease) instead of used again.
_REJECTED: set[str] = set()
_REJECTED_LIMIT = 64
FILE_LOCK_TIMEOUT = 60.0
_VARIABLE_DESCRIPTION = "Zoho CRM access token shared between tasks (managed by airflow-provider-zoho-attach)"
#: The folder under the user's cache directory that holds the token files.
CACHE_SUBDIR = ("airflow-provider-zoho-attach", "tokens")
# Zoho allows 10 new tokens per refresh token in 10 minutes.
# Refused cache files already warned about: a refused file is looked at on every token miss, and one
# warning per process says all there is to say.
_WARNED: set[str] = set()


def in_task_runtime() -> bool:
    """Whether this process is a task (or the triggerer) talking to an Airflow supervisor."""
    import sys

    runner = sys.modules.get("airflow.sdk.execution_time.task_runner")
    return getattr(runner, "SUPERVISOR_COMMS", None) is not None


def variable_key(fingerprint: str) -> str:
    """The Variable that holds the shared token of a set of credentials."""
    return f"zoho_crm_access_token_{fingerprint}"


def token_cache_dir() -> Path:
    """
    The folder of the per-user token files: ``$XDG_CACHE_HOME`` (or ``~/.cache``), then ours.

    A relative ``XDG_CACHE_HOME`` is ignored, as the XDG specification says.
    """
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    return root.joinpath(*CACHE_SUBDIR)


class TokenCache:
    """
    The access-token cache of one set of credentials.

    All methods are synchronous; the async hook calls the ones that do I/O through
    ``sync_to_async`` so that the Task SDK's supervisor calls run where they are allowed.

    :param settings: the connection's settings (credentials and ``oauth_cache`` mode).
    """

    def __init__(self, settings: ZohoCRMSettings) -> None:
        self.fingerprint = settings.credentials_fingerprint
        self.mode = settings.token_cache
        self.key = variable_key(self.fingerprint)
        with _MEMORY_LOCK:
            self._thread_lock = _REFRESH_LOCKS.setdefault(self.fingerprint, threading.Lock())

    @property
    def backend(self) -> str | None:
        """
        Where tokens are shared between processes: ``"variable"``, ``"file"`` or ``None`` (not at all).

        Decided on each use, not once: a hook built at DAG-parse time may be used in a task later.
        """
        if self.mode == "file":
            return "file"
        if self.mode == "variable":
            return "variable" if in_task_runtime() else "file"
        return None

    @property
    def shares_between_processes(self) -> bool:
        """Whether tokens go through the Variable or the per-user file (not only this process)."""
        return self.backend is not None

    @property
    def file_store(self) -> FileTokenStore:
        """The per-user token file of these credentials (used when :attr:`backend` is ``"file"``)."""
        return FileTokenStore(fingerprint=self.fingerprint)

    def peek(self, own: AccessToken | None = None) -> AccessToken | None:
        """
        A fresh token at hand, without I/O: ``own`` (a hook's own token), else this process's.

        :param own: the token the asking hook holds, if any; used while it is fresh (in every mode).
        """
        if own is not None and own.is_fresh():
            return own
        if self.mode == "none":
            return None
        with _MEMORY_LOCK:
            token = _MEMORY.get(self.fingerprint)
        return token if token is not None and token.is_fresh() else None

    def load(self, own: AccessToken | None = None) -> AccessToken | None:
        """The freshest token at hand: ``own`` or this process's (:meth:`peek`), then the shared one."""
        token = self.peek(own)
        if token is not None or not self.shares_between_processes:
            return token
        token = AccessToken.from_json(self._read_shared(), self.fingerprint)
        if token is not None and token.is_fresh() and not _is_rejected(token):
            self._remember(token)
            return token
        return None

    def acquire(
        self,
        fetch: Callable[[], AccessToken],
        *,
        own: Callable[[], AccessToken | None],
        sleep: Callable[[float], Any],
        policy: RetryPolicy,
        logger: Any = log,
    ) -> AccessToken:
        """
        The token to use: one at hand while fresh, else a new one; the sequence of both hooks.

        1. The hook's own token, this process's, or the shared one (:meth:`load`), if fresh.
        2. Else, under the refresh lock (:meth:`refresh_lock`), the same again: another thread or
           process may have created one while this one waited for the lock.
        3. With the Variable (a deployment of many hosts): the lease of
           :class:`~.token_lease.ClusterRefresh` decides which task of the deployment creates the
           token; the others wait for it and read it from the Variable.
        4. Else ``fetch`` a new one and :meth:`store` it. While Zoho throttles token creation, wait
           (:class:`TokenThrottle` says how long) and look at the shared cache again before asking:
           another task may have shared a token meanwhile.

        Everything here blocks: the async hook runs it in a worker thread, with ``fetch`` and
        ``sleep`` sent back to its event loop.

        :param fetch: asks Zoho for a new token, with the operation's retries.
        :param own: the asking hook's own token (asked again after waiting for the lock).
        :param sleep: how to wait out the throttle (the hook's replaceable ``_sleep``).
        :param policy: the hook's retry policy (bounds the wait for the throttle).
        :param logger: where to say that the throttle is waited out (the hook's log).
        """
        token = self.load(own())
        if token is not None:
            return token
        with self.refresh_lock():
            token = self.load(own())
            if token is not None:
                return token
            if self.backend == "variable":
                token = self.cluster_refresh(sleep=sleep, policy=policy, logger=logger).acquire(fetch)
                self._remember(token)
                return token
            return self._fetch_on_host(fetch, sleep=sleep, policy=policy, logger=logger)

    def cluster_refresh(
        self, *, sleep: Callable[[float], Any], policy: RetryPolicy, logger: Any = log
    ) -> ClusterRefresh:
        """
        The deployment-wide lease on the token's Variable (:mod:`~.token_lease`), for one token.

        :param sleep: how to wait for the lease and the throttle.
        :param policy: the hook's retry policy (bounds the waits).
        :param logger: where to say what is waited for.
        """
        return ClusterRefresh(
            _SharedVariable(self),
            self.fingerprint,
            sleep=sleep,
            policy=policy,
            rejected=_REJECTED,
            logger=logger,
        )

    def _fetch_on_host(
        self,
        fetch: Callable[[], AccessToken],
        *,
        sleep: Callable[[float], Any],
        policy: RetryPolicy,
        logger: Any,
    ) -> AccessToken:
        """Create a token under the host lock only (file, memory and none modes)."""
        throttle = TokenThrottle(policy=policy)
        while True:
            try:
                token = fetch()
            except ZohoCRMError as error:
                delay = throttle.delay_after(error)
                logger.warning(THROTTLE_WARNING, delay)
                sleep(delay)
                shared = self.load()
                if shared is not None:
                    logger.info(SHARED_AFTER_THROTTLE)
                    return shared
            else:
                self.store(token)
                return token

    def store(self, token: AccessToken) -> None:
        """Keep a new token for this process and, when shared, for every other one."""
        if self.mode == "none":
            return
        self._remember(token)
        if self.shares_between_processes:
            self._write_shared(token.to_json(self.fingerprint))

    def discard(self, token: AccessToken) -> None:
        """
        Forget ``token`` (Zoho rejected it) wherever it is cached, unless a newer one replaced it.

        The Variable is not written: this process remembers the value as rejected, and the lease
        replaces the shared token once for every task (see :mod:`~.token_lease`). Overwriting the
        Variable here could destroy the replacement another host has just shared.
        """
        with _MEMORY_LOCK:
            if _MEMORY.get(self.fingerprint) == token:
                del _MEMORY[self.fingerprint]
            if len(_REJECTED) >= _REJECTED_LIMIT:
                _REJECTED.clear()
            _REJECTED.add(token.value)
        if self.backend == "file":
            shared = AccessToken.from_json(self._read_shared(), self.fingerprint)
            if shared is not None and shared.value == token.value:
                self._write_shared({"fingerprint": self.fingerprint, "invalidated_at": time.time()})

    @contextlib.contextmanager
    def refresh_lock(self) -> Iterator[None]:
        """Hold the right to create a token: in this process, and on this host when tokens are shared."""
        with self._thread_lock:
            host_lock = self.host_lock()
            host_lock.acquire()
            try:
                yield
            finally:
                host_lock.release()

    def host_lock(self) -> HostLock:
        """The host-wide refresh lock (a no-op unless tokens are shared between processes)."""
        path = os.path.join(tempfile.gettempdir(), f"airflow-zoho-crm-token-{self.fingerprint}.lock")
        return HostLock(path if self.shares_between_processes else None)

    def _remember(self, token: AccessToken) -> None:
        with _MEMORY_LOCK:
            _MEMORY[self.fingerprint] = token

    def _read_shared(self) -> Any:
        return self.file_store.read() if self.backend == "file" else self._read_variable()

    def _write_shared(self, value: dict[str, Any]) -> None:
        if self.backend == "file":
            self.file_store.write(value)
        else:
            self._write_variable(value)

    def _read_variable(self) -> Any:
        return VariableStore(self.key).read()

    def _write_variable(self, value: dict[str, Any]) -> None:
        VariableStore(self.key).write(value)


class _SharedVariable:
    """The cache's Variable as the lease's store (through the cache, so that tests can replace it)."""

    def __init__(self, cache: TokenCache) -> None:
        self.cache = cache

    def read(self) -> Any:
        return self.cache._read_variable()

    def write(self, value: dict[str, Any]) -> None:
        self.cache._write_variable(value)


class VariableStore:
    """
    The shared record in an Airflow Variable, through the Task SDK (a :class:`~.token_lease.SharedStore`).

    Every failure is logged and read as "nothing there": a cache must cost a token call at worst,
    never a task.

    :param key: the Variable's key (:func:`variable_key`).
    """

    def __init__(self, key: str) -> None:
        self.key = key

    def read(self) -> Any:
        """The Variable's JSON value, or ``None``."""
        from airflow.sdk import Variable

        try:
            return Variable.get(self.key, default=None, deserialize_json=True)
        except Exception as error:
            # A missing or unreadable Variable only costs a token call; never fail the task for it.
            log.debug("Could not read the shared token Variable (%s)", type(error).__name__)
            return None

    def write(self, value: dict[str, Any]) -> None:
        """Replace the Variable's value (JSON)."""
        from airflow.sdk import Variable

        try:
            Variable.set(self.key, value, serialize_json=True, description=_VARIABLE_DESCRIPTION)
        except Exception as error:
            log.warning(
                "Could not share the access token through Variable %s (%s)", self.key, type(error).__name__
            )


class FileTokenStore:
    """
    One set of credentials' token in a file of the user's cache directory, shared by their processes.

    The file holds a live access token, so it is created with mode 0600 in a 0700 folder, replaced
    atomically (a temporary file, then a rename: a reader sees the old token or the new one, never
    half of one), and only trusted when it belongs to this user and nobody else may read it. Every
    failure is logged and treated as "no token here": a cache must cost a token call at worst,
    never a task.

    :param fingerprint: the credentials fingerprint (the file name).
    :param directory: the folder (:func:`token_cache_dir` by default).
    """

    def __init__(self, *, fingerprint: str, directory: Path | None = None) -> None:
        self.fingerprint = fingerprint
        self.directory = directory if directory is not None else token_cache_dir()
        self.path = self.directory / f"{fingerprint}.json"

    def read(self) -> Any:
        """The stored JSON, or ``None`` if there is none or it cannot be trusted."""
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(self.path, flags)
        except FileNotFoundError:
            return None
        except OSError as error:
            # O_NOFOLLOW makes a symbolic link fail here: someone else may have planted it.
            self._refuse(f"cannot be opened safely ({error.strerror or error})")
            return None
        with os.fdopen(fd, "rb") as handle:
            # fstat of the opened file, not stat of the path: the file cannot be swapped in between.
            info = os.fstat(handle.fileno())
            problem = _untrusted(info)
            if problem:
                self._refuse(problem)
                return None
            try:
                return json.loads(handle.read(65536))
            except (OSError, ValueError) as error:
                log.debug("Ignoring the unreadable token cache file %s (%s)", self.path, type(error).__name__)
                return None

    def write(self, value: dict[str, Any]) -> None:
        """Replace the file with ``value`` atomically (mode 0600); log and go on if that fails."""
        temporary = None
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            # mkstemp creates the file with mode 0600 whatever the umask, before anything is in it.
            fd, temporary = tempfile.mkstemp(
                dir=self.directory, prefix=f".{self.fingerprint}.", suffix=".tmp"
            )
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(value, handle)
            os.replace(temporary, self.path)
            temporary = None
        except OSError as error:
            log.warning(
                "Could not share the access token through %s (%s); other processes will create their own",
                self.path,
                error.strerror or type(error).__name__,
            )
        finally:
            if temporary is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)

    def _refuse(self, problem: str) -> None:
        key = f"{self.path}:{problem}"
        if key in _WARNED:
            return
        _WARNED.add(key)
        log.warning(
            "Not using the token cache file %s: it %s. The next token created here replaces it with a "
            "file of mode 0600 (or delete it).",
            self.path,
            problem,
        )


def _untrusted(info: os.stat_result) -> str | None:
    """Why a token file with this status must not be used, or ``None`` if it may."""
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    getuid = getattr(os, "getuid", None)
    if getuid is not None and info.st_uid != getuid():
        return f"belongs to another user (uid {info.st_uid})"
    if info.st_mode & 0o077:
        return f"can be read or written by other users (mode {stat.S_IMODE(info.st_mode):04o})"
    return None


class HostLock:
    """
    An exclusive ``flock`` on a file, shared by every process of the host.

    Acquiring waits at most :data:`FILE_LOCK_TIMEOUT` seconds; after that the caller goes on without
    it (one extra token call is better than a stuck task). ``path=None`` makes a no-op lock.

    :param path: the lock file, or ``None``.
    """

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._handle: Any = None

    def acquire(self, timeout: float = FILE_LOCK_TIMEOUT) -> bool:
        """Take the lock; return whether it was taken."""
        if self.path is None:
            return False
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Airflow workers are POSIX
            return False
        try:
            handle = open(self.path, "a+b")  # noqa: SIM115 - held until release()
        except OSError as error:
            log.warning("Cannot open the token lock file %s (%s); refreshing without it", self.path, error)
            return False
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    log.warning("Waited %.0f s for the token lock; refreshing without it", timeout)
                    handle.close()
                    return False
                time.sleep(0.02)
            else:
                self._handle = handle
                return True

    def release(self) -> None:
        """Give the lock back (closing the file releases the ``flock``)."""
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.close()


def _is_rejected(token: AccessToken) -> bool:
    with _MEMORY_LOCK:
        return token.value in _REJECTED


def clear_memory_cache() -> None:
    """Forget every token held (or seen rejected) in this process (for tests and after credentials change)."""
    with _MEMORY_LOCK:
        _MEMORY.clear()
        _REJECTED.clear()
