"""
A write whose answer is lost (Zoho did the work, the client saw a reset) is never done twice.

The hook-level case of one upload is in tests/integration/test_hook_faults.py; here: the upload
operator with several files, a link, the photo, and a lost answer whose check fails too.
"""

from __future__ import annotations

import pytest

from airflow_provider_zoho_attach.exceptions import ZohoCRMError
from airflow_provider_zoho_attach.operators.attachments import ZohoCRMUploadAttachmentOperator
from airflow_provider_zoho_attach.operators.photos import ZohoCRMUploadPhotoOperator
from airflow_provider_zoho_attach.testing._emulator_seed import tiny_png

pytestmark = pytest.mark.integration


def _outbox(tmp_path):
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    contents = {name: (name * 1000).encode() for name in ("a.txt", "b.txt", "c.txt")}
    for name, data in contents.items():
        (outbox / name).write_bytes(data)
    return outbox, contents


def _lose_answer_of(hook, emu, file_name, kind="commit_then_reset", **extra):
    """Arm ``kind`` on the POST that uploads ``file_name`` (and on no other)."""
    upload = hook.upload_attachment

    def wrapped(module, record_id, source, **kwargs):
        if kwargs.get("file_name") == file_name:
            emu.inject_fault(kind, method="POST", path="/Attachments$", **extra)
        return upload(module, record_id, source, **kwargs)

    hook.upload_attachment = wrapped


def test_upload_operator_with_one_lost_answer_among_three_files(
    zoho_emulator_connection, make_hook, context, tmp_path
):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    outbox, contents = _outbox(tmp_path)
    op = ZohoCRMUploadAttachmentOperator(task_id="up", module="Deals", record_id=record, source=str(outbox))
    op.hook = make_hook()
    _lose_answer_of(op.hook, emu, "b.txt")

    results = op.execute(context)

    assert [(r["file_name"], r["status"]) for r in results] == [
        ("a.txt", "uploaded"),
        ("b.txt", "uploaded"),
        ("c.txt", "uploaded"),
    ]
    stored = emu.attachments("Deals", record)
    assert sorted(a["File_Name"] for a in stored) == ["a.txt", "b.txt", "c.txt"]
    for result in results:
        assert emu.attachment_content(result["attachment_id"]) == contents[result["file_name"]]
    # b.txt was sent once: its lost answer was recovered by looking, not by sending it again.
    assert emu.count(method="POST", path_contains="/Attachments") == 3
    assert [r.fault for r in emu.requests if r.fault] == ["commit_then_reset"]


def test_rerunning_the_operator_after_a_lost_answer_creates_nothing(
    zoho_emulator_connection, make_hook, context, tmp_path
):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    outbox, _ = _outbox(tmp_path)
    for attempt in range(2):  # the task, then its retry
        op = ZohoCRMUploadAttachmentOperator(
            task_id="up", module="Deals", record_id=record, source=str(outbox)
        )
        op.hook = make_hook()
        _lose_answer_of(op.hook, emu, "c.txt")
        statuses = [r["status"] for r in op.execute(context)]
        assert statuses == (["uploaded"] * 3 if attempt == 0 else ["skipped"] * 3)
    assert sorted(a["File_Name"] for a in emu.attachments("Deals", record)) == ["a.txt", "b.txt", "c.txt"]


def test_a_lost_answer_whose_check_fails_is_not_sent_blindly(
    zoho_emulator_connection, make_hook, context, tmp_path
):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    outbox, _ = _outbox(tmp_path)
    op = ZohoCRMUploadAttachmentOperator(task_id="up", module="Deals", record_id=record, source=str(outbox))
    op.hook = make_hook(max_retries=2)
    upload = op.hook.upload_attachment

    def wrapped(module, record_id, source, **kwargs):
        if kwargs.get("file_name") == "b.txt":
            # The answer is lost, and the listing that would tell whether Zoho kept it fails too.
            emu.inject_fault("commit_then_reset", method="POST", path="/Attachments$")
            emu.inject_fault("status", status=503, count=1000, method="GET", path="/Attachments$")
        return upload(module, record_id, source, **kwargs)

    op.hook.upload_attachment = wrapped
    with pytest.raises(ZohoCRMError) as failure:
        op.execute(context)
    assert failure.value.code == "PARTIAL_FAILURE"
    assert "b.txt" in str(failure.value)
    assert "not sent again" in str(failure.value)
    # Never two b.txt, whatever happened.
    names = sorted(a["File_Name"] for a in emu.attachments("Deals", record))
    assert names == ["a.txt", "b.txt", "c.txt"]


def test_link_operator_with_a_lost_answer_attaches_once(zoho_emulator_connection, make_hook, context):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    op = ZohoCRMUploadAttachmentOperator(
        task_id="link", module="Deals", record_id=record, link_url="https://example.com/spec", title="Spec"
    )
    op.hook = make_hook()
    op.hook.get_access_token()
    emu.inject_fault("commit_then_reset", method="POST", path="/Attachments$")
    (result,) = op.execute(context)
    (stored,) = emu.attachments("Deals", record)
    assert result["attachment_id"] == stored["id"]
    assert result["status"] == "uploaded"
    assert emu.count(method="POST", path_contains="/Attachments") == 1


def test_photo_operator_with_a_lost_answer_sets_the_photo_once(
    zoho_emulator_connection, make_hook, context, tmp_path
):
    emu = zoho_emulator_connection
    record = emu.add_record("Contacts")
    emu.set_photo("Contacts", record, tiny_png(3, 3))
    source = tmp_path / "face.png"
    source.write_bytes(tiny_png(6, 6))
    op = ZohoCRMUploadPhotoOperator(task_id="photo", module="Contacts", record_id=record, source=str(source))
    op.hook = make_hook()
    op.hook.get_access_token()
    emu.inject_fault("commit_then_reset", method="POST", path="/photo$")
    result = op.execute(context)
    # A photo is replaced, not added: sending it again after the lost answer is harmless.
    assert emu.photo("Contacts", record) == tiny_png(6, 6)
    assert result["size"] == len(tiny_png(6, 6))
    assert emu.count(method="POST", path_contains="/photo") == 2
