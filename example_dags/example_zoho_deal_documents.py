"""
Deal documents: collect a deal's attachments and the files of its file and image fields into one
folder, then put the signed contract into the deal's ``Signed_Contract`` file-upload field.

Targets come from the DAG params; the defaults are records of the bundled emulator's demo data,
whose Deals have a ``Signed_Contract`` file field and a ``Photos`` image field.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_zoho_attach.operators.attachments import ZohoCRMDownloadAttachmentsOperator
from airflow_provider_zoho_attach.operators.field_files import ZohoCRMUploadFieldFilesOperator

with DAG(
    dag_id="example_zoho_deal_documents",
    description="Collect a deal's attachments and field files; file the signed contract",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    params={
        "zoho_conn_id": Param("zoho_crm_default", type="string"),
        "deal_id": Param("5725767000000100001", type="string"),
        "destination": Param("file:///tmp/zoho-deal-documents/{module}/{record_id}/", type="string"),
        # A signed contract to file; by default the copy collected by the first task.
        "signed_contract": Param(None, type=["null", "string"]),
    },
    tags=["example", "zoho-crm"],
) as dag:
    # [START howto_operator_zoho_download_with_field_files]
    collect = ZohoCRMDownloadAttachmentsOperator(
        task_id="collect_deal_documents",
        zoho_conn_id="{{ params.zoho_conn_id }}",
        module="Deals",
        record_id="{{ params.deal_id }}",
        destination="{{ params.destination }}",
        # Attachments and the files of every file-upload and image-upload field of the deal.
        include_field_files=True,
    )
    # [END howto_operator_zoho_download_with_field_files]

    # [START howto_operator_zoho_upload_field_files]
    file_contract = ZohoCRMUploadFieldFilesOperator(
        task_id="file_signed_contract",
        zoho_conn_id="{{ params.zoho_conn_id }}",
        module="Deals",
        record_id="{{ params.deal_id }}",
        field="Signed_Contract",
        source=(
            "{{ params.signed_contract or (ti.xcom_pull(task_ids='collect_deal_documents')"
            " | selectattr('field', 'defined') | selectattr('field', 'equalto', 'Signed_Contract')"
            " | map(attribute='path') | first) }}"
        ),
        # The field holds one file: the contract replaces what it held (a re-run sends nothing).
        replace=True,
    )
    # [END howto_operator_zoho_upload_field_files]

    collect >> file_contract
