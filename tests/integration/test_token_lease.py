"""
The token lease across hosts: task processes that share the Variable but no host lock.

Each process here has a temp dir of its own, so its own host lock: as the pods of a Kubernetes
deployment or the workers of a Celery one. The emulator applies Zoho's token rules (10 creations
per 10 minutes, 15 live tokens per refresh token) and counts the token calls.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork"),
]

REPO = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("_token_sharing_worker.py")
HOSTS = 20


def _run_hosts(emulator, record: str, workdir: Path, processes: int, hosts: str = "private") -> dict:
    env = {**os.environ, **emulator.airflow_env(oauth_cache="variable")}
    done = subprocess.run(
        [sys.executable, str(WORKER), str(processes), "Deals", record, str(workdir), hosts],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _refused(emulator) -> int:
    return sum(1 for r in emulator.requests if r.path == "/oauth/v2/token" and r.code not in (None, "", "OK"))


@pytest.fixture
def record(zoho_emulator):
    record_id = zoho_emulator.add_record("Deals")
    zoho_emulator.add_attachment("Deals", record_id, "a.pdf", b"%PDF")
    return record_id


def test_hosts_without_a_shared_lock_make_one_token_call(zoho_emulator, record, tmp_path):
    report = _run_hosts(zoho_emulator, record, tmp_path, HOSTS)
    assert report["outcomes"] == [1] * HOSTS
    assert zoho_emulator.token_calls <= 2
    assert _refused(zoho_emulator) == 0


def test_a_revoked_token_in_the_cache_is_replaced_once_for_every_host(zoho_emulator, record, tmp_path):
    assert _run_hosts(zoho_emulator, record, tmp_path, 1)["outcomes"] == [1]
    assert zoho_emulator.token_calls == 1
    # Revoked at Zoho (a 16th token elsewhere, or the console): every host holds it in the cache.
    zoho_emulator.revoke_access_tokens()
    report = _run_hosts(zoho_emulator, record, tmp_path, HOSTS)
    assert report["outcomes"] == [1] * HOSTS
    assert zoho_emulator.token_calls - 1 <= 2
    assert _refused(zoho_emulator) == 0


def test_a_revoked_refresh_token_fails_every_task_fast_with_bounded_token_calls(
    zoho_emulator, record, tmp_path
):
    zoho_emulator.revoke_refresh_token(zoho_emulator.refresh_token)
    report = _run_hosts(zoho_emulator, record, tmp_path, HOSTS)
    assert report["outcomes"] == ["invalid_code"] * HOSTS
    # One holder asks and is refused; the refusal is shared, the other tasks do not ask again.
    assert zoho_emulator.token_calls <= 2
    assert report["seconds"] < 60


def test_every_task_its_own_host_in_the_mapped_task_harness(zoho_emulator, tmp_path):
    """50 download tasks started together, each with a private temp dir: at most 2 token calls."""
    tasks, files = 50, 2
    # Zoho's accounts server answers over the Internet, not in a millisecond: the race is real.
    zoho_emulator.inject_fault("slow_body", path=r"^/oauth/v2/token$", delay=0.2, count=10_000)
    records = []
    for _ in range(tasks):
        record_id = zoho_emulator.add_record("Deals")
        for n in range(files):
            zoho_emulator.add_attachment("Deals", record_id, f"f{n}.bin", os.urandom(1024))
        records.append(record_id)
    phase = {
        "kind": "provider",
        "processes": tasks,
        "private_hosts": True,
        "module": "Deals",
        "records": records,
        "workdir": str(tmp_path),
        "env": zoho_emulator.airflow_env(oauth_cache="variable"),
    }
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"phases": [phase]}))
    done = subprocess.run(
        [sys.executable, "-m", "bench._mapped_tasks", str(spec)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])["provider"]
    assert result["outcomes"] == [files] * tasks
    assert zoho_emulator.token_calls <= 2
    assert _refused(zoho_emulator) == 0
    for index in range(tasks):
        assert len(list((tmp_path / "provider" / str(index)).iterdir())) == files
