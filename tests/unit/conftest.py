"""Fixtures for unit tests: a connection in the environment and a hook that never really sleeps."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from airflow_provider_zoho_attach.utils import tokens

CLIENT_ID = "1000.UNITCLIENTID"
CLIENT_SECRET = "unit-client-secret-0123456789"
REFRESH_TOKEN = "1000.unit-refresh-token-abcdef"
ACCESS_TOKEN = "1000.unit-access-token-fedcba9876"
ACCOUNTS = "https://accounts.zoho.eu"
API = "https://www.zohoapis.eu"
TOKEN_URL = f"{ACCOUNTS}/oauth/v2/token"


@pytest.fixture(autouse=True)
def _fresh_token_memory():
    tokens.clear_memory_cache()
    yield
    tokens.clear_memory_cache()


@pytest.fixture
def zoho_conn(monkeypatch):
    """A ``zoho_crm_default`` connection for the EU data centre, defined by environment variable."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_ZOHO_CRM_DEFAULT",
        json.dumps(
            {
                "conn_type": "zoho_crm",
                "login": CLIENT_ID,
                "password": CLIENT_SECRET,
                "extra": {"refresh_token": REFRESH_TOKEN, "data_center": "eu", "oauth_cache": "memory"},
            }
        ),
    )
    return "zoho_crm_default"


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def hook(zoho_conn, sleeps):
    from airflow_provider_zoho_attach.hooks.zoho_crm import ZohoCRMHook

    hook = ZohoCRMHook(zoho_conn, retry_base_delay=0.01)
    hook._sleep = sleeps.append
    yield hook
    hook.close()


def token_body(token: str = ACCESS_TOKEN, api_domain: str = API, expires_in: int = 3600) -> dict:
    return {"access_token": token, "api_domain": api_domain, "token_type": "Bearer", "expires_in": expires_in}


# ------------------------------------------------------------------------ the docs, built in the background


class DocsBuild:
    """A Sphinx build running in its own process, its output in a temporary directory."""

    def __init__(self) -> None:
        from tests.unit.test_docs import REPO, sphinx_command

        self.out = Path(tempfile.mkdtemp(prefix="zoho-attach-docs-build-"))
        self._stderr = (self.out / "stderr.txt").open("w", encoding="utf-8")
        self.process = subprocess.Popen(
            sphinx_command(self.out),
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            cwd=REPO,
        )

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout=timeout)

    def stderr(self) -> str:
        self._stderr.flush()
        return (self.out / "stderr.txt").read_text(encoding="utf-8")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._stderr.close()
        shutil.rmtree(self.out, ignore_errors=True)


_DOCS_BUILD = pytest.StashKey[DocsBuild]()


def docs_build(config: pytest.Config) -> DocsBuild:
    """The session's docs build: started by now if a collected test needs it, else started here."""
    if _DOCS_BUILD not in config.stash:
        config.stash[_DOCS_BUILD] = DocsBuild()
    return config.stash[_DOCS_BUILD]


def pytest_collection_finish(session: pytest.Session) -> None:
    """
    Start the Sphinx build (about 15 s of one core) as soon as the selected tests are known.

    The docs tests run near the end of the session: by then the build has run beside the other
    tests, which mostly use one core or wait, instead of after them.
    """
    if session.config.option.collectonly:
        return
    if any("built_html" in getattr(item, "fixturenames", ()) for item in session.items):
        docs_build(session.config)


def pytest_unconfigure(config: pytest.Config) -> None:
    build = config.stash.get(_DOCS_BUILD, None)
    if build is not None:
        build.close()
