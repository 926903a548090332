"""The emulator's command line, its pytest plugin, its lazy import and its connection helpers."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from airflow_provider_zoho_attach.testing import ZohoCRMEmulator

pytestmark = pytest.mark.integration

TIMEOUT = 30
MODULE = "airflow_provider_zoho_attach.testing.emulator"


def start_cli(*args):
    proc = subprocess.Popen(
        [sys.executable, "-m", MODULE, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = proc.stdout.readline()
    if not first:
        proc.wait(timeout=TIMEOUT)
        pytest.fail(f"the emulator did not start: {proc.stderr.read()}")
    return proc, first


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", MODULE, *args], capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def _token(url, client_id, client_secret, refresh_token):
    return requests.post(
        f"{url}/oauth/v2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": client_id,
            "client_secret": client_secret,
            "refresh_token": refresh_token,
        },
        timeout=TIMEOUT,
    ).json()["access_token"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_the_demo_seed_until_signalled(sig):
    # Without --print-env (the next test's), which imports Airflow for its note: this starts in a second.
    proc, first = start_cli("--port", "0", "--seed", "demo", "--latency", "0.01")
    try:
        url = first.split(" listening on ")[1].split(",")[0].split()[0]
        assert url.startswith("http://127.0.0.1:")
        records = [proc.stdout.readline().split() for _ in range(4)]
        assert [r[0] for r in records] == ["Deals", "Deals", "Leads", "Contacts"]

        credentials = requests.get(f"{url}/__emulator__/credentials", timeout=TIMEOUT).json()
        token = _token(
            url, credentials["client_id"], credentials["client_secret"], credentials["refresh_token"]
        )
        module, record_id = records[0][0], records[0][1]
        listed = requests.get(
            f"{url}/crm/v8/{module}/{record_id}/Attachments",
            params={"fields": "id,File_Name,$type"},
            headers={"Authorization": f"Zoho-oauthtoken {token}"},
            timeout=TIMEOUT,
        ).json()["data"]
        assert sorted(a["File_Name"] for a in listed) == ["pricing.csv", "proposal.pdf"]
    finally:
        proc.send_signal(sig)
        assert proc.wait(timeout=TIMEOUT) == 0
        assert "Traceback" not in proc.stderr.read()


def test_cli_prints_a_connection_that_shares_tokens():
    proc, first = start_cli("--port", "0", "--seed", "demo", "--print-env")
    try:
        url = first.split(" listening on ")[1].split(",")[0].split()[0]
        lines = [proc.stdout.readline() for _ in range(5)]
        name, _, value = lines[4].strip().partition("=")
        assert name == "AIRFLOW_CONN_ZOHO_CRM_DEFAULT"
        conn = json.loads(value)
        assert conn["extra"]["api_domain"] == url
        # Shared between processes: each `airflow dags test` or script run must not create a token.
        assert conn["extra"]["oauth_cache"] == "variable"
        note = proc.stdout.readline()
        assert note.startswith("# oauth_cache=variable")
        assert "airflow-provider-zoho-attach/tokens" in note

        credentials = requests.get(f"{url}/__emulator__/credentials", timeout=TIMEOUT).json()
        assert credentials["refresh_token"] == conn["extra"]["refresh_token"]
        assert _token(url, conn["login"], conn["password"], conn["extra"]["refresh_token"])
    finally:
        proc.terminate()
        assert proc.wait(timeout=TIMEOUT) == 0
        assert "Traceback" not in proc.stderr.read()


def test_cli_writes_an_env_file(tmp_path):
    env_file = tmp_path / "emulator.env"
    proc, first = start_cli("--port", "0", "--env-file", str(env_file))
    try:
        lines = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
        assert lines["ZOHO_EMULATOR_URL"] in first
        assert json.loads(lines["AIRFLOW_CONN_ZOHO_CRM_DEFAULT"])["conn_type"] == "zoho_crm"
    finally:
        proc.terminate()
        assert proc.wait(timeout=TIMEOUT) == 0


def test_demo_seed_is_deterministic():
    with ZohoCRMEmulator(seed="demo") as one, ZohoCRMEmulator(seed="demo") as two:
        assert one.seed_records == two.seed_records
        first = [a["id"] for r in one.seed_records for a in one.attachments(r["module"], r["record_id"])]
        second = [a["id"] for r in two.seed_records for a in two.attachments(r["module"], r["record_id"])]
        assert first == second
        kinds = {a["$type"] for r in one.seed_records for a in one.attachments(r["module"], r["record_id"])}
        assert kinds == {"File", "Link URL"}
        names = {
            a["File_Name"] for r in one.seed_records for a in one.attachments(r["module"], r["record_id"])
        }
        assert {"proposal.pdf", "pricing.csv", "logo.png"} <= names
        deal = one.seed_records[0]
        pdf = next(a for a in one.attachments("Deals", deal["record_id"]) if a["File_Name"] == "proposal.pdf")
        assert one.attachment_content(pdf["id"]).startswith(b"%PDF-")
        contact = one.seed_records[3]
        assert one.photo("Contacts", contact["record_id"]).startswith(b"\x89PNG")
    with ZohoCRMEmulator() as empty:
        assert empty.records() == []


def test_unknown_seed_is_an_error():
    with pytest.raises(ValueError, match="unknown seed"):
        ZohoCRMEmulator(seed="nope")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seed", "nope"], "unknown seed 'nope'"),
        (["--latency", "abc"], "--latency"),
        (["--latency", "-1"], "--latency"),
        (["--max-concurrency", "0"], "--max-concurrency"),
        (["--daily-credits", "x"], "--daily-credits"),
        (["--port", "70000"], "--port"),
        (["--host", "10.1.2.3"], "loopback"),
        (["--bogus"], "unrecognized arguments"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(args, message):
    result = run_cli("--port", "0", *args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_port_in_use():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli("--port", str(port))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------------------- connection helpers


def test_connection_dict_and_env(zoho_emulator):
    conn = zoho_emulator.connection_dict(timeout=5, oauth_cache=None)
    assert conn == {
        "conn_type": "zoho_crm",
        "login": zoho_emulator.client_id,
        "password": zoho_emulator.client_secret,
        "extra": {
            "refresh_token": zoho_emulator.refresh_token,
            "accounts_url": zoho_emulator.url,
            "api_domain": zoho_emulator.url,
            "timeout": 5,
        },
    }
    assert zoho_emulator.accounts_url == zoho_emulator.api_domain == zoho_emulator.url
    env = zoho_emulator.airflow_env("zoho_other", max_retries=0)
    assert list(env) == ["AIRFLOW_CONN_ZOHO_OTHER"]
    assert json.loads(env["AIRFLOW_CONN_ZOHO_OTHER"])["extra"]["max_retries"] == 0
    assert (
        json.loads(zoho_emulator.airflow_env()["AIRFLOW_CONN_ZOHO_CRM_DEFAULT"])["extra"]["oauth_cache"]
        == "memory"
    )


def test_connection_uri_is_properly_encoded(zoho_emulator):
    uri = zoho_emulator.connection_uri(note="a b&c=d/é")
    # Airflow reads the zoho_crm type from a hyphenated scheme (URI schemes cannot contain "_").
    assert uri.startswith("zoho-crm://")
    parts = urlsplit(uri)
    assert parts.username == zoho_emulator.client_id
    assert parts.password == zoho_emulator.client_secret
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query == {
        "refresh_token": zoho_emulator.refresh_token,
        "accounts_url": zoho_emulator.url,
        "api_domain": zoho_emulator.url,
        "oauth_cache": "memory",
        "note": "a b&c=d/é",
    }


def test_connection_uri_works_with_airflow(zoho_emulator):
    connection = pytest.importorskip("airflow.models.connection")
    settings = pytest.importorskip("airflow_provider_zoho_attach.utils.settings")
    conn = connection.Connection(conn_id="zoho_crm_default", uri=zoho_emulator.connection_uri())
    parsed = settings.ZohoCRMSettings.from_connection(conn)
    assert parsed.client_id == zoho_emulator.client_id
    assert parsed.client_secret == zoho_emulator.client_secret
    assert parsed.refresh_token == zoho_emulator.refresh_token
    assert parsed.api_domain == zoho_emulator.url
    assert parsed.accounts_url == zoho_emulator.url
    assert parsed.token_cache == "memory"


def test_connection_fixture_sets_the_environment(zoho_emulator_connection):
    conn = json.loads(os.environ["AIRFLOW_CONN_ZOHO_CRM_DEFAULT"])
    assert conn["login"] == zoho_emulator_connection.client_id
    assert conn["extra"]["api_domain"] == zoho_emulator_connection.url


@pytest.mark.zoho_emulator(seed="demo", empty_list_status=200)
def test_marker_configures_the_fixture(zoho_emulator):
    assert len(zoho_emulator.seed_records) == 4
    assert zoho_emulator.config.empty_list_status == 200


# ---------------------------------------------------------------------------- packaging


def test_import_is_lazy():
    code = textwrap.dedent(
        """
        import sys
        import airflow_provider_zoho_attach.testing as testing
        import airflow_provider_zoho_attach.testing.pytest_plugin
        heavy = ("http.server", "airflow_provider_zoho_attach.testing.emulator")
        heavy = [m for m in heavy if m in sys.modules]
        assert not heavy, heavy
        assert testing.ZohoCRMEmulator.__name__ == "ZohoCRMEmulator"
        assert testing.EmulatorConfig().token_ttl == 3600
        assert "http.server" in sys.modules
        try:
            testing.Nope
        except AttributeError:
            pass
        else:
            raise SystemExit("no AttributeError")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    assert result.returncode == 0, result.stderr


def test_plugin_is_registered_and_stops_the_emulator(tmp_path):
    marker = tmp_path / "url.txt"
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(
            f"""
            import pathlib
            import requests

            def test_uses_fixture(zoho_emulator):
                pathlib.Path({str(marker)!r}).write_text(zoho_emulator.url)
                assert requests.get(zoho_emulator.url + "/__emulator__/stats", timeout=10).status_code == 200
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    with pytest.raises(requests.ConnectionError):
        requests.get(marker.read_text() + "/__emulator__/stats", timeout=5)


def test_the_first_name_of_the_cache_extra_is_an_alias(zoho_emulator):
    extra = zoho_emulator.connection_dict(token_cache="none")["extra"]
    assert extra["oauth_cache"] == "none"
    assert "token_cache" not in extra
