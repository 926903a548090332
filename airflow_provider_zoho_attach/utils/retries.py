"""Retries and transport failures: which failures are retried, how often, and how they are described.

Shared by both hooks and without I/O: :class:`RetryPolicy` decides what is retried and how long to
wait, :class:`RetryBudget` counts one operation's retries (however many requests it makes), and
:func:`connection_error` describes a network failure without leaking a library's internals. Also
importable from :mod:`airflow_provider_zoho_attach.utils.protocol`, as before they moved here.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from airflow_provider_zoho_attach.exceptions import (
    TOKEN_THROTTLED,
    ZohoCRMConnectionError,
    ZohoCRMError,
    ZohoCRMRateLimitError,
    ZohoCRMServerError,
    ZohoCRMTransferError,
)

__all__ = [
    "MAX_CONNECT_TIMEOUT",
    "UNREACHABLE_CODES",
    "RetryBudget",
    "RetryPolicy",
    "connect_timeout",
    "connection_error",
    "is_unreachable",
    "origin",
]


#: Codes of a host that could not be reached at all: no connection was made, so nothing was sent.
UNREACHABLE_CODES: frozenset[str] = frozenset(
    {"HOST_NOT_FOUND", "CONNECTION_REFUSED", "CONNECT_TIMEOUT", "HOST_UNREACHABLE"}
)
#: The longest wait for a TCP (and TLS) connection, whatever the ``timeout`` extra: Zoho's hosts
#: connect in well under a second, so a minute-long wait only delays the error of a dead host.
MAX_CONNECT_TIMEOUT = 10.0

# The budget of the operation running in this thread or task: a request made inside an attempt of
# an operation (the token fetch of an API call, the listing of an upload's recovery) draws on the
# operation's budget instead of running retries of its own inside each of the operation's attempts.
_CURRENT_BUDGET: ContextVar[RetryBudget | None] = ContextVar("zoho_crm_retry_budget", default=None)


@dataclass(frozen=True)
class RetryPolicy:
    """
    Which failures are retried, how often, and how long to wait in between.

    Retried: connection failures and timeouts, truncated transfers, 5xx, and 429 (Zoho's concurrency
    and credit limits). Never retried: a 4xx that is the caller's fault, authentication errors (the
    one refresh after ``INVALID_TOKEN`` is handled separately) and the token-creation throttle
    (waited out by :meth:`token_throttle_delay` instead). A host that cannot be reached at all
    (:data:`UNREACHABLE_CODES`: DNS failure, connection refused, connect timeout) is a set-up
    problem far more often than a blip: it gets ``unreachable_retries`` short retries, not the
    backoff of a 503.

    :param max_retries: retries after the first attempt, for a whole operation.
    :param base_delay: the first backoff, in seconds; doubled each retry, with jitter.
    :param max_delay: the cap on one wait, including a server's ``Retry-After``.
    :param token_throttle_timeout: how long to wait out Zoho's token-creation throttle in total.
    :param unreachable_retries: retries of an operation whose host could not be reached.
    :param unreachable_delay: the wait before such a retry, in seconds (capped by ``max_delay``).
    """

    max_retries: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    token_throttle_timeout: float = 120.0
    unreachable_retries: int = 1
    unreachable_delay: float = 1.0

    def is_retryable(self, error: BaseException) -> bool:
        """Whether ``error`` is worth another attempt (at all; the budget decides how many)."""
        if isinstance(error, ZohoCRMRateLimitError):
            return error.code != TOKEN_THROTTLED
        if isinstance(error, ZohoCRMTransferError):
            return error.code in ("INCOMPLETE_BODY", "CONNECTION_LOST")
        return isinstance(error, ZohoCRMServerError | ZohoCRMConnectionError)

    def delay(self, retry_number: int, error: BaseException | None = None) -> float:
        """
        Seconds to wait before retry ``retry_number`` (1-based).

        A ``Retry-After`` from the server wins (capped); an unreachable host waits
        ``unreachable_delay``; otherwise exponential backoff with jitter (between half and all of
        ``base_delay * 2**(n-1)``), so that parallel tasks do not retry in lockstep.
        """
        retry_after = getattr(error, "retry_after", None)
        if isinstance(retry_after, int | float) and retry_after >= 0:
            return float(min(retry_after, self.max_delay))
        if error is not None and is_unreachable(error):
            return min(self.unreachable_delay, self.max_delay)
        ceiling = min(self.max_delay, self.base_delay * (2 ** max(0, retry_number - 1)))
        return ceiling * random.uniform(0.5, 1.0)

    def token_throttle_delay(self, retry_number: int) -> float:
        """Seconds to wait before asking the token endpoint again after a throttle answer."""
        return min(self.max_delay, max(self.base_delay, 1.0) * 5 * (2 ** max(0, retry_number - 1)))

    def throttle_wait(self, error: ZohoCRMError, *, throttled: int, waited: float) -> float:
        """
        Seconds to wait out a token-creation throttle, or raise ``error`` once the bound is passed.

        :param error: the throttle answer (re-raised when waiting any longer would pass the bound).
        :param throttled: how many throttle answers came in a row, this one included.
        :param waited: seconds already waited for this token.
        """
        delay = self.token_throttle_delay(throttled)
        if waited + delay > self.token_throttle_timeout:
            error.extend_message(f" (still throttled after waiting {waited:.0f} s)")
            raise error
        return delay

    @contextlib.contextmanager
    def operation(self) -> Iterator[RetryBudget]:
        """
        The retry budget of one operation: a new one, or the budget of the operation this call runs in.

        Both hooks run every retried call inside this block, so retries never nest: a token fetch
        or a listing made inside an operation's attempt spends that operation's retries.
        """
        current = _CURRENT_BUDGET.get()
        if current is not None:
            yield current
            return
        budget = RetryBudget(policy=self)
        reset = _CURRENT_BUDGET.set(budget)
        try:
            yield budget
        finally:
            _CURRENT_BUDGET.reset(reset)


class RetryBudget:
    """
    The retries left to one operation, whatever the number of requests it makes.

    :param policy: what is retried and how long to wait.
    """

    def __init__(self, *, policy: RetryPolicy) -> None:
        self.policy = policy
        self.retries = 0
        self.unreachable = 0
        self._reported: BaseException | None = None

    @property
    def attempts(self) -> int:
        """The attempts made so far (the first one and each retry)."""
        return self.retries + 1

    def next_delay(self, error: BaseException) -> float | None:
        """
        Seconds to wait before retrying after ``error``, or ``None`` to give up now.

        :param error: what the last attempt raised.
        """
        if error is self._reported or not self.policy.is_retryable(error):
            return None
        if self.retries >= self.policy.max_retries:
            return None
        if is_unreachable(error):
            if self.unreachable >= self.policy.unreachable_retries:
                return None
            self.unreachable += 1
        self.retries += 1
        return self.policy.delay(self.retries, error)

    def tenacity_arguments(
        self, *, sleep: Callable[[float], Any], on_retry: Callable[[BaseException, float], None]
    ) -> dict[str, Any]:
        """
        The arguments of ``tenacity.Retrying`` (sync) or ``AsyncRetrying`` that spend this budget.

        Tenacity drives the attempts and the waits; every decision (retry or not, how long to
        wait) is this budget's, so both hooks behave the same and nested calls share one budget.

        :param sleep: how to wait (``time.sleep``, ``asyncio.sleep`` or a test's clock).
        :param on_retry: called with the error and the delay before each wait, for the log line.
        """
        import tenacity

        decided: list[float] = []

        def should_retry(error: BaseException) -> bool:
            delay = self.next_delay(error) if isinstance(error, ZohoCRMError) else None
            decided[:] = [] if delay is None else [delay]
            return delay is not None

        def before_sleep(state: tenacity.RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome is not None else None
            if error is not None and decided:
                on_retry(error, decided[0])

        return {
            "retry": tenacity.retry_if_exception(should_retry),
            "wait": lambda state: decided[0] if decided else 0.0,
            "stop": tenacity.stop_never,
            "sleep": sleep,
            "before_sleep": before_sleep,
            "reraise": True,
        }

    def gave_up(self, error: ZohoCRMError) -> None:
        """Say in ``error``, once, that the retries ran out (if it was retried at all)."""
        if error is self._reported:
            return
        self._reported = error
        if self.retries and self.policy.is_retryable(error):
            error.extend_message(f" (gave up after {self.attempts} attempts)")


def is_unreachable(error: BaseException) -> bool:
    """Whether ``error`` says the host could not be reached at all (so nothing was sent to it)."""
    return isinstance(error, ZohoCRMConnectionError) and error.code in UNREACHABLE_CODES


def origin(url: str | None) -> str | None:
    """``scheme://host:port`` of ``url``: never its path, query or credentials."""
    from urllib.parse import urlsplit

    if not url:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    except ValueError:
        return None
    host = parts.hostname or ""
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return f"{parts.scheme}://{host}:{port}" if port else f"{parts.scheme}://{host}"


def _failure_kind(error: BaseException) -> str:
    """
    The phase a transport failure happened in, from the exception and what it wraps.

    ``requests`` wraps urllib3's errors in ``args`` and ``reason``; ``httpx`` chains httpcore's and
    the socket's with ``from``. Walking all of them finds the socket-level cause either way.
    """
    import socket

    seen: set[int] = set()
    stack: list[Any] = [error]
    names: list[str] = []
    while stack:
        item = stack.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, socket.gaierror) or "NameResolution" in type(item).__name__:
            return "dns"
        if isinstance(item, ConnectionRefusedError):
            return "refused"
        names.append(type(item).__name__)
        stack.extend((item.__cause__, item.__context__, getattr(item, "reason", None), *item.args))
    if any(name in ("ConnectTimeout", "ConnectTimeoutError") for name in names):
        return "connect_timeout"
    if any("Timeout" in name for name in names):
        return "read_timeout"
    # urllib3's NewConnectionError and httpx's ConnectError are raised before anything was sent.
    if any(name in ("NewConnectionError", "ConnectError") for name in names):
        return "unreachable"
    return "other"


def connection_error(
    operation: str,
    error: BaseException,
    *,
    timeout: float | None = None,
    url: str | None = None,
    data_center: str | None = None,
) -> ZohoCRMConnectionError:
    """
    Describe a transport failure without leaking a library's internals, a URL's path or its query.

    Failures to reach the host at all (DNS, refused, connect timeout) get their own codes
    (:data:`UNREACHABLE_CODES`): nothing was sent, so they are never ambiguous, and they are retried
    only briefly. A read timeout or a connection lost after the request went out keeps ``TIMEOUT``
    or ``CONNECTION_ERROR``: the request may have been processed.

    :param operation: what was being done, for the message.
    :param error: the HTTP library's exception.
    :param timeout: the timeout in force, in seconds.
    :param url: the URL requested; only ``scheme://host:port`` of it is named.
    :param data_center: the connection's data centre, for the hint.
    """
    where = origin(url) or "the host"
    dc = f"data_center {data_center!r}" if data_center else "data_center"
    check = f"check that {where} is the host meant (the connection's {dc}, or its accounts_url/api_domain)"
    proxy = "and that this machine can reach it (network, firewall, HTTPS_PROXY/NO_PROXY)"
    kind = _failure_kind(error)
    if kind == "dns":
        code, message = "HOST_NOT_FOUND", f"the name of {where} does not resolve"
        hint = f"The name does not resolve: {check}, spelt right, {proxy}. Retried once only."
    elif kind == "refused":
        code, message = "CONNECTION_REFUSED", f"{where} refused the connection: nothing listens there"
        hint = (
            f"If this is the emulator, is it running, on that port? Otherwise {check}, {proxy}. "
            "Retried once only."
        )
    elif kind == "connect_timeout":
        code = "CONNECT_TIMEOUT"
        message = f"no connection to {where} within {connect_timeout(timeout):g} s"
        hint = f"A firewall or proxy may be dropping the packets: {check}, {proxy}. Retried once only."
    elif kind == "unreachable":
        code, message = "HOST_UNREACHABLE", f"cannot connect to {where} ({type(error).__name__})"
        hint = f"The host cannot be reached: {check}, {proxy}. Retried once only."
    elif kind == "read_timeout":
        code = "TIMEOUT"
        message = (
            f"{where} took the request but sent no answer within {timeout:g} s"
            if timeout
            else f"{where} took the request but sent no answer in time"
        )
        hint = (
            "Zoho or a proxy in between is slow or stuck; raise the timeout extra for slow links. If this "
            "is the emulator, check that it is not paused."
        )
    else:
        code = "CONNECTION_ERROR"
        message = f"the connection to {where} failed ({type(error).__name__})"
        hint = f"The connection broke: {check}, {proxy}."
    return ZohoCRMConnectionError(message, code=code, operation=operation, hint=hint)


def connect_timeout(timeout: float | None) -> float:
    """The connect timeout of a request whose ``timeout`` extra is ``timeout`` seconds."""
    return min(timeout, MAX_CONNECT_TIMEOUT) if timeout else MAX_CONNECT_TIMEOUT
