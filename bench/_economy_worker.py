"""
Listings and sensor pokes, each counted at the emulator: :func:`run` takes ``{"url", "client_id",
"client_secret", "refresh_token", "workdir", "cases": [...]}`` and returns one result per case.

Each case starts from a fresh state, as a new task process would (no token in memory, an empty SDK
token store), unless it says ``"warm": true`` (it then follows the previous case of its client). The
emulator's log is reset before a case and its counters read after it, through its admin API.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from bench import _sdk


def _admin(url: str, method: str, route: str) -> Any:
    import requests

    response = requests.request(
        method, f"{url}/__emulator__/{route}", json={} if method == "POST" else None, timeout=60
    )
    response.raise_for_status()
    return response.json()


class _State:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.sensor: Any = None
        self.operations: Any = None
        self.fresh_stores = 0

    def provider_list(self, case: dict[str, Any]) -> int:
        from airflow_provider_zoho_attach.hooks.zoho_crm import ZohoCRMHook

        hook = ZohoCRMHook()
        try:
            return len(hook.list_attachments(case["module"], case["record_id"]))
        finally:
            hook.close()

    def provider_poke(self, case: dict[str, Any]) -> int:
        from airflow_provider_zoho_attach.sensors.attachments import ZohoCRMNewAttachmentSensor

        if self.sensor is None or not case.get("warm"):
            self.sensor = ZohoCRMNewAttachmentSensor(
                task_id="wait",
                module=case["module"],
                record_id=case["record_id"],
                since=case["since"],
                poll_interval=60,
            )
        return int(self.sensor.poke({}).is_done)  # type: ignore[arg-type]

    def sdk_list(self, case: dict[str, Any]) -> int:
        if self.operations is None or not case.get("warm"):
            self.fresh_stores += 1
            spec = self.spec
            self.operations = _sdk.init(
                spec["url"],
                spec["client_id"],
                spec["client_secret"],
                spec["refresh_token"],
                f"{spec['workdir']}/sdk-tokens-{self.fresh_stores}.csv",
                spec["workdir"],
            )
        return len(_sdk.list_all(self.operations, case["module"], case["record_id"]))


def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the cases; return ``{"results": [{"rows", "api", "token", "seconds", "paths"}]}``."""
    from airflow_provider_zoho_attach.utils import tokens

    state = _State(spec)
    results = []
    for case in spec["cases"]:
        if not case.get("warm") and case["client"] == "provider":
            tokens.clear_memory_cache()  # a new task process holds no token
        _admin(spec["url"], "POST", "reset-log")
        started = time.perf_counter()
        value = getattr(state, case["client"] + "_" + case["action"])(case)
        elapsed = time.perf_counter() - started
        log = _admin(spec["url"], "GET", "requests")["requests"]
        results.append(
            {
                "value": value,
                "seconds": elapsed,
                "api": sum(1 for r in log if r["path"].startswith("/crm/")),
                "token": sum(1 for r in log if r["method"] == "POST" and r["path"] == "/oauth/v2/token"),
                "paths": sorted({r["path"].rsplit("/", 1)[-1] for r in log if r["path"].startswith("/crm/")}),
            }
        )
    return {"results": results}


if __name__ == "__main__":
    print(json.dumps(run(json.loads(Path(sys.argv[1]).read_text()))))
