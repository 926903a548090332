"""The emulator's HTTP side: a threading HTTP/1.1 server and the handler that speaks Zoho's protocol.

Bodies stream both ways: uploads go from the socket to files block by block
(:mod:`._emulator_io`), downloads go from files to the socket with ``sendfile``. Faults act either
instead of the normal answer (``status``, ``reset`` ...) or on the way the normal answer is sent
(``truncated``, ``slow_body`` ...).
"""

from __future__ import annotations

import email.utils
import io
import logging
import socket
import struct
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from airflow_provider_zoho_attach.testing._emulator_attachments import list_attachments, upload_attachment
from airflow_provider_zoho_attach.testing._emulator_coql import coql_answer
from airflow_provider_zoho_attach.testing._emulator_credits import call_type, credit_cost
from airflow_provider_zoho_attach.testing._emulator_engine import EmulatorEngine
from airflow_provider_zoho_attach.testing._emulator_files import FileStore
from airflow_provider_zoho_attach.testing._emulator_http import (
    ADMIN_PREFIX,
    FIELD_LIMIT,
    FORM_LIMIT,
    HTML_502,
    STATUS_CODES,
    Response,
    api_error,
    base_url,
    error_response,
    json_response,
    too_many,
)
from airflow_provider_zoho_attach.testing._emulator_io import (
    BodyReader,
    ClientDisconnected,
    DiscardSink,
    MalformedBody,
    MemorySink,
    PartInfo,
    Sink,
    TooLarge,
    parse_header_value,
    parse_multipart,
)
from airflow_provider_zoho_attach.testing._emulator_listener import StoppableHTTPServer
from airflow_provider_zoho_attach.testing._emulator_model import (
    EmulatorConfig,
    Fault,
    RequestRecord,
    format_time,
    redact,
)
from airflow_provider_zoho_attach.testing._emulator_record_api import ApiCall, serve
from airflow_provider_zoho_attach.testing._emulator_records import (
    bulk_delete,
    deleted,
    download_attachment,
    org_payload,
    serve_photo,
    users_payload,
)
from airflow_provider_zoho_attach.testing._emulator_routes import (
    FILES_ROUTES,
    OPERATIONS,
    Route,
    match_route,
    module_allowed,
    require,
    scope_mismatch,
)
from airflow_provider_zoho_attach.testing._emulator_search import search_answer
from airflow_provider_zoho_attach.testing._emulator_store import (
    THROTTLE_BODY,
    AccessToken,
    ApiError,
    Record,
    Store,
)

__all__ = ["AdminHandler", "EmulatorHTTPServer"]

#: Serves the admin API: ``(method, path, query, body) -> response``.
AdminHandler = Callable[[str, str, dict[str, str], BodyReader], Response]

log = logging.getLogger(__name__)

_COSTED_BODY_LIMIT = 16 * 1024 * 1024
_NOT_FOUND = "Please check if the URL trying to access is a correct one"


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


@dataclass
class _Exchange:
    method: str
    path: str
    query: dict[str, str]
    started: float
    status: int = 0
    bytes_out: int = 0
    fault: str | None = None
    code: str | None = None
    form: dict[str, str] = field(default_factory=dict)
    access: AccessToken | None = None
    credits_left: int | None = None
    logged: bool = False
    answered: bool = False


class EmulatorHTTPServer(StoppableHTTPServer):
    """
    A threading HTTP server that serves one emulator's state and can cut all its connections on stop.

    :param address: ``(host, port)``.
    :param engine: the emulator's faults, admission, credits and request log.
    :param store: the emulator's data.
    :param files: the emulator's ZFS and record field files.
    :param admin: serves the admin API (``/__emulator__/...``).
    """

    def __init__(
        self,
        address: tuple[str, int],
        *,
        engine: EmulatorEngine,
        store: Store,
        files: FileStore,
        admin: AdminHandler,
    ) -> None:
        self.engine = engine
        self.store = store
        self.files = files
        self.admin = admin
        self._host = address[0]
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` with the host as given and the port bound."""
        return base_url(self._host, self.server_address[1])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ZGS"
    sys_version = ""
    rbufsize = 256 * 1024
    disable_nagle_algorithm = True
    server: EmulatorHTTPServer

    _body: BodyReader
    _expect_continue: bool
    _continue_sent: bool

    # ------------------------------------------------------------------ plumbing

    def setup(self) -> None:
        super().setup()
        # Idle kept-alive connections must not hold a thread forever.
        self.connection.settimeout(self.config.idle_timeout)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("emulator: " + format, *args)

    def handle_expect_100(self) -> bool:
        # ``100 Continue`` is sent only when the body is really wanted (see _send_continue), so
        # that an early error answer spares the client sending a body nobody reads.
        self._expect_continue = True
        return True

    def _send_continue(self) -> None:
        if self._expect_continue and not self._continue_sent:
            self._continue_sent = True
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    @property
    def engine(self) -> EmulatorEngine:
        return self.server.engine

    @property
    def config(self) -> EmulatorConfig:
        return self.server.engine.config

    @property
    def store(self) -> Store:
        return self.server.store

    # ------------------------------------------------------------------ request life cycle

    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        path = split.path or "/"
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        self._expect_continue = getattr(self, "_expect_continue", False)
        self._continue_sent = False
        admin = path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")
        exchange = _Exchange(
            method=self.command, path=path, query=query, started=self.engine.clock.now(), logged=admin
        )
        try:
            try:
                self._body = self._make_body_reader()
            except ValueError:
                self._body = BodyReader(self.rfile, length=0, chunked=False)
                self._send(
                    exchange, json_response(400, {"error": "bad request framing"}, zoho=False, close=True)
                )
                return
            if admin:
                self._send(exchange, self.server.admin(self.command, path, query, self._body))
                return
            self._serve(exchange)
        except (ClientDisconnected, ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception:
            # A bug in the emulator: answer like Zoho's own 500 rather than dropping the connection.
            log.exception("emulator failed on %s %s", exchange.method, exchange.path)
            if not exchange.answered:
                with suppress(Exception):
                    self._send(
                        exchange,
                        json_response(
                            500,
                            {
                                "code": "INTERNAL_ERROR",
                                "details": {},
                                "message": "Internal Server Error",
                                "status": "error",
                            },
                            close=True,
                        ),
                    )
            self.close_connection = True
        finally:
            self._commit(exchange)
            self._expect_continue = False

    def _commit(self, exchange: _Exchange) -> None:
        """
        Put the request in the log, once.

        Called just before the answer goes out, so that a client that has seen an answer (or a
        reset) always finds its request in the log.
        """
        if exchange.logged:
            return
        exchange.logged = True
        self.engine.record_request(
            RequestRecord(
                method=exchange.method,
                path=exchange.path,
                query=redact(exchange.query),
                status=exchange.status,
                started=exchange.started,
                finished=self.engine.clock.now(),
                bytes_in=self._body.bytes_read if hasattr(self, "_body") else 0,
                bytes_out=exchange.bytes_out,
                fault=exchange.fault,
                code=exchange.code,
                form=redact(exchange.form),
            )
        )

    def _make_body_reader(self) -> BodyReader:
        encoding = (self.headers.get("Transfer-Encoding") or "").lower()
        chunked = "chunked" in encoding
        raw_length = self.headers.get("Content-Length")
        length: int | None = None
        if not chunked and raw_length is not None:
            length = int(raw_length)
            if length < 0:
                raise ValueError("negative Content-Length")
        return BodyReader(self.rfile, length=length, chunked=chunked, before_first_read=self._send_continue)

    def _serve(self, exchange: _Exchange) -> None:
        engine = self.engine
        fault = engine.take_fault(exchange.method, exchange.path)
        mode: Fault | None = None
        if fault is not None:
            exchange.fault = fault.kind
            if fault.delay and fault.kind != "slow_body":
                time.sleep(fault.delay)
            if fault.kind == "reset":
                self._settle_body()
                exchange.answered = True
                self._commit(exchange)
                self._reset()
                return
            replacement = self._fault_response(fault)
            if replacement is not None:
                self._send(exchange, replacement)
                return
            mode = fault

        try:
            if exchange.path.startswith("/crm/"):
                if not engine.enter_api():
                    self._send(
                        exchange,
                        too_many(
                            "You have exceeded the number of concurrent API calls allowed. Try again later."
                        ),
                    )
                    return
                try:
                    latency = self.config.latency
                    if latency > 0:
                        time.sleep(latency)
                    engine.hold()
                    self._send(exchange, self._api(exchange), mode)
                finally:
                    engine.leave_api()
            elif exchange.path in ("/oauth/v2/token", "/oauth/v2/token/revoke"):
                self._send(exchange, self._oauth(exchange), mode)
            else:
                self._send(
                    exchange,
                    error_response(api_error(404, "INVALID_URL_PATTERN", _NOT_FOUND)),
                    mode,
                )
        except MalformedBody as exc:
            self._send(
                exchange,
                json_response(
                    400,
                    {
                        "code": "INVALID_DATA",
                        "details": {},
                        "message": f"malformed request body: {exc}",
                        "status": "error",
                    },
                    close=True,
                ),
            )

    def _fault_response(self, fault: Fault) -> Response | None:
        kind = fault.kind
        if kind == "status":
            status = fault.status or 500
            if status in (204, 304):
                return Response(status=status)
            code, message = STATUS_CODES.get(
                status, (_phrase(status).upper().replace(" ", "_") or "ERROR", "error")
            )
            return json_response(status, {"code": code, "details": {}, "message": message, "status": "error"})
        if kind == "429":
            return too_many("Too many requests. Please try again after some time.")
        if kind == "html_error":
            return Response(
                status=502, headers=[("Content-Type", "text/html")], body=HTML_502, code="HTML_502"
            )
        if kind == "invalid_token":
            return error_response(api_error(401, "INVALID_TOKEN", "invalid oauth token"))
        if kind == "empty_204":
            return Response(status=204)
        if kind == "token_throttle":
            return json_response(200, dict(THROTTLE_BODY), zoho=False, code="Access Denied")
        return None

    # ------------------------------------------------------------------ sending

    def _settle_body(self) -> bool:
        """
        Make sure no unread request body is left before answering.

        :return: ``True`` when the connection can be kept (body read or drained).
        """
        body = self._body
        if body.exhausted:
            return True
        if self._expect_continue and not body.started:
            # The client is waiting for 100 Continue and will not send the body: never drain.
            self.close_connection = True
            return False
        remaining = body.length - body.bytes_read if body.length is not None else None
        limit = self.config.drain_limit
        if (remaining is None or remaining <= limit) and body.drain(limit):
            return True
        self.close_connection = True
        return False

    def _head(self, exchange: _Exchange, response: Response) -> bytes:
        phrase = _phrase(response.status)
        lines = [
            f"HTTP/1.1 {response.status} {phrase}",
            "Server: ZGS",
            "Date: " + email.utils.formatdate(usegmt=True),
        ]
        lines.extend(f"{name}: {value}" for name, value in response.headers)
        if exchange.access is not None and exchange.path.startswith("/crm/"):
            config = self.config
            if config.send_access_token_reset_header:
                lines.append("X-ACCESSTOKEN-RESET: " + format_time(exchange.access.expires, config.tz()))
            limit, left = config.daily_credits, exchange.credits_left
            if (
                config.send_credits_header
                and limit is not None
                and left is not None
                and (limit - left >= config.credits_header_threshold * limit)
            ):
                lines.append(f"X-API-CREDITS-REMAINING: {exchange.credits_left}")
        if response.status not in (204, 304) and not 100 <= response.status < 200:
            lines.append(f"Content-Length: {response.length}")
        if response.close or self.close_connection:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _write(self, data: bytes | memoryview) -> None:
        self.connection.sendall(data)

    def _write_body(self, response: Response, start: int, end: int) -> None:
        if end <= start:
            return
        if response.file is not None:
            # Zero-copy from the page cache to the socket.
            self.connection.sendfile(response.file, start, end - start)
        else:
            self.connection.sendall(memoryview(response.body)[start:end])

    def _send(self, exchange: _Exchange, response: Response, mode: Fault | None = None) -> None:
        try:
            keep = self._settle_body()
            if response.close or not keep:
                response.close = True
                self.close_connection = True
            exchange.code = response.code
            exchange.answered = True
            kind = mode.kind if mode is not None else None
            if kind == "commit_then_reset":
                self._commit(exchange)
                self._reset()
                return
            head = self._head(exchange, response)
            exchange.status = response.status
            length = 0 if self.command == "HEAD" or response.status in (204, 304) else response.length
            if kind in ("reset_mid_body", "truncated", "slow_body"):
                part = length // 2
                exchange.bytes_out = length if kind == "slow_body" else part
                self._commit(exchange)
                self._write(head)
                self._write_body(response, 0, part)
                if kind == "reset_mid_body":
                    self._reset()
                    return
                if kind == "truncated":
                    self.close_connection = True
                    with suppress(OSError):
                        self.connection.shutdown(socket.SHUT_WR)
                    return
                self.engine.stall(mode.delay if mode is not None and mode.delay is not None else 1.0)
                self._write_body(response, part, length)
                return
            exchange.bytes_out = length
            self._commit(exchange)
            if response.file is None and length:
                self._write(head + response.body)
            else:
                self._write(head)
                self._write_body(response, 0, length)
        finally:
            if response.file is not None:
                response.file.close()

    def _reset(self) -> None:
        """Abort the connection with a TCP RST (SO_LINGER 0), before or in the middle of an answer."""
        self.close_connection = True
        with suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # The socket only really closes (and resets) once the buffered reader lets go of it.
        with suppress(Exception):
            self.rfile.close()
        with suppress(OSError):
            self.connection.close()

    # ------------------------------------------------------------------ accounts server

    def _read_form(self, exchange: _Exchange) -> dict[str, str]:
        content_type, params = parse_header_value(self.headers.get("Content-Type") or "")
        form: dict[str, str] = {}
        if content_type == "application/x-www-form-urlencoded":
            raw = self._body.read_all(FORM_LIMIT)
            form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        elif content_type == "multipart/form-data":
            sinks: dict[str, MemorySink] = {}

            def open_sink(info: PartInfo) -> Sink:
                if info.name is None:
                    return DiscardSink()
                sink = MemorySink(limit=FIELD_LIMIT)
                sinks[info.name] = sink
                return sink

            parse_multipart(self._body, params.get("boundary", ""), open_sink)
            form = {name: sink.text() for name, sink in sinks.items()}
        exchange.form = form
        return form

    def _oauth(self, exchange: _Exchange) -> Response:
        if exchange.method != "POST":
            return json_response(
                400, {"error": "invalid_request_method"}, zoho=False, code="invalid_request_method"
            )
        try:
            params = dict(exchange.query)
            params.update(self._read_form(exchange))
        except TooLarge:
            return json_response(400, {"error": "invalid_request"}, zoho=False, code="invalid_request")
        if exchange.path == "/oauth/v2/token/revoke":
            if self.store.revoke_refresh_token(params.get("token", "")):
                return json_response(200, {"status": "success"}, zoho=False)
            return json_response(
                200, {"status": "failure", "error": "invalid_token"}, zoho=False, code="invalid_token"
            )
        body = self.store.issue_access_token(params, self.server.url)
        return json_response(200, body, zoho=False, code=body.get("error"))

    # ------------------------------------------------------------------ CRM API

    def _api(self, exchange: _Exchange) -> Response:
        route = match_route(exchange.path)
        if route is None:
            return error_response(api_error(404, "INVALID_URL_PATTERN", _NOT_FOUND))
        if exchange.method not in route.allowed:
            return error_response(
                api_error(400, "INVALID_REQUEST_METHOD", "The http request method type is not a valid one")
            )
        config = self.config
        header = self.headers.get("Authorization")
        if header is None:
            code = config.missing_token_code
            message = "Authentication failed" if code == "AUTHENTICATION_FAILURE" else "invalid oauth token"
            return error_response(api_error(401, code, message))
        prefix = "Zoho-oauthtoken "
        access = self.store.authenticate(header[len(prefix) :].strip()) if header.startswith(prefix) else None
        if access is None:
            return error_response(api_error(401, "INVALID_TOKEN", "invalid oauth token"))
        exchange.access = access
        kind = call_type(exchange.method, route)
        try:
            body = self._costed_body(kind)
        except TooLarge:
            return error_response(
                api_error(400, "INVALID_DATA", "invalid data", {"limit": _COSTED_BODY_LIMIT})
            )
        allowed, left = self.engine.consume_credit(credit_cost(kind, body, config), kind)
        exchange.credits_left = left
        if not allowed:
            return too_many("You have exceeded the API credits allowed for the day. Try again later.")
        scopes = access.refresh.scope_set
        try:
            if route.kind == "users":
                require(scopes, ("zohocrm.users.read", "zohocrm.users.all"), config)
                return json_response(200, users_payload())
            if route.kind == "org":
                org_scopes = ("org.read", "org.all", "settings.read", "settings.all")
                require(scopes, tuple(f"zohocrm.{scope}" for scope in org_scopes), config)
                return json_response(200, org_payload())
            if route.kind == "coql":
                return coql_answer(self.store, scopes, body or b"")
            if route.kind == "search":
                return search_answer(self.store, scopes, route.segments[0], exchange.query)
            if route.kind in FILES_ROUTES:
                content_type = self.headers.get("Content-Type") or ""
                return serve(
                    ApiCall(
                        exchange.method,
                        route,
                        exchange.query,
                        self._body,
                        content_type,
                        scopes,
                        self.store,
                        self.server.files,
                        self.headers.get("If-Modified-Since"),
                    )
                )
            return self._record_api(exchange, route, access)
        except ApiError as error:
            return error_response(error)

    def _costed_body(self, kind: str) -> bytes | None:
        """The body of a call that costs by it (COQL's LIMIT, how many records an update has)."""
        if kind not in ("coql", "update_records"):
            return None
        body = self._body.read_all(_COSTED_BODY_LIMIT)
        self._body = BodyReader(io.BytesIO(body), length=len(body), chunked=False)
        return body

    def _record_api(self, exchange: _Exchange, route: Route, access: AccessToken) -> Response:
        store = self.store
        config = self.config
        module = store.resolve_module(route.segments[0])
        if module is None:
            raise api_error(
                400, "INVALID_MODULE", "the module name given seems to be invalid", {"resource_path_index": 0}
            )
        if route.kind == "photo" and not store.supports_photo(module):
            raise api_error(
                400, "INVALID_MODULE", "The given module is not supported in API", {"resource_path_index": 0}
            )

        operations = OPERATIONS[exchange.method]
        scopes = access.refresh.scope_set
        module_ok = module_allowed(store, scopes, module, exchange.method)
        attachments_ok = route.kind == "photo" or (
            any(f"zohocrm.modules.attachments.{op}" in scopes for op in operations)
            or (config.modules_all_covers_attachments and "zohocrm.modules.all" in scopes)
        )
        if not (module_ok and attachments_ok):
            raise scope_mismatch(config)

        record_id = route.segments[1]
        record = store.get_record(module, record_id) if record_id.isdigit() else None
        if record is None:
            raise api_error(
                400, "INVALID_DATA", "the related id given seems to be invalid", {"resource_path_index": 1}
            )

        if route.kind == "photo":
            return serve_photo(
                store,
                config,
                exchange.method,
                record,
                body=self._body,
                content_type_header=self.headers.get("Content-Type") or "",
            )
        if route.kind == "attachment":
            attachment_id = route.segments[3]
            if not attachment_id.isdigit():
                raise api_error(
                    400, "INVALID_DATA", "the id given seems to be invalid", {"resource_path_index": 3}
                )
            if exchange.method == "GET":
                return download_attachment(store, config, record, attachment_id)
            if not store.delete_attachment(record, attachment_id):
                raise api_error(400, "INVALID_DATA", "record not deleted", {"resource_path_index": 3})
            return json_response(200, {"data": [deleted(attachment_id)]})
        if exchange.method == "GET":
            return list_attachments(store, exchange.query, record)
        if exchange.method == "POST":
            return self._upload(exchange, record)
        return bulk_delete(store, config, exchange.query, record)

    # ------------------------------------------------------------------ attachments

    def _upload(self, exchange: _Exchange, record: Record) -> Response:
        def remember(form: dict[str, str]) -> None:
            exchange.form = form

        return upload_attachment(
            self.store,
            record,
            body=self._body,
            content_type_header=self.headers.get("Content-Type") or "",
            query=exchange.query,
            remember_form=remember,
        )
