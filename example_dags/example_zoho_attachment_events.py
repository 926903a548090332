"""
Event-driven: an AssetWatcher polls Zoho CRM records and the DAG runs whenever a new attachment
appears, downloading exactly the attachments it was told about.

The watch comes from the Variable ``zoho_watch_records`` (JSON: {"module", "record_ids", and optionally
"poll_interval" and "destination"}), read when the DAG file is parsed; the default is the demo data.

A run started by hand (``airflow dags test``, the UI's trigger button) has no asset events; it may
pass the watcher's event payloads as conf instead: ``{"events": [payload, ...]}``. That is how
``make demo`` shows this DAG without a scheduler and a triggerer.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Asset, AssetWatcher, Variable, task

from airflow_provider_zoho_attach.operators.attachments import ZohoCRMDownloadAttachmentsOperator
from airflow_provider_zoho_attach.triggers.attachments import ZohoCRMAttachmentEventTrigger

WATCH = Variable.get(
    "zoho_watch_records",
    default={"module": "Deals", "record_ids": ["5725767000000100001", "5725767000000100002"]},
    deserialize_json=True,
)

# [START howto_trigger_zoho_attachment_event_watcher]
new_deal_attachments = Asset(
    "zoho_crm_new_deal_attachments",
    watchers=[
        AssetWatcher(
            name="zoho_crm_deal_attachment_watcher",
            trigger=ZohoCRMAttachmentEventTrigger(
                module=WATCH["module"],
                record_ids=WATCH["record_ids"],
                poll_interval=float(WATCH.get("poll_interval", 30)),
            ),
        )
    ],
)
# [END howto_trigger_zoho_attachment_event_watcher]

with DAG(
    dag_id="example_zoho_attachment_events",
    description="Download each new Zoho CRM attachment as soon as it is attached",
    schedule=[new_deal_attachments],
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example", "zoho-crm"],
) as dag:
    # [START howto_trigger_zoho_attachment_event_consumer]
    @task
    def announced_attachments(triggering_asset_events: dict | None = None, dag_run=None) -> list[dict]:
        """One {"record_id", "attachment_ids"} per record, from the events that started this run."""
        payloads = [
            (event.extra or {}).get("payload") or {}
            for events in (triggering_asset_events or {}).values()
            for event in events
        ]
        if not payloads and dag_run is not None:
            # Started by hand: the payloads, if any, come as conf {"events": [...]}.
            payloads = list((dag_run.conf or {}).get("events") or [])
        by_record: dict[str, list[dict]] = {}
        for payload in payloads:
            if payload.get("attachment"):
                by_record.setdefault(payload["record_id"], []).append(payload["attachment"])
        return [{"record_id": record_id, "attachment_ids": items} for record_id, items in by_record.items()]

    ZohoCRMDownloadAttachmentsOperator.partial(
        task_id="download_announced_attachments",
        module=WATCH["module"],
        destination=WATCH.get("destination", "file:///tmp/zoho-events/") + "{record_id}/",
    ).expand_kwargs(announced_attachments())
    # [END howto_trigger_zoho_attachment_event_consumer]
