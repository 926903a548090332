"""No secret reaches a log line (at DEBUG), an exception, a repr or the emulator's request log."""

from __future__ import annotations

import logging

import pytest

from airflow_provider_zoho_attach.exceptions import ZohoCRMError

pytestmark = pytest.mark.integration


def test_no_secret_in_logs_errors_or_reprs(
    zoho_emulator_connection, make_hook, tmp_path, caplog, monkeypatch
):
    emu = zoho_emulator_connection
    caplog.set_level(logging.DEBUG)
    logging.getLogger("urllib3").setLevel(logging.DEBUG)
    record = emu.add_record("Deals")
    attachment = emu.add_attachment("Deals", record, "a.txt", b"hello")
    hook = make_hook(max_retries=1)
    texts = []
    tokens = [hook.get_access_token()]
    hook.list_attachments("Deals", record)
    hook.download_attachment("Deals", record, attachment, tmp_path)
    source = tmp_path / "up.txt"
    source.write_text("up")
    hook.upload_attachment("Deals", record, source)
    emu.revoke_access_tokens()
    hook.list_attachments("Deals", record)
    tokens.append(hook.get_access_token())
    emu.inject_fault("status", status=500, count=10)
    with pytest.raises(ZohoCRMError) as failure:
        hook.list_attachments("Deals", record)
    texts += [str(failure.value), repr(failure.value)]
    for name, value in emu.airflow_env(refresh_token="1000.wrong-refresh-token-xyz").items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ZohoCRMError) as failure:
        make_hook().get_access_token()
    texts += [str(failure.value), repr(failure.value), repr(hook), repr(hook.settings)]
    texts.append(caplog.text)
    texts += [repr(r) for r in emu.requests]
    secrets = [emu.client_secret, emu.refresh_token, "1000.wrong-refresh-token-xyz", *tokens]
    assert all(len(secret) > 8 for secret in secrets)
    haystack = "\n".join(texts)
    assert "DEBUG" in caplog.text or caplog.records
    for secret in secrets:
        assert secret not in haystack


def test_fetched_tokens_are_registered_with_the_masker(zoho_emulator_connection, make_hook, monkeypatch):
    import airflow.sdk.log as sdk_log

    masked = []
    monkeypatch.setattr(sdk_log, "mask_secret", lambda value, name=None: masked.append(value))
    hook = make_hook()
    token = hook.get_access_token()
    assert token in masked
