"""The async hook, :class:`ZohoCRMAsyncHook` (``httpx``), and what its instances share per event loop."""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, Unpack

from airflow_provider_zoho_attach.hooks._base import (
    CallOptions,
    IterOptions,
    JsonCall,
    ListOptions,
    T,
    _call_arguments,
    _checked_listing,
    _Listing,
    _user_agent,
    _ZohoCRMHookBase,
)
from airflow_provider_zoho_attach.utils.protocol import (
    AccessToken,
    check_json_response,
    connect_timeout,
    parse_token_response,
    refresh_and_resend,
)
from airflow_provider_zoho_attach.utils.settings import DEFAULT_CONN_ID, ZohoCRMSettings
from airflow_provider_zoho_attach.utils.tokens import TokenCache

if TYPE_CHECKING:
    import ssl

    import httpx

    from airflow_provider_zoho_attach.results import AttachmentRecord

__all__ = ["ZohoCRMAsyncHook"]


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
        token = cache.peek(self._access_token)
        if token is None:
            # One trigger at a time per event loop and credentials goes to the shared cache or Zoho;
            # the others then find its token in this process's memory (1,000 triggers, one call).
            async with _async_refresh_lock(cache.fingerprint):
                token = cache.peek(self._access_token)
                if token is None:
                    token = await sync_to_async(self._acquire_off_loop, thread_sensitive=False)(
                        cache, settings, asyncio.get_running_loop()
                    )
        self._access_token = token
        if self._needs_mask(token):
            await _amask(token.value)
        return token

    def _acquire_off_loop(
        self, cache: TokenCache, settings: ZohoCRMSettings, loop: asyncio.AbstractEventLoop
    ) -> AccessToken:
        """
        The token sequence of both hooks (:meth:`TokenCache.acquire`), run in a worker thread.

        Its locks and the shared cache's I/O block this thread, never the event loop; the token
        request and the waits run on the loop (``httpx``, ``_sleep``), the thread waiting for them.
        """

        def on_loop(make: Callable[[], Awaitable[T]]) -> T:
            return asyncio.run_coroutine_threadsafe(_awaited(make), loop).result()

        return self._acquire_token(
            cache,
            lambda: on_loop(lambda: self._new_token(settings)),
            sleep=lambda seconds: on_loop(lambda: self._sleep(seconds)),
            policy=self._policy(settings),
        )

    async def _new_token(self, settings: ZohoCRMSettings) -> AccessToken:
        """A new token from Zoho, with the operation's retries."""
        token: AccessToken = await self._retry(
            lambda: self._request_token(settings), settings, operation="get an access token"
        )
        return token

    async def _request_token(self, settings: ZohoCRMSettings) -> AccessToken:
        client = await self._get_client()
        with self._token_request(settings) as request:
            response = await client.post(**request)
        return parse_token_response(response.status_code, response.content, settings)

    def _transport_errors(self) -> tuple[type[BaseException], ...]:
        import httpx

        return (httpx.HTTPError,)

    async def _retry(self, func: Callable[[], Any], settings: ZohoCRMSettings, *, operation: str) -> Any:
        """See :meth:`ZohoCRMHook._retry`: the same budget, the same decisions, awaited."""
        import tenacity

        async def attempt() -> Any:
            # A coroutine function: AsyncRetrying calls plain callables (a lambda) without awaiting.
            return await func()

        with self._retrying(self._policy(settings), operation=operation) as arguments:
            return await tenacity.AsyncRetrying(**arguments)(attempt)

    async def _call_json(self, call: JsonCall) -> Any:
        """See :meth:`ZohoCRMHook._call_json`: one JSON call with retries, awaited."""
        settings = await self.get_settings()
        client = await self._get_client()
        semaphore = self._semaphore
        assert semaphore is not None

        async def attempt() -> Any:
            async with semaphore:
                response = await self._send_authorized(client, settings, call)
            return check_json_response(
                response.status_code,
                response.content,
                operation=call.operation,
                retry_after=response.headers.get("Retry-After"),
                empty_ok=call.empty_ok,
            )

        return await self._retry(attempt, settings, operation=call.operation)

    async def _send_authorized(
        self, client: httpx.AsyncClient, settings: ZohoCRMSettings, call: JsonCall
    ) -> httpx.Response:
        """Send one request with a valid token, and once more with a new one if Zoho rejects it."""
        from asgiref.sync import sync_to_async

        url = settings.api_url(call.path, self._api_domain(settings))
        for attempt in (1, 2):
            token = await self._token()
            self.credits.check(call.method, call.path, call.body)
            with self._network_errors(call.operation, url, settings):
                response = await client.request(
                    call.method,
                    url,
                    params=call.params,
                    content=call.body,
                    headers=self._authorization(token, call.headers),
                )
            self._count_credits(call.method, call.path, call.body, response.headers)
            if not refresh_and_resend(response.status_code, response.content, attempt=attempt):
                break
            await sync_to_async(self._forget_token, thread_sensitive=False)(token, TokenCache(settings))
        return response

    async def iter_attachments(
        self, module: str, record_id: str | int, **options: Unpack[IterOptions]
    ) -> AsyncIterator[AttachmentRecord]:
        """
        Yield every attachment record of a record: the async twin of :meth:`ZohoCRMHook.iter_attachments`.

        :param options: ``fields``, ``per_page`` and ``ids``, as for the sync hook.
        """
        listing = _checked_listing(module, record_id, options, caller="iter_attachments")
        async for record in self._records(listing):
            yield record

    async def list_attachments(
        self, module: str, record_id: str | int, **options: Unpack[ListOptions]
    ) -> list[AttachmentRecord]:
        """
        Return the attachment records of a record: the async twin of :meth:`ZohoCRMHook.list_attachments`.

        :param options: ``fields``, ``per_page``, ``ids`` and ``max_items``, as for the sync hook.
        """
        listing = _checked_listing(module, record_id, options, caller="list_attachments")
        return [record async for record in self._records(listing)]

    async def _records(self, listing: _Listing) -> AsyncIterator[AttachmentRecord]:
        """The records of a listing, page after page (fetched lazily)."""
        while not listing.done:
            for record in listing.feed(await self._call_json(listing.next_call())):
                yield record

    async def call(self, method: str, path: str, **options: Unpack[CallOptions]) -> Any:
        """
        Call any other Zoho CRM endpoint: the async twin of :meth:`ZohoCRMHook.call`, same arguments.

        :param options: ``params``, ``json``, ``data`` and ``headers``, as for :meth:`ZohoCRMHook.call`.
        """
        return await self._call_json(_call_arguments(method, path, **options))


# ---------------------------------------------------------------------- shared per event loop

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


async def _awaited(make: Callable[[], Awaitable[T]]) -> T:
    """Await what ``make`` returns: a coroutine for ``run_coroutine_threadsafe`` from any awaitable."""
    return await make()


async def _amask(value: str) -> None:
    import airflow.sdk.log as sdk_log

    amask = getattr(sdk_log, "amask_secret", None)
    if amask is not None:
        await amask(value)
    else:
        from asgiref.sync import sync_to_async

        await sync_to_async(sdk_log.mask_secret)(value)
