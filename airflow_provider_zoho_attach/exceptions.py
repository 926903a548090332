"""The provider's one error model.

Every failure the provider reports is a :class:`ZohoCRMError` (an ``AirflowException``) that carries
Zoho's ``code``, the HTTP ``status_code``, Zoho's ``message``, the ``details`` block and a ``hint``
telling the user what to do. ``str()`` of an error never contains a secret: messages are built from
Zoho's error bodies and from local facts only, never from credentials or tokens.

:func:`error_from_response` turns any unsuccessful response (a Zoho error body, an OAuth token error,
a bare HTTP status, a proxy's HTML page) into the right subclass. It performs no I/O, so the sync
hook and the async client of the triggers share it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from airflow.sdk.exceptions import AirflowException

__all__ = [
    "ZohoCRMAuthError",
    "ZohoCRMConnectionError",
    "ZohoCRMCreditBudgetError",
    "ZohoCRMError",
    "ZohoCRMInvalidRequestError",
    "ZohoCRMNotFoundError",
    "ZohoCRMPermissionError",
    "ZohoCRMRateLimitError",
    "ZohoCRMServerError",
    "ZohoCRMTransferError",
    "error_from_response",
]

#: Zoho's code for the token endpoint's throttle ("Access Denied" arrives as the ``error`` key).
TOKEN_THROTTLED = "TOKEN_THROTTLED"


class ZohoCRMError(AirflowException):
    """
    Base class of every error the provider raises.

    :param message: what went wrong, in Zoho's words where Zoho said something.
    :param code: Zoho's error code (``INVALID_MODULE``, ``invalid_client``...) or one of the
        provider's own codes (``CONNECTION_ERROR``, ``INCOMPLETE_BODY``...), ``None`` if unknown.
    :param status_code: the HTTP status of the response, ``None`` when there was no response.
    :param details: Zoho's ``details`` block (for example ``{"resource_path_index": 0}``).
    :param hint: what the user can do about it.
    :param operation: what the provider was doing, e.g. ``"list attachments of Leads/123"``.
    """

    default_hint = "See the provider's error guide for this code."
    # AirflowException declares status_code as an HTTPStatus for the API server; ours is Zoho's.
    status_code: int | None  # type: ignore[assignment]
    #: Seconds the server asked us to wait (``Retry-After``), when it said so.
    retry_after: float | None = None

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        details: Mapping[str, Any] | None = None,
        hint: str | None = None,
        operation: str | None = None,
    ) -> None:
        self.message = message
        self.code = code
        self.status_code = status_code
        self.details: dict[str, Any] = dict(details or {})
        self.hint = hint if hint is not None else self.default_hint
        self.operation = operation
        super().__init__(self._render())

    def _head(self) -> str:
        """What failed: the operation when known, else what the code tells, else a request."""
        if self.operation:
            return f"{self.operation} failed"
        if self.status_code is None and "argument" in self.details:
            # Input checks run before anything is sent: "request failed" would send users to the network.
            return "Invalid input, not sent to Zoho"
        return _HEADS.get(str(self.code), "Zoho CRM request failed")

    def _render(self) -> str:
        head = self._head()
        where = []
        if self.code:
            where.append(self.code)
        if self.status_code is not None:
            where.append(f"HTTP {self.status_code}")
        text = f"{head}: [{', '.join(where)}] {self.message}" if where else f"{head}: {self.message}"
        if self.details:
            text += f" (details: {json.dumps(self.details, sort_keys=True, default=str)})"
        if self.hint:
            text += f". Hint: {self.hint}" if not text.endswith(".") else f" Hint: {self.hint}"
        return text

    def __str__(self) -> str:
        return self._render()

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructor: teach pickle (task subprocesses, triggers) how to rebuild us.
        return (
            _rebuild_error,
            (
                type(self),
                self.message,
                {
                    "code": self.code,
                    "status_code": self.status_code,
                    "details": self.details,
                    "hint": self.hint,
                    "operation": self.operation,
                },
                self.retry_after,
            ),
        )

    def extend_message(self, text: str) -> None:
        """Append ``text`` to the message (``str()`` and ``args`` follow)."""
        self.message += text
        self.args = (self._render(),)

    def with_operation(self, operation: str) -> ZohoCRMError:
        """Return this error with ``operation`` filled in if it was not set yet."""
        if self.operation is None:
            self.operation = operation
            self.args = (self._render(),)
        return self

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable description (used in trigger events)."""
        return {
            "error_class": type(self).__name__,
            "message": self.message,
            "code": self.code,
            "status_code": self.status_code,
            "details": self.details,
            "hint": self.hint,
            "operation": self.operation,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ZohoCRMError:
        """Rebuild an error produced by :meth:`to_dict` (the inverse, for trigger events)."""
        error_cls = _ERROR_CLASSES.get(str(data.get("error_class")), ZohoCRMError)
        return error_cls(
            str(data.get("message") or "unknown error"),
            code=data.get("code"),
            status_code=data.get("status_code"),
            details=data.get("details") or {},
            hint=data.get("hint"),
            operation=data.get("operation"),
        )


#: How an error without an operation starts, for codes that are not the failure of one request.
_HEADS: dict[str, str] = {
    "INVALID_ARGUMENT": "Invalid input, not sent to Zoho",
    "INVALID_CONNECTION": "Invalid Zoho CRM connection, nothing sent to Zoho",
    "PARTIAL_FAILURE": "Zoho CRM task partly failed",
    "ALL_FAILED": "Zoho CRM task failed",
    "NO_EVENT": "Zoho CRM trigger failed",
    "TRIGGER_ERROR": "Zoho CRM trigger failed",
    "STATE_UNAVAILABLE": "Zoho CRM attachment watcher failed",
    "INVALID_STATE": "Zoho CRM attachment watcher failed",
    "CREDIT_BUDGET_EXCEEDED": "Zoho CRM task stopped at its credit budget",
    "MANIFEST_CORRUPT": "Zoho CRM mirror failed",
}


def _rebuild_error(
    cls: type[ZohoCRMError], message: str, kwargs: dict[str, Any], retry_after: float | None = None
) -> ZohoCRMError:
    error = cls(message, **kwargs)
    error.retry_after = retry_after
    return error


class ZohoCRMAuthError(ZohoCRMError):
    """Bad client credentials, a revoked refresh token, an invalid access token or a missing scope."""

    default_hint = (
        "Check the connection's client id, client secret, refresh token and data centre "
        "(a client registered at accounts.zoho.eu needs data_center='eu')."
    )


class ZohoCRMPermissionError(ZohoCRMError):
    """The Zoho user behind the refresh token may not do this (profile or role permissions)."""

    default_hint = "Ask a Zoho CRM administrator to grant the user's profile permission for this module."


class ZohoCRMNotFoundError(ZohoCRMError):
    """The record, attachment, photo or URL does not exist (or is not visible to this user)."""

    default_hint = "Check the module, record id and attachment id; the item may have been deleted."


class ZohoCRMRateLimitError(ZohoCRMError):
    """Zoho refused the call for rate reasons: concurrency, daily API credits or token creation."""

    default_hint = (
        "Zoho limits concurrent calls per org and API credits per 24 hours; lower max_concurrency, "
        "poll less often, or wait for credits to free up."
    )


class ZohoCRMInvalidRequestError(ZohoCRMError):
    """The request is invalid: bad input (often caught before any request is sent) or a 4xx from Zoho."""

    default_hint = "Correct the argument named in the message."

    @classmethod
    def for_argument(
        cls, argument: str, value: Any, expected: str, *, hint: str | None = None
    ) -> ZohoCRMInvalidRequestError:
        """
        The error for a bad argument caught before any request: names it, shows it, says what is expected.

        :param argument: the argument's name (``record_id``, ``destination``...).
        :param value: what was given (shortened in the message).
        :param expected: what would have been accepted.
        :param hint: what to do, if more specific than "fix the argument".
        """
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        return cls(
            f"{argument}={shown} is not valid: expected {expected}",
            code="INVALID_ARGUMENT",
            details={"argument": argument},
            hint=hint or f"Fix the {argument} argument; nothing was sent to Zoho.",
        )


class ZohoCRMServerError(ZohoCRMError):
    """Zoho (or a proxy in front of it) failed with a 5xx status, after the retries ran out."""

    default_hint = "Zoho CRM had a server-side problem; the task can be retried later."


class ZohoCRMConnectionError(ZohoCRMError):
    """No usable response: connection refused or reset, DNS failure, timeout, after the retries."""

    default_hint = (
        "Check network access to the Zoho hosts of the connection's data centre, the timeout extra, "
        "and any proxy in between."
    )


class ZohoCRMTransferError(ZohoCRMError):
    """A file transfer did not complete intact (truncated body, size mismatch, unwritable destination)."""

    default_hint = "Nothing partial was kept; the task can be retried."


#: The code of :class:`ZohoCRMCreditBudgetError`.
CREDIT_BUDGET_EXCEEDED = "CREDIT_BUDGET_EXCEEDED"


class ZohoCRMCreditBudgetError(ZohoCRMError):
    """
    A task stopped before a call that would have passed its own ``max_credits`` (nothing was sent).

    Raised by the provider, not by Zoho: the org's credits are not exhausted. What was done is kept
    (the mirror's checkpoint), so the next run resumes from there.
    """

    default_hint = (
        "Raise max_credits, or re-run later (Zoho counts credits over a rolling 24 hours): the next run "
        "resumes from the checkpoint without downloading again what this one finished."
    )

    @classmethod
    def for_budget(cls, *, limit: int, used: int, cost: int, what: str) -> ZohoCRMCreditBudgetError:
        """
        The error for a call refused by the budget.

        :param limit: ``max_credits``.
        :param used: credits used (and reserved by calls in flight) so far.
        :param cost: what the refused call costs.
        :param what: the call.
        """
        return cls(
            f"stopped before {what}: {used} credit(s) used of max_credits={limit}, and it costs {cost} more",
            code=CREDIT_BUDGET_EXCEEDED,
            details={"max_credits": limit, "used": used, "cost": cost},
        )


_ERROR_CLASSES: dict[str, type[ZohoCRMError]] = {
    cls.__name__: cls
    for cls in (
        ZohoCRMError,
        ZohoCRMAuthError,
        ZohoCRMPermissionError,
        ZohoCRMNotFoundError,
        ZohoCRMRateLimitError,
        ZohoCRMInvalidRequestError,
        ZohoCRMServerError,
        ZohoCRMConnectionError,
        ZohoCRMTransferError,
        ZohoCRMCreditBudgetError,
    )
}

# Zoho error code -> (error class, hint). Codes are matched case-sensitively first, then upper-cased.
_CODE_TABLE: dict[str, tuple[type[ZohoCRMError], str]] = {
    # Authentication and authorisation.
    "INVALID_TOKEN": (
        ZohoCRMAuthError,
        "Zoho rejected the access token (expired, revoked, or issued for another data centre or "
        "environment). The hook refreshes it once; if this persists, check data_center and environment.",
    ),
    "AUTHENTICATION_FAILURE": (
        ZohoCRMAuthError,
        "Zoho could not authenticate the request; check the connection's credentials and data centre.",
    ),
    "OAUTH_SCOPE_MISMATCH": (
        ZohoCRMAuthError,
        "The refresh token lacks a scope this call needs. Create a new one with ZohoCRM.modules.ALL "
        "(or ZohoCRM.modules.<module>.ALL) and ZohoCRM.modules.attachments.ALL.",
    ),
    "invalid_code": (
        ZohoCRMAuthError,
        "Zoho's accounts server rejected the refresh token: it is revoked, mistyped, or belongs to "
        "another data centre. Generate a new refresh token (Self Client in the Zoho API console) and "
        "check data_center.",
    ),
    "invalid_client": (
        ZohoCRMAuthError,
        "Zoho's accounts server does not know this client id/secret. The usual cause is a wrong data "
        "centre: the client must be used with the accounts host of the data centre it was created in "
        "(e.g. data_center='eu' for accounts.zoho.eu). Otherwise check the Client ID and Client Secret.",
    ),
    "API_DOMAIN_MISMATCH": (
        ZohoCRMAuthError,
        "Set the connection's data_center (or accounts_url and api_domain) to the org's data centre; "
        "if the difference is intended (a proxy), set the extra allow_api_domain_mismatch to true. "
        "Nothing was sent to either host.",
    ),
    "invalid_client_secret": (
        ZohoCRMAuthError,
        "The client secret is wrong; copy it again from the Zoho API console (Client Secret field).",
    ),
    "invalid_redirect_uri": (ZohoCRMAuthError, "The client's redirect URI does not match its registration."),
    "unsupported_grant_type": (ZohoCRMAuthError, "The accounts URL does not point at a Zoho token endpoint."),
    "NO_PERMISSION": (
        ZohoCRMPermissionError,
        "The Zoho user behind the refresh token lacks this permission; ask an administrator to grant it "
        "in the user's profile.",
    ),
    "AUTHORIZATION_FAILED": (
        ZohoCRMPermissionError,
        "The Zoho user lacks the privilege for this operation; check the user's profile and role.",
    ),
    # Rate limits.
    "TOO_MANY_REQUESTS": (
        ZohoCRMRateLimitError,
        "Zoho's concurrency limit or the org's daily API credits were exceeded. Lower max_concurrency, "
        "poll less often, or wait for credits to free up (they are counted over a rolling 24 hours).",
    ),
    "RATE_LIMIT_EXCEEDED": (
        ZohoCRMRateLimitError,
        "Zoho's rate limit was exceeded; lower max_concurrency or poll less often.",
    ),
    TOKEN_THROTTLED: (
        ZohoCRMRateLimitError,
        "Zoho allows 10 new access tokens per refresh token in 10 minutes. Share tokens between tasks "
        "(oauth_cache='variable', the default) and avoid creating tokens elsewhere with the same "
        "refresh token; the limit frees up within 10 minutes.",
    ),
    # Not found.
    "INVALID_URL_PATTERN": (
        ZohoCRMNotFoundError,
        "The URL does not exist on this Zoho API domain; check api_domain, api_version and the module.",
    ),
    "NO_CONTENT": (ZohoCRMNotFoundError, "Zoho has no content for this id."),
    # Invalid requests.
    "INVALID_MODULE": (
        ZohoCRMInvalidRequestError,
        "The module name is not a module of this org (or not available to the API or to this user). "
        "Use the module's API name, e.g. 'Leads', 'Sales_Orders' or a custom module's API name.",
    ),
    "NOT_SUPPORTED": (
        ZohoCRMInvalidRequestError,
        "This module does not support attachments through the API.",
    ),
    "INVALID_DATA": (ZohoCRMInvalidRequestError, "Zoho rejected a value of the request; see details."),
    "REQUIRED_PARAM_MISSING": (ZohoCRMInvalidRequestError, "A required parameter is missing; see details."),
    "MANDATORY_NOT_FOUND": (ZohoCRMInvalidRequestError, "A required parameter is missing; see details."),
    "INVALID_REQUEST_METHOD": (ZohoCRMInvalidRequestError, "This endpoint does not accept that HTTP method."),
    "DOWNLOAD_NOT_ALLOWED": (
        ZohoCRMInvalidRequestError,
        "This is a link attachment ($type 'Link URL'); it has no file to download. Its URL is in $link_url.",
    ),
    "FILE_SIZE_MORE_THAN_ALLOWED_SIZE": (
        ZohoCRMInvalidRequestError,
        "The file is larger than Zoho accepts (100 MB for attachments, 10 MB for record photos).",
    ),
    "BODY_SIZE_REACHED": (
        ZohoCRMInvalidRequestError,
        "The request body is larger than Zoho accepts (100 MB).",
    ),
    "LIMIT_EXCEEDED": (
        ZohoCRMInvalidRequestError,
        "A request limit was exceeded (for example, too many fields).",
    ),
    "LIMIT_REACHED": (ZohoCRMInvalidRequestError, "A request limit was reached; see details."),
    "SYNTAX_ERROR": (
        ZohoCRMInvalidRequestError,
        "The COQL query does not parse near the word in details; check quotes, brackets (more than two "
        "conditions need them) and the where clause.",
    ),
    "INVALID_QUERY": (
        ZohoCRMInvalidRequestError,
        "The query names a column, operator or value Zoho refuses (see details); check the field's API name.",
    ),
    "DISCRETE_PAGINATION_LIMIT_EXCEEDED": (
        ZohoCRMInvalidRequestError,
        "Zoho serves only the first 2,000 rows by page number; past that a page_token is required.",
    ),
    "AMBIGUITY_DURING_PROCESSING": (
        ZohoCRMInvalidRequestError,
        "page and page_token cannot be sent together.",
    ),
    "TOKEN_BOUND_DATA_MISMATCH": (
        ZohoCRMInvalidRequestError,
        "A page_token was reused with different query parameters; restart the listing.",
    ),
    "EXPIRED_VALUE": (
        ZohoCRMInvalidRequestError,
        "The page_token expired (after 24 hours); restart the listing.",
    ),
    "PAGINATION_LIMIT_EXCEEDED": (
        ZohoCRMInvalidRequestError,
        "Zoho walks at most 100,000 rows with page tokens.",
    ),
    "RECORD_LOCKED": (ZohoCRMInvalidRequestError, "The record is locked; unlock it in Zoho CRM first."),
    "NOT_APPROVED": (ZohoCRMInvalidRequestError, "The record awaits approval; approve it first."),
    "NOT_REVIEWED": (ZohoCRMInvalidRequestError, "The record awaits review; review it first."),
    "CANNOT_PERFORM_ACTION": (ZohoCRMInvalidRequestError, "Zoho refuses this action on this record."),
    "VIRUS_DETECTED": (ZohoCRMInvalidRequestError, "Zoho's virus scan rejected the file."),
    "failure_in_attachment_handling": (ZohoCRMInvalidRequestError, "Zoho could not process the file."),
    # Server side.
    "INTERNAL_ERROR": (ZohoCRMServerError, "Zoho CRM had an internal error; retry later."),
}

_STATUS_FALLBACK: dict[int, type[ZohoCRMError]] = {
    401: ZohoCRMAuthError,
    403: ZohoCRMPermissionError,
    404: ZohoCRMNotFoundError,
    429: ZohoCRMRateLimitError,
}

_MAX_MESSAGE = 300


def hint_for(code: str | None) -> str | None:
    """Return the provider's hint for a Zoho error code, or ``None`` if the code is unknown."""
    if not code:
        return None
    entry = _CODE_TABLE.get(code) or _CODE_TABLE.get(code.upper())
    return entry[1] if entry else None


def class_for(code: str | None, status_code: int | None) -> type[ZohoCRMError]:
    """Return the error class for a Zoho code and HTTP status."""
    if code:
        entry = _CODE_TABLE.get(code) or _CODE_TABLE.get(code.upper())
        if entry:
            return entry[0]
    if status_code is not None:
        if status_code in _STATUS_FALLBACK:
            return _STATUS_FALLBACK[status_code]
        if status_code >= 500:
            return ZohoCRMServerError
        if status_code >= 400:
            return ZohoCRMInvalidRequestError
    return ZohoCRMError


def make_error(
    message: str,
    *,
    code: str | None,
    status_code: int | None,
    details: Mapping[str, Any] | None = None,
    operation: str | None = None,
) -> ZohoCRMError:
    """Build the right :class:`ZohoCRMError` subclass for a Zoho code and HTTP status."""
    cls = class_for(code, status_code)
    details = dict(details or {})
    # INVALID_DATA pointing at the record id (index 1) or the attachment id (index 3) means
    # "there is no such record/attachment": a not-found, not a malformed request.
    if code == "INVALID_DATA" and details.get("resource_path_index") in (1, 3):
        cls = ZohoCRMNotFoundError
        hint = (
            "No record with this id exists in this module (or it is not visible to this user)."
            if details.get("resource_path_index") == 1
            else "No attachment with this id exists on this record (it may have been deleted)."
        )
    else:
        hint = hint_for(code) or cls.default_hint
    return cls(message, code=code, status_code=status_code, details=details, hint=hint, operation=operation)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


def error_from_response(
    status_code: int,
    body: bytes | str | Mapping[str, Any] | None,
    *,
    operation: str | None = None,
) -> ZohoCRMError:
    """
    Turn an unsuccessful response into the right :class:`ZohoCRMError`.

    Handles Zoho's request-level error object (``{"code", "details", "message", "status"}``), the
    same object wrapped in ``data[]``, OAuth token errors (``{"error": "invalid_client"}``), bare
    statuses without a body, and non-JSON bodies such as a proxy's HTML error page.

    :param status_code: the HTTP status of the response.
    :param body: the response body (bytes, text or an already decoded JSON object).
    :param operation: what was being done, for the message (e.g. ``"download attachment 123"``).
    """
    payload: Any = body
    if isinstance(body, bytes | bytearray):
        try:
            payload = body.decode("utf-8", errors="replace")
        except Exception:  # pragma: no cover - decode with errors="replace" does not raise
            payload = ""
    if isinstance(payload, str):
        text = payload.strip()
        try:
            payload = json.loads(text) if text else None
        except ValueError:
            payload = text

    if isinstance(payload, Mapping):
        return _error_from_mapping(status_code, payload, operation=operation)
    if isinstance(payload, str) and payload:
        kind = "an HTML page" if "<" in payload[:200] else "a non-JSON body"
        return make_error(
            f"Zoho CRM (or a proxy in front of it) answered with {kind} instead of JSON: {_short(payload)}",
            code=None,
            status_code=status_code,
            operation=operation,
        )
    return make_error(
        f"Zoho CRM answered HTTP {status_code} with an empty body",
        code=None,
        status_code=status_code,
        operation=operation,
    )


def _error_from_mapping(
    status_code: int, payload: Mapping[str, Any], *, operation: str | None
) -> ZohoCRMError:
    # Per-item errors come wrapped in data[] (bulk delete, uploads); report the first one.
    data = payload.get("data")
    if "code" not in payload and isinstance(data, list) and data and isinstance(data[0], Mapping):
        payload = data[0]
    if "error" in payload and "code" not in payload:
        error = str(payload.get("error") or "")
        description = str(payload.get("error_description") or "")
        if error.lower() == "access denied" or "too many requests" in description.lower():
            return make_error(
                _short(description or "token creation throttled"),
                code=TOKEN_THROTTLED,
                status_code=status_code,
                operation=operation,
            )
        return make_error(
            _short(description or f"the accounts server answered error={error!r}"),
            code=_short(error) or None,
            status_code=status_code,
            operation=operation,
        )
    code = payload.get("code")
    message = payload.get("message")
    details = payload.get("details")
    return make_error(
        _short(str(message)) if message else f"Zoho CRM answered HTTP {status_code}",
        # A code is one token; a hostile body must not break the error's one line (or a log line).
        code=_short(str(code)) if code is not None else None,
        status_code=status_code,
        details=details if isinstance(details, Mapping) else {},
        operation=operation,
    )
