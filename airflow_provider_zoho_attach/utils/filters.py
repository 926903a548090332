"""Which attachments a task is interested in: by name pattern, creation time, and ids already seen.

Shared by the list and download operators, the sensor and both triggers, so that "new attachment"
means the same thing everywhere.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from airflow_provider_zoho_attach.exceptions import ZohoCRMInvalidRequestError
from airflow_provider_zoho_attach.utils.protocol import is_link
from airflow_provider_zoho_attach.utils.times import created_time
from airflow_provider_zoho_attach.utils.validation import parse_time_argument

__all__ = ["AttachmentFilter", "created_time", "parse_time_argument"]


def _patterns(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Sequence) and all(isinstance(item, str) and item for item in value):
        return tuple(value)
    raise ZohoCRMInvalidRequestError.for_argument(
        "file_name_pattern", value, "a glob such as '*.pdf', or a list of globs"
    )


@dataclass(frozen=True)
class AttachmentFilter:
    """
    A predicate on attachment records.

    :param file_name_patterns: globs matched against ``File_Name``, case-insensitively; any may match.
    :param created_after: keep records created at or after this time.
    :param created_before: keep records created strictly before this time.
    :param known_ids: drop records with these ids.
    :param files_only: drop link attachments.
    """

    file_name_patterns: tuple[str, ...] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None
    known_ids: frozenset[str] = field(default_factory=frozenset)
    files_only: bool = False

    @classmethod
    def build(
        cls,
        *,
        file_name_pattern: Any = None,
        created_after: Any = None,
        created_before: Any = None,
        known_ids: Iterable[Any] | None = None,
        files_only: bool = False,
        created_after_argument: str = "created_after",
        created_before_argument: str = "created_before",
    ) -> AttachmentFilter:
        """
        Check user arguments (rendered templates included) and build the filter.

        The ``*_argument`` names are what errors call the two times (a sensor calls them ``since``
        and ``until``).
        """
        known: set[str] = set()
        if known_ids is not None:
            if isinstance(known_ids, str | bytes) or not isinstance(known_ids, Iterable):
                raise ZohoCRMInvalidRequestError.for_argument(
                    "known_ids", known_ids, "a list of attachment ids"
                )
            for item in known_ids:
                known.add(str(item.get("id")) if isinstance(item, Mapping) else str(item))
        return cls(
            file_name_patterns=_patterns(file_name_pattern),
            created_after=parse_time_argument(created_after, argument=created_after_argument),
            created_before=parse_time_argument(created_before, argument=created_before_argument),
            known_ids=frozenset(known),
            files_only=files_only,
        )

    def matches(self, record: Mapping[str, Any]) -> bool:
        """Whether ``record`` passes every condition."""
        if self.known_ids and str(record.get("id")) in self.known_ids:
            return False
        if self.files_only and is_link(record):
            return False
        if self.file_name_patterns:
            name = str(record.get("File_Name") or "").casefold()
            if not any(fnmatch.fnmatchcase(name, pattern.casefold()) for pattern in self.file_name_patterns):
                return False
        if self.created_after is not None or self.created_before is not None:
            created = created_time(record)
            if created is None:
                return False
            if self.created_after is not None and created < self.created_after:
                return False
            if self.created_before is not None and created >= self.created_before:
                return False
        return True

    def apply(self, records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """The records that match, in order."""
        return [dict(record) for record in records if self.matches(record)]
