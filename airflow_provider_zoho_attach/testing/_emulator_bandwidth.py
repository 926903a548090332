"""
The emulator's bandwidth limit (``EmulatorConfig.bandwidth``): the link between a client and Zoho.

On loopback a download is a memory copy between two processes, far faster than any link to Zoho, so
whatever else a client does with the bytes (hashing them, writing them) weighs more than it would
over the Internet. With a limit set, response bodies leave the emulator through one token bucket
shared by every connection, as they would through one link: its rate is the limit in bytes per
second, and it holds at most :data:`BURST` bytes of credit, so an idle link does not make the next
download instant. Bodies are sent in chunks of :data:`CHUNK` bytes, each after its tokens.
"""

from __future__ import annotations

import socket
import threading
import time
import weakref
from collections.abc import Callable
from typing import BinaryIO

__all__ = ["BURST", "CHUNK", "TokenBucket", "bucket_for", "mib_per_second", "send_limited"]

#: Bytes sent at a time: 2.5 ms at 100 MiB/s, long enough for ``time.sleep`` to be accurate.
CHUNK = 256 * 1024
#: The most credit an idle link keeps.
BURST = CHUNK

# One bucket per server (a link per emulator), rebuilt when its rate changes.
_BUCKETS: weakref.WeakKeyDictionary[object, TokenBucket] = weakref.WeakKeyDictionary()
_BUCKETS_LOCK = threading.Lock()


class TokenBucket:
    """
    A token bucket in bytes, shared by threads; a taker that finds too few tokens waits for them.

    A take may leave the bucket in debt: the next taker then waits for that debt too, so however
    many threads take at once, the bytes they are allowed add up to ``rate`` per second.

    :param rate: bytes per second (positive).
    :param burst: the most tokens the bucket holds (it starts full).
    :param clock: a monotonic clock in seconds (tests pass a fake one).
    :param sleep: how to wait (tests pass a fake one).
    """

    def __init__(
        self,
        rate: float,
        burst: int = BURST,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not rate > 0 or burst < 0:
            raise ValueError(
                f"a token bucket needs a positive rate and a burst >= 0, got {rate!r}, {burst!r}"
            )
        self.rate = float(rate)
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._last = clock()

    def take(self, count: int) -> float:
        """
        Take ``count`` tokens, waiting until the bucket has paid for them.

        :return: the seconds waited.
        """
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= count
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        # Wait outside the lock: the next taker computes its own, longer wait meanwhile.
        if wait > 0:
            self._sleep(wait)
        return wait


def bucket_for(owner: object, rate: float) -> TokenBucket:
    """The bucket of ``owner`` (a server) at ``rate`` bytes per second; a new one if the rate changed."""
    with _BUCKETS_LOCK:
        bucket = _BUCKETS.get(owner)
        if bucket is None or bucket.rate != float(rate):
            bucket = _BUCKETS[owner] = TokenBucket(rate)
        return bucket


def send_limited(
    connection: socket.socket,
    bucket: TokenBucket,
    *,
    file: BinaryIO | None,
    body: bytes,
    start: int,
    end: int,
) -> None:
    """
    Send bytes ``start`` to ``end`` of a body, a chunk at a time, each after its tokens.

    :param connection: the client's socket.
    :param bucket: the link's bucket.
    :param file: the open file holding the body (sent with ``sendfile``) ...
    :param body: ... or the body in memory.
    :param start: the first byte.
    :param end: one past the last byte.
    """
    view = memoryview(body)
    position = start
    while position < end:
        count = min(CHUNK, end - position)
        bucket.take(count)
        if file is not None:
            connection.sendfile(file, position, count)
        else:
            connection.sendall(view[position : position + count])
        position += count


def mib_per_second(text: str) -> float:
    """
    The CLI's ``--bandwidth`` (MiB per second) as bytes per second.

    :raises ValueError: not a positive finite number (argparse then prints one line).
    """
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise ValueError(f"expected a positive number of MiB per second, got {text!r}")
    return value * 1024 * 1024
