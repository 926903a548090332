"""
Fixtures of the deployment tests: one Zoho CRM emulator (in this process) and one real Airflow
deployment (api-server, scheduler, dag-processor, triggerer) per session, on 127.0.0.1.

Run with ``make test-e2e`` (the default ``make test`` deselects the ``deployment`` marker).
Set ``ZOHO_E2E_KEEP_HOME=1`` to keep the deployment's AIRFLOW_HOME for a post-mortem.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.deployment._deployment import ARTIFACTS, EXTRA_DAGS, SUMMARY, Deployment, DeploymentError

#: What the event-driven example watches (the Variable ``zoho_watch_records``). Only this deal is
#: watched, so the other tests' attachments (on other records) never start that DAG.
#: ``poll_interval`` is honoured only by an example that reads it; the tests adapt either way.
WATCH_POLL_INTERVAL = 5


@pytest.fixture(scope="session")
def zoho() -> Iterator[Any]:
    """The Zoho CRM emulator, seeded with the demo data, serving for the whole session."""
    from airflow_provider_zoho_attach.testing.emulator import ZohoCRMEmulator

    emulator = ZohoCRMEmulator(seed="demo")
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def watched_record() -> str:
    """The deal the AssetWatcher of example_zoho_attachment_events watches."""
    from airflow_provider_zoho_attach.testing._emulator_seed import DEMO_RECORDS

    return DEMO_RECORDS["acme_deal"]


@pytest.fixture(scope="session")
def deployment(request: pytest.FixtureRequest, zoho: Any, watched_record: str) -> Iterator[Deployment]:
    """Airflow running for real against the emulator; every process is ended afterwards."""
    home = Path(tempfile.mkdtemp(prefix="zoho-deployment-"))
    extra_env = {
        **zoho.airflow_env(oauth_cache="variable"),
        "AIRFLOW_VAR_ZOHO_WATCH_RECORDS": json.dumps(
            {"module": "Deals", "record_ids": [watched_record], "poll_interval": WATCH_POLL_INTERVAL}
        ),
    }
    deployment = Deployment(home, extra_env)
    deployment.install_dags(sorted(EXTRA_DAGS.glob("*.py")) if EXTRA_DAGS.is_dir() else ())
    started = time.monotonic()
    failed_start = False
    try:
        try:
            deployment.start()
        except BaseException:
            failed_start = True
            raise
        SUMMARY["startup_seconds"] = round(time.monotonic() - started, 1)
        deployment.sample_memory()
        yield deployment
    finally:
        deployment.sample_memory()
        survivors = deployment.stop()
        SUMMARY["peak_pss_mib"] = round(deployment.peak_pss_mib)
        SUMMARY["token_calls_total"] = zoho.token_calls
        failed = failed_start or request.session.testsfailed > 0
        saved = ARTIFACTS / "deployment-logs"
        shutil.rmtree(saved, ignore_errors=True)  # logs of an earlier failed session
        if failed:
            print(f"\n===== component logs (tail) =====\n{deployment.describe_logs(60)}")
            shutil.copytree(deployment.logs_dir, saved, dirs_exist_ok=True)
            if (home / "logs").is_dir():
                shutil.copytree(home / "logs", saved / "task-logs", dirs_exist_ok=True)
            print(f"component and task logs copied to {saved}")
        if os.environ.get("ZOHO_E2E_KEEP_HOME"):
            print(f"\nAIRFLOW_HOME kept at {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
        # Nothing this test process started may outlive the session either.
        children = [
            f"{child.pid} ({' '.join(child.cmdline()[:3])})"
            for child in psutil.Process().children(recursive=True)
            if child.is_running() and child.status() != psutil.STATUS_ZOMBIE
        ]
        SUMMARY["processes_left"] = len(survivors) + len(children)
        if survivors or children:
            raise DeploymentError(
                f"processes still running after the deployment stopped: {survivors + children}"
            )


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """``test-artifacts/`` of the repository (git-ignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print what the deployment tests measured."""
    if SUMMARY:
        terminalreporter.write_sep("-", "deployment measurements")
        for key, value in SUMMARY.items():
            terminalreporter.write_line(f"{key}: {value}")
