"""File-upload and image-upload fields through the hook and the operators, against the emulator."""

from __future__ import annotations

import hashlib

import pytest

from airflow_provider_zoho_attach.exceptions import ZohoCRMInvalidRequestError, ZohoCRMTransferError

pytestmark = pytest.mark.integration

PDF = b"%PDF-1.7 signed contract " * 400


@pytest.fixture
def context():
    """A minimal task context for calling ``execute()`` directly."""
    from tests.hardening.conftest import NoXCom

    return {"ti": NoXCom()}


@pytest.fixture
def deal(zoho_emulator_connection, zoho_deal_with_files):
    zoho_emulator_connection.reset_log()
    return zoho_deal_with_files


def source(tmp_path, name, content=PDF):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def test_list_and_download_every_field_file_byte_for_byte(hook, zoho_emulator, deal, tmp_path):
    listed = hook.list_field_files("Deals", deal["record_id"])
    assert [(f["field"], f["id"]) for f in listed] == [(f["field"], f["id"]) for f in deal["field_files"]]
    for item in listed:
        result = hook.download_field_file(
            "Deals",
            deal["record_id"],
            item["id"],
            tmp_path / item["field"],
            field=item["field"],
            directory=True,
        )
        content = zoho_emulator.files.content(item["id"])
        assert (tmp_path / item["field"] / item["file_name"]).read_bytes() == content
        assert result["sha256"] == hashlib.sha256(content).hexdigest()
        assert result["field"] == item["field"]
    # One metadata call, one record read, one call per file.
    assert zoho_emulator.count("GET", "settings/fields") == 1
    assert zoho_emulator.count("GET", "download_fields_attachment") == len(listed)


def test_attach_puts_files_in_the_field_and_leaves_no_orphan(hook, zoho_emulator, deal, tmp_path):
    results = hook.attach_to_field(
        "Deals",
        deal["record_id"],
        "Supporting_Documents",
        [source(tmp_path, "a.pdf"), source(tmp_path, "b.pdf")],
    )
    held = zoho_emulator.files.field_files("Deals", deal["record_id"], "Supporting_Documents")
    assert sorted(e["id"] for e in held) == sorted(r["attachment_id"] for r in results)
    assert all(zoho_emulator.files.content(r["attachment_id"]) == PDF for r in results)
    assert zoho_emulator.files.zfs_files(used=False) == []
    assert zoho_emulator.count("POST", "/files") == 1  # both files in one request


def test_eleven_files_go_in_two_uploads(hook, zoho_emulator, tmp_path):
    results = hook.upload_files([source(tmp_path, f"f{i:02d}.pdf", bytes([i]) * 10) for i in range(11)])
    assert len(results) == 11
    assert zoho_emulator.count("POST", "/files") == 2
    assert [zoho_emulator.files.content(r["file_id"]) for r in results] == [
        bytes([i]) * 10 for i in range(11)
    ]


def test_a_full_field_refuses_before_any_upload(hook, zoho_emulator, deal, tmp_path):
    with pytest.raises(ZohoCRMInvalidRequestError) as caught:
        hook.attach_to_field("Deals", deal["record_id"], "Signed_Contract", source(tmp_path, "new.pdf"))
    assert caught.value.code == "LIMIT_EXCEEDED"
    assert zoho_emulator.count("POST", "/files") == 0
    assert zoho_emulator.files.zfs_files(used=False) == []


def test_replace_swaps_the_signed_contract(hook, zoho_emulator, deal, tmp_path):
    (old,) = zoho_emulator.files.field_files("Deals", deal["record_id"], "Signed_Contract")
    (result,) = hook.attach_to_field(
        "Deals", deal["record_id"], "Signed_Contract", source(tmp_path, "v2.pdf"), replace=True
    )
    (now,) = zoho_emulator.files.field_files("Deals", deal["record_id"], "Signed_Contract")
    assert now["id"] == result["attachment_id"] != old["id"]
    assert [e["id"] for e in zoho_emulator.files.removed] == [old["id"]]


def test_a_virus_fails_with_zohos_code_and_attaches_nothing(hook, zoho_emulator, deal, tmp_path):
    zoho_emulator.files.flag_virus("bad.pdf")
    before = zoho_emulator.files.field_files("Deals", deal["record_id"])
    with pytest.raises(ZohoCRMInvalidRequestError) as caught:
        hook.attach_to_field("Deals", deal["record_id"], "Supporting_Documents", source(tmp_path, "bad.pdf"))
    assert caught.value.code == "VIRUS_DETECTED"
    assert "\n" not in str(caught.value)
    assert zoho_emulator.files.field_files("Deals", deal["record_id"]) == before


def test_a_refused_update_reports_the_uploads_it_left_unattached(hook, zoho_emulator, deal, tmp_path):
    zoho_emulator.inject_fault("status", status=400, method="PUT", path=r"/Deals/\d+$")
    with pytest.raises(ZohoCRMInvalidRequestError) as caught:
        hook.attach_to_field("Deals", deal["record_id"], "Supporting_Documents", source(tmp_path, "x.pdf"))
    orphans = [f["id"] for f in zoho_emulator.files.zfs_files(used=False)]
    assert caught.value.details["unattached_file_ids"] == orphans
    assert len(orphans) == 1
    assert orphans[0] in str(caught.value)


@pytest.mark.parametrize("fault", ["commit_then_reset", "503", "reset"])
def test_a_lost_or_failed_update_is_applied_exactly_once(hook, zoho_emulator, deal, tmp_path, fault):
    kind, status = ("status", 503) if fault == "503" else (fault, None)
    zoho_emulator.inject_fault(kind, status=status, method="PUT", path=r"/Deals/\d+$")
    (result,) = hook.attach_to_field(
        "Deals", deal["record_id"], "Supporting_Documents", source(tmp_path, "once.pdf")
    )
    held = zoho_emulator.files.field_files("Deals", deal["record_id"], "Supporting_Documents")
    assert [e["id"] for e in held] == [result["attachment_id"]]
    assert zoho_emulator.files.zfs_files(used=False) == []


def test_remove_then_remove_again(hook, zoho_emulator, deal):
    photos = [e["id"] for e in zoho_emulator.files.field_files("Deals", deal["record_id"], "Photos")]
    first = hook.remove_field_files("Deals", deal["record_id"], "Photos", photos[:1])
    again = hook.remove_field_files("Deals", deal["record_id"], "Photos", photos[:1])
    assert [r["status"] for r in first + again] == ["deleted", "absent"]
    assert [e["id"] for e in zoho_emulator.files.field_files("Deals", deal["record_id"], "Photos")] == photos[
        1:
    ]


def test_download_operator_takes_attachments_and_field_files_together(
    hook, zoho_emulator, deal, tmp_path, context
):
    from airflow_provider_zoho_attach.operators.attachments import ZohoCRMDownloadAttachmentsOperator

    zoho_emulator.add_attachment("Deals", deal["record_id"], "invoice.pdf", b"invoice")
    # Same name as an attachment: both are kept, under distinct names.
    zoho_emulator.add_attachment("Deals", deal["record_id"], deal["field_files"][0]["File_Name__s"], b"other")
    zoho_emulator.reset_log()
    op = ZohoCRMDownloadAttachmentsOperator(
        task_id="collect",
        module="Deals",
        record_id=deal["record_id"],
        destination=tmp_path,
        include_field_files=True,
    )
    op.hook = hook
    results = op.execute(context)
    assert len(results) == 2 + len(deal["field_files"])
    assert {r.get("field") for r in results} == {None, *(f["field"] for f in deal["field_files"])}
    assert len({r["path"] for r in results}) == len(results)
    # The attachment listing, the field metadata, the record, then one call per file.
    calls = [r.path for r in zoho_emulator.requests if r.path.startswith("/crm/")]
    assert len(calls) == 3 + len(results), calls
    again = op.execute(context)
    assert {r["status"] for r in again} == {"unchanged"}


def test_upload_field_operator_rerun_sends_nothing(hook, zoho_emulator, deal, tmp_path, context):
    from airflow_provider_zoho_attach.operators.field_files import ZohoCRMUploadFieldFilesOperator

    files = [source(tmp_path, "p1.pdf", b"one"), source(tmp_path, "p2.pdf", b"two")]
    op = ZohoCRMUploadFieldFilesOperator(
        task_id="file",
        module="Deals",
        record_id=deal["record_id"],
        field="Supporting_Documents",
        source=files,
    )
    op.hook = hook
    first = op.execute(context)
    uploads = zoho_emulator.count("POST", "/files")
    second = op.execute(context)
    assert [r["status"] for r in first] == ["uploaded", "uploaded"]
    assert [r["status"] for r in second] == ["skipped", "skipped"]
    assert [r["attachment_id"] for r in second] == [r["attachment_id"] for r in first]
    assert zoho_emulator.count("POST", "/files") == uploads
    assert len(zoho_emulator.files.field_files("Deals", deal["record_id"], "Supporting_Documents")) == 2


def test_field_files_go_to_object_storage_and_come_from_it(
    hook, zoho_emulator, deal, memory_storage, context
):
    from airflow_provider_zoho_attach.operators.attachments import ZohoCRMDownloadAttachmentsOperator
    from airflow_provider_zoho_attach.operators.field_files import ZohoCRMUploadFieldFilesOperator

    download = ZohoCRMDownloadAttachmentsOperator(
        task_id="collect",
        module="Deals",
        record_id=deal["record_id"],
        destination="memory://bucket/{module}/{record_id}/",
        include_field_files=["Signed_Contract"],
    )
    download.hook = hook
    (result,) = download.execute(context)
    (contract,) = zoho_emulator.files.field_files("Deals", deal["record_id"], "Signed_Contract")
    assert result["path"] == f"memory://bucket/Deals/{deal['record_id']}/{contract['File_Name__s']}"
    stored = memory_storage.cat(result["path"].removeprefix("memory://"))
    assert stored == zoho_emulator.files.content(contract["id"])

    upload = ZohoCRMUploadFieldFilesOperator(
        task_id="file",
        module="Deals",
        record_id=deal["record_id"],
        field="Supporting_Documents",
        source=f"memory://bucket/Deals/{deal['record_id']}/*.pdf",
    )
    upload.hook = hook
    (filed,) = upload.execute(context)
    assert zoho_emulator.files.content(filed["attachment_id"]) == stored


def test_a_zoho_that_replaces_the_field_on_update_is_never_a_silent_loss(hook, zoho_emulator, deal, tmp_path):
    # UNVERIFIED whether Zoho appends or replaces a field's list on update: if it replaces, the files
    # the field held before are gone, and the task must say so instead of reporting success.
    kept = zoho_emulator.files.attach("Deals", deal["record_id"], "Supporting_Documents", "kept.pdf", PDF)
    zoho_emulator.config.field_update_mode = "replace"
    with pytest.raises(ZohoCRMTransferError) as caught:
        hook.attach_to_field("Deals", deal["record_id"], "Supporting_Documents", source(tmp_path, "new.pdf"))
    assert caught.value.code == "FIELD_FILES_REPLACED"
    assert "kept.pdf" in str(caught.value)
    assert kept["id"] in caught.value.details["removed_by_zoho"]
