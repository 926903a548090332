"""Progress of a bulk transfer, logged at a readable pace rather than once per chunk."""

from __future__ import annotations

import threading
import time
from typing import Any

__all__ = ["TransferProgress"]


def _mib(count: float) -> str:
    return f"{count / (1024 * 1024):.1f} MiB"


class TransferProgress:
    """
    Counts files and bytes of a bulk transfer from many threads, and logs now and then.

    A line is logged at most every ``interval`` seconds (and once at the end), with files and bytes
    done, the expected totals when known, and the average rate.

    :param log: where to log (a logger with ``info``).
    :param verb: what is happening ("Downloaded", "Uploaded").
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
        self._verb = verb
        self.total_files = total_files
        self.total_bytes = total_bytes
        self.interval = interval
        self.files = 0
        self.bytes = 0
        self.failed = 0
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._last_report = self._started

    def add_bytes(self, count: int) -> None:
        """Count ``count`` more bytes moved (called from any thread, per chunk)."""
        with self._lock:
            self.bytes += count
        self._maybe_report()

    def file_done(self, *, failed: bool = False) -> None:
        """Count one more file finished (or failed)."""
        with self._lock:
            self.files += 1
            if failed:
                self.failed += 1
        self._maybe_report()

    def summary(self) -> str:
        """One line: files and bytes done, rate."""
        with self._lock:
            elapsed = max(time.monotonic() - self._started, 1e-9)
            files, moved, failed = self.files, self.bytes, self.failed
        of_bytes = f" of {_mib(self.total_bytes)}" if self.total_bytes else ""
        failures = f", {failed} failed" if failed else ""
        return (
            f"{self._verb} {files}/{self.total_files} file(s){failures}, {_mib(moved)}{of_bytes} "
            f"in {elapsed:.1f} s ({_mib(moved / elapsed)}/s)"
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
