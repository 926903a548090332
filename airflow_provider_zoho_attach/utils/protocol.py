"""Zoho CRM's protocol without the I/O: shared by the sync hook and the async hook of the triggers.

Everything that decides *what* to send and *what a response means* lives here: OAuth token requests
and responses, API paths, response checking and error mapping, and pagination; the retry policy and
the description of network failures are in :mod:`airflow_provider_zoho_attach.utils.retries` (and
importable from here too). The hooks only move bytes, so both paths behave the same by construction.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_zoho_attach.exceptions import ZohoCRMServerError, error_from_response

# Importable from here as before they moved to utils/retries.py.
from airflow_provider_zoho_attach.utils.retries import (
    _CURRENT_BUDGET,  # noqa: F401
    MAX_CONNECT_TIMEOUT,
    UNREACHABLE_CODES,
    RetryBudget,
    RetryPolicy,
    _failure_kind,  # noqa: F401
    connect_timeout,
    connection_error,
    is_unreachable,
    origin,
)
from airflow_provider_zoho_attach.utils.settings import ZohoCRMSettings

__all__ = [
    "DEFAULT_FIELDS",
    "INVALID_TOKEN_CODES",
    "MAX_CONNECT_TIMEOUT",
    "MAX_PER_PAGE",
    "UNREACHABLE_CODES",
    "AccessToken",
    "AttachmentPager",
    "RetryBudget",
    "RetryPolicy",
    "attachment_path",
    "attachments_path",
    "check_json_response",
    "check_token_api_domain",
    "connect_timeout",
    "connection_error",
    "fields_param",
    "is_invalid_token",
    "is_unreachable",
    "origin",
    "parse_retry_after",
    "parse_token_response",
    "photo_path",
    "refresh_and_resend",
    "token_request_data",
]

#: Fields requested when listing attachments: everything the operators, sensor and triggers use.
DEFAULT_FIELDS: tuple[str, ...] = (
    "id",
    "File_Name",
    "Size",
    "Created_Time",
    "Modified_Time",
    "$type",
    "$link_url",
    "$file_id",
    "$se_module",
    "Parent_Id",
)
MAX_PER_PAGE = 200
#: Rows Zoho serves by page number; past them a ``page_token`` is required.
DISCRETE_PAGINATION_ROWS = 2000
#: Rows Zoho walks at most with page tokens.
MAX_PAGINATED_ROWS = 100_000
#: Refresh an access token this long before Zoho says it expires.
TOKEN_EXPIRY_MARGIN = 300.0
_MAX_FIELDS = 50


# --------------------------------------------------------------------------------------------
# OAuth


@dataclass(frozen=True)
class AccessToken:
    """
    An OAuth access token and what Zoho said about it.

    :param value: the token itself (excluded from ``repr()``).
    :param expires_at: epoch seconds at which Zoho stops accepting it.
    :param api_domain: the API domain the token response named, if any.
    """

    value: str = field(repr=False)
    expires_at: float
    api_domain: str | None = None

    def is_fresh(self, now: float | None = None, margin: float = TOKEN_EXPIRY_MARGIN) -> bool:
        """Whether the token is still good for at least ``margin`` seconds."""
        return (time.time() if now is None else now) < self.expires_at - margin

    def to_json(self, fingerprint: str) -> dict[str, Any]:
        """Return the token as JSON for a shared cache, tagged with the credentials' fingerprint."""
        return {
            "access_token": self.value,
            "expires_at": self.expires_at,
            "api_domain": self.api_domain,
            "fingerprint": fingerprint,
        }

    @classmethod
    def from_json(cls, data: Any, fingerprint: str) -> AccessToken | None:
        """Return the token stored by :meth:`to_json`, or ``None`` if it is absent, malformed or foreign."""
        if not isinstance(data, Mapping) or data.get("fingerprint") != fingerprint:
            return None
        value, expires_at = data.get("access_token"), data.get("expires_at")
        if not isinstance(value, str) or not value or not isinstance(expires_at, int | float):
            return None
        api_domain = data.get("api_domain")
        return cls(value, float(expires_at), api_domain if isinstance(api_domain, str) else None)


def token_request_data(settings: ZohoCRMSettings) -> dict[str, str]:
    """Return the form of a refresh-token grant (sent as the POST body, never in the URL)."""
    return {
        "grant_type": "refresh_token",
        "client_id": settings.client_id,
        "client_secret": settings.client_secret,
        "refresh_token": settings.refresh_token,
    }


def parse_token_response(
    status_code: int, body: bytes, settings: ZohoCRMSettings, *, now: float | None = None
) -> AccessToken:
    """
    Return the access token of a token-endpoint response, or raise the matching error.

    Zoho answers errors with HTTP 200 and an ``error`` key, so the body decides, not the status.

    :raises ZohoCRMAuthError: ``invalid_code`` (bad refresh token), ``invalid_client`` (bad client or
        wrong data centre) and any other OAuth error.
    :raises ZohoCRMRateLimitError: code ``TOKEN_THROTTLED`` when Zoho's token-creation limit is hit.
    """
    operation = f"get an access token from {settings.accounts_url}"
    try:
        payload = json.loads(body.decode("utf-8")) if body else None
    except ValueError:
        payload = None
    if (
        isinstance(payload, Mapping)
        and isinstance(payload.get("access_token"), str)
        and payload["access_token"]
    ):
        expires_in = _token_lifetime(payload)
        api_domain = payload.get("api_domain")
        token = AccessToken(
            value=payload["access_token"],
            expires_at=(time.time() if now is None else now) + expires_in,
            api_domain=api_domain.rstrip("/") if isinstance(api_domain, str) and api_domain else None,
        )
        check_token_api_domain(token, settings)
        return token
    if isinstance(payload, Mapping):
        error = error_from_response(status_code, payload, operation=operation)
        if error.code == "invalid_client":
            error.message += (
                f" (data centre {settings.data_center!r}, accounts server {settings.accounts_url})"
            )
            error.args = (str(error),)
        raise error
    raise error_from_response(status_code, body, operation=operation)


def check_token_api_domain(token: AccessToken, settings: ZohoCRMSettings) -> None:
    """
    Refuse a token whose ``api_domain`` is not the one the connection's settings expect.

    Requests always go to the configured API domain, never to the one a token names: a token
    response (or a shared token someone wrote into a Variable) must not be able to send a sandbox
    connection's calls, and their file contents, to production or anywhere else. A mismatch means
    the data centre or environment is set wrong, so it is an error, unless the connection allows it
    (``allow_api_domain_mismatch``, e.g. behind a proxy).

    :raises ZohoCRMAuthError: code ``API_DOMAIN_MISMATCH``, naming both hosts.
    """
    from urllib.parse import urlsplit

    from airflow_provider_zoho_attach.exceptions import ZohoCRMAuthError, hint_for

    if token.api_domain is None or settings.allow_api_domain_mismatch:
        return
    expected = settings.expected_token_api_domain

    def host(url: str) -> str:
        parts = urlsplit(url)
        return f"{parts.scheme}://{(parts.hostname or '').lower()}{f':{parts.port}' if parts.port else ''}"

    if host(token.api_domain) != host(expected):
        raise ZohoCRMAuthError(
            f"Zoho issued the token for API domain {host(token.api_domain)}, but connection "
            f"{settings.conn_id!r} is set up for {host(expected)} (data centre {settings.data_center!r}, "
            f"environment {settings.environment!r})",
            code="API_DOMAIN_MISMATCH",
            operation=f"get an access token from {settings.accounts_url}",
            hint=hint_for("API_DOMAIN_MISMATCH"),
        )


def _token_lifetime(payload: Mapping[str, Any]) -> float:
    # Older Zoho services send expires_in in milliseconds next to expires_in_sec.
    seconds = payload.get("expires_in_sec")
    if isinstance(seconds, int | float) and seconds > 0:
        return float(seconds)
    value = payload.get("expires_in")
    if isinstance(value, int | float) and value > 0:
        return float(value)
    return 3600.0


# --------------------------------------------------------------------------------------------
# Paths


def attachments_path(module: str, record_id: str) -> str:
    """The list/upload/bulk-delete path of a record's attachments (relative to ``/crm/<v>/``)."""
    return f"{module}/{record_id}/Attachments"


def attachment_path(module: str, record_id: str, attachment_id: str) -> str:
    """The download/delete path of one attachment."""
    return f"{module}/{record_id}/Attachments/{attachment_id}"


def photo_path(module: str, record_id: str) -> str:
    """The path of a record's photo."""
    return f"{module}/{record_id}/photo"


def fields_param(fields: Iterable[str] | str | None) -> str:
    """
    Return the ``fields`` query value: the given fields (``id`` always first) or :data:`DEFAULT_FIELDS`.

    :raises ZohoCRMInvalidRequestError: for an empty or malformed field name or more than 50 fields.
    """
    from airflow_provider_zoho_attach.exceptions import ZohoCRMInvalidRequestError

    if fields is None:
        return ",".join(DEFAULT_FIELDS)
    if isinstance(fields, str):
        items = [part.strip() for part in fields.split(",")]
    elif isinstance(fields, Iterable) and not isinstance(fields, bytes | Mapping):
        items = list(fields)
    else:  # 5, True, b"..." or a dict: not a list of names (and not a TypeError either)
        raise ZohoCRMInvalidRequestError.for_argument(
            "fields", fields, "a list of field API names such as ['File_Name', 'Size']"
        )
    names: list[str] = ["id"]
    for name in items:
        if not isinstance(name, str) or not name.strip() or any(c in name for c in " ,&=?#/"):
            raise ZohoCRMInvalidRequestError.for_argument(
                "fields", fields, f"field API names such as 'File_Name' ({name!r} is not one)"
            )
        if name.strip() not in names:
            names.append(name.strip())
    if len(names) > _MAX_FIELDS:
        raise ZohoCRMInvalidRequestError(
            f"fields lists {len(names)} fields; Zoho accepts at most {_MAX_FIELDS}",
            code="INVALID_ARGUMENT",
            details={"argument": "fields"},
            hint="Request fewer fields; nothing was sent to Zoho.",
        )
    return ",".join(names)


# --------------------------------------------------------------------------------------------
# Responses


def check_json_response(
    status_code: int,
    body: bytes,
    *,
    operation: str,
    retry_after: str | None = None,
    empty_ok: bool = False,
    per_item: bool = False,
) -> Any:
    """
    Return the decoded JSON of a successful response, or raise the matching :class:`ZohoCRMError`.

    :param status_code: the HTTP status.
    :param body: the whole body.
    :param operation: what was being done, for messages.
    :param retry_after: the ``Retry-After`` header, if any (kept on rate-limit and server errors).
    :param empty_ok: whether 204 (and 304) mean "nothing" rather than an error; ``None`` is returned.
    :param per_item: the caller reads the result of each ``data[]`` item itself (a bulk write), so
        items that all failed are returned, not raised as the first one's error.
    """
    if status_code in (204, 304):
        if empty_ok:
            return None
        # Zoho answers writes with a JSON body; an empty answer is a malformed (retryable) response.
        raise ZohoCRMServerError(
            f"Zoho CRM answered HTTP {status_code} with no content where a JSON answer was expected",
            code="INVALID_RESPONSE",
            status_code=status_code,
            operation=operation,
            hint="A proxy may be answering instead of Zoho; check api_domain, and retry if it persists.",
        )
    if status_code >= 400:
        error = error_from_response(status_code, body, operation=operation)
        error.retry_after = parse_retry_after(retry_after)
        raise error
    try:
        payload = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise ZohoCRMServerError(
            f"Zoho CRM answered HTTP {status_code} with a body that is not JSON",
            code="INVALID_RESPONSE",
            status_code=status_code,
            operation=operation,
            hint="A proxy may be answering instead of Zoho; check api_domain.",
        ) from None
    # Item-level failures come back inside data[] with HTTP 200/207.
    if isinstance(payload, Mapping):
        data = payload.get("data")
        if isinstance(data, list) and data and all(isinstance(item, Mapping) for item in data):
            failed = [item for item in data if str(item.get("status", "success")).lower() == "error"]
            if failed and len(failed) == len(data) and not per_item:
                raise error_from_response(status_code, failed[0], operation=operation)
        elif str(payload.get("status", "")).lower() == "error":
            raise error_from_response(status_code, payload, operation=operation)
    return payload


#: Zoho's codes for an access token it does not take (expired before its time, revoked, malformed).
INVALID_TOKEN_CODES: frozenset[str] = frozenset({"INVALID_TOKEN", "INVALID_OAUTHTOKEN"})


def is_invalid_token(body: bytes) -> bool:
    """Whether an error body is Zoho's rejection of the access token itself (:data:`INVALID_TOKEN_CODES`)."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(payload, Mapping) and payload.get("code") in INVALID_TOKEN_CODES


def refresh_and_resend(status_code: int, body: bytes | Callable[[], bytes], *, attempt: int) -> bool:
    """
    Whether to drop the access token and send a request again, with a new one, after Zoho's answer.

    Only the first attempt is sent again, and only when Zoho rejected the token itself (HTTP 401
    with ``INVALID_TOKEN``: it expired early or was revoked). A rejection of the new token, or
    another 401 (a missing scope), is Zoho's error like any other answer.

    :param status_code: the answer's HTTP status.
    :param body: the answer's body, or what reads it (called only for a 401 to a first attempt: a
        streamed download's body is read only then).
    :param attempt: 1 for the request as first sent with a token, 2 after a refresh.
    """
    if attempt != 1 or status_code != 401:
        return False
    return is_invalid_token(body() if callable(body) else body)


def first_item(payload: Any, *, operation: str) -> Mapping[str, Any]:
    """Return ``data[0]`` of a write response (upload, link, delete)."""
    data = payload.get("data") if isinstance(payload, Mapping) else None
    if not isinstance(data, list) or not data or not isinstance(data[0], Mapping):
        raise ZohoCRMServerError(
            "Zoho CRM's answer has no data[] item",
            code="INVALID_RESPONSE",
            operation=operation,
            hint="Zoho's response was not shaped as documented; retry, and report it if it persists.",
        )
    return data[0]


def parse_retry_after(value: str | None) -> float | None:
    """Return the seconds of a ``Retry-After`` header (delta-seconds or HTTP date), or ``None``."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


# --------------------------------------------------------------------------------------------
# Pagination


@dataclass
class AttachmentPager:
    """
    Decides the pages of one attachment listing.

    Pages are requested by number while Zoho allows it (the first 2,000 rows), then with the
    ``next_page_token`` of the previous response. The listing stops on ``more_records`` not being
    ``true``, a 204 or an empty page (a page of ids already seen does not end it); a ``more_records: true``
    without a way forward is an error rather than a silent truncation, and the number of pages is
    bounded, so a broken ``info`` block can never make a client loop forever.

    :param per_page: rows per page (1..200).
    :param operation: what is being listed, for messages.
    """

    per_page: int = MAX_PER_PAGE
    operation: str = "list attachments"
    page: int = 1
    page_token: str | None = None
    done: bool = False
    pages_fetched: int = 0
    _seen_ids: set[str] = field(default_factory=set)
    _seen_tokens: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        from airflow_provider_zoho_attach.exceptions import ZohoCRMInvalidRequestError

        if (
            isinstance(self.per_page, bool)
            or not isinstance(self.per_page, int)
            or not 1 <= self.per_page <= 200
        ):
            raise ZohoCRMInvalidRequestError.for_argument(
                "per_page", self.per_page, f"a whole number from 1 to {MAX_PER_PAGE}"
            )

    @property
    def max_pages(self) -> int:
        """The most pages a listing can take (Zoho walks at most 100,000 rows)."""
        return MAX_PAGINATED_ROWS // self.per_page + 2

    def params(self) -> dict[str, str]:
        """The paging query parameters of the next request."""
        params = {"per_page": str(self.per_page)}
        if self.page_token is not None:
            params["page_token"] = self.page_token
        else:
            params["page"] = str(self.page)
        return params

    def feed(self, payload: Any) -> list[dict[str, Any]]:
        """
        Take the decoded body of a page (``None`` for a 204) and return its new records.

        Sets :attr:`done` when the listing is over and prepares the next page's parameters otherwise.
        """
        self.pages_fetched += 1
        if payload is None:
            self.done = True
            return []
        if not isinstance(payload, Mapping):
            raise self._malformed("the page is not a JSON object")
        data = payload.get("data", [])
        if data is None:
            data = []
        if not isinstance(data, list):
            raise self._malformed("'data' is not a list")
        records: list[dict[str, Any]] = []
        for item in data:
            if not isinstance(item, Mapping):
                continue
            ident = item.get("id")
            key = str(ident) if ident is not None else None
            if key is not None and key in self._seen_ids:
                # Rows shift when attachments are added while listing: never yield one twice.
                continue
            if key is not None:
                self._seen_ids.add(key)
            records.append(dict(item))
        info = payload.get("info")
        more = isinstance(info, Mapping) and info.get("more_records") is True
        # A page of ids already seen is not the end: attachments added while we list shift rows
        # onto the next page. Only Zoho's more_records decides; max_pages bounds a broken server.
        if not data or not more:
            self.done = True
            return records
        if self.pages_fetched >= self.max_pages:
            raise self._malformed(f"more than {self.max_pages} pages: Zoho keeps saying more_records")
        assert isinstance(info, Mapping)  # more implies a mapping
        next_page = self.page + 1
        if self.page_token is None and next_page * self.per_page <= DISCRETE_PAGINATION_ROWS:
            self.page = next_page
            return records
        token = info.get("next_page_token")
        if not isinstance(token, str) or not token or token in self._seen_tokens:
            raise self._malformed(
                "Zoho says more_records is true but gives no new next_page_token to reach rows past "
                f"{len(self._seen_ids)}"
            )
        self._seen_tokens.add(token)
        self.page = next_page
        self.page_token = token
        return records

    def _malformed(self, what: str) -> ZohoCRMServerError:
        return ZohoCRMServerError(
            f"cannot page through the listing: {what}",
            code="INVALID_RESPONSE",
            operation=self.operation,
            hint="Zoho's pagination info was inconsistent; retry the task, and report it if it persists.",
        )


def is_link(record: Mapping[str, Any]) -> bool:
    """Whether an attachment record is a link (``$type`` "Link URL") rather than a file."""
    kind = str(record.get("$type") or "").lower()
    return kind.startswith("link") or (bool(record.get("$link_url")) and kind != "file")


def attachment_size(record: Mapping[str, Any]) -> int | None:
    """The ``Size`` of an attachment record as an int (Zoho sends a string), ``None`` if unknown."""
    value = record.get("Size")
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None
