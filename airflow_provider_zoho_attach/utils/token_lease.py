"""
The cluster-wide refresh lease: at most one token creation per expiry for a whole deployment.

A host file lock makes the processes of one host queue behind one token call, but a Celery or
Kubernetes deployment has many hosts (with Kubernetes, every task is its own pod), and Zoho allows
one refresh token only 10 creations in 10 minutes and 15 live tokens (a 16th revokes the oldest,
whose holder then gets ``INVALID_OAUTHTOKEN``). The only thing every task can read and write is
an Airflow Variable, and the Task SDK offers no compare-and-swap on it. So the token's Variable also
holds a *lease* (who may create the next token, and until when), taken this way:

1. Read the shared record. A fresh token that this process has not seen Zoho reject: use it.
   A refusal of the refresh token remembered by another task (:class:`Failure`): fail at once.
   A live lease of another holder: wait a little and read again.
2. Otherwise write the lease (holder id, expiry), wait a short *random* delay (longer than twice
   the read and write just made took), and read the record back.
   Of the tasks that wrote at about the same time, the last write wins and every one of them reads
   the same holder back; only that holder calls Zoho. The delay is much longer than a Variable
   round trip, so a task that read "no lease" before the winner wrote cannot still overwrite it
   after the winner read it back (and if it ever did, Zoho's throttle is the last arbiter).
3. The holder creates the token and writes it with a new generation and no lease; the others see
   it on their next read. If Zoho throttles the holder, it keeps the lease while it waits, and reads
   the record before asking again. If Zoho refuses the refresh token itself (``invalid_code``...),
   the holder writes the refusal into the record for :data:`FAILURE_SECONDS`: every other task fails
   fast with the same clear error instead of asking Zoho again (no retry storm).

A token Zoho rejected is remembered by the process (``rejected``), never by overwriting the shared
record (a late overwrite could destroy the replacement another host just stored): the record's
token counts as absent for a process that saw it rejected, so the first such process takes the
lease and replaces it, and the others, finding the replacement, use it. The token value is the
compare-and-swap: a token is created only when the record still holds the rejected one.

Everything here is decisions and a driver over a small :class:`SharedStore` (the Variable, or a fake
in tests) with the clock, the random delay and the sleep passed in: no Airflow, no network.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

from airflow_provider_zoho_attach.exceptions import (
    TOKEN_THROTTLED,
    ZohoCRMAuthError,
    ZohoCRMError,
    ZohoCRMRateLimitError,
    hint_for,
)
from airflow_provider_zoho_attach.utils.protocol import AccessToken, RetryPolicy

__all__ = [
    "FAILURE_SECONDS",
    "LEASE_SECONDS",
    "ClusterRefresh",
    "Failure",
    "Lease",
    "SharedRecord",
    "SharedStore",
    "Step",
    "TokenThrottle",
    "decide",
    "holder_id",
]

log = logging.getLogger(__name__)

#: How long a lease lasts unless renewed: a holder that vanished (a killed pod) delays the others
#: this long at most. A token call with its retries fits in it; a throttled holder renews it.
LEASE_SECONDS = 30.0
#: The random wait between writing a lease and reading it back, in seconds (low, high).
CONFIRM_DELAY = (0.3, 0.6)
#: How often a task waiting for another's token reads the record again, in seconds (low, high).
POLL_DELAY = (0.2, 0.4)
#: How long a refusal of the refresh token is remembered for every task of the deployment.
FAILURE_SECONDS = 60.0
#: What a task says while Zoho throttles its token creation, and when another's token spared it the wait
#: (the same words with the lease and with the host lock only, in :mod:`.tokens`).
THROTTLE_WARNING = "Zoho throttles token creation for this refresh token; waiting %.0f s to ask again"
SHARED_AFTER_THROTTLE = "Another task shared a fresh access token while Zoho throttled ours; using it"
_REFUSED_ELSEWHERE = (
    " (remembered from another task of this deployment {age:.0f} s ago; Zoho is not asked again for "
    "{left:.0f} s)"
)


class SharedStore(Protocol):
    """Where the shared record lives: an Airflow Variable in a task, a dict or file in tests."""

    def read(self) -> Any:
        """The stored JSON value, or ``None``; never raises (a failed read is "nothing there")."""

    def write(self, value: dict[str, Any]) -> None:
        """Replace the stored value; never raises (a failed write costs a token call at worst)."""


def holder_id() -> str:
    """A lease holder id unique across hosts and processes: host name, process id, random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Lease:
    """
    The right to create the next token.

    :param holder: who holds it (:func:`holder_id`).
    :param until: epoch seconds at which it lapses unless renewed.
    """

    holder: str
    until: float


@dataclass(frozen=True)
class Failure:
    """
    Zoho's refusal of the refresh token, remembered for every task until ``until``.

    :param code: Zoho's error code (``invalid_code``, ``invalid_client``...).
    :param message: the error's message.
    :param at: epoch seconds at which Zoho refused.
    :param until: epoch seconds until which no task asks Zoho again.
    :param status_code: the HTTP status of the refusal, if any.
    """

    code: str | None
    message: str
    at: float
    until: float
    status_code: int | None = None

    def error(self, now: float) -> ZohoCRMAuthError:
        """The error every task raises while the refusal is remembered (one line, with its hint)."""
        suffix = _REFUSED_ELSEWHERE.format(age=max(0.0, now - self.at), left=max(0.0, self.until - now))
        return ZohoCRMAuthError(
            self.message + suffix,
            code=self.code,
            status_code=self.status_code,
            operation="get an access token",
            hint=hint_for(self.code),
        )


@dataclass(frozen=True)
class SharedRecord:
    """
    What the shared Variable holds: the token, its generation, the lease and a remembered refusal.

    The token's keys stay at the top level, as :meth:`AccessToken.to_json` writes them, so that a
    record written by an older version of the provider is read as a record without a lease.

    :param fingerprint: the credentials' fingerprint (a record of other credentials is ignored).
    :param token: the shared token, if any.
    :param generation: how many tokens were shared through this record (the compare-and-swap).
    :param lease: who may create the next token, if anyone.
    :param failure: a refusal of the refresh token, if one is remembered.
    """

    fingerprint: str
    token: AccessToken | None = None
    generation: int = 0
    lease: Lease | None = None
    failure: Failure | None = None

    @classmethod
    def parse(cls, data: Any, fingerprint: str) -> SharedRecord:
        """The record of a stored value; anything malformed or foreign reads as an empty record."""
        if not isinstance(data, dict) or data.get("fingerprint") != fingerprint:
            return cls(fingerprint)
        generation = data.get("generation")
        return cls(
            fingerprint,
            token=AccessToken.from_json(data, fingerprint),
            generation=generation if isinstance(generation, int) and generation >= 0 else 0,
            lease=_parse_lease(data.get("lease")),
            failure=_parse_failure(data.get("failure")),
        )

    def to_json(self) -> dict[str, Any]:
        """The value to store (what :meth:`parse` reads back)."""
        value: dict[str, Any] = (
            self.token.to_json(self.fingerprint) if self.token else {"fingerprint": self.fingerprint}
        )
        value["generation"] = self.generation
        if self.lease is not None:
            value["lease"] = {"holder": self.lease.holder, "until": self.lease.until}
        if self.failure is not None:
            value["failure"] = {
                "code": self.failure.code,
                "message": self.failure.message,
                "at": self.failure.at,
                "until": self.failure.until,
                "status_code": self.failure.status_code,
            }
        return value

    def usable_token(self, now: float, rejected: Collection[str] = ()) -> AccessToken | None:
        """The token, if it is fresh at ``now`` and not one this process saw Zoho reject."""
        token = self.token
        if token is None or not token.is_fresh(now) or token.value in rejected:
            return None
        return token

    def leased_by_other(self, holder: str, now: float) -> bool:
        """Whether another holder's lease is live at ``now``."""
        return self.lease is not None and self.lease.until > now and self.lease.holder != holder

    def held_by(self, holder: str, now: float) -> bool:
        """Whether ``holder``'s own lease is live at ``now``."""
        return self.lease is not None and self.lease.holder == holder and self.lease.until > now

    def claimed(self, holder: str, until: float) -> SharedRecord:
        """This record with ``holder``'s lease until ``until`` (also how a holder renews it)."""
        return replace(self, lease=Lease(holder, until))

    def released(self) -> SharedRecord:
        """This record without a lease."""
        return replace(self, lease=None)

    def with_token(self, token: AccessToken) -> SharedRecord:
        """This record with a new token: the next generation, no lease, no remembered refusal."""
        return replace(self, token=token, generation=self.generation + 1, lease=None, failure=None)

    def with_failure(self, error: ZohoCRMError, now: float, seconds: float = FAILURE_SECONDS) -> SharedRecord:
        """This record remembering Zoho's refusal of the refresh token, without a lease."""
        failure = Failure(error.code, error.message, now, now + seconds, error.status_code)
        return replace(self, lease=None, failure=failure)


def _parse_lease(data: Any) -> Lease | None:
    if not isinstance(data, dict):
        return None
    holder, until = data.get("holder"), data.get("until")
    if not isinstance(holder, str) or not isinstance(until, int | float):
        return None
    return Lease(holder, float(until))


def _parse_failure(data: Any) -> Failure | None:
    if not isinstance(data, dict):
        return None
    message, at, until = data.get("message"), data.get("at"), data.get("until")
    if not isinstance(message, str) or not isinstance(at, int | float) or not isinstance(until, int | float):
        return None
    code, status = data.get("code"), data.get("status_code")
    return Failure(
        code if isinstance(code, str) else None,
        message,
        float(at),
        float(until),
        status if isinstance(status, int) else None,
    )


@dataclass(frozen=True)
class Step:
    """
    What a task does next, given the shared record (:func:`decide`).

    :param action: ``use`` the token, ``fail`` with the remembered refusal, ``wait`` for another
        holder, or ``claim`` the lease.
    :param token: the token to use (``use``).
    :param failure: the refusal to raise (``fail``).
    """

    action: Literal["use", "fail", "wait", "claim"]
    token: AccessToken | None = None
    failure: Failure | None = None


def decide(record: SharedRecord, *, holder: str, now: float, rejected: Collection[str] = ()) -> Step:
    """
    The next step of a task that needs a token, from the record it just read.

    :param record: the shared record.
    :param holder: the task's holder id.
    :param now: epoch seconds.
    :param rejected: token values this process saw Zoho reject.
    """
    token = record.usable_token(now, rejected)
    if token is not None:
        return Step("use", token=token)
    if record.failure is not None and record.failure.until > now:
        return Step("fail", failure=record.failure)
    if record.leased_by_other(holder, now):
        return Step("wait")
    return Step("claim")


class TokenThrottle:
    """
    Waiting out Zoho's token-creation throttle: the decisions both hooks share (no I/O here).

    A hook that is refused a token with ``TOKEN_THROTTLED`` asks :meth:`delay_after` how long to
    wait, waits, and then looks at the token cache again before asking Zoho: another task or host
    of the deployment may have stored a token meanwhile, and using it spares a request to an
    endpoint that is refusing them.

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


class ClusterRefresh:
    """
    One task's way to a token through the lease (the I/O around :func:`decide`).

    :param store: the shared record's store.
    :param fingerprint: the credentials' fingerprint.
    :param sleep: how to wait (the hook's replaceable ``_sleep``).
    :param policy: the hook's retry policy (bounds the waits).
    :param rejected: token values this process saw Zoho reject.
    :param clock: epoch seconds (``time.time``; a fake in tests).
    :param rng: the source of the random delays.
    :param holder: this task's holder id (:func:`holder_id` by default).
    :param logger: where to say what is waited for.
    """

    def __init__(
        self,
        store: SharedStore,
        fingerprint: str,
        *,
        sleep: Callable[[float], Any],
        policy: RetryPolicy,
        rejected: Collection[str] = (),
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        holder: str | None = None,
        logger: Any = log,
    ) -> None:
        self.store = store
        self.fingerprint = fingerprint
        self.sleep = sleep
        self.policy = policy
        self.rejected = rejected
        self.clock = clock
        self.rng = rng or random.Random()
        self.holder = holder or holder_id()
        self.log = logger
        #: How many times this task read the record, wrote it, and asked Zoho (for tests and logs).
        self.reads = self.writes = self.fetches = 0

    def read(self) -> SharedRecord:
        """The shared record as it is now."""
        self.reads += 1
        return SharedRecord.parse(self.store.read(), self.fingerprint)

    def write(self, record: SharedRecord) -> None:
        """Store ``record``."""
        self.writes += 1
        self.store.write(record.to_json())

    def acquire(self, fetch: Callable[[], AccessToken]) -> AccessToken:
        """
        A fresh token: the shared one, another task's once it is shared, or one this task creates.

        :param fetch: asks Zoho for a new token (with the operation's retries).
        :raises ZohoCRMAuthError: Zoho refused the refresh token, here or in another task lately.
        :raises ZohoCRMRateLimitError: ``TOKEN_THROTTLED``, when the token did not come in time.
        """
        started = self.clock()
        limit = self.policy.token_throttle_timeout + 2 * LEASE_SECONDS
        waiting_logged = False
        while True:
            now = self.clock()
            step = decide(self.read(), holder=self.holder, now=now, rejected=self.rejected)
            if step.action == "use" and step.token is not None:
                return step.token
            if step.action == "fail" and step.failure is not None:
                raise step.failure.error(now)
            if step.action == "claim":
                token = self._claim(fetch)
                if token is not None:
                    return token
                continue
            if now - started >= limit:
                raise self._gave_up(now - started)
            if not waiting_logged:
                self.log.info("Another task is creating the shared Zoho access token; waiting for it")
                waiting_logged = True
            self.sleep(self.rng.uniform(*POLL_DELAY))

    def _claim(self, fetch: Callable[[], AccessToken]) -> AccessToken | None:
        """Take the lease and, if it is confirmed ours, create the token; ``None`` to decide again."""
        began = time.monotonic()
        self.write(self.read().claimed(self.holder, self.clock() + LEASE_SECONDS))
        # A rival that read "no lease" just before our write lands its own lease at most one read
        # and one write later: wait at least twice what ours took (a slow API server), so that its
        # write, if any, is there when we read back.
        round_trip = time.monotonic() - began
        self.sleep(self.rng.uniform(*CONFIRM_DELAY) + 2 * round_trip)
        record = self.read()
        now = self.clock()
        token = record.usable_token(now, self.rejected)
        if token is not None:
            return token
        if record.held_by(self.holder, now):
            return self._create(fetch)
        if (
            record.lease is None
            and decide(record, holder=self.holder, now=now, rejected=self.rejected).action == "claim"
        ):
            # Our lease did not stick and nobody else's is there: the Variable cannot be written
            # (or read). Create the token as without a lease (the host lock still holds), rather
            # than claim forever.
            self.log.warning(
                "Could not take the token lease in the shared Variable; creating a token without it"
            )
            return self._create(fetch)
        return None

    def _create(self, fetch: Callable[[], AccessToken]) -> AccessToken:
        """Ask Zoho while holding the lease; share the token, or the refusal, with every task."""
        throttle = TokenThrottle(policy=self.policy)
        while True:
            self.fetches += 1
            try:
                token = fetch()
            except ZohoCRMAuthError as error:
                self.write(self.read().with_failure(error, self.clock()))
                raise
            except ZohoCRMError as error:
                if error.code != TOKEN_THROTTLED:
                    self._release()
                    raise
                try:
                    delay = throttle.delay_after(error)
                except ZohoCRMError:
                    self._release()
                    raise
                self.log.warning(THROTTLE_WARNING, delay)
                # Keep the lease over the wait: the other tasks keep waiting instead of asking too.
                self.write(self.read().claimed(self.holder, self.clock() + delay + LEASE_SECONDS))
                self.sleep(delay)
                shared = self.read().usable_token(self.clock(), self.rejected)
                if shared is not None:
                    self.log.info(SHARED_AFTER_THROTTLE)
                    return shared
            except BaseException:
                self._release()
                raise
            else:
                self.write(self.read().with_token(token))
                return token

    def _release(self) -> None:
        """Give the lease back (only if it is still ours), so that another task may try at once."""
        record = self.read()
        if record.held_by(self.holder, self.clock()):
            self.write(record.released())

    def _gave_up(self, waited: float) -> ZohoCRMRateLimitError:
        return ZohoCRMRateLimitError(
            f"waited {waited:.0f} s for another task of the deployment to share a new access token",
            code=TOKEN_THROTTLED,
            operation="get an access token",
            hint=(
                "Another task holds the token lease and has not shared a token; it may be throttled "
                "by Zoho. The task's retry will try again; see the deployment guide."
            ),
        )
