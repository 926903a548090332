"""
A model-based test of the attachment transfers: random sequences of steps against a model.

A Hypothesis ``RuleBasedStateMachine`` keeps a model of one Zoho CRM record's attachments
(id -> name, bytes) and of two download destinations (a local directory and a ``flakymem://``
object store: path -> bytes), and runs random sequences of steps against the real hook and
operators talking to the emulator:

* attachments added behind the provider's back (same names, same size with other bytes, 0-byte
  files, names that differ only in characters that NFKC folds);
* files put in a destination behind the provider's back;
* uploads through the hook and the upload operator (``skip_if_exists`` on and off, several files of
  one name in one task);
* downloads by the download operator into the local directory and into the object store
  (``overwrite`` on and off, every attachment or some ids);
* deletes by the delete operator, with ids that are already gone;
* re-running the last task;

each optionally preceded by a fault: one of the emulator's (``429``, ``status`` 500, ``reset``,
``reset_mid_body``, ``truncated``, ``html_error``, ``invalid_token``, ``empty_204``,
``token_throttle``, ``commit_then_reset``) on the request the step depends on, or one of the object
store's (a failing write or existence check, or two existence checks made to race).

Invariants, checked after every step:

I1  Zoho holds exactly the model's attachments, with the model's bytes: nothing lost, nothing
    created that no step reported.
I2  No duplicate in Zoho: an upload creates exactly one attachment per file reported
    ``uploaded`` (a retry after a lost answer or an error never stores the file twice).
I3  An upload's reported attachment id holds exactly the uploaded bytes (never someone else's
    file), under the file's own name. A ``skipped`` file's id is an attachment of the same name
    and size and the same bytes (the meaning of ``skip_if_exists``; see ``SKIP_MEANS_SAME_BYTES``), and
    nothing is skipped with ``skip_if_exists=False``.
I4  Every download result path holds exactly that attachment's bytes after the task: no two
    attachments with different bytes end up in one file (each attachment's bytes are in the
    destination once per run).
I5  Every attachment asked for has exactly one result; ``downloaded`` and ``unchanged`` point at
    its bytes; ``unchanged`` only where those bytes already were; ``failed`` only under a fault
    that cannot be survived (a ``204`` for the file, a failing object-store write).
I6  No file that was in the destination before a download is lost or replaced, unless
    ``overwrite=True`` asked for it (or it is the attachment's own deterministic
    ``name (<id>).ext``, which the download refreshes by design).
I7  The destination holds nothing else: no ``.part`` temp files (in the destination or in the
    spool directory of object-storage downloads), no stray objects.
I8  A delete reports ``deleted`` for each id that existed and ``missing`` for each that was
    already gone (``ignore_missing=True``; after a lost answer, a reset or a 5xx, ``deleted`` is
    accepted for those too: the hook cannot tell them apart), never raises because some or all ids
    were gone, and
    leaves every other attachment alone.
I9  A step under a survivable fault succeeds: the retries absorb it. Failures by design: a ``204``
    for a file, a failing object-storage write, a token rejected twice in a row.

A failure prints the steps as Python calls (``state.download(dest='store', overwrite=True,
...)``). ``make test`` runs 60 sequences of up to 15 steps (derandomized: the same ones on every
run); ``make fuzz`` runs 2,000 random ones of up to 20 steps and shrinks a failure. The minimal
sequences of the failures found so far are replayed by test_sequences.py.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from airflow_provider_zoho_attach.exceptions import ZohoCRMError
from airflow_provider_zoho_attach.operators.attachments import (
    ZohoCRMDeleteAttachmentOperator,
    ZohoCRMDownloadAttachmentsOperator,
    ZohoCRMUploadAttachmentOperator,
)
from airflow_provider_zoho_attach.testing.object_store import FlakyMemoryFileSystem, attach_flaky_store
from airflow_provider_zoho_attach.utils import tokens
from tests.conftest import forget_masked_secrets

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(3600),
    # Thousands of sequences refresh tokens far more often than Zoho's 10 per 10 minutes allows;
    # the token_throttle fault is the throttling under test, not the leftovers of earlier sequences.
    pytest.mark.zoho_emulator(token_creation_limit=1_000_000),
]

MODULE = "Deals"

#: ``skip_if_exists`` skips only a file whose bytes are already attached under its name (the
#: operator compares the SHA-256 of a same-name, same-size attachment): I3 demands the same bytes.
SKIP_MEANS_SAME_BYTES = True

NAMES = [
    "report.pdf",
    "notes.txt",
    "empty.bin",
    # NFKC turns "½" into "1", U+2044 FRACTION SLASH, "2"; that slash is a separator look-alike: both become
    # "2 budget.xlsx" on disk.
    "Q1 ½ budget.xlsx",
    "Q3 ½ budget.xlsx",
]
#: Contents by label (the labels keep the printed steps short).
CONTENTS = {
    "empty": b"",
    "AAAA": b"AAAA",
    "BBBB": b"BBBB",  # the same size as AAAA, other bytes
    "hello": b"hello, world\n",
    "32KiB": hashlib.sha256(b"big").digest() * 1024,
}
LABELS = sorted(CONTENTS)

# Faults: "<kind>@<request>". The emulator's apply to the request the step depends on.
_REQUESTS = {
    "list": ("GET", r"/Attachments$"),
    "download": ("GET", r"/Attachments/\d+$"),
    "upload": ("POST", r"/Attachments$"),
    "delete": ("DELETE", r"/Attachments"),
}
_TRANSIENT = ["429", "status500", "reset", "html_error", "invalid_token"]
LIST_FAULTS = [f"{k}@list" for k in [*_TRANSIENT, "reset_mid_body", "truncated"]]
UPLOAD_FAULTS = [f"{k}@upload" for k in [*_TRANSIENT, "commit_then_reset", "truncated", "empty_204"]]
DOWNLOAD_FAULTS = [f"{k}@download" for k in [*_TRANSIENT, "reset_mid_body", "truncated", "empty_204"]]
DELETE_FAULTS = [f"{k}@delete" for k in [*_TRANSIENT, "commit_then_reset"]]
STORE_FAULTS = ["fail_commit@store", "fail_open_write@store", "fail_exists@store", "race_exists@store"]
TOKEN_FAULTS = ["token_throttle"]

#: Faults a step may fail under (by design); under any other the step must succeed (I9).
UNSURVIVABLE = {"empty_204@download", "fail_commit@store", "fail_open_write@store"}


def survivable(fault: str, count: int) -> bool:
    """Whether the retries must absorb ``count`` faults of this kind."""
    if fault.startswith("invalid_token@"):
        return count == 1  # the hook refreshes a rejected token once, by design
    return fault not in UNSURVIVABLE


def describe(attachment: tuple[str, bytes]) -> str:
    """``name (label)`` of an attachment, for messages."""
    name, data = attachment
    label = next((k for k, v in CONTENTS.items() if v == data), f"{len(data)} bytes")
    return f"{name!r} ({label})"


def faults(*groups: list[str]) -> st.SearchStrategy[str]:
    return st.sampled_from(["none"] + [f for group in groups for f in group])


@dataclass
class Env:
    """What the machine runs against (set by the test function, shared by all examples)."""

    emu: Any
    make_hook: Any
    root: Path
    spool: Path
    store: FlakyMemoryFileSystem


class NoXCom:
    def xcom_push(self, key: str, value: Any, **kwargs: Any) -> None:
        pass


def _context() -> dict[str, Any]:
    return {"ti": NoXCom()}


class AttachmentsMachine(RuleBasedStateMachine):
    env: Env

    attachments = Bundle("attachments")

    def __init__(self) -> None:
        super().__init__()
        env = self.env
        self.emu = env.emu
        self.emu.clear_faults()
        tokens.clear_memory_cache()  # no token of an earlier sequence (perhaps revoked) is reused
        self.store = env.store
        self.store.clear_faults()
        self.record = self.emu.add_record(MODULE)
        tag = uuid.uuid4().hex[:12]
        self.local_dir = env.root / f"dest-{tag}"
        self.local_dir.mkdir()
        self.sources = env.root / f"src-{tag}"
        self.sources.mkdir()
        self.store_prefix = f"/bucket/{tag}"
        self.store_url = f"flakymem://bucket/{tag}/"
        self.sent = 0
        #: attachment id -> (File_Name, bytes)
        self.zoho: dict[str, tuple[str, bytes]] = {}
        #: destination -> {path key -> bytes}
        self.dest: dict[str, dict[str, bytes]] = {"local": {}, "store": {}}
        self.last_task: tuple[str, Any, dict[str, Any]] | None = None
        self._hook: Any = None

    def teardown(self) -> None:
        self.emu.clear_faults()
        self.store.clear_faults()
        if self._hook is not None:
            self._hook.close()
        # Thousands of sequences: free what this one stored (the emulator's blobs, files, objects).
        store = self.emu._store  # the emulator has no public delete; the test owns this record
        record = store.get_record(MODULE, self.record)
        for attachment in self.emu.attachments(MODULE, self.record):
            store.delete_attachment(record, str(attachment["id"]))
        shutil.rmtree(self.local_dir, ignore_errors=True)
        shutil.rmtree(self.sources, ignore_errors=True)
        for key in list(self.store.files()):
            if key.startswith(self.store_prefix + "/"):
                self.store.store.pop(key, None)
        # Each sequence makes a new token, which Airflow's secrets masker adds to a pattern it
        # recompiles on every addition: forgotten here, or sequence n pays for the n - 1 before it.
        forget_masked_secrets()

    # ------------------------------------------------------------------ observing the world

    def zoho_now(self) -> dict[str, tuple[str, bytes]]:
        return {
            str(a["id"]): (a["File_Name"], self.emu.attachment_content(a["id"]))
            for a in self.emu.attachments(MODULE, self.record)
        }

    def local_now(self) -> dict[str, bytes]:
        return {
            str(p.relative_to(self.local_dir)): p.read_bytes()
            for p in sorted(self.local_dir.rglob("*"))
            if p.is_file()
        }

    def store_now(self) -> dict[str, bytes]:
        prefix = self.store_prefix + "/"
        return {k[len(prefix) :]: v for k, v in self.store.files().items() if k.startswith(prefix)}

    def dest_now(self, dest: str) -> dict[str, bytes]:
        return self.local_now() if dest == "local" else self.store_now()

    def key_of(self, dest: str, path: str) -> str:
        if dest == "local":
            return str(Path(path).relative_to(self.local_dir))
        stripped = FlakyMemoryFileSystem._strip_protocol(path)
        assert stripped.startswith(self.store_prefix + "/"), f"result path {path} outside the destination"
        return stripped[len(self.store_prefix) + 1 :]

    # ------------------------------------------------------------------ faults

    def arm(self, fault: str, count: int) -> None:
        if fault == "none":
            return
        kind, _, where = fault.partition("@")
        if where == "store":
            pattern = f"{self.store_prefix}/*"
            if kind == "fail_commit":
                self.store.fail("commit", pattern, count=count, error=PermissionError("AccessDenied"))
            elif kind == "fail_open_write":
                self.store.fail("open_write", pattern, count=count, error=Exception("S3 InternalError"))
            elif kind == "fail_exists":
                self.store.fail("exists", pattern, count=count, error=OSError("S3 SlowDown"))
            elif kind == "race_exists":
                self.store.interleave("exists", pattern, parties=2, timeout=0.3, count=2)
            return
        if kind == "token_throttle":
            self.emu.revoke_access_tokens()
            self.emu.inject_fault("token_throttle", count=count)
            return
        method, path = _REQUESTS[where]
        if kind == "status500":
            self.emu.inject_fault("status", status=500, count=count, method=method, path=path)
        else:
            self.emu.inject_fault(kind, count=count, method=method, path=path)

    def disarm(self) -> None:
        self.emu.clear_faults()
        self.store.clear_faults()

    def hook(self) -> Any:
        """The hook of this sequence (one per example: thousands of open sessions would exhaust sockets)."""
        if self._hook is None:
            self._hook = self.env.make_hook()
        return self._hook

    # ------------------------------------------------------------------ steps behind the provider's back

    @initialize(target=attachments, name=st.sampled_from(NAMES), content=st.sampled_from(LABELS))
    def start_with_one(self, name: str, content: str) -> str:
        return self.add_behind_back(name, content)

    @rule(target=attachments, name=st.sampled_from(NAMES), content=st.sampled_from(LABELS))
    def add_behind_back(self, name: str, content: str) -> str:
        data = CONTENTS[content]
        ident = self.emu.add_attachment(MODULE, self.record, name, data)
        self.zoho[ident] = (name, data)
        return ident

    @rule(
        dest=st.sampled_from(["local", "store"]),
        name=st.sampled_from([*NAMES, "2 budget.xlsx"]),
        content=st.sampled_from(LABELS),
    )
    def put_in_destination(self, dest: str, name: str, content: str) -> None:
        data = CONTENTS[content]
        if dest == "local":
            (self.local_dir / name).write_bytes(data)
        else:
            self.store.pipe_file(f"{self.store_prefix}/{name}", data)
        self.dest[dest][name] = data

    # ------------------------------------------------------------------ uploads

    def source_file(self, name: str, content: bytes) -> str:
        self.sent += 1
        folder = self.sources / str(self.sent)
        folder.mkdir()
        path = folder / name
        path.write_bytes(content)
        return str(path)

    @rule(
        target=attachments,
        name=st.sampled_from(NAMES),
        content=st.sampled_from(LABELS),
        fault=faults(UPLOAD_FAULTS, TOKEN_FAULTS),
        count=st.integers(1, 2),
    )
    def upload_with_hook(self, name: str, content: str, fault: str, count: int) -> Any:
        data = CONTENTS[content]
        source = self.source_file(name, data)
        before = dict(self.zoho)
        self.arm(fault, count)
        try:
            result = self.hook().upload_attachment(MODULE, self.record, source)
        except ZohoCRMError as error:
            self.disarm()
            self.fail_unless_unsurvivable(fault, count, error)
            self.check_failed_upload(before, [(name, data)])
            return multiple()
        self.disarm()
        ident = result["attachment_id"]
        now = self.zoho_now()
        new = set(now) - set(before)
        assert ident in now, f"I3: upload reported id {ident}, which is not an attachment of the record"
        assert now[ident][1] == data, (
            f"I3: upload of {name!r} ({len(data)} bytes) reported attachment {ident}, which holds "
            f"{describe(now[ident])} (another file)"
        )
        assert new == {ident}, (
            f"I2: one upload of {name!r} created {sorted(new)} (expected exactly the reported {ident})"
        )
        assert now[ident][0] == name, f"I3: {name!r} was stored as {now[ident][0]!r}"
        self.zoho[ident] = now[ident]
        return ident

    @rule(
        target=attachments,
        files=st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from(LABELS)), min_size=1, max_size=3),
        skip_if_exists=st.booleans(),
        fault=faults(LIST_FAULTS, UPLOAD_FAULTS, TOKEN_FAULTS),
        count=st.integers(1, 2),
    )
    def upload(self, files: list[tuple[str, str]], skip_if_exists: bool, fault: str, count: int) -> Any:
        sent = [(name, CONTENTS[label]) for name, label in files]
        sources = [self.source_file(name, data) for name, data in sent]
        op = ZohoCRMUploadAttachmentOperator(
            task_id="upload", module=MODULE, record_id=self.record, source=sources,
            skip_if_exists=skip_if_exists,
        )  # fmt: skip
        details = {"files": dict(zip(sources, sent, strict=True))}
        self.last_task = ("upload", op, details)
        return multiple(*self.run_upload(op, details["files"], fault, count))

    def run_upload(self, op: Any, files: dict[str, tuple[str, bytes]], fault: str, count: int) -> list[str]:
        """Run an upload task; ``files``: source path -> (name, bytes)."""
        before = dict(self.zoho)
        op.hook = self.hook()
        self.arm(fault, count)
        try:
            results = op.execute(_context())
        except ZohoCRMError as error:
            self.disarm()
            self.fail_unless_unsurvivable(fault, count, error)
            self.check_failed_upload(before, list(files.values()))
            return []
        self.disarm()
        now = self.zoho_now()
        new = set(now) - set(before)
        uploaded = [r for r in results if r["status"] == "uploaded"]
        assert len(results) == len(files), f"I5: {len(files)} file(s) to upload, {len(results)} result(s)"
        for result in results:
            ident, (name, data) = result["attachment_id"], files[result["source"]]
            assert ident in now, f"I3: {name!r} reported as {ident}, not an attachment of the record"
            if result["status"] == "uploaded":
                assert now[ident][1] == data, (
                    f"I3: {name!r} ({len(data)} bytes) reported uploaded as {ident}, "
                    f"which holds {describe(now[ident])} (another file)"
                )
                assert now[ident][0] == name, f"I3: {name!r} was stored as {now[ident][0]!r}"
            else:
                assert result["status"] == "skipped", result
                assert op.skip_if_exists, f"I3: skipped with skip_if_exists=False: {result}"
                assert len(now[ident][1]) == len(data), f"I3: {name!r} skipped as {describe(now[ident])}"
                assert now[ident][0] == result["file_name"], f"I3: {name!r} skipped as {describe(now[ident])}"
                if SKIP_MEANS_SAME_BYTES:
                    assert now[ident][1] == data, f"I3: {name!r} skipped as {describe(now[ident])}"
        reported = {r["attachment_id"] for r in uploaded}
        assert new == reported, (
            f"I2: the task reported {sorted(reported)} uploaded but Zoho got {sorted(new)} new attachment(s)"
        )
        assert len(reported) == len(uploaded), f"I2: two files reported as one attachment: {uploaded}"
        assert set(before) <= set(now), f"I1: an upload removed {sorted(set(before) - set(now))}"
        for ident in new:
            self.zoho[ident] = now[ident]
        return sorted(new)

    def check_failed_upload(
        self, before: dict[str, tuple[str, bytes]], files: list[tuple[str, bytes]]
    ) -> None:
        """A failed upload may have stored some files (once each), nothing else."""
        now = self.zoho_now()
        new = set(now) - set(before)
        assert set(before) <= set(now), "I1: a failed upload removed attachments"
        budget = list(files)
        for ident in sorted(new):
            name, data = now[ident]
            same_bytes = [f for f in budget if f[1] == data]
            assert same_bytes, (
                f"I2: a failed upload left {ident} = {describe(now[ident])}, "
                "not one of the files (or a duplicate)"
            )
            assert (name, data) in same_bytes, f"I3: {describe(same_bytes[0])} was stored as {name!r}"
            budget.remove((name, data))
            self.zoho[ident] = now[ident]

    # ------------------------------------------------------------------ downloads

    @rule(
        dest=st.sampled_from(["local", "store"]),
        overwrite=st.booleans(),
        which=st.one_of(st.none(), st.lists(attachments, min_size=1, max_size=3, unique=True)),
        fault=faults(LIST_FAULTS, DOWNLOAD_FAULTS, STORE_FAULTS, TOKEN_FAULTS),
        count=st.integers(1, 2),
    )
    def download(self, dest: str, overwrite: bool, which: list[str] | None, fault: str, count: int) -> None:
        if fault.endswith("@store") and dest == "local":
            fault = "none"
        if which is not None:
            which = [ident for ident in which if ident in self.zoho]  # downloading gone ids: a 404
            if not which:
                return
        op = ZohoCRMDownloadAttachmentsOperator(
            task_id="download", module=MODULE, record_id=self.record,
            destination=str(self.local_dir) if dest == "local" else self.store_url,
            attachment_ids=which, overwrite=overwrite, fail_on_error=False,
        )  # fmt: skip
        self.last_task = ("download", op, {"dest": dest, "which": which})
        self.run_download(op, dest, which, fault, count)

    def run_download(self, op: Any, dest: str, which: list[str] | None, fault: str, count: int) -> None:
        if which is not None:
            which = [ident for ident in which if ident in self.zoho]
            if not which:
                return
            op.attachment_ids = which
        chosen = sorted(self.zoho) if which is None else sorted(which)
        before = dict(self.dest[dest])
        assert self.dest_now(dest) == before, "I7: the destination changed between steps"
        op.hook = self.hook()
        self.arm(fault, count)
        try:
            results = op.execute(_context())
        except ZohoCRMError as error:
            self.fail_unless_unsurvivable(fault, count, error)
            assert self.dest_now(dest) == before, "I6: a download task that failed changed the destination"
            return
        finally:
            self.disarm()
        now = self.dest_now(dest)
        by_id: dict[str, dict[str, Any]] = {}
        for result in results:
            ident = result["attachment_id"]
            assert ident not in by_id, f"I5: two results for attachment {ident}"
            by_id[ident] = result
        assert sorted(by_id) == chosen, f"I5: asked for {chosen}, results for {sorted(by_id)}"
        # path key -> the attachments reported there (several only if their bytes are the same)
        written: dict[str, list[str]] = {}
        for ident in chosen:
            if by_id[ident]["status"] != "failed":
                written.setdefault(self.key_of(dest, by_id[ident]["path"]), []).append(ident)
        for ident in chosen:
            result, (name, content) = by_id[ident], self.zoho[ident]
            if result["status"] == "failed":
                assert not survivable(fault, count), (
                    f"I9: download of {ident} ({name!r}) failed under fault {fault} x{count}: "
                    f"{result.get('error')}"
                )
                continue
            assert result["status"] in ("downloaded", "unchanged"), result
            key = self.key_of(dest, result["path"])
            assert key in now, f"I4: {ident} ({name!r}) reported at {key}, which does not exist"
            assert now[key] == content, (
                f"I4: attachment {ident} {describe((name, content))} reported "
                f"{result['status']} at {key!r}, which holds {describe((key, now[key]))}: "
                "two attachments collapsed into one file"
            )
            if result["status"] == "unchanged":
                # Its bytes were there before the task, or another attachment of this task (with
                # the same bytes, I4) put them there.
                assert before.get(key) == content or len(written[key]) > 1, (
                    f"I5: {ident} reported unchanged at {key!r}, which did not hold its bytes before"
                )
            elif key in before and before[key] != content:
                own_alternate = f" ({ident})" in key  # the deterministic name of this very attachment
                assert op.overwrite or own_alternate, (
                    f"I6: {key!r} held other bytes before and was replaced by {ident} without overwrite"
                )
        for key, content in before.items():
            if key in written:
                continue
            assert key in now, f"I6: {key!r} was in the destination before the download and is gone"
            assert now[key] == content, (
                f"I6: {key!r} was replaced ({describe((key, content))} -> {describe((key, now[key]))}) "
                "though no result points at it"
            )
        extra = set(now) - set(before) - set(written)
        assert not extra, f"I7: files nobody reported: {sorted(extra)}"
        spooled = [p.name for p in self.env.spool.iterdir()]
        assert not spooled, f"I7: temp files left in the spool directory: {spooled}"
        self.dest[dest] = now

    # ------------------------------------------------------------------ deletes

    @rule(
        ids=st.lists(attachments, min_size=1, max_size=3, unique=True),
        fault=faults(DELETE_FAULTS, TOKEN_FAULTS),
        count=st.integers(1, 2),
    )
    def delete(self, ids: list[str], fault: str, count: int) -> None:
        op = ZohoCRMDeleteAttachmentOperator(
            task_id="delete", module=MODULE, record_id=self.record, attachment_ids=ids
        )
        self.last_task = ("delete", op, {"ids": ids})
        self.run_delete(op, ids, fault, count)

    def run_delete(self, op: Any, ids: list[str], fault: str, count: int) -> None:
        existed = {ident for ident in ids if ident in self.zoho}
        op.hook = self.hook()
        self.arm(fault, count)
        try:
            results = op.execute(_context())
        except ZohoCRMError as error:
            self.disarm()
            if survivable(fault, count):
                raise AssertionError(
                    f"I8: deleting {ids} ({sorted(set(ids) - existed)} already gone) raised "
                    f"{type(error).__name__} {error.code}: {error}"
                ) from None
            # A rejected token, twice: nothing may have been deleted but what the model knows of.
            for ident in existed - set(self.zoho_now()):
                del self.zoho[ident]
            return
        self.disarm()
        statuses = {r["attachment_id"]: r["status"] for r in results}
        expected = {ident: "deleted" if ident in existed else "missing" for ident in ids}
        kind = fault.partition("@")[0]
        if kind in ("reset", "commit_then_reset", "html_error") or kind.startswith("status5"):
            # After a lost answer (a reset, or a 5xx: Zoho may have done the work before failing)
            # the hook cannot tell "gone before the task" from "deleted by the attempt whose
            # answer was lost": either is true to Zoho's state.
            expected |= {i: statuses.get(i) for i in ids if i not in existed and statuses.get(i) == "deleted"}
        assert statuses == expected, f"I8: delete results {statuses}, expected {expected}"
        for ident in existed:
            del self.zoho[ident]

    # ------------------------------------------------------------------ re-running

    @rule(fault=faults(LIST_FAULTS, UPLOAD_FAULTS, DOWNLOAD_FAULTS), count=st.integers(1, 2))
    def rerun_last_task(self, fault: str, count: int) -> None:
        if self.last_task is None:
            return
        kind, op, details = self.last_task
        if kind == "upload":
            self.run_upload(op, details["files"], fault, count)
        elif kind == "download":
            self.run_download(op, details["dest"], details["which"], fault, count)
        else:
            self.run_delete(op, details["ids"], fault if fault.endswith("@delete") else "none", count)

    # ------------------------------------------------------------------ invariants

    @invariant()
    def zoho_matches_the_model(self) -> None:
        now = self.zoho_now()
        assert now == self.zoho, (
            f"I1: Zoho has {sorted(now)}, the model {sorted(self.zoho)}; "
            f"differences: {sorted(set(now) ^ set(self.zoho))}"
        )

    @invariant()
    def destinations_match_the_model(self) -> None:
        for dest in ("local", "store"):
            now = self.dest_now(dest)
            assert now == self.dest[dest], (
                f"I7: {dest} holds {sorted(now)}, the model {sorted(self.dest[dest])}"
            )

    # ------------------------------------------------------------------ helpers

    def fail_unless_unsurvivable(self, fault: str, count: int, error: ZohoCRMError) -> None:
        assert not survivable(fault, count), (
            f"I9: failed under fault {fault} x{count}: {type(error).__name__} {error}"
        )


def test_attachments_against_the_model(
    zoho_emulator_connection, make_hook, tmp_path, monkeypatch, model_settings
):
    spool = tmp_path / "spool"
    spool.mkdir()
    # Object-storage downloads spool in the temp directory: a private one, to see leftovers (I7).
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    root = Path(os.fspath(tmp_path))
    store = attach_flaky_store()

    class Machine(AttachmentsMachine):
        env = Env(emu=zoho_emulator_connection, make_hook=make_hook, root=root, spool=spool, store=store)

    Machine.__name__ = "AttachmentsMachine"
    run_state_machine_as_test(Machine, settings=model_settings)
