"""30 consecutive script runs share one access token through the per-user file (issue 13.2).

Before the file cache, each run outside a task kept its token in its own memory, so each created one:
Zoho (and the emulator) refuse the 11th in 10 minutes, and the runs after it failed TOKEN_THROTTLED.
``scripts/token_runs.py`` measures the same with real ``python -c`` runs.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_zoho_attach.testing.emulator import cli_connection_env
from airflow_provider_zoho_attach.utils.tokens import token_cache_dir

pytestmark = pytest.mark.integration

RUNS = 30
WORKER = Path(__file__).with_name("_token_runs_worker.py")


def run_scripts(env: dict[str, str], record_id: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, str(WORKER), str(RUNS), "Deals", record_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])["outcomes"]


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_thirty_script_runs_with_the_cli_connection_create_one_token(zoho_emulator):
    record = zoho_emulator.add_record("Deals")
    zoho_emulator.add_attachment("Deals", record, "a.pdf", b"%PDF")
    assert zoho_emulator.config.token_creation_limit == 10  # Zoho's throttle is on
    env = {**os.environ, **cli_connection_env(zoho_emulator)}

    outcomes = run_scripts(env, record)

    assert outcomes == ["OK"] * RUNS
    assert zoho_emulator.token_calls == 1
    files = list(token_cache_dir().iterdir())
    assert len(files) == 1
    assert oct(files[0].stat().st_mode & 0o777) == "0o600"
