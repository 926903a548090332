"""Where access tokens are kept, and who may create a new one.

Zoho lets one refresh token create only 10 access tokens in 10 minutes (and keeps 15 alive, the
16th revoking the oldest), while Airflow runs every task in its own process. A DAG of 50 parallel
tasks that each asked for a token would lock itself out. So tokens are shared:

* ``memory``: one token per process and credentials, shared by every hook and trigger in it.
* ``variable`` (the default): additionally shared between processes and workers through an Airflow
  Variable named ``zoho_crm_access_token_<fingerprint>`` (the word "token" makes Airflow mask the
  value in logs and the UI). Outside a task there is no Variable API, so memory is used.
* ``none``: no sharing; a hook still reuses its own token for its lifetime.

Creating a token happens under a refresh lock: a thread lock in the process and, in ``variable``
mode, a file lock on the host, so that processes of one worker queue behind the first one and then
find its token in the Variable. Each worker host makes at most one token call per expiry.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

from airflow_provider_zoho_attach.exceptions import TOKEN_THROTTLED, ZohoCRMError
from airflow_provider_zoho_attach.utils.protocol import AccessToken, RetryPolicy
from airflow_provider_zoho_attach.utils.settings import ZohoCRMSettings

__all__ = ["TokenCache", "TokenThrottle", "in_task_runtime", "variable_key"]

log = logging.getLogger(__name__)

_MEMORY: dict[str, AccessToken] = {}
_MEMORY_LOCK = threading.Lock()
_REFRESH_LOCKS: dict[str, threading.Lock] = {}
FILE_LOCK_TIMEOUT = 60.0
_VARIABLE_DESCRIPTION = "Zoho CRM access token shared between tasks (managed by airflow-provider-zoho-attach)"


def in_task_runtime() -> bool:
    """Whether this process is a task (or the triggerer) talking to an Airflow supervisor."""
    import sys

    runner = sys.modules.get("airflow.sdk.execution_time.task_runner")
    return getattr(runner, "SUPERVISOR_COMMS", None) is not None


def variable_key(fingerprint: str) -> str:
    """The Variable that holds the shared token of a set of credentials."""
    return f"zoho_crm_access_token_{fingerprint}"


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
    def shares_between_processes(self) -> bool:
        """Whether tokens go through the Variable (``variable`` mode inside a task or the triggerer)."""
        return self.mode == "variable" and in_task_runtime()

    def peek(self) -> AccessToken | None:
        """The token this process already holds, if it is still fresh (no I/O)."""
        if self.mode == "none":
            return None
        with _MEMORY_LOCK:
            token = _MEMORY.get(self.fingerprint)
        return token if token is not None and token.is_fresh() else None

    def load(self) -> AccessToken | None:
        """The freshest token available to this process: memory first, then the Variable."""
        token = self.peek()
        if token is not None or not self.shares_between_processes:
            return token
        token = AccessToken.from_json(self._read_variable(), self.fingerprint)
        if token is not None and token.is_fresh():
            self._remember(token)
            return token
        return None

    def store(self, token: AccessToken) -> None:
        """Keep a new token for this process and, in ``variable`` mode, for every other one."""
        if self.mode == "none":
            return
        self._remember(token)
        if self.shares_between_processes:
            self._write_variable(token.to_json(self.fingerprint))

    def discard(self, token: AccessToken) -> None:
        """Forget ``token`` (Zoho rejected it) wherever it is cached, unless a newer one replaced it."""
        with _MEMORY_LOCK:
            if _MEMORY.get(self.fingerprint) == token:
                del _MEMORY[self.fingerprint]
        if self.shares_between_processes:
            shared = AccessToken.from_json(self._read_variable(), self.fingerprint)
            if shared is not None and shared.value == token.value:
                self._write_variable({"fingerprint": self.fingerprint, "invalidated_at": time.time()})

    @contextlib.contextmanager
    def refresh_lock(self) -> Iterator[None]:
        """Hold the right to create a token: in this process, and on this host in ``variable`` mode."""
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

    def _read_variable(self) -> Any:
        from airflow.sdk import Variable

        try:
            return Variable.get(self.key, default=None, deserialize_json=True)
        except Exception as error:
            # A missing or unreadable Variable only costs a token call; never fail the task for it.
            log.debug("Could not read the shared token Variable (%s)", type(error).__name__)
            return None

    def _write_variable(self, value: dict[str, Any]) -> None:
        from airflow.sdk import Variable

        try:
            Variable.set(
                self.key,
                value,
                serialize_json=True,
                description=_VARIABLE_DESCRIPTION,
            )
        except Exception as error:
            log.warning(
                "Could not share the access token through Variable %s (%s)", self.key, type(error).__name__
            )


class TokenThrottle:
    """
    Waiting out Zoho's token-creation throttle: the decisions both hooks share (no I/O here).

    A hook that is refused a token with ``TOKEN_THROTTLED`` asks :meth:`delay_after` how long to
    wait, waits, and then looks at the token cache again (:meth:`TokenCache.load`) before asking
    Zoho: another task or host of the deployment may have stored a token meanwhile, and using it
    spares a request to an endpoint that is refusing them.

    :param policy: the hook's retry policy (its ``token_throttle_timeout`` bounds the total wait).
    """

    def __init__(self, *, policy: RetryPolicy) -> None:
        self.policy = policy
        self.throttled = 0
        self.waited = 0.0

    def delay_after(self, error: ZohoCRMError) -> float:
        """
        Seconds to wait before looking for a token again.

        :param error: what the token request raised.
        :raises ZohoCRMError: ``error`` itself, when it is not the throttle or the wait would pass
            ``token_throttle_timeout``.
        """
        if error.code != TOKEN_THROTTLED:
            raise error
        self.throttled += 1
        delay = self.policy.throttle_wait(error, throttled=self.throttled, waited=self.waited)
        self.waited += delay
        return delay


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


def clear_memory_cache() -> None:
    """Forget every token held in this process (for tests and after credentials change)."""
    with _MEMORY_LOCK:
        _MEMORY.clear()
