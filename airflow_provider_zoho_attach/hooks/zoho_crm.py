"""Hooks for Zoho CRM: :class:`ZohoCRMHook` (sync, requests) and :class:`ZohoCRMAsyncHook` (httpx).

Both take everything that is not I/O from :mod:`airflow_provider_zoho_attach.utils.protocol`
(OAuth, paths, error mapping, pagination, retry decisions) and share access tokens through
:mod:`airflow_provider_zoho_attach.utils.tokens`.
"""

from __future__ import annotations

import mimetypes
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_zoho_attach.exceptions import (
    ZohoCRMConnectionError,
    ZohoCRMError,
    ZohoCRMInvalidRequestError,  # noqa: F401 - importable from here as before
    ZohoCRMNotFoundError,  # noqa: F401 - importable from here as before
    ZohoCRMServerError,
)

# Importable from here as before the hook was split (patch a name where it is looked up: in its module).
from airflow_provider_zoho_attach.hooks._base import (
    _BULK_DELETE_LIMIT,
    MAX_ATTACHMENT_SIZE,
    MAX_PHOTO_SIZE,
    TEST_CONNECTION_TIMEOUT,  # noqa: F401
    IterOptions,
    JsonCall,
    ListOptions,
    _bulk_results,
    _call_arguments,
    _check,
    _check_size,
    _checked_listing,
    _known_size,
    _may_have_stored,  # noqa: F401
    _user_agent,
)
from airflow_provider_zoho_attach.hooks._deletes import _DeleteCore
from airflow_provider_zoho_attach.hooks._field_files import _FieldFilesCore
from airflow_provider_zoho_attach.hooks._records import _RecordsCore
from airflow_provider_zoho_attach.hooks.zoho_crm_async import (
    ZohoCRMAsyncHook,
    _amask,  # noqa: F401
    _async_refresh_lock,  # noqa: F401
    _shared_slots,  # noqa: F401
    _tls_context,  # noqa: F401
)
from airflow_provider_zoho_attach.results import (
    AttachmentRecord,
    DeleteResult,
    DownloadResult,
    PhotoDeleteResult,
    PhotoDownloadResult,
    PhotoUploadResult,
    UploadResult,
)
from airflow_provider_zoho_attach.utils.connection_form import legacy_field_behaviour, wtforms_widgets
from airflow_provider_zoho_attach.utils.lineage import report_transfer
from airflow_provider_zoho_attach.utils.outcomes import ATTACHMENT_NOT_THERE, is_not_there
from airflow_provider_zoho_attach.utils.protocol import (
    MAX_PER_PAGE,
    AttachmentPager,  # noqa: F401 - importable from here as before
    RetryPolicy,
    attachment_path,
    attachments_path,
    fields_param,  # noqa: F401 - importable from here as before
    first_item,
    is_unreachable,
    photo_path,
)
from airflow_provider_zoho_attach.utils.settings import DEFAULT_CONN_ID, ZohoCRMSettings
from airflow_provider_zoho_attach.utils.tokens import TokenCache
from airflow_provider_zoho_attach.utils.transfer import (
    DownloadTarget,
    MultipartBody,
    NameClaims,
    UploadSource,
    choose_file_name,
)
from airflow_provider_zoho_attach.utils.validation import (
    check_link,
    normalize_module,
    redact_url,
    validate_id,
    validate_ids,
)

if TYPE_CHECKING:
    import requests

__all__ = ["ZohoCRMAsyncHook", "ZohoCRMHook"]


class ZohoCRMHook(_FieldFilesCore, _DeleteCore, _RecordsCore):
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

    # ------------------------------------------------------------------ listing

    def iter_attachments(
        self,
        module: str,
        record_id: str | int,
        *,
        fields: Iterable[str] | str | None = None,
        per_page: int = MAX_PER_PAGE,
        ids: Iterable[str] | str | None = None,
    ) -> Iterator[AttachmentRecord]:
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
        options: IterOptions = {"fields": fields, "per_page": per_page, "ids": ids}
        yield from self._records(_checked_listing(module, record_id, options, caller="iter_attachments"))

    def list_attachments(
        self,
        module: str,
        record_id: str | int,
        *,
        fields: Iterable[str] | str | None = None,
        per_page: int = MAX_PER_PAGE,
        max_items: int | None = None,
        ids: Iterable[str] | str | None = None,
    ) -> list[AttachmentRecord]:
        """
        Return the attachment records of a record (all pages, or the first ``max_items``).

        Takes the arguments of :meth:`iter_attachments`, plus:

        :param max_items: stop after this many records (fewer pages are fetched).
        """
        options: ListOptions = {"fields": fields, "per_page": per_page, "ids": ids, "max_items": max_items}
        return list(self._records(_checked_listing(module, record_id, options, caller="list_attachments")))

    def get_attachment(self, module: str, record_id: str | int, attachment_id: str | int) -> AttachmentRecord:
        """
        Return one attachment's record (one list call filtered by id).

        :raises ZohoCRMNotFoundError: if the record has no such attachment.
        """
        attachment_id = validate_id(attachment_id, argument="attachment_id")
        return self._get_attachment(normalize_module(module), validate_id(record_id), attachment_id)

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
    ) -> DownloadResult:
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
        done: DownloadResult = {"attachment_id": attachment_id, **result}
        report_transfer(self, done)
        return done

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
    ) -> UploadResult:
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
        result = self._upload(
            module, record_id, upload, size=size, kind=kind, known_ids=known_ids, on_progress=on_progress
        )
        report_transfer(self, result, source=source)
        return result

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

    def attach_link(
        self, module: str, record_id: str | int, url: str, *, title: str | None = None
    ) -> UploadResult:
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

        def attempt() -> UploadResult:
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
        result = self._retry(attempt, operation=operation)
        report_transfer(self, result)
        return result

    # ------------------------------------------------------------------ deletes

    def delete_attachment(self, module: str, record_id: str | int, attachment_id: str | int) -> DeleteResult:
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
    ) -> list[DeleteResult]:
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
        results: list[DeleteResult] = []
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
            unsure = [r["attachment_id"] for r in batch_results if outcome.lost and is_not_there(r)]
            if unsure:
                # "Not there" on a retry may mean the attempt whose answer was lost deleted it, or
                # that it never was: only a listing of the record tells.
                first = next(r for r in batch_results if r["attachment_id"] == unsure[0])
                refused = ZohoCRMError(
                    str(first.get("message")), code=ATTACHMENT_NOT_THERE, operation=operation
                )
                confirmed = {
                    r["attachment_id"]: r
                    for r in self._confirm_deleted(module, record_id, unsure, refused, operation)
                }
                batch_results = [confirmed.get(r["attachment_id"], r) for r in batch_results]
            results.extend(batch_results)
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
    ) -> PhotoDownloadResult:
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

        result = self._download(
            photo_path(module, record_id),
            target,
            operation=f"download the photo of {module}/{record_id}",
            module=module,
            record_id=record_id,
            tag=record_id,
            name_for=name_for,
            not_found="no photo",
        )
        report_transfer(self, result, kind="photo")
        return result

    def upload_photo(
        self, module: str, record_id: str | int, source: Any, *, file_name: str | None = None
    ) -> PhotoUploadResult:
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

        def attempt() -> PhotoUploadResult:
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
        result = self._retry(attempt, operation=operation)
        report_transfer(self, result, source=source, kind="photo")
        return result

    def delete_photo(self, module: str, record_id: str | int) -> PhotoDeleteResult:
        """Delete a record's photo. :return: ``{"module", "record_id", "status": "deleted"}``."""
        module = normalize_module(module)
        record_id = validate_id(record_id)
        self._call_json(
            JsonCall("DELETE", photo_path(module, record_id), f"delete the photo of {module}/{record_id}")
        )
        return {"module": module, "record_id": record_id, "status": "deleted"}

    # ------------------------------------------------------------------ misc

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """
        Call any other Zoho CRM endpoint with the hook's auth, token sharing, retries and concurrency.

        The escape hatch for what the hook has no method for (notes, related lists, records...):
        errors are the same :class:`~airflow_provider_zoho_attach.exceptions.ZohoCRMError` as for
        every other call, and network errors, 5xx and 429 are retried. A request whose answer was
        lost is sent again, so make a non-idempotent call safe to repeat, or pass ``max_retries=0``
        to the hook.

        :param method: ``GET``, ``POST``, ``PUT``, ``PATCH`` or ``DELETE``.
        :param path: the endpoint relative to ``/crm/<version>/``, such as ``users`` or
            ``Deals/123/Notes``: no scheme, host, leading ``/``, query, ``.`` or ``..`` segment (the
            host is always the connection's API domain).
        :param params: the query parameters.
        :param json: a body sent as JSON (``Content-Type: application/json``).
        :param data: a body sent as is (``str`` or ``bytes``) or, for a mapping, form-encoded; not with
            ``json``.
        :param headers: extra request headers (not ``Authorization``: the hook sends its token).
        :return: Zoho's decoded JSON answer, or ``None`` for ``204 No Content``.
        :raises ZohoCRMInvalidRequestError: for a bad argument, before anything is sent.
        :raises ZohoCRMError: Zoho's error, mapped as for every other call (after the retries).
        """
        return self._call_json(
            _call_arguments(method, path, params=params, json=json, data=data, headers=headers)
        )

    def get_current_user(self) -> dict[str, Any]:
        """Return the Zoho user behind the refresh token (``GET /users?type=CurrentUser``)."""
        payload = self._call_json(
            JsonCall("GET", "users", "get the current user", params={"type": "CurrentUser"})
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
