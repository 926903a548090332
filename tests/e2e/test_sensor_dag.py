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


def add_when_polled(emu, record, polls, name="signed.pdf", created_time=None):
    """Add an attachment once the sensor has looked ``polls`` times (a condition, not a delay)."""
    added = {}

    def wait_then_add():
        deadline = time.monotonic() + 60
        while emu.count(path_contains=f"/{record}/Attachments") < polls and time.monotonic() < deadline:
            time.sleep(0.01)
        added["id"] = emu.add_attachment("Deals", record, name, b"%PDF signed", created_time=created_time)

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


@pytest.mark.parametrize("mode", ["poke", "deferrable"])
def test_consecutive_scheduled_runs_each_report_only_their_own_attachments(
    airflow_db, zoho_emulator_connection, mode
):
    """Run N covers its data interval [start, end): what arrived later belongs to run N+1."""
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    listings = f"/{record}/Attachments"
    second_end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    first_end = second_end - timedelta(hours=1)
    first = emu.add_attachment(
        "Deals", record, "first.pdf", b"1", created_time=(first_end - timedelta(minutes=30)).isoformat()
    )
    # Created after the second interval: the run of the interval after it will report it.
    emu.add_attachment(
        "Deals", record, "third.pdf", b"3", created_time=(second_end + timedelta(minutes=5)).isoformat()
    )
    with DAG(
        f"zoho_sensor_intervals_{mode}", schedule=hourly_intervals(), start_date=START, catchup=False
    ) as dag:
        ZohoCRMNewAttachmentSensor(
            task_id="wait",
            module="Deals",
            record_id=record,
            poke_interval=0.05,
            poll_interval=0.05,
            timeout=60,
            deferrable=mode == "deferrable",
        )
    # dag.test() gives a run of this schedule the hour before its logical date as data interval.
    first_run = run_dag(dag, logical_date=first_end)
    assert dag_run_interval(first_run) == (first_end - timedelta(hours=1), first_end)
    assert [a["File_Name"] for a in xcom(first_run, "wait")] == ["first.pdf"]
    assert xcom(first_run, "wait")[0]["id"] == first

    # In the second interval nothing is there yet: the sensor (or its trigger) waits for second.pdf.
    added, thread = add_when_polled(
        emu,
        record,
        polls=emu.count(path_contains=listings) + 2,
        name="second.pdf",
        created_time=(first_end + timedelta(minutes=30)).isoformat(),
    )
    second_run = run_dag(dag, logical_date=second_end)
    thread.join(5)
    assert dag_run_interval(second_run) == (first_end, second_end)
    assert second_run.state == "success", task_states(second_run)
    assert [a["File_Name"] for a in xcom(second_run, "wait")] == ["second.pdf"]
    assert xcom(second_run, "wait")[0]["id"] == added["id"]


def hourly_intervals():
    """A schedule with real data intervals (Airflow 3's ``schedule=timedelta`` has empty ones)."""
    try:
        from airflow.sdk.definitions.timetables.interval import DeltaDataIntervalTimetable
    except ImportError:  # Airflow < 3.2
        from airflow.timetables.interval import DeltaDataIntervalTimetable  # type: ignore[no-redef]
    return DeltaDataIntervalTimetable(timedelta(hours=1))


def dag_run_interval(dag_run):
    return (dag_run.data_interval_start, dag_run.data_interval_end)


def test_the_window_is_the_data_interval_unless_given():
    from airflow_provider_zoho_attach.exceptions import ZohoCRMInvalidRequestError

    start = datetime(2024, 3, 1, tzinfo=UTC)
    end = start + timedelta(days=1)
    scheduled = {"data_interval_start": start, "data_interval_end": end}
    sensor = ZohoCRMNewAttachmentSensor(task_id="wait", module="Deals", record_id="1")
    wanted = sensor._inputs(scheduled)[2]
    assert (wanted.created_after, wanted.created_before) == (start, end)
    # A manual run: its interval is empty (or absent), so there is no upper bound.
    wanted = sensor._inputs({"data_interval_start": start, "data_interval_end": start})[2]
    assert (wanted.created_after, wanted.created_before) == (start, None)
    wanted = sensor._inputs({"logical_date": start})[2]
    assert (wanted.created_after, wanted.created_before) == (start, None)
    # Given explicitly (a rendered template is a string): it wins.
    later = ZohoCRMNewAttachmentSensor(
        task_id="wait", module="Deals", record_id="1", until="2024-03-05T00:00:00Z"
    )
    assert later._inputs(scheduled)[2].created_before == datetime(2024, 3, 5, tzinfo=UTC)
    assert "until" in ZohoCRMNewAttachmentSensor.template_fields
    # An empty window could never be satisfied: an error, not a sensor waiting until its timeout.
    empty = ZohoCRMNewAttachmentSensor(
        task_id="wait", module="Deals", record_id="1", since="2024-03-03T00:00:00Z"
    )
    with pytest.raises(ZohoCRMInvalidRequestError, match="until"):
        empty._inputs(scheduled)
