"""The per-user token file (issue 13.2): where it is, who may read it, and which modes use it."""

from __future__ import annotations

import json
import logging
import os
import stat
import time

import pytest

from airflow_provider_zoho_attach.utils import tokens
from airflow_provider_zoho_attach.utils.protocol import AccessToken
from airflow_provider_zoho_attach.utils.settings import ZohoCRMSettings
from airflow_provider_zoho_attach.utils.tokens import FileTokenStore, TokenCache, token_cache_dir


def settings(mode: str = "variable") -> ZohoCRMSettings:
    return ZohoCRMSettings(
        conn_id="zoho_test", client_id="1000.CLIENT", client_secret="s", refresh_token="r", token_cache=mode
    )


EXPIRES_AT = time.time() + 3600


def fresh_token(value: str = "tok-1") -> AccessToken:
    return AccessToken(value, EXPIRES_AT)


@pytest.fixture(autouse=True)
def _clean_memory():
    tokens.clear_memory_cache()
    tokens._WARNED.clear()
    yield
    tokens.clear_memory_cache()


def test_the_folder_follows_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert token_cache_dir() == tmp_path / "airflow-provider-zoho-attach" / "tokens"


def test_without_xdg_cache_home_the_folder_is_under_dot_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert token_cache_dir() == tmp_path / ".cache" / "airflow-provider-zoho-attach" / "tokens"
    # A relative XDG_CACHE_HOME is invalid (XDG spec) and would depend on the working directory.
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    assert token_cache_dir() == tmp_path / ".cache" / "airflow-provider-zoho-attach" / "tokens"


def test_the_suite_never_uses_the_developers_cache():
    home_cache = os.path.join(os.path.expanduser("~"), ".cache")
    assert not str(token_cache_dir()).startswith(home_cache + os.sep)


@pytest.mark.parametrize("mode", ["variable", "file"])
def test_outside_a_task_tokens_go_to_a_private_file(mode):
    cache = TokenCache(settings(mode))
    assert cache.backend == "file"
    cache.store(fresh_token())
    path = cache.file_store.path
    assert path == token_cache_dir() / f"{cache.fingerprint}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert json.loads(path.read_text())["fingerprint"] == cache.fingerprint
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind

    tokens.clear_memory_cache()  # what a new process starts with
    assert TokenCache(settings(mode)).load() == fresh_token()


def test_in_a_task_variable_mode_uses_the_variable_and_file_mode_the_file(monkeypatch):
    monkeypatch.setattr(tokens, "in_task_runtime", lambda: True)
    assert TokenCache(settings("variable")).backend == "variable"
    assert TokenCache(settings("file")).backend == "file"


@pytest.mark.parametrize("mode", ["memory", "none"])
def test_memory_and_none_write_nothing(mode):
    cache = TokenCache(settings(mode))
    assert cache.backend is None
    assert not cache.shares_between_processes
    cache.store(fresh_token())
    assert not token_cache_dir().exists()


def test_a_discarded_token_is_invalidated_in_the_file():
    cache = TokenCache(settings("file"))
    token = fresh_token()
    cache.store(token)
    cache.discard(token)
    tokens.clear_memory_cache()
    assert cache.load() is None
    assert "invalidated_at" in json.loads(cache.file_store.path.read_text())


def test_a_newer_token_survives_the_discard_of_an_older_one():
    cache = TokenCache(settings("file"))
    cache.store(fresh_token("new"))
    cache.discard(fresh_token("old"))
    tokens.clear_memory_cache()
    assert cache.load() == fresh_token("new")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_a_file_others_may_read_is_refused_with_a_warning(caplog, mode):
    cache = TokenCache(settings("file"))
    cache.store(fresh_token())
    tokens.clear_memory_cache()
    os.chmod(cache.file_store.path, mode)
    with caplog.at_level(logging.WARNING, logger=tokens.__name__):
        assert cache.load() is None
        assert cache.load() is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # once per process, not on every token miss
    assert f"{mode:04o}" in warnings[0]
    assert str(cache.file_store.path) in warnings[0]

    # The next token created replaces the file with a private one.
    cache.store(fresh_token("tok-2"))
    assert stat.S_IMODE(cache.file_store.path.stat().st_mode) == 0o600


def test_a_file_of_another_user_is_refused(monkeypatch, caplog):
    cache = TokenCache(settings("file"))
    cache.store(fresh_token())
    tokens.clear_memory_cache()
    monkeypatch.setattr(os, "getuid", lambda: os.stat(cache.file_store.path).st_uid + 1)
    with caplog.at_level(logging.WARNING, logger=tokens.__name__):
        assert cache.load() is None
    assert "belongs to another user" in caplog.text


def test_a_symbolic_link_is_refused(tmp_path, caplog):
    cache = TokenCache(settings("file"))
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps(fresh_token().to_json(cache.fingerprint)))
    os.chmod(target, 0o600)
    cache.file_store.directory.mkdir(parents=True)
    os.symlink(target, cache.file_store.path)
    with caplog.at_level(logging.WARNING, logger=tokens.__name__):
        assert cache.load() is None
    assert "cannot be opened safely" in caplog.text


def test_a_corrupt_file_costs_a_token_call_not_a_task():
    cache = TokenCache(settings("file"))
    cache.file_store.directory.mkdir(parents=True)
    cache.file_store.path.write_text("{not json")
    os.chmod(cache.file_store.path, 0o600)
    assert cache.load() is None


def test_an_unwritable_folder_is_a_warning(monkeypatch, tmp_path, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # a file where the folder should be
    cache = TokenCache(settings("variable"))
    with caplog.at_level(logging.WARNING, logger=tokens.__name__):
        cache.store(fresh_token())
    assert "Could not share the access token" in caplog.text
    assert cache.load() == fresh_token()  # still in this process's memory


def test_the_write_is_atomic(monkeypatch):
    """A failure half-way through leaves the previous token whole, and no temporary file."""
    store = FileTokenStore(fingerprint="abc")
    store.write({"fingerprint": "abc", "access_token": "old", "expires_at": 1.0})

    def broken_dump(value, handle):
        handle.write('{"fingerprint": "abc", "access_')
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tokens.json, "dump", broken_dump)
    store.write({"fingerprint": "abc", "access_token": "new", "expires_at": 2.0})
    assert json.loads(store.path.read_text())["access_token"] == "old"
    assert [p.name for p in store.directory.iterdir()] == ["abc.json"]


def test_the_host_lock_is_taken_whenever_the_file_is_used():
    assert TokenCache(settings("variable")).host_lock().path is not None
    assert TokenCache(settings("memory")).host_lock().path is None


def test_acquire_is_the_token_sequence_of_both_hooks(monkeypatch, tmp_path):
    from airflow_provider_zoho_attach.exceptions import TOKEN_THROTTLED, ZohoCRMRateLimitError
    from airflow_provider_zoho_attach.utils.protocol import RetryPolicy

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cache = TokenCache(settings("file"))
    sleeps, fetched = [], []
    policy = RetryPolicy(token_throttle_timeout=900)

    def fetch():
        fetched.append(1)
        if len(fetched) == 1:
            raise ZohoCRMRateLimitError("throttled", code=TOKEN_THROTTLED)
        return fresh_token("new")

    def sleep(seconds):
        sleeps.append(seconds)

    own = fresh_token("own")
    assert cache.acquire(fetch, own=lambda: own, sleep=sleep, policy=policy) is own
    assert fetched == []
    # Throttled: wait, look at the shared file again (nothing there), ask again, share what came.
    assert cache.acquire(fetch, own=lambda: None, sleep=sleep, policy=policy) == fresh_token("new")
    assert len(fetched) == 2
    assert len(sleeps) == 1
    tokens.clear_memory_cache()
    assert cache.acquire(fetch, own=lambda: None, sleep=sleep, policy=policy) == fresh_token("new")
    assert len(fetched) == 2  # read back from the shared file
