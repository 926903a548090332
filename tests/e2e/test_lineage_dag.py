"""
OpenLineage end to end: operators run by ``dag.test()`` with the OpenLineage provider's own listener.

The listener is the provider's (``OpenLineageListener``), registered with the Task SDK's listener
manager as its plugin would be, with a file transport: each test reads back the events the
provider emitted, and checks their inputs and outputs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pendulum
import pytest
from airflow.sdk import DAG

from airflow_provider_zoho_attach.operators.attachments import (
    ZohoCRMDeleteAttachmentOperator,
    ZohoCRMDownloadAttachmentsOperator,
    ZohoCRMListAttachmentsOperator,
    ZohoCRMUploadAttachmentOperator,
)
from airflow_provider_zoho_attach.operators.mirror import ZohoCRMMirrorAttachmentsOperator
from airflow_provider_zoho_attach.operators.photos import ZohoCRMDownloadPhotoOperator
from airflow_provider_zoho_attach.testing._emulator_seed import tiny_png
from tests.e2e.conftest import run_dag, task_states

pytest.importorskip("airflow.providers.openlineage", reason="needs the openlineage extra")

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

START = pendulum.datetime(2024, 1, 1, tz="UTC")
Events = Callable[[], list[dict[str, Any]]]


def _clear_openlineage_config() -> None:
    """Forget the OpenLineage provider's cached configuration (it is read once per process)."""
    from airflow.providers.openlineage import conf

    for value in vars(conf).values():
        if callable(getattr(value, "cache_clear", None)):
            value.cache_clear()


@pytest.fixture
def openlineage_events(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Events]:
    """
    The OpenLineage provider's listener, emitting to a file for the test; returns a reader of the events.

    Emission runs in a thread (``execute_in_thread``) rather than a fork of the test process.
    """
    from airflow.providers.openlineage.plugins.listener import OpenLineageListener
    from airflow.sdk.listener import get_listener_manager

    # The manager exists before OpenLineage is configured, so its plugin adds no listener of its own.
    manager = get_listener_manager()
    for plugin in manager.pm.get_plugins():
        if isinstance(plugin, OpenLineageListener):
            manager.pm.unregister(plugin)
    events_file = tmp_path / "openlineage.jsonl"
    transport = {"type": "file", "log_file_path": str(events_file), "append": True}
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__TRANSPORT", json.dumps(transport))
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD", "True")
    _clear_openlineage_config()
    listener = OpenLineageListener()
    manager.add_listener(listener)

    def read() -> list[dict[str, Any]]:
        if not events_file.exists():
            return []
        return [json.loads(line) for line in events_file.read_text().splitlines() if line.strip()]

    try:
        yield read
    finally:
        manager.pm.unregister(listener)
        monkeypatch.undo()
        _clear_openlineage_config()


def task_event(events: list[dict[str, Any]], task_id: str, event_type: str = "COMPLETE") -> dict[str, Any]:
    """The one event of ``event_type`` the task emitted."""
    found = [
        e
        for e in events
        if e["eventType"] == event_type and e["job"]["name"].endswith(f".{task_id}") and "dagRun" not in e
    ]
    found = [e for e in found if "airflow" in e["run"]["facets"]]
    assert len(found) == 1, [(e["eventType"], e["job"]["name"]) for e in events]
    return found[0]


def names(datasets: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(d["namespace"], d["name"]) for d in datasets]


def test_operators_report_what_they_read_and_wrote(
    airflow_db, zoho_emulator_connection, openlineage_events, memory_storage, tmp_path
):
    emu = zoho_emulator_connection
    zoho = f"zoho-crm://{emu.url.split('://', 1)[1]}"
    deal = emu.add_record("Deals")
    pdf = emu.add_attachment("Deals", deal, "contract.pdf", b"%PDF contract")
    link = emu.add_link_attachment("Deals", deal, "https://example.com/spec")
    lead = emu.add_record("Leads")
    doomed = emu.add_attachment("Leads", lead, "old.txt", b"old")
    contact = emu.add_record("Contacts")
    emu.set_photo("Contacts", contact, tiny_png(8, 8))
    source = tmp_path / "summary.csv"
    source.write_bytes(b"x,y\n")
    with DAG("zoho_lineage", schedule=None, start_date=START, catchup=False) as dag:
        ZohoCRMListAttachmentsOperator(task_id="list", module="deals", record_id=deal)
        ZohoCRMDownloadAttachmentsOperator(
            task_id="download", module="Deals", record_id=deal, destination=str(tmp_path / "in")
        )
        ZohoCRMDownloadAttachmentsOperator(
            task_id="download_s3", module="Deals", record_id=deal, destination="memory://bucket/zoho/"
        )
        ZohoCRMUploadAttachmentOperator(task_id="upload", module="Leads", record_id=lead, source=str(source))
        ZohoCRMDeleteAttachmentOperator(
            task_id="delete", module="Leads", record_id=lead, attachment_ids=doomed
        )
        ZohoCRMDownloadPhotoOperator(
            task_id="photo", module="Contacts", record_id=contact, destination=str(tmp_path / "photos")
        )
        ZohoCRMMirrorAttachmentsOperator(
            task_id="mirror", module="Deals", records=[deal], destination=str(tmp_path / "mirror")
        )
    dag_run = run_dag(dag)
    assert dag_run.state == "success", task_states(dag_run)
    events = openlineage_events()
    # A local file is named after the machine it is on, as Airflow records the task's host.
    (worker,) = {ti.hostname for ti in dag_run.get_task_instances()}
    host = f"file://{worker}"

    listed = task_event(events, "list")
    assert sorted(names(listed["inputs"])) == [
        (zoho, f"Deals/{deal}/attachments/{pdf}"),
        (zoho, f"Deals/{deal}/attachments/{link}"),
    ]
    by_name = {d["name"].rsplit("/", 1)[1]: d["facets"]["zohoCrmFile"] for d in listed["inputs"]}
    assert by_name[pdf]["fileName"] == "contract.pdf"
    assert by_name[pdf]["kind"] == "attachment"
    assert by_name[link]["kind"] == "link"
    assert listed["outputs"] == []

    downloaded = task_event(events, "download")
    digest = hashlib.sha256(b"%PDF contract").hexdigest()
    ((zoho_file,), (local_file,)) = downloaded["inputs"], downloaded["outputs"]
    assert (zoho_file["namespace"], zoho_file["name"]) == (zoho, f"Deals/{deal}/attachments/{pdf}")
    assert zoho_file["facets"]["version"]["datasetVersion"] == f"sha256:{digest}"
    assert zoho_file["facets"]["zohoCrmFile"]["size"] == len(b"%PDF contract")
    assert zoho_file["inputFacets"]["inputStatistics"]["size"] == len(b"%PDF contract")
    assert (local_file["namespace"], local_file["name"]) == (host, str(tmp_path / "in" / "contract.pdf"))
    assert local_file["outputFacets"]["outputStatistics"] == {
        **local_file["outputFacets"]["outputStatistics"],
        "size": 13,
        "fileCount": 1,
    }

    in_memory = task_event(events, "download_s3")
    assert names(in_memory["outputs"]) == [("memory://bucket", "zoho/contract.pdf")]

    uploaded = task_event(events, "upload")
    assert names(uploaded["inputs"]) == [(host, str(source))]
    ((attachment,),) = [uploaded["outputs"]]
    assert attachment["namespace"] == zoho
    assert attachment["name"].startswith(f"Leads/{lead}/attachments/")
    assert attachment["facets"]["zohoCrmFile"]["fileName"] == "summary.csv"

    deleted = task_event(events, "delete")
    assert names(deleted["inputs"]) == [(zoho, f"Leads/{lead}/attachments/{doomed}")]
    assert deleted["inputs"][0]["facets"]["lifecycleStateChange"]["lifecycleStateChange"] == "DROP"
    started = task_event(events, "delete", "START")
    assert names(started["inputs"]) == [(zoho, f"Leads/{lead}/attachments/{doomed}")]
    assert "lifecycleStateChange" not in started["inputs"][0]["facets"]

    mirrored = task_event(events, "mirror")
    assert names(mirrored["inputs"]) == [(zoho, f"Deals/{deal}/attachments")]
    (mirror,) = mirrored["outputs"]
    assert (mirror["namespace"], mirror["name"]) == (host, str(tmp_path / "mirror"))
    statistics = mirror["outputFacets"]["outputStatistics"]
    assert (statistics["fileCount"], statistics["size"]) == (1, len(b"%PDF contract"))  # not the link

    photo = task_event(events, "photo")
    assert names(photo["inputs"]) == [(zoho, f"Contacts/{contact}/photo")]
    assert photo["outputs"][0]["namespace"] == host


def test_a_failed_task_reports_what_it_did_before_it_failed(
    airflow_db, zoho_emulator_connection, openlineage_events, tmp_path
):
    emu = zoho_emulator_connection
    zoho = f"zoho-crm://{emu.url.split('://', 1)[1]}"
    lead = emu.add_record("Leads")
    good = tmp_path / "good.txt"
    good.write_bytes(b"fine")
    huge = tmp_path / "huge.bin"
    with huge.open("wb") as sparse:  # over Zoho's 100 MB: refused before it is sent, after good.txt
        sparse.truncate(101 * 1024 * 1024)
    with DAG("zoho_lineage_failure", schedule=None, start_date=START, catchup=False) as dag:
        ZohoCRMUploadAttachmentOperator(
            task_id="upload",
            module="Leads",
            record_id=lead,
            source=[str(good), str(huge)],
            retries=0,
        )
    dag_run = run_dag(dag)
    assert dag_run.state == "failed"
    failed = task_event(openlineage_events(), "upload", "FAIL")
    assert names(failed["inputs"])[0][1] == str(good)
    assert [o["namespace"] for o in failed["outputs"]] == [zoho]


DOCS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "lineage.rst"


def docs_example_event() -> dict[str, Any]:
    """The ``COMPLETE_EVENT = {...}`` Python block of docs/lineage.rst."""
    import ast

    text = DOCS_PAGE.read_text(encoding="utf-8")
    start = text.index("COMPLETE_EVENT = {")
    block = []
    for line in text[start:].splitlines():
        if block and line and not line.startswith(" "):
            break
        block.append(line.strip() if not block else line[3:])
    source = "\n".join(block)
    return ast.literal_eval(source[source.index("{") :])


def normalised(event: dict[str, Any], replacements: dict[str, str]) -> dict[str, Any]:
    """What the docs show of an event: its type, job and datasets, with this run's values replaced."""
    shown = {key: event[key] for key in ("eventType", "job", "inputs", "outputs")}
    shown["job"] = {"namespace": event["job"]["namespace"], "name": event["job"]["name"]}
    text = json.dumps(shown)
    for old, new in replacements.items():
        text = text.replace(old, new)
    # Every facet names its producer (the provider's version) and schema: the docs say so once.
    return json.loads(text, object_hook=lambda d: {k: v for k, v in d.items() if k not in _FACET_KEYS})


_FACET_KEYS = ("_producer", "_schemaURL")


@pytest.mark.zoho_emulator(seed="demo")
def test_the_docs_example_event_is_what_is_emitted(
    airflow_db, zoho_emulator_connection, openlineage_events, tmp_path
):
    emu = zoho_emulator_connection
    deal = "5725767000000100001"
    (contract,) = [a for a in emu.attachments("Deals", deal) if a["File_Name"] == "proposal.pdf"]
    with DAG("deal_backup", schedule=None, start_date=START, catchup=False) as dag:
        ZohoCRMDownloadAttachmentsOperator(
            task_id="download_contract",
            module="Deals",
            record_id=deal,
            attachment_ids=[contract["id"]],
            destination=str(tmp_path / "zoho"),
        )
    dag_run = run_dag(dag)
    assert dag_run.state == "success", task_states(dag_run)
    (worker,) = {ti.hostname for ti in dag_run.get_task_instances()}
    emitted = task_event(openlineage_events(), "download_contract")
    replacements = {
        emu.url.split("://", 1)[1]: "www.zohoapis.com",
        f"file://{worker}": "file://worker-1",
        str(tmp_path): "/data",
    }
    assert normalised(emitted, replacements) == docs_example_event()
