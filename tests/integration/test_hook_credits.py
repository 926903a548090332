"""The API credits a hook spends, what Zoho says is left, and the line each task logs."""

from __future__ import annotations

import io

import pytest

from airflow_provider_zoho_attach.exceptions import ZohoCRMInvalidRequestError

pytestmark = pytest.mark.integration


class Lines:
    """Stands in for a structlog logger: keeps the lines logged at info level."""

    def __init__(self):
        self.lines = []

    def info(self, message, *args):
        self.lines.append(message % args)

    def __getattr__(self, name):  # debug, warning...: not what these tests read
        return lambda *args, **kwargs: None


def test_the_hook_counts_the_credits_of_what_zoho_answered(hook, zoho_emulator):
    record = zoho_emulator.add_record("Deals")
    zoho_emulator.add_attachment("Deals", record, "a.pdf", b"%PDF")
    hook.list_attachments("Deals", record)
    assert hook.credits.used == 1
    hook.coql("select id from Deals where id is not null limit 2000")
    assert hook.credits.used == 1 + 3  # a COQL query of up to 2,000 rows costs 3
    assert hook.credits.remaining is None  # Zoho says nothing before half of the day's credits are used


def test_what_zoho_reports_left_is_logged_once(hook, zoho_emulator):
    zoho_emulator.config.daily_credits = 6
    record = zoho_emulator.add_record("Deals")
    hook._log = log = Lines()
    hook.list_attachments("Deals", record)
    hook.list_attachments("Deals", record)
    assert hook.credits.remaining is None  # a third of the day used: Zoho says nothing yet
    hook.list_attachments("Deals", record)
    hook.list_attachments("Deals", record)
    lines = [line for line in log.lines if "credits left today" in line]
    assert len(lines) == 1
    assert hook.credits.remaining == 6 - hook.credits.used == 2


def test_each_task_logs_the_credits_it_spent(make_hook, zoho_emulator, monkeypatch):
    from airflow_provider_zoho_attach.operators.attachments import ZohoCRMListAttachmentsOperator

    record = zoho_emulator.add_record("Deals")
    task = ZohoCRMListAttachmentsOperator(task_id="list", module="Deals", record_id=record)
    task.hook = make_hook()
    task.hook.list_attachments("Deals", record)
    log = Lines()
    monkeypatch.setattr(type(task), "log", property(lambda self: log))
    task.post_execute({})
    assert log.lines == ["Zoho API credits used by this task: 1"]


def test_the_hook_and_the_emulator_agree_on_every_call_type(hook, zoho_emulator, tmp_path):
    from datetime import UTC, datetime

    from tests.integration._files_client import deal_with_empty_fields

    deal = deal_with_empty_fields(zoho_emulator)
    ids = zoho_emulator.add_records("Deals", ({"Stage": "Won" if i % 2 else "Lost"} for i in range(450)))
    record = ids[0]
    uploaded = hook.upload_attachment("Deals", record, io.BytesIO(b"one"), file_name="a.txt")
    hook.list_attachments("Deals", record)
    hook.download_attachment("Deals", record, uploaded["attachment_id"], tmp_path / "a.txt")
    hook.delete_attachment("Deals", record, uploaded["attachment_id"])
    for limit in (10, 500, 2000):
        hook.coql(f"select id from Deals where id is not null limit {limit}")  # noqa: S608
    list(hook.iter_records("Deals", where="Stage = 'Won'"))
    list(hook.iter_records("Deals", modified_since=datetime.fromtimestamp(1, UTC)))
    list(hook.iter_records("Deals", criteria="(Stage:equals:Won)"))
    (tmp_path / "zfs.txt").write_bytes(b"zfs")
    [zfs] = hook.upload_files([tmp_path / "zfs.txt"])
    assert zfs["file_id"]
    hook.attach_to_field("Deals", deal, "Supporting_Documents", [tmp_path / "zfs.txt"])
    hook.list_field_files("Deals", deal)
    hook.get_current_user()
    with pytest.raises(ZohoCRMInvalidRequestError):
        hook.coql("select Nope from Deals where id is not null limit 1500")  # refused: still charged
    kinds = hook.credits.by_type
    assert kinds == zoho_emulator.credits_by_type()
    assert hook.credits.used == zoho_emulator.credits_used() == sum(kinds.values())
    assert {"coql", "get_records", "search", "attachments_list", "attachment_upload"} <= set(kinds)
    assert {"attachment_download", "attachment_delete", "files_upload", "update_records"} <= set(kinds)
