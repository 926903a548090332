"""The emulator's bandwidth limit: the token bucket's arithmetic, with a fake clock (no sleeping)."""

from __future__ import annotations

import pytest

from airflow_provider_zoho_attach.testing._emulator_bandwidth import (
    BURST,
    TokenBucket,
    bucket_for,
    mib_per_second,
)

MIB = 1024 * 1024


class FakeTime:
    def __init__(self):
        self.now = 100.0
        self.slept = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def bucket(rate, burst=BURST):
    fake = FakeTime()
    return TokenBucket(rate, burst, clock=fake.clock, sleep=fake.sleep), fake


def test_a_full_bucket_sends_its_burst_at_once_then_paces_at_the_rate():
    tokens, fake = bucket(MIB, burst=1000)
    assert tokens.take(1000) == 0
    assert tokens.take(MIB) == pytest.approx(1.0)
    assert fake.slept == [pytest.approx(1.0)]


def test_a_long_transfer_takes_size_over_rate_whatever_the_chunks():
    tokens, fake = bucket(10 * MIB, burst=0)
    for _ in range(40):
        tokens.take(MIB // 4)
    assert fake.now - 100.0 == pytest.approx(1.0)


def test_takers_at_once_share_the_rate_through_debt():
    # Two connections take before either waits: the second waits for the first's bytes too.
    tokens, _ = bucket(MIB, burst=0)
    waits = []
    tokens._sleep = waits.append  # neither wait has happened when the other takes
    tokens.take(MIB)
    tokens.take(MIB)
    assert waits == [pytest.approx(1.0), pytest.approx(2.0)]


def test_an_idle_link_keeps_no_more_than_its_burst():
    tokens, fake = bucket(MIB, burst=1000)
    tokens.take(1000)
    fake.now += 3600
    assert tokens.take(1000) == 0
    assert tokens.take(MIB) == pytest.approx(1.0)


@pytest.mark.parametrize(("rate", "burst"), [(0, 10), (-1, 10), (float("nan"), 10), (1, -1)])
def test_a_bucket_refuses_a_rate_that_is_not_positive(rate, burst):
    with pytest.raises(ValueError, match="positive rate"):
        TokenBucket(rate, burst)


def test_one_bucket_per_server_rebuilt_when_the_rate_changes():
    class Server:
        pass

    server, other = Server(), Server()
    first = bucket_for(server, MIB)
    assert bucket_for(server, MIB) is first
    assert bucket_for(other, MIB) is not first
    changed = bucket_for(server, 2 * MIB)
    assert changed is not first
    assert changed.rate == 2 * MIB


@pytest.mark.parametrize("text", ["0", "-5", "inf", "nan", "fast"])
def test_cli_bandwidth_must_be_a_positive_number(text):
    with pytest.raises(ValueError, match="positive number of MiB per second"):
        mib_per_second(text)


def test_cli_bandwidth_is_in_mib_per_second():
    assert mib_per_second("100") == 100 * MIB
    assert mib_per_second("0.5") == MIB / 2
