"""What a bulk task reports: one status per item, their tally, and the error that fails the task.

Shared by the download, upload and delete operators. Statuses are ``"downloaded"``,
``"uploaded"``, ``"unchanged"``, ``"skipped"``, ``"deleted"``, ``"missing"`` (a delete found the
attachment already gone), ``"failed"``/``"error"`` and ``"unknown"`` (an answer was lost and the check
that would tell failed too).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from typing import Any

__all__ = ["ATTACHMENT_NOT_THERE", "is_not_there", "mark_missing", "summary_error", "tally"]

#: Zoho's per-id answer to a delete of an attachment id the record does not have (already deleted).
ATTACHMENT_NOT_THERE = "INVALID_DATA"


def is_not_there(result: Mapping[str, Any]) -> bool:
    """Whether a per-id delete result is Zoho's answer for an attachment that is not there."""
    return result.get("status") == "error" and result.get("code") == ATTACHMENT_NOT_THERE


def mark_missing(results: Iterable[MutableMapping[str, Any]]) -> None:
    """
    Count attachments that are already gone as deleted: their status becomes ``"missing"``.

    Zoho's code and message are dropped from those results: nothing went wrong. Re-running a delete
    task is safe this way.
    """
    for result in results:
        if is_not_there(result):
            result["status"] = "missing"
            result.pop("code", None)
            result.pop("message", None)


def tally(results: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """How many results have each status, failures left out (``{"downloaded": 1, "unchanged": 3}``)."""
    counts: dict[str, int] = {}
    for result in results:
        status = str(result.get("status"))
        if status not in ("failed", "error", "unknown"):
            counts[status] = counts.get(status, 0) + 1
    return counts


def summary_error(
    verb: str, failed: Sequence[Mapping[str, Any]], total: int, *, done: Mapping[str, int] | None = None
) -> Exception:
    """
    The error that fails a bulk task after every item was tried.

    One item that failed alone is re-raised as itself (its class, code and hint). Several that all
    failed are ``ALL_FAILED``; with some that succeeded it is ``PARTIAL_FAILURE``, and the hint says
    what was kept. Neither claims anything that did not happen.

    :param verb: what each item was ("download", "upload", "delete").
    :param failed: the failed items (with ``error``, or Zoho's ``code``/``message`` for deletes).
    :param total: how many items the task had.
    :param done: how many items ended with each other status (``{"downloaded": 2, "unchanged": 1}``).
    """
    from airflow_provider_zoho_attach.exceptions import ZohoCRMError, make_error

    def error_of(item: Mapping[str, Any]) -> ZohoCRMError:
        error = item.get("error")
        if isinstance(error, Mapping):
            return ZohoCRMError.from_dict(error)
        # A delete's per-id result carries Zoho's code and message only.
        return make_error(
            str(item.get("message") or f"{verb} failed"),
            code=item.get("code"),
            status_code=None,
            operation=f"{verb} attachment {item.get('attachment_id')}",
        )

    if len(failed) == total == 1:
        return error_of(failed[0])
    lines = []
    for item in failed[:10]:
        error = item.get("error") or item
        what = item.get("source") or item.get("file_name") or item.get("attachment_id")
        lines.append(f"{what}: {error.get('code')} {error.get('message')}")
    more = f" (and {len(failed) - 10} more)" if len(failed) > 10 else ""
    listed = "; ".join(lines) + more
    codes = {error_of(item).code for item in failed}
    if len(failed) >= total:
        # Nothing succeeded: a shared cause gets its own hint, which says more than "fix them".
        common = error_of(failed[0]).hint if len(codes) == 1 else None
        return ZohoCRMError(
            f"all {total} {verb}s failed: {listed}",
            code="ALL_FAILED",
            details={"failed": len(failed), "total": total},
            hint=(
                f"Nothing succeeded{f' (every {verb} failed with {next(iter(codes))})' if common else ''}. "
                + (common or "Fix the failures listed and re-run.")
            ),
        )
    kept = ", ".join(f"{count} {status}" for status, count in (done or {}).items())
    return ZohoCRMError(
        f"{len(failed)} of {total} {verb}s failed: {listed}",
        code="PARTIAL_FAILURE",
        details={"failed": len(failed), "total": total, **dict(done or {})},
        hint=(
            f"The other {total - len(failed)} succeeded{f' ({kept})' if kept else ''}; fix the failures "
            "and re-run (what succeeded is not done twice)."
        ),
    )
