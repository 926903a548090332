"""
Bad input is refused before any request, with one line that names the argument and what is wrong.

Every case in :data:`CASES` runs against a live emulator whose request log must stay empty: no CRM
call and no token call, because everything here could be (and is) refused locally. The cases in
:data:`DAG_CASES` go through a real ``dag.test()`` run: templates that render to ``None``, mapped
inputs of the wrong type, a glob that matches nothing. The table in docs/hardening/index.rst lists
them all (checked by tests/hardening/test_docs_links.py).
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pendulum
import pytest

from airflow_provider_zoho_attach.exceptions import ZohoCRMInvalidRequestError

pytestmark = pytest.mark.integration

CONN = "zoho_bad"


@dataclass(frozen=True)
class Case:
    id: str
    argument: str  #: the argument (or connection field) the message must name
    shown: str  #: the input, as the docs show it
    excerpt: str  #: a piece of the message
    call: Callable[[Any], Any]


@dataclass
class Env:
    emu: Any
    tmp: Any
    make_hook: Any
    context: dict
    monkeypatch: Any

    def hook(self, **kwargs):
        return self.make_hook(**kwargs)

    def bad_conn_hook(self, *, login: Any = "keep", password: Any = "keep", **extra: Any):  # noqa: S107
        """A hook on connection ``zoho_bad``: the emulator's, with fields changed (``None`` drops one)."""
        conn = self.emu.connection_dict(**extra)
        if login != "keep":
            conn["login"] = login
        if password != "keep":
            conn["password"] = password
        self.monkeypatch.setenv(f"AIRFLOW_CONN_{CONN.upper()}", json.dumps(conn))
        from airflow_provider_zoho_attach.hooks.zoho_crm import ZohoCRMHook

        return ZohoCRMHook(CONN)

    def record(self) -> str:
        return self.emu.add_record("Deals")

    def file(self, name: str, size: int = 10) -> str:
        path = self.tmp / name
        with open(path, "wb") as handle:
            handle.truncate(size)  # sparse: a "100 MB" file costs nothing
        return str(path)


def _list(**kwargs):
    def call(env):
        args = {"module": "Deals", "record_id": env.record(), **kwargs}
        return env.hook().list_attachments(args.pop("module"), args.pop("record_id"), **args)

    return call


def _op(operator_path: str, **kwargs):
    def call(env):
        import importlib

        module_name, _, name = operator_path.rpartition(".")
        operator = getattr(importlib.import_module(f"airflow_provider_zoho_attach.{module_name}"), name)
        args = {"task_id": "t", "module": "Deals", "record_id": env.record(), **kwargs}
        args = {k: v(env) if callable(v) else v for k, v in args.items()}
        op = operator(**args)
        op.hook = env.hook()
        return op.execute(env.context)

    return call


def _sensor(**kwargs):
    def call(env):
        from airflow_provider_zoho_attach.sensors.attachments import ZohoCRMNewAttachmentSensor

        args = {"task_id": "wait", "module": "Deals", "record_id": env.record(), **kwargs}
        sensor = ZohoCRMNewAttachmentSensor(**args)
        sensor.hook = env.hook()
        return sensor.poke(env.context)

    return call


def _non_seekable(env):
    read_end, write_end = os.pipe()
    os.write(write_end, b"data")
    os.close(write_end)
    with open(read_end, "rb", buffering=0) as stream:
        return env.hook().upload_attachment("Deals", env.record(), stream, file_name="x.bin")


LIST = "operators.attachments.ZohoCRMListAttachmentsOperator"
DOWNLOAD = "operators.attachments.ZohoCRMDownloadAttachmentsOperator"
UPLOAD = "operators.attachments.ZohoCRMUploadAttachmentOperator"
DELETE = "operators.attachments.ZohoCRMDeleteAttachmentOperator"
PHOTO_DOWNLOAD = "operators.photos.ZohoCRMDownloadPhotoOperator"
PHOTO_UPLOAD = "operators.photos.ZohoCRMUploadPhotoOperator"
MIB = 1024 * 1024


CASES: list[Case] = [
    # ---- hook: modules, ids, fields, paging
    Case("hook-module-empty", "module", "module=''", "module='' is not valid", _list(module="")),
    Case(
        "hook-module-traversal",
        "module",
        "module='../Leads'",
        "module='../Leads' is not valid",
        _list(module="../Leads"),
    ),
    Case("hook-module-none", "module", "module=None", "module=None is not valid", _list(module=None)),
    Case(
        "hook-record-none",
        "record_id",
        "record_id=None",
        "record_id=None is not valid",
        _list(record_id=None),
    ),
    Case(
        "hook-record-negative", "record_id", "record_id=-5", "record_id=-5 is not valid", _list(record_id=-5)
    ),
    Case(
        "hook-record-bool",
        "record_id",
        "record_id=True",
        "record_id=True is not valid",
        _list(record_id=True),
    ),
    Case(
        "hook-record-float", "record_id", "record_id=1.5", "record_id=1.5 is not valid", _list(record_id=1.5)
    ),
    Case(
        "hook-record-space",
        "record_id",
        "record_id='12 34'",
        "record_id='12 34' is not valid",
        _list(record_id="12 34"),
    ),
    Case(
        "hook-fields-space",
        "fields",
        "fields='File Name'",
        "fields='File Name' is not valid",
        _list(fields="File Name"),
    ),
    Case("hook-fields-empty-name", "fields", "fields=['']", "fields=[''] is not valid", _list(fields=[""])),
    Case(
        "hook-fields-too-many",
        "fields",
        "fields=[60 names]",
        "fields lists 61 fields; Zoho accepts at most 50",
        _list(fields=[f"F{i}" for i in range(60)]),
    ),
    Case("hook-per-page-zero", "per_page", "per_page=0", "per_page=0 is not valid", _list(per_page=0)),
    Case("hook-per-page-201", "per_page", "per_page=201", "per_page=201 is not valid", _list(per_page=201)),
    Case(
        "hook-max-items-negative",
        "max_items",
        "max_items=-1",
        "max_items=-1 is not valid",
        _list(max_items=-1),
    ),
    # ---- hook: downloads and uploads
    Case(
        "hook-attachment-id-path",
        "attachment_id",
        "attachment_id='12/../3'",
        "attachment_id='12/../3' is not valid",
        lambda env: env.hook().download_attachment("Deals", env.record(), "12/../3", env.tmp),
    ),
    Case(
        "hook-destination-none",
        "destination",
        "destination=None",
        "destination=None is not valid",
        lambda env: env.hook().download_attachment("Deals", env.record(), "1", None),
    ),
    Case(
        "hook-destination-int",
        "destination",
        "destination=123",
        "destination=123 is not valid",
        lambda env: env.hook().download_attachment("Deals", env.record(), "1", 123),
    ),
    Case(
        "hook-source-missing",
        "source",
        "source='<tmp>/missing.pdf'",
        "expected an existing, readable file (no such file)",
        lambda env: env.hook().upload_attachment("Deals", env.record(), env.tmp / "missing.pdf"),
    ),
    Case(
        "hook-source-none",
        "source",
        "source=None",
        "source=None is not valid",
        lambda env: env.hook().upload_attachment("Deals", env.record(), None),
    ),
    Case(
        "hook-nameless-stream",
        "file_name",
        "BytesIO without file_name",
        "file_name='' is not valid: expected a non-empty file name",
        lambda env: env.hook().upload_attachment("Deals", env.record(), io.BytesIO(b"data")),
    ),
    Case(
        "hook-non-seekable-stream",
        "source",
        "a pipe (no length)",
        "the size of the source cannot be known",
        _non_seekable,
    ),
    Case(
        "hook-upload-too-large",
        "source",
        "a file of 100 MiB + 1 byte",
        "has 104857601 bytes; Zoho accepts at most 104857600 bytes",
        lambda env: env.hook().upload_attachment("Deals", env.record(), env.file("big.bin", 100 * MIB + 1)),
    ),
    Case(
        "hook-photo-too-large",
        "source",
        "a photo of 10 MiB + 1 byte",
        "has 10485761 bytes; Zoho accepts at most 10485760 bytes",
        lambda env: env.hook().upload_photo("Deals", env.record(), env.file("big.png", 10 * MIB + 1)),
    ),
    Case(
        "hook-zfs-file-too-large",
        "source",
        "upload_files(a file of 20 MiB + 1 byte)",
        "has 20971521 bytes; Zoho accepts at most 20971520 bytes",
        lambda env: env.hook().upload_files([env.file("ok.pdf"), env.file("big.pdf", 20 * MIB + 1)]),
    ),
    Case(
        "hook-zfs-file-id",
        "file_id",
        "download_file(file_id='../etc')",
        "file_id='../etc' is not valid",
        lambda env: env.hook().download_file("../etc", env.tmp),
    ),
    Case(
        "hook-field-file-id",
        "field_file_id",
        "download_field_file(field_file_id='abc')",
        "field_file_id='abc' is not valid",
        lambda env: env.hook().download_field_file("Deals", env.record(), "abc", env.tmp),
    ),
    Case(
        "hook-attach-to-field-nothing",
        "sources_or_file_ids",
        "attach_to_field(..., sources_or_file_ids=[])",
        "expected at least one file",
        lambda env: env.hook().attach_to_field("Deals", env.record(), "Signed_Contract", []),
    ),
    Case(
        "hook-attach-to-field-file-id",
        "sources_or_file_ids",
        "attach_to_field(..., [{'file_id': ''}])",
        "sources_or_file_ids='' is not valid",
        lambda env: env.hook().attach_to_field("Deals", env.record(), "Signed_Contract", [{"file_id": ""}]),
    ),
    Case(
        "hook-remove-field-files-ids",
        "ids",
        "remove_field_files(..., ids='x')",
        "ids='x' is not valid",
        lambda env: env.hook().remove_field_files("Deals", env.record(), "Photos", "x"),
    ),
    Case(
        "hook-link-scheme",
        "link_url",
        "url='ftp://example.com/x'",
        "link_url='ftp://example.com/x' is not valid",
        lambda env: env.hook().attach_link("Deals", env.record(), "ftp://example.com/x"),
    ),
    Case(
        "hook-link-too-long",
        "link_url",
        "url='https://example.com/aaa…' (3,020 characters)",
        "expected an http(s) URL of at most 3,000 characters",
        lambda env: env.hook().attach_link("Deals", env.record(), "https://example.com/" + "a" * 3000),
    ),
    Case(
        "hook-link-title-too-long",
        "title",
        "title='x' * 256",
        "expected 1 to 255 characters",
        lambda env: env.hook().attach_link("Deals", env.record(), "https://example.com/x", title="x" * 256),
    ),
    Case(
        "hook-bulk-delete-nothing",
        "attachment_ids",
        "ids=[]",
        "attachment_ids=[] is not valid: expected at least one id",
        lambda env: env.hook().delete_attachments("Deals", env.record(), []),
    ),
    Case(
        "hook-bulk-delete-dict-without-id",
        "attachment_ids",
        "ids=[{'a': 1}]",
        "attachment_ids={'a': 1} is not valid",
        lambda env: env.hook().delete_attachments("Deals", env.record(), [{"a": 1}]),
    ),
    Case(
        "hook-bulk-delete-one-dict",
        "attachment_ids",
        "ids={'id': '1'}",
        "attachment_ids={'id': '1'} is not valid",
        lambda env: env.hook().delete_attachments("Deals", env.record(), {"id": "1"}),
    ),
    Case(
        "hook-delete-empty-id",
        "attachment_id",
        "attachment_id=''",
        "attachment_id='' is not valid",
        lambda env: env.hook().delete_attachment("Deals", env.record(), ""),
    ),
    # ---- hook arguments that override the connection
    Case(
        "hook-timeout-zero",
        "timeout",
        "ZohoCRMHook(timeout=0)",
        "timeout=0 is not valid",
        lambda env: env.hook(timeout=0).list_attachments("Deals", env.record()),
    ),
    Case(
        "hook-timeout-negative",
        "timeout",
        "ZohoCRMHook(timeout=-1)",
        "timeout=-1 is not valid",
        lambda env: env.hook(timeout=-1).list_attachments("Deals", env.record()),
    ),
    Case(
        "hook-max-concurrency-zero",
        "max_concurrency",
        "ZohoCRMHook(max_concurrency=0)",
        "max_concurrency=0 is not valid",
        lambda env: env.hook(max_concurrency=0).list_attachments("Deals", env.record()),
    ),
    Case(
        "hook-max-retries-negative",
        "max_retries",
        "ZohoCRMHook(max_retries=-1)",
        "max_retries=-1 is not valid",
        lambda env: env.hook(max_retries=-1).list_attachments("Deals", env.record()),
    ),
    # ---- the connection
    Case(
        "conn-no-client-id",
        "client id",
        "login empty",
        "has no client id",
        lambda env: env.bad_conn_hook(login="").list_attachments("Deals", "1"),
    ),
    Case(
        "conn-no-client-secret",
        "client secret",
        "password missing",
        "has no client secret",
        lambda env: env.bad_conn_hook(password=None).list_attachments("Deals", "1"),
    ),
    Case(
        "conn-no-refresh-token",
        "refresh token",
        "extra refresh_token missing",
        "has no refresh token",
        lambda env: env.bad_conn_hook(refresh_token=None).list_attachments("Deals", "1"),
    ),
    Case(
        "conn-unknown-data-center",
        "data_center",
        "data_center='mars'",
        "has an unknown data_center 'mars'",
        lambda env: env.bad_conn_hook(
            data_center="mars", accounts_url=None, api_domain=None
        ).list_attachments("Deals", "1"),
    ),
    Case(
        "conn-accounts-url-no-scheme",
        "accounts_url",
        "accounts_url='accounts.zoho.eu'",
        "has a malformed accounts_url 'accounts.zoho.eu'",
        lambda env: env.bad_conn_hook(accounts_url="accounts.zoho.eu").list_attachments("Deals", "1"),
    ),
    Case(
        "conn-api-domain-bad-port",
        "api_domain",
        "api_domain='https://zohoapis.eu:99999'",
        "has a malformed api_domain 'https://zohoapis.eu:99999': bad port",
        lambda env: env.bad_conn_hook(api_domain="https://zohoapis.eu:99999").list_attachments("Deals", "1"),
    ),
    Case(
        "conn-api-domain-with-query",
        "api_domain",
        "api_domain='https://h/?x=1'",
        "has a malformed api_domain 'https://h/?x=1'",
        lambda env: env.bad_conn_hook(api_domain="https://h/?x=1").list_attachments("Deals", "1"),
    ),
    Case(
        "conn-timeout-zero",
        "timeout",
        "extra timeout=0",
        "has timeout=0; expected a number between 0.001 and 3600",
        lambda env: env.bad_conn_hook(timeout=0).list_attachments("Deals", "1"),
    ),
    Case(
        "conn-timeout-negative",
        "timeout",
        "extra timeout=-5",
        "has timeout=-5; expected a number between 0.001 and 3600",
        lambda env: env.bad_conn_hook(timeout=-5).list_attachments("Deals", "1"),
    ),
    Case(
        "conn-max-concurrency-zero",
        "max_concurrency",
        "extra max_concurrency=0",
        "has max_concurrency=0; expected a whole number between 1 and 100",
        lambda env: env.bad_conn_hook(max_concurrency=0).list_attachments("Deals", "1"),
    ),
    Case(
        "conn-token-cache-unknown",
        "oauth_cache",
        "extra oauth_cache='disk'",
        "has an unknown oauth_cache 'disk'",
        lambda env: env.bad_conn_hook(oauth_cache="disk").list_attachments("Deals", "1"),
    ),
    Case(
        "conn-environment-unknown",
        "environment",
        "extra environment='staging'",
        "has an unknown environment 'staging'",
        lambda env: env.bad_conn_hook(environment="staging").list_attachments("Deals", "1"),
    ),
    Case(
        "conn-api-version-malformed",
        "api_version",
        "extra api_version='8'",
        "has a malformed api_version '8'",
        lambda env: env.bad_conn_hook(api_version="8").list_attachments("Deals", "1"),
    ),
    # ---- operators
    Case(
        "op-list-pattern-int",
        "file_name_pattern",
        "file_name_pattern=5",
        "file_name_pattern=5 is not valid",
        _op(LIST, file_name_pattern=5),
    ),
    Case(
        "op-list-created-before",
        "created_before",
        "created_before='tomorrow'",
        "created_before='tomorrow' is not valid",
        _op(LIST, created_before="tomorrow"),
    ),
    Case(
        "op-list-max-items-word",
        "max_items",
        "max_items='many'",
        "max_items='many' is not valid",
        _op(LIST, max_items="many"),
    ),
    Case(
        "op-download-include-field-files",
        "include_field_files",
        "include_field_files=3",
        "include_field_files=3 is not valid",
        _op(DOWNLOAD, destination=lambda env: str(env.tmp), include_field_files=3),
    ),
    Case(
        "op-download-destination-blank",
        "destination",
        "destination='   '",
        "destination='   ' is not valid",
        _op(DOWNLOAD, destination="   "),
    ),
    Case(
        "op-download-records-without-id",
        "attachment_ids",
        "attachment_ids=[{'a': 1}]",
        "attachment_ids={'a': 1} is not valid",
        _op(DOWNLOAD, destination=lambda env: str(env.tmp), attachment_ids=[{"a": 1}]),
    ),
    Case(
        "op-download-records-of-another-record",
        "attachment_ids",
        "records whose Parent_Id is another record",
        "expected attachments of record",
        _op(
            DOWNLOAD,
            destination=lambda env: str(env.tmp),
            attachment_ids=[{"id": "11", "Parent_Id": {"id": "999"}}],
        ),
    ),
    Case(
        "op-download-no-record",
        "record_id",
        "record_id=None, attachment_ids=None",
        "record_id=None is not valid",
        _op(DOWNLOAD, destination=lambda env: str(env.tmp), record_id=None),
    ),
    Case(
        "op-upload-file-name-for-many",
        "file_name",
        "file_name='x.txt' with a 2-file glob",
        "expected no file_name when source names 2 files",
        _op(
            UPLOAD,
            source=lambda env: [env.file("a.txt"), env.file("b.txt")],
            file_name="x.txt",
        ),
    ),
    Case(
        "op-upload-javascript-link",
        "link_url",
        "link_url='javascript:alert(1)'",
        "link_url='javascript:alert(1)' is not valid",
        _op(UPLOAD, link_url="javascript:alert(1)"),
    ),
    Case(
        "op-upload-nothing",
        "source",
        "source=None, link_url=None",
        "give exactly one of source and link_url",
        _op(UPLOAD),
    ),
    Case(
        "op-delete-non-numeric-record-ids",
        "attachment_ids",
        "attachment_ids=[{'id': 'x1'}]",
        "attachment_ids='x1' is not valid",
        _op(DELETE, attachment_ids=[{"id": "x1"}]),
    ),
    Case(
        "op-photo-download-destination-none",
        "destination",
        "destination=None",
        "destination=None is not valid",
        _op(PHOTO_DOWNLOAD, destination=None),
    ),
    Case(
        "op-photo-upload-source-none",
        "source",
        "source=None",
        "source=None is not valid",
        _op(PHOTO_UPLOAD, source=None),
    ),
    # ---- sensor
    Case(
        "sensor-min-count-zero", "min_count", "min_count=0", "min_count=0 is not valid", _sensor(min_count=0)
    ),
    Case(
        "sensor-min-count-word",
        "min_count",
        "min_count='two'",
        "min_count='two' is not valid",
        _sensor(min_count="two"),
    ),
    Case(
        "sensor-since-words",
        "since",
        "since='last week'",
        "since='last week' is not valid",
        _sensor(since="last week"),
    ),
    Case(
        "sensor-known-ids-string",
        "known_ids",
        "known_ids='123'",
        "known_ids='123' is not valid",
        _sensor(known_ids="123"),
    ),
    Case(
        "sensor-pattern-empty",
        "file_name_pattern",
        "file_name_pattern=['']",
        "file_name_pattern=[''] is not valid",
        _sensor(file_name_pattern=[""]),
    ),
    Case("sensor-module-int", "module", "module=42", "module=42 is not valid", _sensor(module=42)),
    Case(
        "sensor-poll-interval-zero",
        "poll_interval",
        "poll_interval=0",
        "poll_interval=0 is not valid",
        lambda env: _sensor_execute(env, poll_interval=0),
    ),
]


def _sensor_execute(env, **kwargs):
    from airflow_provider_zoho_attach.sensors.attachments import ZohoCRMNewAttachmentSensor

    sensor = ZohoCRMNewAttachmentSensor(task_id="wait", module="Deals", record_id=env.record(), **kwargs)
    sensor.hook = env.hook()
    return sensor.execute(env.context)


def _assert_one_clear_line(message: str, case_argument: str, excerpt: str) -> None:
    assert "\n" not in message, message
    assert "\r" not in message, message
    assert case_argument in message, message
    assert excerpt in message, message


@pytest.fixture
def env(zoho_emulator_connection, tmp_path, make_hook, context, monkeypatch):
    return Env(zoho_emulator_connection, tmp_path, make_hook, context, monkeypatch)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input(env, case):
    env.emu.reset_log()
    with pytest.raises(ZohoCRMInvalidRequestError) as info:
        case.call(env)
    _assert_one_clear_line(str(info.value), case.argument, case.excerpt)
    # Refused before any I/O: no CRM call, no token call.
    assert env.emu.requests == []
    assert env.emu.token_calls == 0


def where(case_id: str) -> str:
    """Which surface a case goes through, from its id."""
    surfaces = {"hook": "hook", "conn": "connection", "op": "operator", "sensor": "sensor"}
    return surfaces[case_id.split("-", maxsplit=1)[0]]


def test_cases_are_distinct():
    assert len({case.id for case in CASES}) == len(CASES)
    assert len({(where(case.id), case.argument, case.shown) for case in CASES}) == len(CASES)


# ------------------------------------------------------------------------------- dag.test()


@dataclass(frozen=True)
class DagCase:
    id: str
    argument: str
    shown: str
    excerpt: str  #: what the failed task's log line says


DAG_CASES: list[DagCase] = [
    DagCase(
        "template-renders-none",
        "record_id",
        "record_id=\"{{ params.get('missing') }}\" (renders 'None')",
        "record_id='None' is not valid: expected a Zoho id",
    ),
    DagCase(
        "template-undefined",
        "record_id",
        'record_id="{{ params.missing }}" (undefined)',
        "Exception rendering Jinja template for task 'template-undefined', field 'record_id'",
    ),
    DagCase(
        "mapped-record-of-wrong-type",
        "record_id",
        "expand(record_id=[{'a': 1}])",
        "record_id={'a': 1} is not valid: expected a Zoho id",
    ),
    DagCase(
        "source-and-link",
        "source",
        "source='<file>', link_url='https://example.com/x'",
        "give exactly one of source and link_url",
    ),
    DagCase(
        "glob-matches-nothing",
        "source",
        "source='<existing dir>/*.nomatch'",
        "(it matched none)",
    ),
]


def test_bad_input_fails_the_task(airflow_db, zoho_emulator_connection, tmp_path, capfd, caplog):
    """Each task fails on its own with our one-line message (or Airflow's, for an undefined name)."""
    from airflow.sdk import DAG

    from airflow_provider_zoho_attach.operators.attachments import (
        ZohoCRMListAttachmentsOperator,
        ZohoCRMUploadAttachmentOperator,
    )
    from tests.e2e.conftest import run_dag, task_states

    emu = zoho_emulator_connection
    (tmp_path / "outbox").mkdir()
    (tmp_path / "outbox" / "a.txt").write_text("a")
    start = pendulum.datetime(2024, 1, 1, tz="UTC")
    with DAG("zoho_bad_input", schedule=None, start_date=start, catchup=False, params={"x": 1}) as dag:
        ZohoCRMListAttachmentsOperator(
            task_id="template-renders-none", module="Deals", record_id="{{ params.get('missing') }}"
        )
        ZohoCRMListAttachmentsOperator(
            task_id="template-undefined", module="Deals", record_id="{{ params.missing }}"
        )
        ZohoCRMListAttachmentsOperator.partial(task_id="mapped-record-of-wrong-type", module="Deals").expand(
            record_id=[{"a": 1}]
        )
        ZohoCRMUploadAttachmentOperator(
            task_id="source-and-link",
            module="Deals",
            record_id=emu.add_record("Deals"),
            source=str(tmp_path / "outbox" / "a.txt"),
            link_url="https://example.com/x",
        )
        ZohoCRMUploadAttachmentOperator(
            task_id="glob-matches-nothing",
            module="Deals",
            record_id=emu.add_record("Deals"),
            source=str(tmp_path / "outbox" / "*.nomatch"),
        )
    emu.reset_log()
    dag_run = run_dag(dag)
    output = capfd.readouterr()
    text = output.out + output.err + caplog.text

    assert dag_run.state == "failed"
    assert task_states(dag_run) == {
        "template-renders-none": "failed",
        "template-undefined": "failed",
        "mapped-record-of-wrong-type[0]": "failed",
        "source-and-link": "failed",
        "glob-matches-nothing": "failed",
    }
    for case in DAG_CASES:
        lines = [line for line in text.splitlines() if case.excerpt in line]
        assert lines, f"{case.id}: {case.excerpt!r} not in the task output"
        assert case.argument in lines[0]
    assert [r for r in emu.requests if r.path.startswith(("/crm/", "/oauth/"))] == []
