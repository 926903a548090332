"""
The emulator's traffic rules: injected faults, admission (concurrency limit and pause), daily
credits and the request log.

:class:`~airflow_provider_zoho_attach.testing.emulator.ZohoCRMEmulator` owns one
:class:`EmulatorEngine` and hands it to its HTTP server, which asks it, for each request, which
fault to play, whether an API call may start, whether a credit is left, and logs the request in it.
The facade's public methods (``inject_fault``, ``pause``, ``requests``, ``stats`` ...) read and
drive the same engine.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from airflow_provider_zoho_attach.testing._emulator_model import Clock, EmulatorConfig, Fault, RequestRecord

__all__ = ["EmulatorEngine"]

_DAY = 86400.0


class EmulatorEngine:
    """
    Faults, admission, credits and the request log of one emulator. Thread-safe.

    :param config: the live configuration (replace :attr:`config` when the emulator's changes).
    :param clock: the emulator's clock.
    """

    def __init__(self, config: EmulatorConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._log: deque[RequestRecord] = deque(maxlen=config.request_log_limit)
        self._token_calls = 0
        self._api_calls = 0
        #: (time, credits) of each call charged in the rolling window.
        self._credits: deque[tuple[float, int]] = deque()
        self._by_type: dict[str, int] = {}
        self._in_flight = 0
        self._peak_in_flight = 0
        self._in_flight_changed = threading.Condition()
        self._gate = threading.Event()
        self._gate.set()
        self._stalls_released = threading.Condition()
        self._stall_generation = 0

    # ------------------------------------------------------------------ request log

    @property
    def requests(self) -> list[RequestRecord]:
        """The requests logged (oldest first)."""
        with self._lock:
            return list(self._log)

    @property
    def logged(self) -> int:
        """How many requests the log holds."""
        return len(self._log)

    @property
    def token_calls(self) -> int:
        """``POST /oauth/v2/token`` requests logged since the last :meth:`reset_log`."""
        return self._token_calls

    @property
    def api_calls(self) -> int:
        """CRM API requests (``/crm/...``) logged since the last :meth:`reset_log`."""
        return self._api_calls

    def record_request(self, record: RequestRecord) -> None:
        """Log a request served and count it."""
        with self._lock:
            limit = self.config.request_log_limit
            if self._log.maxlen != limit:
                self._log = deque(self._log, maxlen=limit)
            self._log.append(record)
            if record.path.startswith("/crm/"):
                self._api_calls += 1
            elif record.method == "POST" and record.path == "/oauth/v2/token":
                self._token_calls += 1

    def reset_log(self) -> None:
        """Forget the logged requests and zero the counters (credits already used stay used)."""
        with self._lock:
            self._log.clear()
            self._token_calls = 0
            self._api_calls = 0
            self._peak_in_flight = self._in_flight

    # ------------------------------------------------------------------ faults

    def add_fault(self, fault: Fault) -> None:
        """Queue a fault (after those already pending)."""
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        """Drop every pending fault."""
        with self._lock:
            self._faults.clear()

    @property
    def faults(self) -> list[dict[str, Any]]:
        """The pending faults, as dicts."""
        with self._lock:
            return [fault.to_dict() for fault in self._faults]

    @property
    def pending_faults(self) -> int:
        """How many faults are pending."""
        return len(self._faults)

    def take_fault(self, method: str, path: str) -> Fault | None:
        """The first pending fault that matches a request, used once (``None`` if none matches)."""
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.matches(method, path):
                    fault.count -= 1
                    if fault.count <= 0:
                        del self._faults[index]
                    return fault
        return None

    # ------------------------------------------------------------------ admission

    def enter_api(self) -> bool:
        """Take a concurrency slot for an API call; ``False`` when ``max_concurrency`` are taken."""
        with self._in_flight_changed:
            limit = self.config.max_concurrency
            if limit is not None and self._in_flight >= limit:
                return False
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)
            self._in_flight_changed.notify_all()
            return True

    def leave_api(self) -> None:
        """Give back the slot :meth:`enter_api` took."""
        with self._in_flight_changed:
            self._in_flight -= 1
            self._in_flight_changed.notify_all()

    def pause(self) -> None:
        """Make :meth:`hold` block until :meth:`resume`."""
        self._gate.clear()

    def resume(self) -> None:
        """Let held API calls go on."""
        self._gate.set()

    def hold(self) -> None:
        """Wait while paused."""
        self._gate.wait()

    def stall(self, seconds: float) -> None:
        """Wait ``seconds`` (a ``slow_body`` stall), or less if :meth:`release_stalls` is called."""
        with self._stalls_released:
            generation = self._stall_generation
            self._stalls_released.wait_for(lambda: self._stall_generation != generation, seconds)

    def release_stalls(self) -> None:
        """End every stall in progress now (later ones stall as usual)."""
        with self._stalls_released:
            self._stall_generation += 1
            self._stalls_released.notify_all()

    def wait_in_flight(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` API calls are in flight at once; ``False`` on timeout."""
        with self._in_flight_changed:
            return self._in_flight_changed.wait_for(lambda: self._in_flight >= count, timeout)

    @property
    def in_flight(self) -> int:
        """API calls being served right now."""
        return self._in_flight

    @property
    def peak_in_flight(self) -> int:
        """The most API calls served at once since the last :meth:`reset_log`."""
        return self._peak_in_flight

    # ------------------------------------------------------------------ credits

    def consume_credit(self, cost: int = 1, kind: str = "other") -> tuple[bool, int | None]:
        """
        Spend ``cost`` of the day's credits on a call of type ``kind`` (see :mod:`._emulator_credits`).

        A call that would pass ``daily_credits`` is refused and costs nothing.

        :return: whether the call may go on, and the credits left (``None`` without a limit).
        """
        limit = self.config.daily_credits
        with self._lock:
            now = self.clock.now()
            while self._credits and self._credits[0][0] <= now - _DAY:
                self._credits.popleft()
            used = sum(amount for _, amount in self._credits)
            if limit is not None and used + cost > limit:
                return False, max(0, limit - used)
            self._credits.append((now, cost))
            self._by_type[kind] = self._by_type.get(kind, 0) + cost
            return True, None if limit is None else limit - used - cost

    @property
    def credits_used(self) -> int:
        """Credits used in the last 24 hours."""
        with self._lock:
            now = self.clock.now()
            return sum(amount for when, amount in self._credits if when > now - _DAY)

    def credits_by_type(self) -> dict[str, int]:
        """Credits used since the start (or :meth:`reset_credits`), by call type."""
        with self._lock:
            return dict(sorted(self._by_type.items()))

    def reset_credits(self) -> None:
        """Forget every credit used (the rolling window and the breakdown)."""
        with self._lock:
            self._credits.clear()
            self._by_type.clear()
