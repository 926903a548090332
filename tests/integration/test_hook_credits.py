"""The API credits a hook spends, what Zoho says is left, and the line each task logs."""

from __future__ import annotations

import pytest

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
