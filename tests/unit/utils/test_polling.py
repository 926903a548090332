"""The credit-budget poll scheduler: intervals, hot and quiet records, the hourly ledger."""

from __future__ import annotations

import heapq
import math

import pytest

from airflow_provider_zoho_attach.utils.polling import (
    CreditLedger,
    PollScheduler,
    latency_bounds,
    plan_intervals,
)

BUDGET = 50_000
RATE = 0.95 * BUDGET / 86_400  # the plan keeps 5 % of the budget as headroom


def test_without_a_budget_every_record_is_polled_every_min_interval():
    plan = plan_intervals(hot=2, quiet=3, daily_credit_budget=None, min_interval=5)
    assert (plan.hot_interval, plan.quiet_interval) == (5, 5)
    assert plan.credits_per_hour == 5 * 720


@pytest.mark.parametrize("hot", [0, 1, 10, 100, 500, 1000])
def test_the_plan_spends_the_budget_and_no_more(hot):
    plan = plan_intervals(hot=hot, quiet=1000 - hot, daily_credit_budget=BUDGET, min_interval=5)
    assert plan.credits_per_hour == pytest.approx(0.95 * BUDGET / 24)


def test_hot_records_are_polled_more_often_but_quiet_ones_keep_half_the_budget():
    few = plan_intervals(hot=10, quiet=990, daily_credit_budget=BUDGET, min_interval=5)
    assert few.hot_interval == pytest.approx(few.quiet_interval / 30)
    assert few.hot_interval < 80  # 10 hot records of 1,000: every 78 s instead of every 29 min
    many = plan_intervals(hot=900, quiet=100, daily_credit_budget=BUDGET, min_interval=5)
    # Hot records may take half the budget, not more: 100 quiet records share the other half.
    assert many.quiet_interval == pytest.approx(100 / (RATE / 2))
    assert 900 / many.hot_interval == pytest.approx(RATE / 2)


def test_min_interval_holds_and_what_hot_records_do_not_use_goes_to_quiet_ones():
    plan = plan_intervals(hot=1, quiet=1000, daily_credit_budget=BUDGET, min_interval=120)
    assert plan.hot_interval == 120  # the budget would allow every 59 s
    assert plan.quiet_interval == pytest.approx(1000 / (RATE - 1 / 120))
    assert plan.credits_per_hour == pytest.approx(0.95 * BUDGET / 24)


def test_latency_bounds():
    hot, quiet = latency_bounds(records=1000, hot=10, daily_credit_budget=BUDGET, min_interval=5)
    assert hot == pytest.approx((10 * 30 + 990) / (30 * RATE))
    assert quiet == pytest.approx(2 * 1000 / RATE)  # whatever the number of hot records
    assert latency_bounds(records=1000, hot=900, daily_credit_budget=BUDGET, min_interval=5)[1] == quiet


def test_the_ledger_caps_any_sliding_hour():
    ledger = CreditLedger(hourly_cap=3)
    for t in (0, 10, 20):
        assert ledger.wait(t) == 0
        ledger.spend(t, 1, owner="a")
    assert ledger.wait(30) == pytest.approx(3570)  # the credit of t=0 leaves the window at 3600
    assert ledger.wait(3600) == 0
    ledger.spend(3600, 2, owner="b")
    assert ledger.wait(3601) == pytest.approx(3620 - 3601)  # the spends of t=10 and t=20 must leave
    assert ledger.wait(3601, credits=2) == pytest.approx(7200 - 3601)  # and that of t=3600 too
    assert ledger.spent_last_hour(3601) == 4  # a spend is recorded whole; what follows waits longer


def test_the_ledger_reports_closed_hours_per_owner_once():
    ledger = CreditLedger(hourly_cap=None)
    ledger.spend(10, 1, owner="watcher 1")
    ledger.spend(20, 2, owner="watcher 2")
    ledger.spend(30, 1, owner="watcher 1")
    ledger.spend(3700, 1, owner="watcher 1")
    assert ledger.closed_hours(3700) == [(0, {"watcher 1": 2, "watcher 2": 2})]
    assert ledger.closed_hours(3800) == []
    assert ledger.closed_hours(7200) == [(3600, {"watcher 1": 1})]
    assert ledger.total == 5


def test_a_poll_is_reserved_against_the_cap_and_charged_to_whom_it_served():
    scheduler = PollScheduler(daily_credit_budget=24 * 3, min_interval=5)
    scheduler.add("r", now=0, due_now=True)
    assert scheduler.claim("r", 0)
    assert scheduler.ledger.spent_last_hour(0) == 1
    scheduler.polled("r", 0, credits=3, changed=False, owner="watcher 1 + watcher 2 (shared)")
    assert scheduler.ledger.spent_last_hour(1) == 3
    assert scheduler.ledger.closed_hours(3600) == [(0, {"watcher 1 + watcher 2 (shared)": 3})]
    scheduler.add("s", now=1, due_now=True)
    assert not scheduler.claim("s", 1)  # the hour's 3 credits are spent


def test_watchers_of_one_record_share_its_entry():
    scheduler = PollScheduler(daily_credit_budget=None, min_interval=5)
    scheduler.add("r", now=0, due_now=True)
    scheduler.add("r", now=0)
    assert len(scheduler) == 1
    scheduler.remove("r")
    assert "r" in scheduler
    scheduler.remove("r")
    assert "r" not in scheduler


def test_claim_only_when_due_and_a_change_makes_a_record_hot_then_quiet_again():
    scheduler = PollScheduler(daily_credit_budget=BUDGET, min_interval=5)
    for i in range(100):
        scheduler.add(i, now=0, due_now=True)
    assert scheduler.claim(0, 0, owner="t")
    assert not scheduler.claim(0, 1, owner="t")  # just polled
    scheduler.polled(0, 1, credits=1, changed=True, owner="t")
    assert scheduler.is_hot(0, 2)
    plan = scheduler.plan(2)
    assert scheduler.due_at(0, 2) == pytest.approx(0 + plan.hot_interval)
    assert not scheduler.is_hot(0, 1 + 3600)
    assert scheduler.hot_count(1 + 3600) == 0


def test_a_records_own_floor_holds():
    scheduler = PollScheduler(daily_credit_budget=None, min_interval=1)
    scheduler.add("slow", now=0, due_now=True, min_interval=60)
    assert scheduler.claim("slow", 0, owner="t")
    assert scheduler.due_at("slow", 0) == 60


def test_records_added_without_due_now_spread_over_one_interval():
    scheduler = PollScheduler(daily_credit_budget=BUDGET, min_interval=5)
    for i in range(10):
        scheduler.add(i, now=0, spread=i / 10)
    dues = [scheduler.due_at(i, 0) for i in range(10)]
    assert dues == sorted(dues)
    assert dues[0] == 0
    assert dues[-1] == pytest.approx(0.9 * 10 / RATE)


def simulate(scheduler, *, records, seconds, changes):
    """Poll every record when due (a heap of due times); return the poll times of each record."""
    polls: dict[int, list[float]] = {r: [] for r in range(records)}
    heap = [(scheduler.due_at(r, 0), r) for r in range(records)]
    heapq.heapify(heap)
    while heap:
        when, record = heapq.heappop(heap)
        if when > seconds:
            break
        due = max(scheduler.due_at(record, when), when + scheduler.ledger.wait(when))
        if due > when + 1e-9:
            heapq.heappush(heap, (due, record))
            continue
        assert scheduler.claim(record, when, owner="sim")
        changed = any(polls[record][-1:] and polls[record][-1] < t <= when for t in changes.get(record, ()))
        scheduler.polled(record, when, credits=1, changed=changed, owner="sim")
        polls[record].append(when)
        heapq.heappush(heap, (scheduler.due_at(record, when), record))
    return polls


def test_a_simulated_day_stays_inside_the_budget_and_hot_records_are_polled_more_often():
    budget, records = 2_400, 50
    scheduler = PollScheduler(daily_credit_budget=budget, min_interval=5)
    for r in range(records):
        scheduler.add(r, now=0, spread=r / records)
    # Record 0 changes every 10 minutes all day: it stays hot.
    polls = simulate(scheduler, records=records, seconds=86_400, changes={0: range(300, 86_400, 600)})
    times = sorted(t for ts in polls.values() for t in ts)
    assert len(times) <= budget
    for start in range(0, 86_400, 900):
        in_hour = sum(1 for t in times if start <= t < start + 3600)
        assert in_hour <= budget / 24
    gaps_hot = [b - a for a, b in zip(polls[0][10:], polls[0][11:], strict=False)]
    gaps_quiet = [b - a for a, b in zip(polls[1], polls[1][1:], strict=False)]
    assert max(gaps_hot) < min(gaps_quiet) / 10
    assert not math.isinf(max(gaps_quiet))


def test_a_changed_budget_changes_the_hourly_cap_and_keeps_what_was_spent():
    scheduler = PollScheduler(daily_credit_budget=None)
    scheduler.ledger.spend(0, 2, owner=None)
    assert scheduler.ledger.wait(0) == 0
    scheduler.set_budget(48)
    assert scheduler.ledger.hourly_cap == 2
    assert scheduler.ledger.wait(0) > 0  # the two credits already spent fill the new hour's cap
    scheduler.set_budget(None)
    assert scheduler.ledger.wait(0) == 0
