"""1. API economy: calls and token calls, counted at the emulator, for the provider and Zoho's SDK."""

from __future__ import annotations

import math
import shutil
from typing import Any

from bench._common import Context, Section, Table, Target, run_worker, seconds, verdict

TITLE = "API economy"
MODULE = "Deals"
#: How long the token endpoint takes to answer in the mapped-tasks DAG (a round trip to Zoho).
TOKEN_LATENCY = 0.2


def _cases(ctx: Context, emulator: Any) -> tuple[list[int], str, list[dict[str, Any]]]:
    sizes = [10, 1000] if ctx.quick else [10, 1000, 5000]
    cases: list[dict[str, Any]] = []
    for n in sizes:
        record_id = emulator.add_record(MODULE)
        emulator.add_attachments_bulk(MODULE, record_id, n, size=64)
        for client in ("provider", "sdk"):
            cases.append(
                {"client": client, "action": "list", "module": MODULE, "record_id": record_id, "n": n}
            )
    poke_record = emulator.add_record(MODULE)
    emulator.add_attachments_bulk(MODULE, poke_record, 20, size=64, created_time="2024-01-01T00:00:00Z")
    since = "2025-01-01T00:00:00+00:00"  # none of the 20 is new: the sensor keeps waiting
    for warm in (False, True):
        cases.append(
            {
                "client": "provider",
                "action": "poke",
                "module": MODULE,
                "record_id": poke_record,
                "since": since,
                "warm": warm,
            }
        )
    for warm in (False, True):
        cases.append(
            {"client": "sdk", "action": "list", "module": MODULE, "record_id": poke_record, "warm": warm}
        )
    return sizes, poke_record, cases


def _listing(sizes: list[int], results: list[dict[str, Any]]) -> tuple[Table, list[Target], dict[str, Any]]:
    rows: list[list[str]] = []
    targets: list[Target] = []
    data: dict[str, Any] = {}
    for index, n in enumerate(sizes):
        ours, theirs = results[2 * index], results[2 * index + 1]
        if ours["value"] != n or theirs["value"] != n:
            raise RuntimeError(f"listing {n} attachments returned {ours['value']} and {theirs['value']}")
        ideal = math.ceil(n / 200)
        data[str(n)] = {"provider": ours, "sdk": theirs, "ideal_list_calls": ideal}
        rows.append(
            [
                f"{n:,}",
                str(ideal),
                f"{ours['api']} + {ours['token']}",
                f"{theirs['api']} + {theirs['token']}",
                seconds(ours["seconds"]),
                seconds(theirs["seconds"]),
            ]
        )
        targets.append(
            Target(
                f"list {n:,} attachments: API calls",
                f"ceil(N/200) = {ideal}",
                f"{ours['api']} (+ {ours['token']} token call)",
                ours["api"] == ideal and ours["token"] <= 1,
                float(ours["api"]),
            )
        )
    extra = sorted({p for d in data.values() for p in d["sdk"]["paths"]} - {"Attachments"})
    table = Table(
        "Listing N attachments of one record from a fresh process (API calls + token calls)",
        ["N", "ceil(N/200)", "provider", "official SDK", "provider time", "SDK time"],
        rows,
        note=(
            "The SDK also calls "
            + ", ".join(f"``GET /crm/v8/{p}``" for p in extra)
            + " once per process, right after its first token (it learns who the user and org are). "
            "Times include the SDK's initialisation."
            if extra
            else ""
        ),
    )
    return table, targets, data


def _sensor(results: list[dict[str, Any]]) -> tuple[Table, list[Target], dict[str, Any]]:
    first, later, sdk_first, sdk_later = results
    rows = [
        [
            "first poke (new process)",
            f"{first['api']} + {first['token']}",
            f"{sdk_first['api']} + {sdk_first['token']}",
        ],
        [
            "each later poke",
            f"{later['api']} + {later['token']}",
            f"{sdk_later['api']} + {sdk_later['token']}",
        ],
    ]
    table = Table(
        "One sensor poke on a record with 20 attachments, none new (API calls + token calls)",
        ["poke", "provider (ZohoCRMNewAttachmentSensor)", "official SDK (one listing)"],
        rows,
    )
    target = Target(
        "sensor poke: calls",
        "1 list call (+1 token call in a new process)",
        f"{first['api']} + {first['token']} token; later pokes {later['api']} + {later['token']}",
        first["api"] == 1 and first["token"] <= 1 and later["api"] == 1 and later["token"] == 0,
        float(first["api"]),
    )
    data = {"provider": {"first": first, "later": later}, "sdk": {"first": sdk_first, "later": sdk_later}}
    return table, [target], data


def _mapped(
    ctx: Context, processes: int, files_per_record: int
) -> tuple[Table, list[Target], dict[str, Any]]:
    from airflow_provider_zoho_attach.testing.emulator import ZohoCRMEmulator

    outcome: dict[str, Any] = {}
    phases = []
    # A fresh emulator (and refresh token) per client: Zoho's limit of 10 token creations per 10
    # minutes applies to each.
    with ZohoCRMEmulator(storage_dir=ctx.shm) as ours, ZohoCRMEmulator(storage_dir=ctx.shm) as theirs:
        emulators = {"provider": ours, "sdk": theirs}
        for kind, emulator in emulators.items():
            # Zoho's accounts server answers over the Internet, not in a millisecond: the token
            # arrives TOKEN_LATENCY after it is issued (headers and half the body first).
            emulator.inject_fault("slow_body", path=r"^/oauth/v2/token$", delay=TOKEN_LATENCY, count=10_000)
            workdir = ctx.scratch / f"mapped-{kind}"
            workdir.mkdir(parents=True, exist_ok=True)
            records = []
            for _ in range(processes):
                record_id = emulator.add_record(MODULE)
                emulator.add_attachments_bulk(MODULE, record_id, files_per_record, size=16 * 1024)
                records.append(record_id)
            phases.append(
                {
                    "kind": kind,
                    "processes": processes,
                    "module": MODULE,
                    "records": records,
                    "workdir": str(workdir),
                    "url": emulator.url,
                    "client_id": emulator.client_id,
                    "client_secret": emulator.client_secret,
                    "refresh_token": emulator.refresh_token,
                    "env": emulator.airflow_env(oauth_cache="variable"),
                }
            )
        report = run_worker("bench._mapped_tasks", {"phases": phases}, timeout=900)
        for kind, emulator in emulators.items():
            result = report[kind]
            throttled = sum(
                1 for r in emulator.requests if r.path == "/oauth/v2/token" and r.code not in (None, "", "OK")
            )
            ok = sum(1 for o in result["outcomes"] if o == files_per_record)
            outcome[kind] = {
                "tasks_ok": ok,
                "tasks_failed": processes - ok,
                "failures": sorted({str(o) for o in result["outcomes"] if o != files_per_record})[:3],
                "token_calls": emulator.token_calls,
                "token_refused": throttled,
                "api_calls": emulator.api_calls(),
                "seconds": result["seconds"],
                "variable_writes": result["variable_writes"],
            }
    for kind in ("provider", "sdk"):
        shutil.rmtree(ctx.scratch / f"mapped-{kind}", ignore_errors=True)
    p, s = outcome["provider"], outcome["sdk"]
    rows = [
        ["tasks that succeeded", f"{p['tasks_ok']} of {processes}", f"{s['tasks_ok']} of {processes}"],
        ["token calls", str(p["token_calls"]), str(s["token_calls"])],
        ["token calls refused (throttled)", str(p["token_refused"]), str(s["token_refused"])],
        ["API calls", str(p["api_calls"]), str(s["api_calls"])],
    ]
    table = Table(
        f"A DAG of {processes} mapped download tasks started at once, one process each "
        f"({files_per_record} files of 16 KiB per record)",
        ["", "provider (ZohoCRMDownloadAttachmentsOperator)", "official SDK"],
        rows,
        note=("SDK failures: " + "; ".join(f"``{f[:120]}``" for f in s["failures"]) if s["failures"] else ""),
    )
    target = Target(
        f"{processes} task processes: token calls",
        "at most 2",
        f"{p['token_calls']} ({p['tasks_ok']} of {processes} tasks succeeded)",
        p["token_calls"] <= 2 and p["tasks_ok"] == processes,
        float(p["token_calls"]),
    )
    return table, [target], outcome


def run(ctx: Context) -> Section:
    from airflow_provider_zoho_attach.testing.emulator import ZohoCRMEmulator

    with ZohoCRMEmulator() as emulator:
        # Counting calls here, not testing Zoho's token throttle: every fresh client makes one.
        emulator.config.token_creation_limit = 10_000
        sizes, _, cases = _cases(ctx, emulator)
        spec = {
            "url": emulator.url,
            "client_id": emulator.client_id,
            "client_secret": emulator.client_secret,
            "refresh_token": emulator.refresh_token,
            "workdir": str(ctx.scratch),
            "cases": cases,
        }
        results = run_worker("bench._economy_worker", spec, timeout=600, env=emulator.airflow_env())[
            "results"
        ]
    listing = _listing(sizes, results[: 2 * len(sizes)])
    sensor = _sensor(results[2 * len(sizes) :])
    processes = 10 if ctx.quick else 50
    mapped = _mapped(ctx, processes, 2)
    section = Section(
        key="api_economy",
        title=TITLE,
        intro=(
            "Every call is counted by the emulator. *Fresh process* means no token in memory: each "
            "Airflow task runs in a new process. The official SDK (``zohocrmsdk8-0``) lists with the "
            "fewest calls the API allows (200 rows a page; page numbers up to row 2,000, then "
            "``page_token``) and keeps its tokens in a ``FileStore``.\n\n"
            f"The mapped DAG is {processes} processes forked at once from an interpreter that imported "
            "the client, each one task instance. Provider tasks run "
            "``ZohoCRMDownloadAttachmentsOperator.execute`` for their record (list, then download each "
            "file) with ``oauth_cache=variable``; the Task SDK's Variable API is replaced by a locked JSON "
            "file shared by the processes (the role of the metadata database behind the API server). SDK "
            "tasks initialise the SDK with one token-store file shared by all of them (the SDK's own way "
            "to keep tokens between processes). The emulator applies Zoho's limit of 10 token creations "
            f"per 10 minutes, and its token endpoint takes {TOKEN_LATENCY * 1000:.0f} ms to answer, as "
            "Zoho's accounts server does over the Internet (answering in a millisecond would hide the "
            "window in which processes race for a token)."
        ),
        tables=[listing[0], sensor[0], mapped[0]],
        targets=[*listing[1], *sensor[1], *mapped[1]],
        data={"listing": listing[2], "sensor": sensor[2], "mapped": mapped[2]},
    )
    section.analysis = _analysis(section)
    return section


def _analysis(section: Section) -> str:
    mapped = section.data["mapped"]
    s = mapped["sdk"]
    parts = [
        "The provider lists with exactly one call per 200 rows and gets one token per process; the "
        "SDK spends the same list calls plus two calls per process on the current user and org, and "
        "each of them costs a credit of Zoho's daily budget."
    ]
    total = s["tasks_ok"] + s["tasks_failed"]
    text = (
        f"The SDK's {total} task processes made {s['token_calls']} token calls "
        f"({s['token_refused']} refused) and {s['tasks_failed']} of them failed. They start together, "
        "none finds a token in the shared store, so each one that looks before another has saved asks "
        "for its own. Zoho refuses token creations beyond 10 in 10 minutes per refresh token (the "
        "task fails with ``Access Denied``), and processes writing the token-store file at the same "
        "time corrupt it for the others (``Given ID is invalid``). How many fail depends on timing and "
        "varies from run to run, from a few to all of them. The provider's tasks queue behind one "
        "refresh (a host file lock) and read the token the first one shared through the Variable: "
        f"{mapped['provider']['token_calls']} token call, whatever the timing."
    )
    parts.append(text)
    missed = [t for t in section.targets if t.met is False]
    if missed:
        parts.append(
            "Missed: " + "; ".join(f"{t.name} ({verdict(t.met)}: {t.measured})" for t in missed) + "."
        )
    return "\n\n".join(parts)
