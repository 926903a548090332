"""ZohoCRMMirrorAttachmentsOperator.execute against the emulator over real HTTP (the DAG: tests/e2e)."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import pytest

from airflow_provider_zoho_attach.exceptions import ZohoCRMCreditBudgetError, ZohoCRMInvalidRequestError
from airflow_provider_zoho_attach.operators.mirror import ZohoCRMMirrorAttachmentsOperator
from airflow_provider_zoho_attach.utils.mirror import CHECKPOINT_NAME, MANIFEST_NAME

WON = "Stage = 'Closed Won'"


def mirror(destination, **kwargs):
    kwargs.setdefault("module", "Deals")
    kwargs.setdefault("where", WON)
    return ZohoCRMMirrorAttachmentsOperator(task_id="mirror", destination=destination, **kwargs)


def run(destination, **kwargs):
    """One run, with a fresh operator (hook and credit count), like a new task try."""
    return mirror(destination, **kwargs).execute({})


def manifest(destination) -> dict[str, dict]:
    lines = Path(destination, MANIFEST_NAME).read_text().splitlines()
    return {entry["attachment_id"]: entry for entry in map(json.loads, lines)}


def downloads(emulator) -> int:
    return sum(1 for r in emulator.requests if r.method == "GET" and "/Attachments/" in r.path)


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def deals(zoho_emulator_connection):
    """Three deals: two won with files (one with a link too), one lost with a file."""
    emulator = zoho_emulator_connection
    won1, won2, lost = emulator.add_records(
        "Deals", [{"Stage": "Closed Won"}, {"Stage": "Closed Won"}, {"Stage": "Closed Lost"}]
    )
    files = {
        emulator.add_attachment("Deals", won1, "contract.pdf", b"contract one"): (won1, b"contract one"),
        emulator.add_attachment("Deals", won1, "notes.txt", b"notes"): (won1, b"notes"),
        emulator.add_attachment("Deals", won2, "invoice.pdf", b"invoice two"): (won2, b"invoice two"),
    }
    emulator.add_link_attachment("Deals", won2, "https://example.com/doc")
    emulator.add_attachment("Deals", lost, "lost.pdf", b"lost")
    emulator.reset_log()
    return {"won": [won1, won2], "lost": lost, "files": files}


def assert_agrees(destination, emulator, module="Deals"):
    """The manifest's present lines are exactly Zoho's files, each at its path with its bytes."""
    entries = manifest(destination)
    for aid, entry in entries.items():
        path = Path(destination, entry["path"])
        if entry["status"] == "present":
            content = emulator.attachment_content(aid)
            assert path.read_bytes() == content
            assert entry["sha256"] == hashlib.sha256(content).hexdigest()
            assert entry["size"] == len(content)
    assert not Path(destination, CHECKPOINT_NAME).exists()


def test_first_run_mirrors_the_selection_and_writes_the_manifest(deals, zoho_emulator_connection, tmp_path):
    emulator = zoho_emulator_connection
    summary = run(tmp_path)
    won1, won2 = deals["won"]
    assert summary["records"] == 2
    assert summary["attachments"] == 3
    assert summary["downloaded"] == 3
    assert summary["unchanged"] == summary["deleted"] == 0
    assert summary["bytes"] == len(b"contract one") + len(b"notes") + len(b"invoice two")
    # Selection (one COQL page of limit 2,000: 3 credits), two listings, three downloads.
    assert summary["credits"] == 3 + 2 + 3
    assert summary["manifest"] == str(tmp_path / MANIFEST_NAME)
    assert tree(tmp_path).keys() == {
        MANIFEST_NAME,
        f"Deals/{won1}/contract.pdf",
        f"Deals/{won1}/notes.txt",
        f"Deals/{won2}/invoice.pdf",
    }
    entries = manifest(tmp_path)
    assert set(entries) == set(deals["files"])
    entry = next(e for e in entries.values() if e["name"] == "invoice.pdf")
    assert entry["module"] == "Deals"
    assert entry["record_id"] == won2
    assert entry["path"] == f"Deals/{won2}/invoice.pdf"
    assert entry["status"] == "present"
    assert entry["field"] is None
    assert entry["created_time"]
    assert entry["modified_time"]
    assert entry["mirrored_at"]
    assert_agrees(tmp_path, emulator)
    assert downloads(emulator) == 3


def test_rerun_with_nothing_changed_transfers_nothing(deals, zoho_emulator_connection, tmp_path):
    emulator = zoho_emulator_connection
    run(tmp_path)
    before = tree(tmp_path)
    emulator.reset_log()
    summary = run(tmp_path)
    assert summary["downloaded"] == 0
    assert summary["bytes"] == 0
    assert summary["unchanged"] == 3
    # Credits = selection + one list call per record.
    assert summary["credits"] == 3 + 2
    assert downloads(emulator) == 0
    after = tree(tmp_path)
    assert {k: v for k, v in after.items() if k != MANIFEST_NAME} == {
        k: v for k, v in before.items() if k != MANIFEST_NAME
    }


def test_new_attachments_are_exactly_the_downloads(deals, zoho_emulator_connection, tmp_path):
    emulator = zoho_emulator_connection
    run(tmp_path)
    won1, won2 = deals["won"]
    for i in range(4):
        emulator.add_attachment("Deals", won1 if i % 2 else won2, f"new-{i}.txt", f"new {i}".encode())
    emulator.reset_log()
    summary = run(tmp_path)
    assert summary["downloaded"] == 4
    assert summary["unchanged"] == 3
    assert downloads(emulator) == 4
    assert_agrees(tmp_path, emulator)


def test_a_changed_attachment_is_downloaded_again_in_place(deals, zoho_emulator_connection, tmp_path):
    emulator = zoho_emulator_connection
    run(tmp_path)
    aid = next(a for a, (_, content) in deals["files"].items() if content == b"notes")
    # Zoho has no in-place edit; the emulator's store is changed behind its API to play one.
    stored = emulator._store.attachments[aid]
    stored.data, stored.path, stored.size = b"notes, edited", None, len(b"notes, edited")
    stored.full.update({"Size": str(stored.size), "Modified_Time": "2030-01-01T00:00:00+00:00"})
    emulator.reset_log()
    summary = run(tmp_path)
    assert summary["downloaded"] == 1
    assert summary["unchanged"] == 2
    entry = manifest(tmp_path)[aid]
    assert Path(tmp_path, entry["path"]).read_bytes() == b"notes, edited"
    assert entry["path"].endswith("/notes.txt")
    assert entry["modified_time"] == "2030-01-01T00:00:00+00:00"
    assert_agrees(tmp_path, emulator)


def test_deleted_attachment_becomes_a_tombstone_and_delete_missing_removes_it(
    deals, zoho_emulator_connection, tmp_path
):
    emulator = zoho_emulator_connection
    run(tmp_path)
    aid, (record_id, _) = next(iter(deals["files"].items()))
    path = Path(tmp_path, manifest(tmp_path)[aid]["path"])
    assert emulator._store.delete_attachment(emulator._store.get_record("Deals", record_id), aid)
    summary = run(tmp_path)
    assert summary["deleted"] == 1
    assert summary["removed"] == 0
    assert manifest(tmp_path)[aid]["status"] == "deleted"
    assert path.exists()  # kept without delete_missing
    summary = run(tmp_path, delete_missing=True)
    assert summary["deleted"] == 0  # already a tombstone
    assert summary["removed"] == 1
    assert not path.exists()
    assert manifest(tmp_path)[aid]["status"] == "deleted"
    assert_agrees(tmp_path, emulator)


def test_a_record_that_leaves_the_selection_is_tombstoned(deals, zoho_emulator_connection, tmp_path):
    emulator = zoho_emulator_connection
    run(tmp_path)
    won1, _won2 = deals["won"]
    emulator._store.get_record("Deals", won1).values["Stage"] = "Closed Lost"
    summary = run(tmp_path, delete_missing="true")
    assert summary["records"] == 1
    assert summary["deleted"] == 2
    assert summary["removed"] == 2
    assert not Path(tmp_path, "Deals", won1).exists() or not any(Path(tmp_path, "Deals", won1).iterdir())
    assert {e["status"] for e in manifest(tmp_path).values() if e["record_id"] == won1} == {"deleted"}


def test_two_attachments_with_one_name_and_a_foreign_file_are_all_kept(zoho_emulator_connection, tmp_path):
    emulator = zoho_emulator_connection
    (record_id,) = emulator.add_records("Deals", [{"Stage": "Closed Won"}])
    first = emulator.add_attachment("Deals", record_id, "scan.pdf", b"first scan")
    second = emulator.add_attachment("Deals", record_id, "scan.pdf", b"second scan")
    emulator.add_attachment("Deals", record_id, "mine.txt", b"from zoho")
    foreign = tmp_path / "Deals" / record_id / "mine.txt"
    foreign.parent.mkdir(parents=True)
    foreign.write_bytes(b"the user's own file")
    other = tmp_path / "unrelated.csv"
    other.write_bytes(b"a,b")
    summary = run(tmp_path, delete_missing=True)
    assert summary["downloaded"] == 3
    entries = manifest(tmp_path)
    assert entries[first]["path"] == f"Deals/{record_id}/scan.pdf"
    assert entries[second]["path"] == f"Deals/{record_id}/scan ({second}).pdf"
    assert entries[second]["path"] != entries[first]["path"]
    assert foreign.read_bytes() == b"the user's own file"
    assert other.read_bytes() == b"a,b"
    assert_agrees(tmp_path, emulator)
    # Every attachment gone, with delete_missing: the foreign files stay.
    for aid in list(entries):
        emulator._store.delete_attachment(emulator._store.get_record("Deals", record_id), aid)
    summary = run(tmp_path, delete_missing=True)
    assert summary["removed"] == 3
    assert foreign.read_bytes() == b"the user's own file"
    assert other.read_bytes() == b"a,b"
    assert tree(tmp_path).keys() == {MANIFEST_NAME, f"Deals/{record_id}/mine.txt", "unrelated.csv"}


class Killed(BaseException):
    """The process dying: not an error the operator may catch."""


def kill_after(monkeypatch, count: int) -> None:
    """Make the hook's download die after ``count`` completed downloads (any thread)."""
    from airflow_provider_zoho_attach.hooks.zoho_crm import ZohoCRMHook

    original = ZohoCRMHook.download_attachment
    lock = threading.Lock()
    done = [0]

    def download(self, *args, **kwargs):
        with lock:
            if done[0] >= count:
                raise Killed
        result = original(self, *args, **kwargs)
        with lock:
            done[0] += 1
        return result

    monkeypatch.setattr(ZohoCRMHook, "download_attachment", download)


def test_a_killed_run_resumes_without_downloading_twice(zoho_emulator_connection, tmp_path, monkeypatch):
    emulator = zoho_emulator_connection
    ids = emulator.add_records("Deals", [{"Stage": "Closed Won"} for _ in range(6)])
    for record_id in ids:
        emulator.add_attachments_bulk("Deals", record_id, 3, size=1000)
    emulator.reset_log()
    with monkeypatch.context() as patch:
        kill_after(patch, 7)
        with pytest.raises(Killed):
            run(tmp_path, max_concurrency=3)
    assert not Path(tmp_path, MANIFEST_NAME).exists()
    assert Path(tmp_path, CHECKPOINT_NAME).exists()
    first = downloads(emulator)
    assert first >= 7
    emulator.reset_log()
    summary = run(tmp_path, max_concurrency=3)
    assert summary["downloaded"] + summary["unchanged"] == 18
    assert summary["unchanged"] >= 7
    # Every file fetched once over both runs: the resume took the checkpointed ones as they were.
    assert first + downloads(emulator) == 18
    assert_agrees(tmp_path, emulator)


def test_a_torn_checkpoint_line_is_ignored(deals, zoho_emulator_connection, tmp_path, monkeypatch):
    emulator = zoho_emulator_connection
    with monkeypatch.context() as patch:
        kill_after(patch, 1)
        with pytest.raises(Killed):
            run(tmp_path, max_concurrency=1)
    with open(tmp_path / CHECKPOINT_NAME, "a") as handle:
        handle.write('{"module": "Deals", "rec')
    emulator.reset_log()
    summary = run(tmp_path)
    assert summary["downloaded"] == 2
    assert summary["unchanged"] == 1
    assert_agrees(tmp_path, emulator)


def test_a_checkpointed_file_damaged_on_disk_is_downloaded_again(
    zoho_emulator_connection, tmp_path, monkeypatch
):
    emulator = zoho_emulator_connection
    (record_id,) = emulator.add_records("Deals", [{"Stage": "Closed Won"}])
    emulator.add_attachments_bulk("Deals", record_id, 2, size=100)
    with monkeypatch.context() as patch:
        kill_after(patch, 1)
        with pytest.raises(Killed):
            run(tmp_path, max_concurrency=1)
    (line,) = Path(tmp_path, CHECKPOINT_NAME).read_text().splitlines()
    damaged = Path(tmp_path, json.loads(line)["path"])
    damaged.write_bytes(b"x" * 100)  # same size, other bytes
    summary = run(tmp_path)
    assert summary["downloaded"] == 2
    assert_agrees(tmp_path, emulator)


def test_max_credits_stops_before_the_budget_then_resumes(zoho_emulator_connection, tmp_path):
    emulator = zoho_emulator_connection
    ids = emulator.add_records("Deals", [{"Stage": "Closed Won"} for _ in range(4)])
    for record_id in ids:
        emulator.add_attachments_bulk("Deals", record_id, 2, size=50)
    emulator.reset_log()
    # 3 (selection) + 4 (listings) + 8 (downloads) = 15 needed; 10 allows 3 downloads at most.
    operator = mirror(tmp_path, max_credits=10, max_concurrency=1)
    with pytest.raises(ZohoCRMCreditBudgetError) as caught:
        operator.execute({})
    error = caught.value
    assert error.code == "CREDIT_BUDGET_EXCEEDED"
    assert "max_credits=10" in str(error)
    assert "Raise max_credits" in str(error)
    assert operator.hook.credits.used <= 10
    assert not Path(tmp_path, MANIFEST_NAME).exists()
    first = downloads(emulator)
    assert first >= 1
    emulator.reset_log()
    summary = run(tmp_path, max_credits="100")
    assert summary["downloaded"] == 8 - first
    assert summary["unchanged"] == first
    assert_agrees(tmp_path, emulator)


def test_a_retried_call_never_takes_the_task_past_max_credits(zoho_emulator_connection, tmp_path):
    emulator = zoho_emulator_connection
    ids = emulator.add_records("Deals", [{"Stage": "Closed Won"} for _ in range(2)])
    for record_id in ids:
        emulator.add_attachments_bulk("Deals", record_id, 2, size=50)
    # 3 (selection) + 1 (the first record's listing) = 4, and the budget allows one download more;
    # but Zoho answers it with a 500, and its retry is one call more than the budget.
    emulator.inject_fault("status", status=500, count=1, method="GET", path="/Attachments/[0-9]+$")
    operator = mirror(tmp_path, max_credits=5, max_concurrency=1)
    with pytest.raises(ZohoCRMCreditBudgetError):
        operator.execute({})
    assert operator.hook.credits.used <= 5
    # Stopped before the retry was sent: no file was written, not even a partial one.
    assert [p.name for p in Path(tmp_path).rglob("*") if p.is_file()] in ([], [CHECKPOINT_NAME])
    emulator.reset_log()
    summary = run(tmp_path, max_credits="100")
    assert summary["downloaded"] + summary["unchanged"] == 4
    assert_agrees(tmp_path, emulator)


def test_dry_run_lists_and_plans_but_writes_nothing(deals, zoho_emulator_connection, tmp_path, capsys):
    emulator = zoho_emulator_connection
    destination = tmp_path / "mirror"
    summary = run(destination, dry_run=True)
    assert summary["dry_run"] is True
    assert summary["downloaded"] == 0
    assert summary["to_download"] == 3
    assert summary["bytes_to_download"] == len(b"contract one") + len(b"notes") + len(b"invoice two")
    assert summary["estimated_credits"] == 3 + 2 + 3
    assert not destination.exists()
    assert downloads(emulator) == 0
    assert "Dry run: 2 record(s), 2 list call(s); 3 file(s) to download" in capsys.readouterr().out
    run(destination)
    before = tree(destination)
    summary = run(destination, dry_run="True", delete_missing=True)
    assert summary["to_download"] == 0
    assert summary["unchanged"] == 3
    assert tree(destination) == before


def test_explicit_records_and_field_files(zoho_emulator_connection, zoho_deal_with_files, tmp_path):
    emulator = zoho_emulator_connection
    record_id = zoho_deal_with_files["record_id"]
    aid = emulator.add_attachment("Deals", record_id, "a.txt", b"attachment")
    emulator.reset_log()
    summary = run(tmp_path, where=None, records=[record_id], include_field_files=True)
    field_files = zoho_deal_with_files["field_files"]
    assert summary["records"] == 1
    assert summary["downloaded"] == 1 + len(field_files)
    entries = manifest(tmp_path)
    assert entries[aid]["field"] is None
    fields = {e["field"] for e in entries.values() if e["field"] is not None}
    assert fields == {f["field"] for f in field_files}
    for entry in entries.values():
        assert Path(tmp_path, entry["path"]).stat().st_size == entry["size"]
    again = run(tmp_path, where=None, records=record_id, include_field_files=True)
    assert again["downloaded"] == 0
    assert again["unchanged"] == summary["downloaded"]


def test_object_storage_destination(deals, zoho_emulator_connection, flaky_object_store):
    destination = "flakymem://bucket/mirror/"
    summary = run(destination)
    assert summary["downloaded"] == 3
    assert summary["manifest"].endswith("bucket/mirror/manifest.jsonl")
    files = flaky_object_store.files()
    lines = [json.loads(line) for line in files["/bucket/mirror/manifest.jsonl"].decode().splitlines()]
    assert len(lines) == 3
    for entry in lines:
        assert files[f"/bucket/mirror/{entry['path']}"] == zoho_emulator_connection.attachment_content(
            entry["attachment_id"]
        )
    assert not any("checkpoint" in name for name in files)
    again = run(destination)
    assert again["downloaded"] == 0
    assert again["unchanged"] == 3


def test_object_storage_resume_from_the_checkpoint_objects(
    zoho_emulator_connection, flaky_object_store, monkeypatch
):
    emulator = zoho_emulator_connection
    ids = emulator.add_records("Deals", [{"Stage": "Closed Won"} for _ in range(3)])
    for record_id in ids:
        emulator.add_attachments_bulk("Deals", record_id, 2, size=10)
    emulator.reset_log()
    destination = "flakymem://bucket/m"
    with monkeypatch.context() as patch:
        kill_after(patch, 3)
        with pytest.raises(Killed):
            run(destination, max_concurrency=1)
    assert sum("manifest.jsonl.checkpoint/" in name for name in flaky_object_store.files()) == 3
    emulator.reset_log()
    summary = run(destination)
    assert summary["downloaded"] == 3
    assert summary["unchanged"] == 3
    assert downloads(emulator) == 3
    assert not any("checkpoint" in name for name in flaky_object_store.files())


def test_bad_arguments_fail_before_any_request(zoho_emulator_connection, tmp_path):
    with pytest.raises(ZohoCRMInvalidRequestError, match="at most one of records, where and criteria"):
        run(tmp_path, records="1", where=WON)
    with pytest.raises(ZohoCRMInvalidRequestError, match="max_credits"):
        run(tmp_path, max_credits=0)
    with pytest.raises(ZohoCRMInvalidRequestError, match="dry_run"):
        run(tmp_path, dry_run="maybe")
    with pytest.raises(ZohoCRMInvalidRequestError, match="records"):
        run(tmp_path, where=None, records="12a")
    assert zoho_emulator_connection.requests == []


def test_modified_since_mirrors_only_changed_records_and_tombstones_nothing_else(deals, tmp_path):
    run(tmp_path)
    summary = run(tmp_path, modified_since="2099-01-01T00:00:00Z")
    assert summary["records"] == 0
    assert summary["deleted"] == 0
    assert {e["status"] for e in manifest(tmp_path).values()} == {"present"}


def test_a_record_whose_listing_fails_keeps_its_lines_and_the_others_are_mirrored(
    deals, zoho_emulator_connection, tmp_path
):
    from airflow_provider_zoho_attach.exceptions import ZohoCRMError

    emulator = zoho_emulator_connection
    run(tmp_path)
    won1, won2 = deals["won"]
    emulator.add_attachment("Deals", won2, "new.txt", b"new")
    emulator.inject_fault("status", status=400, count=1, path=f"/Deals/{won1}/Attachments$")
    with pytest.raises(ZohoCRMError) as caught:
        run(tmp_path)
    # One record failed, the rest succeeded: the task fails after writing what it did.
    assert caught.value.code == "PARTIAL_FAILURE"
    assert f"Deals/{won1}" in str(caught.value)
    entries = manifest(tmp_path)
    # won1's files are not taken for gone because its listing failed; won2's new file is in.
    assert {e["status"] for e in entries.values() if e["record_id"] == won1} == {"present"}
    assert len([e for e in entries.values() if e["record_id"] == won1]) == 2
    assert any(e["name"] == "new.txt" for e in entries.values())
    assert not Path(tmp_path, CHECKPOINT_NAME).exists()


def test_a_capped_search_says_so_and_tombstones_nothing_outside_it(zoho_emulator_connection, tmp_path):
    emulator = zoho_emulator_connection
    ids = emulator.add_records("Deals", [{"Stage": "Open"} for _ in range(2001)])
    emulator.add_attachment("Deals", ids[-1], "last.txt", b"the 2,001st deal's file")
    run(tmp_path, where=None, records=[ids[-1]])
    assert len(manifest(tmp_path)) == 1
    summary = run(tmp_path, where=None, criteria="(Stage:equals:Open)", delete_missing=True)
    assert summary["capped"] is True
    assert summary["records"] == 2000
    assert summary["deleted"] == summary["removed"] == 0
    assert {e["status"] for e in manifest(tmp_path).values()} == {"present"}


def test_every_record_modified_since_costs_one_get_records_page_and_the_budget_knows_it(
    zoho_emulator_connection, tmp_path
):
    emulator = zoho_emulator_connection
    ids = emulator.add_records("Deals", [{"Stage": "Open"} for _ in range(3)])
    for record_id in ids:
        emulator.add_attachment("Deals", record_id, "a.txt", b"a")
    since = "2000-01-01T00:00:00Z"
    # 1 (Get Records with If-Modified-Since) + 3 listings + 3 downloads.
    summary = run(tmp_path / "exact", where=None, modified_since=since, max_credits=7)
    assert summary["credits"] == 7
    assert summary["downloaded"] == 3
    operator = mirror(tmp_path / "short", where=None, modified_since=since, max_credits=6)
    with pytest.raises(ZohoCRMCreditBudgetError):
        operator.execute({})
    assert operator.hook.credits.used <= 6


def test_a_lost_manifest_is_rebuilt_taking_over_identical_files_without_duplicates(deals, tmp_path):
    run(tmp_path)
    before = tree(tmp_path)
    # A file committed just before a kill, before its checkpoint line, looks the same: unowned.
    Path(tmp_path, MANIFEST_NAME).unlink()
    summary = run(tmp_path)
    assert summary["downloaded"] == 3  # compared by their bytes, so fetched once more
    assert tree(tmp_path) == before  # the same files, no "name (id).ext" copies
    assert {e["path"] for e in manifest(tmp_path).values()} == set(before) - {MANIFEST_NAME}


def test_a_foreign_file_of_the_same_size_with_other_bytes_is_kept(zoho_emulator_connection, tmp_path):
    emulator = zoho_emulator_connection
    (record_id,) = emulator.add_records("Deals", [{"Stage": "Closed Won"}])
    aid = emulator.add_attachment("Deals", record_id, "mine.txt", b"from zoho")
    foreign = tmp_path / "Deals" / record_id / "mine.txt"
    foreign.parent.mkdir(parents=True)
    foreign.write_bytes(b"user file")  # 9 bytes, as Zoho's
    emulator.reset_log()
    summary = run(tmp_path)
    assert summary["downloaded"] == 1
    assert summary["credits"] == 3 + 1 + 2  # the comparison was a download too
    assert foreign.read_bytes() == b"user file"
    assert manifest(tmp_path)[aid]["path"] == f"Deals/{record_id}/mine ({aid}).txt"
    assert_agrees(tmp_path, emulator)
