"""
The emulator in its own process, for benchmarks that measure a client's CPU and memory alone.

``python -m bench._emulator_main SPEC.json`` creates what the spec asks for, starts serving on a free
port of 127.0.0.1, prints one JSON line (URL, credentials, connection variable, the ids it created)
and serves until its stdin closes (or ``max_lifetime`` seconds pass). The spec::

    {"storage_dir": "/dev/shm", "config": {"latency": 0.05, "max_concurrency": 10},
     "files": [{"key": "big", "record": "r1", "module": "Deals", "file_name": "a.bin", "path": "..."}],
     "bulk": [{"record": "r2", "module": "Deals", "count": 10, "size": 65536}],
     "records": [{"record": "r3", "module": "Deals"}]}
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

from airflow_provider_zoho_attach.testing.emulator import EmulatorConfig, ZohoCRMEmulator


def main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    config = EmulatorConfig()
    config.update(**spec.get("config", {}))
    emulator = ZohoCRMEmulator(config=config, storage_dir=spec.get("storage_dir"))
    records: dict[str, str] = {}

    def record(item: dict[str, str]) -> str:
        label = item["record"]
        if label not in records:
            records[label] = emulator.add_record(item.get("module", "Deals"))
        return records[label]

    for item in spec.get("records", []):
        record(item)
    files: dict[str, str] = {}
    for item in spec.get("files", []):
        files[item["key"]] = emulator.add_attachment(
            item.get("module", "Deals"), record(item), item["file_name"], Path(item["path"])
        )
    bulk: dict[str, list[str]] = {}
    for item in spec.get("bulk", []):
        bulk[item["record"]] = emulator.add_attachments_bulk(
            item.get("module", "Deals"),
            record(item),
            int(item["count"]),
            size=int(item.get("size", 64)),
            name_pattern=item.get("name_pattern", "file-{i}.bin"),
        )
    emulator.start()
    try:
        print(
            json.dumps(
                {
                    "url": emulator.url,
                    "client_id": emulator.client_id,
                    "client_secret": emulator.client_secret,
                    "refresh_token": emulator.refresh_token,
                    "env": emulator.airflow_env(**spec.get("connection_extra", {})),
                    "records": records,
                    "files": files,
                    "bulk": bulk,
                }
            ),
            flush=True,
        )
        closed = threading.Event()

        def watch_stdin() -> None:
            sys.stdin.read()
            closed.set()

        threading.Thread(target=watch_stdin, daemon=True).start()
        closed.wait(float(spec.get("max_lifetime", 1800)))
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
