"""
Document sync: each day, copy the attachments added to a set of Zoho CRM records since the last run
into object storage (one mapped task per record), then attach a summary of what was copied to a record.

Targets come from the DAG params; the defaults are the records of the bundled emulator's demo data.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_provider_zoho_attach.operators.attachments import (
    ZohoCRMDownloadAttachmentsOperator,
    ZohoCRMListAttachmentsOperator,
    ZohoCRMUploadAttachmentOperator,
)

with DAG(
    dag_id="example_zoho_document_sync",
    description="Copy new Zoho CRM attachments to object storage and attach a summary",
    # Data intervals (not trigger times): each run covers the day since the previous run.
    schedule=CronDataIntervalTimetable("0 6 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params={
        "zoho_conn_id": Param("zoho_crm_default", type="string"),
        "module": Param("Deals", type="string"),
        "record_ids": Param(["5725767000000100001", "5725767000000100002"], type="array"),
        "destination": Param("file:///tmp/zoho-document-sync/", type="string"),
        "summary_record_id": Param("5725767000000100001", type="string"),
        # Leave empty to use the data interval; set an ISO time to re-sync from further back.
        "since": Param(None, type=["null", "string"]),
    },
    tags=["example", "zoho-crm"],
) as dag:

    @task
    def record_ids(params: dict | None = None) -> list[str]:
        """The records to sync, from the params (strings of digits)."""
        assert params is not None
        return [str(record_id) for record_id in params["record_ids"]]

    # [START howto_operator_zoho_list_attachments_mapped]
    listed = ZohoCRMListAttachmentsOperator.partial(
        task_id="list_new_attachments",
        zoho_conn_id="{{ params.zoho_conn_id }}",
        module="{{ params.module }}",
        # A manual run without a logical date has no data interval: then everything is listed
        # (downloads of files already there are skipped as unchanged).
        created_after="{{ params.since or (data_interval_start | default('', true)) }}",
        created_before="{{ data_interval_end | default('', true) }}",
    ).expand(record_id=record_ids())
    # [END howto_operator_zoho_list_attachments_mapped]

    # [START howto_operator_zoho_download_attachments_mapped]
    downloaded = ZohoCRMDownloadAttachmentsOperator.partial(
        task_id="download_new_attachments",
        zoho_conn_id="{{ params.zoho_conn_id }}",
        module="{{ params.module }}",
        # {module} and {record_id} are filled in per mapped task.
        destination="{{ params.destination }}{{ dag_run.run_after | ds }}/{module}/{record_id}/",
    ).expand(attachment_ids=listed.output)
    # [END howto_operator_zoho_download_attachments_mapped]

    @task
    def write_summary(results: list[list[dict]], params: dict | None = None, dag_run: Any = None) -> str:
        """Write a CSV of what was copied next to the files, and return where it is."""
        from airflow.sdk import ObjectStoragePath

        assert params is not None
        day = dag_run.run_after.date().isoformat()
        rows = [row for per_record in results for row in per_record]
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["record_id", "attachment_id", "file_name", "size", "sha256", "path", "status"])
        for row in rows:
            writer.writerow(
                [
                    row["record_id"],
                    row["attachment_id"],
                    row["file_name"],
                    row["size"],
                    row["sha256"],
                    row["path"],
                    row["status"],
                ]
            )
        target = ObjectStoragePath(f"{params['destination']}{day}/sync-summary-{day}.csv")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(buffer.getvalue())
        return str(target)

    summary = write_summary(downloaded.output)

    # [START howto_operator_zoho_upload_attachment]
    attach_summary = ZohoCRMUploadAttachmentOperator(
        task_id="attach_summary",
        zoho_conn_id="{{ params.zoho_conn_id }}",
        module="{{ params.module }}",
        record_id="{{ params.summary_record_id }}",
        source=summary,
    )
    # [END howto_operator_zoho_upload_attachment]
