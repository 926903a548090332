"""The cluster-wide token lease: decisions and driver over a fake store, clock and sleep."""

from __future__ import annotations

import random
from typing import Any

import pytest

from airflow_provider_zoho_attach.exceptions import (
    TOKEN_THROTTLED,
    ZohoCRMAuthError,
    ZohoCRMConnectionError,
    ZohoCRMRateLimitError,
)
from airflow_provider_zoho_attach.utils import token_lease
from airflow_provider_zoho_attach.utils.protocol import AccessToken, RetryPolicy
from airflow_provider_zoho_attach.utils.token_lease import (
    FAILURE_SECONDS,
    LEASE_SECONDS,
    ClusterRefresh,
    SharedRecord,
    decide,
)

FP = "fp-1"
NOW = 1_000_000.0


class Clock:
    """Epoch seconds that only move when someone sleeps (no real waiting in these tests)."""

    def __init__(self) -> None:
        self.now = NOW
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class Store:
    """A shared record in memory; ``on_read`` lets a test play another host between two reads."""

    def __init__(self, value: Any = None) -> None:
        self.value = value
        self.writes: list[dict[str, Any]] = []
        self.on_read: Any = None

    def read(self) -> Any:
        if self.on_read is not None:
            self.on_read(self)
        return self.value

    def write(self, value: dict[str, Any]) -> None:
        self.writes.append(value)
        self.value = value

    @property
    def record(self) -> SharedRecord:
        return SharedRecord.parse(self.value, FP)


def token(value: str = "tok-1", expires_at: float = NOW + 3600) -> AccessToken:
    return AccessToken(value, expires_at)


def refresh(store: Store, clock: Clock, **kwargs: Any) -> ClusterRefresh:
    kwargs.setdefault("policy", RetryPolicy(token_throttle_timeout=120.0))
    return ClusterRefresh(store, FP, sleep=clock.sleep, clock=clock, rng=random.Random(1), **kwargs)


class Fetch:
    def __init__(self, *results: Any) -> None:
        self.results = list(results) or [token("new")]
        self.calls = 0

    def __call__(self) -> AccessToken:
        self.calls += 1
        result = self.results.pop(0) if len(self.results) > 1 else self.results[0]
        if isinstance(result, BaseException):
            raise result
        return result


# ------------------------------------------------------------------ decisions


def test_a_fresh_shared_token_is_used():
    record = SharedRecord(FP, token=token())
    assert decide(record, holder="me", now=NOW).action == "use"


def test_a_token_this_process_saw_rejected_is_not_used():
    record = SharedRecord(FP, token=token("bad"))
    assert decide(record, holder="me", now=NOW, rejected={"bad"}).action == "claim"


def test_an_expired_token_is_not_used():
    record = SharedRecord(FP, token=token(expires_at=NOW + 10))
    assert decide(record, holder="me", now=NOW).action == "claim"


def test_another_holders_live_lease_means_wait_and_a_lapsed_one_claim():
    record = SharedRecord(FP).claimed("other", NOW + 5)
    assert decide(record, holder="me", now=NOW).action == "wait"
    assert decide(record, holder="me", now=NOW + 6).action == "claim"
    assert decide(record, holder="other", now=NOW).action == "claim"


def test_a_remembered_refusal_fails_until_it_lapses():
    error = ZohoCRMAuthError("invalid refresh token", code="invalid_code")
    record = SharedRecord(FP).with_failure(error, NOW)
    assert decide(record, holder="me", now=NOW + 1).action == "fail"
    assert decide(record, holder="me", now=NOW + FAILURE_SECONDS + 1).action == "claim"


def test_the_record_survives_a_round_trip_and_keeps_the_old_token_keys():
    record = SharedRecord(FP, token=token(), generation=3).claimed("me", NOW + 30)
    stored = record.to_json()
    assert stored["access_token"] == "tok-1"
    assert stored["fingerprint"] == FP
    assert SharedRecord.parse(stored, FP) == record
    # What older versions wrote (a token without lease or generation) is still the shared token.
    assert SharedRecord.parse(token().to_json(FP), FP).token == token()


@pytest.mark.parametrize(
    "value",
    [None, "text", [], {"fingerprint": "other", "access_token": "x", "expires_at": NOW + 99}],
)
def test_anything_malformed_or_foreign_reads_as_an_empty_record(value):
    assert SharedRecord.parse(value, FP) == SharedRecord(FP)


def test_a_malformed_lease_or_failure_is_ignored():
    value = {**token().to_json(FP), "lease": {"holder": 3}, "failure": {"message": None}, "generation": -1}
    assert SharedRecord.parse(value, FP) == SharedRecord(FP, token=token())


# ------------------------------------------------------------------ the driver


def test_an_empty_record_is_leased_confirmed_and_the_new_token_shared():
    store, clock, fetch = Store(), Clock(), Fetch()
    driver = refresh(store, clock)
    assert driver.acquire(fetch) == token("new")
    assert fetch.calls == 1
    # The lease was written first, read back after a random delay, then replaced by the token.
    assert store.writes[0]["lease"]["holder"] == driver.holder
    assert token_lease.CONFIRM_DELAY[0] <= clock.slept[0] <= token_lease.CONFIRM_DELAY[1]
    assert store.record == SharedRecord(FP, token=token("new"), generation=1)


def test_while_another_holds_the_lease_the_task_waits_and_uses_its_token():
    clock = Clock()
    store = Store(SharedRecord(FP).claimed("other", NOW + LEASE_SECONDS).to_json())
    reads = []

    def other_host_shares_after_three_reads(s: Store) -> None:
        reads.append(1)
        if len(reads) == 3:
            s.value = SharedRecord(FP, token=token("theirs"), generation=1).to_json()

    store.on_read = other_host_shares_after_three_reads
    fetch = Fetch()
    assert refresh(store, clock).acquire(fetch) == token("theirs")
    assert fetch.calls == 0
    assert store.writes == []


def test_a_lease_lost_during_the_confirm_delay_is_not_acted_on():
    clock, fetch = Clock(), Fetch()
    store = Store()
    driver = refresh(store, clock)

    def another_host_writes_its_lease_last(s: Store) -> None:
        if len(s.writes) == 1 and s.record.held_by(driver.holder, clock()):
            s.value = SharedRecord(FP).claimed("other", clock() + LEASE_SECONDS).to_json()
        elif clock() > NOW + 2:
            s.value = SharedRecord(FP, token=token("theirs"), generation=1).to_json()

    store.on_read = another_host_writes_its_lease_last
    assert driver.acquire(fetch) == token("theirs")
    assert fetch.calls == 0


def test_the_lease_of_a_vanished_holder_lapses_and_is_taken_over():
    clock, fetch = Clock(), Fetch()
    store = Store(SharedRecord(FP).claimed("killed-pod", NOW + LEASE_SECONDS).to_json())
    assert refresh(store, clock).acquire(fetch) == token("new")
    assert fetch.calls == 1
    assert clock.now >= NOW + LEASE_SECONDS


def test_a_rejected_token_is_replaced_once_for_every_process():
    clock = Clock()
    store = Store(SharedRecord(FP, token=token("revoked"), generation=4).to_json())
    first, second = Fetch(token("replacement")), Fetch(token("another"))
    assert refresh(store, clock, rejected={"revoked"}).acquire(first) == token("replacement")
    assert store.record.generation == 5
    # A second process (another host) that saw the same token rejected finds the replacement.
    assert refresh(store, clock, rejected={"revoked"}).acquire(second) == token("replacement")
    assert (first.calls, second.calls) == (1, 0)


def test_a_refused_refresh_token_is_remembered_and_fails_the_others_fast():
    clock = Clock()
    store = Store()
    refused = ZohoCRMAuthError("invalid refresh token", code="invalid_code", status_code=200)
    fetch = Fetch(refused)
    with pytest.raises(ZohoCRMAuthError):
        refresh(store, clock).acquire(fetch)
    assert store.record.failure is not None
    assert store.record.lease is None
    clock.now += 5
    others = Fetch()
    for _ in range(20):
        with pytest.raises(ZohoCRMAuthError) as raised:
            refresh(store, clock).acquire(others)
        assert raised.value.code == "invalid_code"
        assert "\n" not in str(raised.value)
        assert "remembered from another task" in str(raised.value)
    assert others.calls == 0
    assert fetch.calls == 1
    # After the refusal lapses one task asks Zoho again (a new refresh token may be set by then).
    clock.now += FAILURE_SECONDS
    assert refresh(store, clock).acquire(others) == token("new")
    assert store.record.failure is None


def test_a_throttled_holder_keeps_the_lease_and_uses_a_token_shared_meanwhile():
    clock = Clock()
    store = Store()
    throttled = ZohoCRMRateLimitError("Access Denied", code=TOKEN_THROTTLED)
    fetch = Fetch(throttled)
    driver = refresh(store, clock)

    def shared_during_the_wait(s: Store) -> None:
        if fetch.calls and clock() > NOW + 2:
            s.value = SharedRecord(FP, token=token("theirs"), generation=1).to_json()

    store.on_read = shared_during_the_wait
    assert driver.acquire(fetch) == token("theirs")
    assert fetch.calls == 1
    renewed = store.writes[-1]["lease"]
    assert renewed["holder"] == driver.holder
    assert renewed["until"] > NOW + LEASE_SECONDS


def test_a_throttled_holder_asks_again_after_the_wait():
    clock = Clock()
    store = Store()
    fetch = Fetch(ZohoCRMRateLimitError("Access Denied", code=TOKEN_THROTTLED), token("new"))
    assert refresh(store, clock).acquire(fetch) == token("new")
    assert fetch.calls == 2
    assert store.record.token == token("new")
    assert store.record.lease is None


def test_a_network_failure_gives_the_lease_back():
    clock = Clock()
    store = Store()
    fetch = Fetch(ZohoCRMConnectionError("refused", code="CONNECTION_ERROR"))
    with pytest.raises(ZohoCRMConnectionError):
        refresh(store, clock).acquire(fetch)
    assert store.record.lease is None
    assert store.record.failure is None


def test_a_waiter_gives_up_with_a_clear_error_when_no_token_comes():
    clock = Clock()
    store = Store()
    store.on_read = lambda s: setattr(
        s, "value", SharedRecord(FP).claimed("stuck", clock() + LEASE_SECONDS).to_json()
    )
    fetch = Fetch()
    with pytest.raises(ZohoCRMRateLimitError) as raised:
        refresh(store, clock, policy=RetryPolicy(token_throttle_timeout=10)).acquire(fetch)
    assert raised.value.code == TOKEN_THROTTLED
    assert "another task" in str(raised.value)
    assert fetch.calls == 0
    assert clock.now - NOW <= 10 + 2 * LEASE_SECONDS + 1


def test_holder_ids_differ_between_tasks():
    assert token_lease.holder_id() != token_lease.holder_id()


def test_a_store_that_loses_every_write_costs_one_token_call_not_a_loop(caplog):
    class Forgetful(Store):
        def write(self, value: dict[str, Any]) -> None:
            self.writes.append(value)

    clock, fetch = Clock(), Fetch()
    assert refresh(Forgetful(), clock).acquire(fetch) == token("new")
    assert fetch.calls == 1
    assert "without it" in caplog.text


def test_a_store_that_cannot_be_read_costs_one_token_call_not_a_loop():
    class Unreadable(Store):
        def read(self) -> Any:
            return None

    clock, fetch = Clock(), Fetch()
    assert refresh(Unreadable(), clock).acquire(fetch) == token("new")
    assert fetch.calls == 1


def test_a_store_that_loses_writes_while_holding_a_rejected_token_costs_one_call_not_a_loop():
    class Forgetful(Store):
        def write(self, value: dict[str, Any]) -> None:
            self.writes.append(value)

    clock, fetch = Clock(), Fetch()
    store = Forgetful(SharedRecord(FP, token=token("revoked"), generation=4).to_json())
    stop_after = 50

    def bounded_sleep(seconds: float) -> None:
        assert len(clock.slept) < stop_after, "claimed again and again without creating a token"
        clock.sleep(seconds)

    lease = ClusterRefresh(
        store,
        FP,
        sleep=bounded_sleep,
        clock=clock,
        rng=random.Random(1),
        policy=RetryPolicy(token_throttle_timeout=120.0),
        rejected={"revoked"},
    )
    assert lease.acquire(fetch) == token("new")
    assert fetch.calls == 1


def test_no_token_value_reaches_the_records_repr_a_log_line_or_an_error(caplog):
    caplog.set_level("DEBUG")
    secret = "1000.secret-access-token-value"
    clock = Clock()
    store = Store(SharedRecord(FP, token=token(secret), generation=1).to_json())
    throttled = ZohoCRMRateLimitError("too many requests", code=TOKEN_THROTTLED)
    refused = ZohoCRMAuthError("invalid refresh token", code="invalid_code", status_code=200)
    fetch = Fetch(throttled, refused)
    with pytest.raises(ZohoCRMAuthError) as first:
        refresh(store, clock, rejected={secret}).acquire(fetch)
    with pytest.raises(ZohoCRMAuthError) as second:
        refresh(store, clock, rejected={secret}).acquire(Fetch())
    assert secret in str(store.value)  # the record does hold it: the checks below are not vacuous
    texts = [repr(store.record), str(store.record), str(first.value), str(second.value), caplog.text]
    assert not [text for text in texts if secret in text]


def test_the_shared_variable_is_masked_by_airflow():
    """Airflow masks a Variable's value in logs and the UI only when its key names a secret."""
    from airflow.sdk._shared.secrets_masker.secrets_masker import should_hide_value_for_key

    from airflow_provider_zoho_attach.utils.tokens import variable_key

    assert should_hide_value_for_key(variable_key(FP))
    assert should_hide_value_for_key("access_token")  # the key the record holds the token under
