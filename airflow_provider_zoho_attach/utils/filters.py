"""Which attachments a task is interested in: by name pattern, creation time, and ids already seen.

Shared by the list and download operators, the sensor and both triggers, so that "new attachment"
means the same thing everywhere.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from airflow_provider_zoho_attach.utils.protocol import is_link
from airflow_provider_zoho_attach.utils.times import created_time
from airflow_provider_zoho_attach.utils.validation import (
    parse_time_argument,
    validate_known_ids,
    validate_patterns,
)

__all__ = ["AttachmentFilter", "created_time", "link_attachment", "parse_time_argument"]


def link_attachment(records: Iterable[Mapping[str, Any]], url: str) -> Mapping[str, Any] | None:
    """
    The link attachment of ``url`` among ``records``, if there is one (Zoho keeps one per record).

    Stops at the first match, so a lazy listing fetches no page beyond it.
    """
    return next((record for record in records if record.get("$link_url") == url), None)


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
        return cls(
            file_name_patterns=validate_patterns(file_name_pattern),
            created_after=parse_time_argument(created_after, argument=created_after_argument),
            created_before=parse_time_argument(created_before, argument=created_before_argument),
            known_ids=validate_known_ids(known_ids),
            files_only=files_only,
        )

    @classmethod
    def new_attachments(
        cls,
        *,
        since: Any = None,
        until: Any = None,
        known_ids: Iterable[Any] | None = None,
        file_name_pattern: Any = None,
    ) -> AttachmentFilter:
        """
        What the sensor and its trigger wait for: created in ``[since, until)``, not in ``known_ids``.

        Errors call the two times ``since`` and ``until``, as the sensor's arguments are named.
        """
        return cls.build(
            file_name_pattern=file_name_pattern,
            created_after=since,
            created_before=until,
            known_ids=known_ids,
            created_after_argument="since",
            created_before_argument="until",
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
