"""Shared test set-up.

Airflow reads its configuration when it is first imported, so the throwaway Airflow home is set up
here, at conftest import time, before any test module imports Airflow.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

_HOME = tempfile.mkdtemp(prefix="zoho-attach-airflow-home-")
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
os.environ["AIRFLOW_HOME"] = _HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO_ROOT / "example_dags")
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_HOME}/airflow.db"
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")
# Outside a task the hook keeps access tokens in the user's cache directory (XDG_CACHE_HOME or
# ~/.cache): the suite, and every process it starts, must never read or write the developer's.
os.environ["XDG_CACHE_HOME"] = os.path.join(_HOME, "xdg-cache")


import pytest  # noqa: E402 - the environment above must be set before anything imports Airflow


@pytest.fixture
def memory_storage():
    """Register fsspec's in-memory filesystem with Airflow's object storage as ``memory://``."""
    import fsspec
    from airflow.sdk.io import attach

    fs = fsspec.filesystem("memory")
    attach("memory", fs=fs)
    yield fs
    fs.store.clear()
    fs.pseudo_dirs.clear()
    fs.pseudo_dirs.append("")


@pytest.fixture(autouse=True)
def _private_token_cache_dir(monkeypatch, tmp_path_factory):
    """
    Give each test its own user cache directory.

    Many tests share credentials (and so a token file name); one test's cached token must not spare
    the next one the token call it counts. Not under ``tmp_path``: tests check that folder's contents.
    """
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


def forget_masked_secrets() -> None:
    """Empty Airflow's secrets masker (nothing to do if Airflow's SDK was never imported)."""
    if "airflow.sdk" not in sys.modules:
        return
    try:
        from airflow.sdk.log import _secrets_masker
    except ImportError:  # Airflow 3.1 keeps it in the shared package only
        from airflow.sdk._shared.secrets_masker import _secrets_masker
    _secrets_masker().reset_masker()


@pytest.fixture(autouse=True)
def _fresh_secrets_masker():
    """
    Forget the secrets masked by earlier tests.

    Every hook on a new emulator registers new client secrets and tokens with Airflow's secrets
    masker, whose pattern is recompiled on every addition: over the whole suite that made each
    token fetch cost most of a second.
    """
    yield
    forget_masked_secrets()
