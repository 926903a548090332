"""
A model-based test of the mirror: random sequences of changes in Zoho and in the destination, and
mirror runs (with faults, kills and budget stops), against the real operator and the emulator.

Each sequence has three deals selected by a COQL condition (``Tag = '<sequence tag>'``) and a
destination (a local directory or a ``flakymem://`` object store). Steps:

* behind the mirror's back, in Zoho: attachments added (names repeat: same-name files), deleted,
  changed (new bytes and ``Modified_Time``, as Zoho has no in-place edit the emulator's store is
  changed directly), a deal moved out of the selection or back in;
* behind the mirror's back, in the destination: a foreign file put where an attachment's file
  could go, a mirrored file damaged (another size);
* a mirror run (``delete_missing`` on or off), optionally under a fault: a transient one of the
  emulator on the listing or a download (retried), a kill after K downloads (a ``BaseException``
  from the hook, as a dying process), or a ``max_credits`` too small to finish.

Invariants:

M1  After every completed run the manifest agrees with Zoho: its ``present`` lines are exactly
    the file attachments of the selected deals, with their ``Modified_Time``.
M2  ... and with the destination: each ``present`` line's file holds Zoho's bytes, with the
    line's size and SHA-256; no checkpoint is left; with ``delete_missing`` no tombstone's file is,
    unless its bytes were changed behind the mirror's back (then it is not the mirror's to remove).
M3  Foreign files are never changed or removed, whatever the run (completed, killed, stopped).
M4  The destination holds nothing else: the manifest (and, while a run is unfinished, its
    checkpoint), the manifest's files, foreign files; no temporary file.
M5  Nothing is downloaded twice: a run that follows a killed or stopped one, with no change in
    Zoho between them, downloads none of the files the stopped run checkpointed.
M6  A run under a transient fault completes; a budget stop raises ``CREDIT_BUDGET_EXCEEDED`` and
    never lets the task's credits pass ``max_credits``.
M7  A re-run right after a completed run, nothing changed, transfers no byte and costs exactly the
    selection (one COQL page, 3 credits) and one listing per selected deal.

``make test`` runs 25 sequences of up to 10 steps (derandomized, a few seconds); ``make fuzz``
runs 300 of up to 15.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from airflow_provider_zoho_attach.exceptions import ZohoCRMCreditBudgetError
from airflow_provider_zoho_attach.operators.mirror import ZohoCRMMirrorAttachmentsOperator
from airflow_provider_zoho_attach.testing.object_store import attach_flaky_store
from airflow_provider_zoho_attach.utils import tokens
from airflow_provider_zoho_attach.utils.credits import CreditMeter
from airflow_provider_zoho_attach.utils.mirror import CHECKPOINT_NAME, MANIFEST_NAME
from airflow_provider_zoho_attach.utils.mirror_storage import MirrorStore
from tests.model.conftest import MODEL_FUZZ

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(3600),
    pytest.mark.zoho_emulator(token_creation_limit=1_000_000),
]

MODULE = "Deals"
NAMES = ["report.pdf", "notes.txt", "Report.PDF", "scan.png"]
CONTENTS = [b"", b"AAAA", b"BBBB", b"hello, world\n", hashlib.sha256(b"big").digest() * 512]
FAULTS = [
    "none",
    "429@list",
    "status500@download",
    "reset@download",
    "truncated@download",
    "kill",
    "kill",
    "budget",
]
_DOWNLOAD = re.compile(r"/Attachments/(\d+)$")


class Killed(BaseException):
    """The worker process dying: not an error the operator may catch."""


class MirrorMachine(RuleBasedStateMachine):
    emu: Any
    make_hook: Any
    root: Path

    def __init__(self) -> None:
        super().__init__()
        self.emu.clear_faults()
        tokens.clear_memory_cache()
        self.tag = uuid.uuid4().hex[:10]
        self.deals = self.emu.add_records(MODULE, [{"Tag": self.tag} for _ in range(3)])
        self.selected = set(self.deals)
        self.foreign: dict[str, bytes] = {}  # relative path -> bytes
        self.hook = self.make_hook()
        self.store: MirrorStore | None = None
        self.local: Path | None = None
        self.files_fs: Any = None
        #: Attachment ids the last stopped run checkpointed, while Zoho has not changed since.
        self.checkpointed: set[str] | None = None
        #: Whether the last run completed and nothing changed since (a re-run must then fetch nothing).
        self.clean = False
        #: Files changed behind the mirror's back (delete_missing keeps a tombstone's file then).
        self.damaged: set[str] = set()
        self.edits = 0

    # ------------------------------------------------------------------ set-up

    @initialize(kind=st.sampled_from(["local", "store"]))
    def destination(self, kind: str) -> None:
        if kind == "local":
            self.local = self.root / f"mirror-{self.tag}"
            self.target: Any = str(self.local)
        else:
            self.files_fs = attach_flaky_store()
            self.target = f"flakymem://bucket/{self.tag}/"
        self.store = MirrorStore(self.target)

    @initialize(counts=st.lists(st.integers(0, 3), min_size=3, max_size=3))
    def seed_files(self, counts: list[int]) -> None:
        # Files from the start: kills and budget stops then fall in the middle of real work.
        for deal, count in zip(self.deals, counts, strict=True):
            self.emu.add_attachments_bulk(MODULE, deal, count, size=32, name_pattern="seed-{i}.txt")

    # ------------------------------------------------------------------ Zoho, behind the mirror's back

    @rule(deal=st.integers(0, 2), name=st.sampled_from(NAMES), content=st.sampled_from(CONTENTS))
    def add_attachment(self, deal: int, name: str, content: bytes) -> None:
        self.emu.add_attachment(MODULE, self.deals[deal], name, content)
        self.checkpointed = None
        self.clean = False

    @rule(data=st.data())
    def delete_attachment(self, data: st.DataObject) -> None:
        ids = sorted(self.zoho())
        if ids:
            aid = data.draw(st.sampled_from(ids))
            stored = self.emu._store.attachments[aid]
            self.emu._store.delete_attachment(self.emu._store.get_record(MODULE, stored.record_id), aid)
            self.checkpointed = None
            self.clean = False

    @rule(data=st.data(), content=st.sampled_from(CONTENTS))
    def change_attachment(self, data: st.DataObject, content: bytes) -> None:
        ids = sorted(self.zoho())
        if ids:
            stored = self.emu._store.attachments[data.draw(st.sampled_from(ids))]
            stored.data, stored.path, stored.size = content, None, len(content)
            self.edits += 1
            stamp = f"2030-01-01T00:{self.edits // 60:02d}:{self.edits % 60:02d}+00:00"
            stored.full.update({"Size": str(len(content)), "Modified_Time": stamp})
            self.checkpointed = None
            self.clean = False

    @rule(deal=st.integers(0, 2))
    def toggle_selection(self, deal: int) -> None:
        record_id = self.deals[deal]
        inside = record_id in self.selected
        self.emu._store.get_record(MODULE, record_id).values["Tag"] = "elsewhere" if inside else self.tag
        self.selected ^= {record_id}
        self.checkpointed = None
        self.clean = False

    # ------------------------------------------------------------------ the destination, behind its back

    @rule(deal=st.integers(0, 2), name=st.sampled_from(NAMES), own=st.sampled_from([b"", b"ZZZZ", b"AAAA"]))
    def put_foreign_file(self, deal: int, name: str, own: bytes) -> None:
        # b"ZZZZ": an attachment's size with other bytes; b"AAAA": maybe an attachment's very bytes,
        # which the mirror may take over (it cannot tell them from a file of its own).
        rel = f"{MODULE}/{self.deals[deal]}/{name}"
        if rel.casefold() in {p.casefold() for p in self.files()}:
            return
        content = own or b"the user's own " + name.encode()
        self.write(rel, content)
        self.foreign[rel] = content

    @rule(data=st.data())
    def damage_a_file(self, data: st.DataObject) -> None:
        present = sorted(e["path"] for e in self.manifest().values() if e["status"] == "present")
        present = [p for p in present if p in self.files()]
        if present:
            rel = data.draw(st.sampled_from(present))
            self.write(rel, self.read(rel) + b"!")
            self.damaged.add(rel)
            self.clean = False

    # ------------------------------------------------------------------ the mirror

    @rule(fault=st.sampled_from(FAULTS), delete_missing=st.booleans(), k=st.integers(0, 3))
    def mirror(self, fault: str, delete_missing: bool, k: int) -> None:
        self.emu.reset_log()
        self.hook.credits = CreditMeter()  # one task's credits
        limit = 3 + k * 2 if fault == "budget" else None
        op = ZohoCRMMirrorAttachmentsOperator(
            task_id="mirror",
            module=MODULE,
            where=f"Tag = '{self.tag}'",
            destination=self.target,
            delete_missing=delete_missing,
            max_credits=limit,
            max_concurrency=2,
        )
        op.hook = self.hook
        self.arm(fault, k)
        stop: BaseException | None = None
        try:
            summary = op.execute({})
        except (Killed, ZohoCRMCreditBudgetError) as error:
            stop = error
        finally:
            self.disarm()
        self.taken_over()
        self.check_no_second_download()
        if stop is not None:
            self.check_stopped(stop, fault, limit)
            self.checkpointed = self.checkpoint_ids()
            return
        self.checkpointed = None
        if limit is not None:
            assert summary["credits"] <= limit
        self.check_completed_run(delete_missing)
        self.clean = True

    @rule()
    def rerun_with_nothing_changed(self) -> None:
        if not self.clean:
            return
        self.emu.reset_log()
        self.hook.credits = CreditMeter()
        op = ZohoCRMMirrorAttachmentsOperator(
            task_id="mirror", module=MODULE, where=f"Tag = '{self.tag}'", destination=self.target
        )
        op.hook = self.hook
        summary = op.execute({})
        assert summary["downloaded"] == summary["bytes"] == 0, f"M7: a re-run fetched {summary}"
        assert summary["unchanged"] == len(self.zoho())
        # One COQL page (3 credits), one listing per selected deal: nothing else.
        assert summary["credits"] == 3 + len(self.selected), f"M7: a re-run cost {summary['credits']}"
        self.check_completed_run(delete_missing=False)

    def taken_over(self) -> None:
        """A foreign file the run took over (the attachment's very bytes) is the mirror's now."""
        assert self.store is not None
        lines = [*self.manifest().values(), *self.store.read_checkpoint().values()]
        owned = {e["path"]: e for e in lines if e["status"] == "present"}
        for rel in [rel for rel in self.foreign if rel in owned]:
            entry = owned[rel]
            assert self.foreign[rel] == self.emu.attachment_content(entry["attachment_id"]), (
                f"M3: foreign file {rel} taken over by {entry['attachment_id']} with other bytes"
            )
            del self.foreign[rel]

    def check_stopped(self, stop: BaseException, fault: str, limit: int | None) -> None:
        assert fault in ("kill", "budget"), f"M6: stopped by {stop!r} without a kill or a budget"
        if isinstance(stop, ZohoCRMCreditBudgetError):
            assert stop.code == "CREDIT_BUDGET_EXCEEDED"
            assert limit is not None
            assert self.hook.credits.used <= limit, f"M6: {self.hook.credits.used} credits > {limit}"

    def arm(self, fault: str, k: int) -> None:
        if fault in ("none", "budget"):
            return
        if fault == "kill":
            original = self.hook.download_attachment
            done = [0]

            def dying(*args: Any, **kwargs: Any) -> Any:
                if done[0] >= k:
                    raise Killed
                result = original(*args, **kwargs)
                done[0] += 1
                return result

            self.hook.download_attachment = dying
            return
        kind, _, where = fault.partition("@")
        path = r"/Attachments$" if where == "list" else r"/Attachments/\d+$"
        if kind == "status500":
            self.emu.inject_fault("status", status=500, method="GET", path=path)
        else:
            self.emu.inject_fault(kind, method="GET", path=path)

    def disarm(self) -> None:
        self.emu.clear_faults()
        self.hook.__dict__.pop("download_attachment", None)

    # ------------------------------------------------------------------ checks

    def check_completed_run(self, delete_missing: bool) -> None:
        entries = self.manifest()
        zoho = self.zoho()
        present = {aid: e for aid, e in entries.items() if e["status"] == "present"}
        assert set(present) == set(zoho), (
            f"M1: manifest has {sorted(present)}, Zoho's selected files are {sorted(zoho)}"
        )
        files = self.files()
        for aid, entry in present.items():
            content = self.emu.attachment_content(aid)
            assert entry["modified_time"] == zoho[aid], f"M1: {aid} has an old Modified_Time"
            assert self.read(entry["path"]) == content, f"M2: {entry['path']} does not hold {aid}'s bytes"
            assert entry["size"] == len(content)
            assert entry["sha256"] == hashlib.sha256(content).hexdigest()
            self.damaged.discard(entry["path"])
        assert not any(p.startswith(CHECKPOINT_NAME) for p in files), "M2: checkpoint left"
        if delete_missing:
            for entry in entries.values():
                if entry["status"] == "deleted" and entry["path"] not in self.damaged:
                    assert entry["path"] not in files, f"M2: tombstone's file {entry['path']} kept"

    def check_no_second_download(self) -> None:
        if self.checkpointed is None:
            return
        again = {m[1] for r in self.emu.requests if r.method == "GET" and (m := _DOWNLOAD.search(r.path))}
        assert not again & self.checkpointed, (
            f"M5: downloaded again after a stop: {sorted(again & self.checkpointed)}"
        )

    @invariant()
    def foreign_files_untouched(self) -> None:
        if self.store is None:
            return
        for rel, content in self.foreign.items():
            assert self.read(rel) == content, f"M3: foreign file {rel} changed"

    @invariant()
    def nothing_else_in_the_destination(self) -> None:
        if self.store is None:
            return
        owned = {e["path"] for e in self.manifest().values()} | set(self.checkpoint_paths())
        for rel in self.files():
            name = rel.rsplit("/", 1)[-1]
            assert not name.startswith("."), f"M4: temporary file {rel}"
            if rel == MANIFEST_NAME or rel.startswith(CHECKPOINT_NAME):
                continue
            assert rel in owned or rel in self.foreign, f"M4: {rel} is neither the manifest's nor foreign"

    # ------------------------------------------------------------------ helpers

    def zoho(self) -> dict[str, str]:
        """The file attachments of the selected deals: id -> Modified_Time."""
        return {
            a["id"]: a["Modified_Time"]
            for deal in sorted(self.selected)
            for a in self.emu.attachments(MODULE, deal)
            if a.get("$type") != "Link URL"
        }

    def manifest(self) -> dict[str, dict[str, Any]]:
        assert self.store is not None
        return {key[2]: entry for key, entry in self.store.read_manifest().items()}  # type: ignore[misc]

    def checkpoint_ids(self) -> set[str]:
        assert self.store is not None
        return {key[2] for key in self.store.read_checkpoint()}

    def checkpoint_paths(self) -> list[str]:
        assert self.store is not None
        return [e["path"] for e in self.store.read_checkpoint().values()]

    def files(self) -> set[str]:
        if self.local is not None:
            if not self.local.exists():
                return set()
            return {p.relative_to(self.local).as_posix() for p in self.local.rglob("*") if p.is_file()}
        prefix = f"/bucket/{self.tag}/"
        return {name[len(prefix) :] for name in self.files_fs.files() if name.startswith(prefix)}

    def read(self, rel: str) -> bytes:
        if self.local is not None:
            return (self.local / rel).read_bytes()
        return self.files_fs.files()[f"/bucket/{self.tag}/{rel}"]

    def write(self, rel: str, content: bytes) -> None:
        if self.local is not None:
            path = self.local / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        else:
            self.files_fs.pipe_file(f"/bucket/{self.tag}/{rel}", content)


def test_the_mirror_against_the_model(zoho_emulator_connection, make_hook, tmp_path, model_settings):
    # (Compared by value: pytest's conftest and this import may be two copies of the module.)
    fuzz = model_settings.max_examples >= MODEL_FUZZ.max_examples
    chosen = settings(
        model_settings,
        max_examples=300 if fuzz else 25,
        stateful_step_count=15 if fuzz else 10,
    )

    class Machine(MirrorMachine):
        emu = zoho_emulator_connection
        root = Path(os.fspath(tmp_path))

    Machine.make_hook = staticmethod(make_hook)  # type: ignore[assignment]
    Machine.__name__ = "MirrorMachine"
    run_state_machine_as_test(Machine, settings=chosen)


def test_the_manifest_lines_are_json(tmp_path):
    """A guard for the helpers above: the manifest they read is the operator's JSON Lines."""
    store = MirrorStore(str(tmp_path))
    assert store.read_manifest() == {}
    (tmp_path / MANIFEST_NAME).write_text(json.dumps({"x": 1}) + "\n")
    with pytest.raises(Exception, match="MANIFEST_CORRUPT"):
        store.read_manifest()
