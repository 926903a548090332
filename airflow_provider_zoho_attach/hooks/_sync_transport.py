"""The sync hook's transport: tokens, one request with a valid token, the retry driver, the listing."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, Self

from airflow_provider_zoho_attach.exceptions import ZohoCRMNotFoundError
from airflow_provider_zoho_attach.hooks._base import (
    TEST_CONNECTION_TIMEOUT,
    JsonCall,
    T,
    _check,
    _Listing,
    _listing,
    _read_capped,
    _ZohoCRMHookBase,
)
from airflow_provider_zoho_attach.utils.protocol import (
    AccessToken,
    connect_timeout,
    parse_token_response,
    refresh_and_resend,
)

if TYPE_CHECKING:
    import threading

    import requests

    from airflow_provider_zoho_attach.results import AttachmentRecord
    from airflow_provider_zoho_attach.utils.protocol import RetryPolicy
    from airflow_provider_zoho_attach.utils.settings import ZohoCRMSettings
    from airflow_provider_zoho_attach.utils.tokens import TokenCache


class _SyncTransport(_ZohoCRMHookBase):
    """
    Tokens, requests and retries of :class:`~airflow_provider_zoho_attach.hooks.zoho_crm.ZohoCRMHook`.

    The hook defines what is declared below (its set-up); the cores of uploads, downloads and
    deletes build on this class and list attachments with its listing core (:meth:`_records`).
    """

    if TYPE_CHECKING:

        @property
        def settings(self) -> ZohoCRMSettings: ...
        @property
        def retry_policy(self) -> RetryPolicy: ...
        @property
        def token_cache(self) -> TokenCache: ...
        @property
        def _slots(self) -> threading.BoundedSemaphore: ...
        @property
        def session(self) -> requests.Session: ...

    def _token(self) -> AccessToken:
        token = self._acquire_token(
            self.token_cache, self._new_token, sleep=self._sleep, policy=self.retry_policy
        )
        self._access_token = token
        if self._needs_mask(token):
            from airflow.sdk.log import mask_secret

            mask_secret(token.value)
        return token

    def _new_token(self) -> AccessToken:
        """A new token from Zoho, with the operation's retries."""
        return self._retry(self._request_token, operation="get an access token")

    def _request_token(self) -> AccessToken:
        settings = self.settings
        with self._token_request(settings) as request:
            response = self.session.post(
                **request,
                timeout=(connect_timeout(settings.timeout), settings.timeout),
                allow_redirects=False,
            )
        with contextlib.closing(response):
            return parse_token_response(response.status_code, response.content, settings)

    def _transport_errors(self) -> tuple[type[BaseException], ...]:
        import requests

        return (requests.RequestException,)

    def _retry(self, func: Callable[[], T], *, operation: str) -> T:
        """Call ``func`` until it succeeds, the failure is not retryable, or the retries run out."""
        import tenacity

        with self._retrying(self.retry_policy, operation=operation) as arguments:
            return tenacity.Retrying(**arguments)(func)

    @contextlib.contextmanager
    def _exchange(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
    ) -> Iterator[requests.Response]:
        """
        Send one request (no retries) with a valid token and yield the response.

        A concurrency slot is held until the caller leaves the block, so a streamed body counts as
        in flight while it is read. A 401 ``INVALID_TOKEN`` refreshes the token and resends once.
        """
        with self._slots:
            for attempt in (1, 2):
                token = self._token()
                response = self._send(
                    method,
                    path,
                    token,
                    operation=operation,
                    params=params,
                    body=body,
                    headers=headers,
                    stream=stream,
                )
                if not refresh_and_resend(
                    response.status_code, partial(_read_capped, response), attempt=attempt
                ):
                    break
                response.close()
                self._forget_token(token, self.token_cache)
                # A MultipartBody re-opens its source when iterated again, so resending is safe.
            with contextlib.closing(response):
                yield response

    def _send(
        self,
        method: str,
        path: str,
        token: AccessToken,
        *,
        operation: str,
        params: Mapping[str, Any] | None,
        body: Any,
        headers: Mapping[str, str] | None,
        stream: bool,
    ) -> requests.Response:
        """Send one request with ``token``, as it is: no retries, no refresh."""
        self.credits.check(method, path, body)
        settings = self.settings
        url = settings.api_url(path, self._api_domain(settings))
        started = time.monotonic()
        with self._network_errors(operation, url, settings):
            response = self.session.request(
                method,
                url,
                params=params,
                data=body,
                headers=self._authorization(token, headers),
                timeout=(connect_timeout(settings.timeout), settings.timeout),
                stream=stream,
                allow_redirects=False,
            )
        self._count_credits(method, path, body, response.headers)
        self.log.debug(
            "%s /crm/%s/%s -> HTTP %d in %.3f s",
            method,
            settings.api_version,
            path,
            response.status_code,
            time.monotonic() - started,
        )
        return response

    def _call_json(self, call: JsonCall) -> Any:
        """One JSON call with retries: the decoded body (``None`` for 204 when ``empty_ok``)."""

        def attempt() -> Any:
            with self._exchange(
                call.method,
                call.path,
                operation=call.operation,
                params=call.params,
                body=call.body,
                headers=call.headers,
            ) as response:
                return _check(response, operation=call.operation, empty_ok=call.empty_ok)

        return self._retry(attempt, operation=call.operation)

    def _records(self, listing: _Listing) -> Iterator[AttachmentRecord]:
        """The records of a listing, page after page (fetched lazily)."""
        while not listing.done:
            yield from listing.feed(self._call_json(listing.next_call()))

    def _get_attachment(self, module: str, record_id: str, attachment_id: str) -> AttachmentRecord:
        """One attachment's record, by one listing filtered on its id (see ``get_attachment``)."""
        found = list(self._records(_listing(module, record_id, ids=[attachment_id])))
        for record in found:
            if str(record.get("id")) == attachment_id:
                return record
        raise ZohoCRMNotFoundError(
            f"{module}/{record_id} has no attachment {attachment_id}",
            code="NOT_FOUND",
            status_code=204,
            operation=f"get attachment {attachment_id}",
        )

    def _quick_probe(self) -> Self:
        """A hook on the same connection with ``test_connection``'s short timeout and retries."""
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
