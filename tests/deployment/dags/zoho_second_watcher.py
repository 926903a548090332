"""
A second watcher of the deal the event-driven example watches (tests/deployment only).

Its trigger differs from the example's (a file name pattern), so Airflow keeps two triggers; on
Airflow 3.3 they share one poll of the connection. The consumer does nothing: the test counts the
asset events.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Asset, AssetWatcher, Variable, task

from airflow_provider_zoho_attach.triggers.attachments import ZohoCRMAttachmentEventTrigger

WATCH = Variable.get(
    "zoho_watch_records", default={"module": "Deals", "record_ids": []}, deserialize_json=True
)

second_watch = Asset(
    "zoho_crm_second_watch",
    watchers=[
        AssetWatcher(
            name="zoho_crm_second_watcher",
            trigger=ZohoCRMAttachmentEventTrigger(
                module=WATCH["module"],
                record_ids=WATCH["record_ids"],
                file_name_pattern="*",
                poll_interval=float(WATCH.get("poll_interval", 30)),
            ),
        )
    ],
)

with DAG(
    dag_id="zoho_second_watcher",
    schedule=[second_watch],
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["test", "zoho-crm"],
):

    @task
    def took_events(triggering_asset_events: dict | None = None) -> int:
        return sum(len(events) for events in (triggering_asset_events or {}).values())

    took_events()
