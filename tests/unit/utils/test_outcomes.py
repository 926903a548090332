"""Bulk outcomes: "already gone" counts as deleted, tallies, and the error that fails a bulk task."""

from __future__ import annotations

from airflow_provider_zoho_attach.exceptions import ZohoCRMError
from airflow_provider_zoho_attach.utils.outcomes import is_not_there, mark_missing, summary_error, tally


def _result(ident, status, **extra):
    return {"attachment_id": ident, "module": "Deals", "record_id": "1", "status": status, **extra}


def test_an_attachment_already_gone_counts_as_deleted_and_other_errors_stay():
    results = [
        _result("1", "deleted"),
        _result("2", "error", code="INVALID_DATA", message="the id given seems to be invalid"),
        _result("3", "error", code="NO_PERMISSION", message="permission denied"),
        _result("4", "unknown", code="INVALID_DATA", message="the answer was lost"),
    ]
    assert [is_not_there(r) for r in results] == [False, True, False, False]
    mark_missing(results)
    assert results[1] == _result("2", "missing")
    assert [r["status"] for r in results] == ["deleted", "missing", "error", "unknown"]
    assert tally(results) == {"deleted": 1, "missing": 1}


def test_a_lone_failure_is_raised_as_itself():
    error = summary_error("delete", [_result("2", "error", code="NO_PERMISSION", message="denied")], 1)
    assert isinstance(error, ZohoCRMError)
    assert error.code == "NO_PERMISSION"


def test_some_failed_is_a_partial_failure_that_says_what_was_kept():
    failed = [_result("2", "error", code="NO_PERMISSION", message="denied")]
    error = summary_error("delete", failed, 3, done={"deleted": 2})
    assert error.code == "PARTIAL_FAILURE"
    assert "The other 2 succeeded (2 deleted)" in error.hint


def test_all_failed_with_one_cause_gets_its_hint():
    failed = [_result(i, "error", code="NO_PERMISSION", message="denied") for i in ("1", "2")]
    error = summary_error("delete", failed, 2)
    assert error.code == "ALL_FAILED"
    assert "every delete failed with NO_PERMISSION" in error.hint
