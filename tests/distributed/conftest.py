"""
Fixtures of the distributed tests: the emulator (in this process, with Zoho's token rules and a
concurrency limit) behind a relay on the test network, and one :class:`Cluster` per module.

Run with ``make test-distributed`` (as root: namespaces, PostgreSQL's user). ``make test``
deselects the ``distributed`` marker. Sizes: ``ZOHO_DIST_DOWNLOADS`` (300), ``ZOHO_DIST_KILL``
(300), ``ZOHO_DIST_SENSORS`` (200), ``ZOHO_DIST_REVOKE`` (60).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deployment._deployment import ARTIFACTS, SUMMARY
from tests.distributed import _hosts
from tests.distributed._cluster import WORKERS, Cluster

DAGS = Path(__file__).resolve().parent / "dags"
#: Where the figures of the last run are written (docs/benchmarks.rst quotes them).
FIGURES = ARTIFACTS / "distributed-figures.json"
#: API calls in flight at once before Zoho answers 429 (an edition's limit is 5 to 25).
ZOHO_CONCURRENCY = 10


def scale(name: str, default: int) -> int:
    """A scenario's size, from ``ZOHO_DIST_<NAME>`` (so a slow machine can run fewer)."""
    return int(os.environ.get(f"ZOHO_DIST_{name}", default))


def _interrupt(signum: int, frame: Any) -> None:
    # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so the fixtures' clean-up runs.
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def host_lock() -> Iterator[None]:
    """One run per machine; whatever a killed earlier run left is removed first."""
    if reason := _hosts.netns_available():
        pytest.fail(f"the distributed tests need network namespaces: {reason}")
    handle = _hosts.LOCK_FILE.open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pytest.fail(f"another distributed test run holds {_hosts.LOCK_FILE}")
    previous = signal.signal(signal.SIGTERM, _interrupt)
    leftovers = _hosts.remove_leftovers()
    if leftovers:
        print(f"\nremoved what an earlier run left: {leftovers}")
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        handle.close()


@pytest.fixture(scope="module")
def zoho(host_lock: None) -> Iterator[Any]:
    """The emulator: Zoho's token rules (10 creations in 10 min, 15 alive) and 10 calls at once."""
    from airflow_provider_zoho_attach.testing.emulator import EmulatorConfig, ZohoCRMEmulator

    config = EmulatorConfig(max_concurrency=ZOHO_CONCURRENCY, latency=0.02, request_log_limit=None)
    assert (config.token_creation_limit, config.token_creation_window, config.max_active_tokens) == (
        10,
        600.0,
        15,
    )
    with ZohoCRMEmulator(config=config) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest, zoho: Any) -> Iterator[Cluster]:
    """The distributed deployment; every process, namespace and link is gone afterwards."""
    home = Path(tempfile.mkdtemp(prefix="zoho-distributed-", dir="/var/tmp"))
    home.chmod(0o755)  # PostgreSQL runs as its own user and keeps its data in here
    cluster: Cluster | None = None
    relay: _hosts.Relay | None = None
    try:
        hosts = _hosts.make_network(WORKERS)
        relay = _hosts.Relay((_hosts.GATEWAY, 0), ("127.0.0.1", zoho.port))
        # The relay is a proxy: Zoho's answers name the emulator's own address as the API domain.
        extra = zoho.airflow_env(
            accounts_url=relay.url,
            api_domain=relay.url,
            oauth_cache="variable",
            allow_api_domain_mismatch=True,
        )
        cluster = Cluster(home, extra, hosts)
        cluster.install_dags([DAGS / "zoho_distributed.py"], examples=False)
        started = time.monotonic()
        cluster.start()
        SUMMARY["startup_seconds"] = round(time.monotonic() - started, 1)
        yield cluster
    finally:
        if relay is not None:
            relay.stop()
        survivors = cluster.stop() if cluster is not None else []
        _hosts.remove_leftovers()  # the network, when the cluster never started
        SUMMARY["left_after_stop"] = survivors
        failed = request.session.testsfailed > 0
        if cluster is not None and failed:
            print(f"\n===== component logs (tail) =====\n{cluster.describe_logs(40)}")
        if os.environ.get("ZOHO_E2E_KEEP_HOME"):
            print(f"\ncluster home kept at {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        FIGURES.write_text(json.dumps(dict(SUMMARY.items()), indent=2, default=str))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print what the distributed tests measured."""
    if SUMMARY:
        terminalreporter.write_sep("-", "distributed measurements")
        for key, value in SUMMARY.items():
            terminalreporter.write_line(f"{key}: {value}")
