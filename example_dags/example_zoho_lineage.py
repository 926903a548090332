"""
Lineage and assets: back up a deal's attachments, attach a summary, and tell Airflow what was written.

Every Zoho CRM operator reports what it read and wrote to OpenLineage (with the ``openlineage``
extra installed and configured) without any argument. For Airflow's own asset events, give an
operator outlets: a static ``Asset`` for a record known when the DAG is written, or an
``AssetAlias`` that the operator fills at run time with every asset it wrote (each record's
``zoho-crm://<api host>/<module>/<id>/attachments``, and each file it downloaded).

``example_zoho_lineage_consumer`` runs whenever the backup task has written something.

Targets come from the DAG params; the defaults are records of the bundled emulator's demo data.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Asset, AssetAlias, Param, task

from airflow_provider_zoho_attach.operators.attachments import (
    ZohoCRMDownloadAttachmentsOperator,
    ZohoCRMUploadAttachmentOperator,
)

# [START howto_asset_zoho_crm_static]
# One record's attachments, as the event trigger's AssetWatcher watches it (see event-driven DAGs).
ACME_DEAL = Asset("zoho-crm://www.zohoapis.com/Deals/5725767000000100001/attachments")
# [END howto_asset_zoho_crm_static]

# [START howto_asset_zoho_crm_alias]
BACKUPS = AssetAlias("zoho_crm_backups")
SUMMARIES = AssetAlias("zoho_crm_summaries")
# [END howto_asset_zoho_crm_alias]

with DAG(
    dag_id="example_zoho_lineage",
    description="Back up a deal's attachments and attach a summary; lineage and asset events",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    params={
        "zoho_conn_id": Param("zoho_crm_default", type="string"),
        "deal_id": Param("5725767000000100001", type="string"),
        "destination": Param("file:///tmp/zoho-backup/{module}/{record_id}/", type="string"),
        "summary": Param("/tmp/zoho-backup/summary.txt", type="string"),
    },
    tags=["example", "zoho-crm"],
) as dag:
    # [START howto_operator_zoho_outlets]
    backup = ZohoCRMDownloadAttachmentsOperator(
        task_id="backup_deal_attachments",
        zoho_conn_id="{{ params.zoho_conn_id }}",
        module="Deals",
        record_id="{{ params.deal_id }}",
        destination="{{ params.destination }}",
        # One asset event per file written (file:///tmp/zoho-backup/Deals/<id>/<name>).
        outlets=[BACKUPS],
    )

    @task
    def write_summary(results: list[dict], path: str) -> str:
        lines = [f"{r['file_name']}\t{r['size']}\t{r['sha256']}" for r in results]
        with open(path, "w", encoding="utf-8") as summary:
            summary.write("\n".join(lines) + "\n")
        return path

    attach_summary = ZohoCRMUploadAttachmentOperator(
        task_id="attach_summary",
        zoho_conn_id="{{ params.zoho_conn_id }}",
        module="Deals",
        record_id="{{ params.deal_id }}",
        source="{{ ti.xcom_pull(task_ids='write_summary') }}",
        # One asset event for the deal: zoho-crm://<api host>/Deals/<id>/attachments.
        outlets=[SUMMARIES],
    )
    # [END howto_operator_zoho_outlets]

    backup >> write_summary(backup.output, "{{ params.summary }}") >> attach_summary


# [START howto_asset_zoho_crm_consumer]
with DAG(
    dag_id="example_zoho_lineage_consumer",
    description="Runs when the backup task of example_zoho_lineage wrote files",
    schedule=BACKUPS,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example", "zoho-crm"],
) as consumer:

    @task(inlets=[BACKUPS])
    def report(*, triggering_asset_events=None) -> list[str]:
        return sorted(asset.uri for asset in (triggering_asset_events or {}))

    report()
# [END howto_asset_zoho_crm_consumer]
