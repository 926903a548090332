"""The emulator's bandwidth limit over real HTTP: one link shared by all connections, set by config or CLI."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from airflow_provider_zoho_attach.testing import ZohoCRMEmulator
from airflow_provider_zoho_attach.testing._emulator_bandwidth import BURST

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
TIMEOUT = 60
RATE = 8 * MIB


@pytest.fixture
def link():
    with ZohoCRMEmulator() as zoho:
        record_id = zoho.add_record("Deals")
        content = bytes(range(256)) * (3 * MIB // 256)
        ids = [zoho.add_attachment("Deals", record_id, f"f{i}.bin", content) for i in range(2)]
        session = requests.Session()
        session.headers["Authorization"] = f"Zoho-oauthtoken {zoho.issue_access_token()}"
        urls = [f"{zoho.url}/crm/v8/Deals/{record_id}/Attachments/{i}" for i in ids]
        yield zoho, session, urls, hashlib.sha256(content).hexdigest()
        session.close()


def _download(session, url):
    digest = hashlib.sha256()
    with session.get(url, stream=True, timeout=TIMEOUT) as response:
        assert response.status_code == 200
        for block in response.iter_content(MIB):
            digest.update(block)
    return digest.hexdigest()


def test_a_download_takes_at_least_its_size_over_the_rate_and_arrives_whole(link):
    zoho, session, urls, sha = link
    started = time.perf_counter()
    assert _download(session, urls[0]) == sha
    unlimited = time.perf_counter() - started
    zoho.config.bandwidth = RATE
    started = time.perf_counter()
    assert _download(session, urls[0]) == sha
    limited = time.perf_counter() - started
    assert limited >= (3 * MIB - BURST) / RATE
    assert limited > unlimited


def test_connections_share_one_link(link):
    zoho, _, urls, sha = link
    zoho.config.bandwidth = RATE
    token = zoho.issue_access_token()

    def fetch(url):
        with requests.Session() as own:
            own.headers["Authorization"] = f"Zoho-oauthtoken {token}"
            return _download(own, url)

    started = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        assert list(pool.map(fetch, urls)) == [sha, sha]
    # Two 3 MiB bodies at once through one 8 MiB/s link: 0.75 s at least, not the 0.375 s of one.
    assert time.perf_counter() - started >= (6 * MIB - BURST) / RATE


def test_json_answers_go_through_the_link_too(link):
    zoho, session, urls, _ = link
    # In-memory bodies take the limited path as well (head first, then the body in chunks).
    zoho.config.update(bandwidth=RATE)
    listing = session.get(urls[0].rsplit("/", 1)[0], params={"fields": "id,File_Name"}, timeout=TIMEOUT)
    assert listing.status_code == 200
    assert len(listing.json()["data"]) == 2


def test_cli_sets_the_bandwidth():
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_zoho_attach.testing.emulator",
            "--port",
            "0",
            "--bandwidth",
            "100",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline()
        url = first.split(" listening on ")[1].split()[0]
        with urllib.request.urlopen(f"{url}/__emulator__/config", timeout=TIMEOUT) as answer:
            assert json.loads(answer.read())["bandwidth"] == 100 * MIB
    finally:
        proc.terminate()
        proc.wait(timeout=TIMEOUT)


@pytest.mark.parametrize("value", ["0", "-1", "fast"])
def test_cli_refuses_a_bad_bandwidth_in_one_line(value):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "airflow_provider_zoho_attach.testing.emulator",
            "--port",
            "0",
            "--bandwidth",
            value,
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "--bandwidth" in result.stderr
