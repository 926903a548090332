"""
Time imports in this fresh interpreter: ``python -m bench._import_probe "BASELINE CODE" MODULE...``
prints ``{"baseline": s, "provider": s, "new_packages": [...], ...}``.

The baseline code runs first (timed), then each module is imported (timed together). Nothing else is
imported before: this file imports only the standard library.
"""

from __future__ import annotations

import importlib
import json
import sys
import time


def main(baseline: str, modules: list[str]) -> None:
    started = time.perf_counter()
    exec(baseline, {})  # noqa: S102 - our own fixed import statements
    after_baseline = time.perf_counter()
    before = set(sys.modules)
    for name in modules:
        importlib.import_module(name)
    done = time.perf_counter()
    added = set(sys.modules) - before
    packages = {name.split(".")[0] for name in added} - {name.split(".")[0] for name in before}
    packages.discard("airflow_provider_zoho_attach")
    print(
        json.dumps(
            {
                "baseline": after_baseline - started,
                "provider": done - after_baseline,
                "new_packages": sorted(packages),
                "new_modules": len(added),
                "new_airflow_modules": sorted(n for n in added if n.startswith("airflow.")),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
