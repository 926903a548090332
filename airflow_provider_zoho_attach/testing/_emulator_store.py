"""The emulator's state: records, attachments, photos, OAuth clients and tokens, page tokens.

Pure logic, no HTTP: the request handler turns HTTP into calls on :class:`Store` and its answers
into responses. One re-entrant lock guards everything; nothing here does I/O while holding it
except writing small seeded files.
"""

from __future__ import annotations

import base64
import bisect
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_zoho_attach.testing._emulator_model import (
    PHOTO_MODULES,
    STANDARD_MODULES,
    Clock,
    EmulatorConfig,
    format_time,
)

__all__ = ["AccessToken", "ApiError", "Attachment", "PageResult", "Record", "RefreshToken", "Store"]

#: The one CRM user of the emulated org.
USER = {"name": "Ada Example", "id": "5725767000000411001", "email": "ada@example.com"}
ORG_ID = "5725767000000002001"
ORG_ZGID = "700000001"

_ID_BASE = 5_725_767_000_001_000_000


class ApiError(Exception):
    """
    An error answer in Zoho's four-key shape.

    :param status: the HTTP status.
    :param code: Zoho's ``code``.
    :param message: Zoho's ``message``.
    :param details: Zoho's ``details``.
    """

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}

    def body(self) -> dict[str, Any]:
        """The JSON body."""
        return {"code": self.code, "details": self.details, "message": self.message, "status": "error"}


SortKey = tuple[float, int]


@dataclass
class Attachment:
    """
    One attachment of a record.

    :param id: the attachment id.
    :param module: the parent module's API name.
    :param record_id: the parent record id.
    :param file_name: ``File_Name`` (the title of a link).
    :param kind: ``File`` or ``Link URL``.
    :param size: bytes (0 for links).
    :param created: creation time, epoch seconds.
    :param content_type: the MIME type served on download.
    :param path: the file holding the content, if on disk.
    :param data: the content, if in memory.
    :param link_url: the URL of a link attachment.
    :param full: the complete Zoho JSON record.
    """

    id: str
    module: str
    record_id: str
    file_name: str
    kind: str
    size: int
    created: float
    content_type: str
    path: str | None = None
    data: bytes | None = None
    link_url: str | None = None
    full: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> SortKey:
        """Sort key: ascending order is newest first (ties: higher id first)."""
        return (-int(self.created), -int(self.id))

    def content(self) -> bytes:
        """The stored bytes."""
        if self.data is not None:
            return self.data
        if self.path is None:
            raise ValueError(f"attachment {self.id} is a link and has no content")
        with open(self.path, "rb") as handle:
            return handle.read()


@dataclass(frozen=True)
class PageResult:
    """
    A page of a listing.

    :param rows: the attachments of the page.
    :param start: the index of the first one in the listing.
    :param total: rows in the listing.
    :param previous_after: the page-token cursor of the previous page (``None``: the start).
    """

    rows: list[Attachment]
    start: int
    total: int
    previous_after: SortKey | None


@dataclass
class Photo:
    """A record photo."""

    data: bytes
    content_type: str


@dataclass
class Record:
    """
    A CRM record that can hold attachments.

    ``keys`` is kept sorted (newest attachment first) so that a page is a slice or a bisection.
    ``created`` and ``modified`` are epoch seconds (``Created_Time``, ``Modified_Time``).
    """

    module: str
    id: str
    name: str
    keys: list[SortKey] = field(default_factory=list)
    by_key: dict[SortKey, Attachment] = field(default_factory=dict)
    photo: Photo | None = None
    created: float = 0.0
    modified: float = 0.0
    #: Other fields (``Stage``, ``Amount``...), read by COQL and search.
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class RefreshToken:
    """An OAuth refresh token and what it may do."""

    token: str
    client_id: str
    scopes: tuple[str, ...]
    revoked: bool = False
    creations: deque[float] = field(default_factory=deque)
    active: deque[AccessToken] = field(default_factory=deque)

    @property
    def scope_set(self) -> frozenset[str]:
        """The scopes, lower-cased for comparison."""
        return frozenset(scope.lower() for scope in self.scopes)


@dataclass
class AccessToken:
    """An OAuth access token."""

    token: str
    refresh: RefreshToken
    expires: float
    revoked: bool = False


class Store:
    """
    All data of one emulator.

    :param config: the live configuration.
    :param clock: the emulator's clock.
    :param blob_dir: where file contents live.
    """

    def __init__(self, config: EmulatorConfig, clock: Clock, blob_dir: str) -> None:
        self.config = config
        self.clock = clock
        self.blob_dir = blob_dir
        self.lock = threading.RLock()
        self._next_id = 0
        self._blob_counter = 0
        self.custom_modules: set[str] = set()
        self.records: dict[tuple[str, str], Record] = {}
        self.attachments: dict[str, Attachment] = {}
        self.deleted: list[dict[str, Any]] = []
        self.clients: dict[str, str] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self._page_key = secrets.token_bytes(32)

    # ---------------------------------------------------------------- ids and blobs

    def new_id(self) -> str:
        """A new 19-digit id (deterministic: a counter)."""
        with self.lock:
            self._next_id += 1
            return str(_ID_BASE + self._next_id)

    def blob_path(self) -> str:
        """A fresh file name in the blob directory."""
        with self.lock:
            self._blob_counter += 1
            return os.path.join(self.blob_dir, f"blob-{self._blob_counter:08d}")

    # ---------------------------------------------------------------- modules and records

    def resolve_module(self, name: str) -> str | None:
        """The module API name for a path segment, or ``None`` if unknown."""
        if name in STANDARD_MODULES or name in self.custom_modules:
            return name
        if not self.config.module_names_case_sensitive:
            lowered = name.lower()
            for known in (*STANDARD_MODULES, *self.custom_modules):
                if known.lower() == lowered:
                    return known
        return None

    def module_scope_names(self, module: str) -> tuple[str, ...]:
        """The lower-case names a module's scopes may use (``salesorders``; ``custom`` for custom modules)."""
        if module in STANDARD_MODULES:
            return (STANDARD_MODULES[module],)
        return (module.lower(), module.lower().replace("_", ""), "custom")

    @staticmethod
    def supports_photo(module: str) -> bool:
        """Whether a module has record photos."""
        return module in PHOTO_MODULES or module not in STANDARD_MODULES

    def add_record(self, module: str, record_id: str | None = None, name: str | None = None) -> Record:
        """Create a record (registering ``module`` as a custom module if it is not a standard one)."""
        if not module or "/" in module:
            raise ValueError(f"bad module name {module!r}")
        with self.lock:
            if module not in STANDARD_MODULES:
                self.custom_modules.add(module)
            if record_id is None:
                record_id = self.new_id()
            if not record_id.isdigit():
                raise ValueError(f"record ids are digits, not {record_id!r}")
            existing = self.records.get((module, record_id))
            if existing is not None:
                if name is not None:
                    existing.name = name
                return existing
            now = float(int(self.clock.now()))
            record = Record(
                module=module, id=record_id, name=name or f"{module} {record_id}", created=now, modified=now
            )
            self.records[(module, record_id)] = record
            return record

    def get_record(self, module: str, record_id: str) -> Record | None:
        """A record, or ``None``."""
        with self.lock:
            return self.records.get((module, record_id))

    # ---------------------------------------------------------------- attachments

    def _full_record(self, attachment: Attachment, record: Record) -> dict[str, Any]:
        when = format_time(attachment.created, self.config.tz())
        is_link = attachment.kind == "Link URL"
        return {
            "Owner": dict(USER),
            "Modified_Time": when,
            "File_Name": attachment.file_name,
            "Created_Time": when,
            "Size": str(attachment.size),
            "Parent_Id": {"name": record.name, "id": record.id},
            "$editable": True,
            "$file_id": None if is_link else hashlib.sha256(f"zfs-{attachment.id}".encode()).hexdigest(),
            "$type": attachment.kind,
            "$se_module": record.module,
            "$state": "save",
            "$link_url": attachment.link_url,
            "$sharing_permission": "full_access",
            "Modified_By": dict(USER),
            "Created_By": dict(USER),
            "id": attachment.id,
        }

    def _touch(self, record: Record) -> None:
        """Bump the parent's ``Modified_Time`` if attachments do (a switch: no source says they do)."""
        if self.config.attachments_bump_modified_time:
            record.modified = max(record.modified, float(int(self.clock.now())))

    def _insert(self, record: Record, attachment: Attachment) -> None:
        self._touch(record)
        attachment.full = self._full_record(attachment, record)
        key = attachment.key
        bisect.insort(record.keys, key)
        record.by_key[key] = attachment
        self.attachments[attachment.id] = attachment

    def add_attachment(
        self,
        record: Record,
        *,
        file_name: str,
        size: int,
        content_type: str,
        created: float | None = None,
        path: str | None = None,
        data: bytes | None = None,
        link_url: str | None = None,
    ) -> Attachment:
        """Store an attachment (a file when ``path``/``data`` is given, else a link)."""
        with self.lock:
            attachment = Attachment(
                id=self.new_id(),
                module=record.module,
                record_id=record.id,
                file_name=file_name,
                kind="Link URL" if link_url is not None else "File",
                size=size,
                created=self.clock.now() if created is None else created,
                content_type=content_type,
                path=path,
                data=data,
                link_url=link_url,
            )
            self._insert(record, attachment)
            return attachment

    def add_many(
        self, record: Record, items: Iterable[tuple[str, bytes, float]], content_type: str
    ) -> list[str]:
        """Store many in-memory attachments at once, sorting the record's index once."""
        with self.lock:
            ids = []
            for file_name, data, created in items:
                attachment = Attachment(
                    id=self.new_id(),
                    module=record.module,
                    record_id=record.id,
                    file_name=file_name,
                    kind="File",
                    size=len(data),
                    created=created,
                    content_type=content_type,
                    data=data,
                )
                attachment.full = self._full_record(attachment, record)
                record.keys.append(attachment.key)
                record.by_key[attachment.key] = attachment
                self.attachments[attachment.id] = attachment
                ids.append(attachment.id)
            record.keys.sort()
            if ids:
                self._touch(record)
            return ids

    def has_link(self, record: Record, url: str) -> bool:
        """Whether ``url`` is already attached to the record."""
        with self.lock:
            return any(a.link_url == url for a in record.by_key.values())

    def get_attachment(self, record: Record, attachment_id: str) -> Attachment | None:
        """An attachment of this record, or ``None``."""
        with self.lock:
            attachment = self.attachments.get(attachment_id)
            if attachment is None or attachment.record_id != record.id or attachment.module != record.module:
                return None
            return attachment

    def delete_attachment(self, record: Record, attachment_id: str) -> bool:
        """Delete one attachment; ``False`` if the record has no such attachment."""
        with self.lock:
            attachment = self.get_attachment(record, attachment_id)
            if attachment is None:
                return False
            key = attachment.key
            index = bisect.bisect_left(record.keys, key)
            if index < len(record.keys) and record.keys[index] == key:
                del record.keys[index]
            record.by_key.pop(key, None)
            del self.attachments[attachment_id]
            self._touch(record)
            self.deleted.append(
                {
                    "id": attachment.id,
                    "module": attachment.module,
                    "record_id": attachment.record_id,
                    "file_name": attachment.file_name,
                    "type": attachment.kind,
                    "deleted_time": format_time(self.clock.now(), self.config.tz()),
                }
            )
        if attachment.path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(attachment.path)
        return True

    def page(
        self,
        record: Record,
        *,
        ids: list[str] | None,
        per_page: int,
        offset: int | None = None,
        after: SortKey | None = None,
    ) -> PageResult:
        """
        One page of a record's attachments, newest first.

        Work is proportional to the page (a slice or a bisection of the sorted index), not to the
        number of attachments, unless ``ids`` selects a subset.

        :param ids: only these attachment ids (``None`` = all).
        :param per_page: page size.
        :param offset: start at this row (page-number paging) ...
        :param after: ... or just after this sort key (page-token paging; ``None`` = the start).
        """
        with self.lock:
            if ids is None:
                keys = record.keys
            else:
                found = (self.attachments.get(i) for i in set(ids))
                keys = sorted(
                    a.key
                    for a in found
                    if a is not None and a.record_id == record.id and a.module == record.module
                )
            if offset is not None:
                start = offset
            elif after is None:
                start = 0
            else:
                start = bisect.bisect_right(keys, after)
            rows = [record.by_key[k] for k in keys[start : start + per_page]]
            previous_start = max(0, min(start, len(keys)) - per_page)
            return PageResult(
                rows=rows,
                start=start,
                total=len(keys),
                previous_after=keys[previous_start - 1] if previous_start > 0 else None,
            )

    def listing(self, record: Record) -> list[Attachment]:
        """All attachments of a record, newest first."""
        with self.lock:
            return [record.by_key[k] for k in record.keys]

    # ---------------------------------------------------------------- photos

    def set_photo(self, record: Record, data: bytes, content_type: str) -> None:
        """Replace the record's photo."""
        with self.lock:
            record.photo = Photo(data=data, content_type=content_type)

    # ---------------------------------------------------------------- OAuth

    def add_client(self) -> tuple[str, str]:
        """Register an OAuth client; return its id and secret."""
        client_id = "1000." + "".join(
            secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(30)
        )
        secret = secrets.token_hex(21)
        with self.lock:
            self.clients[client_id] = secret
        return client_id, secret

    def create_refresh_token(self, client_id: str, scopes: Iterable[str]) -> str:
        """A new refresh token for a known client."""
        scope_tuple = tuple(scopes)
        if not scope_tuple:
            raise ValueError("a refresh token needs at least one scope")
        with self.lock:
            if client_id not in self.clients:
                raise KeyError(f"unknown client id {client_id!r}")
            token = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
            self.refresh_tokens[token] = RefreshToken(token=token, client_id=client_id, scopes=scope_tuple)
            return token

    def revoke_refresh_token(self, token: str) -> bool:
        """Revoke a refresh token and every access token it made."""
        with self.lock:
            refresh = self.refresh_tokens.get(token)
            if refresh is None or refresh.revoked:
                return False
            refresh.revoked = True
            for access in refresh.active:
                access.revoked = True
            return True

    def issue_access_token(self, params: dict[str, str], api_domain: str) -> dict[str, Any]:
        """
        Answer a ``grant_type=refresh_token`` request of the token endpoint (always HTTP 200).

        :param params: the request's parameters (query and form merged).
        :param api_domain: the ``api_domain`` to announce.
        """
        grant = params.get("grant_type")
        if grant != "refresh_token":
            if grant == "authorization_code":
                return {"error": "invalid_code"}
            return {"error": "unsupported_grant_type"}
        config = self.config
        with self.lock:
            client_id = params.get("client_id", "")
            secret = self.clients.get(client_id)
            if secret is None or not hmac.compare_digest(secret, params.get("client_secret", "")):
                return {"error": "invalid_client"}
            refresh = self.refresh_tokens.get(params.get("refresh_token", ""))
            if refresh is None or refresh.revoked or refresh.client_id != client_id:
                return {"error": "invalid_code"}
            now = self.clock.now()
            while refresh.creations and refresh.creations[0] <= now - config.token_creation_window:
                refresh.creations.popleft()
            if len(refresh.creations) >= config.token_creation_limit:
                return dict(THROTTLE_BODY)
            refresh.creations.append(now)
            live = deque(a for a in refresh.active if not a.revoked and a.expires > now)
            while len(live) >= config.max_active_tokens:
                live.popleft().revoked = True
            token = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
            access = AccessToken(token=token, refresh=refresh, expires=now + config.token_ttl)
            live.append(access)
            refresh.active = live
            self.access_tokens[token] = access
            self._forget_dead_tokens(now)
        return {
            "access_token": token,
            "scope": " ".join(refresh.scopes),
            "api_domain": api_domain,
            "token_type": "Bearer",
            "expires_in": int(config.token_ttl),
        }

    def _forget_dead_tokens(self, now: float) -> None:
        # Keeps the token table from growing without bound in long benchmark runs.
        if len(self.access_tokens) < 4096:
            return
        for token, access in list(self.access_tokens.items()):
            if access.revoked or access.expires <= now:
                del self.access_tokens[token]

    def authenticate(self, token: str) -> AccessToken | None:
        """The live access token for a bearer value, or ``None`` (unknown, expired or revoked)."""
        with self.lock:
            access = self.access_tokens.get(token)
            if access is None or access.revoked or access.refresh.revoked:
                return None
            if access.expires <= self.clock.now():
                return None
            return access

    def revoke_access_tokens(self) -> None:
        """Revoke every access token (as if revoked in Zoho's console)."""
        with self.lock:
            for access in self.access_tokens.values():
                access.revoked = True

    def expire_access_tokens(self) -> None:
        """Make every access token expire now."""
        with self.lock:
            now = self.clock.now()
            for access in self.access_tokens.values():
                access.expires = min(access.expires, now)

    # ---------------------------------------------------------------- page tokens

    def make_page_token(
        self, *, after: SortKey | None, walked: int, page: int, bind: str
    ) -> tuple[str, float]:
        """
        A signed, self-contained page token and its expiry time.

        :param after: the sort key of the last row already served (``None``: the start).
        :param walked: rows before the page it leads to.
        :param page: the page number it leads to.
        :param bind: a digest of the parameters the token is bound to.
        """
        expires = self.clock.now() + self.config.page_token_ttl
        payload = json.dumps(
            {
                "a": list(after) if after is not None else None,
                "w": walked,
                "p": page,
                "b": bind,
                "e": expires,
            },
            separators=(",", ":"),
        ).encode()
        body = base64.urlsafe_b64encode(payload).rstrip(b"=")
        signature = base64.urlsafe_b64encode(hmac.new(self._page_key, body, "sha256").digest()[:18])
        return (body + b"." + signature).decode(), expires

    def read_page_token(self, token: str) -> dict[str, Any] | None:
        """The content of a page token made by :meth:`make_page_token`, or ``None`` if it is not one."""
        body, sep, signature = token.encode("utf-8", "replace").partition(b".")
        if not sep:
            return None
        expected = base64.urlsafe_b64encode(hmac.new(self._page_key, body, "sha256").digest()[:18])
        if not hmac.compare_digest(expected, signature):
            return None
        try:
            data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + b"=" * (-len(body) % 4)))
        except ValueError:
            return None
        return data


THROTTLE_BODY = {
    "error_description": "You have made too many requests continuously. Please try again after some time.",
    "error": "Access Denied",
    "status": "failure",
}
