"""
The fault matrix's two other dimensions: what was already there, and a re-run of the same task.

The fault matrix (test_fault_matrix.py) starts every cell from fresh state. Here each row starts
from a state users live with (a file of that name already in the destination, identical or not;
two attachments sharing a name; an attachment of the same name and size already on the record;
ids already deleted), runs the operator with one fault armed, then runs the same task again with
no fault, as a retry or the next scheduled run would. After each run the invariants are checked:

* every attachment's bytes are in the destination exactly once, at the path its result names;
* a file that was already in the destination is neither lost nor replaced (no ``overwrite``);
* Zoho holds exactly the attachments it should: none taken for another, none duplicated;
* every result's status agrees with what happened, and nothing temporary is left behind.

:data:`EXPECTED` (first run, re-run) is what docs/hardening/index.rst shows, checked cell by cell.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_zoho_attach.operators.attachments import (
    ZohoCRMDeleteAttachmentOperator,
    ZohoCRMDownloadAttachmentsOperator,
    ZohoCRMUploadAttachmentOperator,
)

pytestmark = pytest.mark.integration

#: Faults armed on the first run's main requests (the second run has none).
FAULTS: dict[str, tuple[str, int, dict[str, Any]]] = {
    "none": ("", 0, {}),
    "429": ("429", 2, {}),
    "503": ("status", 2, {"status": 503}),
    "reset": ("reset", 1, {}),
    "commit_then_reset": ("commit_then_reset", 1, {}),
}

#: Row id -> (operation, what was already there).
ROWS: dict[str, tuple[str, str]] = {
    "download-local/empty": ("download to a local directory", "nothing"),
    "download-local/identical": ("download to a local directory", "the same file under its name"),
    "download-local/different": ("download to a local directory", "another file under its name"),
    "download-local/same-name": ("download to a local directory", "two attachments share one name"),
    "download-object/empty": ("download to object storage", "nothing"),
    "download-object/identical": ("download to object storage", "the same file under its name"),
    "download-object/different": ("download to object storage", "another file under its name"),
    "download-object/same-name": ("download to object storage", "two attachments share one name"),
    "upload/empty": ("upload (skip_if_exists)", "nothing on the record"),
    "upload/same-name-size": ("upload (skip_if_exists)", "same name and size, other bytes, on the record"),
    "upload/identical": ("upload (skip_if_exists)", "the same file on the record"),
    "upload-always/same-name-size": (
        "upload (skip_if_exists=False)",
        "same name and size, other bytes, on the record",
    ),
    "upload-always/identical": ("upload (skip_if_exists=False)", "the same file on the record"),
    "delete/present": ("delete", "every id present"),
    "delete/some-gone": ("delete", "one id already deleted"),
    "delete/all-gone": ("delete", "every id already deleted"),
}

#: Row id -> (statuses of the first run, of the re-run), whatever the fault.
EXPECTED: dict[str, tuple[str, str]] = {
    "download-local/empty": ("downloaded", "unchanged"),
    "download-local/identical": ("unchanged", "unchanged"),
    "download-local/different": ("downloaded (other file kept)", "unchanged"),
    "download-local/same-name": ("downloaded x2, two files", "unchanged"),
    "download-object/empty": ("downloaded", "unchanged"),
    "download-object/identical": ("unchanged", "unchanged"),
    "download-object/different": ("downloaded (other file kept)", "unchanged"),
    "download-object/same-name": ("downloaded x2, two files", "unchanged"),
    "upload/empty": ("uploaded", "skipped"),
    "upload/same-name-size": ("uploaded (theirs kept)", "skipped"),
    "upload/identical": ("skipped", "skipped"),
    "upload-always/same-name-size": ("uploaded (theirs kept)", "uploaded (one more)"),
    "upload-always/identical": ("uploaded (theirs kept)", "uploaded (one more)"),
    "delete/present": ("deleted", "missing"),
    "delete/some-gone": ("missing, deleted", "missing"),
    "delete/all-gone": ("missing", "missing"),
}

#: Faults after which Zoho may have done the work: an id found gone then reads "deleted".
LOST_ANSWER_FAULTS = ("503", "reset", "commit_then_reset")
#: (row, fault) -> outcomes where the fault changes them.
EXPECTED_AFTER_LOST_ANSWER: dict[str, tuple[str, str]] = {
    "delete/some-gone": ("deleted", "missing"),
    "delete/all-gone": ("deleted", "missing"),
}

NAME = "contract.pdf"
OURS = b"%PDF ours " * 400
THEIRS = b"%PDF them " * 400  # same size, other bytes


class Cell:
    """One row and fault: set up the state, run the task twice, describe what each run did."""

    def __init__(self, row: str, fault: str, env: dict[str, Any]) -> None:
        self.row, self.fault = row, fault
        self.kind, _, self.state = row.partition("/")
        self.emu = env["emu"]
        self.make_hook = env["make_hook"]
        self.context = env["context"]
        self.tmp: Path = env["tmp"]
        self.storage = env["storage"]
        self.record = self.emu.add_record("Deals")

    # ---------------------------------------------------------------- running

    def arm(self, method: str, path: str) -> None:
        kind, count, extra = FAULTS[self.fault]
        if kind:
            self.emu.inject_fault(kind, count=count, method=method, path=path, **extra)

    def run(self) -> tuple[str, str]:
        if self.kind.startswith("download"):
            return self.run_download()
        if self.kind.startswith("upload"):
            return self.run_upload()
        return self.run_delete()

    # ---------------------------------------------------------------- downloads

    def _destination(self) -> tuple[Any, Any]:
        """(what the operator gets, how the test reads and writes there)."""
        if self.kind == "download-local":
            directory = self.tmp / "dest"
            directory.mkdir(exist_ok=True)
            return str(directory), directory
        from airflow.sdk import ObjectStoragePath

        root = ObjectStoragePath(f"memory://bucket/{self.record}/")
        return str(root), root

    def run_download(self) -> tuple[str, str]:
        emu = self.emu
        expected = {emu.add_attachment("Deals", self.record, NAME, OURS): OURS}
        if self.state == "same-name":
            expected[emu.add_attachment("Deals", self.record, NAME, THEIRS)] = THEIRS
        destination, where = self._destination()
        before: dict[str, bytes] = {}
        if self.state in ("identical", "different"):
            (where / NAME).write_bytes(OURS if self.state == "identical" else THEIRS)
            before[NAME] = (where / NAME).read_bytes()
        outcomes = []
        for run in (1, 2):
            op = ZohoCRMDownloadAttachmentsOperator(
                task_id="dl", module="Deals", record_id=self.record, destination=destination
            )
            op.hook = self.make_hook()
            if run == 1:
                op.hook.get_access_token()
                self.arm("GET", r"/Attachments/\d+$")
            results = op.execute(self.context)
            emu.clear_faults()
            outcomes.append(self._check_download(results, expected, before, where))
        return outcomes[0], outcomes[1]

    def _check_download(self, results, expected, before, where) -> str:
        files = {path.name: path.read_bytes() for path in where.iterdir() if path.is_file()}
        assert not [name for name in files if name.endswith(".part")], files
        by_id = {r["attachment_id"]: r for r in results}
        assert set(by_id) == set(expected), results
        paths = [r["path"] for r in results]
        assert len(set(paths)) == len(paths), f"two attachments reported at one path: {paths}"
        for ident, data in expected.items():
            name = by_id[ident]["file_name"]
            assert files[name] == data, f"{name} does not hold attachment {ident}"
            assert by_id[ident]["sha256"] == hashlib.sha256(data).hexdigest()
        for name, data in before.items():  # never lost or replaced without overwrite
            assert data in files.values(), f"the file that was at {name} is gone"
        assert len(files) == {"empty": 1, "identical": 1, "different": 2, "same-name": 2}[self.state], files
        statuses = sorted(r["status"] for r in results)
        if len(results) == 2 and statuses == ["downloaded", "downloaded"]:
            return "downloaded x2, two files"
        (status,) = set(statuses)
        if status == "downloaded" and self.state == "different":
            assert files[NAME] == THEIRS
            return "downloaded (other file kept)"
        return status

    # ---------------------------------------------------------------- uploads

    def run_upload(self) -> tuple[str, str]:
        emu = self.emu
        theirs = None
        if self.state == "same-name-size":
            theirs = emu.add_attachment("Deals", self.record, NAME, THEIRS)
        elif self.state == "identical":
            theirs = emu.add_attachment("Deals", self.record, NAME, OURS)
        outbox = self.tmp / "outbox"
        outbox.mkdir(exist_ok=True)
        (outbox / NAME).write_bytes(OURS)
        skip = self.kind == "upload"
        outcomes = []
        ours: set[str] = set()
        for run in (1, 2):
            op = ZohoCRMUploadAttachmentOperator(
                task_id="up", module="Deals", record_id=self.record, source=str(outbox), skip_if_exists=skip
            )
            op.hook = self.make_hook()
            if run == 1:
                op.hook.get_access_token()
                self.arm("POST", "/Attachments$")
            (result,) = op.execute(self.context)
            emu.clear_faults()
            stored = {a["id"]: emu.attachment_content(a["id"]) for a in emu.attachments("Deals", self.record)}
            if theirs is not None:  # never adopted, replaced or lost
                assert stored.get(theirs) == (THEIRS if self.state == "same-name-size" else OURS)
            if result["status"] == "uploaded":
                assert result["attachment_id"] != theirs, "took their attachment for ours"
                assert result["attachment_id"] not in ours, "reported an earlier upload as new"
                ours.add(result["attachment_id"])
                assert stored[result["attachment_id"]] == OURS
            # Exactly what was there, plus one attachment per upload reported: no lost-answer duplicate.
            assert len(stored) == (theirs is not None) + len(ours), stored
            outcomes.append(self._upload_status(result, theirs, run))
        return outcomes[0], outcomes[1]

    def _upload_status(self, result, theirs, run) -> str:
        if result["status"] != "uploaded":
            return result["status"]
        if run == 2:
            return "uploaded (one more)"
        return "uploaded (theirs kept)" if theirs is not None else "uploaded"

    # ---------------------------------------------------------------- deletes

    def run_delete(self) -> tuple[str, str]:
        emu = self.emu
        keep = emu.add_attachment("Deals", self.record, "keep.txt", b"keep")
        doomed = [emu.add_attachment("Deals", self.record, f"d{i}.txt", b"d") for i in range(2)]
        gone = {"present": [], "some-gone": doomed[:1], "all-gone": doomed}[self.state]
        hook = self.make_hook()
        for ident in gone:
            hook.delete_attachment("Deals", self.record, ident)
        outcomes = []
        for run in (1, 2):
            op = ZohoCRMDeleteAttachmentOperator(
                task_id="rm", module="Deals", record_id=self.record, attachment_ids=doomed
            )
            op.hook = self.make_hook()
            if run == 1:
                op.hook.get_access_token()
                self.arm("DELETE", "/Attachments$")
            results = op.execute(self.context)
            emu.clear_faults()
            assert [a["id"] for a in emu.attachments("Deals", self.record)] == [keep]
            statuses = [r["status"] for r in results]
            assert set(statuses) <= {"deleted", "missing"}, results
            if run == 1:
                for ident, status in zip(doomed, statuses, strict=True):
                    # After a lost answer an id found gone may have been deleted by the attempt whose
                    # answer was lost, or before: it reads "deleted". Never the other way round.
                    lost = self.fault in LOST_ANSWER_FAULTS
                    assert status == ("deleted" if ident not in gone or lost else "missing"), results
            outcomes.append(", ".join(dict.fromkeys(statuses)))
        return outcomes[0], outcomes[1]


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("row", list(ROWS))
def test_state_and_rerun(row, fault, zoho_emulator_connection, make_hook, context, tmp_path, memory_storage):
    cell = Cell(
        row,
        fault,
        {
            "emu": zoho_emulator_connection,
            "make_hook": make_hook,
            "context": context,
            "tmp": tmp_path,
            "storage": memory_storage,
        },
    )
    expected = EXPECTED[row]
    if fault in LOST_ANSWER_FAULTS:
        expected = EXPECTED_AFTER_LOST_ANSWER.get(row, expected)
    assert cell.run() == expected
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".part")]
