"""
The decisions of the incremental attachment mirror, without I/O.

The mirror (:class:`~airflow_provider_zoho_attach.operators.mirror.ZohoCRMMirrorAttachmentsOperator`)
keeps ``<destination>/<module>/<record_id>/<file>`` and a manifest, ``<destination>/manifest.jsonl``:
one JSON line per attachment (:class:`ManifestEntry`). This module decides, from a record's listing,
the manifest and the files in the destination, what to fetch, what is unchanged and what is gone
(:func:`plan_record`); it reads and writes the manifest's lines (:func:`parse_manifest`,
:func:`serialise_manifest`) and guards the API credits (:class:`CreditBudget`). The operator and
:mod:`~airflow_provider_zoho_attach.utils.mirror_storage` do the requests and the file system work;
:class:`~airflow_provider_zoho_attach.utils.progress.MirrorProgress` paces its progress lines.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from airflow_provider_zoho_attach.exceptions import ZohoCRMCreditBudgetError, ZohoCRMTransferError
from airflow_provider_zoho_attach.utils.filenames import suffixed_filename
from airflow_provider_zoho_attach.utils.protocol import attachment_size, is_link
from airflow_provider_zoho_attach.utils.transfer import choose_file_name

if TYPE_CHECKING:
    from airflow_provider_zoho_attach.utils.credits import CreditMeter

__all__ = [
    "CHECKPOINT_NAME",
    "MANIFEST_NAME",
    "CreditBudget",
    "EntryKey",
    "Fetch",
    "ManifestEntry",
    "RecordPlan",
    "RemoteFile",
    "entry_key",
    "entry_line",
    "out_of_selection",
    "parse_manifest",
    "plan_record",
    "present_entry",
    "remote_attachments",
    "remote_field_files",
    "removable",
    "serialise_manifest",
    "tombstone",
]

#: The manifest's name in the destination.
MANIFEST_NAME = "manifest.jsonl"
#: The checkpoint's name, beside the manifest (object storage: a prefix of one object per file).
CHECKPOINT_NAME = "manifest.jsonl.checkpoint"

Status = Literal["present", "deleted"]


class ManifestEntry(TypedDict):
    """
    One line of the manifest: an attachment (or a field's file) and where its bytes are.

    ``path`` is relative to the destination, ``/``-separated. ``status`` is ``"present"``, or
    ``"deleted"`` for a tombstone: the attachment is gone from Zoho (its file is removed only
    with ``delete_missing=True``).
    """

    module: str
    record_id: str
    attachment_id: str
    #: ``None`` for an attachment; the field's API name for a file-upload or image-upload field.
    field: str | None
    #: Zoho's file name (the file on disk has a safe form of it).
    name: str
    path: str
    size: int
    sha256: str
    created_time: str | None
    modified_time: str | None
    status: Status
    #: When this line was written (UTC, ISO-8601).
    mirrored_at: str


EntryKey = tuple[str, str, str]

_KEYS = frozenset(ManifestEntry.__annotations__)


def entry_key(entry: Mapping[str, Any]) -> EntryKey:
    """The identity of a line: ``(module, record_id, attachment_id)``."""
    return (str(entry["module"]), str(entry["record_id"]), str(entry["attachment_id"]))


def entry_line(entry: ManifestEntry) -> str:
    """One manifest line (compact JSON, keys sorted, ``\\n`` at the end)."""
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"


def serialise_manifest(entries: Iterable[ManifestEntry]) -> str:
    """The whole manifest: one line per entry, in ``(module, record_id, attachment_id)`` order."""
    ordered = sorted(entries, key=lambda e: (e["module"], int(e["record_id"]), int(e["attachment_id"])))
    return "".join(entry_line(entry) for entry in ordered)


def parse_manifest(text: str, *, source: str, checkpoint: bool = False) -> dict[EntryKey, ManifestEntry]:
    """
    Read manifest (or checkpoint) lines; a later line for the same attachment replaces an earlier one.

    :param text: the file's text.
    :param source: where it was read from, for the error.
    :param checkpoint: tolerate a torn last line (a run killed while appending): it is dropped.
        The manifest itself is written whole, so any bad line there is an error.
    :raises ZohoCRMTransferError: ``MANIFEST_CORRUPT`` for a line that is not a manifest entry.
    """
    entries: dict[EntryKey, ManifestEntry] = {}
    lines = text.split("\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        entry = _parse_line(line)
        if entry is None:
            if checkpoint and number == len(lines):
                break  # the torn tail of an append: that file is simply not checkpointed
            raise ZohoCRMTransferError(
                f"{source} line {number} is not a manifest entry: {line[:80]!r}",
                code="MANIFEST_CORRUPT",
                hint="The manifest is written whole by the mirror; restore it from a backup, or move it "
                "away: the next run rebuilds it, taking over the files that hold the same bytes.",
            )
        entries[entry_key(entry)] = entry
    return entries


def _parse_line(line: str) -> ManifestEntry | None:
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict) or not data.keys() >= _KEYS or data["status"] not in ("present", "deleted"):
        return None
    if not all(str(data[k]).isdigit() for k in ("record_id", "attachment_id")):
        return None
    if not isinstance(data["size"], int) or not is_safe_relative(data["path"]):
        return None
    return {k: data[k] for k in ManifestEntry.__annotations__}  # type: ignore[return-value]


def is_safe_relative(path: Any) -> bool:
    """Whether ``path`` is a relative ``a/b/c`` path that stays inside the destination."""
    if not isinstance(path, str) or not path or path.startswith("/") or "\\" in path:
        return False
    return all(part not in ("", ".", "..") for part in path.split("/"))


@dataclass(frozen=True)
class RemoteFile:
    """A file of a record as Zoho lists it: an attachment, or a file in a file/image field."""

    attachment_id: str
    name: str
    size: int | None
    created_time: str | None
    modified_time: str | None
    #: ``None`` for an attachment, else the field's API name.
    field: str | None = None


def remote_attachments(records: Iterable[Mapping[str, Any]]) -> list[RemoteFile]:
    """The file attachments of a listing (links have no bytes to mirror)."""
    return [
        RemoteFile(
            attachment_id=str(r["id"]),
            name=str(r.get("File_Name") or ""),
            size=attachment_size(r),
            created_time=_text(r.get("Created_Time")),
            modified_time=_text(r.get("Modified_Time") or r.get("Created_Time")),
        )
        for r in records
        if not is_link(r)
    ]


def remote_field_files(items: Iterable[Mapping[str, Any]]) -> list[RemoteFile]:
    """The files of a record's file fields (``list_field_files``), with their own item ids."""
    return [
        RemoteFile(
            attachment_id=str(item["id"]),
            name=str(item.get("file_name") or ""),
            size=item.get("size") if isinstance(item.get("size"), int) else None,
            created_time=_text(item.get("created_time")),
            modified_time=_text(item.get("modified_time") or item.get("created_time")),
            field=str(item["field"]),
        )
        for item in items
    ]


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


@dataclass(frozen=True)
class Fetch:
    """
    A file to download: what Zoho has, where it goes, and why (``new``, ``changed``, ``missing``).

    With a ``fallback``, ``path`` holds a file the manifest does not own, of the listed size: it
    may be this attachment's own bytes (a file committed just before a run was killed, before its
    checkpoint line; a destination whose manifest was lost). The download takes it over only if
    it holds exactly these bytes, and otherwise goes to ``fallback``: a file the mirror does not
    own is never replaced.
    """

    remote: RemoteFile
    path: str
    reason: Literal["new", "changed", "missing"]
    fallback: str | None = None


@dataclass
class RecordPlan:
    """What a run does for one record: fetch these, keep these, tombstone these."""

    module: str
    record_id: str
    fetch: list[Fetch] = field(default_factory=list)
    unchanged: list[ManifestEntry] = field(default_factory=list)
    gone: list[ManifestEntry] = field(default_factory=list)

    @property
    def bytes_to_fetch(self) -> int:
        """What the downloads will transfer, as far as Zoho's listing tells sizes."""
        return sum(item.remote.size or 0 for item in self.fetch)


def _order(remote: RemoteFile) -> tuple[bool, int, str]:
    # Attachments before field files, then by id as a number: the lowest id gets the plain name.
    return (remote.field is not None, len(remote.attachment_id), remote.attachment_id)


def plan_record(
    module: str,
    record_id: str,
    remote: Sequence[RemoteFile],
    known: Mapping[str, ManifestEntry],
    existing: Mapping[str, int],
) -> RecordPlan:
    """
    Decide what to do for one record.

    An attachment the manifest has, with the same ``Modified_Time`` and ``Size``, whose file is in
    the destination with its size, is unchanged (no byte transferred). Anything else listed is
    fetched: new ones to a free name, known ones to their own path. A ``present`` line whose
    attachment is no longer listed is gone (tombstoned).

    :param module: the module API name.
    :param record_id: the record id.
    :param remote: the record's files, as listed now.
    :param known: the manifest's lines of this record, by attachment id.
    :param existing: the files in the destination under ``<module>/<record_id>/``: path -> size.
    """
    plan = RecordPlan(module, record_id)
    listed = {item.attachment_id for item in remote}
    new: list[RemoteFile] = []
    for item in sorted(remote, key=_order):
        entry = known.get(item.attachment_id)
        if entry is None or entry["status"] != "present":
            new.append(item)
        elif _same(entry, item) and existing.get(entry["path"]) == entry["size"]:
            plan.unchanged.append(entry)
        else:
            reason: Literal["changed", "missing"] = "changed" if not _same(entry, item) else "missing"
            plan.fetch.append(Fetch(item, entry["path"], reason))
    taken = _taken_names(known, existing)
    for item in new:
        path = _free_path(module, record_id, item, known, taken)
        taken[path.casefold()] = item.attachment_id
        plain = f"{module}/{record_id}/{choose_file_name(None, item.name or None, item.attachment_id)}"
        maybe_ours = (
            item.size is not None and existing.get(plain) == item.size and item.attachment_id not in known
        )
        if maybe_ours and taken.get(plain.casefold()) == "":
            taken[plain.casefold()] = item.attachment_id  # no other attachment may take it over too
            plan.fetch.append(Fetch(item, plain, "new", fallback=path))
        else:
            plan.fetch.append(Fetch(item, path, "new"))
    plan.gone = [e for aid, e in known.items() if e["status"] == "present" and aid not in listed]
    return plan


def _same(entry: ManifestEntry, item: RemoteFile) -> bool:
    if entry["modified_time"] != item.modified_time:
        return False
    return item.size is None or entry["size"] == item.size


def _taken_names(known: Mapping[str, ManifestEntry], existing: Mapping[str, int]) -> dict[str, str]:
    """Paths (case-folded) that a new file must not take -> who holds them ("" for a foreign file)."""
    taken = {path.casefold(): "" for path in existing}
    taken.update({entry["path"].casefold(): aid for aid, entry in known.items()})
    return taken


def _free_path(
    module: str,
    record_id: str,
    item: RemoteFile,
    known: Mapping[str, ManifestEntry],
    taken: Mapping[str, str],
) -> str:
    """
    The path of a new file: its safe name, else ``name (<id>).ext``, never a path someone else holds.

    A file the manifest does not own (put there by someone else) is never replaced; a tombstone's
    path stays its own until its file is gone.
    """
    old = known.get(item.attachment_id)
    if old is not None and taken.get(old["path"].casefold()) in (item.attachment_id, None):
        return old["path"]
    name = choose_file_name(None, item.name or None, item.attachment_id)
    candidates = [name, suffixed_filename(name, item.attachment_id)]
    candidates += [suffixed_filename(name, f"{item.attachment_id}-{n}") for n in range(2, 100)]
    for candidate in candidates:
        path = f"{module}/{record_id}/{candidate}"
        if taken.get(path.casefold(), item.attachment_id) == item.attachment_id:
            return path
    raise ZohoCRMTransferError(  # 100 foreign files named after one attachment: not by chance
        f"no free file name for attachment {item.attachment_id} in {module}/{record_id}/",
        code="DESTINATION_EXISTS",
        hint="Remove the files in that directory that the manifest does not list.",
    )


def present_entry(
    module: str, record_id: str, remote: RemoteFile, *, path: str, size: int, sha256: str, now: str
) -> ManifestEntry:
    """The line of a file just downloaded (or found whole on a resume)."""
    return {
        "module": module,
        "record_id": record_id,
        "attachment_id": remote.attachment_id,
        "field": remote.field,
        "name": remote.name,
        "path": path,
        "size": size,
        "sha256": sha256,
        "created_time": remote.created_time,
        "modified_time": remote.modified_time,
        "status": "present",
        "mirrored_at": now,
    }


def tombstone(entry: ManifestEntry, *, now: str) -> ManifestEntry:
    """The line of an attachment gone from Zoho (its path, size and digest are kept)."""
    return {**entry, "status": "deleted", "mirrored_at": now}


def out_of_selection(
    entries: Iterable[ManifestEntry], module: str, selected: set[str]
) -> list[ManifestEntry]:
    """The ``present`` lines of ``module`` whose record the (complete) selection no longer has."""
    return [
        e
        for e in entries
        if e["module"] == module and e["status"] == "present" and e["record_id"] not in selected
    ]


def removable(entry: ManifestEntry, existing: Mapping[str, int], owned: Mapping[str, str]) -> bool:
    """
    Whether ``delete_missing`` may remove a tombstone's file.

    Only a path inside the destination, that this tombstone alone holds in the manifest, whose
    file is there with the size the mirror wrote: never a file the manifest does not own.

    :param entry: a ``deleted`` line.
    :param existing: the files in the destination: path -> size.
    :param owned: every path of the manifest (case-folded) -> the attachment id holding it.
    """
    path = entry["path"]
    return (
        entry["status"] == "deleted"
        and is_safe_relative(path)
        and path.startswith(f"{entry['module']}/{entry['record_id']}/")
        and owned.get(path.casefold()) == entry["attachment_id"]
        and existing.get(path) == entry["size"]
    )


class CreditBudget:
    """
    The API credits of one run: counted by kind, and kept within ``limit`` if one is set.

    Before each call the caller asks :meth:`spend`; it refuses (raises
    :class:`~airflow_provider_zoho_attach.exceptions.ZohoCRMCreditBudgetError`) when the hook's
    credits so far, plus the calls in flight, plus this one would pass the limit. Thread-safe: calls
    in flight are reserved, so threads never pass the limit together. (A call that Zoho makes the
    hook retry costs its retries too, which no estimate can know in advance.)

    :param meter: the hook's credit meter (``hook.credits``).
    :param limit: the most credits the run may use; ``None``: no limit, only counting.
    """

    KINDS = ("selection", "listing", "download")

    def __init__(self, meter: CreditMeter, limit: int | None) -> None:
        self.meter = meter
        self.limit = limit
        self.counts: dict[str, int] = dict.fromkeys(self.KINDS, 0)
        self._pending = 0
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def spend(self, cost: int, kind: str, what: str) -> Iterator[None]:
        """
        Reserve ``cost`` credits for one call of ``kind`` (``selection``, ``listing``, ``download``).

        :param cost: the call's credits.
        :param kind: what the call is for, counted in :attr:`counts`.
        :param what: the call, for the error.
        :raises ZohoCRMCreditBudgetError: the call would pass the limit (nothing is sent).
        """
        with self._lock:
            projected = self.meter.used + self._pending + cost
            if self.limit is not None and projected > self.limit:
                raise ZohoCRMCreditBudgetError.for_budget(
                    limit=self.limit, used=self.meter.used + self._pending, cost=cost, what=what
                )
            self._pending += cost
            self.counts[kind] += cost
        try:
            yield
        finally:
            with self._lock:
                self._pending -= cost
