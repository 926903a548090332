"""Progress of a bulk transfer, logged at a readable pace rather than once per chunk."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["OUTCOMES", "MirrorProgress", "TransferProgress"]

#: What can become of one file: moved (downloaded, uploaded), already there, passed over, failed.
OUTCOMES: tuple[str, ...] = ("done", "unchanged", "skipped", "failed")


def _mib(count: float) -> str:
    return f"{count / (1024 * 1024):.1f} MiB"


class TransferProgress:
    """
    Counts files and bytes of a bulk transfer from many threads, and logs now and then.

    A line is logged at most every ``interval`` seconds (and once at the end), with the files
    finished out of the total, what became of them (moved, unchanged, skipped, failed), the bytes
    transferred, the expected total when known, and the average rate. A file that was already in
    place is counted as unchanged, never as moved, so a re-run does not claim it moved anything.

    :param log: where to log (a logger with ``info``).
    :param verb: what happens to a moved file, in the past tense ("downloaded", "uploaded").
    :param total_files: how many files the transfer has.
    :param total_bytes: how many bytes, if known.
    :param interval: seconds between two progress lines.
    """

    def __init__(
        self,
        log: Any,
        *,
        verb: str,
        total_files: int,
        total_bytes: int | None = None,
        interval: float = 10.0,
    ) -> None:
        self._log = log
        self._verb = verb.lower()
        self.total_files = total_files
        self.total_bytes = total_bytes
        self.interval = interval
        self.bytes = 0
        self.counts: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._last_report = self._started

    @property
    def files(self) -> int:
        """Files finished, whatever became of them."""
        with self._lock:
            return sum(self.counts.values())

    @property
    def failed(self) -> int:
        """Files that failed."""
        with self._lock:
            return self.counts["failed"]

    def add_bytes(self, count: int) -> None:
        """Count ``count`` more bytes moved (called from any thread, per chunk)."""
        with self._lock:
            self.bytes += count
        self._maybe_report()

    def file_done(self, *, outcome: str = "done") -> None:
        """
        Count one more file finished.

        :param outcome: ``"done"`` (moved), ``"unchanged"`` (already in place), ``"skipped"``
            (passed over on purpose) or ``"failed"``.
        """
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
        with self._lock:
            self.counts[outcome] += 1
        self._maybe_report()

    def summary(self) -> str:
        """One line: files finished and what became of them, bytes, rate."""
        with self._lock:
            elapsed = max(time.monotonic() - self._started, 1e-9)
            counts, moved = dict(self.counts), self.bytes
        # The moved count is always shown, even 0: "5 failed" alone would not say nothing moved.
        parts = [f"{counts['done']} {self._verb}"]
        parts += [f"{counts[outcome]} {outcome}" for outcome in OUTCOMES[1:] if counts[outcome]]
        of_bytes = f" of {_mib(self.total_bytes)}" if self.total_bytes else ""
        return (
            f"{sum(counts.values())}/{self.total_files} file(s) finished: {', '.join(parts)}; "
            f"{_mib(moved)}{of_bytes} transferred in {elapsed:.1f} s ({_mib(moved / elapsed)}/s)"
        )

    def finish(self) -> None:
        """Log the final line."""
        self._log.info("%s", self.summary())

    def _maybe_report(self) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last_report < self.interval:
                return
            self._last_report = now
        self._log.info("%s", self.summary())


class MirrorProgress:
    """
    A mirror's counters, and a line for the log at most every ``interval`` seconds.

    :param interval: seconds between two lines.
    :param clock: the monotonic clock (tests pass their own).
    """

    def __init__(self, *, interval: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._started = self._last = clock()
        self._lock = threading.Lock()
        self.counts: dict[str, int] = dict.fromkeys(("records", "downloaded", "unchanged", "bytes"), 0)

    def add(self, **counts: int) -> None:
        """Add to the counters (``records=1``, ``downloaded=1, bytes=n``...)."""
        with self._lock:
            for key, value in counts.items():
                self.counts[key] += value

    def line(self) -> str:
        """The current state, in one line."""
        with self._lock:
            c, elapsed = dict(self.counts), max(self._clock() - self._started, 1e-9)
        mib = c["bytes"] / (1024 * 1024)
        return (
            f"Mirror: {c['records']} record(s) listed; {c['downloaded']} file(s) downloaded "
            f"({mib:.1f} MiB, {mib / elapsed:.1f} MiB/s), {c['unchanged']} unchanged; {elapsed:.0f} s"
        )

    def due(self) -> str | None:
        """The line if ``interval`` has passed since the last one, else ``None``."""
        now = self._clock()
        with self._lock:
            if now - self._last < self.interval:
                return None
            self._last = now
        return self.line()
