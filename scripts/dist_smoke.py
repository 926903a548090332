"""``make dist``'s checks: what the sdist and wheel in ``dist/`` hold, then the wheel in a clean venv.

Run by ``make dist`` after ``uv build`` and ``twine check``, with any Python 3.11+ (standard library
only); never by ``make test``. It

1. checks the wheel: ``py.typed``, the ``apache_airflow_provider`` and ``pytest11`` entry points, the
   metadata (name, version, Python floor, README as Markdown, the ``s3``/``gcs``/``azure``/``dev``
   extras), and that no tests, example DAGs, docs or build junk (``__pycache__``, ``*.pyc``) are in it;
   and that the sdist has the sources, ``pyproject.toml`` and no junk;
2. installs the wheel (not editable, no extras) into a new venv ``.build/dist-smoke/venv`` with uv,
   and checks that the package is imported from there, not from the checkout;
3. in that venv: ``airflow providers list`` must list the provider; the bundled emulator is started
   with ``python -m airflow_provider_zoho_attach.testing.emulator`` and ``airflow dags test`` runs the
   example document-sync DAG against it in a throwaway ``AIRFLOW_HOME``; the run must succeed and
   the files must have been downloaded.

Every process runs in its own session and is ended (its whole group) before the script returns,
also on failure or Ctrl-C; the script then checks that none of them is left.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.parser import Parser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "airflow_provider_zoho_attach"
DIST_NAME = "airflow-provider-zoho-attach"
SYNC_DAG = "example_zoho_document_sync"
JUNK = ("__pycache__/", ".pyc", ".pyo", ".DS_Store", ".orig", ".rej", "~")

_groups: list[int] = []  # process groups started here: all ended before exit


class SmokeError(Exception):
    """A check failed; the message says which."""


def step(text: str) -> None:
    print(f"dist: {text}", flush=True)


def check(condition: object, message: str) -> None:
    if not condition:
        raise SmokeError(message)


# ----------------------------------------------------------------------------------- the artefacts


def check_wheel(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        dist_info = next((n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA")), None)
        check(dist_info, f"{wheel.name}: no .dist-info/METADATA")
        metadata = Parser().parsestr(archive.read(f"{dist_info}/METADATA").decode())
        entry_points = archive.read(f"{dist_info}/entry_points.txt").decode()
    check(f"{PACKAGE}/py.typed" in names, f"{wheel.name}: no {PACKAGE}/py.typed")
    check(f"{PACKAGE}/testing/emulator.py" in names, f"{wheel.name}: the emulator is missing")
    outside = {n.split("/")[0] for n in names} - {PACKAGE, dist_info}
    check(not outside, f"{wheel.name}: unexpected top-level entries {sorted(outside)}")
    junk = [n for n in names if n.endswith(JUNK) or "/__pycache__/" in n or n.startswith(("tests/", "docs/"))]
    check(not junk, f"{wheel.name}: build junk or tests in the wheel: {junk[:5]}")
    for group, line in (
        ("apache_airflow_provider", f"provider_info = {PACKAGE}.get_provider_info:get_provider_info"),
        ("pytest11", f"zoho_emulator = {PACKAGE}.testing.pytest_plugin"),
    ):
        section = entry_points.partition(f"[{group}]")[2].partition("\n[")[0]
        check(line in section, f"{wheel.name}: entry point [{group}] {line!r} is missing")
    check(metadata["Name"] == DIST_NAME, f"METADATA: Name is {metadata['Name']!r}")
    python_floor = metadata["Requires-Python"]
    check(python_floor == ">=3.11", f"METADATA: Requires-Python {python_floor!r}")
    check(metadata["Description-Content-Type"] == "text/markdown", "METADATA: README is not Markdown")
    description = metadata.get_payload() or ""
    check("## The two commands" in description, "METADATA: the README is not the description")
    extras = set(metadata.get_all("Provides-Extra") or [])
    development = ("test", "docs", "bench", "e2e", "dev")
    check({"s3", "gcs", "azure", *development} <= extras, f"METADATA: extras are {sorted(extras)}")
    requires = metadata.get_all("Requires-Dist") or []
    check(any(r.startswith("apache-airflow>=") for r in requires), "METADATA: no apache-airflow requirement")
    for extra, library in (("s3", "s3fs"), ("gcs", "gcsfs"), ("azure", "adlfs")):
        check(
            any(r.startswith(library) and f"extra == '{extra}'" in r for r in requires),
            f"METADATA: extra {extra} does not bring {library}",
        )
    for extra in development:
        marker = f"extra == '{extra}'"
        check(
            not any(r.startswith(("s3fs", "gcsfs", "adlfs")) and marker in r for r in requires),
            f"METADATA: the {extra} extra pulls in an object-storage filesystem",
        )
    step(
        f"wheel ok: {wheel.name}, {len(names)} files, {wheel.stat().st_size / 1024:.0f} KiB; py.typed, "
        f"entry points apache_airflow_provider and pytest11, extras {', '.join(sorted(extras))}; "
        "no tests, docs or junk"
    )


def check_sdist(sdist: Path, version: str) -> None:
    with tarfile.open(sdist) as archive:
        names = [n.partition("/")[2] for n in archive.getnames()]
    needed_files = (
        "pyproject.toml",
        "README.md",
        "PKG-INFO",
        f"{PACKAGE}/__init__.py",
        f"{PACKAGE}/py.typed",
    )
    for needed in needed_files:
        check(needed in names, f"{sdist.name}: {needed} is missing")
    junk = [
        n
        for n in names
        if n.endswith(JUNK)
        or "__pycache__" in n
        or n.startswith((".venv", ".build", ".tools", "dist/", "docs/_build", ".git/", ".mypy_cache"))
    ]
    check(not junk, f"{sdist.name}: build junk in the sdist: {junk[:5]}")
    check(sdist.name == f"{PACKAGE}-{version}.tar.gz", f"{sdist.name}: does not match the wheel's {version}")
    step(f"sdist ok: {sdist.name}, {len(names)} entries, no junk")


# ----------------------------------------------------------------------------------- processes


def _popen(args: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(args, start_new_session=True, **kwargs)  # type: ignore[call-overload]
    _groups.append(process.pid)
    return process


def _end_group(pgid: int, timeout: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL what is left after ``timeout`` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(-pgid, os.WNOHANG)
        if not _group_alive(pgid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - a group of another user cannot be ours
        return False
    # Zombies of ours count as gone once reaped.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(-pgid, os.WNOHANG)
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def run(args: list[str], *, env: dict[str, str], cwd: Path, log: Path, timeout: float) -> str:
    """Run to completion (in its own process group, ended afterwards); return its output."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as handle:
        process = _popen(args, env=env, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT)
        try:
            code = process.wait(timeout)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            _end_group(process.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)
    output = log.read_text(errors="replace")
    if code != 0:
        tail = "\n".join(output.splitlines()[-40:])
        what = "timed out" if code is None else f"exited {code}"
        raise SmokeError(f"{' '.join(args[:4])} {what} (log: {log.relative_to(ROOT)}):\n{tail}")
    return output


@contextlib.contextmanager
def emulator(python: Path, *, env: dict[str, str], cwd: Path, build: Path) -> Iterator[dict[str, str]]:
    """Start the emulator of the installed package; yield the variables of its ``--env-file``."""
    env_file = build / "emulator.env"
    env_file.unlink(missing_ok=True)
    log = build / "logs" / "emulator.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as handle:
        command = [str(python), "-m", f"{PACKAGE}.testing.emulator", "--port", "0", "--seed", "demo"]
        command += ["--env-file", str(env_file)]
        process = _popen(
            command,
            env=env,
            cwd=cwd,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        values: dict[str, str] = {}
        while "AIRFLOW_CONN_ZOHO_CRM_DEFAULT" not in values:
            if process.poll() is not None:
                raise SmokeError(f"the emulator exited {process.returncode}: {log.read_text()[-2000:]}")
            check(time.monotonic() < deadline, "the emulator did not start within 60 s")
            time.sleep(0.2)
            if env_file.exists():
                lines = env_file.read_text().splitlines()
                values = dict(line.split("=", 1) for line in lines if "=" in line)
        step(f"emulator of the installed package on {values.get('ZOHO_EMULATOR_URL')}")
        yield values
    finally:
        _end_group(process.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)


# ----------------------------------------------------------------------------------- the clean venv


def make_venv(uv: str, build: Path, wheel: Path, python: str) -> Path:
    venv = build / "venv"
    shutil.rmtree(venv, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH", "UV_"))}
    started = time.monotonic()
    subprocess.run([uv, "venv", "--quiet", "--python", python, str(venv)], check=True, env=env)
    # No --editable, no extras, nothing from the checkout: what `pip install <wheel>` gives a user.
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), str(wheel)],
        check=True,
        env=env,
    )
    step(f"installed {wheel.name} into {venv.relative_to(ROOT)} in {time.monotonic() - started:.1f} s")
    return venv


def smoke(venv: Path, build: Path) -> None:
    python = venv / "bin" / "python"
    airflow = venv / "bin" / "airflow"
    home = build / "airflow-home"
    storage = build / "storage"
    dags = build / "dags"
    work = build / "cwd"  # not the checkout: `python -m` must not find the package's sources in cwd
    for directory in (home, storage, dags, work):
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
    # The example DAGs are not in the wheel (they are in the sdist): a user copies them from a checkout.
    shutil.copy2(ROOT / "example_dags" / f"{SYNC_DAG}.py", dags)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "PYTHON", "VIRTUAL_ENV", "ZOHO_", "UV_"))
    }
    env.update(
        {
            "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
            "VIRTUAL_ENV": str(venv),
            "PYTHONDONTWRITEBYTECODE": "1",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            # Tokens through an Airflow Variable: `dags test` runs each task in a process of its own.
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        }
    )
    logs = build / "logs"

    where = run(
        [str(python), "-c", f"import {PACKAGE}; print({PACKAGE}.__file__, {PACKAGE}.__version__)"],
        env=env,
        cwd=work,
        log=logs / "import.log",
        timeout=120,
    ).split()
    check(
        Path(where[0]).is_relative_to(venv.resolve()) or Path(where[0]).is_relative_to(venv),
        f"{PACKAGE} was imported from {where[0]}, not from the clean venv",
    )
    step(f"{PACKAGE} {where[1]} is imported from the clean venv's site-packages")

    started = time.monotonic()
    output = run(
        [str(airflow), "providers", "list", "--output", "json"],
        env=env,
        cwd=work,
        log=logs / "providers-list.log",
        timeout=300,
    )
    listed = json.loads(output[output.index("[") :])
    ours = [p for p in listed if p.get("package_name") == DIST_NAME]
    check(
        ours, f"airflow providers list does not list {DIST_NAME}: {[p.get('package_name') for p in listed]!r}"
    )
    step(f"airflow providers list: {DIST_NAME} {ours[0].get('version')} ({time.monotonic() - started:.1f} s)")

    run([str(airflow), "db", "migrate"], env=env, cwd=work, log=logs / "db-migrate.log", timeout=600)
    with emulator(python, env=env, cwd=work, build=build) as emulator_env:
        conn = json.loads(emulator_env["AIRFLOW_CONN_ZOHO_CRM_DEFAULT"])
        conn["extra"]["oauth_cache"] = "variable"
        dag_env = {**env, "AIRFLOW_CONN_ZOHO_CRM_DEFAULT": json.dumps(conn)}
        since = (datetime.now(UTC) - timedelta(days=7)).replace(microsecond=0).isoformat()
        conf = {"destination": storage.as_uri() + "/", "since": since}
        started = time.monotonic()
        output = run(
            [str(airflow), "dags", "test", SYNC_DAG, "--conf", json.dumps(conf)],
            env=dag_env,
            cwd=work,
            log=logs / f"{SYNC_DAG}.log",
            timeout=600,
        )
        seconds = time.monotonic() - started
    finished = re.search(rf"DagRun Finished: dag_id={SYNC_DAG},.*? state=(\w+)", output)
    check(finished, f"{SYNC_DAG}: the run did not finish")
    check(finished and finished[1] == "success", f"{SYNC_DAG}: the run ended {finished and finished[1]}")
    check("new_state=failed" not in output, f"{SYNC_DAG}: a task failed")
    files = sorted(p for p in storage.rglob("*") if p.is_file())
    downloaded = [p for p in files if not p.name.startswith("sync-summary-")]
    check(len(downloaded) >= 3, f"{SYNC_DAG}: expected the 3 demo files, found {[str(p) for p in files]}")
    check(any(p.name.startswith("sync-summary-") for p in files), f"{SYNC_DAG}: no summary was written")
    step(
        f"airflow dags test {SYNC_DAG}: success in {seconds:.1f} s; "
        f"{len(downloaded)} files downloaded from the emulator, summary written and attached"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", default="dist", help="where uv build wrote the sdist and wheel")
    parser.add_argument("--build", default=".build/dist-smoke", help="the clean venv and Airflow home")
    parser.add_argument("--uv", default="uv", help="the uv executable")
    parser.add_argument("--python", default=sys.executable, help="the interpreter of the clean venv")
    args = parser.parse_args()

    started = time.monotonic()
    dist = (ROOT / args.dist).resolve()
    build = (ROOT / args.build).resolve()
    wheels = sorted(dist.glob("*.whl"))
    sdists = sorted(dist.glob("*.tar.gz"))
    failure = None
    try:
        check(len(wheels) == 1 and len(sdists) == 1, f"expected one wheel and one sdist in {dist}")
        check_wheel(wheels[0])
        version = wheels[0].name.split("-")[1]
        check_sdist(sdists[0], version)
        venv = make_venv(args.uv, build, wheels[0], args.python)
        smoke(venv, build)
    except SmokeError as error:
        failure = str(error)
    finally:
        for pgid in _groups:
            _end_group(pgid)
    left = [pgid for pgid in _groups if _group_alive(pgid)]
    if left and failure is None:
        failure = f"processes left in groups {left}"
    if failure is not None:
        print(f"dist: FAILED: {failure}", file=sys.stderr)
        return 1
    step(f"all checks passed in {time.monotonic() - started:.0f} s; no process left ({len(_groups)} started)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
