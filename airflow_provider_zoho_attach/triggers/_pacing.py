"""
The poll pacing of one triggerer process: one :class:`~airflow_provider_zoho_attach.utils.polling.
PollScheduler` per connection, shared by every attachment watcher and deferred sensor of it.

A trigger asks its connection's :class:`Pacer` for its turn before each listing and reports what
the listing cost; the pacer keeps the sum inside the connection's ``daily_credit_budget`` (or the
smallest ``daily_credit_budget`` argument of its triggers) and logs, at the end of every clock hour,
what each trigger spent. Without a budget a record is polled every ``poll_interval``, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterable, Sequence
from typing import Any

from airflow_provider_zoho_attach.utils.polling import PollScheduler

__all__ = ["Pacer", "paced", "pacer_for", "release_pacer", "resolve_budget"]

log = logging.getLogger(__name__)

#: The longest a waiting trigger sleeps before it looks again (records come and go, plans change).
MAX_NAP = 5.0
#: The shortest (a due record that the ledger holds back must not make the loop spin).
MIN_NAP = 0.01

_PACERS: dict[str, Pacer] = {}


class Pacer:
    """
    The polls of one connection in this process.

    :param conn_id: the connection (for the log lines).
    :param clock: seconds since the epoch (``time.time``; a test passes a simulated clock).
    :param sleep: waits that many seconds (``asyncio.sleep``; a test passes one that moves its clock).
    """

    def __init__(
        self,
        conn_id: str,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.conn_id = conn_id
        self.clock = clock
        self.sleep = sleep
        self.scheduler = PollScheduler(daily_credit_budget=None, min_interval=60.0)
        self._budgets: list[float] = []
        self._floors: list[float] = []

    @property
    def budget(self) -> float | None:
        """The daily credit budget in force (``None``: none)."""
        return self.scheduler.daily_credit_budget

    def join(self, *, budget: float | None, poll_interval: float) -> None:
        """
        A trigger starts using this pacer: its budget (if any) and poll interval now count.

        The smallest budget and the shortest poll interval of the triggers apply.
        """
        if budget is not None:
            self._budgets.append(float(budget))
        self._floors.append(float(poll_interval))
        self._configure()

    def leave(self, *, budget: float | None, poll_interval: float) -> None:
        """The opposite of :meth:`join`."""
        if budget is not None and float(budget) in self._budgets:
            self._budgets.remove(float(budget))
        if float(poll_interval) in self._floors:
            self._floors.remove(float(poll_interval))
        self._configure()

    def _configure(self) -> None:
        budget = min(self._budgets) if self._budgets else None
        scheduler = self.scheduler
        if budget != scheduler.daily_credit_budget:
            scheduler.set_budget(budget)
            log.info("Polls through %s: daily credit budget %s", self.conn_id, budget or "none")
        scheduler.min_interval = min(self._floors) if self._floors else 60.0

    @property
    def idle(self) -> bool:
        """Whether no trigger uses this pacer any more."""
        return not self._floors and not len(self.scheduler)

    async def turn(self, keys: Callable[[], Iterable[Hashable]], *, owner: str) -> Hashable:
        """
        Wait until one of ``keys()`` is due and the budget has room, take its poll and return it.

        ``keys`` is called again after every wait: watchers join and leave a shared poll meanwhile.

        :param owner: whom the credits are charged to in the hourly log.
        """
        scheduler = self.scheduler
        while True:
            now = self.clock()
            chosen = scheduler.next_due(now, list(keys()))
            if chosen is not None and chosen[1] <= now and scheduler.claim(chosen[0], now, owner=owner):
                return chosen[0]
            # Nothing to poll yet: a watcher is about to register its records, look again soon.
            wait = 1.0 if chosen is None else chosen[1] - now
            await self.sleep(min(max(wait, MIN_NAP), MAX_NAP))

    def polled(self, key: Hashable, *, credits: int, changed: bool, owner: str) -> None:
        """Report a listing that :meth:`turn` allowed (its real cost) and log the hours that ended."""
        now = self.clock()
        self.scheduler.polled(key, now, credits=credits, changed=changed, owner=owner)
        for hour, owners in self.scheduler.ledger.closed_hours(now):
            limit = self.budget
            log.info(
                "Watching through %s spent %d API credits in the hour from %s UTC (limit %s): %s",
                self.conn_id,
                sum(owners.values()),
                time.strftime("%Y-%m-%d %H:%M", time.gmtime(hour)),
                "none" if limit is None else f"{limit / 24:.0f}",
                ", ".join(f"{name}: {spent}" for name, spent in sorted(owners.items())),
            )


def pacer_for(conn_id: str) -> Pacer:
    """The pacer of ``conn_id`` in this process (made on first use)."""
    pacer = _PACERS.get(conn_id)
    if pacer is None:
        pacer = _PACERS[conn_id] = Pacer(conn_id)
    return pacer


def release_pacer(pacer: Pacer) -> None:
    """Forget ``pacer`` once no trigger uses it, so the next one starts from its own settings."""
    if pacer.idle and _PACERS.get(pacer.conn_id) is pacer:
        del _PACERS[pacer.conn_id]


async def resolve_budget(hook: Any, budget: float | None) -> float | None:
    """The smaller of a trigger's budget argument and its connection's ``daily_credit_budget`` extra."""
    settings = await hook.get_settings()
    budgets = [float(b) for b in (budget, getattr(settings, "daily_credit_budget", None)) if b is not None]
    return min(budgets) if budgets else None


def owner_name(trigger: Any) -> str:
    """How a trigger is named in the hourly credit log: its id in the triggerer, else its class."""
    ident = getattr(trigger, "trigger_id", None)
    return f"{type(trigger).__name__} {ident if ident is not None else hex(id(trigger))}"


@contextlib.asynccontextmanager
async def paced(
    trigger: Any, hook: Any, budget: float | None, record_ids: Sequence[str]
) -> AsyncIterator[tuple[Pacer, list[Hashable], str]]:
    """
    Poll ``record_ids`` on the turns of the trigger's connection pacer for the block.

    Each record is polled at once first (a watcher's baseline, a sensor's first check), then when
    the pacer says. The records are the trigger's own (another trigger's polls of the same record
    do not replace this one's: only a shared stream shares listings).

    :return: the pacer, the scheduler keys of the records (``(id(trigger), record_id)``) and the
        name credits are charged to.
    """
    pacer = pacer_for(trigger.zoho_conn_id)
    budget = await resolve_budget(hook, budget)
    pacer.join(budget=budget, poll_interval=trigger.poll_interval)
    keys: list[Hashable] = [(id(trigger), record_id) for record_id in record_ids]
    now = pacer.clock()
    for key in keys:
        pacer.scheduler.add(key, now=now, due_now=True, min_interval=trigger.poll_interval)
    try:
        yield pacer, keys, owner_name(trigger)
    finally:
        for key in keys:
            pacer.scheduler.remove(key)
        pacer.leave(budget=budget, poll_interval=trigger.poll_interval)
        release_pacer(pacer)
