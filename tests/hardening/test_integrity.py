"""
Issue 12: what was already on the record, retries that must not adopt or duplicate, deletes that
must be safe to re-run, names that must not collide, and hosts that must not be redirected.

Each test here failed on the commit before its fix (b4b884d); the closing note of issue 12 lists
the failure each one showed there.
"""

from __future__ import annotations

import hashlib
from unittest import mock

import pytest

from airflow_provider_zoho_attach.exceptions import ZohoCRMError
from airflow_provider_zoho_attach.operators.attachments import (
    ZohoCRMDeleteAttachmentOperator,
    ZohoCRMUploadAttachmentOperator,
)
from airflow_provider_zoho_attach.utils.filenames import safe_filename
from airflow_provider_zoho_attach.utils.transfer import UploadSource
from tests.hardening.test_secrets import debug_logging  # noqa: F401 - a fixture

pytestmark = pytest.mark.integration


def _names(emu, record):
    return sorted(a["File_Name"] for a in emu.attachments("Deals", record))


# ------------------------------------------------------------------ (1) uploads never adopt


@pytest.mark.parametrize(
    ("fault", "extra"),
    [
        ("429", {}),
        ("status", {"status": 400}),
        ("status", {"status": 503}),  # ambiguous, but the old file was there before
        ("reset", {}),  # ambiguous: the body went out, then the connection was lost
    ],
)
def test_a_failed_upload_never_takes_an_older_attachment_of_the_same_name_and_size(
    zoho_emulator_connection, make_hook, tmp_path, fault, extra
):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    theirs = emu.add_attachment("Deals", record, "report.csv", b"a" * 100)
    source = tmp_path / "report.csv"
    source.write_bytes(b"b" * 100)  # same name, same size, other bytes
    hook = make_hook()
    hook.get_access_token()
    emu.inject_fault(fault, method="POST", path="/Attachments$", **extra)

    try:
        result = hook.upload_attachment("Deals", record, source)
    except ZohoCRMError:
        assert (fault, extra.get("status")) == ("status", 400)  # a 4xx is the caller's to fix
        assert [a["id"] for a in emu.attachments("Deals", record)] == [theirs]
        return
    assert result["attachment_id"] != theirs
    assert emu.attachment_content(result["attachment_id"]) == b"b" * 100
    assert emu.attachment_content(theirs) == b"a" * 100
    assert _names(emu, record) == ["report.csv", "report.csv"]


def test_an_identical_file_already_on_the_record_is_not_taken_for_a_lost_upload(
    zoho_emulator_connection, make_hook, tmp_path
):
    # The user uploads the same bytes a second time on purpose; the answer to the second is lost
    # and Zoho did not store it. Same name, size and SHA-256: only "what was there before" tells.
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    first = emu.add_attachment("Deals", record, "same.txt", b"same bytes")
    source = tmp_path / "same.txt"
    source.write_bytes(b"same bytes")
    hook = make_hook()
    hook.get_access_token()
    emu.inject_fault("status", status=502, method="POST", path="/Attachments$")

    result = hook.upload_attachment("Deals", record, source)

    assert result["attachment_id"] != first
    assert len(emu.attachments("Deals", record)) == 2


def test_a_lost_answer_adopts_only_a_copy_with_the_same_bytes(zoho_emulator_connection, make_hook, tmp_path):
    # Zoho stored our upload but the answer was lost; meanwhile someone else attached a file of
    # the same name and size. Ours is the one with our bytes.
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    source = tmp_path / "scan.pdf"
    source.write_bytes(b"ours" * 50)
    hook = make_hook()
    hook.get_access_token()
    upload = hook._exchange

    def exchange(method, path, **kwargs):
        if method == "POST":
            emu.add_attachment("Deals", record, "scan.pdf", b"them" * 50)
            emu.inject_fault("commit_then_reset", method="POST", path="/Attachments$")
        return upload(method, path, **kwargs)

    hook._exchange = exchange
    result = hook.upload_attachment("Deals", record, source)

    assert emu.attachment_content(result["attachment_id"]) == b"ours" * 50
    assert result["sha256"] == hashlib.sha256(b"ours" * 50).hexdigest()
    assert emu.count(method="POST", path_contains="/Attachments") == 1
    assert len(emu.attachments("Deals", record)) == 2


def test_an_empty_file_whose_answer_is_lost_is_stored_once(zoho_emulator_connection, make_hook, tmp_path):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    source = tmp_path / "empty.txt"
    source.write_bytes(b"")
    hook = make_hook()
    hook.get_access_token()
    emu.inject_fault("commit_then_reset", method="POST", path="/Attachments$")

    result = hook.upload_attachment("Deals", record, source)

    (stored,) = emu.attachments("Deals", record)
    assert result["attachment_id"] == stored["id"]
    assert emu.count(method="POST", path_contains="/Attachments") == 1


def test_the_upload_operator_without_skip_if_exists_uploads_after_a_429(
    zoho_emulator_connection, make_hook, context, tmp_path
):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    theirs = emu.add_attachment("Deals", record, "daily.csv", b"1" * 64)
    outbox = tmp_path / "out"
    outbox.mkdir()
    (outbox / "daily.csv").write_bytes(b"2" * 64)
    op = ZohoCRMUploadAttachmentOperator(
        task_id="up", module="Deals", record_id=record, source=str(outbox), skip_if_exists=False
    )
    op.hook = make_hook()
    op.hook.get_access_token()
    emu.inject_fault("429", method="POST", path="/Attachments$")

    (result,) = op.execute(context)

    assert result["status"] == "uploaded"
    assert result["attachment_id"] != theirs
    assert emu.attachment_content(result["attachment_id"]) == b"2" * 64


# ------------------------------------------------------------------ (4) deletes safe to re-run


def test_deleting_ids_that_are_all_gone_is_a_successful_rerun(zoho_emulator_connection, make_hook, context):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    ids = [emu.add_attachment("Deals", record, f"{i}.txt", b"x") for i in range(3)]
    for attempt in ("first run", "re-run"):
        op = ZohoCRMDeleteAttachmentOperator(
            task_id="rm", module="Deals", record_id=record, attachment_ids=ids
        )
        op.hook = make_hook()
        statuses = [r["status"] for r in op.execute(context)]
        assert statuses == (["deleted"] * 3 if attempt == "first run" else ["missing"] * 3)
    assert emu.attachments("Deals", record) == []


def test_a_lost_delete_answer_on_a_wrong_record_is_not_reported_deleted(zoho_emulator_connection, make_hook):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    attachment = emu.add_attachment("Deals", record, "keep.txt", b"keep")
    hook = make_hook()
    hook.get_access_token()
    wrong_record = "9" * 19
    emu.inject_fault("reset", method="DELETE")

    with pytest.raises(ZohoCRMError) as failure:
        hook.delete_attachment("Deals", wrong_record, attachment)
    assert failure.value.code == "INVALID_DATA"
    assert [a["id"] for a in emu.attachments("Deals", record)] == [attachment]


def test_a_lost_delete_answer_is_confirmed_by_listing(zoho_emulator_connection, make_hook):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    ids = [emu.add_attachment("Deals", record, f"{i}.txt", b"x") for i in range(2)]
    hook = make_hook()
    hook.get_access_token()
    emu.inject_fault("commit_then_reset", method="DELETE")
    results = hook.delete_attachments("Deals", record, ids)
    assert [r["status"] for r in results] == ["deleted", "deleted"]
    assert emu.count(method="GET", path_contains="/Attachments") == 1  # the confirmation


def test_a_lost_delete_answer_whose_check_fails_is_unknown_and_fails_the_task(
    zoho_emulator_connection, make_hook, context
):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    ident = emu.add_attachment("Deals", record, "a.txt", b"x")
    op = ZohoCRMDeleteAttachmentOperator(
        task_id="rm", module="Deals", record_id=record, attachment_ids=[ident, "1" * 19]
    )
    op.hook = make_hook(max_retries=1)
    op.hook.get_access_token()
    emu.inject_fault("commit_then_reset", method="DELETE")
    emu.inject_fault("status", status=503, count=10, method="GET", path="/Attachments$")
    with pytest.raises(ZohoCRMError) as failure:
        op.execute(context)
    # Neither id could be confirmed deleted: nothing succeeded, so not a "partial" failure.
    assert failure.value.code == "ALL_FAILED"
    assert "listing the record to confirm it failed" in str(failure.value)


# ------------------------------------------------------------------ (9) names keep their characters


def test_names_that_differ_only_in_compatibility_characters_stay_distinct(tmp_path):
    a, b = "Q1 \u00bd budget.xlsx", "Q3 \u00bd budget.xlsx"
    assert safe_filename(a, fallback="x") == a
    assert safe_filename(b, fallback="x") == b
    assert safe_filename("x\u00b2.txt", fallback="x") == "x\u00b2.txt"
    (tmp_path / a).write_bytes(b"1")
    assert UploadSource(tmp_path / a).file_name == a
    # Separators in disguise are still separators.
    assert safe_filename("..\uff0f..\uff0fetc\uff0fpasswd", fallback="x") == "passwd"


def test_downloads_of_names_that_used_to_fold_together_stay_two_files(
    zoho_emulator_connection, make_hook, tmp_path
):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    first = emu.add_attachment("Deals", record, "Q1 \u00bd budget.xlsx", b"q1")
    second = emu.add_attachment("Deals", record, "Q3 \u00bd budget.xlsx", b"q3")
    hook = make_hook()
    paths = {hook.download_attachment("Deals", record, i, tmp_path)["path"] for i in (first, second)}
    assert sorted(p.rsplit("/", 1)[-1] for p in paths) == ["Q1 \u00bd budget.xlsx", "Q3 \u00bd budget.xlsx"]


# ------------------------------------------------------------------ (12) smaller ones


def test_a_json_error_with_status_200_is_not_saved_as_the_file(zoho_emulator_connection, make_hook, tmp_path):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    ident = emu.add_attachment("Deals", record, "real.pdf", b"%PDF real")
    hook = make_hook()
    hook.get_access_token()
    emu.inject_fault("status", status=200, method="GET", path=f"/Attachments/{ident}$")
    with pytest.raises(ZohoCRMError) as failure:
        hook.download_attachment("Deals", record, ident, tmp_path)
    assert failure.value.status_code == 200
    assert list(tmp_path.iterdir()) == []


def test_a_json_file_attachment_is_kept(zoho_emulator_connection, make_hook, tmp_path):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    body = b'{"status": "ok", "rows": [1, 2]}'
    ident = emu.add_attachment("Deals", record, "response.json", body, content_type="application/json")
    result = make_hook().download_attachment("Deals", record, ident, tmp_path)
    assert (tmp_path / "response.json").read_bytes() == body
    assert result["status"] == "downloaded"


def test_signed_link_urls_are_masked_in_errors_and_logs(
    zoho_emulator_connection,
    make_hook,
    context,
    debug_logging,  # noqa: F811 - the fixture
):
    from airflow_provider_zoho_attach.hooks.zoho_crm import check_link

    secret = "X-Amz-Signature=deadbeefcafe1234"
    with pytest.raises(ZohoCRMError) as failure:
        check_link(f"ftp://bucket.example/doc.pdf?{secret}")
    assert "deadbeefcafe1234" not in str(failure.value)

    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    url = f"https://bucket.example/doc.pdf?{secret}"
    emu.add_link_attachment("Deals", record, url)
    op = ZohoCRMUploadAttachmentOperator(task_id="link", module="Deals", record_id=record, link_url=url)
    op.hook = make_hook()
    lines = []
    with mock.patch.object(type(op), "log", new_callable=mock.PropertyMock) as log:
        log.return_value.info.side_effect = lambda message, *args: lines.append(message % args)
        (result,) = op.execute(context)
    assert result["status"] == "skipped"
    assert lines
    assert not [line for line in lines if "deadbeefcafe1234" in line]
    assert [line for line in lines if "doc.pdf?***" in line]
    assert "deadbeefcafe1234" not in debug_logging.text
