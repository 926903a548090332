"""
The deferrable sensor under ``dag.test()`` with the connection where users put it (issue 13.3).

``airflow dags test`` runs a deferred task's trigger in-process, with supervisor comms that have no
``asend``: the async connection lookup's Execution API backend then finds nothing, so a connection
made with ``airflow connections add`` (stored in the metadata database) "isn't defined" to the
trigger although the poke found it. Environment-variable connections never showed it, which is why
these tests store the connection in the database.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pendulum
import pytest
from airflow.sdk import DAG

from airflow_provider_zoho_attach.sensors.attachments import ZohoCRMNewAttachmentSensor
from airflow_provider_zoho_attach.triggers.attachments import ZohoCRMNewAttachmentTrigger
from tests.e2e.conftest import run_dag, task_states, xcom
from tests.e2e.test_sensor_dag import add_when_polled

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

START = pendulum.datetime(2024, 1, 1, tz="UTC")
DB_CONN_ID = "zoho_crm_in_the_database"


def _iso(delta_seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=delta_seconds)).replace(microsecond=0).isoformat()


@pytest.fixture
def connection_in_db(airflow_db, zoho_emulator, monkeypatch):
    """The emulator's connection stored in the metadata database, as ``airflow connections add`` does."""
    from airflow.models import Connection
    from airflow.utils.session import create_session

    monkeypatch.delenv(f"AIRFLOW_CONN_{DB_CONN_ID.upper()}", raising=False)
    uri = zoho_emulator.connection_uri()
    with create_session() as session:
        session.query(Connection).filter(Connection.conn_id == DB_CONN_ID).delete()
        session.add(Connection(conn_id=DB_CONN_ID, uri=uri))
    yield zoho_emulator
    with create_session() as session:
        session.query(Connection).filter(Connection.conn_id == DB_CONN_ID).delete()


def test_the_deferred_sensor_finds_a_connection_stored_in_the_database(connection_in_db):
    emu = connection_in_db
    record = emu.add_record("Deals")
    added, thread = add_when_polled(emu, record, polls=2)
    with DAG("zoho_sensor_db_connection", schedule=None, start_date=START, catchup=False) as dag:
        ZohoCRMNewAttachmentSensor(
            task_id="wait",
            zoho_conn_id=DB_CONN_ID,
            module="Deals",
            record_id=record,
            since=_iso(-60),
            poke_interval=0.05,
            poll_interval=0.05,
            timeout=60,
            deferrable=True,
        )
    dag_run = run_dag(dag)
    thread.join(5)
    # Before the fix: failed, the trigger's event saying "The conn_id ... isn't defined".
    assert dag_run.state == "success", task_states(dag_run)
    assert [a["id"] for a in xcom(dag_run, "wait")] == [added["id"]]


def test_a_trigger_reads_a_zoho_crm_uri_connection(zoho_emulator, monkeypatch):
    # zoho_crm:// (underscore) is what users write; Airflow's parser mangles it, from_connection
    # recovers the client id and secret (the async hook's from_values could not).
    uri = zoho_emulator.connection_uri().replace("zoho-crm://", "zoho_crm://", 1)
    monkeypatch.setenv("AIRFLOW_CONN_ZOHO_CRM_URI", uri)
    record = zoho_emulator.add_record("Deals")
    new = zoho_emulator.add_attachment("Deals", record, "a.pdf", b"%PDF")
    trigger = ZohoCRMNewAttachmentTrigger(
        zoho_conn_id="zoho_crm_uri", module="Deals", record_id=record, since=_iso(-60), poll_interval=0.05
    )

    async def first_event():
        generator = trigger.run()
        try:
            return await asyncio.wait_for(generator.__anext__(), 20)
        finally:
            await generator.aclose()

    event = asyncio.run(first_event())
    assert event.payload["status"] == "success", event.payload
    assert [a["id"] for a in event.payload["attachments"]] == [new]
