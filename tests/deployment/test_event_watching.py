"""
Event watching on a real deployment (Airflow >= 3.3): two watchers of one deal (the event-driven
example's and tests/deployment/dags/zoho_second_watcher.py's) share one poll; attachments arrive
while the triggerer is restarted twice, and each one fires exactly once per watcher.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from tests.deployment._deployment import SUMMARY, Deployment

pytestmark = pytest.mark.deployment

WATCHERS = {
    "example_zoho_attachment_events": "zoho_crm_new_deal_attachments",
    "zoho_second_watcher": "zoho_crm_second_watch",
}
SUBSCRIBED = "through the shared poll of"


def _listings(zoho: Any, record_id: str) -> list[Any]:
    suffix = f"/{record_id}/Attachments"
    return [r for r in zoho.requests if r.method == "GET" and r.path.endswith(suffix)]


def _events(deployment: Deployment) -> Counter | None:
    """
    How many asset events each (asset name, attachment id) has, over all pages.

    ``None`` while Airflow 3.3.2 cannot answer: ``GET /assets/events`` fails (500) while a run an
    event created has not started yet (its ``start_date`` is null); it answers again once it has.
    """
    counts: Counter = Counter()
    offset = 0
    while True:
        response = deployment.api(
            "GET", "/assets/events", params={"limit": 100, "offset": offset}, expect=None
        )
        if response.status_code == 500:
            return None
        response.raise_for_status()
        events = response.json()["asset_events"]
        for event in events:
            payload = (event.get("extra") or {}).get("payload") or {}
            if event.get("name") in WATCHERS.values() and payload.get("attachment_id"):
                counts[(event["name"], payload["attachment_id"])] += 1
        if len(events) < 100:
            return counts
        offset += 100


def _counted(deployment: Deployment) -> Counter:
    """:func:`_events`, waiting for an answer."""

    def answered() -> list[Counter] | None:
        counts = _events(deployment)
        return None if counts is None else [counts]  # an empty Counter is an answer too

    return deployment.wait_for(answered, timeout=120, what="the asset events", interval=1.0)[0]


def _subscriptions(deployment: Deployment) -> int:
    return deployment.log_text("triggerer").count(SUBSCRIBED)


def _restart_triggerer(deployment: Deployment, zoho: Any, record: str, name: str) -> str:
    """Stop the triggerer, attach a file while it is down, start it; wait until both watchers are back."""
    before = _subscriptions(deployment)
    deployment.stop_component("triggerer")
    attachment = zoho.add_attachment("Deals", record, name, b"while the triggerer was down")
    deployment.restart_component("triggerer")
    deployment.wait_for(
        lambda: _subscriptions(deployment) >= before + 2,
        timeout=180,
        what="both watchers to join the shared poll again",
        interval=1.0,
    )
    return attachment


def test_attachments_fire_once_per_watcher_across_two_triggerer_restarts(
    deployment: Deployment, zoho: Any, watched_record: str
) -> None:
    if deployment.airflow_version < (3, 3):
        pytest.skip("shared streams and the asset state store need Airflow >= 3.3")
    for dag_id in WATCHERS:
        deployment.wait_for_dag(dag_id)
        deployment.unpause(dag_id)
        deployment.reparse(dag_id)
    deployment.wait_for(
        lambda: _subscriptions(deployment) >= 2,
        timeout=180,
        what="both watchers in the shared poll",
        interval=1.0,
    )
    seen = len(_listings(zoho, watched_record))
    deployment.wait_for(
        lambda: len(_listings(zoho, watched_record)) >= seen + 2, timeout=60, what="two shared polls"
    )
    baseline = _counted(deployment)

    # Two watchers of one record: one listing per poll interval, not two.
    window_start = time.monotonic()
    polled_before = len(_listings(zoho, watched_record))
    deployment.wait_for(lambda: time.monotonic() - window_start >= 30, timeout=60, what="30 s of polling")
    polls = len(_listings(zoho, watched_record)) - polled_before
    SUMMARY["shared_poll_listings_in_30s"] = polls
    assert polls <= 30 / 5 + 2, f"{polls} listings in 30 s for two watchers polling every 5 s"

    attached = [zoho.add_attachment("Deals", watched_record, "first.txt", b"1")]
    attached.append(zoho.add_attachment("Deals", watched_record, "just-before-restart-1.txt", b"2"))
    attached.append(_restart_triggerer(deployment, zoho, watched_record, "during-restart-1.txt"))
    attached.append(zoho.add_attachment("Deals", watched_record, "between-restarts.txt", b"4"))
    attached.append(_restart_triggerer(deployment, zoho, watched_record, "during-restart-2.txt"))
    attached.append(zoho.add_attachment("Deals", watched_record, "after-restarts.txt", b"6"))

    wanted = {(asset, attachment) for asset in WATCHERS.values() for attachment in attached}
    deployment.wait_for(
        lambda: wanted <= set((_events(deployment) or Counter()) - baseline),
        timeout=240,
        what="an asset event per watcher for every attachment",
        interval=2.0,
    )
    # A few more polls: nothing fires again.
    seen = len(_listings(zoho, watched_record))
    deployment.wait_for(
        lambda: len(_listings(zoho, watched_record)) >= seen + 3, timeout=60, what="three more polls"
    )
    time.sleep(3)  # what Airflow would make of an event from the last poll
    counts = _counted(deployment) - baseline
    SUMMARY["watched_events_per_attachment"] = sorted(set(counts.values()))
    assert set(counts) == wanted, set(counts) ^ wanted
    assert all(count == 1 for count in counts.values()), counts
