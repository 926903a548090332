"""
The example DAGs on a real deployment: runs are started and inspected through the REST API (v2),
tasks run in LocalExecutor worker processes and triggers in the triggerer process, all against
the Zoho CRM emulator.

The tests share one deployment and run in file order; none depends on another's outcome.
"""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.deployment._deployment import SUMMARY, Deployment, DeploymentError

pytestmark = pytest.mark.deployment

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
RUN_TIMEOUT = 240.0


def _listings(zoho: Any, record_id: str) -> list[Any]:
    """The emulator's log of attachment listings of one record (oldest first)."""
    suffix = f"/{record_id}/Attachments"
    return [r for r in zoho.requests if r.method == "GET" and r.path.endswith(suffix)]


def _local_path(path_or_url: str) -> Path:
    return Path(urlparse(path_or_url).path) if path_or_url.startswith("file:") else Path(path_or_url)


def _ti_state(deployment: Deployment, dag_id: str, run_id: str, task_id: str, wanted: str) -> dict | None:
    """The task instance once it is in state ``wanted``; fail at once if it ended otherwise."""
    ti = deployment.task_instance(dag_id, run_id, task_id)
    if ti["state"] == wanted:
        return ti
    if ti["state"] in ("success", "failed", "upstream_failed", "skipped"):
        raise DeploymentError(
            f"{task_id} is {ti['state']}, expected {wanted}\n{deployment.describe_run(dag_id, run_id)}"
        )
    return None


def test_deferrable_sensor_waits_in_the_triggerer(deployment: Deployment, zoho: Any) -> None:
    from airflow_provider_zoho_attach.testing._emulator_seed import DEMO_RECORDS

    dag_id = "example_zoho_wait_for_contract"
    record_id = DEMO_RECORDS["globex_deal"]
    destination = deployment.data_dir / "contracts"
    deployment.wait_for_dag(dag_id)
    deployment.unpause(dag_id)
    run_id = deployment.trigger(
        dag_id,
        conf={"record_id": record_id, "poll_interval": 2, "destination": f"file://{destination}/"},
    )

    ti = deployment.wait_for(
        lambda: _ti_state(deployment, dag_id, run_id, "wait_for_contract", "deferred"),
        timeout=150,
        what="the sensor to defer",
        interval=1.0,
    )
    trigger = ti.get("trigger") or {}
    assert trigger.get("classpath", "").endswith("ZohoCRMNewAttachmentTrigger"), trigger
    # The triggerer (a separate process) picks the trigger up and polls the record every 2 s (the
    # templated poll interval: the API does not show trigger kwargs, the emulator sees the polls).
    deferred_at = len(_listings(zoho, record_id))
    deployment.wait_for(
        lambda: len(_listings(zoho, record_id)) >= deferred_at + 3,
        timeout=90,
        what="the triggerer to poll the record",
    )
    polls = _listings(zoho, record_id)[-2:]
    SUMMARY["sensor_trigger_poll_interval_seconds"] = round(polls[1].started - polls[0].started, 1)
    assert polls[1].started - polls[0].started < 10
    ti = deployment.task_instance(dag_id, run_id, "wait_for_contract")
    assert ti["state"] == "deferred"
    assert ti.get("triggerer_job"), f"no triggerer job holds the trigger: {ti}"
    assert ti["triggerer_job"]["job_type"] == "TriggererJob"
    # The triggerer wrote the trigger's log next to the task's log (attempt=1.log.trigger.<job>.log).
    started = f"(ID {trigger['id']}) starting"
    deployment.wait_for(
        lambda: any(
            started in log.read_text() for log in deployment.task_logs(dag_id, run_id, "*.trigger.*")
        ),
        timeout=30,
        what="the trigger's log in the triggerer",
    )

    # A file that does not match *.pdf does not end the wait; the PDF does.
    zoho.add_attachment("Deals", record_id, "meeting-notes.txt", "not a contract")
    pdf_id = zoho.add_attachment("Deals", record_id, "contract-signed.pdf", PDF)
    deployment.wait_for_run(dag_id, run_id, timeout=RUN_TIMEOUT)

    found = deployment.xcom(dag_id, run_id, "wait_for_contract")
    assert [item["id"] for item in found] == [pdf_id]
    assert found[0]["File_Name"] == "contract-signed.pdf"
    downloaded = deployment.xcom(dag_id, run_id, "download_contract")
    assert [(item["attachment_id"], item["status"]) for item in downloaded] == [(pdf_id, "downloaded")]
    assert _local_path(downloaded[0]["path"]).read_bytes() == PDF


def test_asset_watcher_starts_the_event_dag_once(
    deployment: Deployment, zoho: Any, watched_record: str
) -> None:
    dag_id = "example_zoho_attachment_events"
    deployment.wait_for_dag(dag_id)
    deployment.unpause(dag_id)
    # Airflow registers an AssetWatcher's trigger when it parses the file of an unpaused DAG, so
    # ask for a parse now rather than wait for the next periodic one.
    deployment.reparse(dag_id)
    before = {run["dag_run_id"] for run in deployment.dag_runs(dag_id)}

    # The watcher runs in the triggerer: its first listing of the record is its baseline.
    phase = time.monotonic()
    deployment.wait_for(
        lambda: len(_listings(zoho, watched_record)) >= 1,
        timeout=150,
        what="the AssetWatcher's trigger to list the watched record",
    )
    SUMMARY["watcher_baseline_wait_seconds"] = round(time.monotonic() - phase, 1)
    # Let the baseline be saved before the new file appears (the state is written right after).
    time.sleep(1)

    name = f"event-{int(time.time())}.txt"
    content = b"attached while the watcher was looking\n"
    attachment_id = zoho.add_attachment("Deals", watched_record, name, content)
    added_at = time.monotonic()

    def new_runs() -> list[dict[str, Any]]:
        return [run for run in deployment.dag_runs(dag_id) if run["dag_run_id"] not in before]

    runs = deployment.wait_for(new_runs, timeout=180, what="a run started by the asset event", interval=2.0)
    SUMMARY["watcher_event_to_run_seconds"] = round(time.monotonic() - added_at, 1)
    assert len(runs) == 1, runs
    run = runs[0]
    assert run["run_type"] == "asset_triggered"
    phase = time.monotonic()
    deployment.wait_for_run(dag_id, run["dag_run_id"], timeout=RUN_TIMEOUT)
    SUMMARY["event_run_seconds"] = round(time.monotonic() - phase, 1)

    announced = deployment.xcom(dag_id, run["dag_run_id"], "announced_attachments")
    assert [(a["record_id"], [x["id"] for x in a["attachment_ids"]]) for a in announced] == [
        (watched_record, [attachment_id])
    ]
    downloaded = deployment.xcom(dag_id, run["dag_run_id"], "download_announced_attachments", map_index=0)
    assert [(d["attachment_id"], d["status"]) for d in downloaded] == [(attachment_id, "downloaded")]
    path = _local_path(downloaded[0]["path"])
    try:
        assert path.read_bytes() == content
    finally:
        # The example writes to a fixed folder under /tmp: remove what this test put there.
        path.unlink(missing_ok=True)
        for folder in (path.parent, path.parent.parent):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty

    # The same attachment never fires again: two more rounds of listings, still one run.
    seen = len(_listings(zoho, watched_record))
    phase = time.monotonic()
    deployment.wait_for(
        lambda: len(_listings(zoho, watched_record)) >= seen + 2,
        timeout=150,
        what="two more polls of the watcher",
        interval=1.0,
    )
    time.sleep(3)  # what the scheduler would have made of an event in the last poll
    SUMMARY["watcher_two_more_polls_seconds"] = round(time.monotonic() - phase, 1)
    assert [r["dag_run_id"] for r in new_runs()] == [run["dag_run_id"]]
    polls = _listings(zoho, watched_record)
    SUMMARY["watcher_poll_interval_seconds"] = round(polls[-1].started - polls[-2].started, 1)


def test_tasks_in_separate_processes_share_one_token(deployment: Deployment, zoho: Any) -> None:
    dag_id = "example_zoho_document_sync"
    dag = deployment.wait_for_dag(dag_id)
    now = datetime.now(UTC)
    records = []
    for i in range(10):
        record_id = zoho.add_record("Deals", name=f"Document sync {i}")
        zoho.add_attachment(
            "Deals", record_id, f"document-{i}.pdf", PDF, created_time=now - timedelta(days=3)
        )
        records.append(record_id)
    summary_record = zoho.add_record("Deals", name="Document sync summary")
    destination = deployment.data_dir / "sync"
    tokens_before = zoho.token_calls

    # The DAG reads {{ data_interval_end }}, which a run without a logical date does not have in
    # Airflow 3, so the run gets one: the logical date of the DAG's next scheduled run. Unpausing
    # a daily DAG would otherwise also start that scheduled run, with the example's default params.
    logical_date = dag["next_dagrun_logical_date"]
    assert logical_date, dag
    run_id = deployment.trigger(
        dag_id,
        conf={
            "record_ids": records,
            "destination": f"file://{destination}/",
            "summary_record_id": summary_record,
            "since": (now - timedelta(days=10)).isoformat(),
        },
        logical_date=logical_date,
    )
    deployment.unpause(dag_id)
    deployment.wait_for_run(dag_id, run_id, timeout=RUN_TIMEOUT)
    assert [run["dag_run_id"] for run in deployment.dag_runs(dag_id)] == [run_id]

    states = {
        (ti["task_id"], ti["map_index"]): ti["state"] for ti in deployment.task_instances(dag_id, run_id)
    }
    workers = [key for key, state in states.items() if state == "success"]
    assert len([key for key in workers if key[0] == "download_new_attachments"]) == len(records)
    for index, record_id in enumerate(records):
        downloaded = deployment.xcom(dag_id, run_id, "download_new_attachments", map_index=index)
        assert [(d["record_id"], d["status"]) for d in downloaded] == [(record_id, "downloaded")]
        assert _local_path(downloaded[0]["path"]).read_bytes() == PDF
    uploaded = zoho.attachments("Deals", summary_record)
    assert [a["File_Name"].startswith("sync-summary-") for a in uploaded] == [True]

    # Every task process (and the triggerer) took its access token from the shared Variable.
    shared = deployment.api("GET", "/variables", params={"variable_key_pattern": "zoho_crm_access_token_"})
    assert [v["key"] for v in shared["variables"] if v["key"].startswith("zoho_crm_access_token_")], shared
    task_calls = zoho.token_calls - SUMMARY.get("token_calls_outside_tasks", 0)
    SUMMARY["task_processes_in_sync_run"] = len(workers)
    SUMMARY["token_calls_during_sync_run"] = zoho.token_calls - tokens_before
    SUMMARY["token_calls_by_tasks_and_triggerer"] = task_calls
    assert task_calls == 1, (
        f"{task_calls} token calls by task processes and the triggerer "
        f"({len(workers)} task processes in the sync run alone)"
    )
