"""
Wait for a document: a deferrable sensor waits (in the triggerer, not on a worker) until a PDF is
attached to a Zoho CRM record, then the new file is downloaded.

Targets come from the DAG params; the defaults are a record of the bundled emulator's demo data.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_zoho_attach.operators.attachments import ZohoCRMDownloadAttachmentsOperator
from airflow_provider_zoho_attach.sensors.attachments import ZohoCRMNewAttachmentSensor

with DAG(
    dag_id="example_zoho_wait_for_contract",
    description="Wait for a signed contract on a deal, then download it",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    params={
        "zoho_conn_id": Param("zoho_crm_default", type="string"),
        "module": Param("Deals", type="string"),
        "record_id": Param("5725767000000100002", type="string"),
        "file_name_pattern": Param("*.pdf", type="string"),
        "destination": Param("file:///tmp/zoho-contracts/", type="string"),
        "poll_interval": Param(60, type="number"),
    },
    tags=["example", "zoho-crm"],
) as dag:
    # [START howto_sensor_zoho_new_attachment_deferrable]
    wait_for_contract = ZohoCRMNewAttachmentSensor(
        task_id="wait_for_contract",
        zoho_conn_id="{{ params.zoho_conn_id }}",
        module="{{ params.module }}",
        record_id="{{ params.record_id }}",
        file_name_pattern="{{ params.file_name_pattern }}",
        # Only attachments created since the run started count (the default).
        deferrable=True,
        poll_interval="{{ params.poll_interval }}",
        timeout=60 * 60 * 24,
    )
    # [END howto_sensor_zoho_new_attachment_deferrable]

    # [START howto_operator_zoho_download_sensor_output]
    download_contract = ZohoCRMDownloadAttachmentsOperator(
        task_id="download_contract",
        zoho_conn_id="{{ params.zoho_conn_id }}",
        module="{{ params.module }}",
        record_id="{{ params.record_id }}",
        attachment_ids=wait_for_contract.output,
        destination="{{ params.destination }}{{ params.record_id }}/",
    )
    # [END howto_operator_zoho_download_sensor_output]

    wait_for_contract >> download_contract
