"""Counts and codes say what happened: downloaded, unchanged, skipped, failed (issue 13.6).

A re-run must not claim it downloaded files that were already there; a total failure is not a
"partial" one, and its hint does not say that others succeeded.
"""

from __future__ import annotations

import pytest

from airflow_provider_zoho_attach.exceptions import ZohoCRMError, ZohoCRMNotFoundError
from airflow_provider_zoho_attach.operators.attachments import (
    ZohoCRMDeleteAttachmentOperator,
    ZohoCRMDownloadAttachmentsOperator,
    ZohoCRMUploadAttachmentOperator,
)
from airflow_provider_zoho_attach.utils.progress import TransferProgress

MISSING = ["1" * 19, "2" * 19, "3" * 19, "4" * 19, "5" * 19]


class Lines:
    """A logger that keeps its info lines."""

    def __init__(self):
        self.lines = []

    def info(self, message, *args):
        self.lines.append(message % args)


def _summary_lines(capfd):
    """The progress lines (``N/M file(s) finished: ...``) logged since the last call."""
    out, err = capfd.readouterr()
    return [line[line.index("] ") + 2 :] for line in (out + err).splitlines() if "file(s) finished" in line]


def test_progress_line_names_each_outcome():
    log = Lines()
    progress = TransferProgress(log, verb="downloaded", total_files=5)
    progress.file_done()
    for outcome in ("unchanged", "unchanged", "skipped", "failed"):
        progress.file_done(outcome=outcome)
    progress.finish()
    assert log.lines[-1].startswith(
        "5/5 file(s) finished: 1 downloaded, 2 unchanged, 1 skipped, 1 failed; 0.0 MiB transferred"
    )
    assert progress.files == 5
    assert progress.failed == 1


def test_progress_line_of_a_total_failure_says_none_moved():
    log = Lines()
    progress = TransferProgress(log, verb="uploaded", total_files=2)
    progress.file_done(outcome="failed")
    progress.file_done(outcome="failed")
    progress.finish()
    assert log.lines[-1].startswith("2/2 file(s) finished: 0 uploaded, 2 failed;")
    with pytest.raises(ValueError, match="outcome"):
        progress.file_done(outcome="moved")


@pytest.fixture
def logs(capfd):
    """Task logs go to the console through structlog, not to ``caplog``."""
    return capfd


def test_a_rerun_counts_unchanged_files_as_unchanged(
    zoho_emulator_connection, make_hook, context, tmp_path, logs
):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    for name in ("a.pdf", "b.pdf", "c.pdf"):
        emu.add_attachment("Deals", record, name, f"%PDF {name}".encode())
    op = ZohoCRMDownloadAttachmentsOperator(
        task_id="dl", module="Deals", record_id=record, destination=str(tmp_path)
    )
    op.hook = make_hook()
    op.execute(context)
    emu.add_attachment("Deals", record, "d.pdf", b"%PDF d")
    _summary_lines(logs)
    results = op.execute(context)
    assert sorted(r["status"] for r in results) == ["downloaded", "unchanged", "unchanged", "unchanged"]
    assert _summary_lines(logs)[-1].startswith("4/4 file(s) finished: 1 downloaded, 3 unchanged;")


def test_a_total_failure_is_all_failed_not_partial(
    zoho_emulator_connection, make_hook, context, tmp_path, logs
):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    op = ZohoCRMDownloadAttachmentsOperator(
        task_id="dl", module="Deals", record_id=record, attachment_ids=MISSING, destination=str(tmp_path)
    )
    op.hook = make_hook()
    with pytest.raises(ZohoCRMError) as failure:
        op.execute(context)
    assert failure.value.code == "ALL_FAILED"
    assert "all 5 downloads failed" in str(failure.value)
    assert "succeeded" not in failure.value.hint.replace("Nothing succeeded", "")
    assert "others" not in failure.value.hint
    assert _summary_lines(logs)[-1].startswith("5/5 file(s) finished: 0 downloaded, 5 failed;")


def test_a_single_file_that_failed_keeps_its_own_error(
    zoho_emulator_connection, make_hook, context, tmp_path
):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    op = ZohoCRMDownloadAttachmentsOperator(
        task_id="dl", module="Deals", record_id=record, attachment_ids=MISSING[:1], destination=str(tmp_path)
    )
    op.hook = make_hook()
    with pytest.raises(ZohoCRMNotFoundError) as failure:
        op.execute(context)
    assert failure.value.code != "PARTIAL_FAILURE"
    assert "succeeded" not in failure.value.hint


def test_a_partial_failure_says_what_succeeded(zoho_emulator_connection, make_hook, context, tmp_path, logs):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    good = emu.add_attachment("Deals", record, "a.pdf", b"%PDF a")
    op = ZohoCRMDownloadAttachmentsOperator(
        task_id="dl",
        module="Deals",
        record_id=record,
        attachment_ids=[good, MISSING[0]],
        destination=str(tmp_path),
    )
    op.hook = make_hook()
    with pytest.raises(ZohoCRMError) as failure:
        op.execute(context)
    assert failure.value.code == "PARTIAL_FAILURE"
    assert "The other 1 succeeded (1 downloaded)" in failure.value.hint
    assert _summary_lines(logs)[-1].startswith("2/2 file(s) finished: 1 downloaded, 1 failed;")


def test_a_link_given_by_id_is_skipped_not_failed(
    zoho_emulator_connection, make_hook, context, tmp_path, logs
):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    link = emu.add_link_attachment("Deals", record, "https://example.com/spec")
    op = ZohoCRMDownloadAttachmentsOperator(
        task_id="dl", module="Deals", record_id=record, attachment_ids=[link], destination=str(tmp_path)
    )
    op.hook = make_hook()
    assert op.execute(context) == []
    assert _summary_lines(logs)[-1].startswith("1/1 file(s) finished: 0 downloaded, 1 skipped;")


def test_uploads_count_skipped_and_a_total_failure(
    zoho_emulator_connection, make_hook, context, tmp_path, logs
):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text(name)
    op = ZohoCRMUploadAttachmentOperator(task_id="up", module="Deals", record_id=record, source=str(tmp_path))
    op.hook = make_hook()
    op.execute(context)
    _summary_lines(logs)
    op.execute(context)
    assert _summary_lines(logs)[-1].startswith("2/2 file(s) finished: 0 uploaded, 2 skipped;")
    (tmp_path / "c.txt").write_text("c")
    (tmp_path / "d.txt").write_text("d")
    op = ZohoCRMUploadAttachmentOperator(
        task_id="up",
        module="Deals",
        record_id=record,
        source=[str(tmp_path / "c.txt"), str(tmp_path / "d.txt")],
    )
    op.hook = make_hook()
    emu.inject_fault("status", status=403, count=100, method="POST", path="/Attachments$")
    _summary_lines(logs)
    with pytest.raises(ZohoCRMError) as failure:
        op.execute(context)
    assert failure.value.code == "ALL_FAILED"
    assert "Nothing succeeded" in failure.value.hint
    assert _summary_lines(logs)[-1].startswith("2/2 file(s) finished: 0 uploaded, 2 failed;")


def test_deletes_that_all_failed_are_all_failed(zoho_emulator_connection, make_hook, context, logs):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    op = ZohoCRMDeleteAttachmentOperator(
        task_id="rm", module="Deals", record_id=record, attachment_ids=MISSING[:2], ignore_missing=False
    )
    op.hook = make_hook()
    with pytest.raises(ZohoCRMError) as failure:
        op.execute(context)
    assert failure.value.code == "ALL_FAILED"
    assert "others" not in failure.value.hint


def test_a_photo_found_in_place_is_logged_as_unchanged(
    zoho_emulator_connection, make_hook, context, tmp_path, logs
):
    from airflow_provider_zoho_attach.operators.photos import ZohoCRMDownloadPhotoOperator
    from airflow_provider_zoho_attach.testing._emulator_seed import tiny_png

    emu = zoho_emulator_connection
    contact = emu.add_record("Contacts")
    emu.set_photo("Contacts", contact, tiny_png(8, 8))
    op = ZohoCRMDownloadPhotoOperator(
        task_id="photo", module="Contacts", record_id=contact, destination=str(tmp_path)
    )
    op.hook = make_hook()
    assert op.execute(context)["status"] == "downloaded"
    first, _ = logs.readouterr()
    assert f"Photo of Contacts/{contact} downloaded to " in first
    assert op.execute(context)["status"] == "unchanged"
    second, _ = logs.readouterr()
    assert f"Photo of Contacts/{contact} is unchanged at " in second
