"""The sync hook against the emulator: OAuth, pagination, transfers, concurrency, errors."""

from __future__ import annotations

import hashlib
import math
import os
import threading
import time
from pathlib import Path

import pytest

from airflow_provider_zoho_attach.exceptions import (
    ZohoCRMAuthError,
    ZohoCRMInvalidRequestError,
    ZohoCRMNotFoundError,
    ZohoCRMRateLimitError,
)

pytestmark = pytest.mark.integration


def test_5000_attachments_take_25_list_calls_and_one_token(zoho_emulator_connection, hook):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    emu.add_attachments_bulk("Deals", record, 5000, size=16)
    emu.reset_log()
    records = hook.list_attachments("Deals", record)
    assert len(records) == 5000
    assert len({r["id"] for r in records}) == 5000
    list_calls = [r for r in emu.requests if r.path.endswith("/Attachments")]
    assert len(list_calls) == math.ceil(5000 / 200)
    assert emu.token_calls == 1
    # Page numbers up to Zoho's 2,000-row limit, page tokens after it.
    assert [c.query.get("page") for c in list_calls[:10]] == [str(n) for n in range(1, 11)]
    assert all("page_token" in c.query and "page" not in c.query for c in list_calls[10:])
    assert all(c.query["fields"].startswith("id,") for c in list_calls)


def test_small_page_sizes_and_max_items(zoho_emulator_connection, hook):
    emu = zoho_emulator_connection
    record = emu.add_record("Leads")
    emu.add_attachments_bulk("Leads", record, 25, size=8)
    emu.reset_log()
    assert len(hook.list_attachments("leads", record, per_page=10)) == 25
    assert emu.count(path_contains="Attachments") == 3
    emu.reset_log()
    assert len(hook.list_attachments("Leads", record, max_items=5)) == 5
    assert emu.count(path_contains="Attachments") == 1


def test_empty_list_as_204_or_200(zoho_emulator_connection, hook):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    assert hook.list_attachments("Deals", record) == []
    emu.config.empty_list_status = 200
    assert hook.list_attachments("Deals", record) == []


def test_tokens_are_shared_by_hooks_of_one_process(zoho_emulator_connection, make_hook):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    for _ in range(10):
        make_hook().list_attachments("Deals", record)
    assert emu.token_calls == 1


def test_token_cache_none_keeps_one_token_per_hook(zoho_emulator, monkeypatch, make_hook):
    for name, value in zoho_emulator.airflow_env(oauth_cache="none").items():
        monkeypatch.setenv(name, value)
    record = zoho_emulator.add_record("Deals")
    hook = make_hook()
    for _ in range(3):
        hook.list_attachments("Deals", record)
    make_hook().list_attachments("Deals", record)
    assert zoho_emulator.token_calls == 2


def test_token_is_refreshed_before_it_expires(zoho_emulator_connection, hook, monkeypatch):
    import time as real_time

    from airflow_provider_zoho_attach.utils import protocol

    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    hook.list_attachments("Deals", record)
    # 56 minutes later (inside the 5-minute margin of the 1-hour token): a new one, before any 401.
    later = real_time.time() + 56 * 60
    monkeypatch.setattr(protocol.time, "time", lambda: later)
    emu.clock.advance(56 * 60)
    hook.list_attachments("Deals", record)
    assert emu.token_calls == 2
    assert emu.count(status=401) == 0


def test_revoked_access_token_is_refreshed_once(zoho_emulator_connection, hook):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    hook.list_attachments("Deals", record)
    emu.revoke_access_tokens()
    hook.list_attachments("Deals", record)
    assert emu.token_calls == 2
    assert emu.count(status=401) == 1


def test_token_throttle_is_waited_out(zoho_emulator, monkeypatch, make_hook):
    for name, value in zoho_emulator.airflow_env(oauth_cache="none").items():
        monkeypatch.setenv(name, value)
    record = zoho_emulator.add_record("Deals")
    for _ in range(10):
        make_hook().list_attachments("Deals", record)
    hook = make_hook(token_throttle_timeout=900)
    hook.list_attachments("Deals", record)  # the 11th token: throttled, waited out on the emulator's clock
    throttled = [
        r for r in zoho_emulator.requests if r.path == "/oauth/v2/token" and r.code == "Access Denied"
    ]
    assert throttled
    assert zoho_emulator.token_calls == 11 + len(throttled)


def test_token_throttle_gives_a_clear_error_after_the_bound(zoho_emulator_connection, make_hook):
    emu = zoho_emulator_connection
    emu.inject_fault("token_throttle", count=100)
    hook = make_hook(token_throttle_timeout=60)
    with pytest.raises(ZohoCRMRateLimitError) as info:
        hook.get_access_token()
    assert info.value.code == "TOKEN_THROTTLED"
    assert "still throttled" in str(info.value)


def test_a_token_shared_while_the_throttle_is_waited_out_is_used(zoho_emulator_connection, make_hook):
    """Another task (or host) gets a token while this hook waits: the hook takes it, asks Zoho no more."""
    from airflow_provider_zoho_attach.utils.protocol import AccessToken
    from airflow_provider_zoho_attach.utils.tokens import TokenCache

    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    emu.inject_fault("token_throttle", count=100)
    hook = make_hook(token_throttle_timeout=900)
    waits = []

    def wait(seconds):
        waits.append(seconds)
        emu.clock.advance(seconds)
        if len(waits) == 1:
            shared = AccessToken(emu.issue_access_token(), expires_at=time.time() + 3600)
            TokenCache(hook.settings).store(shared)

    hook._sleep = wait
    assert hook.list_attachments("Deals", record) == []
    assert len(waits) == 1
    assert emu.token_calls == 1  # the throttled request only


def test_bad_credentials_and_wrong_data_centre(zoho_emulator, monkeypatch, make_hook):
    for name, value in zoho_emulator.airflow_env(refresh_token="1000.not-a-token").items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ZohoCRMAuthError) as info:
        make_hook().get_access_token()
    assert info.value.code == "invalid_code"
    conn = zoho_emulator.connection_dict()
    conn["password"] = "wrong-secret"
    import json

    monkeypatch.setenv("AIRFLOW_CONN_ZOHO_CRM_DEFAULT", json.dumps(conn))
    with pytest.raises(ZohoCRMAuthError) as info:
        make_hook().get_access_token()
    assert info.value.code == "invalid_client"
    assert "data centre" in str(info.value)
    assert "wrong-secret" not in str(info.value)


def test_scope_mismatch(zoho_emulator, monkeypatch, make_hook):
    token = zoho_emulator.create_refresh_token(["ZohoCRM.modules.deals.READ"])
    for name, value in zoho_emulator.airflow_env(refresh_token=token).items():
        monkeypatch.setenv(name, value)
    record = zoho_emulator.add_record("Deals")
    with pytest.raises(ZohoCRMAuthError) as info:
        make_hook().list_attachments("Deals", record)
    assert info.value.code == "OAUTH_SCOPE_MISMATCH"
    assert "ZohoCRM.modules.attachments" in str(info.value)


def test_unknown_module_and_record(zoho_emulator_connection, hook):
    with pytest.raises(ZohoCRMInvalidRequestError) as info:
        hook.list_attachments("NoSuchModule", "1")
    assert info.value.code == "INVALID_MODULE"
    with pytest.raises(ZohoCRMNotFoundError) as info:
        hook.list_attachments("Deals", "1")
    assert info.value.code == "INVALID_DATA"


def test_bad_input_sends_nothing(zoho_emulator_connection, hook, tmp_path):
    emu = zoho_emulator_connection
    emu.reset_log()
    for call in (
        lambda: hook.list_attachments("Sales Orders", "1"),
        lambda: hook.list_attachments("Deals", "12ab"),
        lambda: hook.list_attachments("Deals", "1", fields=["File Name"]),
        lambda: hook.list_attachments("Deals", "1", per_page=500),
        lambda: hook.download_attachment("Deals", "1", "x", tmp_path),
        lambda: hook.upload_attachment("Deals", "1", tmp_path / "missing"),
        lambda: hook.attach_link("Deals", "1", "not a url"),
        lambda: hook.delete_attachments("Deals", "1", []),
    ):
        with pytest.raises(ZohoCRMInvalidRequestError):
            call()
    assert emu.requests == []


def test_download_streams_the_exact_bytes(zoho_emulator_connection, hook, tmp_path):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    content = os.urandom(3 * 1024 * 1024 + 17)
    attachment = emu.add_attachment("Deals", record, "Contrat été 2024.pdf", content)
    result = hook.download_attachment("Deals", record, attachment, tmp_path)
    assert result["file_name"] == "Contrat été 2024.pdf"
    assert result["sha256"] == hashlib.sha256(content).hexdigest()
    assert result["content_type"] == "application/pdf"
    assert (tmp_path / "Contrat été 2024.pdf").read_bytes() == content
    assert os.listdir(tmp_path) == ["Contrat été 2024.pdf"]


@pytest.mark.parametrize("header_format", ["rfc5987", "quoted", "both"])
def test_every_content_disposition_form(zoho_emulator_connection, hook, tmp_path, header_format):
    emu = zoho_emulator_connection
    emu.config.content_disposition_format = header_format
    record = emu.add_record("Deals")
    attachment = emu.add_attachment("Deals", record, "report 1.csv", b"a,b\n1,2\n")
    assert hook.download_attachment("Deals", record, attachment, tmp_path)["file_name"] == "report 1.csv"


HOSTILE = [
    "../../outside.txt",
    "/etc/passwd",
    "..\\..\\outside.txt",
    "C:\\Windows\\win.ini",
    "CON",
    "a\x01b.txt",
    "x" * 1000 + ".txt",
    "\uff0e\uff0e\uff0foutside.txt",
    "..",
    "....",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_from_zoho_stay_inside(zoho_emulator_connection, hook, tmp_path, name):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    attachment = emu.add_attachment("Deals", record, name, b"payload")
    dest = tmp_path / "dest"
    dest.mkdir()
    result = hook.download_attachment("Deals", record, attachment, dest)
    written = os.path.realpath(result["path"])
    assert os.path.dirname(written) == os.path.realpath(dest)
    assert sorted(os.listdir(tmp_path)) == ["dest"]
    assert len(os.listdir(dest)) == 1


def test_link_attachments_cannot_be_downloaded(zoho_emulator_connection, hook, tmp_path):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    link = emu.add_link_attachment("Deals", record, "https://example.com/spec.html")
    with pytest.raises(ZohoCRMInvalidRequestError) as info:
        hook.download_attachment("Deals", record, link, tmp_path)
    assert info.value.code == "DOWNLOAD_NOT_ALLOWED"
    assert os.listdir(tmp_path) == []


def test_upload_round_trip(zoho_emulator_connection, hook, tmp_path):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    source = tmp_path / "données.bin"
    content = os.urandom(2 * 1024 * 1024)
    source.write_bytes(content)
    result = hook.upload_attachment("Deals", record, source)
    assert result["sha256"] == hashlib.sha256(content).hexdigest()
    assert emu.attachment_content(result["attachment_id"]) == content
    (listed,) = hook.list_attachments("Deals", record)
    assert listed["File_Name"] == "données.bin"
    assert int(listed["Size"]) == len(content)


def test_upload_from_object_storage(zoho_emulator_connection, hook, memory_storage):
    from airflow.sdk import ObjectStoragePath

    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    path = ObjectStoragePath("memory://bucket/in/invoice.pdf")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"%PDF invoice")
    result = hook.upload_attachment("Deals", record, "memory://bucket/in/invoice.pdf")
    assert emu.attachment_content(result["attachment_id"]) == b"%PDF invoice"
    assert result["file_name"] == "invoice.pdf"


def test_upload_too_large_for_zoho_is_refused_locally(zoho_emulator_connection, hook, tmp_path):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    big = tmp_path / "big.bin"
    with open(big, "wb") as handle:
        handle.truncate(100 * 1024 * 1024 + 1)
    emu.reset_log()
    with pytest.raises(ZohoCRMInvalidRequestError) as info:
        hook.upload_attachment("Deals", record, big)
    assert info.value.code == "FILE_SIZE_MORE_THAN_ALLOWED_SIZE"
    assert emu.requests == []


def test_links_bulk_delete_and_photos(zoho_emulator_connection, hook, tmp_path):
    from airflow_provider_zoho_attach.testing._emulator_seed import tiny_png

    emu = zoho_emulator_connection
    record = emu.add_record("Contacts")
    link = hook.attach_link("Contacts", record, "https://example.com/a", title="A")
    files = [emu.add_attachment("Contacts", record, f"f{i}.txt", b"x") for i in range(3)]
    results = hook.delete_attachments("Contacts", record, [link["attachment_id"], *files, "999"])
    assert [r["status"] for r in results] == ["deleted"] * 4 + ["error"]
    assert emu.attachments("Contacts", record) == []

    png = tmp_path / "face.png"
    png.write_bytes(tiny_png(8, 8))
    hook.upload_photo("Contacts", record, png)
    assert emu.photo("Contacts", record) == png.read_bytes()
    photo = hook.download_photo("Contacts", record, tmp_path / "out")
    assert Path(photo["path"]).read_bytes() == png.read_bytes()
    assert photo["content_type"] == "image/png"
    hook.delete_photo("Contacts", record)
    with pytest.raises(ZohoCRMNotFoundError):
        hook.download_photo("Contacts", record, tmp_path / "out")


def test_concurrency_is_capped_per_hook(zoho_emulator_connection, make_hook, tmp_path):
    emu = zoho_emulator_connection
    emu.config.latency = 0.05
    record = emu.add_record("Deals")
    ids = [emu.add_attachment("Deals", record, f"f{i}.bin", os.urandom(1000)) for i in range(12)]
    hook = make_hook(max_concurrency=3)
    hook.get_access_token()
    threads = [
        threading.Thread(target=hook.download_attachment, args=("Deals", record, ident, tmp_path))
        for ident in ids
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(os.listdir(tmp_path)) == 12
    assert emu.peak_in_flight <= 3


def test_test_connection(zoho_emulator_connection, hook, zoho_emulator, monkeypatch, make_hook):
    ok, message = hook.test_connection()
    assert ok
    assert "Connected" in message
    for name, value in zoho_emulator.airflow_env(refresh_token="1000.revoked").items():
        monkeypatch.setenv(name, value)
    ok, message = make_hook().test_connection()
    assert not ok
    assert "invalid_code" in message
    assert "1000.revoked" not in message


def test_call_reaches_any_endpoint_with_the_hooks_auth_and_retries(zoho_emulator_connection, hook):
    emu = zoho_emulator_connection
    emu.inject_fault("status", count=1, method="GET", path="/users", status=500)
    payload = hook.call("GET", "users", params={"type": "CurrentUser"})
    (user,) = payload["users"]
    assert user == hook.get_current_user()
    assert emu.count(method="GET", path_contains="/users") == 3  # the 500, its retry, get_current_user
    assert emu.token_calls == 1
