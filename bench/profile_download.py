"""
Where a download's time goes: ``requests`` + SHA-256, the hook and the mirror on one file, profiled.

``python bench/profile_download.py [--size MIB] [--bandwidth MIB_S] [--reps N]`` serves one file
from the emulator (in its own process; ``--bandwidth`` limits it like a link), prints each client's
best throughput, the mirror's time outside its download (listing, manifest, checkpoint), and a
pyinstrument profile of one hook download. Needs the ``bench`` extra (pyinstrument).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench._common import MIB, EmulatorProcess  # noqa: E402 - after the path is set


class _TaskInstance:
    def xcom_push(self, key: str, value: Any) -> None:
        del key, value


def _clients(emulator: EmulatorProcess, workdir: Path, inner: list[float]) -> dict[str, Any]:
    import requests

    from airflow_provider_zoho_attach.hooks.zoho_crm import ZohoCRMHook
    from airflow_provider_zoho_attach.operators.mirror import ZohoCRMMirrorAttachmentsOperator

    record_id, attachment_id = emulator.info["records"]["r"], emulator.info["files"]["big"]
    hook = ZohoCRMHook()
    session = requests.Session()
    session.headers["Authorization"] = f"Zoho-oauthtoken {hook.get_access_token()}"
    url = f"{emulator.url}/crm/v8/Deals/{record_id}/Attachments/{attachment_id}"
    download = ZohoCRMHook.download_attachment

    def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return download(self, *args, **kwargs)
        finally:
            if threading.current_thread() is not threading.main_thread():
                inner.append(time.perf_counter() - started)

    ZohoCRMHook.download_attachment = timed  # type: ignore[method-assign]

    def requests_sha256() -> None:
        digest = hashlib.sha256()
        with session.get(url, stream=True, timeout=60) as response, open(workdir / "r.bin", "wb") as out:
            for chunk in response.iter_content(MIB):
                out.write(chunk)
                digest.update(chunk)
        os.unlink(workdir / "r.bin")

    def hook_download() -> None:
        os.unlink(hook.download_attachment("Deals", record_id, attachment_id, f"{workdir}/")["path"])

    def mirror() -> None:
        target = Path(tempfile.mkdtemp(dir=workdir))
        ZohoCRMMirrorAttachmentsOperator(
            task_id="mirror", module="Deals", records=[record_id], destination=str(target)
        ).execute({"ti": _TaskInstance()})  # type: ignore[arg-type]
        shutil.rmtree(target)

    return {"requests + SHA-256": requests_sha256, "hook": hook_download, "mirror": mirror}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=128, help="MiB (default 128)")
    parser.add_argument("--bandwidth", type=float, default=None, help="the emulator's limit, MiB/s")
    parser.add_argument("--reps", type=int, default=4)
    args = parser.parse_args()
    from pyinstrument import Profiler

    workdir = Path(
        tempfile.mkdtemp(prefix="zoho-profile-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None)
    )
    source = workdir / "source.bin"
    block = os.urandom(MIB)
    with open(source, "wb") as handle:
        for _ in range(args.size):
            handle.write(block)
    spec = {
        "storage_dir": str(workdir),
        "config": {"token_creation_limit": 1000, "bandwidth": args.bandwidth and args.bandwidth * MIB},
        "files": [{"key": "big", "record": "r", "file_name": "big.bin", "path": str(source)}],
    }
    try:
        with EmulatorProcess(spec) as emulator:
            source.unlink()
            os.environ.update(emulator.env)
            inner: list[float] = []
            clients = _clients(emulator, workdir, inner)
            for client in clients.values():
                client()  # warm
            best = dict.fromkeys(clients, float("inf"))
            for _ in range(args.reps):
                for name, client in clients.items():
                    started = time.perf_counter()
                    client()
                    best[name] = min(best[name], time.perf_counter() - started)
            for name, seconds in best.items():
                print(f"{name:20} {args.size / seconds:7.0f} MiB/s  ({seconds * 1000:.0f} ms)")
            print(f"the mirror's time outside its download: {(best['mirror'] - min(inner)) * 1000:.0f} ms")
            profiler = Profiler(interval=0.0005)
            profiler.start()
            clients["hook"]()
            profiler.stop()
            print(profiler.output_text(unicode=False, color=False))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
