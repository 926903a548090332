"""Hooks for Zoho CRM: :class:`ZohoCRMHook` (sync, requests) and :class:`ZohoCRMAsyncHook` (httpx).

Both take everything that is not I/O from :mod:`airflow_provider_zoho_attach.utils.protocol`
(OAuth, paths, error mapping, pagination, retry decisions) and share access tokens through
:mod:`airflow_provider_zoho_attach.utils.tokens`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import mimetypes
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.sdk import BaseHook

from airflow_provider_zoho_attach import __version__
from airflow_provider_zoho_attach.exceptions import (
    ZohoCRMConnectionError,
    ZohoCRMError,
    ZohoCRMInvalidRequestError,
    ZohoCRMNotFoundError,
    ZohoCRMServerError,
    ZohoCRMTransferError,
)
from airflow_provider_zoho_attach.utils.connection_form import legacy_field_behaviour, wtforms_widgets
from airflow_provider_zoho_attach.utils.filenames import filename_from_content_disposition
from airflow_provider_zoho_attach.utils.protocol import (
    MAX_PER_PAGE,
    AccessToken,
    AttachmentPager,
    RetryPolicy,
    attachment_path,
    attachment_size,
    attachments_path,
    check_json_response,
    connect_timeout,
    connection_error,
    fields_param,
    first_item,
    is_unreachable,
    parse_token_response,
    photo_path,
    token_request_data,
)
from airflow_provider_zoho_attach.utils.settings import CONN_TYPE, DEFAULT_CONN_ID, ZohoCRMSettings
from airflow_provider_zoho_attach.utils.tokens import TokenCache, TokenThrottle
from airflow_provider_zoho_attach.utils.transfer import (
    CHUNK_SIZE,
    DownloadTarget,
    MultipartBody,
    NameClaims,
    UploadSource,
    choose_file_name,
)
from airflow_provider_zoho_attach.utils.validation import (
    normalize_module,
    redact_url,
    validate_id,
    validate_ids,
)

if TYPE_CHECKING:
    import ssl

    import httpx
    import requests

__all__ = ["ZohoCRMAsyncHook", "ZohoCRMHook"]

T = TypeVar("T")

#: Zoho's documented limit for one attachment (100 MB) and for a record photo (10 MB).
MAX_ATTACHMENT_SIZE = 100 * 1024 * 1024
MAX_PHOTO_SIZE = 10 * 1024 * 1024
_ERROR_BODY_LIMIT = 64 * 1024
_BULK_DELETE_LIMIT = 100
#: Seconds per request of :meth:`ZohoCRMHook.test_connection` (at most two requests time out).
TEST_CONNECTION_TIMEOUT = 4.0
# Zoho allows 10 new tokens per refresh token in 10 minutes.
_THROTTLE_WARNING = "Zoho throttles token creation for this refresh token; waiting %.0f s to ask again"
_SHARED_AFTER_THROTTLE = "Another task shared a fresh access token while Zoho throttled ours; using it"


def _user_agent() -> str:
    try:
        from airflow import __version__ as airflow_version
    except ImportError:  # pragma: no cover
        airflow_version = "unknown"
    return f"airflow-provider-zoho-attach/{__version__} (apache-airflow/{airflow_version})"


class _ZohoCRMHookBase(BaseHook):
    """What the sync and async hooks share: connection, settings, retry policy, token cache."""

    conn_name_attr = "zoho_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = "Zoho CRM"

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
        self._timeout_override = timeout
        self._max_concurrency_override = max_concurrency
        self._max_retries_override = max_retries
        self._retry_base_delay = retry_base_delay
        self._retry_max_delay = retry_max_delay
        self._token_throttle_timeout = token_throttle_timeout
        self._access_token: AccessToken | None = None
        self._masked: set[str] = set()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(zoho_conn_id={self.zoho_conn_id!r})"

    def _apply_overrides(self, settings: ZohoCRMSettings) -> ZohoCRMSettings:
        from dataclasses import replace

        from airflow_provider_zoho_attach.utils.settings import MAX_CONCURRENCY_LIMIT, MAX_RETRIES_LIMIT

        changes: dict[str, Any] = {}
        # Checked like the connection's fields: max_concurrency=0 would wait forever for a slot.
        for name, value, low, high, integer in (
            ("timeout", self._timeout_override, 0.001, 3600, False),
            ("max_concurrency", self._max_concurrency_override, 1, MAX_CONCURRENCY_LIMIT, True),
            ("max_retries", self._max_retries_override, 0, MAX_RETRIES_LIMIT, True),
        ):
            if value is None:
                continue
            try:
                number = None if isinstance(value, bool) else float(value)
            except (TypeError, ValueError, OverflowError):
                number = None
            if number is None or (integer and not number.is_integer()) or not low <= number <= high:
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

    def _needs_mask(self, token: AccessToken) -> bool:
        if token.value in self._masked:
            return False
        self._masked.add(token.value)
        return True


class ZohoCRMHook(_ZohoCRMHookBase):
    """
    Interact with Zoho CRM's attachments, record photos and OAuth endpoints.

    The connection holds the OAuth client (login/password) and a refresh token (extra). Access
    tokens are fetched on demand, shared between tasks (see the ``oauth_cache`` extra), refreshed before they
    expire and once more if Zoho rejects one. Calls are retried on network errors, 5xx and 429 with
    exponential backoff; at most ``max_concurrency`` requests are in flight per hook, whatever the
    number of threads using it.

    :param zoho_conn_id: the ``zoho_crm`` connection to use.
    :param timeout: seconds per request; overrides the connection's ``timeout``.
    :param max_concurrency: requests in flight; overrides the connection's ``max_concurrency``.
    :param max_retries: retries of a transient failure; overrides the connection's ``max_retries``.
    :param retry_base_delay: first backoff in seconds (doubled per retry, with jitter).
    :param retry_max_delay: the longest single wait between retries, in seconds.
    :param token_throttle_timeout: how long to wait out Zoho's token-creation throttle, in seconds.
    """

    # Airflow 3.1 reads these two from the registered class's own __dict__, not from a base class.
    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Return the connection form's extra fields (read by Airflow 3.1; 3.2+ reads provider info)."""
        return wtforms_widgets()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Return the relabelled and hidden standard fields (read by Airflow 3.1)."""
        return legacy_field_behaviour()

    def __init__(self, zoho_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(zoho_conn_id, **kwargs)
        self._lock = threading.Lock()
        self._sleep: Callable[[float], None] = time.sleep

    # ------------------------------------------------------------------ set-up

    @cached_property
    def settings(self) -> ZohoCRMSettings:
        """The checked settings of the connection (read once, on first use)."""
        return self._apply_overrides(ZohoCRMSettings.from_connection(self.get_connection(self.zoho_conn_id)))

    @cached_property
    def retry_policy(self) -> RetryPolicy:
        """Which failures are retried and how long to wait in between."""
        return self._policy(self.settings)

    @cached_property
    def token_cache(self) -> TokenCache:
        """Where this hook's access tokens are shared."""
        return TokenCache(self.settings)

    @cached_property
    def _slots(self) -> threading.BoundedSemaphore:
        return threading.BoundedSemaphore(self.settings.max_concurrency)

    @cached_property
    def session(self) -> requests.Session:
        """The hook's HTTP session (built on first use; shared by the hook's threads)."""
        import requests
        from requests.adapters import HTTPAdapter

        session = requests.Session()
        # Retries are ours (one budget per operation, Zoho's rules); urllib3 must not retry behind our back.
        adapter = HTTPAdapter(
            pool_connections=2, pool_maxsize=max(10, self.settings.max_concurrency), max_retries=0
        )
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.headers["User-Agent"] = _user_agent()
        session.trust_env = True
        return session

    def get_conn(self) -> requests.Session:
        """Return the HTTP session (Airflow's hook convention)."""
        return self.session

    def close(self) -> None:
        """Close the HTTP session's connections."""
        if "session" in self.__dict__:
            self.session.close()
            del self.__dict__["session"]

    # ------------------------------------------------------------------ OAuth

    def get_access_token(self) -> str:
        """
        Return a valid access token, creating one only if no task on this worker has a fresh one.

        The token is registered with Airflow's secrets masker, so it never shows in task logs.
        """
        return self._token().value

    def _token(self) -> AccessToken:
        token = self._access_token
        if token is None or not token.is_fresh():
            token = self.token_cache.load()
            if token is None:
                with self.token_cache.refresh_lock():
                    # Another thread or process may have refreshed while we waited for the lock.
                    token = self._fresh_own_token() or self.token_cache.load() or self._fetch_token()
            self._access_token = token
        if self._needs_mask(token):
            from airflow.sdk.log import mask_secret

            mask_secret(token.value)
        return token

    def _fresh_own_token(self) -> AccessToken | None:
        token = self._access_token
        return token if token is not None and token.is_fresh() else None

    def _fetch_token(self) -> AccessToken:
        """A new token from Zoho (then shared), or one another task shared while Zoho throttled us."""
        throttle = TokenThrottle(policy=self.retry_policy)
        while True:
            try:
                token = self._retry(self._request_token, operation="get an access token")
            except ZohoCRMError as error:
                delay = throttle.delay_after(error)
                self.log.warning(_THROTTLE_WARNING, delay)
                self._sleep(delay)
                shared = self.token_cache.load()
                if shared is not None:
                    self.log.info(_SHARED_AFTER_THROTTLE)
                    return shared
            else:
                self.token_cache.store(token)
                return token

    def _request_token(self) -> AccessToken:
        import requests

        settings = self.settings
        self.log.debug("Requesting a Zoho access token from %s", settings.accounts_url)
        try:
            # Credentials go in the body, never in the URL, so no log or proxy records them.
            response = self.session.post(
                settings.token_url,
                data=token_request_data(settings),
                timeout=(connect_timeout(settings.timeout), settings.timeout),
                allow_redirects=False,
            )
        except requests.RequestException as error:
            raise connection_error(
                "get an access token",
                error,
                timeout=settings.timeout,
                url=settings.token_url,
                data_center=settings.data_center,
            ) from None
        try:
            return parse_token_response(response.status_code, response.content, settings)
        finally:
            response.close()

    def _invalidate(self, token: AccessToken) -> None:
        with self._lock:
            if self._access_token == token:
                self._access_token = None
        self.token_cache.discard(token)

    # ------------------------------------------------------------------ requests

    def _retry(self, func: Callable[[], T], *, operation: str) -> T:
        """
        Call ``func`` until it succeeds, the failure is not retryable, or the operation's retries run out.

        Inside another operation's attempt (a token fetch during an API call), the retries are that
        operation's: one budget per operation, never one loop inside another.
        """
        import tenacity

        with self.retry_policy.operation() as budget:

            def on_retry(error: BaseException, delay: float) -> None:
                self.log.warning(
                    "%s: attempt %d failed (%s); retrying in %.1f s",
                    operation,
                    budget.retries,
                    _describe(error),
                    delay,
                )

            retrying = tenacity.Retrying(**budget.tenacity_arguments(sleep=self._sleep, on_retry=on_retry))
            try:
                return retrying(func)
            except ZohoCRMError as error:
                budget.gave_up(error)
                raise

    @contextlib.contextmanager
    def _exchange(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
    ) -> Iterator[requests.Response]:
        """
        Send one request (no retries) with a valid token and yield the response.

        A concurrency slot is held until the caller leaves the block, so a streamed body counts as
        in flight while it is read. A 401 ``INVALID_TOKEN`` refreshes the token and resends once.
        """
        import requests

        settings = self.settings
        with self._slots:
            for auth_attempt in (1, 2):
                token = self._token()
                url = settings.api_url(path, self._api_domain(settings))
                request_headers = {"Authorization": f"Zoho-oauthtoken {token.value}", **(headers or {})}
                started = time.monotonic()
                try:
                    response = self.session.request(
                        method,
                        url,
                        params=params,
                        data=body,
                        headers=request_headers,
                        timeout=(connect_timeout(settings.timeout), settings.timeout),
                        stream=stream,
                        allow_redirects=False,
                    )
                except requests.RequestException as error:
                    raise connection_error(
                        operation, error, timeout=settings.timeout, url=url, data_center=settings.data_center
                    ) from None
                self.log.debug(
                    "%s /crm/%s/%s -> HTTP %d in %.3f s",
                    method,
                    settings.api_version,
                    path,
                    response.status_code,
                    time.monotonic() - started,
                )
                if response.status_code == 401 and auth_attempt == 1 and _is_invalid_token(response):
                    response.close()
                    self.log.info("Zoho rejected the access token; refreshing it once")
                    self._invalidate(token)
                    # A MultipartBody re-opens its source when iterated again, so resending is safe.
                    continue
                try:
                    yield response
                finally:
                    response.close()
                return

    def _call_json(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        params: Mapping[str, str] | None = None,
        empty_ok: bool = False,
    ) -> Any:
        """One JSON call with retries: the decoded body (``None`` for 204 when ``empty_ok``)."""

        def attempt() -> Any:
            with self._exchange(method, path, operation=operation, params=params) as response:
                return _check(response, operation=operation, empty_ok=empty_ok)

        return self._retry(attempt, operation=operation)

    # ------------------------------------------------------------------ listing

    def iter_attachments(
        self,
        module: str,
        record_id: str | int,
        *,
        fields: Iterable[str] | str | None = None,
        per_page: int = MAX_PER_PAGE,
        ids: Iterable[str] | str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """
        Yield every attachment record of a record, page after page.

        Pages are fetched lazily (one call per ``per_page`` rows); past Zoho's 2,000-row limit for
        page numbers the listing continues with page tokens.

        :param module: the module API name (``Deals``) or its docs name (``deals``).
        :param record_id: the record id.
        :param fields: field API names to request (``id`` is always added); default: every field the
            provider's operators use.
        :param per_page: rows per call, 1 to 200.
        :param ids: restrict the listing to these attachment ids.
        :return: Zoho's attachment records (dicts with ``id``, ``File_Name``, ``Size``...).
        """
        module = normalize_module(module)
        record_id = validate_id(record_id)
        params = {"fields": fields_param(fields)}
        if ids is not None:
            params["ids"] = ",".join(validate_ids(ids))
        operation = f"list attachments of {module}/{record_id}"
        pager = AttachmentPager(per_page=per_page, operation=operation)
        path = attachments_path(module, record_id)
        while not pager.done:
            payload = self._call_json(
                "GET", path, operation=operation, params={**params, **pager.params()}, empty_ok=True
            )
            yield from pager.feed(payload)

    def list_attachments(
        self,
        module: str,
        record_id: str | int,
        *,
        fields: Iterable[str] | str | None = None,
        per_page: int = MAX_PER_PAGE,
        max_items: int | None = None,
        ids: Iterable[str] | str | None = None,
    ) -> list[dict[str, Any]]:
        """
        Return the attachment records of a record (all pages, or the first ``max_items``).

        Takes the arguments of :meth:`iter_attachments`, plus:

        :param max_items: stop after this many records (fewer pages are fetched).
        """
        if max_items is not None and (
            isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 0
        ):
            raise ZohoCRMInvalidRequestError.for_argument("max_items", max_items, "a whole number >= 0")
        if max_items is not None and max_items < per_page:
            per_page = max(1, max_items)
        records: list[dict[str, Any]] = []
        if max_items == 0:
            return records
        for record in self.iter_attachments(module, record_id, fields=fields, per_page=per_page, ids=ids):
            records.append(record)
            if max_items is not None and len(records) >= max_items:
                break
        return records

    def get_attachment(self, module: str, record_id: str | int, attachment_id: str | int) -> dict[str, Any]:
        """
        Return one attachment's record (one list call filtered by id).

        :raises ZohoCRMNotFoundError: if the record has no such attachment.
        """
        attachment_id = validate_id(attachment_id, argument="attachment_id")
        found = self.list_attachments(module, record_id, ids=[attachment_id])
        for record in found:
            if str(record.get("id")) == attachment_id:
                return record
        raise ZohoCRMNotFoundError(
            f"{normalize_module(module)}/{record_id} has no attachment {attachment_id}",
            code="NOT_FOUND",
            status_code=204,
            operation=f"get attachment {attachment_id}",
        )

    # ------------------------------------------------------------------ downloads

    def download_attachment(
        self,
        module: str,
        record_id: str | int,
        attachment_id: str | int,
        destination: Any,
        *,
        overwrite: bool = False,
        directory: bool | None = None,
        claims: NameClaims | None = None,
        file_name: str | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> dict[str, Any]:
        """
        Download one attachment, streaming it to ``destination``.

        The bytes go to a temporary file, are checked against ``Content-Length`` and hashed
        (SHA-256), and only then take their final name; a failed or interrupted transfer is retried
        from the start and leaves nothing behind. The file name is Zoho's (``filename*`` or
        ``filename`` of ``Content-Disposition``, else the record's ``File_Name``), made safe so it
        can never leave the destination directory. If a file of that name exists, an identical one
        is kept (``"status": "unchanged"``) and a different one is kept too while the download takes
        the deterministic name ``<stem> (<attachment id>)<ext>``, unless ``overwrite=True``.

        :param module: the module API name.
        :param record_id: the record id.
        :param attachment_id: the attachment id.
        :param destination: a directory (existing, or ending with ``/``), a file path, or an
            object-storage URL/``ObjectStoragePath`` (``s3://bucket/dir/``, ``file:///data/``...).
        :param overwrite: replace an existing file of the same name.
        :param directory: ``True``: ``destination`` is a directory, created if missing (say so for a
            ``Path`` or an ``ObjectStoragePath`` that does not exist yet, such as a new S3 prefix);
            ``False``: it is the exact file to write; ``None`` (default): a directory if it exists
            as one or is a string ending with ``/``, else a file.
        :param claims: share one :class:`~airflow_provider_zoho_attach.utils.transfer.NameClaims`
            between the downloads of one run (threads included) so that same-named attachments
            never take one name, even with ``overwrite=True``: the first to claim a name keeps it,
            the others get ``<stem> (<attachment id>)<ext>``. Without it, a name is only held while
            a download moves its file into place (concurrent calls still get distinct names, and
            ``overwrite=True`` replaces what an earlier call wrote).
        :param file_name: the record's ``File_Name``, used if Zoho's response names no file.
        :param on_progress: called with the size of each chunk written (for progress reports).
        :return: ``{"attachment_id", "file_name", "path", "size", "sha256", "content_type",
            "module", "record_id", "status"}`` with ``status`` ``"downloaded"`` or ``"unchanged"``.
        """
        module = normalize_module(module)
        record_id = validate_id(record_id)
        attachment_id = validate_id(attachment_id, argument="attachment_id")
        target = DownloadTarget(destination, overwrite=overwrite, directory=directory, claims=claims)

        def name_for(header_name: str | None, content_type: str) -> str:
            record_name = file_name
            if header_name is None and record_name is None and target.is_directory:
                record_name = self._file_name_of(module, record_id, attachment_id)
            return choose_file_name(header_name, record_name, attachment_id)

        result = self._download(
            attachment_path(module, record_id, attachment_id),
            target,
            operation=f"download attachment {attachment_id} of {module}/{record_id}",
            module=module,
            record_id=record_id,
            tag=attachment_id,
            name_for=name_for,
            on_progress=on_progress,
        )
        return {"attachment_id": attachment_id, **result}

    def _download(
        self,
        path: str,
        target: DownloadTarget,
        *,
        operation: str,
        module: str,
        record_id: str,
        tag: str,
        name_for: Callable[[str | None, str], str],
        on_progress: Callable[[int], None] | None = None,
        not_found: str = "no such attachment",
    ) -> dict[str, Any]:
        """
        Download ``path`` into ``target``, retried from the start until verified and in place.

        :param name_for: the safe file name, from the header's name (if any) and the content type.
        :param tag: what makes a clashing name unique (the attachment or record id).
        :return: ``{"file_name", "path", "size", "sha256", "content_type", "module", "record_id",
            "status"}``.
        """

        def attempt() -> dict[str, Any]:
            header_name, size, sha256, content_type = self._download_once(
                path, target, operation=operation, on_progress=on_progress, not_found=not_found
            )
            final = target.commit(name_for(header_name, content_type), size=size, sha256=sha256, tag=tag)
            return {
                "file_name": final.file_name,
                "path": final.path,
                "size": size,
                "sha256": sha256,
                "content_type": content_type,
                "module": module,
                "record_id": record_id,
                "status": "unchanged" if final.unchanged else "downloaded",
            }

        try:
            result = self._retry(attempt, operation=operation)
        finally:
            target.discard()
        if result["status"] == "unchanged":
            self.log.info("%s is already at %s (same size and SHA-256); kept it", operation, result["path"])
        return result

    def _file_name_of(self, module: str, record_id: str, attachment_id: str) -> str | None:
        try:
            return str(self.get_attachment(module, record_id, attachment_id).get("File_Name") or "") or None
        except ZohoCRMNotFoundError:
            return None

    def _download_once(
        self,
        path: str,
        target: DownloadTarget,
        *,
        operation: str,
        on_progress: Callable[[int], None] | None,
        not_found: str = "no such attachment",
    ) -> tuple[str | None, int, str, str]:
        """One streamed GET into the target's temp file: (header name, size, sha256, content type)."""
        import requests

        target.discard()
        handle = target.open_temp()
        try:
            with self._exchange("GET", path, operation=operation, stream=True) as response:
                if response.status_code == 204:
                    raise ZohoCRMNotFoundError(
                        f"Zoho CRM answered 204 No Content: {not_found}",
                        code="NO_CONTENT",
                        status_code=204,
                        operation=operation,
                    )
                if response.status_code != 200:
                    _check(response, operation=operation)
                    raise ZohoCRMTransferError(
                        f"unexpected HTTP {response.status_code} for a download",
                        code="UNEXPECTED_STATUS",
                        status_code=response.status_code,
                        operation=operation,
                    )
                # Zoho sends some errors as JSON with HTTP 200: keep the start of a JSON body to tell.
                sniff = bytearray() if _may_be_json_answer(response) else None
                expected = _content_length(response)
                digest = hashlib.sha256()
                size = 0
                try:
                    for chunk in response.iter_content(CHUNK_SIZE):
                        handle.write(chunk)
                        digest.update(chunk)
                        size += len(chunk)
                        if sniff is not None and len(sniff) <= _ERROR_BODY_LIMIT:
                            sniff += chunk[: _ERROR_BODY_LIMIT + 1 - len(sniff)]
                        if on_progress is not None:
                            on_progress(len(chunk))
                except requests.RequestException as error:
                    raise ZohoCRMTransferError(
                        f"the connection broke after {size} bytes ({type(error).__name__})",
                        code="CONNECTION_LOST",
                        status_code=200,
                        operation=operation,
                        hint="The download is retried from the start; nothing partial is kept.",
                    ) from None
                except OSError as error:
                    raise ZohoCRMTransferError(
                        f"cannot write the download: {error.strerror or error}",
                        code="DESTINATION_ERROR",
                        operation=operation,
                        hint="Check free space and permissions of the destination; nothing partial was kept.",
                    ) from None
                if expected is not None and size != expected:
                    raise ZohoCRMTransferError(
                        f"the body ended after {size} of {expected} bytes",
                        code="INCOMPLETE_BODY",
                        status_code=200,
                        operation=operation,
                        hint="The download is retried from the start; nothing partial is kept.",
                    )
                if sniff is not None and len(sniff) <= _ERROR_BODY_LIMIT:
                    # Raises Zoho's error if the body is one; a JSON file that is not one is kept.
                    _check_json_file(bytes(sniff), operation=operation)
                header_name = filename_from_content_disposition(response.headers.get("Content-Disposition"))
                content_type = (response.headers.get("Content-Type") or "application/octet-stream").split(
                    ";"
                )[0]
            try:
                handle.flush()
            except OSError as error:
                raise ZohoCRMTransferError(
                    f"cannot write the download: {error.strerror or error}",
                    code="DESTINATION_ERROR",
                    operation=operation,
                    hint="Check free space and permissions of the destination; nothing partial was kept.",
                ) from None
            return header_name, size, digest.hexdigest(), content_type.strip()
        except BaseException:
            handle.close()
            target.discard()
            raise
        finally:
            if not handle.closed:
                handle.close()

    # ------------------------------------------------------------------ uploads

    def upload_attachment(
        self,
        module: str,
        record_id: str | int,
        source: Any,
        *,
        file_name: str | None = None,
        content_type: str | None = None,
        known_ids: Iterable[str] | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> dict[str, Any]:
        """
        Upload a file as an attachment of a record, streaming it from disk or object storage.

        The size is checked against Zoho's limit before anything is sent. If the connection breaks
        after the file was sent (Zoho may have stored it), the record is checked for the new
        attachment before retrying, so a retry does not create a duplicate.

        :param module: the module API name.
        :param record_id: the record id.
        :param source: a local path, an object-storage URL/``ObjectStoragePath``, or a binary file
            object (then ``file_name`` is needed if it has no ``name``).
        :param file_name: the name in Zoho (default: the source's name).
        :param content_type: the part's media type (default: guessed from the name).
        :param known_ids: ids of attachments that existed before this upload, if the caller knows
            them (they are never mistaken for this upload when recovering from a lost response).
        :param on_progress: called with the size of each chunk sent.
        :return: ``{"attachment_id", "file_name", "size", "sha256", "module", "record_id",
            "created_time"}``.
        """
        module = normalize_module(module)
        record_id = validate_id(record_id)
        upload = UploadSource(source, file_name=file_name)
        size = _known_size(upload)
        _check_size(size, MAX_ATTACHMENT_SIZE, "an attachment", upload.file_name)
        kind = content_type or mimetypes.guess_type(upload.file_name)[0] or "application/octet-stream"
        operation = f"upload {upload.file_name!r} to {module}/{record_id}"
        path = attachments_path(module, record_id)
        # What was on the record before the first attempt can never be this upload's lost copy.
        before = {str(ident) for ident in known_ids} if known_ids is not None else None
        maybe_stored = False
        started_before = False
        source_sha256: str | None = None

        def attempt() -> dict[str, Any]:
            nonlocal before, maybe_stored, started_before, source_sha256
            if before is None:
                before = {
                    str(record["id"])
                    for record in self.iter_attachments(module, record_id, fields=("File_Name",))
                }
            if maybe_stored:
                # An earlier attempt failed after Zoho may have stored the file (only the answer was
                # lost). Look before sending it a second time.
                if source_sha256 is None:
                    source_sha256 = _source_sha256(upload, operation)
                recovered = self._find_lost_upload(
                    module,
                    record_id,
                    file_name=upload.file_name,
                    size=size,
                    sha256=source_sha256,
                    excluded=before,
                    operation=operation,
                )
                if recovered is not None:
                    self.log.warning(
                        "%s: the answer was lost but Zoho stored the file as %s (same name, size and "
                        "SHA-256, not on the record before); not sending it again",
                        operation,
                        recovered["id"],
                    )
                    return self._upload_result(
                        module,
                        record_id,
                        file_name=upload.file_name,
                        size=size,
                        details=recovered,
                        sha256=source_sha256,
                    )
            if started_before and not upload.replayable:
                raise _not_replayable(operation)
            body = MultipartBody(
                field="file",
                file_name=upload.file_name,
                content_type=kind,
                opener=upload.open,
                size=size,
                on_progress=on_progress,
            )
            try:
                with self._exchange(
                    "POST", path, operation=operation, body=body, headers={"Content-Type": body.content_type}
                ) as response:
                    payload = _check(response, operation=operation)
            except ZohoCRMError as error:
                started_before = started_before or body.started
                if _may_have_stored(error, body):
                    maybe_stored = True
                    source_sha256 = source_sha256 or body.sha256
                raise
            item = first_item(payload, operation=operation)
            details = item.get("details") if isinstance(item.get("details"), Mapping) else {}
            return self._upload_result(
                module,
                record_id,
                file_name=upload.file_name,
                size=size,
                details=details or {},
                sha256=body.sha256,
            )

        result = self._retry(attempt, operation=operation)
        self.log.info(
            "Uploaded %r (%d bytes) to %s/%s as %s",
            upload.file_name,
            size,
            module,
            record_id,
            result["attachment_id"],
        )
        return result

    @staticmethod
    def _upload_result(
        module: str,
        record_id: str,
        *,
        file_name: str,
        size: int,
        details: Mapping[str, Any],
        sha256: str | None,
    ) -> dict[str, Any]:
        attachment_id = details.get("id")
        if not attachment_id:
            raise ZohoCRMTransferError(
                "Zoho CRM accepted the upload but returned no attachment id",
                code="INVALID_RESPONSE",
                operation=f"upload {file_name!r} to {module}/{record_id}",
            )
        return {
            "attachment_id": str(attachment_id),
            "file_name": file_name,
            "size": size,
            "sha256": sha256,
            "module": module,
            "record_id": record_id,
            "created_time": details.get("Created_Time"),
        }

    def _find_lost_upload(
        self,
        module: str,
        record_id: str,
        *,
        file_name: str,
        size: int,
        sha256: str,
        excluded: set[str],
        operation: str,
    ) -> Mapping[str, Any] | None:
        """
        The attachment a previous attempt stored before its answer was lost, if there is one.

        Only an attachment that was not on the record before the first attempt, with the same name
        and size, and whose bytes have the same SHA-256 (downloaded to check) counts: another
        user's file of the same name is never taken for ours.
        """
        try:
            records = self.list_attachments(module, record_id, fields=("File_Name", "Size", "Created_Time"))
            for record in records:
                ident = str(record.get("id"))
                if ident in excluded:
                    continue
                if record.get("File_Name") != file_name or attachment_size(record) != size:
                    continue
                if size and self._attachment_sha256(module, record_id, ident, operation) != sha256:
                    continue
                return {"id": ident, "Created_Time": record.get("Created_Time")}
        except ZohoCRMError as error:
            # Sending again without knowing could store the file twice: fail (or retry the check).
            self.log.warning("Could not check for a stored copy before retrying the upload (%s)", error.code)
            error.extend_message(" (while checking whether Zoho stored the upload; it was not sent again)")
            raise
        return None

    def attachment_sha256(self, module: str, record_id: str | int, attachment_id: str | int) -> str | None:
        """
        Return the SHA-256 of a stored attachment's bytes (streamed and discarded, with retries).

        Zoho keeps no checksum of attachments, so this downloads the file once, without writing
        it anywhere. It tells whether a file is already attached byte for byte.

        :param module: the module API name.
        :param record_id: the record id.
        :param attachment_id: the attachment id.
        :return: the hex digest, or ``None`` if the record has no such attachment.
        """
        module = normalize_module(module)
        record_id = validate_id(record_id)
        attachment_id = validate_id(attachment_id, argument="attachment_id")
        operation = f"check the bytes of attachment {attachment_id} of {module}/{record_id}"
        return self._retry(
            lambda: self._attachment_sha256(module, record_id, attachment_id, operation), operation=operation
        )

    def _attachment_sha256(
        self, module: str, record_id: str, attachment_id: str, operation: str
    ) -> str | None:
        """The SHA-256 of a stored attachment's bytes, streamed and discarded (``None`` if it is gone)."""
        digest = hashlib.sha256()
        with self._exchange(
            "GET", attachment_path(module, record_id, attachment_id), operation=operation, stream=True
        ) as response:
            if response.status_code == 204:
                return None
            if response.status_code != 200:
                _check(response, operation=operation)
                return None
            try:
                for chunk in response.iter_content(CHUNK_SIZE):
                    digest.update(chunk)
            except Exception as error:
                raise ZohoCRMTransferError(
                    f"the connection broke while checking attachment {attachment_id} "
                    f"({type(error).__name__})",
                    code="CONNECTION_LOST",
                    status_code=200,
                    operation=operation,
                ) from None
        return digest.hexdigest()

    def attach_link(
        self, module: str, record_id: str | int, url: str, *, title: str | None = None
    ) -> dict[str, Any]:
        """
        Attach a link (URL) to a record.

        :param module: the module API name.
        :param record_id: the record id.
        :param url: an ``http(s)`` URL of at most 3,000 characters.
        :param title: the link's title in Zoho (1 to 255 characters; default: Zoho uses the page's).
        :return: ``{"attachment_id", "file_name", "size", "module", "record_id", "link_url"}``.
        """
        module = normalize_module(module)
        record_id = validate_id(record_id)
        check_link(url, title)
        redact_url(url)  # registers a signed URL's query with the secrets masker
        params = {"attachmentUrl": url}
        if title:
            params["title"] = title.strip()
        operation = f"attach link to {module}/{record_id}"
        lost = False

        def attempt() -> dict[str, Any]:
            nonlocal lost
            details: Mapping[str, Any] | None = None
            if lost:
                # The last attempt's answer was lost: Zoho may have attached the link already (and
                # would refuse it a second time). Look before sending it again.
                details = self._find_link(module, record_id, url)
            if details is None:
                try:
                    with self._exchange(
                        "POST", attachments_path(module, record_id), operation=operation, params=params
                    ) as response:
                        payload = _check(response, operation=operation)
                except (ZohoCRMConnectionError, ZohoCRMServerError) as error:
                    # A reset or a 5xx after the request went out: Zoho may have stored the link.
                    # A host never reached received nothing.
                    lost = lost or not is_unreachable(error)
                    raise
                details = first_item(payload, operation=operation).get("details") or {}
            return {
                "attachment_id": str(details.get("id")),
                "file_name": title.strip() if title else url,
                "size": 0,
                "module": module,
                "record_id": record_id,
                "link_url": url,
            }

        # A link is unique per record in Zoho: a retried duplicate would be refused, never stored twice.
        return self._retry(attempt, operation=operation)

    def _find_link(self, module: str, record_id: str, url: str) -> Mapping[str, Any] | None:
        """The link attachment of ``url`` on the record, if there is one (``None`` if the check fails)."""
        try:
            records = self.list_attachments(module, record_id, fields=("$link_url", "File_Name"))
        except ZohoCRMError as error:
            self.log.warning("Could not check for the link before retrying (%s)", error.code)
            return None
        for record in records:
            if record.get("$link_url") == url:
                self.log.warning("The answer was lost but Zoho attached the link as %s", record.get("id"))
                return record
        return None

    # ------------------------------------------------------------------ deletes

    def delete_attachment(
        self, module: str, record_id: str | int, attachment_id: str | int
    ) -> dict[str, Any]:
        """
        Delete one attachment (Zoho moves it to the recycle bin).

        If the answer to the delete is lost and a retry finds the attachment gone, the record is
        listed to confirm it before "deleted" is reported.

        :return: ``{"attachment_id", "module", "record_id", "status": "deleted"}``.
        :raises ZohoCRMNotFoundError: if there is no such attachment.
        """
        module = normalize_module(module)
        record_id = validate_id(record_id)
        attachment_id = validate_id(attachment_id, argument="attachment_id")
        operation = f"delete attachment {attachment_id} of {module}/{record_id}"
        outcome = self._delete(attachment_path(module, record_id, attachment_id), operation=operation)
        if outcome.refused is not None:
            (result,) = self._confirm_deleted(module, record_id, [attachment_id], outcome.refused, operation)
            if result["status"] != "deleted":
                raise outcome.refused
        return {"attachment_id": attachment_id, "module": module, "record_id": record_id, "status": "deleted"}

    def delete_attachments(
        self, module: str, record_id: str | int, ids: Iterable[str | int] | str
    ) -> list[dict[str, Any]]:
        """
        Delete several attachments of a record, 100 per call.

        Per-id failures do not stop the others: each id gets a result with ``status`` ``"deleted"``,
        ``"error"`` (with Zoho's ``code`` and ``message``; ``INVALID_DATA`` for an id that is not
        there, e.g. already deleted) or ``"unknown"`` (an answer was lost and the check that would
        tell failed too).

        :return: one ``{"attachment_id", "module", "record_id", "status", ...}`` per id.
        """
        module = normalize_module(module)
        record_id = validate_id(record_id)
        wanted = validate_ids(ids, argument="attachment_ids")
        results: list[dict[str, Any]] = []
        for start in range(0, len(wanted), _BULK_DELETE_LIMIT):
            batch = wanted[start : start + _BULK_DELETE_LIMIT]
            operation = f"delete {len(batch)} attachment(s) of {module}/{record_id}"
            outcome = self._delete(
                attachments_path(module, record_id),
                operation=operation,
                params={"ids": ",".join(batch)},
                per_item=True,
            )
            if outcome.refused is not None:
                # The whole request was refused after an answer was lost: maybe the lost one did it.
                results.extend(self._confirm_deleted(module, record_id, batch, outcome.refused, operation))
                continue
            batch_results = _bulk_results(outcome.payload, batch, module, record_id)
            unsure = [
                r["attachment_id"]
                for r in batch_results
                if outcome.lost and r["status"] == "error" and r.get("code") == "INVALID_DATA"
            ]
            if unsure:
                # "Not there" on a retry may mean the attempt whose answer was lost deleted it, or
                # that it never was: only a listing of the record tells.
                first = next(r for r in batch_results if r["attachment_id"] == unsure[0])
                refused = ZohoCRMError(str(first.get("message")), code="INVALID_DATA", operation=operation)
                confirmed = {
                    r["attachment_id"]: r
                    for r in self._confirm_deleted(module, record_id, unsure, refused, operation)
                }
                batch_results = [confirmed.get(r["attachment_id"], r) for r in batch_results]
            results.extend(batch_results)
        return results

    def _delete(
        self,
        path: str,
        *,
        operation: str,
        params: Mapping[str, str] | None = None,
        per_item: bool = False,
    ) -> _DeleteOutcome:
        """
        One DELETE with retries.

        ``lost`` tells that an attempt's answer was lost (the connection broke, or a 5xx), so Zoho
        may have deleted already. An ``INVALID_DATA`` answer to a later attempt is then returned as
        ``refused`` rather than raised, for the caller to confirm by listing.
        """
        lost = False

        def attempt() -> Any:
            nonlocal lost
            try:
                with self._exchange("DELETE", path, operation=operation, params=params) as response:
                    return _check(response, operation=operation, per_item=per_item)
            except (ZohoCRMConnectionError, ZohoCRMServerError) as error:
                # A host never reached received nothing: only an answer lost after sending counts.
                lost = lost or not is_unreachable(error)
                raise

        try:
            return _DeleteOutcome(self._retry(attempt, operation=operation), lost)
        except ZohoCRMError as error:
            if lost and error.code == "INVALID_DATA":
                return _DeleteOutcome(None, lost, refused=error)
            raise

    def _confirm_deleted(
        self,
        module: str,
        record_id: str,
        ids: Sequence[str],
        refused: ZohoCRMError,
        operation: str,
    ) -> list[dict[str, Any]]:
        """
        After a lost answer, tell by listing the record which of ``ids`` are gone.

        Gone ids are ``"deleted"``; ids still listed keep Zoho's refusal; if the listing fails for
        another reason than a missing record, the outcome is ``"unknown"``.

        :raises ZohoCRMError: the listing's error when the record itself does not exist (a wrong
            record id is an error, never "deleted").
        """
        try:
            present = {
                str(r.get("id")) for r in self.iter_attachments(module, record_id, fields=("File_Name",))
            }
        except ZohoCRMError as error:
            if error.code == "INVALID_DATA" or isinstance(error, ZohoCRMNotFoundError):
                error.extend_message(f" (while confirming the delete of {len(ids)} attachment(s))")
                raise
            self.log.warning("%s: the answer was lost and the check failed too (%s)", operation, error.code)
            return [
                {
                    "attachment_id": ident,
                    "module": module,
                    "record_id": record_id,
                    "status": "unknown",
                    "code": error.code,
                    "message": "the answer to the delete was lost and listing the record to confirm it "
                    f"failed: {error.message}",
                }
                for ident in ids
            ]
        results = []
        for ident in ids:
            result: dict[str, Any] = {"attachment_id": ident, "module": module, "record_id": record_id}
            if ident in present:
                result.update(status="error", code=refused.code, message=refused.message)
            else:
                self.log.warning(
                    "%s: %s is gone (the attempt whose answer was lost deleted it)", operation, ident
                )
                result["status"] = "deleted"
            results.append(result)
        return results

    # ------------------------------------------------------------------ photos

    def download_photo(
        self,
        module: str,
        record_id: str | int,
        destination: Any,
        *,
        overwrite: bool = False,
        directory: bool | None = None,
        claims: NameClaims | None = None,
    ) -> dict[str, Any]:
        """
        Download a record's photo (streamed, verified, atomically renamed like attachments).

        :param module: the module API name.
        :param record_id: the record id.
        :param destination: a directory or file path, or an object-storage URL/``ObjectStoragePath``.
        :param overwrite: replace an existing different file of the same name.
        :param directory: ``True``: ``destination`` is a directory (created if missing); ``False``:
            the exact file to write; ``None`` (default): a directory if it exists as one or is a
            string ending with ``/``, else a file.
        :param claims: the names taken by the other downloads of one run (see
            :meth:`download_attachment`); the record id makes a clashing name unique.
        :return: ``{"file_name", "path", "size", "sha256", "content_type", "module", "record_id",
            "status"}``.
        :raises ZohoCRMNotFoundError: if the record has no photo.
        """
        module = normalize_module(module)
        record_id = validate_id(record_id)
        target = DownloadTarget(destination, overwrite=overwrite, directory=directory, claims=claims)

        def name_for(header_name: str | None, content_type: str) -> str:
            extension = mimetypes.guess_extension(content_type) or ".img"
            return choose_file_name(header_name, f"{module}-{record_id}-photo{extension}", record_id)

        return self._download(
            photo_path(module, record_id),
            target,
            operation=f"download the photo of {module}/{record_id}",
            module=module,
            record_id=record_id,
            tag=record_id,
            name_for=name_for,
            not_found="no photo",
        )

    def upload_photo(
        self, module: str, record_id: str | int, source: Any, *, file_name: str | None = None
    ) -> dict[str, Any]:
        """
        Set a record's photo (PNG, JPEG, GIF or BMP, at most 10 MB). Uploading again replaces it.

        :return: ``{"file_name", "size", "sha256", "module", "record_id"}``.
        """
        module = normalize_module(module)
        record_id = validate_id(record_id)
        upload = UploadSource(source, file_name=file_name)
        size = _known_size(upload)
        _check_size(size, MAX_PHOTO_SIZE, "a record photo", upload.file_name)
        kind = mimetypes.guess_type(upload.file_name)[0] or "application/octet-stream"
        operation = f"upload the photo of {module}/{record_id}"

        def attempt() -> dict[str, Any]:
            body = MultipartBody(
                field="file", file_name=upload.file_name, content_type=kind, opener=upload.open, size=size
            )
            with self._exchange(
                "POST",
                photo_path(module, record_id),
                operation=operation,
                body=body,
                headers={"Content-Type": body.content_type},
            ) as response:
                _check(response, operation=operation)
            return {
                "file_name": upload.file_name,
                "size": size,
                "sha256": body.sha256,
                "module": module,
                "record_id": record_id,
            }

        # Setting a photo is idempotent (it replaces the previous one), so retrying is safe.
        return self._retry(attempt, operation=operation)

    def delete_photo(self, module: str, record_id: str | int) -> dict[str, Any]:
        """Delete a record's photo. :return: ``{"module", "record_id", "status": "deleted"}``."""
        module = normalize_module(module)
        record_id = validate_id(record_id)
        self._call_json(
            "DELETE", photo_path(module, record_id), operation=f"delete the photo of {module}/{record_id}"
        )
        return {"module": module, "record_id": record_id, "status": "deleted"}

    # ------------------------------------------------------------------ misc

    def get_current_user(self) -> dict[str, Any]:
        """Return the Zoho user behind the refresh token (``GET /users?type=CurrentUser``)."""
        payload = self._call_json(
            "GET", "users", operation="get the current user", params={"type": "CurrentUser"}
        )
        users = payload.get("users") if isinstance(payload, Mapping) else None
        if isinstance(users, list) and users and isinstance(users[0], Mapping):
            return dict(users[0])
        return {}

    def test_connection(self) -> tuple[bool, str]:
        """
        Check the connection with a token and one cheap authenticated call, answering within ~10 s.

        The UI's Test button and ``airflow connections test`` wait for this, so it runs with its own
        short budget (:data:`TEST_CONNECTION_TIMEOUT` per request, at most one retry after a 1 s
        wait, no waiting out Zoho's token throttle) instead of the connection's timeout and retries:
        at worst two requests time out, about 2 x 4 s + 1 s.

        :return: ``(True, "...")`` with the user and org it reached, or ``(False, reason)`` with a
            hint; never a secret.
        """
        try:
            user = self._quick_probe().get_current_user()
        except ZohoCRMError as error:
            return False, str(error)
        except Exception as error:
            return False, f"{type(error).__name__}: connection test failed"
        who = user.get("email") or user.get("full_name") or user.get("id") or "the current user"
        return (
            True,
            f"Connected to Zoho CRM ({self.settings.data_center}, {self.settings.environment}) as {who}",
        )

    def _quick_probe(self) -> ZohoCRMHook:
        """A hook on the same connection with :meth:`test_connection`'s short timeout and retries."""
        from dataclasses import replace

        settings = self.settings
        probe = type(self)(
            self.zoho_conn_id,
            retry_base_delay=min(self._retry_base_delay, 1.0),
            retry_max_delay=1.0,
            token_throttle_timeout=0.0,
        )
        # The settings are this hook's (a connection tested from the UI form may exist nowhere
        # else), with the probe's bounds.
        probe.__dict__["settings"] = replace(
            settings,
            timeout=min(settings.timeout, TEST_CONNECTION_TIMEOUT),
            max_retries=min(settings.max_retries, 1),
        )
        probe._sleep = self._sleep
        return probe


# ---------------------------------------------------------------------- async hook


class ZohoCRMAsyncHook(_ZohoCRMHookBase):
    """
    The async twin of :class:`ZohoCRMHook` for triggers: real async I/O with ``httpx``.

    It shares the protocol (paths, errors, pagination, retry decisions) and the token cache with
    the sync hook; only listing and tokens are needed on the triggerer.

    Takes the same arguments as :class:`ZohoCRMHook`.
    """

    def __init__(self, zoho_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(zoho_conn_id, **kwargs)
        self._settings: ZohoCRMSettings | None = None
        self._client: httpx.AsyncClient | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._sleep: Callable[[float], Any] = asyncio.sleep

    async def get_settings(self) -> ZohoCRMSettings:
        """The checked settings of the connection, fetched without blocking the event loop."""
        if self._settings is None:
            conn = await self._aget_connection()
            try:
                from airflow.providers.common.compat.connection import get_async_extra_dejson

                extra = await get_async_extra_dejson(conn)
            except ImportError:  # pragma: no cover - older common-compat
                extra = conn.extra_dejson
            # from_connection, as the sync hook: it also reads zoho_crm://ID:SECRET@/ URIs.
            self._settings = self._apply_overrides(ZohoCRMSettings.from_connection(conn, extra=extra))
        return self._settings

    async def _aget_connection(self) -> Any:
        """
        The Airflow connection, looked up asynchronously, then synchronously if that found nothing.

        ``airflow dags test`` (``dag.test()``) runs a deferred task's trigger in its own process
        with in-process supervisor comms that have no ``asend``: the async lookup's Execution API
        backend then fails quietly, only the environment-variable and external backends are asked,
        and a connection stored in the metadata database (``airflow connections add``) "isn't
        defined". The sync lookup goes through the same comms' ``send``, which works there, so it
        is the fallback (in a worker thread, so the event loop is not blocked).
        """
        from airflow.providers.common.compat.connection import get_async_connection
        from airflow.sdk.exceptions import AirflowNotFoundException
        from asgiref.sync import sync_to_async

        try:
            return await get_async_connection(self.zoho_conn_id, hook=self)
        except AirflowNotFoundException:
            self.log.debug(
                "Connection %r not found asynchronously; looking it up synchronously", self.zoho_conn_id
            )
            return await sync_to_async(self.get_connection, thread_sensitive=False)(self.zoho_conn_id)

    async def _get_client(self) -> httpx.AsyncClient:
        if self._client is None:
            import httpx

            settings = await self.get_settings()
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(settings.timeout, connect=connect_timeout(settings.timeout)),
                limits=httpx.Limits(max_connections=max(10, settings.max_concurrency)),
                headers={"User-Agent": _user_agent()},
                follow_redirects=False,
                verify=_tls_context(),
            )
            self._semaphore = _shared_slots(settings)
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def get_access_token(self) -> str:
        """Return a valid access token (see :meth:`ZohoCRMHook.get_access_token`)."""
        return (await self._token()).value

    async def _token(self) -> AccessToken:
        from asgiref.sync import sync_to_async

        settings = await self.get_settings()
        cache = TokenCache(settings)
        token = self._access_token
        if token is None or not token.is_fresh():
            token = cache.peek()
            if token is None:
                async with _async_refresh_lock(cache.fingerprint):
                    token = self._own_fresh() or cache.peek()
                    if token is None:
                        token = await sync_to_async(cache.load, thread_sensitive=False)()
                    if token is None:
                        host_lock = cache.host_lock()
                        await sync_to_async(host_lock.acquire, thread_sensitive=False)()
                        try:
                            token = await sync_to_async(cache.load, thread_sensitive=False)()
                            if token is None:
                                token = await self._fetch_token(settings, cache=cache)
                        finally:
                            host_lock.release()
            self._access_token = token
        if self._needs_mask(token):
            await _amask(token.value)
        return token

    def _own_fresh(self) -> AccessToken | None:
        token = self._access_token
        return token if token is not None and token.is_fresh() else None

    async def _fetch_token(self, settings: ZohoCRMSettings, *, cache: TokenCache) -> AccessToken:
        """See :meth:`ZohoCRMHook._fetch_token`; the cache's I/O runs off the event loop."""
        from asgiref.sync import sync_to_async

        throttle = TokenThrottle(policy=self._policy(settings))
        while True:
            try:
                token = await self._retry(
                    lambda: self._request_token(settings), settings, operation="get an access token"
                )
            except ZohoCRMError as error:
                delay = throttle.delay_after(error)
                self.log.warning(_THROTTLE_WARNING, delay)
                await self._sleep(delay)
                shared = await sync_to_async(cache.load, thread_sensitive=False)()
                if shared is not None:
                    self.log.info(_SHARED_AFTER_THROTTLE)
                    return shared
            else:
                await sync_to_async(cache.store, thread_sensitive=False)(token)
                return token

    async def _request_token(self, settings: ZohoCRMSettings) -> AccessToken:
        import httpx

        client = await self._get_client()
        try:
            response = await client.post(settings.token_url, data=token_request_data(settings))
        except httpx.HTTPError as error:
            raise connection_error(
                "get an access token",
                error,
                timeout=settings.timeout,
                url=settings.token_url,
                data_center=settings.data_center,
            ) from None
        return parse_token_response(response.status_code, response.content, settings)

    async def _retry(self, func: Callable[[], Any], settings: ZohoCRMSettings, *, operation: str) -> Any:
        """See :meth:`ZohoCRMHook._retry`: the same budget, the same decisions, awaited."""
        import tenacity

        with self._policy(settings).operation() as budget:

            def on_retry(error: BaseException, delay: float) -> None:
                self.log.warning(
                    "%s: attempt %d failed (%s); retrying in %.1f s",
                    operation,
                    budget.retries,
                    _describe(error),
                    delay,
                )

            retrying = tenacity.AsyncRetrying(
                **budget.tenacity_arguments(sleep=self._sleep, on_retry=on_retry)
            )

            async def attempt() -> Any:
                # A coroutine function: AsyncRetrying calls plain callables (a lambda) without awaiting.
                return await func()

            try:
                return await retrying(attempt)
            except ZohoCRMError as error:
                budget.gave_up(error)
                raise

    async def _call_json(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        params: Mapping[str, str] | None = None,
        empty_ok: bool = False,
    ) -> Any:
        import httpx

        settings = await self.get_settings()
        client = await self._get_client()
        semaphore = self._semaphore
        assert semaphore is not None

        async def attempt() -> Any:
            async with semaphore:
                for auth_attempt in (1, 2):
                    token = await self._token()
                    url = settings.api_url(path, self._api_domain(settings))
                    try:
                        response = await client.request(
                            method,
                            url,
                            params=params,
                            headers={"Authorization": f"Zoho-oauthtoken {token.value}"},
                        )
                    except httpx.HTTPError as error:
                        raise connection_error(
                            operation,
                            error,
                            timeout=settings.timeout,
                            url=url,
                            data_center=settings.data_center,
                        ) from None
                    if (
                        response.status_code == 401
                        and auth_attempt == 1
                        and _body_is_invalid_token(response.content)
                    ):
                        self.log.info("Zoho rejected the access token; refreshing it once")
                        if self._access_token == token:
                            self._access_token = None
                        from asgiref.sync import sync_to_async

                        await sync_to_async(TokenCache(settings).discard, thread_sensitive=False)(token)
                        continue
                    return check_json_response(
                        response.status_code,
                        response.content,
                        operation=operation,
                        retry_after=response.headers.get("Retry-After"),
                        empty_ok=empty_ok,
                    )
            raise AssertionError("unreachable")  # pragma: no cover

        return await self._retry(attempt, settings, operation=operation)

    async def iter_attachments(
        self,
        module: str,
        record_id: str | int,
        *,
        fields: Iterable[str] | str | None = None,
        per_page: int = MAX_PER_PAGE,
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield every attachment record of a record (see :meth:`ZohoCRMHook.iter_attachments`)."""
        module = normalize_module(module)
        record_id = validate_id(record_id)
        params = {"fields": fields_param(fields)}
        operation = f"list attachments of {module}/{record_id}"
        pager = AttachmentPager(per_page=per_page, operation=operation)
        path = attachments_path(module, record_id)
        while not pager.done:
            payload = await self._call_json(
                "GET", path, operation=operation, params={**params, **pager.params()}, empty_ok=True
            )
            for record in pager.feed(payload):
                yield record

    async def list_attachments(
        self,
        module: str,
        record_id: str | int,
        *,
        fields: Iterable[str] | str | None = None,
        per_page: int = MAX_PER_PAGE,
    ) -> list[dict[str, Any]]:
        """Return every attachment record of a record."""
        return [
            record
            async for record in self.iter_attachments(module, record_id, fields=fields, per_page=per_page)
        ]


# ---------------------------------------------------------------------- helpers

# Per event loop (weakly: a closed loop takes its locks with it), then per credentials.
_ASYNC_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


_ASYNC_SLOTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]] = (
    weakref.WeakKeyDictionary()
)


def _shared_slots(settings: ZohoCRMSettings) -> asyncio.Semaphore:
    """
    The requests in flight allowed to every async hook of one event loop and credentials.

    Zoho caps concurrent calls per org: a triggerer running 1,000 triggers must not send 1,000 at
    once, so they share ``max_concurrency`` slots instead of having that many each.
    """
    slots = _ASYNC_SLOTS.setdefault(asyncio.get_running_loop(), {})
    return slots.setdefault(settings.credentials_fingerprint, asyncio.Semaphore(settings.max_concurrency))


def _async_refresh_lock(fingerprint: str) -> asyncio.Lock:
    """One refresh at a time per event loop and credentials: 1,000 triggers make one token call."""
    locks = _ASYNC_LOCKS.setdefault(asyncio.get_running_loop(), {})
    return locks.setdefault(fingerprint, asyncio.Lock())


@functools.lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    """
    One TLS context for every async hook of the process, built as httpx builds its default one.

    Building a context loads the CA bundle: about 0.8 MiB and 18 ms each, which 1,000 triggers in one
    triggerer would otherwise pay 1,000 times. ``SSL_CERT_FILE``/``SSL_CERT_DIR`` are read once.
    """
    import httpx

    return httpx.create_ssl_context()


async def _amask(value: str) -> None:
    import airflow.sdk.log as sdk_log

    amask = getattr(sdk_log, "amask_secret", None)
    if amask is not None:
        await amask(value)
    else:
        from asgiref.sync import sync_to_async

        await sync_to_async(sdk_log.mask_secret)(value)


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


def _is_invalid_token(response: requests.Response) -> bool:
    return _body_is_invalid_token(_read_capped(response))


def _body_is_invalid_token(body: bytes) -> bool:
    import json

    try:
        payload = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(payload, Mapping) and payload.get("code") in ("INVALID_TOKEN", "INVALID_OAUTHTOKEN")


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


def check_link(url: Any, title: Any = None) -> None:
    """Refuse a link attachment's URL or title before anything is sent."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url) if isinstance(url, str) else None
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 3000:
        raise ZohoCRMInvalidRequestError.for_argument(
            "link_url",
            redact_url(url) if isinstance(url, str) else url,
            "an http(s) URL of at most 3,000 characters",
        )
    if title is not None and (not isinstance(title, str) or not 1 <= len(title.strip()) <= 255):
        raise ZohoCRMInvalidRequestError.for_argument("title", title, "1 to 255 characters")


def _check_size(size: int, limit: int, what: str, name: str) -> None:
    if size > limit:
        raise ZohoCRMInvalidRequestError(
            f"{name!r} has {size} bytes; Zoho accepts at most {limit} bytes for {what}",
            code="FILE_SIZE_MORE_THAN_ALLOWED_SIZE",
            details={"argument": "source", "size": size, "limit": limit},
            hint="Split or compress the file, or store it elsewhere and attach a link; nothing was sent.",
        )


def _bulk_results(payload: Any, batch: Sequence[str], module: str, record_id: str) -> list[dict[str, Any]]:
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
        result: dict[str, Any] = {
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
