"""What the benchmarks share: results, the emulator in its own process, subprocesses, memory probes."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import platform
import selectors
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
MIB = 1024 * 1024
KIB = 1024


# ---------------------------------------------------------------------------------------------- results


@dataclass
class Table:
    """One table of a benchmark: a title, a header row and rows of already formatted cells."""

    title: str
    header: list[str]
    rows: list[list[str]]
    note: str = ""


@dataclass
class Target:
    """One target of the issue, the measured value, and whether it was met (``None``: no verdict)."""

    name: str
    target: str
    measured: str
    met: bool | None
    value: float | None = None


@dataclass
class Section:
    """The result of one benchmark: what the page and the terminal show, and the raw numbers."""

    key: str
    title: str
    intro: str
    tables: list[Table] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    analysis: str = ""
    plots: list[tuple[str, str]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class Context:
    """How a benchmark runs: quick or full, where its plots go, a scratch directory."""

    quick: bool
    out_dir: Path
    plot_dir: Path
    scratch: Path
    shm: Path

    def plot_path(self, name: str) -> Path:
        """Where a plot named ``name`` is written."""
        self.plot_dir.mkdir(parents=True, exist_ok=True)
        return self.plot_dir / name


# ---------------------------------------------------------------------------------------------- formats


def seconds(value: float) -> str:
    """``0.123 s``, ``12.3 ms`` or ``45 us``."""
    if value >= 1:
        return f"{value:.2f} s"
    if value >= 0.001:
        return f"{value * 1000:.1f} ms"
    return f"{value * 1e6:.0f} us"


def ratio(value: float) -> str:
    """``1.23x``."""
    return f"{value:.2f}x"


def mib(value_bytes: float) -> str:
    """Bytes as ``12.3 MiB``."""
    return f"{value_bytes / MIB:.1f} MiB"


def size_label(value_bytes: int) -> str:
    """``64 KiB``, ``1 MiB``, ``512 MiB``."""
    if value_bytes >= MIB and value_bytes % MIB == 0:
        return f"{value_bytes // MIB} MiB"
    return f"{value_bytes // KIB} KiB"


def verdict(met: bool | None) -> str:
    """The word used in tables for a target."""
    return {True: "met", False: "MISSED", None: "n/a"}[met]


# ---------------------------------------------------------------------------------------------- memory


def rss_kib(field_name: str = "VmRSS") -> int:
    """A ``/proc/self/status`` memory field in KiB (``VmRSS`` now, ``VmHWM`` the peak)."""
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field_name} in /proc/self/status")


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS (``VmHWM``) to its current RSS; ``False`` if the kernel refuses."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


# ---------------------------------------------------------------------------------------------- processes


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a benchmark subprocess: ours (Airflow home set by run.py) plus ``extra``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


def run_json(args: list[str], *, timeout: float, env: dict[str, str] | None = None) -> Any:
    """Run ``python -m <args>`` from the repository and return the JSON of its last stdout line."""
    done = subprocess.run(
        [PYTHON, "-m", *args],
        cwd=REPO,
        env=env or child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args[:2])} exited {done.returncode}:\n{done.stderr[-3000:]}\n{done.stdout[-1000:]}"
        )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"{' '.join(args[:2])} printed no result:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1])


def read_line(stream: Any, timeout: float) -> str:
    """One line from a subprocess's binary pipe, waiting at most ``timeout`` seconds."""
    selector = selectors.DefaultSelector()
    selector.register(stream, selectors.EVENT_READ)
    try:
        if not selector.select(timeout):
            raise TimeoutError(f"no line within {timeout:.0f} s")
        return stream.readline().decode()
    finally:
        selector.close()


class EmulatorProcess:
    """
    The Zoho CRM emulator in its own process (``bench._emulator_main``), driven over its admin API.

    Clients then run in other processes, so their CPU and memory are measured alone.

    :param spec: what to create before serving (see ``bench/_emulator_main.py``).
    """

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.proc: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}
        self._stderr: Any = None

    def __enter__(self) -> EmulatorProcess:
        handle, path = tempfile.mkstemp(prefix="bench-emulator-", suffix=".json")
        with os.fdopen(handle, "w") as out:
            json.dump(self.spec, out)
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "bench._emulator_main", path],
            cwd=REPO,
            env=child_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        try:
            line = read_line(self.proc.stdout, 300)
            if not line:
                raise RuntimeError("the emulator process exited before serving")
            self.info = json.loads(line)
        except BaseException:
            self._stop()
            self._stderr.seek(0)
            sys.stderr.write(self._stderr.read().decode(errors="replace")[-3000:])
            raise
        finally:
            os.unlink(path)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        with contextlib.suppress(OSError):
            if proc.stdin is not None:
                proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
        self.proc = None

    @property
    def url(self) -> str:
        """The emulator's base URL."""
        return str(self.info["url"])

    @property
    def env(self) -> dict[str, str]:
        """``AIRFLOW_CONN_ZOHO_CRM_DEFAULT`` pointing at the emulator."""
        return dict(self.info["env"])

    def admin(self, method: str, route: str, payload: dict[str, Any] | None = None) -> Any:
        """Call the admin API (``/__emulator__/<route>``) and return its JSON."""
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(  # noqa: S310 - always our own http://127.0.0.1 emulator
            f"{self.url}/__emulator__/{route}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"} if data is not None else {},
        )
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return json.loads(response.read())

    def stats(self) -> dict[str, Any]:
        """Token and API calls, peak in flight... since the last reset."""
        return dict(self.admin("GET", "stats"))

    def reset_log(self) -> None:
        """Zero the counters and forget the logged requests."""
        self.admin("POST", "reset-log", {})

    def requests(self) -> list[dict[str, Any]]:
        """The logged requests (method, path, status, ...)."""
        return list(self.admin("GET", "requests")["requests"])


# ---------------------------------------------------------------------------------------------- machine


def _first_line_with(path: str, prefix: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, str]:
    """The facts the page notes: CPUs, memory, CPU model, load, versions, date."""
    mem_kib = _first_line_with("/proc/meminfo", "MemTotal").split()[0]
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 0
    load = os.getloadavg()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": str(cpus),
        "cpu_model": _first_line_with("/proc/cpuinfo", "model name"),
        "memory": f"{int(mem_kib) / MIB:.1f} GiB" if mem_kib.isdigit() else "unknown",
        "load_average": f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        "os": platform.platform(),
        "python": platform.python_version(),
        "airflow": _version("apache-airflow"),
        "provider": _version("airflow-provider-zoho-attach"),
        "zohocrmsdk8-0": _version("zohocrmsdk8-0"),
        "requests": _version("requests"),
        "httpx": _version("httpx"),
        "matplotlib": _version("matplotlib"),
    }


def monotonic() -> float:
    """``time.perf_counter`` (one name for every timing in the benchmarks)."""
    return time.perf_counter()


# ---------------------------------------------------------------------------------------------- workers

#: What every worker process has imported before it starts: the worker processes are forked from one
#: "zygote" that imported these once (``multiprocessing``'s forkserver), so each benchmark does not pay
#: Airflow's import (seconds) again. Import costs themselves are measured in fresh interpreters.
PRELOAD = (
    "requests",
    "httpx",
    "tenacity",
    "zohocrmsdk.src.com.zoho.crm.api.attachments",
    "airflow_provider_zoho_attach.hooks.zoho_crm",
    "airflow_provider_zoho_attach.operators.attachments",
    "airflow_provider_zoho_attach.operators.mirror",
    "airflow_provider_zoho_attach.sensors.attachments",
    "airflow_provider_zoho_attach.triggers.attachments",
    "bench._sdk",
)


@functools.lru_cache(maxsize=1)
def _worker_context() -> Any:
    import multiprocessing

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(PRELOAD))
    return context


def _worker_entry(
    module: str, spec: dict[str, Any], env: dict[str, str], results: Any, commands: Any
) -> None:
    import importlib
    import traceback

    os.environ.update(env)
    # The worker's own output (Airflow's warnings, retries logged by the hook) goes to a file, shown
    # only if the worker fails.
    log = tempfile.TemporaryFile()  # noqa: SIM115 - kept open until the process leaves
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    try:
        if module == "ping":
            value: Any = "pong"
        else:
            worker = importlib.import_module(module)
            value = worker.run(spec, commands) if commands is not None else worker.run(spec)
        results.send(("ok", value))
    except BaseException:
        sys.stdout.flush()
        sys.stderr.flush()
        log.seek(0)
        output = log.read().decode(errors="replace")[-4000:]
        results.send(("error", f"{traceback.format_exc()}\n--- worker output (tail) ---\n{output}"))
    finally:
        results.close()
        sys.stdout.flush()
        sys.stderr.flush()
        # Leave at once: a worker's helper threads (queues, pools) must not keep it alive.
        os._exit(0)


class Worker:
    """
    A benchmark worker (``bench._<name>_worker.run(spec)``) in a process forked from the zygote.

    :param module: the worker module.
    :param spec: its input (JSON-able).
    :param env: environment variables to set in it (the connection to the emulator).
    :param commands: open a pipe for :meth:`send` (the worker's ``run`` then gets its end).
    """

    def __init__(
        self, module: str, spec: dict[str, Any], *, env: dict[str, str] | None = None, commands: bool = False
    ) -> None:
        context = _worker_context()
        self._results, child_results = context.Pipe(duplex=False)
        # Pipe(duplex=False) is (reader, writer).
        child_commands, self._commands = context.Pipe(duplex=False) if commands else (None, None)
        self.process = context.Process(
            target=_worker_entry,
            args=(module, spec, env or {}, child_results, child_commands),
            name=module,
        )
        self.module = module
        self.process.start()
        child_results.close()
        if child_commands is not None:
            child_commands.close()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()

    def kill(self) -> None:
        """Stop the worker if it still runs (after a failure of the benchmark driving it)."""
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=10)

    def send(self, command: str) -> None:
        """Send a command line to the worker."""
        assert self._commands is not None
        self._commands.send(command)

    def result(self, timeout: float) -> Any:
        """Wait for the worker's return value (re-raising its failure)."""
        try:
            if not self._results.poll(timeout):
                raise TimeoutError(f"{self.module} gave no result within {timeout:.0f} s")
            status, value = self._results.recv()
        except EOFError:
            status, value = "error", f"{self.module} died (exit code {self.process.exitcode})"
        finally:
            self.process.join(timeout=30)
            if self.process.is_alive():
                self.process.kill()
                self.process.join(timeout=10)
        if status != "ok":
            raise RuntimeError(f"{self.module} failed:\n{value}")
        return value


def start_workers() -> float:
    """Start the zygote (it imports :data:`PRELOAD`) and return how long that took, in seconds."""
    started = time.perf_counter()
    run_worker("ping", {}, timeout=300)
    return time.perf_counter() - started


def run_worker(
    module: str, spec: dict[str, Any], *, timeout: float, env: dict[str, str] | None = None
) -> Any:
    """Run a worker to completion and return what its ``run(spec)`` returned."""
    with Worker(module, spec, env=env) as worker:
        return worker.result(timeout)
