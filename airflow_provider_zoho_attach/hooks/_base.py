"""
What both hooks share: the base class (connection, settings, retry driver, token and request glue),
the limits, the listing and the JSON call as values, and the helpers that read, check and describe
Zoho's answers. Each hook keeps only its I/O: ``requests`` and threads, or ``httpx`` and asyncio.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar, cast

from airflow.sdk import BaseHook

from airflow_provider_zoho_attach import __version__
from airflow_provider_zoho_attach.exceptions import (
    ZohoCRMConnectionError,
    ZohoCRMError,
    ZohoCRMInvalidRequestError,
    ZohoCRMServerError,
    ZohoCRMTransferError,
)
from airflow_provider_zoho_attach.utils.credits import REMAINING_HEADER, CreditMeter
from airflow_provider_zoho_attach.utils.filenames import filename_from_content_disposition
from airflow_provider_zoho_attach.utils.protocol import (
    MAX_PER_PAGE,
    AccessToken,
    AttachmentPager,
    RetryPolicy,
    attachments_path,
    check_json_response,
    connection_error,
    fields_param,
    is_unreachable,
    token_request_data,
)
from airflow_provider_zoho_attach.utils.settings import CONN_TYPE, DEFAULT_CONN_ID, ZohoCRMSettings
from airflow_provider_zoho_attach.utils.validation import (
    normalize_module,
    parse_number,
    validate_call,
    validate_count,
    validate_id,
    validate_ids,
)

if TYPE_CHECKING:
    import requests

    from airflow_provider_zoho_attach.results import AttachmentRecord, DeleteResult
    from airflow_provider_zoho_attach.utils.tokens import TokenCache
    from airflow_provider_zoho_attach.utils.transfer import MultipartBody, UploadSource

T = TypeVar("T")

#: Zoho's documented limit for one attachment (100 MB) and for a record photo (10 MB).
MAX_ATTACHMENT_SIZE = 100 * 1024 * 1024
MAX_PHOTO_SIZE = 10 * 1024 * 1024
_ERROR_BODY_LIMIT = 64 * 1024
_BULK_DELETE_LIMIT = 100
#: Seconds per request of :meth:`ZohoCRMHook.test_connection` (at most two requests time out).
TEST_CONNECTION_TIMEOUT = 4.0


def _user_agent() -> str:
    try:
        from airflow import __version__ as airflow_version
    except ImportError:  # pragma: no cover
        airflow_version = "unknown"
    return f"airflow-provider-zoho-attach/{__version__} (apache-airflow/{airflow_version})"


class _ZohoCRMHookBase(BaseHook):
    """What the sync and async hooks share: connection, settings, retries, tokens, request helpers."""

    conn_name_attr = "zoho_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = "Zoho CRM"

    #: How the hook waits between retries (``time.sleep`` or ``asyncio.sleep``); tests replace it.
    _sleep: Callable[[float], Any]

    def __init__(
        self,
        zoho_conn_id: str = DEFAULT_CONN_ID,
        *,
        timeout: float | None = None,
        max_concurrency: int | None = None,
        max_retries: int | None = None,
        retry_base_delay: float = 1.0,
        retry_max_delay: float = 60.0,
        token_throttle_timeout: float = 120.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.zoho_conn_id = zoho_conn_id
        #: The API credits this hook spent (see :mod:`airflow_provider_zoho_attach.utils.credits`).
        self.credits = CreditMeter()
        self._timeout_override = timeout
        self._max_concurrency_override = max_concurrency
        self._max_retries_override = max_retries
        self._retry_base_delay = retry_base_delay
        self._retry_max_delay = retry_max_delay
        self._token_throttle_timeout = token_throttle_timeout
        self._access_token: AccessToken | None = None
        self._token_lock = threading.Lock()
        self._masked: set[str] = set()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(zoho_conn_id={self.zoho_conn_id!r})"

    def _apply_overrides(self, settings: ZohoCRMSettings) -> ZohoCRMSettings:
        """
        The connection's settings with the hook's ``timeout``, ``max_concurrency`` and ``max_retries``.

        :param settings: the connection's checked settings.
        :raises ZohoCRMInvalidRequestError: for an override outside the connection field's limits.
        """
        from dataclasses import replace

        from airflow_provider_zoho_attach.utils.settings import NUMBER_LIMITS

        changes: dict[str, Any] = {}
        # Checked like the connection's fields: max_concurrency=0 would wait forever for a slot.
        for name, value in (
            ("timeout", self._timeout_override),
            ("max_concurrency", self._max_concurrency_override),
            ("max_retries", self._max_retries_override),
        ):
            if value is None:
                continue
            low, high, integer = NUMBER_LIMITS[name]
            number = parse_number(value, integer=integer)
            if number is None or not low <= number <= high:
                kind = "a whole number" if integer else "a number of seconds"
                raise ZohoCRMInvalidRequestError.for_argument(name, value, f"{kind} from {low:g} to {high:g}")
            changes[name] = int(number) if integer else number
        return replace(settings, **changes) if changes else settings

    def _policy(self, settings: ZohoCRMSettings) -> RetryPolicy:
        return RetryPolicy(
            max_retries=settings.max_retries,
            base_delay=self._retry_base_delay,
            max_delay=self._retry_max_delay,
            token_throttle_timeout=self._token_throttle_timeout,
        )

    def _api_domain(self, settings: ZohoCRMSettings) -> str:
        # Always the configured host: a token's api_domain (from Zoho, or from a shared Variable that
        # anyone with Variable access can write) is checked against it, never followed.
        return settings.api_domain

    def _transport_errors(self) -> tuple[type[BaseException], ...]:
        """The HTTP library's network errors (``requests``' or ``httpx``'), imported on first use."""
        raise NotImplementedError

    @contextlib.contextmanager
    def _network_errors(self, operation: str, url: str, settings: ZohoCRMSettings) -> Iterator[None]:
        """Raise a network error of the block as a :class:`ZohoCRMConnectionError` that leaks nothing."""
        try:
            yield
        except self._transport_errors() as error:
            raise connection_error(
                operation, error, timeout=settings.timeout, url=url, data_center=settings.data_center
            ) from None

    @contextlib.contextmanager
    def _token_request(self, settings: ZohoCRMSettings) -> Iterator[dict[str, Any]]:
        """
        The token request's ``url`` and ``data`` (its form), for the block that posts them.

        Credentials go in the body, never in the URL, so no log or proxy records them. A network
        error of the block is raised as a :class:`ZohoCRMConnectionError`; the answer is read by
        :func:`~airflow_provider_zoho_attach.utils.protocol.parse_token_response`.
        """
        self.log.debug("Requesting a Zoho access token from %s", settings.accounts_url)
        with self._network_errors("get an access token", settings.token_url, settings):
            yield {"url": settings.token_url, "data": token_request_data(settings)}

    def _retry_logger(self, operation: str, budget: Any) -> Callable[[BaseException, float], None]:
        """
        The warning logged before each retry: one line, the same for the sync and async hooks.

        :param operation: what is being retried, for the message.
        :param budget: the operation's ``RetryBudget`` (its count of retries so far).
        """

        def on_retry(error: BaseException, delay: float) -> None:
            self.log.warning(
                "%s: attempt %d failed (%s); retrying in %.1f s",
                operation,
                budget.retries,
                _describe(error),
                delay,
            )

        return on_retry

    @contextlib.contextmanager
    def _retrying(self, policy: RetryPolicy, *, operation: str) -> Iterator[dict[str, Any]]:
        """
        The arguments of ``tenacity.Retrying`` (sync) or ``AsyncRetrying`` for one operation's retries.

        Each hook only calls tenacity with them inside the block: the budget (the operation's own, or
        the one of the operation this call runs in), the retry log line and the "gave up" note on
        the final error are the same for both. Inside another operation's attempt (a token fetch
        during an API call), the retries are that operation's: one budget per operation, never one
        loop inside another.

        :param policy: what is retried and how long to wait.
        :param operation: what is being retried, for the log line and the error.
        """
        with policy.operation() as budget:
            on_retry = self._retry_logger(operation, budget)
            try:
                yield budget.tenacity_arguments(sleep=self._sleep, on_retry=on_retry)
            except ZohoCRMError as error:
                budget.gave_up(error)
                raise

    def _acquire_token(
        self,
        cache: TokenCache,
        fetch: Callable[[], AccessToken],
        *,
        sleep: Callable[[float], Any],
        policy: RetryPolicy,
    ) -> AccessToken:
        """A token for this hook from the sequence both hooks share (:meth:`.TokenCache.acquire`)."""
        return cache.acquire(
            fetch, own=lambda: self._access_token, sleep=sleep, policy=policy, logger=self.log
        )

    def _authorization(self, token: AccessToken, headers: Mapping[str, str] | None) -> dict[str, str]:
        """The headers of an API request: the token's ``Authorization`` and the caller's."""
        return {"Authorization": f"Zoho-oauthtoken {token.value}", **(headers or {})}

    def _forget_token(self, token: AccessToken, cache: TokenCache) -> None:
        """
        Drop a token Zoho rejected, here and in the cache, unless a newer one replaced it already.

        Blocking (the cache may write the Variable or file): the async hook runs it in a thread.
        """
        self.log.info("Zoho rejected the access token; refreshing it once")
        with self._token_lock:
            if self._access_token == token:
                self._access_token = None
        cache.discard(token)

    def _count_credits(self, method: str, path: str, body: Any, headers: Mapping[str, str]) -> None:
        """Count an answered call's credits; say once what Zoho reports as left for the day."""
        if self.credits.record(method, path, body, headers.get(REMAINING_HEADER)):
            self.log.info("Zoho reports %d API credits left today for this org", self.credits.remaining)

    def _needs_mask(self, token: AccessToken) -> bool:
        if token.value in self._masked:
            return False
        self._masked.add(token.value)
        return True


# ---------------------------------------------------------------------- helpers


def _check(
    response: requests.Response, *, operation: str, empty_ok: bool = False, per_item: bool = False
) -> Any:
    """Check a (possibly streamed) response and return its JSON; the body read is capped for errors."""
    if response.status_code >= 400 or response.status_code in (204, 304):
        body = _read_capped(response)
    else:
        body = response.content
    return check_json_response(
        response.status_code,
        body,
        operation=operation,
        retry_after=response.headers.get("Retry-After"),
        empty_ok=empty_ok,
        per_item=per_item,
    )


def _read_capped(response: requests.Response) -> bytes:
    import requests

    chunks: list[bytes] = []
    total = 0
    try:
        for chunk in response.iter_content(8192):
            chunks.append(chunk)
            total += len(chunk)
            if total >= _ERROR_BODY_LIMIT:
                break
    except requests.RequestException:
        pass
    return b"".join(chunks)


def _may_be_json_answer(response: requests.Response) -> bool:
    """
    Whether a 200 answer to a download may be Zoho's JSON rather than the file.

    Zoho labels every JSON answer ``Content-Disposition: attachment; filename=response.json``, so a
    JSON body without a name, or with that one, is looked at before it is accepted as the file.
    """
    kind = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if kind not in ("application/json", "text/json"):
        return False
    name = filename_from_content_disposition(response.headers.get("Content-Disposition"))
    return name in (None, "response.json")


def _check_json_file(body: bytes, *, operation: str) -> None:
    """Raise the error a JSON download body carries, if it is Zoho's error envelope."""
    import json

    try:
        payload = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return
    if isinstance(payload, Mapping) and (
        str(payload.get("status", "")).lower() == "error" or isinstance(payload.get("data"), list)
    ):
        check_json_response(200, body, operation=operation)


def _content_length(response: requests.Response) -> int | None:
    value = response.headers.get("Content-Length")
    if value is None or response.headers.get("Content-Encoding"):
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _known_size(upload: UploadSource) -> int:
    if upload.size is None:
        raise ZohoCRMInvalidRequestError(
            "the size of the source cannot be known (a non-seekable stream)",
            code="INVALID_ARGUMENT",
            details={"argument": "source"},
            hint="Upload from a path or a seekable file object; Zoho needs the length up front.",
        )
    return upload.size


def _check_size(size: int, limit: int, what: str, name: str) -> None:
    if size > limit:
        raise ZohoCRMInvalidRequestError(
            f"{name!r} has {size} bytes; Zoho accepts at most {limit} bytes for {what}",
            code="FILE_SIZE_MORE_THAN_ALLOWED_SIZE",
            details={"argument": "source", "size": size, "limit": limit},
            hint="Split or compress the file, or store it elsewhere and attach a link; nothing was sent.",
        )


def _bulk_results(payload: Any, batch: Sequence[str], module: str, record_id: str) -> list[DeleteResult]:
    items = payload.get("data") if isinstance(payload, Mapping) else None
    by_id: dict[str, Mapping[str, Any]] = {}
    if isinstance(items, list):
        for index, item in enumerate(items):
            if not isinstance(item, Mapping):
                continue
            details = item.get("details") if isinstance(item.get("details"), Mapping) else {}
            ident = str((details or {}).get("id") or (batch[index] if index < len(batch) else ""))
            by_id[ident] = item
    results = []
    for ident in batch:
        item = by_id.get(ident)
        ok = item is not None and str(item.get("status", "")).lower() == "success"
        result: DeleteResult = {
            "attachment_id": ident,
            "module": module,
            "record_id": record_id,
            "status": "deleted" if ok else "error",
        }
        if not ok:
            result["code"] = item.get("code") if item is not None else "NO_RESULT"
            result["message"] = (
                item.get("message") if item is not None else "Zoho returned no result for this id"
            )
        results.append(result)
    return results


def _describe(error: BaseException | None) -> str:
    if isinstance(error, ZohoCRMError):
        return " ".join(
            str(part) for part in (error.code, error.status_code and f"HTTP {error.status_code}") if part
        )
    return type(error).__name__ if error is not None else "unknown"


@dataclass
class _DeleteOutcome:
    """What a DELETE with retries came to: Zoho's answer, whether an answer was lost, a refusal."""

    payload: Any
    lost: bool
    refused: ZohoCRMError | None = None


def _may_have_stored(error: ZohoCRMError, body: MultipartBody) -> bool:
    """
    Whether a failed upload attempt may have stored the file anyway (only its answer was lost).

    A 429 or a 4xx stored nothing, and neither did a connection that failed before the whole body
    went out (Zoho cannot store a file it did not receive). A connection lost or a read timeout
    after the whole body was sent, or a 5xx, may have: those are the ambiguous failures.
    """
    if isinstance(error, ZohoCRMConnectionError):
        # A host that was never reached (DNS, refused, connect timeout) received nothing.
        return body.finished and not is_unreachable(error)
    return isinstance(error, ZohoCRMServerError)


def _not_replayable(operation: str) -> ZohoCRMTransferError:
    return ZohoCRMTransferError(
        "the upload failed and its source (a non-seekable stream) cannot be sent again",
        code="NOT_REPLAYABLE",
        operation=operation,
        hint="Upload from a path or a seekable file object to get retries.",
    )


def _source_sha256(upload: UploadSource, operation: str) -> str:
    """The SHA-256 of what is being uploaded, read again from its source."""
    if not upload.replayable:
        raise _not_replayable(operation)
    return upload.sha256()


@dataclass(frozen=True)
class JsonCall:
    """
    One API call whose answer is JSON: what a hook's ``_call_json`` sends, and how it reads the answer.

    :param method: the HTTP method.
    :param path: the endpoint, relative to ``/crm/<version>/``.
    :param operation: what the call does, for log lines and errors.
    :param params: the query parameters.
    :param body: the request body, if any.
    :param headers: extra request headers (the hook adds ``Authorization``).
    :param empty_ok: whether a 204 means "nothing" (``None``) rather than an error.
    """

    method: str
    path: str
    operation: str
    params: Mapping[str, Any] | None = None
    body: bytes | None = None
    headers: Mapping[str, str] | None = None
    empty_ok: bool = False


class IterOptions(TypedDict, total=False):
    """The options of ``iter_attachments`` (see :meth:`ZohoCRMHook.iter_attachments`)."""

    fields: Iterable[str] | str | None
    per_page: int
    ids: Iterable[str] | str | None


class ListOptions(IterOptions, total=False):
    """The options of ``list_attachments``: those of ``iter_attachments`` and ``max_items``."""

    max_items: int | None


@dataclass
class _Listing:
    """
    One attachment listing, without the I/O: the call for each page, and when to stop.

    :param path: the record's attachments path.
    :param operation: what is listed, for log lines and errors.
    :param params: the query parameters of every page (``fields``, ``ids``).
    :param pager: which page comes next, and whether the listing is over.
    :param max_items: stop after this many records (``None``: all of them).
    """

    path: str
    operation: str
    params: dict[str, str]
    pager: AttachmentPager
    max_items: int | None = None
    taken: int = 0

    @property
    def done(self) -> bool:
        """Whether every page, or ``max_items`` records, came."""
        return self.pager.done or (self.max_items is not None and self.taken >= self.max_items)

    def next_call(self) -> JsonCall:
        """The call for the next page."""
        return JsonCall(
            "GET", self.path, self.operation, params={**self.params, **self.pager.params()}, empty_ok=True
        )

    def feed(self, payload: Any) -> list[AttachmentRecord]:
        """The new records of a page's answer (``None`` for a 204), up to ``max_items`` in all."""
        # Zoho's JSON objects, typed as far as the provider knows their keys.
        records = cast("list[AttachmentRecord]", self.pager.feed(payload))
        if self.max_items is not None:
            records = records[: self.max_items - self.taken]
        self.taken += len(records)
        return records


def _listing(
    module: str,
    record_id: str,
    *,
    fields: Iterable[str] | str | None = None,
    per_page: int = MAX_PER_PAGE,
    ids: Iterable[str] | str | None = None,
    max_items: int | None = None,
) -> _Listing:
    """The listing of the attachments of a checked module and record id (the hooks' cores use it)."""
    params = {"fields": fields_param(fields)}
    if ids is not None:
        params["ids"] = ",".join(validate_ids(ids))
    operation = f"list attachments of {module}/{record_id}"
    pager = AttachmentPager(per_page=per_page, operation=operation)
    return _Listing(attachments_path(module, record_id), operation, params, pager, max_items)


def _checked_listing(module: Any, record_id: Any, options: Mapping[str, Any], *, caller: str) -> _Listing:
    """
    The listing of ``iter_attachments`` or ``list_attachments``, from the user's arguments.

    Both hooks' listing methods check their arguments here, the same way, before anything is sent.

    :param options: the method's keyword arguments (:class:`ListOptions`, or :class:`IterOptions`
        for ``iter_attachments``, which takes no ``max_items``).
    :param caller: the method's name (``list_attachments`` or ``iter_attachments``).
    :raises TypeError: for a keyword the method does not take, as Python says for any call.
    :raises ZohoCRMInvalidRequestError: for a bad argument.
    """
    accepted = ListOptions if caller == "list_attachments" else IterOptions
    for name in options:
        if name not in accepted.__optional_keys__:
            raise TypeError(f"{caller}() got an unexpected keyword argument {name!r}")
    per_page = options.get("per_page", MAX_PER_PAGE)
    max_items = options.get("max_items")
    if max_items is not None:
        # Not optional=True: that takes "" for "not set", and the hooks have always refused it.
        max_items = validate_count(max_items, argument="max_items", minimum=0, from_text=False)
    if max_items is not None and max_items < per_page:
        per_page = max(1, max_items)
    if max_items == 0:
        # As ever: asking for no record sends nothing, so nothing else is looked at.
        return _Listing("", "", {}, AttachmentPager(), max_items=0)
    return _listing(
        normalize_module(module),
        validate_id(record_id),
        fields=options.get("fields"),
        per_page=per_page,
        ids=options.get("ids"),
        max_items=max_items,
    )


class CallOptions(TypedDict, total=False):
    """The keyword arguments of ``call`` (see :meth:`ZohoCRMHook.call`), for the async hook's twin."""

    params: Mapping[str, Any] | None
    json: Any
    data: Any
    headers: Mapping[str, str] | None


def _call_arguments(
    method: Any, path: Any, *, params: Any = None, json: Any = None, data: Any = None, headers: Any = None
) -> JsonCall:
    """
    Check ``call``'s arguments and return the call to send (for the hook's ``_call_json``).

    The arguments are the user's, checked here at run time (hence ``Any``) by
    :func:`~airflow_provider_zoho_attach.utils.validation.validate_call`; an unknown keyword is a
    ``TypeError`` as for any Python call.

    :raises ZohoCRMInvalidRequestError: for a bad argument, before anything is sent.
    """
    verb, body, request_headers = validate_call(method, path, json=json, data=data, headers=headers)
    return JsonCall(
        verb, path, f"{verb} {path}", params=params, body=body, headers=request_headers, empty_ok=True
    )
