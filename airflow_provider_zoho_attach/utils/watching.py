"""What a shared attachment poll has delivered, per record (no I/O).

The cursor of a record is the set of attachment ids Airflow has taken (their events were stored in
Airflow's metadata database, or every watcher declined them). An attachment found by a listing is
*in flight* from the moment it is handed out until Airflow's answer settles it: delivered, it joins
the cursor; not delivered (a watcher failed, the triggerer stopped), it is handed out again by the
next listing. So the cursor never moves past an event Airflow has not taken.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

__all__ = ["AttachmentCursor", "RecordKey", "merge_saved"]

#: ``(module, record_id)``.
RecordKey = tuple[str, str]


def merge_saved(states: Iterable[Mapping[str, Collection[str]]], record_id: str) -> set[str] | None:
    """
    The ids the saved states of several watchers agree were taken for ``record_id``.

    A state that does not know an id makes it come again rather than never: the intersection.

    :param states: each watcher's saved ``{record_id: [attachment ids]}``.
    :return: the ids, or ``None`` if no state knows the record (it needs a baseline).
    """
    merged: set[str] | None = None
    for state in states:
        if record_id in state:
            ids = {str(i) for i in state[record_id]}
            merged = ids if merged is None else merged & ids
    return merged


class AttachmentCursor:
    """The delivered and in-flight attachment ids of the records one shared poll lists."""

    def __init__(self) -> None:
        self._seen: dict[RecordKey, set[str]] = {}
        self._in_flight: dict[RecordKey, set[str]] = {}

    def knows(self, record: RecordKey) -> bool:
        """Whether ``record`` has a cursor (restored or a baseline); otherwise it needs a baseline."""
        return record in self._seen

    def restore(self, record: RecordKey, ids: Iterable[str]) -> None:
        """Start ``record`` from saved state (what was taken before a restart)."""
        self._seen[record] = {str(i) for i in ids}
        self._in_flight.setdefault(record, set())

    def forget(self, record: RecordKey) -> None:
        """Drop ``record`` (no watcher watches it any more)."""
        self._seen.pop(record, None)
        self._in_flight.pop(record, None)

    def seen(self, record: RecordKey) -> list[str]:
        """The ids taken for ``record``, sorted (what is saved)."""
        return sorted(self._seen.get(record, ()))

    def in_flight(self, record: RecordKey) -> set[str]:
        """The ids handed out for ``record`` that Airflow has not settled yet."""
        return set(self._in_flight.get(record, ()))

    def observe(self, record: RecordKey, listing: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """
        Take one listing of ``record``; return the attachments to hand out, oldest first.

        The first listing of a record without a cursor is its baseline: nothing is handed out. An
        empty listing (Zoho's 204) never shrinks the cursor, or everything would come again.

        :param listing: Zoho's attachment records, newest first (as Zoho lists them).
        """
        current = {str(item.get("id")) for item in listing}
        if record not in self._seen:
            self.restore(record, current)
            return []
        seen, flying = self._seen[record], self._in_flight[record]
        fresh = [item for item in reversed(listing) if str(item.get("id")) not in seen | flying]
        flying.update(str(item.get("id")) for item in fresh)
        if current:
            # Ids are never reused: forget deleted attachments, keeping the saved state small.
            seen &= current
        return fresh

    def settle(self, record: RecordKey, attachment_id: str, *, delivered: bool) -> None:
        """
        Airflow's answer for one handed-out attachment.

        :param delivered: taken (it joins the cursor) or not (the next listing hands it out again).
        """
        self._in_flight.get(record, set()).discard(str(attachment_id))
        if delivered and record in self._seen:
            self._seen[record].add(str(attachment_id))
