"""50 task processes share one access token through the Variable cache (Zoho allows 10 per 10 min)."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

PROCESSES = 50
WORKER = Path(__file__).with_name("_token_sharing_worker.py")


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_fifty_processes_make_one_token_call(zoho_emulator, tmp_path):
    record = zoho_emulator.add_record("Deals")
    zoho_emulator.add_attachment("Deals", record, "a.pdf", b"%PDF")
    env = {**os.environ, **zoho_emulator.airflow_env(oauth_cache="variable")}
    done = subprocess.run(
        [sys.executable, str(WORKER), str(PROCESSES), "Deals", record, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["outcomes"] == [1] * PROCESSES
    assert zoho_emulator.token_calls == 1
    # One host: its lock queues the processes behind one lease; the lease and the token are written.
    assert report["variable_writes"] == 2
