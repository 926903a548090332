"""
A distributed Airflow 3 deployment for the distributed tests: PostgreSQL, Redis, the api-server,
scheduler, dag-processor and two triggerers in the root namespace, and three Celery workers that
are separate hosts (see :mod:`tests.distributed._hosts`).

Each worker host has its own network namespace and address, its own hostname (a UTS namespace),
its own ``/tmp`` and ``/dev/shm`` (tmpfs mounted in the mount namespace ``ip netns exec`` makes),
its own ``AIRFLOW_HOME``, ``HOME``, ``TMPDIR`` and ``XDG_CACHE_HOME``, and its own copy of the DAGs:
nothing host-local (file locks, the per-user token file, temporary files) is shared. The only
shared directory is :attr:`Cluster.shared_dir`, what an NFS mount or a bucket is in a real
deployment, where the downloads land.
"""

from __future__ import annotations

import contextlib
import shlex
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import psutil

from tests.deployment._deployment import (
    REPO_ROOT,
    STARTUP_TIMEOUT,
    VENV_BIN,
    Deployment,
    DeploymentError,
    free_port,
)
from tests.distributed import _hosts

WORKER_CONCURRENCY = 4
WORKERS = 3
TRIGGERERS = 2


class Cluster(Deployment):
    """
    The deployment: :class:`Deployment` with PostgreSQL, Redis, CeleryExecutor and more components.

    :param home: an empty directory (not under ``/tmp``: the hosts get their own ``/tmp``).
    :param extra_env: more environment for every component (the connection...).
    :param hosts: ``(namespace, address)`` of each worker host (:func:`_hosts.make_network`).
    """

    def __init__(self, home: Path, extra_env: dict[str, str], hosts: list[tuple[str, str]]) -> None:
        self.pg_port = free_port()
        self.redis_port = free_port()
        self.shared_dir = home / "shared"
        self.hosts = hosts
        self.worker_starts: dict[str, int] = {}
        #: Peak memory of each worker host (its whole process tree), in MiB.
        self.worker_peak_rss_mib: dict[str, float] = {}
        self.worker_peak_pss_mib: dict[str, float] = {}
        super().__init__(home, extra_env, host=_hosts.GATEWAY)

    def _environment(self, extra_env: dict[str, str]) -> dict[str, str]:
        database = f"airflow@{_hosts.GATEWAY}:{self.pg_port}/airflow"
        return super()._environment(
            {
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{database}",
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CELERY__BROKER_URL": f"redis://{_hosts.GATEWAY}:{self.redis_port}/0",
                "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://{database}",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
                "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
                # The scheduler hands out no more than the workers can run, so nothing waits in a
                # dead worker's prefetch for long.
                "AIRFLOW__CORE__PARALLELISM": str(WORKERS * WORKER_CONCURRENCY),
                "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(WORKERS * WORKER_CONCURRENCY),
                # A killed worker's tasks and a killed triggerer's triggers are taken over within
                # tens of seconds instead of the defaults' minutes.
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
                "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "120",
                "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "15",
                "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
                "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "3",
                **extra_env,
            }
        )

    # ------------------------------------------------------------------ start

    def start(self) -> None:
        """Hosts, PostgreSQL, Redis, then Airflow (migrate, components) and the three workers."""
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self.shared_dir.mkdir(parents=True, exist_ok=True)
        self.start_component("postgres", _hosts.prepare_postgres(self.home / "pgdata", self.pg_port))
        self.start_component("redis", _hosts.redis_command(self.redis_port))
        _hosts.wait_port(_hosts.GATEWAY, self.pg_port, timeout=STARTUP_TIMEOUT)
        _hosts.wait_port(_hosts.GATEWAY, self.redis_port, timeout=STARTUP_TIMEOUT)
        self._create_database()
        super().start()
        for number in range(1, len(self.hosts) + 1):
            self.start_worker(number)
        self.wait_for(self._workers_ready, timeout=STARTUP_TIMEOUT, what="three Celery workers ready")

    def _create_database(self) -> None:
        import psycopg2

        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            try:
                connection = psycopg2.connect(
                    host="127.0.0.1", port=self.pg_port, user="airflow", dbname="postgres"
                )
                break
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("CREATE DATABASE airflow")
        connection.close()

    def commands(self) -> dict[str, list[str]]:
        """The api-server, scheduler, dag-processor and two triggerers."""
        commands = super().commands()
        triggerer = commands.pop("triggerer")
        for number in range(1, TRIGGERERS + 1):
            commands[f"triggerer-{number}"] = triggerer
        return commands

    def command_line(self, name: str, args: list[str]) -> list[str]:
        """Each triggerer gets its own hostname, so that the API tells which one holds a trigger."""
        argv = super().command_line(name, args)
        if not name.startswith("triggerer-"):
            return argv
        return ["unshare", "--uts", "sh", "-c", f"hostname {name} && exec {shlex.join(argv)}"]

    def start_component(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        """Start a component; each Airflow component gets its own TMPDIR, HOME and cache dir."""
        if env is None and name not in ("postgres", "redis"):
            env = self._host_env(name, self.home / "hosts" / name)
        super().start_component(name, argv, env)

    def _host_env(self, name: str, root: Path) -> dict[str, str]:
        for sub in ("tmp", "home", "cache"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        return {
            **self.env,
            "TMPDIR": str(root / "tmp"),
            "HOME": str(root / "home"),
            "XDG_CACHE_HOME": str(root / "cache"),
            "ZOHO_TEST_HOST": name,
        }

    def start_worker(self, number: int) -> None:
        """
        Start the Celery worker of host ``number`` (again, after a kill).

        :param number: 1, 2 or 3.
        """
        namespace = self.hosts[number - 1][0]
        name = f"worker-{number}"
        self.worker_starts[name] = self.worker_starts.get(name, 0) + 1
        root = self.home / "hosts" / name
        env = self._host_env(name, root)
        airflow_home = root / "airflow"
        (airflow_home / "dags").mkdir(parents=True, exist_ok=True)
        for path in self.dags_folder.glob("*.py"):
            shutil.copy2(path, airflow_home / "dags" / path.name)
        env.update(
            {
                "AIRFLOW_HOME": str(airflow_home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(airflow_home / "dags"),
            }
        )
        # ip netns exec runs the command in the host's network namespace and a new mount namespace;
        # unshare gives it its own hostname. Every step execs, so the worker keeps the pid.
        script = (
            f"hostname {name} && {private_tmp_script()} && mount -t tmpfs tmpfs /dev/shm && "
            f"exec {VENV_BIN / 'airflow'} celery worker --skip-serve-logs --concurrency "
            f"{WORKER_CONCURRENCY} --celery-hostname {name}@{name} --without-mingle --without-gossip"
        )
        argv = ["ip", "netns", "exec", namespace, "unshare", "--uts", "sh", "-c", script]
        self.start_component(name, argv, env)

    def _workers_ready(self) -> bool:
        # A restarted host appends to its log: count one "ready" per start.
        return all(
            self.log_text(name).count(f"{name}@{name} ready") >= self.worker_starts[name]
            for name in self.worker_names()
        )

    def wait_workers_ready(self) -> None:
        """Wait until every started worker said it is ready."""
        self.wait_for(self._workers_ready, timeout=STARTUP_TIMEOUT, what="the Celery workers ready")

    def worker_names(self) -> list[str]:
        """The worker hosts' names (``worker-1``...), killed ones included."""
        return [f"worker-{number}" for number in range(1, len(self.hosts) + 1)]

    def worker_logs(self, pattern: str = "**/*.log") -> list[Path]:
        """Task logs written on the worker hosts."""
        found: list[Path] = []
        for name in self.worker_names():
            found.extend((self.home / "hosts" / name / "airflow" / "logs").glob(pattern))
        return found

    # ------------------------------------------------------------------ measuring

    def sample_memory(self) -> None:
        """Also note each worker host's peak RSS and PSS (main process, pool and task processes)."""
        super().sample_memory()
        for name in self.worker_names():
            proc = self.procs.get(name)
            if proc is None:
                continue
            rss = pss = 0
            with contextlib.suppress(psutil.Error):
                parent = psutil.Process(proc.pid)
                for member in [parent, *parent.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error, AttributeError):
                        info = member.memory_full_info()
                        rss += info.rss
                        pss += info.pss
            self.worker_peak_rss_mib[name] = max(self.worker_peak_rss_mib.get(name, 0.0), rss / 2**20)
            self.worker_peak_pss_mib[name] = max(self.worker_peak_pss_mib.get(name, 0.0), pss / 2**20)

    def reset_memory_peaks(self) -> None:
        """Start measuring peaks afresh (for the next scenario)."""
        self.worker_peak_rss_mib.clear()
        self.worker_peak_pss_mib.clear()

    # ------------------------------------------------------------------ stop

    def stop(self) -> list[str]:
        """Airflow first, then Redis and PostgreSQL, then the hosts' namespaces and links."""
        data = {name: self.procs.pop(name) for name in ("postgres", "redis") if name in self.procs}
        # PostgreSQL's and Redis's own processes are still meant to run here.
        survivors = [item for item in super().stop() if not item.endswith(("(postgres)", "(redis)"))]
        self.procs = data
        # PostgreSQL's fast shutdown is SIGINT; stop() ends with SIGKILL for anything left.
        for proc in data.values():
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(2)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=15)
        survivors += super().stop()
        # The hosts go last; a process still inside one (there should be none) is named and killed.
        inside = [item for item in _hosts.remove_leftovers() if item.startswith("process")]
        return survivors + inside


def scenario_figures(cluster: Cluster, zoho: Any, started: float, **more: Any) -> dict[str, Any]:
    """What a scenario measured, for the summary and the docs."""
    records = zoho.requests
    return {
        "token_calls": zoho.token_calls,
        "http_429": sum(1 for r in records if r.status == 429),
        "invalid_token_401": sum(1 for r in records if r.code == "INVALID_OAUTHTOKEN"),
        "api_calls": zoho.api_calls(),
        "wall_seconds": round(time.monotonic() - started, 1),
        "worker_peak_rss_mib": round(max(cluster.worker_peak_rss_mib.values(), default=0.0)),
        "worker_peak_pss_mib": round(max(cluster.worker_peak_pss_mib.values(), default=0.0)),
        **more,
    }


def raise_with_logs(cluster: Cluster, message: str) -> None:
    """Fail with the components' log tails."""
    raise DeploymentError(f"{message}\n{cluster.describe_logs()}")


def private_tmp_script(paths: tuple[Path, ...] = (REPO_ROOT, VENV_BIN)) -> str:
    """
    The shell commands that give a host its own empty ``/tmp``, keeping the checkout visible.

    A checkout (or its venv) under ``/tmp`` would vanish under the new tmpfs, and the worker could
    not start (``exec .../airflow: not found``). Its top folder under ``/tmp`` is bound back in from
    the shell's working directory, which still holds the hidden folder once the tmpfs is mounted
    (``--no-canonicalize``: resolving the path by name would find the new, empty ``/tmp``).

    :param paths: what the host must still see.
    :raises DeploymentError: they are in two different folders of ``/tmp``.
    """
    tmp = Path("/tmp")
    tops = {Path(*path.resolve().parts[:3]) for path in paths if path.resolve().is_relative_to(tmp)}
    if not tops:
        return "mount -t tmpfs tmpfs /tmp"
    if len(tops) > 1:
        raise DeploymentError(
            f"the checkout and its venv must share one folder under /tmp, not {sorted(tops)}"
        )
    top = shlex.quote(str(tops.pop()))
    return (
        f"cd {top} && mount -t tmpfs tmpfs /tmp && mkdir -p {top} && "
        f"mount --no-canonicalize --bind . {top} && cd /"
    )
