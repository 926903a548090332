"""
Integrity of downloaded files (issue 12): new directories, same-named attachments, file modes and
the temporary files of killed tasks.

Object storage is fsspec's memory filesystem; where a race must happen for sure, a small subclass
of it (``tmem://``) makes two threads check a name before either writes, or fails a write.
"""

from __future__ import annotations

import errno
import hashlib
import os
import threading
from pathlib import Path
from typing import ClassVar

import pytest
from fsspec.implementations.memory import MemoryFile, MemoryFileSystem

from airflow_provider_zoho_attach.exceptions import ZohoCRMInvalidRequestError, ZohoCRMTransferError
from airflow_provider_zoho_attach.operators.attachments import ZohoCRMDownloadAttachmentsOperator

pytestmark = pytest.mark.integration


class RacyMemoryFileSystem(MemoryFileSystem):
    """
    fsspec's memory filesystem as ``tmem://``, with hooks to make races and failures happen for sure.

    * ``meet(name)``: the first two threads that look ``name`` up (``info``, which ``exists`` and
      ``stat`` use) wait for each other after the look-up, so both have their answer before either
      writes. A thread waits once. One that waits alone goes on as soon as another thread opens a
      file for writing (that one is past its look-ups: nobody else is coming), or after
      ``MEET_TIMEOUT`` seconds.
    * ``fail_writes()``: every file opened for writing fails after its first bytes (EIO).
    * ``break_name(name, how)``: looking ``name`` up (``how="info"``) or reading it (``"read"``)
      raises ``PermissionError``.

    fsspec gives each thread its own instance, so the files and these controls live on the class.
    """

    protocol = ("tmem",)
    store: ClassVar[dict] = {}
    pseudo_dirs: ClassVar[list] = [""]
    MEET_TIMEOUT = 2.0
    _meetings: ClassVar[dict[str, _Meeting]] = {}
    _waited: ClassVar[set[tuple[str, int]]] = set()
    _broken: ClassVar[dict[str, str]] = {}
    _failing: ClassVar[list[bool]] = [False]

    @classmethod
    def reset(cls):
        cls._meetings.clear()
        cls._waited.clear()
        cls._broken.clear()
        cls._failing[0] = False

    @classmethod
    def meet(cls, name):
        cls._meetings[name] = _Meeting()

    @classmethod
    def fail_writes(cls):
        cls._failing[0] = True

    @classmethod
    def break_name(cls, name, how):
        cls._broken[name] = how

    @classmethod
    def _strip_protocol(cls, path):
        if isinstance(path, str) and path.startswith("tmem://"):
            path = "memory://" + path[len("tmem://") :]
        return super()._strip_protocol(path)

    def info(self, path, **kwargs):
        name = self._strip_protocol(path).rsplit("/", 1)[-1]
        if self._broken.get(name) == "info":
            raise PermissionError(errno.EACCES, "Access Denied", path)
        # The answer is taken before the wait: both threads learn "absent" before either writes.
        try:
            answer, error = super().info(path, **kwargs), None
        except FileNotFoundError as missing:
            answer, error = None, missing
        meeting = self._meetings.get(name)
        key = (name, threading.get_ident())
        if meeting is not None and key not in self._waited:
            self._waited.add(key)
            meeting.wait(self.MEET_TIMEOUT)
        if error is not None:
            raise error
        return answer

    def _open(self, path, mode="rb", **kwargs):
        name = self._strip_protocol(path).rsplit("/", 1)[-1]
        if "r" in mode and self._broken.get(name) == "read":
            raise PermissionError(errno.EACCES, "Access Denied", path)
        if "w" in mode:
            for meeting in list(self._meetings.values()):
                meeting.end()
            if self._failing[0]:
                return _FailingFile(self, self._strip_protocol(path))
        return super()._open(path, mode, **kwargs)


class _Meeting:
    """Two threads wait for each other; the wait also ends when :meth:`end` is called."""

    def __init__(self):
        self._changed = threading.Condition()
        self._arrived = 0
        self._over = False

    def wait(self, timeout):
        with self._changed:
            self._arrived += 1
            if self._arrived >= 2:
                self._over = True
                self._changed.notify_all()
            self._changed.wait_for(lambda: self._over, timeout)

    def end(self):
        with self._changed:
            self._over = True
            self._changed.notify_all()


class _FailingFile(MemoryFile):
    """A file that takes a few bytes, then fails like a broken connection (and is kept if closed)."""

    def write(self, data):
        super().write(data[:3])
        raise OSError(errno.EIO, "connection reset while uploading")


@pytest.fixture
def racy_storage():
    """A :class:`RacyMemoryFileSystem` registered as ``tmem://`` with fsspec, upath and Airflow."""
    import fsspec
    from airflow.sdk.io import attach
    from upath.implementations.memory import MemoryPath
    from upath.registry import register_implementation

    fsspec.register_implementation("tmem", RacyMemoryFileSystem, clobber=True)
    register_implementation("tmem", MemoryPath, clobber=True)
    fs = RacyMemoryFileSystem()
    fs.reset()
    attach("tmem", fs=fs)
    yield fs
    fs.reset()
    fs.store.clear()
    fs.pseudo_dirs[:] = [""]


def _numeric(ident):
    return (len(ident), ident)


def _sha(data):
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------- directories that do not exist yet


@pytest.mark.parametrize("kind", ["path", "object-storage-path"])
def test_a_new_directory_given_as_a_path_object_is_a_directory(
    zoho_emulator_connection, make_hook, context, tmp_path, memory_storage, kind
):
    from airflow.sdk import ObjectStoragePath

    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    first = emu.add_attachment("Deals", record, "a.txt", b"first")
    second = emu.add_attachment("Deals", record, "b.txt", b"second")
    if kind == "path":
        destination = tmp_path / "new" / "prefix"
    else:
        destination = ObjectStoragePath("memory://bucket/new/prefix")
    op = ZohoCRMDownloadAttachmentsOperator(
        task_id="download", module="Deals", record_id=record, destination=destination
    )
    op.hook = make_hook()
    results = op.execute(context)

    by_id = {result["attachment_id"]: result for result in results}
    assert {by_id[first]["file_name"], by_id[second]["file_name"]} == {"a.txt", "b.txt"}
    if kind == "path":
        assert destination.is_dir()
        assert sorted(os.listdir(destination)) == ["a.txt", "b.txt"]
        assert (destination / "a.txt").read_bytes() == b"first"
    else:
        assert sorted(memory_storage.store) == ["/bucket/new/prefix/a.txt", "/bucket/new/prefix/b.txt"]
        assert memory_storage.cat_file("/bucket/new/prefix/b.txt") == b"second"


def test_the_hook_takes_an_explicit_directory(zoho_emulator_connection, make_hook, tmp_path):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    attachment = emu.add_attachment("Deals", record, "a.txt", b"first")
    hook = make_hook()
    into = hook.download_attachment("Deals", record, attachment, tmp_path / "dir", directory=True)
    assert Path(into["path"]) == tmp_path / "dir" / "a.txt"
    # And the opposite: an exact file name even though it has no extension.
    exact = hook.download_attachment("Deals", record, attachment, tmp_path / "file", directory=False)
    assert Path(exact["path"]) == tmp_path / "file"
    assert (tmp_path / "file").read_bytes() == b"first"


# ---------------------------------------------------------------------- file modes


@pytest.fixture
def umask():
    """Set the process umask for one test (and put the old one back)."""
    previous = os.umask(0o077)
    os.umask(previous)

    def set_umask(mask):
        os.umask(mask)

    yield set_umask
    os.umask(previous)


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002], ids=oct)
def test_downloaded_files_follow_the_umask(
    zoho_emulator_connection, make_hook, context, tmp_path, umask, monkeypatch, mask
):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    attachment = emu.add_attachment("Deals", record, "a.txt", b"first")
    emu.add_attachment("Deals", record, "b.txt", b"second")
    umask(mask)
    op = ZohoCRMDownloadAttachmentsOperator(
        task_id="download", module="Deals", record_id=record, destination=tmp_path / "in"
    )
    op.hook = make_hook()
    with monkeypatch.context() as patch:
        if os.path.exists("/proc/self/status"):
            # Reading the umask with os.umask() means setting it: other threads' files would get the
            # temporary value. Where /proc tells it, the download must not touch it.
            def forbidden(mask):
                raise AssertionError("os.umask() called while downloading")

            patch.setattr(os, "umask", forbidden)
        results = op.execute(context)
        # Replacing a file and writing an exact file name give the same mode.
        replaced = op.hook.download_attachment("Deals", record, attachment, tmp_path / "in", overwrite=True)
        exact = op.hook.download_attachment("Deals", record, attachment, tmp_path / "exact.txt")

    expected = 0o666 & ~mask
    for result in [*results, replaced, exact]:
        assert oct(os.stat(result["path"]).st_mode & 0o777) == oct(expected), result["path"]


def test_the_umask_is_read_once_where_proc_does_not_tell_it(umask, monkeypatch):
    import builtins

    from airflow_provider_zoho_attach.utils import tempfiles, transfer

    real_open = builtins.open

    def no_proc(file, *args, **kwargs):
        if str(file).startswith("/proc/"):
            raise FileNotFoundError(2, "no /proc here")
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", no_proc)
    monkeypatch.setattr(tempfiles, "_FALLBACK_UMASK", [])  # where it is looked up
    umask(0o027)
    assert oct(transfer.new_file_mode()) == oct(0o640)
    assert oct(transfer.new_file_mode()) == oct(0o640)  # cached: the umask was set only once
    previous = os.umask(0o027)
    assert oct(previous) == oct(0o027)  # and put back as it was


# ---------------------------------------------------------------------- same-named attachments


def _same_named(emu, count=2):
    record = emu.add_record("Deals")
    contents = {}
    for index in range(count):
        data = f"%PDF attachment {index} ".encode() * (index + 1)
        contents[emu.add_attachment("Deals", record, "same.pdf", data)] = data
    return record, contents


def _check_one_object_each(results, contents, read):
    """Every attachment has its own path, and that path holds its bytes."""
    assert len({r["path"] for r in results}) == len(contents), [r["path"] for r in results]
    for result in results:
        assert result["sha256"] == _sha(contents[result["attachment_id"]])
        assert read(result["path"]) == contents[result["attachment_id"]], result["path"]


def test_same_named_attachments_of_one_task_get_one_object_each(
    zoho_emulator_connection, make_hook, context, racy_storage
):
    emu = zoho_emulator_connection
    record, contents = _same_named(emu)
    racy_storage.meet("same.pdf")  # both downloads check the name before either writes
    op = ZohoCRMDownloadAttachmentsOperator(
        task_id="download", module="Deals", record_id=record, destination="tmem://bucket/in/"
    )
    op.hook = make_hook()
    results = op.execute(context)

    _check_one_object_each(results, contents, racy_storage.cat_file)
    first, second = sorted(contents, key=_numeric)
    assert sorted(racy_storage.store) == sorted(["/bucket/in/same.pdf", f"/bucket/in/same ({second}).pdf"])
    # The attachment with the lowest id takes the plain name, whichever thread is faster; so a
    # re-run finds every file where it left it.
    by_id = {r["attachment_id"]: r for r in results}
    assert by_id[first]["file_name"] == "same.pdf"
    racy_storage.reset()
    again = op.execute(context)
    assert {r["attachment_id"]: (r["path"], r["status"]) for r in again} == {
        r["attachment_id"]: (r["path"], "unchanged") for r in results
    }


def test_same_named_direct_hook_calls_in_threads_get_one_object_each(
    zoho_emulator_connection, make_hook, racy_storage
):
    emu = zoho_emulator_connection
    record, contents = _same_named(emu)
    racy_storage.meet("same.pdf")
    hook = make_hook()
    hook.get_access_token()
    results, errors = [], []

    def download(attachment):
        try:
            results.append(hook.download_attachment("Deals", record, attachment, "tmem://bucket/in/"))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=download, args=(a,), daemon=True) for a in contents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    _check_one_object_each(results, contents, racy_storage.cat_file)
    assert len(racy_storage.store) == 2


@pytest.mark.parametrize("where", ["local", "object-storage"])
def test_overwrite_replaces_files_of_earlier_runs_never_of_this_run(
    zoho_emulator_connection, make_hook, context, tmp_path, memory_storage, where
):
    emu = zoho_emulator_connection
    record, contents = _same_named(emu, count=3)
    if where == "local":
        destination = str(tmp_path / "in")
        os.makedirs(destination)
        Path(destination, "same.pdf").write_bytes(b"left by an earlier run")

        def read(path):
            return Path(path).read_bytes()

        def listing():
            return sorted(os.listdir(destination))
    else:
        destination = "memory://bucket/in"
        memory_storage.pipe_file("/bucket/in/same.pdf", b"left by an earlier run")

        def read(path):
            return memory_storage.cat_file(path.removeprefix("memory://"))

        def listing():
            return sorted(key.rsplit("/", 1)[-1] for key in memory_storage.store)

    op = ZohoCRMDownloadAttachmentsOperator(
        task_id="download",
        module="Deals",
        record_id=record,
        destination=destination,
        overwrite=True,
        max_concurrency=3,
    )
    op.hook = make_hook()
    first_run = op.execute(context)
    second_run = op.execute(context)

    ordered = sorted(contents, key=_numeric)
    expected_names = ["same.pdf", *(f"same ({ident}).pdf" for ident in ordered[1:])]
    for results in (first_run, second_run):
        _check_one_object_each(results, contents, read)
        assert {r["attachment_id"]: r["file_name"] for r in results} == dict(
            zip(ordered, expected_names, strict=True)
        )
    assert listing() == sorted(expected_names)


def test_a_failed_overwrite_keeps_the_file_that_was_there(zoho_emulator_connection, make_hook, racy_storage):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    attachment = emu.add_attachment("Deals", record, "doc.pdf", b"%PDF the new version")
    racy_storage.pipe_file("/bucket/in/doc.pdf", b"%PDF the good old version")
    racy_storage.fail_writes()
    hook = make_hook()
    with pytest.raises(ZohoCRMTransferError) as info:
        hook.download_attachment("Deals", record, attachment, "tmem://bucket/in/", overwrite=True)
    assert info.value.code == "DESTINATION_ERROR"
    assert racy_storage.cat_file("/bucket/in/doc.pdf") == b"%PDF the good old version"
    assert sorted(racy_storage.store) == ["/bucket/in/doc.pdf"]  # no temporary object left either


@pytest.mark.parametrize("broken", ["info", "read"])
def test_an_error_looking_at_an_existing_file_is_not_read_as_absent_or_different(
    zoho_emulator_connection, make_hook, racy_storage, broken
):
    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    attachment = emu.add_attachment("Deals", record, "doc.pdf", b"%PDF version")
    racy_storage.pipe_file("/bucket/in/doc.pdf", b"%PDF version")
    racy_storage.break_name("doc.pdf", broken)
    hook = make_hook()
    with pytest.raises(ZohoCRMTransferError) as info:
        hook.download_attachment("Deals", record, attachment, "tmem://bucket/in/")
    assert info.value.code == "DESTINATION_ERROR"
    assert "PermissionError" in str(info.value)
    assert "permission" in (info.value.hint or "").lower()
    assert sorted(racy_storage.store) == ["/bucket/in/doc.pdf"]


# ---------------------------------------------------------------------- temporary files of killed tasks

_CHILD = """
import sys
from airflow_provider_zoho_attach.hooks.zoho_crm import ZohoCRMHook

record, attachment, destination = sys.argv[1:]
result = ZohoCRMHook().download_attachment("Deals", record, attachment, destination)
print(result["path"], flush=True)
"""

BIG = hashlib.sha256(b"big").digest() * (3 * 1024 * 1024 // 32)  # 3 MiB: half of it is one full chunk


def _start_download(record, attachment, destination):
    """A real download in another process (the connection comes from the environment)."""
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, record, attachment, str(destination)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _temp_files(directory):
    return sorted(p for p in Path(directory).iterdir() if p.name.startswith(".zoho-download-"))


def _wait_for_temp_files(directory, count, children, *, timeout=90):
    """Wait until ``count`` temporary files hold at least one chunk (the downloads are mid-body)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in children:
            assert child.poll() is None, child.communicate()
        found = _temp_files(directory)
        if len(found) == count and all(p.stat().st_size >= 1024 * 1024 for p in found):
            return found
        time.sleep(0.05)
    raise AssertionError(f"no {count} temporary files in {directory}: {os.listdir(directory)}")


def test_temp_files_of_killed_downloads_are_removed_and_running_ones_kept(
    zoho_emulator_connection, make_hook, tmp_path
):
    import signal
    import time

    emu = zoho_emulator_connection
    record = emu.add_record("Deals")
    killed = emu.add_attachment("Deals", record, "killed.bin", BIG)
    running = emu.add_attachment("Deals", record, "running.bin", BIG[::-1])
    later = emu.add_attachment("Deals", record, "later.txt", b"later")
    # Each body stops half-way, so each process is caught mid-download, for longer than the test
    # needs: the running one goes on when the test releases it, once the cleanup has run.
    emu.inject_fault("slow_body", path=f"/Attachments/{killed}$", delay=120)
    emu.inject_fault("slow_body", path=f"/Attachments/{running}$", delay=120)
    destination = tmp_path / "in"
    destination.mkdir()
    children = [_start_download(record, ident, destination) for ident in (killed, running)]
    parts = _wait_for_temp_files(destination, 2, children)
    # Whose is whose: the bytes tell.
    (killed_part,) = [p for p in parts if p.read_bytes()[:64] == BIG[:64]]
    (running_part,) = [p for p in parts if p != killed_part]
    children[0].send_signal(signal.SIGKILL)
    children[0].wait(10)
    # Old enough to be anybody's leftover: only the lock tells a running download from a dead one.
    an_hour_ago = time.time() - 3600
    for part in (killed_part, running_part):
        os.utime(part, (an_hour_ago, an_hour_ago))

    hook = make_hook()
    result = hook.download_attachment("Deals", record, later, destination)
    assert Path(result["path"]).read_bytes() == b"later"

    assert not killed_part.exists()
    assert running_part.exists()
    emu.release_stalls()
    out, err = children[1].communicate(timeout=60)
    assert children[1].returncode == 0, err
    assert Path(out.strip()).read_bytes() == BIG[::-1]
    assert sorted(os.listdir(destination)) == ["later.txt", "running.bin"]


def test_uploads_never_pick_up_temporary_files(tmp_path, memory_storage):
    from airflow_provider_zoho_attach.utils.transfer import expand_sources

    (tmp_path / "a.txt").write_bytes(b"a")
    (tmp_path / ".zoho-download-k2j3h4.part").write_bytes(b"half")
    assert [p.name for p in expand_sources(tmp_path)] == ["a.txt"]
    assert [p.name for p in expand_sources(f"{tmp_path}/*")] == ["a.txt"]
    with pytest.raises(ZohoCRMInvalidRequestError, match="matched none"):
        expand_sources(f"{tmp_path}/.*")
    memory_storage.pipe_file("/bucket/up/a.txt", b"a")
    memory_storage.pipe_file("/bucket/up/.zoho-download-0a1b2c3d4e5f6a7b.part", b"half")
    assert [p.name for p in expand_sources("memory://bucket/up/")] == ["a.txt"]
    assert [p.name for p in expand_sources("memory://bucket/up/*")] == ["a.txt"]


def test_only_old_unlocked_temp_files_count_as_leftovers(tmp_path, monkeypatch):
    import time

    from airflow_provider_zoho_attach.utils import tempfiles, transfer

    monkeypatch.setattr(tempfiles, "_SWEPT", {})  # where it is looked up
    old, fresh, other = (tmp_path / f".zoho-download-{n}.part" for n in ("old", "fresh", "x"))
    for path in (old, fresh):
        path.write_bytes(b"half")
    (tmp_path / "mine.part").write_bytes(b"a user's file")
    outside = tmp_path / "outside"
    outside.write_bytes(b"not a temp file")
    other.symlink_to(outside)  # a symlink dressed as a temp file: neither followed nor removed
    an_hour_ago = time.time() - 3600
    for path in (old, outside):
        os.utime(path, (an_hour_ago, an_hour_ago))
    os.utime(other, (an_hour_ago, an_hour_ago), follow_symlinks=False)

    assert transfer.remove_stale_temp_files(tmp_path) == [str(old)]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [fresh.name, other.name, "mine.part", "outside"]
    )
    # Swept once per STALE_TEMP_AGE: the next download into it does not list it again.
    fresh.touch()
    os.utime(fresh, (an_hour_ago, an_hour_ago))
    assert transfer.remove_stale_temp_files(tmp_path) == []
