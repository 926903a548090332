"""The shared poll's cursor: baseline, hand-out once, advance only on Airflow's answer."""

from __future__ import annotations

from airflow_provider_zoho_attach.utils.watching import AttachmentCursor, merge_saved

R = ("Deals", "1")


def listing(*ids):
    """Zoho lists newest first."""
    return [{"id": i, "File_Name": f"{i}.pdf"} for i in reversed(ids)]


def test_the_first_listing_is_the_baseline():
    cursor = AttachmentCursor()
    assert not cursor.knows(R)
    assert cursor.observe(R, listing("a", "b")) == []
    assert cursor.seen(R) == ["a", "b"]


def test_new_attachments_are_handed_out_once_oldest_first_until_settled():
    cursor = AttachmentCursor()
    cursor.observe(R, listing("a"))
    fresh = cursor.observe(R, listing("a", "b", "c"))
    assert [item["id"] for item in fresh] == ["b", "c"]
    assert cursor.observe(R, listing("a", "b", "c")) == []  # in flight: not again
    assert cursor.seen(R) == ["a"]  # the cursor has not moved: Airflow has not answered
    cursor.settle(R, "b", delivered=True)
    cursor.settle(R, "c", delivered=False)  # a watcher failed: comes again
    assert cursor.seen(R) == ["a", "b"]
    assert [item["id"] for item in cursor.observe(R, listing("a", "b", "c"))] == ["c"]


def test_deleted_attachments_are_forgotten_but_not_on_an_empty_listing():
    cursor = AttachmentCursor()
    cursor.restore(R, ["a", "b"])
    assert cursor.observe(R, []) == []
    assert cursor.seen(R) == ["a", "b"]
    assert cursor.observe(R, listing("b")) == []
    assert cursor.seen(R) == ["b"]


def test_restored_state_resumes_where_airflow_left_off():
    cursor = AttachmentCursor()
    cursor.restore(R, ["a"])
    assert [item["id"] for item in cursor.observe(R, listing("a", "b"))] == ["b"]
    cursor.forget(R)
    assert not cursor.knows(R)


def test_saved_states_are_merged_so_nothing_is_missed():
    states = [{"1": ["a", "b"]}, {"1": ["a"]}, {"2": ["x"]}]
    assert merge_saved(states, "1") == {"a"}
    assert merge_saved(states, "2") == {"x"}
    assert merge_saved(states, "3") is None
