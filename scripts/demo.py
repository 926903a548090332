"""``make demo``: run three example DAGs end to end against the bundled Zoho CRM emulator.

It starts the emulator with its demo data, points ``zoho_crm_default`` at it, runs
``example_zoho_document_sync`` and ``example_zoho_wait_for_contract`` with ``airflow dags test`` in a
throwaway Airflow home under ``.build/demo/``, attaches a "signed contract" while the deferred sensor
waits, and prints what was listed, downloaded, uploaded and detected.

Then the event-driven path of ``example_zoho_attachment_events``: the DAG's watcher
(``ZohoCRMAttachmentEventTrigger``) runs in this process, as a triggerer would run it; an invoice is
attached, the watcher fires, and a run of the consumer DAG is given the event (as conf, since
``airflow dags test`` has no scheduler to turn it into an asset event) and downloads the file.
Nothing outside ``.build/`` is touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / ".build" / "demo"
HOME = BUILD / "airflow-home"
STORAGE = BUILD / "storage"
LOGS = BUILD / "logs"
VENV_BIN = Path(sys.executable).parent

SYNC_DAG = "example_zoho_document_sync"
SENSOR_DAG = "example_zoho_wait_for_contract"
EVENTS_DAG = "example_zoho_attachment_events"


def _airflow_env() -> dict[str, str]:
    return {
        "AIRFLOW_HOME": str(HOME),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{HOME}/airflow.db",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        # The per-user token file goes here too: the demo leaves the user's ~/.cache alone.
        "XDG_CACHE_HOME": str(BUILD / "cache"),
    }


# Airflow reads its configuration when first imported: set the throwaway home before that happens.
os.environ.update(_airflow_env())


def _rel(path: str | Path) -> str:
    text = str(path).removeprefix("file://")
    try:
        return str(Path(text).resolve().relative_to(ROOT))
    except ValueError:
        return text


def _size(count: int) -> str:
    return f"{count:,} B" if count < 10_000 else f"{count / 1024:,.1f} KiB"


def _run(args: list[str], env: dict[str, str], log_name: str) -> tuple[int, float, Path]:
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"{log_name}.log"
    started = time.monotonic()
    with open(log, "w") as handle:
        code = subprocess.call(args, env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT)
    return code, time.monotonic() - started, log


def _fail(step: str, log: Path) -> None:
    print(f"\n{step} failed; the last lines of {_rel(log)}:", file=sys.stderr)
    lines = log.read_text(errors="replace").splitlines()
    print("\n".join(lines[-40:]), file=sys.stderr)
    sys.exit(1)


def _xcoms(dag_id: str) -> dict[tuple[str, int], Any]:
    """The return values of the latest run of ``dag_id``, by (task id, map index)."""
    from airflow.models.dagrun import DagRun
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.query(DagRun).filter(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).first()
        if run is None:
            return {}
        rows = (
            session.query(XComModel)
            .filter(
                XComModel.dag_id == dag_id, XComModel.run_id == run.run_id, XComModel.key == "return_value"
            )
            .all()
        )
        return {(row.task_id, row.map_index): XComModel.deserialize_value(row) for row in rows}


def _by_task(values: dict[tuple[str, int], Any], task_id: str) -> list[Any]:
    return [value for (task, _), value in sorted(values.items(), key=lambda kv: kv[0][1]) if task == task_id]


def _attach_contract_when_waiting(emulator: Any, module: str, record_id: str, seen: dict[str, Any]) -> None:
    """Attach a signed contract once the sensor has looked twice and found nothing (as a person would)."""
    deadline = time.monotonic() + 120
    path = f"/{module}/{record_id}/Attachments"
    # The sync DAG listed this record too: count only the sensor's own looks.
    looks = emulator.count(path_contains=path) + 2
    while emulator.count(path_contains=path) < looks and time.monotonic() < deadline:
        time.sleep(0.05)
    seen["at"] = time.monotonic()
    seen["id"] = emulator.add_attachment(
        module, record_id, "signed-contract.pdf", b"%PDF-1.4\n% signed by both parties\n%%EOF\n"
    )


def _watch_once(emulator: Any, module: str, record_ids: list[str]) -> tuple[dict[str, Any], float, float]:
    """
    Run the watcher until it fires once, attaching an invoice after its first round of listings.

    Returns the event's payload, and the seconds from the start to the attachment and to the event.
    """
    import asyncio

    from airflow_provider_zoho_attach.triggers.attachments import ZohoCRMAttachmentEventTrigger

    # Short polls: the demo should not wait the example's 30 s between rounds.
    trigger = ZohoCRMAttachmentEventTrigger(module=module, record_ids=record_ids, poll_interval=0.5)
    started = time.monotonic()
    attached: dict[str, float] = {}

    async def first_event() -> dict[str, Any]:
        generator = trigger.run()
        step = asyncio.ensure_future(generator.__anext__())
        try:
            # The first round of listings is the baseline: what is there already never fires.
            looks = emulator.count(path_contains="/Attachments") + len(record_ids)
            while emulator.count(path_contains="/Attachments") < looks and not step.done():
                await asyncio.sleep(0.05)
            emulator.add_attachment(
                module, record_ids[0], "invoice-2024-117.pdf", b"%PDF-1.4\n% invoice\n%%EOF\n"
            )
            attached["at"] = time.monotonic() - started
            event = await asyncio.wait_for(step, 60)
            return dict(event.payload)
        finally:
            step.cancel()
            await asyncio.gather(step, return_exceptions=True)
            await generator.aclose()

    LOGS.mkdir(parents=True, exist_ok=True)
    # The trigger logs as in a triggerer; its lines go to a log file, like the DAG runs' output.
    with (
        open(LOGS / "watcher.log", "w") as log,
        contextlib.redirect_stdout(log),
        contextlib.redirect_stderr(log),
    ):
        payload = asyncio.run(first_event())
    return payload, attached["at"], time.monotonic() - started


def main() -> int:
    from airflow_provider_zoho_attach.testing import ZohoCRMEmulator
    from airflow_provider_zoho_attach.testing._emulator_seed import DEMO_RECORDS
    from airflow_provider_zoho_attach.testing.emulator import cli_connection_env

    shutil.rmtree(BUILD, ignore_errors=True)
    HOME.mkdir(parents=True)
    started = time.monotonic()
    airflow = str(VENV_BIN / "airflow")
    with ZohoCRMEmulator(seed="demo") as emulator:
        env = {**os.environ, **_airflow_env(), **cli_connection_env(emulator)}
        env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
        print(f"Zoho CRM emulator on {emulator.url} with demo data:")
        for record in emulator.records():
            print(f"  {record['module']:<9} {record['record_id']}  {record.get('name', '')}")
        print(f"Airflow home: {_rel(HOME)} (logs in {_rel(LOGS)})\n")

        code, _, log = _run([airflow, "db", "migrate"], env, "db-migrate")
        if code:
            _fail("airflow db migrate", log)

        # (a) The document sync, looking a week back so the demo data counts as new.
        since = (datetime.now(UTC) - timedelta(days=7)).replace(microsecond=0).isoformat()
        conf = {"destination": STORAGE.as_uri() + "/", "since": since}
        code, seconds, log = _run(
            [airflow, "dags", "test", SYNC_DAG, "--conf", json.dumps(conf)], env, SYNC_DAG
        )
        if code:
            _fail(SYNC_DAG, log)
        values = _xcoms(SYNC_DAG)
        print(f"{SYNC_DAG}: success in {seconds:.1f} s")
        for records in _by_task(values, "list_new_attachments"):
            if records:
                parent = records[0].get("Parent_Id", {}).get("id", "?")
                names = ", ".join(r["File_Name"] for r in records)
                print(f"  listed      Deals/{parent}: {len(records)} new since {since[:10]}: {names}")
        for results in _by_task(values, "download_new_attachments"):
            for result in results:
                print(
                    f"  downloaded  {_rel(result['path'])}  ({_size(result['size'])}, "
                    f"sha256 {result['sha256'][:12]}…)"
                )
        for results in _by_task(values, "attach_summary"):
            for result in results:
                print(
                    f"  uploaded    {result['file_name']} -> {result['module']}/{result['record_id']} "
                    f"as attachment {result['attachment_id']}"
                )

        # (c) A deferrable sensor waits for a contract that arrives while it waits.
        record_id = DEMO_RECORDS["globex_deal"]
        seen: dict[str, Any] = {}
        helper = threading.Thread(
            target=_attach_contract_when_waiting, args=(emulator, "Deals", record_id, seen), daemon=True
        )
        helper.start()
        sensor_started = time.monotonic()
        conf = {
            "record_id": record_id,
            "destination": (STORAGE / "contracts").as_uri() + "/",
            "poll_interval": 2,
        }
        code, seconds, log = _run(
            [airflow, "dags", "test", SENSOR_DAG, "--conf", json.dumps(conf)], env, SENSOR_DAG
        )
        helper.join(5)
        if code:
            _fail(SENSOR_DAG, log)
        values = _xcoms(SENSOR_DAG)
        deferred = "running trigger in line" in log.read_text(errors="replace")
        print(f"\n{SENSOR_DAG}: success in {seconds:.1f} s")
        if seen:
            print(
                f"  attached    signed-contract.pdf to Deals/{record_id} "
                f"{seen['at'] - sensor_started:.1f} s after the run started"
            )
        for attachments in _by_task(values, "wait_for_contract"):
            for attachment in attachments:
                how = "by the deferred trigger" if deferred else "by the sensor"
                print(f"  detected    {attachment['File_Name']} (attachment {attachment['id']}) {how}")
        for results in _by_task(values, "download_contract"):
            for result in results:
                print(f"  downloaded  {_rel(result['path'])}  ({_size(result['size'])})")

        # (d) Event-driven: the AssetWatcher's trigger fires on a new attachment, a run downloads it.
        watched = [DEMO_RECORDS["acme_deal"], DEMO_RECORDS["globex_deal"]]
        os.environ.update(env)  # the watcher runs here, and reads the connection as the DAGs do
        try:
            payload, attached_at, fired_at = _watch_once(emulator, "Deals", watched)
        except Exception as error:
            with open(LOGS / "watcher.log", "a") as handle:
                handle.write(f"{type(error).__name__}: {error}\n")
            _fail("The attachment watcher", LOGS / "watcher.log")
        watch = {"module": "Deals", "record_ids": watched, "destination": (STORAGE / "events").as_uri() + "/"}
        events_env = {**env, "AIRFLOW_VAR_ZOHO_WATCH_RECORDS": json.dumps(watch)}
        code, seconds, log = _run(
            [airflow, "dags", "test", EVENTS_DAG, "--conf", json.dumps({"events": [payload]})],
            events_env,
            EVENTS_DAG,
        )
        if code:
            _fail(EVENTS_DAG, log)
        values = _xcoms(EVENTS_DAG)
        print(f"\n{EVENTS_DAG}: success in {seconds:.1f} s")
        print(
            f"  watching    Deals/{', '.join(watched)} with ZohoCRMAttachmentEventTrigger (the AssetWatcher)"
        )
        print(f"  attached    {payload['attachment']['File_Name']} to Deals/{payload['record_id']}")
        print(
            f"  fired       event for attachment {payload['attachment_id']} "
            f"{fired_at - attached_at:.1f} s after it was attached"
        )
        for results in _by_task(values, "download_announced_attachments"):
            for result in results:
                print(f"  downloaded  {_rel(result['path'])}  ({_size(result['size'])})")

        print(
            f"\nZoho API calls: {emulator.api_calls()}, access tokens created: {emulator.token_calls} "
            f"(shared by every task through an Airflow Variable, and by this script's watcher "
            f"through the per-user token file)."
        )
    print(f"Demo finished in {time.monotonic() - started:.0f} s.")
    print(
        "Use a real org: airflow connections add zoho_crm_default "
        "--conn-uri 'zoho-crm://CLIENT_ID:CLIENT_SECRET@/?refresh_token=REFRESH_TOKEN&data_center=eu'"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
