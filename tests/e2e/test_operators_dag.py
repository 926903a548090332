"""Every operator in a real ``dag.test()`` run against the emulator: XCom values and what Zoho holds."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pendulum
import pytest
from airflow.sdk import DAG, task

from airflow_provider_zoho_attach.operators.attachments import (
    ZohoCRMDeleteAttachmentOperator,
    ZohoCRMDownloadAttachmentsOperator,
    ZohoCRMListAttachmentsOperator,
    ZohoCRMUploadAttachmentOperator,
)
from airflow_provider_zoho_attach.operators.photos import (
    ZohoCRMDownloadPhotoOperator,
    ZohoCRMUploadPhotoOperator,
)
from airflow_provider_zoho_attach.testing._emulator_seed import tiny_png
from tests.e2e.conftest import run_dag, task_states, xcom

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

START = pendulum.datetime(2024, 1, 1, tz="UTC")


def _iso(days_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days_ago)).replace(microsecond=0).isoformat()


def test_every_operator_in_one_run(airflow_db, zoho_emulator_connection, memory_storage, tmp_path):
    emu = zoho_emulator_connection
    deal = emu.add_record("Deals")
    old_pdf = emu.add_attachment("Deals", deal, "old.pdf", b"%PDF old", created_time=_iso(10))
    new_pdf = emu.add_attachment("Deals", deal, "new.PDF", b"%PDF new", created_time=_iso(1))
    new_csv = emu.add_attachment("Deals", deal, "prices.csv", b"a,b\n", created_time=_iso(1))
    link = emu.add_link_attachment("Deals", deal, "https://example.com/spec")
    trash = emu.add_record("Leads")
    doomed = [emu.add_attachment("Leads", trash, f"tmp{i}.txt", b"x") for i in range(3)]
    contact = emu.add_record("Contacts")
    emu.set_photo("Contacts", contact, tiny_png(8, 8))
    lead = emu.add_record("Leads")
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    (outbox / "a.txt").write_text("first")
    (outbox / "b.txt").write_text("second")
    (outbox / "skip.log").write_text("not me")
    from airflow.sdk import ObjectStoragePath

    remote = ObjectStoragePath("memory://bucket/outbox/report.pdf")
    remote.parent.mkdir(parents=True, exist_ok=True)
    remote.write_bytes(b"%PDF report")

    with DAG("zoho_every_operator", schedule=None, start_date=START, catchup=False) as dag:
        ZohoCRMListAttachmentsOperator(task_id="list_all", module="deals", record_id=deal)
        ZohoCRMListAttachmentsOperator(
            task_id="list_new_pdfs",
            module="Deals",
            record_id=deal,
            file_name_pattern="*.pdf",
            created_after=_iso(2),
        )
        ZohoCRMListAttachmentsOperator(
            task_id="list_ids", module="Deals", record_id=deal, ids_only=True, max_items=2
        )
        ZohoCRMDownloadAttachmentsOperator(
            task_id="download_local", module="Deals", record_id=deal, destination=str(tmp_path / "in")
        )
        ZohoCRMDownloadAttachmentsOperator(
            task_id="download_memory",
            module="Deals",
            record_id=deal,
            destination="memory://bucket/{module}/{record_id}/",
            file_name_pattern="*.csv",
        )
        ZohoCRMUploadAttachmentOperator(
            task_id="upload_glob", module="Leads", record_id=lead, source=f"{outbox}/*.txt"
        )
        ZohoCRMUploadAttachmentOperator(
            task_id="upload_remote",
            module="Leads",
            record_id=lead,
            source="memory://bucket/outbox/report.pdf",
        )
        ZohoCRMUploadAttachmentOperator(
            task_id="upload_link", module="Leads", record_id=lead, link_url="https://example.com/x", title="X"
        )
        ZohoCRMDeleteAttachmentOperator(
            task_id="delete", module="Leads", record_id=trash, attachment_ids=[*doomed, "5725767999999999999"]
        )
        ZohoCRMDownloadPhotoOperator(
            task_id="download_photo",
            module="Contacts",
            record_id=contact,
            destination=str(tmp_path / "photos"),
        )
        ZohoCRMUploadPhotoOperator(
            task_id="upload_photo", module="Leads", record_id=lead, source=str(tmp_path / "face.png")
        )
    (tmp_path / "face.png").write_bytes(tiny_png(4, 4))

    dag_run = run_dag(dag)
    assert dag_run.state == "success", task_states(dag_run)

    listed = xcom(dag_run, "list_all")
    assert {r["id"] for r in listed} == {old_pdf, new_pdf, new_csv, link}
    assert all({"id", "File_Name", "Size", "Created_Time", "$type"} <= set(r) for r in listed)
    assert [r["id"] for r in xcom(dag_run, "list_new_pdfs")] == [new_pdf]
    ids = xcom(dag_run, "list_ids")
    assert len(ids) == 2
    assert all(isinstance(i, str) for i in ids)

    downloaded = xcom(dag_run, "download_local")
    assert {r["attachment_id"] for r in downloaded} == {old_pdf, new_pdf, new_csv}  # the link is skipped
    assert sorted(os.listdir(tmp_path / "in")) == ["new.PDF", "old.pdf", "prices.csv"]
    for result in downloaded:
        assert result["sha256"] == hashlib.sha256(Path(result["path"]).read_bytes()).hexdigest()
    (in_memory,) = xcom(dag_run, "download_memory")
    assert in_memory["path"].endswith(f"bucket/Deals/{deal}/prices.csv")
    assert ObjectStoragePath(f"memory://bucket/Deals/{deal}/prices.csv").read_bytes() == b"a,b\n"

    uploaded = xcom(dag_run, "upload_glob")
    assert [r["file_name"] for r in uploaded] == ["a.txt", "b.txt"]
    assert all(r["status"] == "uploaded" for r in uploaded)
    (remote_result,) = xcom(dag_run, "upload_remote")
    assert emu.attachment_content(remote_result["attachment_id"]) == b"%PDF report"
    names = sorted(a["File_Name"] for a in emu.attachments("Leads", lead))
    assert names == ["X", "a.txt", "b.txt", "report.pdf"]

    deleted = xcom(dag_run, "delete")
    assert [r["status"] for r in deleted] == ["deleted", "deleted", "deleted", "missing"]
    assert emu.attachments("Leads", trash) == []

    photo = xcom(dag_run, "download_photo")
    assert Path(photo["path"]).read_bytes() == tiny_png(8, 8)
    assert emu.photo("Leads", lead) == tiny_png(4, 4)

    # Nothing in XCom is file bytes: every value is small JSON.
    for task_id in ("list_all", "download_local", "upload_glob", "download_photo"):
        assert len(repr(xcom(dag_run, task_id))) < 10_000


def test_rerunning_is_safe(airflow_db, zoho_emulator_connection, tmp_path):
    emu = zoho_emulator_connection
    deal = emu.add_record("Deals")
    emu.add_attachment("Deals", deal, "contract.pdf", b"%PDF contract")
    source = tmp_path / "summary.csv"
    source.write_text("x,y\n")
    with DAG("zoho_rerun", schedule=None, start_date=START, catchup=False) as dag:
        ZohoCRMDownloadAttachmentsOperator(
            task_id="download",
            module="Deals",
            record_id=deal,
            destination=str(tmp_path / "in"),
            file_name_pattern="*.pdf",
        )
        ZohoCRMUploadAttachmentOperator(task_id="upload", module="Deals", record_id=deal, source=str(source))
    first = run_dag(dag)
    second = run_dag(dag)
    assert first.state == second.state == "success"
    assert [r["status"] for r in xcom(first, "download")] == ["downloaded"]
    assert [r["status"] for r in xcom(second, "download")] == ["unchanged"]
    assert [r["status"] for r in xcom(first, "upload")] == ["uploaded"]
    assert [r["status"] for r in xcom(second, "upload")] == ["skipped"]
    assert sorted(a["File_Name"] for a in emu.attachments("Deals", deal)) == ["contract.pdf", "summary.csv"]
    assert os.listdir(tmp_path / "in") == ["contract.pdf"]


def test_mapped_list_feeds_mapped_download(airflow_db, zoho_emulator_connection, tmp_path):
    emu = zoho_emulator_connection
    deals = [emu.add_record("Deals") for _ in range(3)]
    for index, deal in enumerate(deals[:2]):
        for n in range(index + 1):
            emu.add_attachment("Deals", deal, f"doc{n}.txt", f"{deal}-{n}".encode())

    with DAG("zoho_mapped", schedule=None, start_date=START, catchup=False) as dag:
        listed = ZohoCRMListAttachmentsOperator.partial(task_id="list", module="Deals").expand(
            record_id=deals
        )
        ZohoCRMDownloadAttachmentsOperator.partial(
            task_id="download", module="Deals", destination=str(tmp_path / "{record_id}")
        ).expand(attachment_ids=listed.output)

        @task
        def pairs() -> list[dict]:
            return [{"record_id": deal, "attachment_ids": None} for deal in deals]

        ZohoCRMDownloadAttachmentsOperator.partial(
            task_id="download_kwargs", module="Deals", destination=str(tmp_path / "kw")
        ).expand_kwargs(pairs())

    dag_run = run_dag(dag)
    assert dag_run.state == "success", task_states(dag_run)
    per_record = xcom(dag_run, "download")
    assert [len(results) for results in per_record] == [1, 2, 0]
    assert sorted(os.listdir(tmp_path / deals[1])) == ["doc0.txt", "doc1.txt"]
    assert (tmp_path / deals[1] / "doc1.txt").read_bytes() == f"{deals[1]}-1".encode()
    kwargs_results = xcom(dag_run, "download_kwargs")
    assert [len(results) for results in kwargs_results] == [1, 2, 0]
    # Same names from different records in one directory: all kept, none clobbered.
    assert len(os.listdir(tmp_path / "kw")) == 3


@pytest.mark.parametrize(
    ("operator", "kwargs", "fragment"),
    [
        (ZohoCRMDownloadAttachmentsOperator, {"destination": None}, "destination=None"),
        (
            ZohoCRMUploadAttachmentOperator,
            {"source": "/x.txt", "link_url": "https://a.b"},
            "exactly one of source",
        ),
        (ZohoCRMUploadAttachmentOperator, {"source": "/nonexistent/*.pdf"}, "source='/nonexistent/*.pdf'"),
        (ZohoCRMListAttachmentsOperator, {"module": "Sales Orders"}, "module='Sales Orders'"),
        (ZohoCRMListAttachmentsOperator, {"record_id": "12x"}, "record_id='12x'"),
        (ZohoCRMListAttachmentsOperator, {"created_after": "yesterday"}, "created_after='yesterday'"),
        (ZohoCRMListAttachmentsOperator, {"max_items": -1}, "max_items=-1"),
        (ZohoCRMDeleteAttachmentOperator, {"attachment_ids": "abc"}, "attachment_ids='abc'"),
        (ZohoCRMDownloadPhotoOperator, {"destination": ""}, "destination=''"),
    ],
)
def test_bad_input_fails_with_one_line_naming_the_argument(
    zoho_emulator_connection, operator, kwargs, fragment
):
    from airflow_provider_zoho_attach.exceptions import ZohoCRMInvalidRequestError

    emu = zoho_emulator_connection
    base = {"task_id": "t", "module": "Deals", "record_id": emu.add_record("Deals")}
    if operator is ZohoCRMDownloadAttachmentsOperator:
        base["destination"] = "/tmp/never"
    if operator is ZohoCRMDeleteAttachmentOperator:
        base["attachment_ids"] = ["1"]
    if operator is ZohoCRMDownloadPhotoOperator:
        base["destination"] = "/tmp/never"
    emu.reset_log()
    op = operator(**{**base, **kwargs})
    with pytest.raises(ZohoCRMInvalidRequestError) as info:
        op.execute(context={"ti": _NoXCom()})
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message
    assert [r for r in emu.requests if r.path.startswith("/crm")] == []


def test_unknown_module_fails_the_task_clearly(airflow_db, zoho_emulator_connection):
    with DAG("zoho_bad_module", schedule=None, start_date=START, catchup=False) as dag:
        ZohoCRMListAttachmentsOperator(task_id="list", module="Nonexistent_Module", record_id="123")
    dag_run = run_dag(dag)
    assert dag_run.state == "failed"
    assert task_states(dag_run) == {"list": "failed"}


class _NoXCom:
    def xcom_push(self, *args, **kwargs):
        pass
