"""Every fault the emulator can make, on downloads, uploads and listings: survived, or a clear error."""

from __future__ import annotations

import hashlib
import os

import pytest

from airflow_provider_zoho_attach.exceptions import ZohoCRMError

pytestmark = pytest.mark.integration

CONTENT = os.urandom(512 * 1024 + 3)

# (fault kind, extra arguments)
TRANSIENT = [
    ("status", {"status": 500}),
    ("status", {"status": 502}),
    ("status", {"status": 503}),
    ("429", {}),
    ("reset", {}),
    ("reset_mid_body", {}),
    ("truncated", {}),
    ("slow_body", {"delay": 1.5}),
    ("html_error", {}),
    ("invalid_token", {}),
]


@pytest.fixture
def fault_hook(make_hook):
    # A short timeout makes the slow body a timeout; two retries keep "after the bound" quick.
    return make_hook(timeout=0.5, max_retries=2)


@pytest.mark.parametrize(
    ("kind", "extra"), TRANSIENT, ids=[f"{k}{e.get('status', '')}" for k, e in TRANSIENT]
)
def test_download_survives(zoho_emulator_connection, fault_hook, tmp_path, kind, extra):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    attachment = emu.add_attachment("Deals", record, "doc.bin", CONTENT)
    fault_hook.get_access_token()
    emu.inject_fault(kind, method="GET", path="/Attachments/", **extra)
    result = fault_hook.download_attachment("Deals", record, attachment, tmp_path)
    assert result["sha256"] == hashlib.sha256(CONTENT).hexdigest()
    assert (tmp_path / "doc.bin").read_bytes() == CONTENT
    assert os.listdir(tmp_path) == ["doc.bin"]


@pytest.mark.parametrize(
    ("kind", "extra"), TRANSIENT, ids=[f"{k}{e.get('status', '')}" for k, e in TRANSIENT]
)
def test_download_gives_up_cleanly(zoho_emulator_connection, fault_hook, tmp_path, kind, extra):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    attachment = emu.add_attachment("Deals", record, "doc.bin", CONTENT)
    fault_hook.get_access_token()
    emu.inject_fault(kind, count=50, method="GET", path="/Attachments/", **extra)
    with pytest.raises(ZohoCRMError) as info:
        fault_hook.download_attachment("Deals", record, attachment, tmp_path)
    assert info.value.code or info.value.status_code
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("kind", "extra"), TRANSIENT, ids=[f"{k}{e.get('status', '')}" for k, e in TRANSIENT]
)
def test_listing_survives(zoho_emulator_connection, fault_hook, kind, extra):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    emu.add_attachments_bulk("Deals", record, 450, size=4)
    fault_hook.get_access_token()
    emu.inject_fault(kind, method="GET", path="/Attachments$", **extra)
    assert len(fault_hook.list_attachments("Deals", record)) == 450


@pytest.mark.parametrize(
    ("kind", "extra"), TRANSIENT, ids=[f"{k}{e.get('status', '')}" for k, e in TRANSIENT]
)
def test_upload_survives_without_duplicates(zoho_emulator_connection, fault_hook, tmp_path, kind, extra):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    source = tmp_path / "up.bin"
    source.write_bytes(CONTENT)
    fault_hook.get_access_token()
    emu.inject_fault(kind, method="POST", path="/Attachments$", **extra)
    result = fault_hook.upload_attachment("Deals", record, source)
    stored = emu.attachments("Deals", record)
    assert len(stored) == 1
    assert emu.attachment_content(result["attachment_id"]) == CONTENT


def test_a_lost_upload_response_does_not_create_a_duplicate(zoho_emulator_connection, fault_hook, tmp_path):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    source = tmp_path / "contract.pdf"
    source.write_bytes(CONTENT)
    fault_hook.get_access_token()
    emu.inject_fault("commit_then_reset", method="POST", path="/Attachments$")
    result = fault_hook.upload_attachment("Deals", record, source)
    (stored,) = emu.attachments("Deals", record)
    assert stored["id"] == result["attachment_id"]
    assert emu.count(method="POST", path_contains="/Attachments") == 1


def test_a_lost_upload_is_not_confused_with_an_older_identical_file(
    zoho_emulator_connection, fault_hook, tmp_path
):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    older = emu.add_attachment(
        "Deals", record, "contract.pdf", CONTENT, created_time="2020-01-01T00:00:00+00:00"
    )
    source = tmp_path / "contract.pdf"
    source.write_bytes(CONTENT)
    fault_hook.get_access_token()
    emu.inject_fault("reset", method="POST", path="/Attachments$")
    result = fault_hook.upload_attachment("Deals", record, source, known_ids=[older])
    assert result["attachment_id"] != older
    assert len(emu.attachments("Deals", record)) == 2


def test_daily_credits_exhausted_is_a_clear_error(zoho_emulator_connection, fault_hook):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    fault_hook.get_access_token()
    emu.config.daily_credits = emu.credits_used
    with pytest.raises(ZohoCRMError) as info:
        fault_hook.list_attachments("Deals", record)
    assert info.value.code == "TOO_MANY_REQUESTS"
    assert "credits" in str(info.value)
    assert "gave up after 3 attempts" in str(info.value)


def test_refresh_token_revoked_is_an_auth_error(zoho_emulator_connection, fault_hook):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    fault_hook.list_attachments("Deals", record)
    emu.revoke_refresh_token(emu.refresh_token)
    emu.revoke_access_tokens()
    with pytest.raises(ZohoCRMError) as info:
        fault_hook.list_attachments("Deals", record)
    assert info.value.code == "invalid_code"


def test_204_where_a_file_was_expected(zoho_emulator_connection, fault_hook, tmp_path):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    attachment = emu.add_attachment("Deals", record, "doc.bin", CONTENT)
    emu.inject_fault("empty_204", method="GET", path="/Attachments/")
    with pytest.raises(ZohoCRMError) as info:
        fault_hook.download_attachment("Deals", record, attachment, tmp_path)
    assert info.value.status_code == 204
    assert os.listdir(tmp_path) == []
