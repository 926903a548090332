"""
The minimal step sequences of the bugs the state machine found, replayed as fixed regression tests.

Each sequence is a list of the machine's steps (the same calls the machine prints when it fails);
``"@0"`` in ``ids`` stands for the attachment id the first step returned. Every step is followed by
the machine's invariants, as in a Hypothesis run, so a sequence fails with the invariant it breaks.
"""

from __future__ import annotations

import inspect
import tempfile
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_zoho_attach.testing.object_store import attach_flaky_store
from tests.model.test_state_machine import AttachmentsMachine, Env

pytestmark = [
    pytest.mark.integration,
    pytest.mark.zoho_emulator(token_creation_limit=1_000_000),
]

Step = tuple[str, dict[str, Any]]


SEQUENCES: list[Any] = [
    pytest.param(
        [
            ("start_with_one", {"name": "report.pdf", "content": "AAAA"}),
            (
                "upload_with_hook",
                {"name": "report.pdf", "content": "BBBB", "fault": "429@upload", "count": 1},
            ),
        ],
        id="upload-retry-after-429-adopts-another-file",
    ),
    pytest.param(
        [
            ("start_with_one", {"name": "report.pdf", "content": "AAAA"}),
            (
                "upload",
                {
                    "files": [("report.pdf", "BBBB")],
                    "skip_if_exists": False,
                    "fault": "status500@upload",
                    "count": 1,
                },
            ),
        ],
        id="upload-operator-retry-after-500-adopts-another-file",
    ),
    pytest.param(
        [
            ("start_with_one", {"name": "report.pdf", "content": "hello"}),
            (
                "upload_with_hook",
                {"name": "notes.txt", "content": "empty", "fault": "commit_then_reset@upload", "count": 1},
            ),
        ],
        id="lost-answer-of-a-0-byte-upload-stores-it-twice",
    ),
    pytest.param(
        [
            ("start_with_one", {"name": "report.pdf", "content": "AAAA"}),
            ("add_behind_back", {"name": "report.pdf", "content": "BBBB"}),
            ("download", {"dest": "store", "overwrite": False, "which": None, "fault": "race_exists@store"}),
        ],
        id="same-name-downloads-collapse-in-object-storage",
    ),
    pytest.param(
        [
            ("start_with_one", {"name": "report.pdf", "content": "AAAA"}),
            ("add_behind_back", {"name": "report.pdf", "content": "BBBB"}),
            ("download", {"dest": "store", "overwrite": True, "which": None, "fault": "none"}),
        ],
        id="same-name-downloads-collapse-in-object-storage-with-overwrite",
    ),
    pytest.param(
        [
            ("start_with_one", {"name": "report.pdf", "content": "AAAA"}),
            ("add_behind_back", {"name": "report.pdf", "content": "BBBB"}),
            ("download", {"dest": "local", "overwrite": True, "which": None, "fault": "none"}),
        ],
        id="same-name-downloads-collapse-locally-with-overwrite",
    ),
    pytest.param(
        [
            ("start_with_one", {"name": "report.pdf", "content": "AAAA"}),
            ("put_in_destination", {"dest": "store", "name": "report.pdf", "content": "BBBB"}),
            ("download", {"dest": "store", "overwrite": True, "which": None, "fault": "fail_commit@store"}),
        ],
        id="failed-object-storage-overwrite-deletes-the-good-file",
    ),
    pytest.param(
        [
            ("start_with_one", {"name": "report.pdf", "content": "AAAA"}),
            ("delete", {"ids": ["@0"]}),
            ("delete", {"ids": ["@0"]}),
        ],
        id="deleting-ids-that-are-all-gone-raises",
    ),
    pytest.param(
        [
            ("start_with_one", {"name": "Q1 ½ budget.xlsx", "content": "AAAA"}),
            ("add_behind_back", {"name": "Q3 ½ budget.xlsx", "content": "BBBB"}),
            ("download", {"dest": "local", "overwrite": True, "which": None, "fault": "none"}),
        ],
        id="nfkc-folded-names-collide-on-download",
    ),
    pytest.param(
        [
            ("start_with_one", {"name": "report.pdf", "content": "AAAA"}),
            ("upload", {"files": [("Q1 ½ budget.xlsx", "AAAA")], "skip_if_exists": True, "fault": "none"}),
        ],
        id="nfkc-folding-renames-an-upload",
    ),
    pytest.param(
        [
            ("start_with_one", {"name": "notes.txt", "content": "hello"}),
            (
                "upload",
                {
                    "files": [("report.pdf", "AAAA"), ("report.pdf", "BBBB")],
                    "skip_if_exists": False,
                    "fault": "none",
                },
            ),
        ],
        id="skip-if-exists-false-still-skips-a-same-name-same-size-file",
    ),
    pytest.param(
        [
            ("start_with_one", {"name": "report.pdf", "content": "AAAA"}),
            ("put_in_destination", {"dest": "store", "name": "report.pdf", "content": "BBBB"}),
            ("download", {"dest": "store", "overwrite": False, "which": None, "fault": "fail_exists@store"}),
        ],
        id="failing-existence-check-overwrites-without-overwrite",
    ),
    pytest.param(
        [
            ("start_with_one", {"name": "report.pdf", "content": "AAAA"}),
            ("add_behind_back", {"name": "report.pdf", "content": "BBBB"}),
            ("add_behind_back", {"name": "report.pdf", "content": "AAAA"}),
            ("download", {"dest": "local", "overwrite": False, "which": None, "fault": "none"}),
            ("rerun_last_task", {"fault": "none"}),
            ("put_in_destination", {"dest": "store", "name": "notes.txt", "content": "hello"}),
            # One file: same-name downloads into object storage race today (see above).
            ("download", {"dest": "store", "overwrite": False, "which": ["@1"], "fault": "none"}),
            ("upload", {"files": [("notes.txt", "hello")], "skip_if_exists": True, "fault": "reset@list"}),
            ("rerun_last_task", {"fault": "commit_then_reset@upload"}),
            ("delete", {"ids": ["@0", "@1"], "fault": "commit_then_reset@delete"}),
        ],
        id="a-sequence-the-provider-survives",
    ),
]


@pytest.mark.parametrize("steps", SEQUENCES)
def test_sequence(steps: list[Step], zoho_emulator_connection, make_hook, tmp_path, monkeypatch):
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    store = attach_flaky_store()

    class Machine(AttachmentsMachine):
        env = Env(
            emu=zoho_emulator_connection, make_hook=make_hook, root=Path(tmp_path), spool=spool, store=store
        )

    machine = Machine()
    returned: list[Any] = []
    try:
        for method, arguments in steps:
            accepted = inspect.signature(getattr(machine, method)).parameters
            kwargs = {k: v for k, v in {"fault": "none", "count": 1}.items() if k in accepted} | arguments
            for key in ("ids", "which"):
                if kwargs.get(key) is not None:
                    kwargs[key] = [returned[int(i[1:])] if i.startswith("@") else i for i in kwargs[key]]
            returned.append(getattr(machine, method)(**kwargs))
            machine.zoho_matches_the_model()
            machine.destinations_match_the_model()
    finally:
        machine.teardown()
