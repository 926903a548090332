"""The find operator's output expands a download operator over the records it found (``dag.test()``)."""

from __future__ import annotations

import pendulum
import pytest
from airflow.sdk import DAG

from airflow_provider_zoho_attach.operators.attachments import ZohoCRMDownloadAttachmentsOperator
from airflow_provider_zoho_attach.operators.records import ZohoCRMFindRecordsOperator
from tests.e2e.conftest import run_dag, task_states, xcom

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def test_found_records_expand_a_download(airflow_db, zoho_emulator_connection, tmp_path):
    emu = zoho_emulator_connection
    won, lost, won_too = emu.add_records("Deals", [{"Stage": "Won"}, {"Stage": "Lost"}, {"Stage": "Won"}])
    for deal in (won, lost, won_too):
        emu.add_attachment("Deals", deal, f"{deal}.pdf", b"%PDF " + deal.encode())

    with DAG(
        "zoho_find_and_download", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")
    ) as dag:
        found = ZohoCRMFindRecordsOperator(task_id="find", module="deals", where="Stage = 'Won'")
        ZohoCRMDownloadAttachmentsOperator.partial(
            task_id="download", destination=str(tmp_path / "{record_id}")
        ).expand_kwargs(found.output)

    run = run_dag(dag)
    assert set(task_states(run).values()) == {"success"}, task_states(run)
    assert xcom(run, "find") == [
        {"module": "Deals", "record_id": won},
        {"module": "Deals", "record_id": won_too},
    ]
    assert sorted(p.name for p in tmp_path.rglob("*.pdf")) == sorted([f"{won}.pdf", f"{won_too}.pdf"])
    assert (tmp_path / won / f"{won}.pdf").read_bytes() == b"%PDF " + won.encode()
