"""A simulated clock for the pacer and the emulator: time jumps to the next wake-up (no waiting)."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from typing import Any


class SimulatedTime:
    """
    A clock for the pacer and the emulator that jumps to the next wake-up once every polling task
    sleeps (a discrete-event simulation: no real waiting). ``at`` runs actions at simulated times.

    :param emulator: its clock moves along (credits and request times are on its clock).
    :param workers: how many tasks sleep on this clock.
    """

    def __init__(self, emulator, workers: int) -> None:
        self.emulator = emulator
        self.start = emulator.clock.now()
        self.now_value = self.start
        self.workers = workers
        self._waiters: list[tuple[float, int, asyncio.Future]] = []
        self._actions: list[tuple[float, int, Any]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self.now_value

    def at(self, offset: float, action) -> None:
        heapq.heappush(self._actions, (self.start + offset, next(self._seq), action))

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (self.now_value + seconds, next(self._seq), future))
        if len(self._waiters) >= self.workers:
            self._wake_next()
        await future

    def _wake_next(self) -> None:
        deadline, _, future = heapq.heappop(self._waiters)
        while self._actions and self._actions[0][0] <= deadline:
            when, _, action = heapq.heappop(self._actions)
            self._move_to(when)
            action()
        self._move_to(deadline)
        future.set_result(None)

    def _move_to(self, when: float) -> None:
        if when > self.now_value:
            self.emulator.clock.advance(when - self.now_value)
            self.now_value = when

    def retire(self) -> None:
        """One polling task fewer (it ended): the others may not wait for it to sleep."""
        self.workers -= 1
        if self._waiters and len(self._waiters) >= self.workers:
            self._wake_next()
