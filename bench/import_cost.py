"""5. Import cost: what importing the provider's DAG-facing modules adds to a DAG file's parse."""

from __future__ import annotations

import statistics
from typing import Any

from bench._common import Context, Section, Table, Target, run_json, seconds

TITLE = "Import cost"
TARGET_SECONDS = 0.050
MODULES = (
    "airflow_provider_zoho_attach.operators.attachments",
    "airflow_provider_zoho_attach.operators.photos",
    "airflow_provider_zoho_attach.sensors.attachments",
    "airflow_provider_zoho_attach.triggers.attachments",
)
BASELINES = {
    "sdk": ("import airflow.sdk", "import airflow.sdk"),
    "dag": (
        "import airflow.sdk; from airflow.sdk import DAG, BaseOperator, BaseSensorOperator",
        "a DAG file's own imports (DAG, BaseOperator, BaseSensorOperator)",
    ),
}


def run(ctx: Context) -> Section:
    reps = {"sdk": 1, "dag": 1} if ctx.quick else {"sdk": 7, "dag": 5}
    samples: dict[str, list[dict[str, Any]]] = {}
    for key, count in reps.items():
        samples[key] = [
            run_json(["bench._import_probe", BASELINES[key][0], *MODULES], timeout=300) for _ in range(count)
        ]
    rows, data = [], {}
    for key, runs in samples.items():
        base = statistics.median(r["baseline"] for r in runs)
        extra = [r["provider"] for r in runs]
        data[key] = {"baseline": base, "provider_median": statistics.median(extra), "provider": extra}
        rows.append(
            [
                f"``{BASELINES[key][0]}``",
                seconds(base),
                seconds(statistics.median(extra)),
                f"{seconds(min(extra))} to {seconds(max(extra))}",
                str(len(runs)),
            ]
        )
    probe = samples["sdk"][0]
    pulled = probe["new_packages"]
    heavy = [p for p in pulled if p in ("requests", "httpx", "tenacity", "urllib3", "fsspec", "zohocrmsdk")]
    table = Table(
        "Importing every operator, sensor and trigger module of the provider, in a fresh interpreter, "
        "after a baseline (medians)",
        ["baseline", "baseline time", "provider on top", "range", "runs"],
        rows,
        note=(
            f"The provider's modules add {probe['new_modules']} modules to ``sys.modules`` (its own "
            f"included), {len(probe['new_airflow_modules'])} of them Airflow's; new top-level packages: "
            + (", ".join(f"``{p}``" for p in pulled) if pulled else "none")
            + ". "
            + (
                f"HTTP and retry libraries imported at parse time: {', '.join(heavy)}."
                if heavy
                else "No HTTP or retry library is imported at parse time."
            )
        ),
    )
    cost = data["sdk"]["provider_median"]
    target = Target(
        "import of operators, sensor and triggers over airflow.sdk",
        f"< {seconds(TARGET_SECONDS)}",
        f"{seconds(cost)} (median of {len(samples['sdk'])})",
        cost < TARGET_SECONDS,
        cost,
    )
    section = Section(
        key="import_cost",
        title=TITLE,
        intro=(
            "DAG files are parsed again and again, so what the provider's modules cost at import "
            "matters more than what they cost when a task runs. Each run is a fresh interpreter (with "
            "warm bytecode caches, as a DAG processor has) that times its baseline imports, then the "
            "import of "
            + ", ".join(f"``{m}``" for m in MODULES)
            + ". The hook, ``requests``, ``httpx`` and ``tenacity`` are imported only when a task runs."
        ),
        tables=[table],
        targets=[target],
        data={**data, "probe": probe},
    )
    dag = data["dag"]["provider_median"]
    section.analysis = (
        f"Over ``import airflow.sdk`` alone the provider costs {seconds(cost)}; part of it is Airflow "
        "loading ``BaseOperator`` and ``BaseSensorOperator``, which ``airflow.sdk`` imports lazily and "
        f"which any DAG with a task loads anyway: over a DAG file's own imports the provider costs "
        f"{seconds(dag)}."
    )
    if cost >= TARGET_SECONDS:
        section.analysis += f"\n\nMissed: {target.name} ({target.measured})."
    return section
