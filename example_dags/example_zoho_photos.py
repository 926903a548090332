"""
Record photos: copy the photo of a Zoho CRM contact to a lead, keeping a copy in object storage.

Targets come from the DAG params; the defaults are records of the bundled emulator's demo data.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_zoho_attach.operators.photos import (
    ZohoCRMDownloadPhotoOperator,
    ZohoCRMUploadPhotoOperator,
)

with DAG(
    dag_id="example_zoho_photos",
    description="Copy a contact's photo to a lead",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    params={
        "zoho_conn_id": Param("zoho_crm_default", type="string"),
        "contact_id": Param("5725767000000300001", type="string"),
        "lead_id": Param("5725767000000200001", type="string"),
        "destination": Param("file:///tmp/zoho-photos/", type="string"),
    },
    tags=["example", "zoho-crm"],
) as dag:
    # [START howto_operator_zoho_download_photo]
    download_photo = ZohoCRMDownloadPhotoOperator(
        task_id="download_contact_photo",
        zoho_conn_id="{{ params.zoho_conn_id }}",
        module="Contacts",
        record_id="{{ params.contact_id }}",
        destination="{{ params.destination }}",
        overwrite=True,
    )
    # [END howto_operator_zoho_download_photo]

    # [START howto_operator_zoho_upload_photo]
    upload_photo = ZohoCRMUploadPhotoOperator(
        task_id="set_lead_photo",
        zoho_conn_id="{{ params.zoho_conn_id }}",
        module="Leads",
        record_id="{{ params.lead_id }}",
        source="{{ ti.xcom_pull(task_ids='download_contact_photo')['path'] }}",
    )
    # [END howto_operator_zoho_upload_photo]

    download_photo >> upload_photo
