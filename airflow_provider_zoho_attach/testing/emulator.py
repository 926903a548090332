"""
An offline Zoho CRM: a real HTTP server on 127.0.0.1 that serves both the OAuth token endpoint and
the attachment, photo, user, Files (ZFS), field metadata and record endpoints of the CRM API, with
Zoho's shapes, limits and failures.

Usage in a test::

    with ZohoCRMEmulator() as zoho:
        record_id = zoho.add_record("Deals")
        zoho.add_attachment("Deals", record_id, "a.pdf", b"%PDF-1.4 ...")
        os.environ.update(zoho.airflow_env())
        ...  # run the hook or a DAG against zoho.url

From a shell (serves until Ctrl-C)::

    python -m airflow_provider_zoho_attach.testing.emulator --port 8765 --seed demo --print-env

Behaviour switches (including every point Zoho's documentation leaves open) are the fields of
:class:`EmulatorConfig`. A running emulator can also be driven over HTTP through the admin API
under ``/__emulator__/`` (its endpoints are listed in ``testing/_emulator_admin.py``). The admin
API has no authentication and its ``credentials`` endpoint returns the OAuth client secret and
refresh token: this is a local test server that binds loopback addresses only.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import os
import shutil
import sys
import tempfile
import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlencode

from airflow_provider_zoho_attach.testing import _emulator_cli
from airflow_provider_zoho_attach.testing._emulator_admin import AdminAPI
from airflow_provider_zoho_attach.testing._emulator_cli import (  # noqa: F401 - CLI_OAUTH_CACHE stays importable here
    CLI_OAUTH_CACHE,
    cli_connection_env,
)
from airflow_provider_zoho_attach.testing._emulator_credits import CreditCount
from airflow_provider_zoho_attach.testing._emulator_engine import EmulatorEngine
from airflow_provider_zoho_attach.testing._emulator_files import FileStore
from airflow_provider_zoho_attach.testing._emulator_files_facade import EmulatorFiles, store_content
from airflow_provider_zoho_attach.testing._emulator_get_records import add_record_rows
from airflow_provider_zoho_attach.testing._emulator_http import base_url, guess_content_type
from airflow_provider_zoho_attach.testing._emulator_model import (
    ALL_SCOPES,
    FAULT_KINDS,
    STANDARD_MODULES,
    Clock,
    EmulatorConfig,
    Fault,
    RequestRecord,
    parse_time,
)
from airflow_provider_zoho_attach.testing._emulator_seed import apply_seed
from airflow_provider_zoho_attach.testing._emulator_server import EmulatorHTTPServer
from airflow_provider_zoho_attach.testing._emulator_store import Record, Store

__all__ = [
    "ALL_SCOPES",
    "FAULT_KINDS",
    "STANDARD_MODULES",
    "Clock",
    "EmulatorConfig",
    "EmulatorFiles",
    "Fault",
    "RequestRecord",
    "ZohoCRMEmulator",
    "cli_connection_env",
    "main",
]


class ZohoCRMEmulator:
    """
    A Zoho CRM (accounts server + CRM API) on a loopback port, for tests, demos and benchmarks.

    Thread-safe; a context manager (``start()`` on enter, ``stop()`` on exit). Stored file
    contents live in a private temporary directory that ``stop()`` removes.

    :param host: a loopback address to bind.
    :param port: the port; 0 picks a free one.
    :param seed: ``None`` (empty) or the name of a data set (``"demo"``).
    :param config: behaviour switches (mutable at runtime through :attr:`config`).
    :param clock: the clock (a fresh :class:`Clock` by default).
    :param storage_dir: where the private temporary directory for contents is made (the system's
        temporary directory by default; ``/dev/shm`` keeps a disk out of throughput benchmarks).
    :raises ValueError: an unknown seed or a non-loopback host.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: str | None = None,
        config: EmulatorConfig | None = None,
        clock: Clock | None = None,
        storage_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if not _is_loopback(host):
            raise ValueError(f"the emulator only binds loopback addresses, not {host!r}")
        if not 0 <= port <= 65535:
            raise ValueError(f"port {port} is out of range 0..65535")
        self.host = host
        self.port = port
        self.clock = clock or Clock()
        self._config = config or EmulatorConfig()
        self._dir = tempfile.mkdtemp(
            prefix="zoho-crm-emulator-", dir=os.fspath(storage_dir) if storage_dir is not None else None
        )
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._dir, True)
        self._store = Store(self._config, self.clock, self._dir)
        self._files = FileStore(self._store)
        #: Files in ZFS and in records' file and image fields (:class:`EmulatorFiles`).
        self.files = EmulatorFiles(self._store, self._files)
        self._engine = EmulatorEngine(self._config, self.clock)
        self._admin = AdminAPI(self, self._store)
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False
        self.client_id, self.client_secret = self._store.add_client()
        self.refresh_token = self._store.create_refresh_token(self.client_id, ALL_SCOPES)
        self.seed = seed
        #: The records a seed created: ``[{"module", "record_id", "name", "attachments", "field_files"}]``.
        self.seed_records: list[dict[str, Any]] = apply_seed(self, seed) if seed is not None else []

    # ------------------------------------------------------------------ life cycle

    def start(self) -> ZohoCRMEmulator:
        """
        Bind the port and serve in a background thread.

        :raises OSError: the port cannot be bound (for example, it is in use).
        :raises RuntimeError: the emulator was stopped (it cannot be restarted).
        """
        if self._stopped:
            raise RuntimeError("a stopped emulator cannot be started again; create a new one")
        if self._server is not None:
            return self
        server = EmulatorHTTPServer(
            (self.host, self.port),
            engine=self._engine,
            store=self._store,
            files=self._files,
            admin=self._admin,
        )
        self._server = server
        self.port = server.server_address[1]
        # Its stop() wakes the loop at once: the poll interval costs nothing on the way out.
        self._thread = threading.Thread(target=server.serve_forever, name="zoho-crm-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, cut open connections and delete stored contents. Safe to call twice."""
        self._stopped = True
        self._engine.resume()
        self._engine.release_stalls()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._cleanup()

    def __enter__(self) -> ZohoCRMEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._server is not None

    @property
    def url(self) -> str:
        """``http://HOST:PORT``: both the accounts server and the API domain."""
        if self._server is None:
            raise RuntimeError("the emulator is not running: call start() or use it as a context manager")
        return base_url(self.host, self.port)

    @property
    def accounts_url(self) -> str:
        """The accounts (OAuth) server: the same as :attr:`url`."""
        return self.url

    @property
    def api_domain(self) -> str:
        """The API domain: the same as :attr:`url`."""
        return self.url

    @property
    def config(self) -> EmulatorConfig:
        """The live configuration (change fields at any time)."""
        return self._config

    @config.setter
    def config(self, value: EmulatorConfig) -> None:
        self._config = value
        self._store.config = value
        self._engine.config = value

    @property
    def blob_dir(self) -> str:
        """The temporary directory holding stored file contents."""
        return self._dir

    # ------------------------------------------------------------------ connection helpers

    def _extra(self, extra: dict[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {
            "refresh_token": self.refresh_token,
            "accounts_url": self.url,
            "api_domain": self.url,
            "oauth_cache": "memory",
        }
        # token_cache is the first name of oauth_cache; an override under either name wins.
        if "token_cache" in extra:
            extra = {**extra}
            extra.setdefault("oauth_cache", extra.pop("token_cache"))
        for key, value in extra.items():
            if value is None:
                values.pop(key, None)
            else:
                values[key] = value
        return values

    def connection_uri(self, **extra: Any) -> str:
        """
        The Airflow connection URI (``zoho-crm://CLIENT_ID:SECRET@/?refresh_token=...``).

        Airflow's URI parser reads a connection type with an underscore from a scheme spelled with a
        hyphen (URI schemes cannot contain ``_``), so this is the spelling ``airflow connections add
        --conn-uri`` understands.

        :param extra: extras to add or override (``None`` removes one), e.g. ``oauth_cache="none"``.
        """
        query = urlencode({k: str(v) for k, v in self._extra(extra).items()}, quote_via=quote, safe="")
        return f"zoho-crm://{quote(self.client_id, safe='')}:{quote(self.client_secret, safe='')}@/?{query}"

    def connection_dict(self, **extra: Any) -> dict[str, Any]:
        """
        The Airflow connection as a dict (the JSON form of an ``AIRFLOW_CONN_...`` variable).

        :param extra: extras to add or override (``None`` removes one).
        """
        return {
            "conn_type": "zoho_crm",
            "login": self.client_id,
            "password": self.client_secret,
            "extra": self._extra(extra),
        }

    def airflow_env(self, conn_id: str = "zoho_crm_default", **extra: Any) -> dict[str, str]:
        """
        The environment variable that defines the connection: ``{"AIRFLOW_CONN_<ID>": "<json>"}``.

        :param conn_id: the connection id.
        :param extra: extras to add or override (``None`` removes one).
        """
        return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(self.connection_dict(**extra))}

    # ------------------------------------------------------------------ data

    def add_record(self, module: str, record_id: str | None = None, *, name: str | None = None) -> str:
        """
        Create a record (a module that is not a standard one becomes a custom module).

        :param module: the module API name.
        :param record_id: the id (digits); a new 19-digit id by default.
        :param name: the record's name (shown in ``Parent_Id``).
        :return: the record id.
        """
        return self._store.add_record(module, record_id, name).id

    def add_records(self, module: str, rows: Iterable[Mapping[str, Any]]) -> list[str]:
        """
        Create records with fields, quickly (thousands at once), for Get Records, COQL and search.

        :param module: the module API name.
        :param rows: one mapping of field values per record (``{"Stage": "Won", "Amount": 10}``); an
            ``id`` sets the record id, ``Created_Time`` and ``Modified_Time`` (``datetime``, ISO
            string or epoch seconds) its times, an ``Owner`` (``{"id", "name", "email"}``) its owner.
        :return: the record ids, in order.
        """
        return add_record_rows(self._store, module, rows)

    def _record(self, module: str, record_id: str) -> Record:
        return self._store.add_record(module, str(record_id))

    def add_attachment(
        self,
        module: str,
        record_id: str,
        file_name: str,
        content: bytes | str | os.PathLike[str],
        *,
        created_time: datetime | str | float | None = None,
        content_type: str | None = None,
    ) -> str:
        """
        Attach a file to a record (created if missing).

        :param module: the module API name.
        :param record_id: the record id.
        :param file_name: ``File_Name``.
        :param content: bytes, text (stored as UTF-8) or the path of a file to copy.
        :param created_time: ``Created_Time`` (a ``datetime``, naive = UTC; an ISO string; epoch
            seconds); now by default.
        :param content_type: the type served on download; guessed from the name by default.
        :return: the new attachment id.
        """
        record = self._record(module, record_id)
        path, size, _ = store_content(self._store, content)
        attachment = self._store.add_attachment(
            record,
            file_name=file_name,
            size=size,
            content_type=content_type or guess_content_type(file_name),
            created=parse_time(created_time, self.clock.now()),
            path=path,
        )
        return attachment.id

    def add_link_attachment(
        self,
        module: str,
        record_id: str,
        url: str,
        *,
        title: str | None = None,
        created_time: datetime | str | float | None = None,
    ) -> str:
        """
        Attach a link (``$type`` ``Link URL``) to a record (created if missing).

        :raises ValueError: the URL is already attached to the record.
        :return: the new attachment id.
        """
        record = self._record(module, record_id)
        with self._store.lock:
            if self._store.has_link(record, url):
                raise ValueError(f"{url!r} is already attached to {module}/{record_id}")
            attachment = self._store.add_attachment(
                record,
                file_name=title or url,
                size=0,
                content_type="text/uri-list",
                created=parse_time(created_time, self.clock.now()),
                link_url=url,
            )
        return attachment.id

    def add_attachments_bulk(
        self,
        module: str,
        record_id: str,
        count: int,
        *,
        size: int = 64,
        name_pattern: str = "file-{i}.txt",
        created_time: datetime | str | float | None = None,
    ) -> list[str]:
        """
        Attach ``count`` small files at once (kept in memory; fast for thousands).

        File ``i`` (from 0) is named ``name_pattern.format(i=i)``, holds ``size`` deterministic bytes
        and was created ``count - 1 - i`` seconds before ``created_time`` (default now), so the
        last one is the newest.

        :return: the ids, in the order of ``i``.
        """
        if count < 0 or size < 0:
            raise ValueError("count and size must not be negative")
        record = self._record(module, record_id)
        newest = float(int(parse_time(created_time, self.clock.now())))

        def content(i: int, name: str) -> bytes:
            line = f"{name} #{i}\n".encode()
            return (line * (size // len(line) + 1))[:size]

        items = []
        for i in range(count):
            name = name_pattern.format(i=i)
            items.append((name, content(i, name), newest - (count - 1 - i)))
        return self._store.add_many(record, items, guess_content_type(name_pattern.format(i=0)))

    def attachments(self, module: str, record_id: str) -> list[dict[str, Any]]:
        """All attachments of a record as Zoho returns them with every field, newest first."""
        record = self._store.get_record(module, str(record_id))
        if record is None:
            return []
        return [copy.deepcopy(a.full) for a in self._store.listing(record)]

    def attachment_content(self, attachment_id: str) -> bytes:
        """
        The stored bytes of a file attachment.

        :raises KeyError: no such attachment.
        :raises ValueError: it is a link.
        """
        with self._store.lock:
            attachment = self._store.attachments[str(attachment_id)]
        return attachment.content()

    def attachment_content_type(self, attachment_id: str) -> str:
        """The type a download of this attachment is served with."""
        with self._store.lock:
            return self._store.attachments[str(attachment_id)].content_type

    @property
    def deleted_attachments(self) -> list[dict[str, Any]]:
        """What clients (or tests) deleted: ``[{"id", "module", "record_id", "file_name", "type", ...}]``."""
        with self._store.lock:
            return [dict(item) for item in self._store.deleted]

    def records(self) -> list[dict[str, Any]]:
        """Every record: ``[{"module", "record_id", "name", "attachments", "photo"}]``."""
        with self._store.lock:
            return [
                {
                    "module": r.module,
                    "record_id": r.id,
                    "name": r.name,
                    "attachments": len(r.keys),
                    "photo": r.photo is not None,
                }
                for r in self._store.records.values()
            ]

    def set_photo(self, module: str, record_id: str, content: bytes, content_type: str = "image/png") -> None:
        """Set a record's photo (the record is created if missing)."""
        self._store.set_photo(self._record(module, record_id), bytes(content), content_type)

    def photo(self, module: str, record_id: str) -> bytes | None:
        """A record's photo, or ``None``."""
        record = self._store.get_record(module, str(record_id))
        if record is None or record.photo is None:
            return None
        return record.photo.data

    # ------------------------------------------------------------------ OAuth

    def add_client(self) -> tuple[str, str]:
        """Register another OAuth client; return ``(client_id, client_secret)``."""
        return self._store.add_client()

    def create_refresh_token(
        self, scopes: Iterable[str] = ALL_SCOPES, *, client_id: str | None = None
    ) -> str:
        """
        A new refresh token with the given scopes (for the default client unless ``client_id``).

        :raises KeyError: an unknown client id.
        """
        return self._store.create_refresh_token(client_id or self.client_id, scopes)

    def issue_access_token(self, refresh_token: str | None = None) -> str:
        """
        An access token, issued as the token endpoint would (limits apply) but without HTTP.

        Not counted in :attr:`token_calls`.

        :param refresh_token: the refresh token (the default one by default).
        :raises RuntimeError: the token endpoint would have refused (the OAuth error is in the message).
        """
        refresh = refresh_token or self.refresh_token
        with self._store.lock:
            client_id = (
                self._store.refresh_tokens[refresh].client_id if refresh in self._store.refresh_tokens else ""
            )
            secret = self._store.clients.get(client_id, "")
        answer = self._store.issue_access_token(
            {
                "grant_type": "refresh_token",
                "client_id": client_id,
                "client_secret": secret,
                "refresh_token": refresh,
            },
            self.url if self.running else "",
        )
        if "access_token" not in answer:
            raise RuntimeError(f"the token endpoint would refuse: {answer.get('error')}")
        return str(answer["access_token"])

    def revoke_refresh_token(self, token: str) -> None:
        """Revoke a refresh token and the access tokens it made."""
        self._store.revoke_refresh_token(token)

    def revoke_access_tokens(self) -> None:
        """Revoke every access token issued so far (API calls with them get ``INVALID_TOKEN``)."""
        self._store.revoke_access_tokens()

    def expire_access_tokens(self) -> None:
        """Make every access token issued so far expire now."""
        self._store.expire_access_tokens()

    @property
    def token_calls(self) -> int:
        """``POST /oauth/v2/token`` requests served since the last :meth:`reset_log`."""
        return self._engine.token_calls

    # ------------------------------------------------------------------ request log

    @property
    def requests(self) -> list[RequestRecord]:
        """The requests served (oldest first, admin calls excluded)."""
        return self._engine.requests

    def count(
        self, method: str | None = None, path_contains: str | None = None, status: int | None = None
    ) -> int:
        """
        How many logged requests match.

        :param method: the HTTP method.
        :param path_contains: a substring of the path.
        :param status: the status sent (0 = reset before any answer).
        """
        method = method.upper() if method else None
        return sum(
            1
            for r in self.requests
            if (method is None or r.method == method)
            and (path_contains is None or path_contains in r.path)
            and (status is None or r.status == status)
        )

    def api_calls(self) -> int:
        """CRM API requests (``/crm/...``) served since the last :meth:`reset_log`."""
        return self._engine.api_calls

    def reset_log(self) -> None:
        """Forget the logged requests and zero the counters (credits already used stay used)."""
        self._engine.reset_log()

    # ------------------------------------------------------------------ faults and limits

    def inject_fault(
        self,
        kind: str,
        *,
        count: int = 1,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        delay: float | None = None,
    ) -> None:
        """
        Make the next ``count`` matching requests fail in a given way.

        Kinds: ``status`` (answer ``status`` with a Zoho-shaped JSON error), ``429``, ``reset`` (TCP
        RST before any answer), ``reset_mid_body``, ``truncated`` (full ``Content-Length``, half the
        body, then FIN), ``slow_body`` (half the body, a ``delay`` stall, the rest), ``html_error``
        (a 502 proxy page), ``invalid_token``, ``empty_204``, ``token_throttle`` (the token
        endpoint's HTTP 200 "Access Denied"), ``commit_then_reset`` (do the work, e.g. store an
        upload, then reset instead of answering).

        :param kind: one of :data:`FAULT_KINDS`.
        :param count: how many requests it applies to.
        :param method: only this HTTP method.
        :param path: a regular expression searched in the path. Without it a fault applies to CRM
            API calls (``/crm/...``) only, and ``token_throttle`` to the token endpoint only.
        :param status: the status of a ``status`` fault.
        :param delay: the stall of ``slow_body``; for other kinds, a wait before answering.
        :raises ValueError: an unknown kind or a bad argument.
        """
        self._engine.add_fault(
            Fault(kind=kind, count=count, method=method, path=path, status=status, delay=delay)
        )

    def clear_faults(self) -> None:
        """Drop every pending fault."""
        self._engine.clear_faults()

    @property
    def faults(self) -> list[dict[str, Any]]:
        """The pending faults."""
        return self._engine.faults

    def release_stalls(self) -> None:
        """
        End the stall of every ``slow_body`` answer in progress: the rest of each body goes out now.

        With a long ``delay``, this keeps a download mid-body for exactly as long as a test needs.
        """
        self._engine.release_stalls()

    def pause(self) -> None:
        """
        Hold every API call, once it has its concurrency slot, until :meth:`resume`.

        With :meth:`wait_in_flight`, this sets up "N calls at once" deterministically.
        """
        self._engine.pause()

    def resume(self) -> None:
        """Let held API calls go on."""
        self._engine.resume()

    def wait_in_flight(self, count: int, timeout: float = 10.0) -> bool:
        """
        Wait until ``count`` API calls are in flight at once (to set up concurrency tests without sleeping).

        :return: ``False`` on timeout.
        """
        return self._engine.wait_in_flight(count, timeout)

    @property
    def in_flight(self) -> int:
        """API calls being served right now."""
        return self._engine.in_flight

    @property
    def peak_in_flight(self) -> int:
        """The most API calls served at once since the last :meth:`reset_log`."""
        return self._engine.peak_in_flight

    @property
    def credits_used(self) -> CreditCount:
        """Credits used in the last 24 hours: a number, also callable (``credits_used()``)."""
        return CreditCount(self._engine.credits_used)

    def credits_by_type(self) -> dict[str, int]:
        """Credits used since the start, by call type (``get_records``, ``coql``, ``search``...)."""
        return self._engine.credits_by_type()

    def stats(self) -> dict[str, Any]:
        """Counters: token and API calls, logged requests, calls in flight (now and peak), credits."""
        engine = self._engine
        limit = self._config.daily_credits
        used = engine.credits_used
        return {
            "token_calls": engine.token_calls,
            "api_calls": engine.api_calls,
            "requests": engine.logged,
            "in_flight": engine.in_flight,
            "peak_in_flight": engine.peak_in_flight,
            "credits_used": used,
            "credits_remaining": None if limit is None else max(0, limit - used),
            "credits_by_type": engine.credits_by_type(),
            "attachments": len(self._store.attachments),
            "records": len(self._store.records),
            "pending_faults": engine.pending_faults,
            "clock_offset": self.clock.offset,
        }


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: Sequence[str] | None = None) -> int:
    """
    Command-line entry point.

    Prints one line with the URL (then one line per seeded record, and the connection variable
    with ``--print-env``), serves until SIGINT or SIGTERM and returns 0. Bad input prints one line
    on stderr and returns 2.
    """
    return _emulator_cli.main(argv, ZohoCRMEmulator)


if __name__ == "__main__":
    sys.exit(main())
