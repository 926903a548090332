"""
The client secret, the refresh token and every access token stay out of everything a run leaves.

A DAG runs every kind of operator (and a sensor, a failing task, and a template that renders the
connection's secrets into a templated field) with DEBUG logging; then everything it wrote is
scanned: captured stdout/stderr and log records, log files under ``AIRFLOW_HOME/logs``, the XCom
table, the rendered-fields table, exception texts, ``repr()`` of hooks and settings, the emulator's
request log and its ``/__emulator__/requests`` admin output. The hook-level twin (no DAG) is
tests/integration/test_secrets_hook.py.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pendulum
import pytest

from airflow_provider_zoho_attach.exceptions import ZohoCRMError
from airflow_provider_zoho_attach.testing._emulator_seed import tiny_png

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

WRONG_REFRESH_TOKEN = "1000.wrong-refresh-token-0123456789abcdef"
START = pendulum.datetime(2024, 1, 1, tz="UTC")


def _issued_access_tokens(emu) -> list[str]:
    """Every access token the emulator ever issued (its store keeps them)."""
    with emu._store.lock:
        return list(emu._store.access_tokens)


def _db_texts(dag_id: str) -> dict[str, str]:
    """The XCom values and rendered template fields the run stored, as text."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        xcoms = session.query(XComModel).filter(XComModel.dag_id == dag_id).all()
        rendered = (
            session.query(RenderedTaskInstanceFields)
            .filter(RenderedTaskInstanceFields.dag_id == dag_id)
            .all()
        )
        return {
            "xcom": "\n".join(f"{x.task_id} {x.key} {x.value!r}" for x in xcoms),
            "rendered": "\n".join(
                f"{r.task_id} {json.dumps(r.rendered_fields, default=str)} {r.k8s_pod_yaml!r}"
                for r in rendered
            ),
        }


def _log_files() -> str:
    root = Path(os.environ["AIRFLOW_HOME"]) / "logs"
    if not root.exists():
        return ""
    return "\n".join(path.read_text(errors="replace") for path in sorted(root.rglob("*")) if path.is_file())


def _without_airflow_test_comms(text: str) -> tuple[str, int]:
    """
    Drop the lines Airflow's ``dag.test()`` supervisor writes for ``MaskSecret`` messages.

    ``InProcessSupervisorComms.send`` (the in-process comms of ``dag.test()`` only) logs every
    message at DEBUG, bodies included, so the value of each ``mask_secret()`` call (Airflow's own
    for connection passwords and extras, and the provider's for access tokens) is printed in clear.
    The real supervisor logs ``MaskSecret`` with "body omitted". This is outside the provider and
    listed in docs/hardening/index.rst; every other line is scanned.
    """
    kept, dropped = [], 0
    for line in text.splitlines():
        if "Sending request" in line and "msg=MaskSecret(" in line:
            dropped += 1
        else:
            kept.append(line)
    return "\n".join(kept), dropped


@pytest.fixture
def debug_logging(monkeypatch, caplog):
    """DEBUG everywhere the provider and its HTTP stack log (Airflow has configured logging already)."""
    monkeypatch.setenv("AIRFLOW__LOGGING__LOGGING_LEVEL", "DEBUG")
    caplog.set_level(logging.DEBUG)
    names = ["", "airflow", "airflow.task", "airflow.task.hooks", "urllib3", "httpx", "httpcore"]
    previous = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    # Task and hook loggers are structlog loggers filtered by a per-namespace table.
    import importlib

    tables = []
    for module in ("airflow.sdk._shared.logging.structlog", "airflow._shared.logging.structlog"):
        try:
            tables.append(importlib.import_module(module).PER_LOGGER_LEVELS)
        except ImportError:  # pragma: no cover - layout of other Airflow versions
            continue
    saved = [dict(table) for table in tables]
    for table in tables:
        for name in list(table):
            table[name] = logging.DEBUG
    yield caplog
    for name, level in previous.items():
        logging.getLogger(name).setLevel(level)
    for table, values in zip(tables, saved, strict=True):
        table.clear()
        table.update(values)


def test_no_secret_anywhere_after_a_debug_dag_run(
    airflow_db, zoho_emulator_connection, memory_storage, tmp_path, monkeypatch, debug_logging, capfd
):
    from airflow.sdk import DAG

    from airflow_provider_zoho_attach.hooks.zoho_crm import ZohoCRMHook
    from airflow_provider_zoho_attach.operators.attachments import (
        ZohoCRMDeleteAttachmentOperator,
        ZohoCRMDownloadAttachmentsOperator,
        ZohoCRMListAttachmentsOperator,
        ZohoCRMUploadAttachmentOperator,
    )
    from airflow_provider_zoho_attach.operators.photos import ZohoCRMDownloadPhotoOperator
    from airflow_provider_zoho_attach.sensors.attachments import ZohoCRMNewAttachmentSensor
    from tests.e2e.conftest import run_dag, task_states

    emu = zoho_emulator_connection
    for name, value in emu.airflow_env("zoho_wrong", refresh_token=WRONG_REFRESH_TOKEN).items():
        monkeypatch.setenv(name, value)
    deal = emu.add_record("Deals")
    emu.add_attachment("Deals", deal, "a.txt", b"hello")
    doomed = emu.add_attachment("Deals", deal, "doomed.txt", b"bye")
    emu.set_photo("Deals", deal, tiny_png(4, 4))
    source = tmp_path / "up.txt"
    source.write_text("up")

    with DAG("zoho_secrets", schedule=None, start_date=START, catchup=False) as dag:
        ZohoCRMListAttachmentsOperator(task_id="list", module="Deals", record_id=deal)
        # A template that renders the connection's secrets into a templated (and stored) field.
        ZohoCRMListAttachmentsOperator(
            task_id="templated_secret",
            module="Deals",
            record_id=deal,
            file_name_pattern=[
                "{{ conn.zoho_crm_default.password }}",
                "{{ conn.zoho_crm_default.extra_dejson.refresh_token }}",
            ],
        )
        ZohoCRMDownloadAttachmentsOperator(
            task_id="download", module="Deals", record_id=deal, destination=str(tmp_path / "in")
        )
        ZohoCRMDownloadAttachmentsOperator(
            task_id="download_memory", module="Deals", record_id=deal, destination="memory://bucket/in/"
        )
        ZohoCRMUploadAttachmentOperator(task_id="upload", module="Deals", record_id=deal, source=str(source))
        ZohoCRMUploadAttachmentOperator(
            task_id="link", module="Deals", record_id=deal, link_url="https://example.com/x"
        )
        ZohoCRMDownloadPhotoOperator(
            task_id="photo", module="Deals", record_id=deal, destination=str(tmp_path / "photo")
        )
        ZohoCRMNewAttachmentSensor(
            task_id="sensor", module="Deals", record_id=deal, since="2000-01-01T00:00:00Z", poke_interval=0.1
        )
        ZohoCRMDeleteAttachmentOperator(
            task_id="delete", module="Deals", record_id=deal, attachment_ids=[doomed]
        )
        # Fails: the refresh token is wrong (the error text goes to the log).
        ZohoCRMListAttachmentsOperator(
            task_id="wrong_refresh_token", module="Deals", record_id=deal, zoho_conn_id="zoho_wrong"
        )

    dag_run = run_dag(dag)
    states = task_states(dag_run)
    assert states.pop("wrong_refresh_token") == "failed"
    assert set(states.values()) == {"success"}, states

    # Outside the DAG: errors, reprs, a revoked access token that forces a second token.
    texts: dict[str, str] = {}
    hook = ZohoCRMHook()
    hook._sleep = emu.clock.advance
    hook.list_attachments("Deals", deal)
    emu.revoke_access_tokens()
    hook.list_attachments("Deals", deal)
    emu.inject_fault("status", status=500, count=100)
    with pytest.raises(ZohoCRMError) as server_error:
        hook.list_attachments("Deals", deal)
    wrong = ZohoCRMHook("zoho_wrong")
    with pytest.raises(ZohoCRMError) as auth_error:
        wrong.get_access_token()
    for name, error in (("server", server_error.value), ("auth", auth_error.value)):
        texts[f"{name} error"] = f"{error}\n{error!r}\n{json.dumps(error.to_dict())}\n{error.args!r}"
    texts["reprs"] = "\n".join(
        [repr(hook), repr(hook.settings), repr(wrong), repr(hook.retry_policy), repr(hook._access_token)]
    )
    texts["connection test"] = repr(hook.test_connection()) + repr(wrong.test_connection())

    captured = capfd.readouterr()
    texts["stdout"], airflow_lines = _without_airflow_test_comms(captured.out)
    texts["stderr"], more = _without_airflow_test_comms(captured.err)
    texts["log records"], even_more = _without_airflow_test_comms(debug_logging.text)
    # Those lines exist (so the exclusion below is about something real, and is kept narrow).
    assert airflow_lines + more + even_more > 0
    texts["log files"] = _log_files()
    texts.update(_db_texts("zoho_secrets"))
    texts["emulator log"] = "\n".join(repr(r) for r in emu.requests)
    import requests

    texts["emulator admin log"] = requests.get(f"{emu.url}/__emulator__/requests", timeout=10).text

    # What was scanned is not empty: the DEBUG lines, the stored fields and the logs are there.
    assert "Requesting a Zoho access token" in texts["log records"] + texts["stdout"]
    (templated,) = [line for line in texts["rendered"].splitlines() if line.startswith("templated_secret ")]
    assert '"file_name_pattern": ["***", "***"]' in templated  # rendered, then masked
    assert "wrong_refresh_token" in texts["stdout"] + texts["log records"]
    assert "invalid_code" in texts["stdout"] + texts["log records"]
    assert "/oauth/v2/token" in texts["emulator admin log"]

    access_tokens = _issued_access_tokens(emu)
    assert len(access_tokens) >= 2
    secrets = {
        "client secret": emu.client_secret,
        "refresh token": emu.refresh_token,
        "wrong refresh token": WRONG_REFRESH_TOKEN,
        **{f"access token {i}": token for i, token in enumerate(access_tokens)},
    }
    leaks = [
        f"{secret_name} in {where}"
        for secret_name, secret in secrets.items()
        for where, text in texts.items()
        if secret in text
    ]
    for secret_name, secret in secrets.items():
        for where, text in texts.items():
            at = text.find(secret)
            if at >= 0:
                print("LEAK", secret_name, where, repr(text[max(0, at - 700) : at + 100]))
    assert leaks == []


def test_trigger_payloads_and_async_errors_hold_no_secret(
    zoho_emulator_connection, make_async_hook, monkeypatch
):
    """What triggers store (kwargs) and send (events) holds no credential, on success or failure."""
    import asyncio

    from airflow_provider_zoho_attach.triggers.attachments import (
        ZohoCRMAttachmentEventTrigger,
        ZohoCRMNewAttachmentTrigger,
    )

    emu = zoho_emulator_connection
    for name, value in emu.airflow_env("zoho_wrong", refresh_token=WRONG_REFRESH_TOKEN).items():
        monkeypatch.setenv(name, value)
    deal = emu.add_record("Deals")
    emu.add_attachment("Deals", deal, "a.pdf", b"a")
    texts = []

    async def first_event(trigger, conn_id):
        hook = make_async_hook(zoho_conn_id=conn_id)
        trigger._hook = lambda: hook
        texts.append(repr(hook))
        generator = trigger.run()
        try:
            return await asyncio.wait_for(generator.__anext__(), 20)
        finally:
            await generator.aclose()
            texts.append(repr(await hook.get_settings()))

    for conn_id in ("zoho_crm_default", "zoho_wrong"):
        trigger = ZohoCRMNewAttachmentTrigger(
            module="Deals",
            record_id=deal,
            since="2000-01-01T00:00:00Z",
            poll_interval=0.01,
            zoho_conn_id=conn_id,
        )
        texts.append(json.dumps(trigger.serialize()))
        event = asyncio.run(first_event(trigger, conn_id))
        texts.append(json.dumps(event.payload))
    assert '"status": "error"' in texts[-1]
    assert "invalid_code" in texts[-1]
    watcher = ZohoCRMAttachmentEventTrigger(module="Deals", record_ids=[deal], zoho_conn_id="zoho_wrong")
    texts.append(json.dumps(watcher.serialize()) + watcher.state_key)
    haystack = "\n".join(texts)
    for secret in (emu.client_secret, emu.refresh_token, WRONG_REFRESH_TOKEN, *_issued_access_tokens(emu)):
        assert secret not in haystack
