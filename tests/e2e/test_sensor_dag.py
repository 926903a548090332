"""The sensor in poke, reschedule and deferrable modes, in real ``dag.test()`` runs against the emulator."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pendulum
import pytest
from airflow.sdk import DAG

from airflow_provider_zoho_attach.sensors.attachments import ZohoCRMNewAttachmentSensor
from tests.e2e.conftest import run_dag, task_states, xcom

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

START = pendulum.datetime(2024, 1, 1, tz="UTC")


def _iso(delta_seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=delta_seconds)).replace(microsecond=0).isoformat()


def add_when_polled(emu, record, polls, name="signed.pdf"):
    """Add an attachment once the sensor has looked ``polls`` times (a condition, not a delay)."""
    added = {}

    def wait_then_add():
        deadline = time.monotonic() + 60
        while emu.count(path_contains=f"/{record}/Attachments") < polls and time.monotonic() < deadline:
            time.sleep(0.01)
        added["id"] = emu.add_attachment("Deals", record, name, b"%PDF signed")

    thread = threading.Thread(target=wait_then_add, daemon=True)
    thread.start()
    return added, thread


@pytest.mark.parametrize("mode", ["poke", "reschedule", "deferrable"])
def test_sensor_waits_for_exactly_the_new_attachment(airflow_db, zoho_emulator_connection, mode):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    emu.add_attachment("Deals", record, "old.pdf", b"old", created_time=_iso(-86400))
    known = emu.add_attachment("Deals", record, "known.pdf", b"known")
    emu.add_attachment("Deals", record, "notes.txt", b"not a pdf")
    added, thread = add_when_polled(emu, record, polls=3)
    with DAG(f"zoho_sensor_{mode}", schedule=None, start_date=START, catchup=False) as dag:
        ZohoCRMNewAttachmentSensor(
            task_id="wait",
            module="Deals",
            record_id=record,
            since=_iso(-60),
            known_ids=[known],
            file_name_pattern="*.pdf",
            poke_interval=0.05,
            poll_interval=0.05,
            timeout=60,
            mode="reschedule" if mode == "reschedule" else "poke",
            deferrable=mode == "deferrable",
        )
    dag_run = run_dag(dag)
    thread.join(5)
    assert dag_run.state == "success", task_states(dag_run)
    assert [a["id"] for a in xcom(dag_run, "wait")] == [added["id"]]
    assert emu.count(path_contains=f"/{record}/Attachments") >= 3


def test_deferrable_sensor_with_the_attachment_already_there_does_not_defer(
    airflow_db, zoho_emulator_connection
):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    new = emu.add_attachment("Deals", record, "contract.pdf", b"%PDF")
    with DAG("zoho_sensor_ready", schedule=None, start_date=START, catchup=False) as dag:
        ZohoCRMNewAttachmentSensor(
            task_id="wait",
            module="Deals",
            record_id=record,
            since=_iso(-60),
            deferrable=True,
            poll_interval=0.05,
        )
    dag_run = run_dag(dag)
    assert dag_run.state == "success"
    assert [a["id"] for a in xcom(dag_run, "wait")] == [new]
    assert emu.count(path_contains=f"/{record}/Attachments") == 1  # one check, one call


@pytest.mark.parametrize(("soft_fail", "expected"), [(True, "skipped"), (False, "failed")])
def test_timeout_and_soft_fail(airflow_db, zoho_emulator_connection, soft_fail, expected):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    with DAG(f"zoho_sensor_timeout_{soft_fail}", schedule=None, start_date=START, catchup=False) as dag:
        ZohoCRMNewAttachmentSensor(
            task_id="wait",
            module="Deals",
            record_id=record,
            poke_interval=0.1,
            timeout=0.5,
            soft_fail=soft_fail,
        )
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"wait": expected}


def test_deferred_error_fails_the_task_with_zohos_code(airflow_db, zoho_emulator_connection):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")

    def revoke_after_first_check():
        deadline = time.monotonic() + 60
        while emu.count(path_contains=f"/{record}/Attachments") < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        emu.revoke_refresh_token(emu.refresh_token)
        emu.revoke_access_tokens()

    thread = threading.Thread(target=revoke_after_first_check, daemon=True)
    thread.start()
    with DAG("zoho_sensor_error", schedule=None, start_date=START, catchup=False) as dag:
        ZohoCRMNewAttachmentSensor(
            task_id="wait", module="Deals", record_id=record, deferrable=True, poll_interval=0.05, timeout=30
        )
    dag_run = run_dag(dag)
    thread.join(5)
    assert task_states(dag_run) == {"wait": "failed"}
    # The worker checked once, the triggerer then hit the revoked credentials.
    assert any(r.code == "invalid_code" for r in emu.requests if r.path == "/oauth/v2/token")


def test_execute_complete_raises_the_error_of_the_event():
    from airflow_provider_zoho_attach.exceptions import ZohoCRMAuthError, ZohoCRMError

    sensor = ZohoCRMNewAttachmentSensor(task_id="wait", module="Deals", record_id="1")
    error = ZohoCRMAuthError("bad", code="invalid_code", status_code=200, hint="new token")
    with pytest.raises(ZohoCRMAuthError) as info:
        sensor.execute_complete({}, {"status": "error", "error": error.to_dict(), "message": str(error)})
    assert info.value.code == "invalid_code"
    with pytest.raises(ZohoCRMError):
        sensor.execute_complete({}, None)
