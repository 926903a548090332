"""When to poll watched records so that watching stays inside a daily credit budget (no I/O).

Zoho charges one API credit per attachment listing (per 200 attachments), and an org has a fixed
number of credits per rolling 24 hours (a Professional org: about 50,000). Watching 1,000 records
every 5 seconds would cost 17,280,000 credits a day. A :class:`PollScheduler` spreads the polls of
every record watched through one connection so that their sum stays inside a budget:

* A record that changed within :data:`HOT_WINDOW` seconds is **hot**; every other record is
  **quiet**. A hot record is polled :data:`HOT_WEIGHT` times as often as a quiet one, but the hot
  records together never take more than :data:`MAX_HOT_SHARE` of the budget, so quiet records keep
  their latency bound however many records are hot.
* No record is polled more often than ``min_interval`` (the watchers' ``poll_interval``).
* A :class:`CreditLedger` holds the hard limit: over any sliding hour at most ``budget / 24``
  credits, whatever the plan says (a listing of more than 200 attachments costs more than one
  credit; a record that is due waits until the ledger has room).

Everything here takes the time as an argument (seconds, any monotonic origin), so it runs the same
under the triggerer's clock and a test's simulated one.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

__all__ = [
    "HOT_WEIGHT",
    "HOT_WINDOW",
    "MAX_HOT_SHARE",
    "PLANNED_SHARE",
    "CreditLedger",
    "PollPlan",
    "PollScheduler",
    "latency_bounds",
    "plan_intervals",
]

#: Seconds after a change during which a record counts as hot.
HOT_WINDOW = 3600.0
#: How many times as often a hot record is polled as a quiet one (when the budget is the limit).
HOT_WEIGHT = 30.0
#: The largest part of the budget hot records may take together; the rest is the quiet records'.
MAX_HOT_SHARE = 0.5
#: The part of the budget the plan spends; the rest is headroom for bursts (a record turning hot is
#: due at once, a listing of more than 200 attachments costs more), so the hourly cap rarely holds
#: a poll back and the latency bounds hold.
PLANNED_SHARE = 0.95
_DAY = 86400.0
_HOUR = 3600.0


@dataclass(frozen=True)
class PollPlan:
    """
    The poll interval of each class of record at one moment.

    :param hot_interval: seconds between two polls of a hot record (``inf`` when none is hot).
    :param quiet_interval: seconds between two polls of a quiet record (``inf`` when none is quiet).
    :param credits_per_hour: what the plan spends in an hour, at one credit per poll.
    """

    hot_interval: float
    quiet_interval: float
    credits_per_hour: float


def plan_intervals(
    *,
    hot: int,
    quiet: int,
    daily_credit_budget: float | None,
    min_interval: float,
    hot_weight: float = HOT_WEIGHT,
    max_hot_share: float = MAX_HOT_SHARE,
) -> PollPlan:
    """
    The intervals that spend at most ``daily_credit_budget`` a day on ``hot + quiet`` records.

    Without a budget every record is polled every ``min_interval`` (what the triggers did before
    budgets existed).

    :param hot: how many records changed recently.
    :param quiet: how many did not.
    :param daily_credit_budget: credits per 24 hours for all of them; ``None`` for no limit.
    :param min_interval: the shortest interval, in seconds (the watchers' ``poll_interval``).
    :param hot_weight: how many times as often a hot record is polled as a quiet one.
    :param max_hot_share: the largest part of the budget the hot records take together.
    """
    if daily_credit_budget is None:
        hot_interval = min_interval if hot else math.inf
        quiet_interval = min_interval if quiet else math.inf
        return PollPlan(
            hot_interval, quiet_interval, _per_hour(hot, hot_interval) + _per_hour(quiet, quiet_interval)
        )
    rate = PLANNED_SHARE * daily_credit_budget / _DAY  # credits per second
    if not hot:
        hot_share = 0.0
    elif not quiet:
        hot_share = 1.0
    else:
        hot_share = min(max_hot_share, hot * hot_weight / (hot * hot_weight + quiet))
    hot_interval = max(min_interval, hot / (rate * hot_share)) if hot else math.inf
    # What the hot records do not use (they may be held back by min_interval) goes to the quiet ones.
    left = rate - (hot / hot_interval if hot else 0.0)
    quiet_interval = max(min_interval, quiet / left) if quiet else math.inf
    return PollPlan(
        hot_interval, quiet_interval, _per_hour(hot, hot_interval) + _per_hour(quiet, quiet_interval)
    )


def latency_bounds(
    *,
    records: int,
    hot: int,
    daily_credit_budget: float,
    min_interval: float,
    hot_weight: float = HOT_WEIGHT,
    max_hot_share: float = MAX_HOT_SHARE,
) -> tuple[float, float]:
    """
    The longest time, in seconds, from an attachment's arrival to the poll that sees it.

    That is one poll interval of the record's class at the moment (for a hot record, with ``hot``
    records hot; for a quiet one, whatever the number of hot records, since quiet records always
    keep ``1 - max_hot_share`` of the budget). Add the listing's round trip and Airflow's own
    delay to get to a run.

    :param records: how many records are watched through the connection.
    :param hot: how many of them are hot.
    :param daily_credit_budget: the connection's budget.
    :param min_interval: the watchers' ``poll_interval``.
    :param hot_weight: see :func:`plan_intervals`.
    :param max_hot_share: see :func:`plan_intervals`.
    :return: (hot bound, quiet bound).
    """
    plan = plan_intervals(
        hot=hot,
        quiet=records - hot,
        daily_credit_budget=daily_credit_budget,
        min_interval=min_interval,
        hot_weight=hot_weight,
        max_hot_share=max_hot_share,
    )
    worst_quiet = max(
        min_interval, records / (PLANNED_SHARE * daily_credit_budget / _DAY * (1 - max_hot_share))
    )
    return plan.hot_interval, worst_quiet


def _per_hour(count: int, interval: float) -> float:
    return 0.0 if not count or math.isinf(interval) else count * _HOUR / interval


class CreditLedger:
    """
    Credits spent, on a sliding hour (the hard cap) and by clock hour and owner (for the logs).

    :param hourly_cap: the most credits any sliding hour may hold; ``None`` for no cap.
    """

    def __init__(self, hourly_cap: float | None) -> None:
        self.hourly_cap = hourly_cap
        self._window: deque[tuple[float, int]] = deque()
        self._in_window = 0
        #: credits by (hour start, owner), for the hourly log lines.
        self.by_hour: dict[tuple[float, str], int] = {}
        self.total = 0

    def _expire(self, now: float) -> None:
        while self._window and self._window[0][0] <= now - _HOUR:
            self._in_window -= self._window.popleft()[1]

    def spent_last_hour(self, now: float) -> int:
        """Credits spent in the hour up to ``now``."""
        self._expire(now)
        return self._in_window

    def wait(self, now: float, credits: int = 1) -> float:
        """Seconds until ``credits`` more fit under the cap (0 when they fit now)."""
        if self.hourly_cap is None:
            return 0.0
        self._expire(now)
        excess = self._in_window + credits - self.hourly_cap
        if excess <= 0:
            return 0.0
        # The oldest spends leave the window first: wait until enough of them have.
        freed = 0
        for when, amount in self._window:
            freed += amount
            if freed >= excess:
                # A microsecond past the moment it leaves: "now + wait" must find it gone.
                return when + _HOUR - now + 1e-6
        return _HOUR

    def spend(self, now: float, credits: int, *, owner: str | None) -> None:
        """
        Record ``credits`` spent at ``now`` by ``owner`` (a trigger's name).

        :param now: the time, in seconds (an hour starts at a multiple of 3,600 of this clock).
        :param credits: how many (0 is ignored; a negative number gives back a reservation).
        :param owner: whom to charge in the logs; ``None`` counts against the cap only (a
            reservation, charged to its owner once the poll reports).
        """
        if credits:
            self._window.append((now, credits))
            self._in_window += credits
        if owner is not None:
            self.charge(now, credits, owner=owner)

    def charge(self, now: float, credits: int, *, owner: str) -> None:
        """Count ``credits`` for ``owner`` in the hour of ``now`` (for the logs; not the cap)."""
        if not credits:
            return
        hour = now - now % _HOUR
        self.by_hour[(hour, owner)] = self.by_hour.get((hour, owner), 0) + credits
        self.total += credits

    def closed_hours(self, now: float) -> list[tuple[float, dict[str, int]]]:
        """Take the per-owner totals of every clock hour that ended before ``now``, oldest first."""
        current = now - now % _HOUR
        done: dict[float, dict[str, int]] = {}
        for (hour, owner), credits in list(self.by_hour.items()):
            if hour < current:
                done.setdefault(hour, {})[owner] = credits
                del self.by_hour[(hour, owner)]
        return sorted(done.items())


@dataclass
class _Entry:
    refs: int = 1
    last_poll: float = -math.inf
    last_change: float = -math.inf
    first_due: float = 0.0
    min_interval: float = 0.0


@dataclass
class PollScheduler:
    """
    The poll times of every record watched through one connection, inside one budget.

    Records are any hashable keys (``(module, record_id)``); several watchers of the same record
    share its entry (:meth:`add` counts them) and so its polls.

    :param daily_credit_budget: credits per 24 hours for all the records; ``None`` for no limit.
    :param min_interval: the shortest interval between two polls of a record, in seconds.
    :param hot_window: see :data:`HOT_WINDOW`.
    :param hot_weight: see :data:`HOT_WEIGHT`.
    :param max_hot_share: see :data:`MAX_HOT_SHARE`.
    """

    daily_credit_budget: float | None
    min_interval: float = 60.0
    hot_window: float = HOT_WINDOW
    hot_weight: float = HOT_WEIGHT
    max_hot_share: float = MAX_HOT_SHARE
    ledger: CreditLedger = field(init=False)
    _entries: dict[Hashable, _Entry] = field(default_factory=dict, init=False)
    _changed: set[Hashable] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        self.ledger = CreditLedger(None)
        self.set_budget(self.daily_credit_budget)

    def set_budget(self, daily_credit_budget: float | None) -> None:
        """Change the budget (and the ledger's hourly cap with it); what was spent still counts."""
        self.daily_credit_budget = daily_credit_budget
        self.ledger.hourly_cap = None if daily_credit_budget is None else daily_credit_budget / 24

    def add(
        self,
        key: Hashable,
        *,
        now: float,
        due_now: bool = False,
        spread: float = 0.0,
        min_interval: float | None = None,
    ) -> None:
        """
        Start watching ``key`` (or count one more watcher of it).

        :param now: the time.
        :param due_now: poll it at once (a record without a baseline yet must be listed soon, or
            what arrives before its first listing is never reported).
        :param spread: a number in ``[0, 1)``: where in its first interval the first poll falls, so
            that records added together do not all fall due at once.
        :param min_interval: this record's own shortest interval (its watcher's ``poll_interval``);
            default: the scheduler's.
        """
        entry = self._entries.get(key)
        if entry is not None:
            entry.refs += 1
            return
        entry = self._entries[key] = _Entry(first_due=now, min_interval=min_interval or 0.0)
        if not due_now:
            quiet = self.plan(now).quiet_interval
            entry.first_due = now + spread * (self.min_interval if math.isinf(quiet) else quiet)

    def remove(self, key: Hashable) -> None:
        """One watcher of ``key`` fewer; the record is forgotten with the last one."""
        entry = self._entries.get(key)
        if entry is None:
            return
        entry.refs -= 1
        if entry.refs <= 0:
            del self._entries[key]
            self._changed.discard(key)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def is_hot(self, key: Hashable, now: float) -> bool:
        """Whether ``key`` changed within the hot window."""
        entry = self._entries.get(key)
        return entry is not None and now - entry.last_change < self.hot_window

    def hot_count(self, now: float) -> int:
        """How many records are hot now (records that cooled down leave the hot set)."""
        for key in [k for k in self._changed if not self.is_hot(k, now)]:
            self._changed.discard(key)
        return len(self._changed)

    def plan(self, now: float) -> PollPlan:
        """The intervals of both classes now."""
        hot = self.hot_count(now)
        return plan_intervals(
            hot=hot,
            quiet=len(self._entries) - hot,
            daily_credit_budget=self.daily_credit_budget,
            min_interval=self.min_interval,
            hot_weight=self.hot_weight,
            max_hot_share=self.max_hot_share,
        )

    def due_at(self, key: Hashable, now: float, plan: PollPlan | None = None) -> float:
        """When ``key`` is next due (before its first poll: when it was scheduled first)."""
        entry = self._entries[key]
        if entry.last_poll == -math.inf:
            return entry.first_due
        plan = plan or self.plan(now)
        interval = plan.hot_interval if self.is_hot(key, now) else plan.quiet_interval
        # A record's own floor only makes it poll less than planned: the budget still holds.
        return entry.last_poll + max(interval, entry.min_interval)

    def next_due(self, now: float, keys: Iterable[Hashable] | None = None) -> tuple[Hashable, float] | None:
        """
        The record to poll next and when (never before the ledger has room for one credit).

        :param now: the time.
        :param keys: only these records (default: all of them).
        :return: ``(key, when)``, or ``None`` when there is nothing to poll.
        """
        plan = self.plan(now)
        best: tuple[Hashable, float] | None = None
        for key in self._entries if keys is None else keys:
            if key in self._entries:
                when = self.due_at(key, now, plan)
                if best is None or when < best[1]:
                    best = (key, when)
        if best is None:
            return None
        return best[0], max(best[1], now + self.ledger.wait(now))

    def claim(self, key: Hashable, now: float, *, owner: str | None = None) -> bool:
        """
        Take ``key``'s poll now if it is due and the ledger has room; reserve one credit for it.

        :return: whether the caller may poll now (then it reports with :meth:`polled`).
        """
        # A millisecond's slack: a due time computed as a sum of floats may exceed "now" by a hair.
        if key not in self._entries or self.due_at(key, now) > now + 1e-3 or self.ledger.wait(now) > 0:
            return False
        self._entries[key].last_poll = now
        # Reserved against the cap now; charged to a trigger when the poll reports (polled()).
        self.ledger.spend(now, 1, owner=None)
        del owner  # kept for callers that name themselves; the charge goes to polled()'s owner
        return True

    def polled(self, key: Hashable, now: float, *, credits: int, changed: bool, owner: str) -> None:
        """
        Report a poll :meth:`claim` allowed: what it cost, and whether the record changed.

        :param credits: the credits the listing really cost (one is already reserved).
        :param changed: whether something new appeared (the record becomes hot).
        """
        self.ledger.spend(now, credits - 1, owner=None)
        self.ledger.charge(now, credits, owner=owner)
        entry = self._entries.get(key)
        if entry is not None and changed:
            entry.last_change = now
            self._changed.add(key)
