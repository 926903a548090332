"""The shapes of what the hooks return: typed dictionaries, for type checkers and readers.

At run time every result is a plain ``dict`` (JSON-serialisable, so an operator can push it to XCom
as it is); these classes only say which keys it has and what they hold. Keys that only some
results carry are in a ``total=False`` class. Zoho's own attachment records are typed as far as the
provider knows them: a listing asked for other ``fields`` carries those keys too.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

__all__ = [
    "AttachmentRecord",
    "DeleteResult",
    "DownloadResult",
    "DownloadedFile",
    "FieldAttachResult",
    "FieldFile",
    "FieldFileDownloadResult",
    "FieldRemoveResult",
    "MirrorSummary",
    "PhotoDeleteResult",
    "PhotoDownloadResult",
    "PhotoUploadResult",
    "RecordRef",
    "UploadResult",
    "ZfsDownloadResult",
    "ZfsUploadResult",
]

# The $-prefixed keys are why this one is declared with the functional syntax.
AttachmentRecord = TypedDict(
    "AttachmentRecord",
    {
        "id": str,
        "File_Name": str,
        "Size": str,
        "Created_Time": str,
        "Modified_Time": str,
        "$type": str,
        "$link_url": str,
        "$file_id": str,
        "$se_module": str,
        "Parent_Id": dict[str, Any],
        "Created_By": dict[str, Any],
        "Modified_By": dict[str, Any],
        "Owner": dict[str, Any],
    },
    total=False,
)
AttachmentRecord.__doc__ = """
A record of Zoho's attachment listing (``GET /{module}/{record_id}/Attachments``).

Zoho's own JSON object, with the keys of the fields asked for: ``id`` always, and by default
``File_Name``, ``Size`` (a string of digits), ``Created_Time``, ``Modified_Time``, ``$type``
(``"Attachment"`` or ``"Link URL"``), ``$link_url``, ``$file_id``, ``$se_module`` and
``Parent_Id``; other ``fields`` bring their own keys.
"""


class _OnRecord(TypedDict):
    """The record a result is about: ``module`` (its API name) and ``record_id``."""

    module: str
    record_id: str


class _Uploaded(_OnRecord):
    #: Zoho's id of the new attachment.
    attachment_id: str
    #: The name in Zoho (for a link: its title, else its URL).
    file_name: str
    #: Bytes sent (``0`` for a link).
    size: int


class UploadResult(_Uploaded, total=False):
    """
    What ``upload_attachment`` and ``attach_link`` return.

    Always ``attachment_id`` (Zoho's id of the new attachment), ``file_name``, ``size`` (bytes;
    ``0`` for a link), ``module`` and ``record_id``. An upload adds ``sha256`` (of the bytes sent;
    ``None`` if it could not be computed on the way) and ``created_time`` (Zoho's, or ``None``); a
    link adds ``link_url``.
    """

    #: Hex SHA-256 of the bytes sent (uploads; ``None`` if it could not be computed on the way).
    sha256: str | None
    #: Zoho's ``Created_Time`` of the new attachment (uploads; ``None`` if Zoho sent none).
    created_time: str | None
    #: The URL attached (links).
    link_url: str


class _WrittenFile(TypedDict):
    #: The file's name at the destination (made safe; unique among the run's downloads).
    file_name: str
    #: Where the file is: a local path or an object-storage URL.
    path: str
    #: Bytes written.
    size: int
    #: Hex SHA-256 of the bytes written.
    sha256: str
    #: The media type Zoho sent.
    content_type: str
    #: ``"downloaded"``, or ``"unchanged"`` when an identical file was already there.
    status: Literal["downloaded", "unchanged"]


class DownloadedFile(_OnRecord, _WrittenFile):
    """
    What a download wrote: the common part of :class:`DownloadResult` and ``download_photo``'s.

    ``file_name`` (made safe; unique among the run's downloads), ``path`` (local, or an
    object-storage URL), ``size`` (bytes written), ``sha256`` (hex), ``content_type`` (what Zoho
    sent) and ``status`` (``"downloaded"``, or ``"unchanged"`` when an identical file was already
    there), with ``module`` and ``record_id``.
    """


class DownloadResult(DownloadedFile):
    """What ``download_attachment`` returns: a :class:`DownloadedFile` and the ``attachment_id``."""

    #: The attachment's id.
    attachment_id: str


class PhotoDownloadResult(DownloadedFile):
    """What ``download_photo`` returns: a :class:`DownloadedFile` (a photo has no id of its own)."""


class _Deleted(_OnRecord):
    #: The attachment's id.
    attachment_id: str
    #: ``"deleted"``, ``"error"`` or ``"unknown"``.
    status: Literal["deleted", "error", "unknown"]


class DeleteResult(_Deleted, total=False):
    """
    The result of deleting one attachment (``delete_attachment``, each of ``delete_attachments``).

    Always ``attachment_id``, ``module``, ``record_id`` and ``status``: ``"deleted"``, ``"error"``
    (with Zoho's ``code`` and ``message``) or ``"unknown"`` (an answer was lost and the check that
    would tell failed too; ``code`` and ``message`` say why).
    """

    #: Zoho's error code (``"error"``), or the code of the failed check (``"unknown"``).
    code: str | None
    #: What went wrong, in words.
    message: str | None


class PhotoUploadResult(_OnRecord):
    """What ``upload_photo`` returns (and ``module``, ``record_id``)."""

    #: The image's name.
    file_name: str
    #: Bytes sent.
    size: int
    #: Hex SHA-256 of the bytes sent (``None`` if it could not be computed on the way).
    sha256: str | None


class PhotoDeleteResult(_OnRecord):
    """What ``delete_photo`` returns (and ``module``, ``record_id``)."""

    #: Always ``"deleted"``.
    status: Literal["deleted"]


# ---------------------------------------------------------------------- file and image fields


class FieldFile(TypedDict):
    """A file held in a record's file-upload or image-upload field (``list_field_files``)."""

    #: The field's API name.
    field: str
    #: The item's id: what ``download_field_file`` and ``remove_field_files`` take.
    id: str
    #: The file's id in the Zoho File System.
    file_id: str | None
    file_name: str | None
    #: Bytes, as Zoho reports them.
    size: int | None
    created_time: str | None
    modified_time: str | None


class FieldFileDownloadResult(DownloadResult):
    """What ``download_field_file`` returns: ``attachment_id`` is the field item's id."""

    #: The field's API name, as the caller gave it (``None`` if it did not).
    field: str | None


class FieldAttachResult(_OnRecord):
    """One file ``attach_to_field`` added (and ``module``, ``record_id``)."""

    #: The new field item's id (``None`` if Zoho's record did not show it after the update).
    attachment_id: str | None
    #: The file's id in the Zoho File System.
    file_id: str
    file_name: str | None
    size: int | None
    #: Hex SHA-256 of the bytes sent (``None`` for a file attached by its ZFS id).
    sha256: str | None
    field: str
    created_time: str | None


class FieldRemoveResult(_OnRecord):
    """One id of ``remove_field_files`` (and ``module``, ``record_id``)."""

    #: The field item's id.
    attachment_id: str
    field: str
    #: ``"deleted"``, or ``"absent"`` when the field did not hold it (a re-run).
    status: Literal["deleted", "absent"]


class ZfsUploadResult(TypedDict):
    """One file ``upload_files`` put in the Zoho File System."""

    #: The single-use id Zoho gave the file.
    file_id: str
    file_name: str
    size: int
    #: Hex SHA-256 of the bytes sent.
    sha256: str


class ZfsDownloadResult(_WrittenFile):
    """What ``download_file`` returns: :class:`DownloadedFile` without a record, with ``file_id``."""

    file_id: str


class RecordRef(TypedDict):
    """
    A record found by ``ZohoCRMFindRecordsOperator`` (``output_format="kwargs"``): exactly the ``module``
    and ``record_id`` arguments of the record-level operators, so ``.expand_kwargs(find.output)``
    maps one task instance per record. With ``output_format="records"`` each dict carries the selected
    fields besides these two keys.
    """

    module: str
    record_id: str


# ---------------------------------------------------------------------- the mirror


class _MirrorCounts(TypedDict):
    #: Records selected (and listed).
    records: int
    #: Files (attachments, and field files if asked) the listings found.
    attachments: int
    #: Files downloaded by this run (new, changed, or missing from the destination).
    downloaded: int
    #: Files already mirrored with the same ``Modified_Time`` and size: no byte transferred.
    unchanged: int
    #: Attachments found gone from Zoho by this run, now tombstones in the manifest.
    deleted: int
    #: Bytes downloaded.
    bytes: int
    #: API credits the task used (selection, listings, downloads).
    credits: int
    #: Where the manifest is (a local path or an object-storage URL).
    manifest: str


class MirrorSummary(_MirrorCounts, total=False):
    """
    What ``ZohoCRMMirrorAttachmentsOperator`` returns by XCom: counts, never the list of files.

    Always ``records``, ``attachments``, ``downloaded``, ``unchanged``, ``deleted``, ``bytes``,
    ``credits`` and ``manifest``; also ``removed`` (tombstoned files removed with
    ``delete_missing``), ``failed`` (files or records that failed), ``capped`` (a search stopped
    at Zoho's 2,000 records), ``dry_run``, and for a dry run what a real run would do:
    ``to_download``, ``bytes_to_download`` and ``estimated_credits``.
    """

    removed: int
    failed: int
    capped: bool
    dry_run: bool
    to_download: int
    bytes_to_download: int
    estimated_credits: int
