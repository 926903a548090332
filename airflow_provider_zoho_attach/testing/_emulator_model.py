"""Value types of the Zoho CRM emulator: configuration, clock, request log records, faults, constants."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Protocol

__all__ = [
    "ALL_SCOPES",
    "FAULT_KINDS",
    "STANDARD_MODULES",
    "Clock",
    "EmulatorConfig",
    "EmulatorData",
    "Fault",
    "FilesData",
    "RequestRecord",
]

MIB = 1024 * 1024

#: Scopes of the default refresh token: everything the emulator knows about.
ALL_SCOPES: tuple[str, ...] = (
    "ZohoCRM.modules.ALL",
    "ZohoCRM.modules.attachments.ALL",
    "ZohoCRM.users.ALL",
    "ZohoCRM.org.ALL",
    "ZohoCRM.settings.ALL",
    "ZohoCRM.Files.ALL",
    "ZohoCRM.coql.READ",
    "ZohoSearch.securesearch.READ",
)

#: Module API names that support attachments (spec §1), mapped to the lower-case name their scopes use.
STANDARD_MODULES: dict[str, str] = {
    "Leads": "leads",
    "Accounts": "accounts",
    "Contacts": "contacts",
    "Deals": "deals",
    "Campaigns": "campaigns",
    "Tasks": "tasks",
    "Cases": "cases",
    "Events": "events",
    "Calls": "calls",
    "Solutions": "solutions",
    "Products": "products",
    "Vendors": "vendors",
    "Price_Books": "pricebooks",
    "Quotes": "quotes",
    "Sales_Orders": "salesorders",
    "Purchase_Orders": "purchaseorders",
    "Invoices": "invoices",
    "Appointments__s": "appointments",
    "Services__s": "services",
    "Notes": "notes",
}

#: Standard modules with a record photo (spec §2.7); custom modules have one too.
PHOTO_MODULES = frozenset({"Leads", "Contacts", "Accounts", "Products", "Vendors", "Deals"})

#: Kinds accepted by :meth:`ZohoCRMEmulator.inject_fault`.
FAULT_KINDS: frozenset[str] = frozenset(
    {
        "status",
        "429",
        "reset",
        "reset_mid_body",
        "truncated",
        "slow_body",
        "html_error",
        "invalid_token",
        "empty_204",
        "token_throttle",
        "commit_then_reset",
    }
)


class Clock:
    """
    The emulator's notion of "now": real time plus an offset that tests move forward.

    Token expiry, the token-creation window, page-token expiry, daily credits and the times of
    new attachments all read this clock, so tests advance time instead of sleeping.
    """

    def __init__(self, offset: float = 0.0) -> None:
        self._offset = offset
        self._lock = threading.Lock()

    def now(self) -> float:
        """Seconds since the epoch."""
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """
        Move time forward.

        :param seconds: how far (must not be negative: time does not go back).
        """
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds

    @property
    def offset(self) -> float:
        """How far this clock is ahead of real time, in seconds."""
        return self._offset


@dataclass
class EmulatorConfig:
    """
    Behaviour switches of the emulator; every field can be changed while it runs.

    Fields marked *guess* settle points the spec calls UNVERIFIED; switch them to test a client
    against the other possibility.

    :param latency: seconds added to every API call (``/crm/...``); the call holds its concurrency
        slot meanwhile.
    :param max_concurrency: API calls in flight at once; more get 429 ``TOO_MANY_REQUESTS`` at once.
        ``None`` = unlimited.
    :param daily_credits: API credits allowed per rolling 24 hours (what each call costs:
        :mod:`._emulator_credits`); ``None`` = unlimited.
    :param empty_list_status: *guess* 204 (default) or 200 (``{"data": [], "info": {...}}``) for an
        empty attachment list.
    :param fields_required: *guess* the list call needs ``fields`` (400 ``REQUIRED_PARAM_MISSING``).
    :param always_include_id: *guess* add ``id`` to listed records even when ``fields`` lacks it.
    :param token_ttl: access-token lifetime in seconds.
    :param token_creation_limit: access tokens one refresh token may create per window.
    :param token_creation_window: that window, in seconds.
    :param max_active_tokens: live access tokens per refresh token; one more revokes the oldest.
    :param max_upload_size: bytes per attachment upload; more gets 413 ``FILE_SIZE_MORE_THAN_ALLOWED_SIZE``.
    :param max_photo_size: bytes per photo; more gets 415 ``FILE_SIZE_MORE_THAN_ALLOWED_SIZE``.
    :param oauth_scope_mismatch_status: *guess* HTTP status of ``OAUTH_SCOPE_MISMATCH`` (401; one OAS
        example says 403).
    :param send_access_token_reset_header: send ``X-ACCESSTOKEN-RESET`` (the access token's expiry).
    :param page_token_ttl: lifetime of a ``next_page_token`` in seconds.
    :param discrete_pagination_limit: rows reachable with ``page`` alone.
    :param max_token_rows: rows one ``page_token`` walk may reach (``PAGINATION_LIMIT_EXCEEDED``).
    :param max_fields: *guess* field names per ``fields`` (400 ``LIMIT_EXCEEDED``).
    :param max_bulk_delete_ids: ids per bulk delete.
    :param missing_token_code: *guess* the code of a 401 for a request without ``Authorization``
        (``AUTHENTICATION_FAILURE`` or ``INVALID_TOKEN``).
    :param content_disposition_format: *guess* download file-name header: ``rfc5987``
        (``attachment;filename*=UTF-8''a%20b.pdf``), ``quoted`` (``attachment;filename="a b.pdf"``) or
        ``both``.
    :param modules_all_covers_attachments: *guess* ``ZohoCRM.modules.ALL`` also grants the
        ``ZohoCRM.modules.attachments`` scope.
    :param module_names_case_sensitive: *guess* module API names in paths must match exactly
        (``leads`` is then ``INVALID_MODULE``).
    :param blocked_extensions: file name endings refused on upload (400 ``INVALID_DATA``).
    :param send_credits_header: *guess* send ``X-API-CREDITS-REMAINING`` when ``daily_credits`` is set
        and at least ``credits_header_threshold`` of it is used.
    :param credits_header_threshold: *guess* the share of ``daily_credits`` used from which the
        header is sent (Zoho: "50% or above"; 0 sends it on every call).
    :param coql_credit_tiers: *guess* a COQL query costs 1, 2 or 3 credits by its ``LIMIT``
        (1-200, 201-1,000, 1,001-2,000) as Zoho's Vertical Solutions page says (``False``: 1).
    :param unverified_credit_cost: *guess* the credits of the calls whose cost Zoho does not publish
        (search, attachments, Files API, field files, photos, metadata): 1 by Zoho's default rule.
    :param attachments_bump_modified_time: *guess* adding or deleting an attachment sets the parent
        record's ``Modified_Time`` to now (no source says it does: off).
    :param utc_offset_minutes: time-zone offset of the times in responses (the org's time zone).
    :param drain_limit: bytes of an unwanted request body read and thrown away so that the
        connection can be reused; past it the connection is closed instead.
    :param idle_timeout: seconds a kept-alive connection may stay silent.
    :param request_log_limit: the newest requests kept in the log (``None`` = all).
    :param max_zfs_files: files (``file`` parts) per ``POST /files``; more get 400 ``INVALID_REQUEST``.
    :param max_zfs_file_size: bytes per ZFS file; a larger one gets the whole upload refused with
        ``FILE_SIZE_MORE_THAN_ALLOWED_SIZE``.
    :param zfs_oversize_status: *guess* HTTP status of that refusal (415 as in Zoho's YAML spec; its
        JSON spec says 400).
    :param virus_signature: a ZFS upload whose content contains this text gets 400
        ``VIRUS_DETECTED`` (the EICAR test file contains the default); ``""`` turns the check off.
    :param field_update_mode: *guess* how a record update treats a file or image field: ``append``
        (``File_Id__s`` items are added, ``{"id", "_delete"}`` items removed, the rest stays) or
        ``replace`` (the items sent become the list: ``{"id"}`` keeps an entry, a missing one goes).
    :param field_item_shape: *guess* how records show file and image field entries: ``v8``
        (``id``, ``File_Id__s``, ``File_Name__s``, ``Size__s``...) or ``legacy`` (``attachment_Id``,
        ``file_Id``, ``file_Name``, ``original_Size_Byte``...).
    :param field_limit_code: *guess* the code of an update that puts more files in a field than its
        ``length`` allows (HTTP 400).
    :param reject_unknown_fields: *guess* a record update naming a field the module does not have
        gets 400 ``INVALID_DATA`` (``False``: the key is ignored).
    :param files_api_serves_field_files: *guess* ``GET /files?id=<File_Id__s>`` serves the file of a
        file or image field (``False``: 204, only ``download_fields_attachment`` serves it).
    :param field_attachment_missing_status: *guess* status of ``download_fields_attachment`` for an
        id the record does not have: 204 (empty) or 400 (``INVALID_DATA``).
    """

    latency: float = 0.0
    max_concurrency: int | None = None
    daily_credits: int | None = None
    empty_list_status: int = 204
    fields_required: bool = True
    always_include_id: bool = False
    token_ttl: float = 3600.0
    token_creation_limit: int = 10
    token_creation_window: float = 600.0
    max_active_tokens: int = 15
    max_upload_size: int = 100 * MIB
    max_photo_size: int = 10 * MIB
    oauth_scope_mismatch_status: int = 401
    send_access_token_reset_header: bool = True
    page_token_ttl: float = 24 * 3600.0
    discrete_pagination_limit: int = 2000
    max_token_rows: int = 100_000
    max_fields: int = 50
    max_bulk_delete_ids: int = 100
    missing_token_code: str = "AUTHENTICATION_FAILURE"
    content_disposition_format: str = "rfc5987"
    modules_all_covers_attachments: bool = True
    module_names_case_sensitive: bool = True
    blocked_extensions: tuple[str, ...] = (".exe",)
    send_credits_header: bool = True
    credits_header_threshold: float = 0.5
    coql_credit_tiers: bool = True
    unverified_credit_cost: int = 1
    attachments_bump_modified_time: bool = False
    utc_offset_minutes: int = 0
    drain_limit: int = 1024 * MIB
    idle_timeout: float = 120.0
    request_log_limit: int | None = 100_000
    max_zfs_files: int = 10
    max_zfs_file_size: int = 20 * MIB
    zfs_oversize_status: int = 415
    virus_signature: str = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE"
    field_update_mode: str = "append"
    field_item_shape: str = "v8"
    field_limit_code: str = "LIMIT_EXCEEDED"
    reject_unknown_fields: bool = True
    files_api_serves_field_files: bool = True
    field_attachment_missing_status: int = 204

    def update(self, **changes: Any) -> None:
        """
        Change several fields, rejecting unknown names.

        :raises TypeError: a name is not a field.
        """
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise TypeError(f"unknown emulator config field(s): {', '.join(sorted(unknown))}")
        for name, value in changes.items():
            setattr(self, name, tuple(value) if name == "blocked_extensions" else value)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-serialisable dict."""
        data = asdict(self)
        data["blocked_extensions"] = list(self.blocked_extensions)
        return data

    def tz(self) -> timezone:
        """The time zone of response times."""
        return timezone(timedelta(minutes=self.utc_offset_minutes))


def format_time(epoch: float, tz: timezone) -> str:
    """Zoho's time format: ISO 8601, seconds, numeric offset (``2024-03-02T14:05:11+00:00``)."""
    return datetime.fromtimestamp(int(epoch), tz).isoformat()


def parse_time(value: datetime | str | float | None, default: float) -> float:
    """Turn a ``datetime`` (naive = UTC), an ISO string or epoch seconds into epoch seconds."""
    if value is None:
        return default
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


@dataclass(frozen=True)
class RequestRecord:
    """
    One request served by the emulator (admin requests under ``/__emulator__/`` excluded).

    Secrets never appear: no headers are kept, and query or form parameters that carry tokens or
    secrets are replaced by ``***``.

    :param method: the HTTP method.
    :param path: the URL path (no query).
    :param query: the query parameters (last value wins), redacted.
    :param status: the status line sent; 0 when the connection was reset before any response.
    :param started: clock time the request line arrived.
    :param finished: clock time the answer started to go out (or the connection was dropped). The
        record is logged at that moment, so a client that has seen its answer finds it in the log.
    :param bytes_in: request body bytes read.
    :param bytes_out: response body bytes sent (or being sent).
    :param fault: the injected fault that answered it, if any.
    :param code: Zoho's ``code`` (or OAuth ``error``) of an error answer, if any.
    :param form: url-encoded or multipart text fields of the body, redacted.
    """

    method: str
    path: str
    query: dict[str, str]
    status: int
    started: float
    finished: float
    bytes_in: int = 0
    bytes_out: int = 0
    fault: str | None = None
    code: str | None = None
    form: dict[str, str] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        """Seconds between arrival and answer."""
        return self.finished - self.started

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return asdict(self)


_SECRET_PARAM = re.compile(r"(^|_)(token|secret|password|code)$|^(refresh|access)_token$", re.IGNORECASE)


def redact(params: dict[str, str]) -> dict[str, str]:
    """Replace the values of parameters that carry credentials by ``***`` (``page_token`` is kept)."""
    return {
        key: ("***" if _SECRET_PARAM.search(key) and key.lower() != "page_token" else value)
        for key, value in params.items()
    }


@dataclass
class Fault:
    """
    An injected fault waiting for matching requests.

    :param kind: one of :data:`FAULT_KINDS`.
    :param count: how many more requests it answers.
    :param method: only requests with this method (``None`` = any).
    :param path: a regular expression searched in the path; ``None`` = API calls (``/crm/...``),
        or the token endpoint for ``token_throttle``.
    :param status: the status of a ``status`` fault.
    :param delay: seconds: the stall of ``slow_body``; for other kinds a wait before answering.
    """

    kind: str
    count: int = 1
    method: str | None = None
    path: str | None = None
    status: int | None = None
    delay: float | None = None
    _pattern: re.Pattern[str] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; use one of {', '.join(sorted(FAULT_KINDS))}")
        if self.count < 1:
            raise ValueError("count must be at least 1")
        if self.kind == "status" and (self.status is None or not 100 <= self.status <= 599):
            raise ValueError("a 'status' fault needs status=<100..599>")
        if self.delay is not None and self.delay < 0:
            raise ValueError("delay must not be negative")
        if self.method is not None:
            self.method = self.method.upper()
        self._pattern = re.compile(self.path) if self.path is not None else None

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to a request."""
        if self.method is not None and self.method != method:
            return False
        if self._pattern is not None:
            return self._pattern.search(path) is not None
        if self.kind == "token_throttle":
            return path == "/oauth/v2/token"
        return path.startswith("/crm/")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return {
            "kind": self.kind,
            "count": self.count,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "delay": self.delay,
        }


class FilesData(Protocol):
    """
    The file side of the emulator facade (``emulator.files``), as its seeds and admin API use it.

    :class:`~airflow_provider_zoho_attach.testing.emulator.EmulatorFiles` is one.
    """

    def add_field(
        self, module: str, api_name: str, data_type: str = ..., *, length: int = ..., label: str | None = ...
    ) -> dict[str, Any]: ...

    def attach(
        self,
        module: str,
        record_id: str,
        field: str,
        file_name: str,
        content: bytes | str,
        *,
        content_type: str | None = ...,
        description: str | None = ...,
        created_time: datetime | str | float | None = ...,
    ) -> dict[str, Any]: ...

    def fields(self, module: str) -> list[dict[str, Any]]: ...

    def field_files(self, module: str, record_id: str, field: str | None = ...) -> list[dict[str, Any]]: ...

    def zfs_files(self, *, used: bool | None = ...) -> list[dict[str, Any]]: ...

    def flag_virus(self, file_name: str) -> None: ...


class EmulatorData(Protocol):
    """
    The data side of the emulator facade, as its seeds and its admin API use it.

    :class:`~airflow_provider_zoho_attach.testing.emulator.ZohoCRMEmulator` is one; the modules
    that need it ask for this protocol instead of importing the facade (which imports them).
    """

    clock: Clock

    @property
    def files(self) -> FilesData: ...

    def add_record(self, module: str, record_id: str | None = ..., *, name: str | None = ...) -> str: ...

    def add_attachment(
        self,
        module: str,
        record_id: str,
        file_name: str,
        content: bytes | str,
        *,
        created_time: datetime | str | float | None = ...,
        content_type: str | None = ...,
    ) -> str: ...

    def add_link_attachment(
        self,
        module: str,
        record_id: str,
        url: str,
        *,
        title: str | None = ...,
        created_time: datetime | str | float | None = ...,
    ) -> str: ...

    def set_photo(self, module: str, record_id: str, content: bytes, content_type: str = ...) -> None: ...

    def records(self) -> list[dict[str, Any]]: ...
