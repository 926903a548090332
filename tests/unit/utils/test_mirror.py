"""The mirror's decisions without I/O (utils/mirror.py): manifest lines, plans, credits, progress."""

from __future__ import annotations

import json
import threading

import pytest

from airflow_provider_zoho_attach.exceptions import ZohoCRMCreditBudgetError, ZohoCRMTransferError
from airflow_provider_zoho_attach.utils.credits import CreditMeter
from airflow_provider_zoho_attach.utils.mirror import (
    CreditBudget,
    RemoteFile,
    entry_line,
    out_of_selection,
    parse_manifest,
    plan_record,
    present_entry,
    remote_attachments,
    remote_field_files,
    removable,
    serialise_manifest,
    tombstone,
)
from airflow_provider_zoho_attach.utils.progress import MirrorProgress

NOW = "2026-01-01T00:00:00+00:00"
T1 = "2025-01-01T10:00:00+00:00"
T2 = "2025-02-01T10:00:00+00:00"


def remote(aid: str, name: str = "a.pdf", size: int = 10, modified: str = T1, field=None) -> RemoteFile:
    return RemoteFile(aid, name, size, T1, modified, field)


def entry(aid: str, path: str, size: int = 10, modified: str = T1, status="present", record="1"):
    line = present_entry(
        "Deals",
        record,
        remote(aid, size=size, modified=modified),
        path=path,
        size=size,
        sha256="ab" * 32,
        now=NOW,
    )
    return line if status == "present" else tombstone(line, now=NOW)


# ------------------------------------------------------------------ manifest lines


def test_lines_round_trip_in_a_stable_order():
    entries = [
        entry("30", "Deals/2/c.pdf", record="2"),
        entry("4", "Deals/1/a.pdf"),
        entry("12", "Deals/1/b.pdf"),
    ]
    text = serialise_manifest(entries)
    assert [json.loads(line)["attachment_id"] for line in text.splitlines()] == ["4", "12", "30"]
    parsed = parse_manifest(text, source="m")
    assert list(parsed) == [("Deals", "1", "4"), ("Deals", "1", "12"), ("Deals", "2", "30")]
    assert parsed[("Deals", "1", "4")] == entries[1]
    assert serialise_manifest(parsed.values()) == text


def test_a_later_line_replaces_an_earlier_one():
    old, new = entry("4", "Deals/1/a.pdf"), entry("4", "Deals/1/a.pdf", size=20)
    parsed = parse_manifest(entry_line(old) + entry_line(new), source="c", checkpoint=True)
    assert parsed[("Deals", "1", "4")]["size"] == 20


def test_a_torn_last_line_is_dropped_only_in_a_checkpoint():
    text = entry_line(entry("4", "Deals/1/a.pdf")) + '{"module": "Deals", "reco'
    assert len(parse_manifest(text, source="c", checkpoint=True)) == 1
    with pytest.raises(ZohoCRMTransferError, match="line 2 is not a manifest entry") as caught:
        parse_manifest(text, source="manifest.jsonl")
    assert caught.value.code == "MANIFEST_CORRUPT"


@pytest.mark.parametrize(
    "change",
    [
        {"path": "../outside.pdf"},
        {"path": "/etc/passwd"},
        {"path": "Deals/1/../../x"},
        {"record_id": "1 or 1"},
        {"status": "gone"},
        {"size": "10"},
    ],
)
def test_a_bad_line_in_the_middle_is_corrupt_even_in_a_checkpoint(change):
    bad = json.dumps({**entry("5", "Deals/1/b.pdf"), **change})
    text = entry_line(entry("4", "Deals/1/a.pdf")) + bad + "\n" + entry_line(entry("6", "Deals/1/c.pdf"))
    with pytest.raises(ZohoCRMTransferError, match="line 2"):
        parse_manifest(text, source="c", checkpoint=True)


# ------------------------------------------------------------------ listings


def test_links_are_not_mirrored_and_sizes_are_numbers():
    listing = [
        {
            "id": "1",
            "File_Name": "a.pdf",
            "Size": "12",
            "Created_Time": T1,
            "Modified_Time": T2,
            "$type": "Attachment",
        },
        {"id": "2", "File_Name": "site", "Size": "0", "$type": "Link URL", "$link_url": "https://x"},
    ]
    assert remote_attachments(listing) == [RemoteFile("1", "a.pdf", 12, T1, T2)]
    items = [
        {
            "field": "Contract",
            "id": "9",
            "file_name": "c.pdf",
            "size": 3,
            "created_time": T1,
            "modified_time": None,
        }
    ]
    assert remote_field_files(items) == [RemoteFile("9", "c.pdf", 3, T1, T1, "Contract")]


# ------------------------------------------------------------------ plans


def test_first_run_fetches_everything_to_safe_names():
    plan = plan_record("Deals", "1", [remote("5", "../../x.pdf"), remote("6", "b.pdf", size=4)], {}, {})
    assert [(f.remote.attachment_id, f.path, f.reason) for f in plan.fetch] == [
        ("5", "Deals/1/x.pdf", "new"),
        ("6", "Deals/1/b.pdf", "new"),
    ]
    assert plan.bytes_to_fetch == 14
    assert plan.unchanged == plan.gone == []


def test_same_time_and_size_with_the_file_there_is_unchanged():
    known = {"5": entry("5", "Deals/1/a.pdf")}
    plan = plan_record("Deals", "1", [remote("5")], known, {"Deals/1/a.pdf": 10})
    assert plan.fetch == []
    assert plan.unchanged == [known["5"]]


@pytest.mark.parametrize(
    ("listed", "existing", "reason"),
    [
        (remote("5", modified=T2), {"Deals/1/a.pdf": 10}, "changed"),
        (remote("5", size=11), {"Deals/1/a.pdf": 10}, "changed"),
        (remote("5"), {}, "missing"),
        (remote("5"), {"Deals/1/a.pdf": 9}, "missing"),
    ],
)
def test_changed_or_missing_files_are_fetched_to_their_own_path(listed, existing, reason):
    known = {"5": entry("5", "Deals/1/a.pdf")}
    (fetch,) = plan_record("Deals", "1", [listed], known, existing).fetch
    assert (fetch.path, fetch.reason) == ("Deals/1/a.pdf", reason)


def test_an_unknown_size_compares_by_time_only():
    known = {"5": entry("5", "Deals/1/a.pdf")}
    plan = plan_record("Deals", "1", [RemoteFile("5", "a.pdf", None, T1, T1)], known, {"Deals/1/a.pdf": 10})
    assert plan.unchanged == [known["5"]]


def test_what_is_no_longer_listed_is_gone_once():
    known = {"5": entry("5", "Deals/1/a.pdf"), "6": entry("6", "Deals/1/b.pdf", status="deleted")}
    plan = plan_record("Deals", "1", [], known, {"Deals/1/a.pdf": 10})
    assert plan.gone == [known["5"]]


def test_same_names_the_lowest_id_takes_the_plain_name():
    plan = plan_record(
        "Deals", "1", [remote("70", "s.pdf"), remote("9", "s.pdf"), remote("100", "S.PDF")], {}, {}
    )
    paths = {f.remote.attachment_id: f.path for f in plan.fetch}
    assert paths == {"9": "Deals/1/s.pdf", "70": "Deals/1/s (70).pdf", "100": "Deals/1/S (100).PDF"}


def test_a_foreign_file_or_a_tombstone_keeps_its_name():
    known = {"3": entry("3", "Deals/1/t.pdf", status="deleted")}
    existing = {"Deals/1/mine.pdf": 5, "Deals/1/t.pdf": 10}
    plan = plan_record("Deals", "1", [remote("8", "mine.pdf"), remote("9", "t.pdf")], known, existing)
    paths = {f.remote.attachment_id: f.path for f in plan.fetch}
    assert paths == {"8": "Deals/1/mine (8).pdf", "9": "Deals/1/t (9).pdf"}


def test_an_attachment_back_from_the_recycle_bin_gets_its_old_path():
    known = {"3": entry("3", "Deals/1/t.pdf", status="deleted")}
    (fetch,) = plan_record("Deals", "1", [remote("3", "t.pdf")], known, {"Deals/1/t.pdf": 10}).fetch
    assert (fetch.path, fetch.reason) == ("Deals/1/t.pdf", "new")


def test_no_free_name_is_an_error_not_an_overwrite():
    existing = {
        "Deals/1/a.pdf": 1,
        "Deals/1/a (5).pdf": 1,
        **{f"Deals/1/a (5-{n}).pdf": 1 for n in range(2, 100)},
    }
    with pytest.raises(ZohoCRMTransferError, match="no free file name"):
        plan_record("Deals", "1", [remote("5")], {}, existing)


def test_out_of_selection_and_removable():
    kept, dropped = entry("5", "Deals/1/a.pdf"), entry("6", "Deals/2/b.pdf", record="2")
    other_module = {**entry("7", "Leads/3/c.pdf", record="3"), "module": "Leads"}
    assert out_of_selection([kept, dropped, other_module], "Deals", {"1"}) == [dropped]
    gone = tombstone(dropped, now=NOW)
    owned = {"deals/2/b.pdf": "6"}
    assert removable(gone, {"Deals/2/b.pdf": 10}, owned)
    assert not removable(dropped, {"Deals/2/b.pdf": 10}, owned)  # present: not a tombstone
    assert not removable(gone, {"Deals/2/b.pdf": 11}, owned)  # not the size the mirror wrote
    assert not removable(gone, {}, owned)  # already gone
    assert not removable(gone, {"Deals/2/b.pdf": 10}, {"deals/2/b.pdf": ""})  # two owners
    assert not removable({**gone, "path": "Deals/1/b.pdf"}, {"Deals/1/b.pdf": 10}, {"deals/1/b.pdf": "6"})


# ------------------------------------------------------------------ credits


def test_the_budget_refuses_the_call_that_would_pass_it():
    meter = CreditMeter()
    budget = CreditBudget(meter, 5)
    with budget.spend(3, "selection", "read the selection"):
        meter.used += 3
    with budget.spend(2, "listing", "list"):
        meter.used += 2
    with (
        pytest.raises(ZohoCRMCreditBudgetError) as caught,
        budget.spend(1, "download", "download 7 of Deals/1"),
    ):
        pass
    error = caught.value
    assert error.code == "CREDIT_BUDGET_EXCEEDED"
    assert error.details == {"max_credits": 5, "used": 5, "cost": 1}
    assert "stopped before download 7 of Deals/1" in str(error)
    assert "Raise max_credits" in str(error)
    assert budget.counts == {"selection": 3, "listing": 2, "download": 0}


def test_calls_in_flight_are_reserved_so_threads_never_pass_the_budget():
    meter = CreditMeter()
    budget = CreditBudget(meter, 10)
    inside = threading.Barrier(10, timeout=5)
    allowed, refused = [], []

    def call():
        try:
            with budget.spend(1, "download", "d"):
                allowed.append(1)
                inside.wait()  # everyone holds a reservation at once
        except ZohoCRMCreditBudgetError:
            refused.append(1)
            inside.wait()

    threads = [threading.Thread(target=call) for _ in range(10)]
    meter.used = 5
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(allowed) == 5
    assert len(refused) == 5


# ------------------------------------------------------------------ progress


def test_progress_lines_come_at_most_every_interval():
    now = [100.0]
    progress = MirrorProgress(interval=10, clock=lambda: now[0])
    progress.add(records=2, downloaded=1, bytes=2 * 1024 * 1024)
    assert progress.due() is None
    now[0] = 109.9
    assert progress.due() is None
    now[0] = 110.0
    line = progress.due()
    assert line == "Mirror: 2 record(s) listed; 1 file(s) downloaded (2.0 MiB, 0.2 MiB/s), 0 unchanged; 10 s"
    now[0] = 115.0
    assert progress.due() is None


def test_a_foreign_file_of_the_listed_size_may_be_taken_over_if_its_bytes_match():
    existing = {"Deals/1/a.pdf": 10, "Deals/1/b.pdf": 3}
    plan = plan_record("Deals", "1", [remote("5", "a.pdf"), remote("6", "b.pdf")], {}, existing)
    by_id = {f.remote.attachment_id: f for f in plan.fetch}
    # Same size: maybe this attachment's own file (a lost checkpoint line or manifest).
    assert (by_id["5"].path, by_id["5"].fallback) == ("Deals/1/a.pdf", "Deals/1/a (5).pdf")
    # Another size: not its bytes, never touched.
    assert (by_id["6"].path, by_id["6"].fallback) == ("Deals/1/b (6).pdf", None)


def test_only_one_same_named_attachment_may_take_over_a_foreign_file():
    plan = plan_record("Deals", "1", [remote("5", "a.pdf"), remote("6", "a.pdf")], {}, {"Deals/1/a.pdf": 10})
    by_id = {f.remote.attachment_id: f for f in plan.fetch}
    assert (by_id["5"].path, by_id["5"].fallback) == ("Deals/1/a.pdf", "Deals/1/a (5).pdf")
    assert (by_id["6"].path, by_id["6"].fallback) == ("Deals/1/a (6).pdf", None)
