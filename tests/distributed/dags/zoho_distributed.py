"""
The DAGs of the distributed tests (every host gets a copy, as a DAG bundle would give it).

Both take what they work on from the run's conf, so one parsed DAG serves every scenario:
``{"record_ids": [...], "destination": "/shared/dir"}`` for the downloads,
``{"record_ids": [...], "poll_interval": 10}`` for the sensors.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, task

from airflow_provider_zoho_attach.operators.attachments import ZohoCRMDownloadAttachmentsOperator
from airflow_provider_zoho_attach.sensors.attachments import ZohoCRMNewAttachmentSensor

# Retries as a production DAG has them: a task on a host that died is tried again elsewhere.
DEFAULT_ARGS = {"retries": 2, "retry_delay": timedelta(seconds=5)}


@task
def record_ids(**context) -> list[str]:
    """The records of this run (from its conf)."""
    return list(context["dag_run"].conf["record_ids"])


with DAG(
    "zoho_distributed_downloads",
    schedule=None,
    catchup=False,
    default_args=DEFAULT_ARGS,
    max_active_runs=1,
    tags=["distributed-test"],
):
    ZohoCRMDownloadAttachmentsOperator.partial(
        task_id="download",
        module="Deals",
        destination="{{ dag_run.conf['destination'] }}/",
        max_concurrency=1,
    ).expand(record_id=record_ids())


with DAG(
    "zoho_distributed_sensors",
    schedule=None,
    catchup=False,
    default_args=DEFAULT_ARGS,
    max_active_runs=1,
    tags=["distributed-test"],
):
    ZohoCRMNewAttachmentSensor.partial(
        task_id="wait",
        module="Deals",
        deferrable=True,
        poll_interval="{{ dag_run.conf['poll_interval'] }}",
        timeout=1800,
    ).expand(record_id=record_ids())
