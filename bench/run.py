"""
Run the provider's benchmarks against the Zoho CRM emulator and report them side by side.

``make bench`` (``python bench/run.py``) runs all of them and regenerates ``docs/benchmarks.rst``
(and ``docs/benchmarks.md``) with the plots in ``docs/_static/``. ``--quick`` runs smaller versions
in well under a minute and writes into a temporary directory (or ``--out``), never into ``docs/``;
so does ``--only``. The exit status is 0
when every benchmark ran, whatever its targets; 1 if one crashed. The raw numbers go to
``results.json`` beside the page (``.build/bench/results.json`` for the full run).
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = (
    "api_economy",
    "transfer",
    "bulk",
    "triggers",
    "import_cost",
    "cluster",
    "mirror",
    "watching",
)


def _prepare_environment() -> None:
    """A throwaway Airflow home, set before anything imports Airflow (subprocesses inherit it)."""
    home = tempfile.mkdtemp(prefix="zoho-attach-bench-airflow-home-")
    atexit.register(shutil.rmtree, home, True)
    os.environ["AIRFLOW_HOME"] = home
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{home}/airflow.db"
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
    os.environ.pop("AIRFLOW_CONN_ZOHO_CRM_DEFAULT", None)
    # Measure processes as deployments run them: with bytecode caches. If this environment turns
    # them off (PYTHONDONTWRITEBYTECODE), every process would compile Airflow from source (seconds);
    # the caches go to .build/ (git-ignored), never beside the sources.
    cache = REPO / ".build" / "bench" / "pycache"
    os.environ["ZOHO_BENCH_BYTECODE"] = (
        f"cached in {cache.relative_to(REPO)} (this environment set PYTHONDONTWRITEBYTECODE)"
        if os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        else f"cached in {cache.relative_to(REPO)}"
    )
    os.environ["PYTHONPYCACHEPREFIX"] = str(cache)
    sys.dont_write_bytecode = False
    sys.pycache_prefix = str(cache)
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes; under a minute; docs untouched")
    parser.add_argument(
        "--only",
        action="append",
        choices=BENCHMARKS,
        help="run only this benchmark (repeatable); the page then goes to --out or a temp directory",
    )
    parser.add_argument("--out", type=Path, help="where the page, plots and results.json go")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    _prepare_environment()
    from bench import report
    from bench._common import Context, machine, start_workers

    names = [n for n in BENCHMARKS if not args.only or n in args.only]
    full_page = not args.quick and not args.only and args.out is None
    out_dir = (
        REPO / "docs" if full_page else (args.out or Path(tempfile.mkdtemp(prefix="zoho-attach-bench-")))
    )
    out_dir = out_dir.resolve()
    scratch = Path(tempfile.mkdtemp(prefix="zoho-attach-bench-scratch-"))
    shm_root = Path("/dev/shm")
    shm = Path(tempfile.mkdtemp(prefix="zoho-attach-bench-", dir=shm_root)) if shm_root.is_dir() else scratch
    context = Context(
        quick=args.quick, out_dir=out_dir, plot_dir=out_dir / "_static", scratch=scratch, shm=shm
    )
    facts = machine()
    facts["bytecode"] = os.environ["ZOHO_BENCH_BYTECODE"]
    mode = "quick" if args.quick else "full"
    print(f"Benchmarks ({mode}): {', '.join(names)}; load average {facts['load_average']}", flush=True)
    started = time.perf_counter()
    sections = []
    failed = []
    try:
        print(f"Worker processes ready (Airflow imported once) in {start_workers():.1f} s", flush=True)
        for name in names:
            began = time.perf_counter()
            try:
                section = importlib.import_module(f"bench.{name}").run(context)
            except Exception:
                traceback.print_exc()
                failed.append(name)
                print(f"!! benchmark {name} failed after {time.perf_counter() - began:.1f} s", flush=True)
                continue
            section.seconds = time.perf_counter() - began
            sections.append(section)
            print("\n" + report.text_section(section), flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if shm != scratch:
            shutil.rmtree(shm, ignore_errors=True)
    total = time.perf_counter() - started
    facts["load_average_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    page_name = "benchmarks.rst"
    report.write_atomic(
        out_dir / page_name, report.rst_page(sections, facts, total_seconds=total, image_prefix="_static/")
    )
    report.write_atomic(out_dir / "benchmarks.md", report.md_page(sections, facts, total_seconds=total))
    # The full run keeps its raw numbers out of docs/ (in the git-ignored .build/).
    results = (REPO / ".build" / "bench" if full_page else out_dir) / "results.json"
    report.dump_json(results, report.results_json(sections, facts, total_seconds=total))
    missed = [t.name for s in sections for t in s.targets if t.met is False]
    print(f"Done in {total:.1f} s; page {out_dir / page_name}; results {results}")
    print(f"Targets missed: {', '.join(missed) if missed else 'none'}")
    if failed:
        print(f"Benchmarks that crashed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
