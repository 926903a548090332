"""
Nightly mirror of the documents of closed-won deals into object storage, with a manifest.

Every night the attachments of the deals whose ``Stage`` is ``Closed Won`` (and the files of their
file-upload and image-upload fields) are mirrored under ``<destination>/Deals/<deal id>/``; only
what is new or changed is downloaded, and ``<destination>/manifest.jsonl`` lists every file. The
destination comes from the ``destination`` param, else the ``zoho_mirror_destination`` Airflow
Variable (``s3://bucket/zoho/closed-won/`` in production), else a local directory, so the DAG
runs as it is against the bundled emulator.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_zoho_attach.operators.mirror import ZohoCRMMirrorAttachmentsOperator

with DAG(
    dag_id="example_zoho_mirror_closed_won",
    description="Mirror the attachments of closed-won deals, only what changed, within a credit budget",
    schedule="0 2 * * *",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    # One mirror at a time into one destination: two runs would race on its manifest.
    max_active_runs=1,
    params={
        "zoho_conn_id": Param("zoho_crm_default", type="string"),
        # None: the zoho_mirror_destination Variable, else /tmp/zoho-mirror/closed-won.
        "destination": Param(None, type=["null", "string"]),
        "max_credits": Param(5000, type="integer", minimum=1),
        "delete_missing": Param(False, type="boolean"),
        "dry_run": Param(False, type="boolean"),
    },
    tags=["example", "zoho-crm"],
) as dag:
    # [START howto_operator_zoho_mirror]
    mirror = ZohoCRMMirrorAttachmentsOperator(
        task_id="mirror_closed_won_deals",
        zoho_conn_id="{{ params.zoho_conn_id }}",
        module="Deals",
        where="Stage = 'Closed Won'",
        destination=(
            "{{ params.destination"
            " or var.value.get('zoho_mirror_destination', '/tmp/zoho-mirror/closed-won') }}"
        ),
        include_field_files=True,
        # Files of attachments deleted in Zoho (or of deals no longer won) are removed only if asked.
        delete_missing="{{ params.delete_missing }}",
        # Stop before passing this many API credits; the next run resumes where this one stopped.
        max_credits="{{ params.max_credits }}",
        dry_run="{{ params.dry_run }}",
    )
    # [END howto_operator_zoho_mirror]
