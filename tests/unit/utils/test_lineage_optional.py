"""
Lineage costs nothing without the OpenLineage provider: no import, and tasks run as before.

Each check runs in a fresh interpreter, once with the provider installed and once with it blocked
(an import hook makes ``openlineage`` and ``airflow.providers.openlineage`` unimportable), which is
what a deployment without the ``openlineage`` extra sees.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import REPO_ROOT

pytest.importorskip("airflow.providers.openlineage", reason="compares with the provider installed")

BLOCK_OPENLINEAGE = textwrap.dedent(
    """
    import importlib.abc, sys

    class _NoOpenLineage(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] == "openlineage" or name.startswith("airflow.providers.openlineage"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, _NoOpenLineage())

    # Nor are their distributions: Airflow finds providers by their entry points.
    def _without_openlineage(distributions):
        def listed(*args, **kwargs):
            for dist in distributions(*args, **kwargs):
                name = (dist.metadata["Name"] or "").lower().replace("_", "-")
                if not name.startswith(("openlineage", "apache-airflow-providers-openlineage")):
                    yield dist
        return listed

    import importlib.metadata
    importlib.metadata.distributions = _without_openlineage(importlib.metadata.distributions)
    try:
        import importlib_metadata
        importlib_metadata.distributions = _without_openlineage(importlib_metadata.distributions)
    except ImportError:
        pass
    """
)

MODULES = [
    "airflow_provider_zoho_attach",
    "airflow_provider_zoho_attach.operators.attachments",
    "airflow_provider_zoho_attach.operators.photos",
    "airflow_provider_zoho_attach.operators.field_files",
    "airflow_provider_zoho_attach.operators.records",
    "airflow_provider_zoho_attach.assets.zoho_crm",
]

IMPORTS = textwrap.dedent(
    """
    import json, sys
    import airflow.sdk
    from airflow.sdk import BaseOperator  # what any DAG file with a task loads
    before = set(sys.modules)
    for name in MODULES:
        __import__(name)
    print(json.dumps(sorted(set(sys.modules) - before)))
    """
)


def _python(code: str, *, blocked: bool, env: dict[str, str] | None = None) -> str:
    source = (BLOCK_OPENLINEAGE if blocked else "") + code
    done = subprocess.run(
        [sys.executable, "-c", source],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def test_importing_the_provider_imports_nothing_of_openlineage():
    code = f"MODULES = {MODULES!r}\n{IMPORTS}"
    installed = json.loads(_python(code, blocked=False))
    absent = json.loads(_python(code, blocked=True))
    assert installed == absent, set(installed) ^ set(absent)
    assert not [m for m in installed if "openlineage" in m]
    # Lineage adds one small module to a DAG file's imports (the mixin); the names and records
    # (utils.lineage) and their OpenLineage form (utils.openlineage) wait until a task runs.
    assert "airflow_provider_zoho_attach.operators._lineage" in installed
    assert "airflow_provider_zoho_attach.utils.openlineage" not in installed
    assert not [m for m in installed if m.split(".")[0] in ("requests", "httpx", "attr", "urllib3")]


RUN = textwrap.dedent(
    """
    import json, os, sys, tempfile
    from airflow_provider_zoho_attach.testing import ZohoCRMEmulator
    from airflow_provider_zoho_attach.operators.attachments import (
        ZohoCRMDownloadAttachmentsOperator, ZohoCRMUploadAttachmentOperator,
    )

    class TI:
        def xcom_push(self, key, value, **kwargs):
            pass

    with ZohoCRMEmulator() as emu:
        os.environ.update(emu.airflow_env())
        deal = emu.add_record("Deals")
        emu.add_attachment("Deals", deal, "a.pdf", b"%PDF a")
        out = tempfile.mkdtemp()
        down = ZohoCRMDownloadAttachmentsOperator(
            task_id="down", module="Deals", record_id=deal, destination=out
        )
        results = down.execute({"ti": TI()})
        source = os.path.join(out, "b.txt")
        with open(source, "wb") as f:
            f.write(b"bee")
        up = ZohoCRMUploadAttachmentOperator(task_id="up", module="Deals", record_id=deal, source=source)
        uploaded = up.execute({"ti": TI()})
    print(json.dumps({
        "downloaded": [r["file_name"] for r in results],
        "uploaded": [r["status"] for r in uploaded],
        "noted": [d.name for d in down.lineage.inputs + up.lineage.outputs],
        "openlineage": sorted(m for m in sys.modules if "openlineage" in m),
    }))
    """
)


def test_tasks_run_without_the_provider_and_import_none_of_it():
    # OpenLineage configured (a reader of hook lineage if the provider were there), and blocked.
    env = {"AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps({"type": "console"})}
    outcome = json.loads(_python(RUN, blocked=True, env=env))
    assert outcome["downloaded"] == ["a.pdf"]
    assert outcome["uploaded"] == ["uploaded"]
    assert len(outcome["noted"]) == 2  # the tasks still note what they did, in plain Python
    assert outcome["openlineage"] == []
