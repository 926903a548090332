"""The closed-won mirror example with ``dag.test()``: a first run, then a re-run that fetches nothing."""

from __future__ import annotations

import json

import pytest

from tests.e2e._examples import load_example
from tests.e2e.conftest import run_dag, task_states, xcom

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

TASK = "mirror_closed_won_deals"


def test_the_mirror_example_mirrors_closed_won_deals(
    airflow_db, zoho_emulator_connection, tmp_path, monkeypatch
):
    emu = zoho_emulator_connection
    won, lost = emu.add_records("Deals", [{"Stage": "Closed Won"}, {"Stage": "Closed Lost"}])
    contract = emu.add_attachment("Deals", won, "contract.pdf", b"%PDF won")
    emu.add_attachment("Deals", lost, "lost.pdf", b"%PDF lost")
    destination = tmp_path / "mirror"
    # The destination from the Airflow Variable, as in production.
    monkeypatch.setenv("AIRFLOW_VAR_ZOHO_MIRROR_DESTINATION", str(destination))

    run = run_dag(load_example("example_zoho_mirror_closed_won.py").dag)

    assert task_states(run) == {TASK: "success"}
    summary = xcom(run, TASK)
    assert summary["records"] == 1
    assert summary["downloaded"] == 1
    assert summary["manifest"] == str(destination / "manifest.jsonl")
    assert (destination / "Deals" / won / "contract.pdf").read_bytes() == b"%PDF won"
    assert not (destination / "Deals" / lost).exists()
    (line,) = (destination / "manifest.jsonl").read_text().splitlines()
    assert json.loads(line)["attachment_id"] == contract

    emu.reset_log()
    again = xcom(
        run_dag(
            load_example("example_zoho_mirror_closed_won.py").dag, run_conf={"destination": str(destination)}
        ),
        TASK,
    )
    assert again["downloaded"] == 0
    assert again["unchanged"] == 1
    assert not any("/Attachments/" in r.path for r in emu.requests)
