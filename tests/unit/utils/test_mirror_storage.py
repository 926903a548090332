"""The mirror's destination I/O (utils/mirror_storage.py): manifest, checkpoint, inventory."""

from __future__ import annotations

import hashlib
import os

import pytest

from airflow_provider_zoho_attach.exceptions import ZohoCRMTransferError
from airflow_provider_zoho_attach.utils.mirror import RemoteFile, present_entry
from airflow_provider_zoho_attach.utils.mirror_storage import MirrorStore


def entry(aid: str, path: str, content: bytes):
    remote = RemoteFile(aid, path.rsplit("/", 1)[-1], len(content), None, None)
    return present_entry(
        "Deals",
        "1",
        remote,
        path=path,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        now="t",
    )


def test_manifest_replaced_whole_and_nothing_left_beside_it(tmp_path):
    store = MirrorStore(str(tmp_path))
    assert store.read_manifest() == {}
    store.write_manifest([entry("1", "Deals/1/a.txt", b"a")])
    store.write_manifest([entry("2", "Deals/1/b.txt", b"b")])
    assert list(store.read_manifest()) == [("Deals", "1", "2")]
    assert sorted(os.listdir(tmp_path)) == ["manifest.jsonl"]


def test_checkpoint_appends_and_ends_a_torn_line_before_the_next(tmp_path):
    store = MirrorStore(tmp_path)
    writer = store.open_checkpoint()
    writer.append(entry("1", "Deals/1/a.txt", b"a"))
    writer.close()
    with open(store.checkpoint, "a") as handle:
        handle.write('{"torn":')  # a run killed mid-line
    writer = store.open_checkpoint()
    writer.append(entry("2", "Deals/1/b.txt", b"b"))
    writer.close()
    with pytest.raises(ZohoCRMTransferError, match="line 2"):
        # The torn line is in the middle now: only a torn *last* line is tolerated...
        store.read_checkpoint()


def test_a_torn_tail_alone_is_dropped(tmp_path):
    store = MirrorStore(tmp_path)
    writer = store.open_checkpoint()
    writer.append(entry("1", "Deals/1/a.txt", b"a"))
    writer.close()
    with open(store.checkpoint, "a") as handle:
        handle.write('{"torn":')
    assert list(store.read_checkpoint()) == [("Deals", "1", "1")]
    store.clear_checkpoint()
    assert store.read_checkpoint() == {}


def test_inventory_lists_the_module_and_leaves_temp_files_out(tmp_path):
    (tmp_path / "Deals" / "1").mkdir(parents=True)
    (tmp_path / "Deals" / "1" / "a.txt").write_bytes(b"abc")
    (tmp_path / "Deals" / "1" / ".zoho-download-x.part").write_bytes(b"partial")
    (tmp_path / "Leads").mkdir()
    (tmp_path / "Leads" / "b.txt").write_bytes(b"b")
    store = MirrorStore(tmp_path)
    assert store.inventory("Deals") == {"Deals/1/a.txt": 3}
    assert store.inventory("Contacts") == {}


def test_verify_reads_size_and_digest(tmp_path):
    store = MirrorStore(tmp_path)
    line = entry("1", "Deals/1/a.txt", b"abc")
    assert not store.verify(line)
    (tmp_path / "Deals" / "1").mkdir(parents=True)
    (tmp_path / "Deals" / "1" / "a.txt").write_bytes(b"abd")
    assert not store.verify(line)
    (tmp_path / "Deals" / "1" / "a.txt").write_bytes(b"abc")
    assert store.verify(line)
    store.remove("Deals/1/a.txt")
    store.remove("Deals/1/a.txt")  # already gone: fine
    assert not store.verify(line)


def test_object_storage_checkpoint_is_one_object_per_line(flaky_object_store):
    store = MirrorStore("flakymem://bucket/m/")
    writer = store.open_checkpoint()
    writer.append(entry("1", "Deals/1/a.txt", b"a"))
    writer.append(entry("2", "Deals/1/b.txt", b"b"))
    writer.close()
    names = sorted(flaky_object_store.files())
    assert len(names) == 2
    assert all(name.startswith("/bucket/m/manifest.jsonl.checkpoint/") for name in names)
    assert list(store.read_checkpoint()) == [("Deals", "1", "1"), ("Deals", "1", "2")]
    store.write_manifest(store.read_checkpoint().values())
    store.clear_checkpoint()
    assert list(flaky_object_store.files()) == ["/bucket/m/manifest.jsonl"]
    assert list(store.read_manifest()) == [("Deals", "1", "1"), ("Deals", "1", "2")]


def test_object_storage_errors_are_provider_errors(flaky_object_store):
    store = MirrorStore("flakymem://bucket/m/")
    flaky_object_store.fail("commit", "bucket/m/manifest.jsonl", error=PermissionError("AccessDenied"))
    with pytest.raises(ZohoCRMTransferError, match="could not write the manifest") as caught:
        store.write_manifest([entry("1", "Deals/1/a.txt", b"a")])
    assert caught.value.code == "DESTINATION_ERROR"
