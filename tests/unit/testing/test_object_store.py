"""The flaky in-memory object store of the testing package (``flakymem://``)."""

from __future__ import annotations

import threading

import pytest

from airflow_provider_zoho_attach.testing.object_store import (
    FlakyMemoryFileSystem,
    attach_flaky_store,
)


def _path(url):
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(url)


def test_objects_round_trip_through_airflow_object_storage(flaky_object_store):
    target = _path("flakymem://bucket/out/a.txt")
    with target.open("wb") as sink:
        sink.write(b"hello")

    assert target.exists()
    assert target.stat().st_size == 5
    assert target.read_bytes() == b"hello"
    assert [p.name for p in _path("flakymem://bucket/out/").iterdir()] == ["a.txt"]
    assert flaky_object_store.files() == {"/bucket/out/a.txt": b"hello"}
    target.unlink()
    assert flaky_object_store.files() == {}


def test_each_attach_gives_a_fresh_store_that_memory_does_not_share(flaky_object_store, memory_storage):
    _path("flakymem://b/x").write_bytes(b"1")
    fresh = attach_flaky_store()
    assert fresh.files() == {}
    assert not _path("flakymem://b/x").exists()
    assert not _path("memory://b/x").exists()
    assert isinstance(_path("flakymem://b/").fs, FlakyMemoryFileSystem)


def test_an_object_appears_only_when_its_writer_closes_it(flaky_object_store):
    target = _path("flakymem://b/big.bin")
    sink = target.open("wb")
    sink.write(b"half")
    assert not target.exists()
    sink.close()
    assert target.read_bytes() == b"half"


def test_an_error_inside_the_write_block_stores_nothing(flaky_object_store):
    target = _path("flakymem://b/a.txt")
    target.write_bytes(b"old")

    def write_then_die():
        with target.open("wb") as sink:
            sink.write(b"new, partial")
            raise RuntimeError("the producer died")

    with pytest.raises(RuntimeError, match="producer died"):
        write_then_die()
    assert target.read_bytes() == b"old"


def test_a_failed_commit_keeps_the_previous_object(flaky_object_store):
    target = _path("flakymem://b/a.txt")
    target.write_bytes(b"old")
    flaky_object_store.fail("commit", "b/*.txt", error=PermissionError("AccessDenied"))

    with pytest.raises(PermissionError, match="AccessDenied"), target.open("wb") as sink:
        sink.write(b"new")
    assert target.read_bytes() == b"old"
    target.write_bytes(b"new")  # count=1: the next write goes through
    assert target.read_bytes() == b"new"


@pytest.mark.parametrize(
    ("error", "expected"),
    [(None, OSError), (PermissionError, PermissionError), (Exception("S3 SlowDown"), Exception)],
)
def test_failures_raise_what_was_asked(flaky_object_store, error, expected):
    flaky_object_store.fail("open_write", error=error)
    with pytest.raises(expected):
        _path("flakymem://b/a").write_bytes(b"x")


def test_a_failing_exists_raises_instead_of_answering_false(flaky_object_store):
    flaky_object_store.fail("exists", "b/a", count=2)
    for _ in range(2):
        with pytest.raises(OSError, match="injected exists failure"):
            _path("flakymem://b/a").exists()
    assert not _path("flakymem://b/a").exists()


def test_patterns_only_match_their_paths_and_counts_run_out(flaky_object_store):
    flaky_object_store.fail("open_read", "b/secret/*", count=None)
    _path("flakymem://b/secret/x").write_bytes(b"s")
    _path("flakymem://b/public/x").write_bytes(b"p")
    assert _path("flakymem://b/public/x").read_bytes() == b"p"
    for _ in range(3):
        with pytest.raises(OSError, match="injected open_read failure"):
            _path("flakymem://b/secret/x").read_bytes()
    assert flaky_object_store.pending == ["fail open_read b/secret/*"]
    flaky_object_store.clear_faults()
    assert _path("flakymem://b/secret/x").read_bytes() == b"s"


def test_failing_deletes(flaky_object_store):
    target = _path("flakymem://b/keep")
    target.write_bytes(b"k")
    flaky_object_store.fail("delete")
    with pytest.raises(OSError, match="injected delete failure"):
        target.unlink()
    assert target.exists()


def test_readers_have_their_own_cursor(flaky_object_store):
    target = _path("flakymem://b/a")
    target.write_bytes(b"abcdef")
    with target.open("rb") as one, target.open("rb") as two:
        assert one.read(3) == b"abc"
        assert two.read(3) == b"abc"


def test_delay_uses_the_replaceable_sleep(flaky_object_store):
    slept = []
    flaky_object_store.sleep = slept.append
    flaky_object_store.delay("exists", 2.5, "b/*", count=2)
    for _ in range(3):
        _path("flakymem://b/a").exists()
    assert slept == [2.5, 2.5]


def test_a_callback_can_hold_a_writer_until_the_test_lets_it_go(flaky_object_store):
    arrived, release = threading.Event(), threading.Event()

    def hold(operation, path):
        arrived.set()
        assert release.wait(5)

    flaky_object_store.on("commit", hold, "b/a", count=1)
    writer = threading.Thread(target=_path("flakymem://b/a").write_bytes, args=(b"late",))
    writer.start()
    assert arrived.wait(5)
    assert not _path("flakymem://b/a").exists()  # the writer is held before its object appears
    release.set()
    writer.join(5)
    assert _path("flakymem://b/a").read_bytes() == b"late"


def test_interleave_makes_check_then_write_race_every_time(flaky_object_store):
    """Two writers that each write only if the object is missing: both see it missing."""
    flaky_object_store.interleave("exists", "b/report.pdf", parties=2)
    seen = []

    def write_if_missing(data):
        target = _path("flakymem://b/report.pdf")
        seen.append(target.exists())
        target.write_bytes(data)

    threads = [threading.Thread(target=write_if_missing, args=(d,)) for d in (b"one", b"two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen == [False, False]
    assert flaky_object_store.pending == []


def test_interleave_lets_a_lone_caller_go_after_the_timeout(flaky_object_store):
    flaky_object_store.interleave("exists", parties=2, timeout=0.05)
    assert not _path("flakymem://b/a").exists()


def test_the_call_log(flaky_object_store):
    _path("flakymem://b/a").write_bytes(b"x")
    assert flaky_object_store.calls == [("open_write", "/b/a"), ("commit", "/b/a")]


def test_unknown_operations_and_bad_counts_are_refused(flaky_object_store):
    with pytest.raises(ValueError, match="unknown operation"):
        flaky_object_store.fail("write")
    with pytest.raises(ValueError, match="count"):
        flaky_object_store.fail("commit", count=0)
