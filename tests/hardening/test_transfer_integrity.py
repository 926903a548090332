"""
Integrity of downloaded files (issue 12): new directories, same-named attachments, file modes and
the temporary files of killed tasks.

Object storage is fsspec's memory filesystem; where a race must happen for sure, a small subclass
of it (``tmem://``) makes two threads check a name before either writes, or fails a write.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from airflow_provider_zoho_attach.operators.attachments import ZohoCRMDownloadAttachmentsOperator

pytestmark = pytest.mark.integration


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

    from airflow_provider_zoho_attach.utils import transfer

    real_open = builtins.open

    def no_proc(file, *args, **kwargs):
        if str(file).startswith("/proc/"):
            raise FileNotFoundError(2, "no /proc here")
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", no_proc)
    monkeypatch.setattr(transfer, "_FALLBACK_UMASK", [])
    umask(0o027)
    assert oct(transfer.new_file_mode()) == oct(0o640)
    assert oct(transfer.new_file_mode()) == oct(0o640)  # cached: the umask was set only once
    previous = os.umask(0o027)
    assert oct(previous) == oct(0o027)  # and put back as it was
