"""
Many hosts, one org: download the attachments of many records, one mapped task per record, on a
distributed Airflow (Celery or Kubernetes executor), within the org's limit of concurrent calls.

The ``zoho_crm`` pool bounds how many of these tasks run at once across the whole deployment (see
the deployment guide): create it once, sized to the org's edition limit divided by each task's
``max_concurrency``, e.g. ``airflow pools set zoho_crm 5 "Zoho CRM concurrent calls"``.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_zoho_attach.operators.attachments import ZohoCRMDownloadAttachmentsOperator

with DAG(
    dag_id="example_zoho_pool",
    description="Download the attachments of many Zoho CRM records within the org's concurrency limit",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    params={
        "record_ids": Param(["5725767000000100001", "5725767000000100002"], type="array"),
        "destination": Param("file:///tmp/zoho-pool/", type="string"),
    },
    tags=["example", "zoho-crm"],
) as dag:

    @task
    def record_ids(params: dict | None = None) -> list[str]:
        """The records whose attachments to download, from the params."""
        assert params is not None
        return [str(record_id) for record_id in params["record_ids"]]

    # [START howto_operator_zoho_download_in_a_pool]
    ZohoCRMDownloadAttachmentsOperator.partial(
        task_id="download_record_attachments",
        module="Deals",
        destination="{{ params.destination }}{record_id}/",
        # At most <pool size> of these tasks call Zoho at once, whichever hosts they run on.
        pool="zoho_crm",
        # One call in flight per task: the pool's slots are then the org's concurrent calls.
        max_concurrency=1,
        retries=2,
    ).expand(record_id=record_ids())
    # [END howto_operator_zoho_download_in_a_pool]
