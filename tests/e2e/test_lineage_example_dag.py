"""The lineage example end to end: AssetAlias outlets get one asset event per asset the task wrote."""

from __future__ import annotations

import pytest

from tests.e2e._examples import load_example
from tests.e2e.conftest import run_dag, task_states, xcom

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

DEAL = "5725767000000100001"


def asset_events(dag_run) -> dict[str, dict]:
    """``{asset uri: extra}`` of the asset events the run's tasks emitted."""
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        events = session.query(AssetEvent).filter(AssetEvent.source_run_id == dag_run.run_id).all()
        return {event.asset.uri: dict(event.extra) for event in events}


@pytest.mark.zoho_emulator(seed="demo")
def test_alias_outlets_get_an_event_per_asset_written(airflow_db, zoho_emulator_connection, tmp_path):
    emu = zoho_emulator_connection
    host = emu.url.split("://", 1)[1]
    example = load_example("example_zoho_lineage.py")
    files = sorted(a["File_Name"] for a in emu.attachments("Deals", DEAL) if not a.get("$link_url"))
    conf = {
        "destination": tmp_path.as_uri() + "/{module}/{record_id}/",
        "summary": str(tmp_path / "summary.txt"),
    }

    run = run_dag(example.dag, run_conf=conf)

    assert run.state == "success", task_states(run)
    (summary,) = xcom(run, "attach_summary")
    events = asset_events(run)
    downloaded = {f"file://{tmp_path}/Deals/{DEAL}/{name}" for name in files}
    deal = f"zoho-crm://{host}/Deals/{DEAL}/attachments"
    assert set(events) == {*downloaded, deal}
    assert events[deal]["attachment_ids"] == [summary["attachment_id"]]
    assert events[deal]["bytes"] == summary["size"]
    for result in xcom(run, "backup_deal_attachments"):
        assert events[f"file://{result['path']}"] == {"size": result["size"], "sha256": result["sha256"]}


def test_the_static_asset_of_the_example_is_normalised():
    example = load_example("example_zoho_lineage.py")
    assert example.ACME_DEAL.uri == f"zoho-crm://www.zohoapis.com/Deals/{DEAL}/attachments"
