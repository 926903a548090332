"""The record link never makes Airflow log ``XCom not found``: normal runs, deferrals, failures."""

from __future__ import annotations

import pendulum
import pytest
from airflow.sdk import DAG

from airflow_provider_zoho_attach.operators.attachments import (
    ZohoCRMDownloadAttachmentsOperator,
    ZohoCRMListAttachmentsOperator,
)
from airflow_provider_zoho_attach.sensors.attachments import ZohoCRMNewAttachmentSensor
from tests.e2e.conftest import run_dag, task_states, xcom
from tests.e2e.test_sensor_dag import _iso, add_when_polled

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

START = pendulum.datetime(2024, 1, 1, tz="UTC")


def test_no_xcom_not_found_error_in_any_kind_of_run(airflow_db, zoho_emulator_connection, tmp_path, capfd):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    emu.add_attachment("Deals", record, "a.pdf", b"%PDF a")
    with DAG("zoho_link_noise", schedule=None, start_date=START, catchup=False) as dag:
        ZohoCRMListAttachmentsOperator(task_id="listed", module="Deals", record_id=record)
        # Nothing to do: returns before the link is stored.
        ZohoCRMDownloadAttachmentsOperator(
            task_id="nothing", module="Deals", attachment_ids=[], destination=str(tmp_path)
        )
        # Fails on its input, before any request and before the link is stored.
        ZohoCRMListAttachmentsOperator(task_id="bad_input", module="Deals", record_id="not-an-id")
        # Defers (nothing there yet), then resumes when the file lands.
        ZohoCRMNewAttachmentSensor(
            task_id="deferred",
            module="Deals",
            record_id=record,
            since=_iso(-60),
            file_name_pattern="*.signed",
            poll_interval=0.05,
            timeout=60,
            deferrable=True,
        )
    added, thread = add_when_polled(emu, record, polls=3, name="contract.signed")
    dag_run = run_dag(dag)
    thread.join(5)
    out, err = capfd.readouterr()
    states = task_states(dag_run)
    assert states["listed"] == "success"
    assert states["nothing"] == "success"
    assert states["bad_input"] == "failed"
    assert states["deferred"] == "success"
    assert [a["id"] for a in xcom(dag_run, "deferred")] == [added["id"]]
    noisy = [line for line in (out + err).splitlines() if "XCom not found" in line]
    assert not noisy, "\n".join(noisy[:5])
    # The link is still there where the task got far enough to know the record.
    link = xcom(dag_run, "listed", key="_link_ZohoCRMRecordLink")
    assert link.endswith(f"/crm/tab/Potentials/{record}")
    assert xcom(dag_run, "bad_input", key="_link_ZohoCRMRecordLink") == ""
