"""Progress of a bulk transfer, logged at a readable pace rather than once per chunk."""

from __future__ import annotations

import threading
import time
from typing import Any

__all__ = ["OUTCOMES", "TransferProgress"]

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
