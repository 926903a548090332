"""The emulator's listening socket: a threading HTTP server that stops at once and cuts its connections."""

from __future__ import annotations

import logging
import selectors
import socket
import threading
from contextlib import suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["StoppableHTTPServer"]

log = logging.getLogger(__name__)


class StoppableHTTPServer(ThreadingHTTPServer):
    """
    A threading HTTP server whose :meth:`shutdown` returns at once and that can cut its connections.

    :param address: ``(host, port)``.
    :param handler: the request handler class.
    """

    daemon_threads = True
    allow_reuse_address = True
    # Bursts of concurrent clients must not overflow the accept backlog (SYN retries cost 1 s).
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        # shutdown() wakes the serving loop through this pair at once, instead of the loop noticing
        # at its next poll: tests start and stop an emulator each, hundreds of times.
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._stop_requested = False
        self._stopped_serving = threading.Event()
        super().__init__(address, handler)

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Serve until :meth:`shutdown`, which wakes this loop at once rather than at its next poll."""
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self, selectors.EVENT_READ)
                selector.register(self._wake_reader, selectors.EVENT_READ)
                while not self._stop_requested:
                    for key, _ in selector.select(poll_interval):
                        if key.fileobj is self and not self._stop_requested:
                            self._handle_request_noblock()  # type: ignore[attr-defined]  # socketserver's own step
                    self.service_actions()
        finally:
            self._stopped_serving.set()

    def shutdown(self) -> None:
        """
        Stop :meth:`serve_forever` and wait until it has returned.

        Like ``socketserver``'s, it must be called from another thread, once ``serve_forever`` runs
        there (or is about to: the wait covers a thread that has not reached it yet).
        """
        self._stop_requested = True
        with suppress(OSError):
            self._wake_writer.send(b"\0")
        self._stopped_serving.wait()

    def server_close(self) -> None:
        super().server_close()
        self._wake_reader.close()
        self._wake_writer.close()

    def track(self, connection: socket.socket, active: bool) -> None:
        """Remember (or forget) an open connection."""
        with self._connections_lock:
            if active:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        """Shut every open connection down, waking the threads blocked on them."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log instead of printing a traceback to stderr."""
        log.debug("emulator connection error from %s", client_address, exc_info=True)
