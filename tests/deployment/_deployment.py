"""
A real Airflow deployment on loopback, for the deployment tests.

:class:`Deployment` starts ``airflow db migrate``, then the api-server, scheduler (LocalExecutor),
dag-processor and triggerer as four separate processes, each in its own process group, with a
throwaway ``AIRFLOW_HOME``; :meth:`Deployment.stop` ends every process it started (SIGTERM to each
process group, SIGKILL after a grace period) and checks that none is left.

Only the REST API (v2) and files are used to look inside, never Airflow's Python internals, so the
same code drives Airflow 3.1 and 3.3.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import psutil
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DAGS = REPO_ROOT / "example_dags"
EXTRA_DAGS = Path(__file__).resolve().parent / "dags"
ARTIFACTS = REPO_ROOT / "test-artifacts"
VENV_BIN = Path(sys.executable).parent

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
#: Seconds each bounded wait may take by default; the machine may be shared and slow.
STARTUP_TIMEOUT = 180.0
STOP_GRACE = 20.0

T = TypeVar("T")

#: Measurements the tests make, printed at the end of the session.
SUMMARY: dict[str, Any] = {}


class DeploymentError(AssertionError):
    """The deployment did not do what a test waited for (the message carries the logs' tails)."""


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a text file ('' if it does not exist)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class Deployment:
    """
    Airflow's four long-running components plus a metadata DB, on 127.0.0.1.

    :param home: an empty directory to use as ``AIRFLOW_HOME``.
    :param extra_env: more environment for every component (connections, variables...).
    :param host: the address the api-server binds (a loopback one, or one that other hosts reach).
    """

    #: The ``/monitor/health`` entries that must say healthy before :meth:`start` returns.
    HEALTH_COMPONENTS: tuple[str, ...] = ("metadatabase", "scheduler", "triggerer", "dag_processor")

    def __init__(self, home: Path, extra_env: dict[str, str], *, host: str = "127.0.0.1") -> None:
        self.home = home
        self.host = host
        self.dags_folder = home / "dags"
        self.logs_dir = home / "component-logs"
        self.data_dir = home / "data"
        self.port = free_port()
        self.url = f"http://{host}:{self.port}"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        #: Components a test ended on purpose (still checked at :meth:`stop`, no longer by check_alive).
        self.ended: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, Path] = {}
        #: pid -> (component, create_time) of every process the components started (pids are reused).
        self._known_pids: dict[int, tuple[str, float]] = {}
        self._session = requests.Session()
        self._token: str | None = None
        self.peak_pss_mib: float = 0.0
        self.env = self._environment(extra_env)

    # ------------------------------------------------------------------ set-up

    def _environment(self, extra_env: dict[str, str]) -> dict[str, str]:
        # Nothing of the test process's own Airflow set-up (tests/conftest.py) may leak in.
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        tmp = self.home / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        env.update(
            {
                "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
                "PYTHONUNBUFFERED": "1",
                # The token lock files of the provider and every other temporary file stay in the home.
                "TMPDIR": str(tmp),
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home}/airflow.db",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "8",
                "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
                "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
                "AIRFLOW__API__HOST": self.host,
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__BASE_URL": self.url,
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API__SECRET_KEY": os.urandom(16).hex(),
                "AIRFLOW__API_AUTH__JWT_SECRET": os.urandom(32).hex(),
                # Files are found quickly; each file is re-parsed rarely (parsing costs CPU).
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "120",
                "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
                "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "0",
                "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
                "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
                # serve-logs binds every interface and is not needed (the api-server reads the local
                # log files), so it is not started; its ports are still moved off the defaults.
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            }
        )
        env.update(extra_env)
        return env

    def install_dags(self, extra: Iterable[Path] = (), *, examples: bool = True) -> None:
        """Copy the example DAGs (unless ``examples`` is false) and extra DAG files into the DAGs folder."""
        self.dags_folder.mkdir(parents=True, exist_ok=True)
        for path in [*(sorted(EXAMPLE_DAGS.glob("*.py")) if examples else []), *extra]:
            shutil.copy2(path, self.dags_folder / path.name)

    def start(self) -> None:
        """Migrate the DB, start the components and wait until all of them report healthy."""
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        migrate_log = self.logs_dir / "db-migrate.log"
        self.logs["db-migrate"] = migrate_log
        with migrate_log.open("wb") as out:
            # In its own session too, so that a timeout can end it with everything it started.
            migrate = subprocess.Popen(
                [str(VENV_BIN / "airflow"), "db", "migrate"],
                env=self.env,
                cwd=self.home,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            self.procs["db-migrate"] = migrate
            try:
                code = migrate.wait(timeout=STARTUP_TIMEOUT)
            except subprocess.TimeoutExpired:
                code = None
        if code != 0:
            raise DeploymentError(f"airflow db migrate failed (exit {code})\n{self.describe_logs()}")
        del self.procs["db-migrate"]

        for name, args in self.commands().items():
            self.start_component(name, self.command_line(name, args))
        self.wait_for(self._healthy, timeout=STARTUP_TIMEOUT, what="every component healthy", interval=1.0)

    def commands(self) -> dict[str, list[str]]:
        """The long-running components: name -> arguments of ``airflow``."""
        return {
            "api-server": ["api-server", "--host", self.host, "--port", str(self.port), "--workers", "1"],
            "scheduler": ["scheduler", "--skip-serve-logs"],
            "dag-processor": ["dag-processor"],
            "triggerer": ["triggerer", "--skip-serve-logs"],
        }

    def command_line(self, name: str, args: list[str]) -> list[str]:
        """The command line of component ``name``: ``airflow`` with ``args``."""
        return [str(VENV_BIN / "airflow"), *args]

    def start_component(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        """
        Start one long-running process in its own session, its output in ``component-logs/NAME.log``.

        :param name: the component's name (unique).
        :param argv: the command line.
        :param env: its environment (:attr:`env` by default).
        """
        log_path = self.logs_dir / f"{name}.log"
        self.logs[name] = log_path
        with log_path.open("ab") as out:
            proc = subprocess.Popen(
                argv,
                env=self.env if env is None else env,
                cwd=self.home,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.procs[name] = proc
        with contextlib.suppress(psutil.Error):
            self._known_pids[proc.pid] = (name, psutil.Process(proc.pid).create_time())

    def kill_component(self, name: str) -> None:
        """SIGKILL a component and everything in its process group, as a crashed host would end."""
        self.remember_descendants()
        proc = self.procs.pop(name)
        # Keyed by pid too: a host may be started again under the same name.
        self.ended[f"{name} (pid {proc.pid})"] = proc
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def stop_component(self, name: str) -> None:
        """End one component as a deployment would (SIGTERM to its group; SIGKILL after the grace)."""
        self.remember_descendants()
        proc = self.procs.pop(name)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

        def group_ended() -> bool:
            for process in psutil.process_iter(["pid", "status"]):
                with contextlib.suppress(OSError):
                    if (
                        process.info["status"] != psutil.STATUS_ZOMBIE
                        and os.getpgid(process.info["pid"]) == proc.pid
                    ):
                        return False
            return True

        self.wait_for(group_ended, timeout=STOP_GRACE, what=f"{name}'s processes to end", interval=0.2)

    def restart_component(self, name: str) -> None:
        """Start a component stopped with :meth:`stop_component` again (its log is appended to)."""
        self.start_component(name, self.command_line(name, self.commands()[name]))

    def _healthy(self) -> bool:
        self.check_alive()
        try:
            health = requests.get(f"{self.url}/api/v2/monitor/health", timeout=5).json()
        except (requests.RequestException, ValueError):
            return False
        return all((health.get(name) or {}).get("status") == "healthy" for name in self.HEALTH_COMPONENTS)

    def check_alive(self) -> None:
        """Fail at once (with the logs) when a component exited."""
        self.remember_descendants()
        for name, proc in self.procs.items():
            code = proc.poll()
            if code is not None:
                raise DeploymentError(f"{name} exited with code {code}\n{self.describe_logs()}")

    # ------------------------------------------------------------------ waiting

    def wait_for(self, probe: Callable[[], T], *, timeout: float, what: str, interval: float = 1.0) -> T:
        """
        Call ``probe`` until it returns something truthy (returned) or ``timeout`` seconds pass.

        :raises DeploymentError: the deadline passed or a component died (with the logs' tails).
        """
        deadline = time.monotonic() + timeout
        while True:
            value = probe()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise DeploymentError(
                    f"timed out after {timeout:.0f} s waiting for {what}\n{self.describe_logs()}"
                )
            self.check_alive()
            self.sample_memory()
            time.sleep(interval)

    # ------------------------------------------------------------------ REST API

    def _auth_header(self) -> dict[str, str]:
        if self._token is None:
            # simple_auth_manager_all_admins: a token without credentials (3.1 and 3.3 both have it).
            answer = requests.get(f"{self.url}/auth/token", timeout=30)
            if answer.ok:
                self._token = answer.json()["access_token"]
            else:
                passwords = self.home / "simple_auth_manager_passwords.json.generated"
                user, password = next(iter(json.loads(passwords.read_text()).items()))
                answer = requests.post(
                    f"{self.url}/auth/token", json={"username": user, "password": password}, timeout=30
                )
                answer.raise_for_status()
                self._token = answer.json()["access_token"]
        return {"Authorization": f"Bearer {self._token}"}

    def api(
        self,
        method: str,
        path: str,
        *,
        expect: int | tuple[int, ...] | None = 200,
        prefix: str = "/api/v2",
        **kwargs: Any,
    ) -> Any:
        """
        Call the REST API (``path`` below ``prefix``); return the decoded JSON body.

        :param expect: the status (or statuses) that count as success; ``None`` returns the response.
        """
        kwargs.setdefault("timeout", 60)
        response = self._session.request(
            method, f"{self.url}{prefix}{path}", headers=self._auth_header(), **kwargs
        )
        if expect is None:
            return response
        wanted = (expect,) if isinstance(expect, int) else expect
        if response.status_code not in wanted:
            raise DeploymentError(f"{method} {path} answered {response.status_code}: {response.text[:2000]}")
        return response.json() if response.content else None

    @property
    def airflow_version(self) -> tuple[int, ...]:
        """The deployment's Airflow version, e.g. ``(3, 3, 2)`` (from ``GET /api/v2/version``)."""
        text = str(self.api("GET", "/version")["version"])
        parts = []
        for piece in text.split(".")[:3]:
            digits = "".join(ch for ch in piece if ch.isdigit()) if piece else ""
            parts.append(int(digits or 0))
        return tuple(parts)

    def wait_for_dag(self, dag_id: str, timeout: float = 120.0) -> dict[str, Any]:
        """Wait until the dag-processor has parsed ``dag_id`` (without import errors)."""

        def parsed() -> dict[str, Any] | None:
            response = self.api("GET", f"/dags/{dag_id}", expect=None)
            return response.json() if response.status_code == 200 else None

        try:
            return self.wait_for(parsed, timeout=timeout, what=f"DAG {dag_id} to be parsed", interval=2.0)
        except DeploymentError as error:
            errors = self.api("GET", "/importErrors", expect=None)
            raise DeploymentError(f"{error}\nimport errors: {errors.text[:3000]}") from None

    def unpause(self, dag_id: str) -> None:
        """Unpause a DAG."""
        self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def reparse(self, dag_id: str) -> None:
        """Ask the dag-processor to parse the file of ``dag_id`` again, now."""
        file_token = self.api("GET", f"/dags/{dag_id}/details")["file_token"]
        self.api("PUT", f"/parseDagFile/{file_token}", expect=(200, 201))

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None, **body: Any) -> str:
        """Create a manual DAG run (``logical_date`` null unless given); return its run id."""
        payload: dict[str, Any] = {"logical_date": None, "conf": conf or {}, **body}
        run = self.api("POST", f"/dags/{dag_id}/dagRuns", json=payload)
        return str(run["dag_run_id"])

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        """The DAG run as the API returns it."""
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")

    def dag_runs(self, dag_id: str) -> list[dict[str, Any]]:
        """Every run of a DAG."""
        return list(self.api("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"])

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance (mapped ones included) of a run."""
        answer = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100})
        return list(answer["task_instances"])

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        """One (unmapped) task instance."""
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")

    def xcom(self, dag_id: str, run_id: str, task_id: str, *, map_index: int = -1) -> Any:
        """The ``return_value`` XCom of a task instance (decoded)."""
        entry = self.api(
            "GET",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value",
            params={"map_index": map_index},
        )
        value = entry["value"]
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        return value

    def wait_for_run(self, dag_id: str, run_id: str, *, timeout: float) -> dict[str, Any]:
        """Wait until a run finished; fail with its task states and the logs unless it succeeded."""

        def finished() -> dict[str, Any] | None:
            run = self.dag_run(dag_id, run_id)
            return run if run["state"] in ("success", "failed") else None

        try:
            run = self.wait_for(
                finished, timeout=timeout, what=f"{dag_id} run {run_id} to finish", interval=2.0
            )
        except DeploymentError as error:
            raise DeploymentError(f"{error}\n{self.describe_run(dag_id, run_id)}") from None
        if run["state"] != "success":
            raise DeploymentError(
                f"{dag_id} run {run_id} ended {run['state']}\n{self.describe_run(dag_id, run_id)}\n"
                f"{self.describe_logs()}"
            )
        return run

    def describe_run(self, dag_id: str, run_id: str) -> str:
        """Task states of a run, and the task logs of the ones that did not succeed."""
        lines = []
        try:
            for ti in self.task_instances(dag_id, run_id):
                lines.append(f"  {ti['task_id']}[{ti['map_index']}]: {ti['state']}")
        except DeploymentError as error:
            lines.append(f"  (task instances unavailable: {error})")
        for log in self.task_logs(dag_id, run_id):
            text = tail(log, 12)
            if any(mark in text for mark in ("ERROR", "Traceback", '"level":"error"')):
                lines.append(f"--- {log.relative_to(self.home)}\n{text}")
        return "\n".join(lines)

    # ------------------------------------------------------------------ logs and resources

    def task_logs(self, dag_id: str, run_id: str, pattern: str = "*.log") -> list[Path]:
        """The log files of a run's tasks (trigger logs included) that match ``pattern``."""
        return sorted((self.home / "logs").glob(f"dag_id={dag_id}/run_id={run_id}/**/{pattern}"))

    def describe_logs(self, lines: int = 40) -> str:
        """The tail of each component's log."""
        return "\n".join(
            f"----- {name} ({path}) -----\n{tail(path, lines)}" for name, path in self.logs.items()
        )

    def log_text(self, name: str) -> str:
        """A component's whole log."""
        return self.logs[name].read_text(errors="replace")

    def remember_descendants(self) -> None:
        """Note every process the components started so far (to check at the end that all are gone)."""
        for name, proc in self.procs.items():
            with contextlib.suppress(psutil.Error):
                for child in psutil.Process(proc.pid).children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        self._known_pids.setdefault(child.pid, (name, child.create_time()))

    def sample_memory(self) -> None:
        """Update :attr:`peak_pss_mib` (proportional set size of every component process)."""
        total = 0
        for proc in self.procs.values():
            with contextlib.suppress(psutil.Error):
                parent = psutil.Process(proc.pid)
                for member in [parent, *parent.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error, AttributeError):
                        total += member.memory_full_info().pss
        self.peak_pss_mib = max(self.peak_pss_mib, total / 2**20)

    # ------------------------------------------------------------------ tear-down

    def stop(self) -> list[str]:
        """
        End every process this deployment started, then check that none is left.

        :return: the processes that survived SIGKILL (empty when all is well).
        """
        self.remember_descendants()
        self.procs.update(self.ended)
        self.ended.clear()
        groups = {}
        for name, proc in self.procs.items():
            if proc.poll() is None:
                groups[name] = proc.pid  # start_new_session: the group id is the leader's pid
        for pgid in groups.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        while time.monotonic() < deadline and self._survivors(groups.values()):
            time.sleep(0.2)
        for pgid in groups.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        # Processes that left their group (none should) are ended one by one, by pid.
        for pid in self._survivors(groups.values()):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        time.sleep(0.2)
        self._session.close()
        return [
            f"{pid} ({self._known_pids.get(pid, ('?', 0))[0]})" for pid in self._survivors(groups.values())
        ]

    def _survivors(self, pgids: Iterable[int]) -> list[int]:
        """Live (non-zombie) processes in our groups or among the descendants noted earlier."""
        pgids = set(pgids)
        alive = []
        for process in psutil.process_iter(["pid", "status", "create_time"]):
            if process.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            pid = process.info["pid"]
            try:
                in_group = os.getpgid(pid) in pgids
            except OSError:
                continue
            known = self._known_pids.get(pid)
            if in_group or (known is not None and known[1] == process.info["create_time"]):
                alive.append(pid)
        return alive
