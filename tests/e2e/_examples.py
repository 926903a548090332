"""The example DAG files, loaded afresh for a test (they read Variables and params when parsed)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

EXAMPLE_DAGS = Path(__file__).resolve().parents[2] / "example_dags"


def load_example(file_name: str) -> ModuleType:
    """
    Execute ``example_dags/<file_name>`` as a new module (not cached: each call parses it again).

    :param file_name: the example's file name, e.g. ``example_zoho_mirror_closed_won.py``.
    """
    path = EXAMPLE_DAGS / file_name
    spec = importlib.util.spec_from_file_location(f"{path.stem}_under_test", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
