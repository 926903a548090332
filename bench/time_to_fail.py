"""
Wall-clock time to fail against hosts that cannot answer, per fault class (issue 13.1).

Three faults, each on the accounts and API host of a throwaway connection:

* ``closed``: a port of 127.0.0.1 nothing listens on (connection refused);
* ``blackhole``: a local listener that accepts connections and never answers (a read timeout);
* ``dns``: a name under ``.invalid``, which never resolves (RFC 6761).

For each, the time until ``ZohoCRMHook.list_attachments()`` and ``ZohoCRMHook.test_connection()``
give up, with the number of HTTP requests sent and of warning lines logged. Backoff waits are real
here (this measures what a user waits for); the tests count attempts through the injectable sleep
instead.

Run from a checkout (``PYTHONPATH=. python -m bench.time_to_fail``); ``--timeout`` sets the
connection's ``timeout`` extra (the black hole costs one timeout per attempt), ``--faults`` picks
the faults, ``--json`` prints the raw figures.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import logging
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

CONN_ID = "zoho_crm_time_to_fail"
FAULTS = ("closed", "blackhole", "dns")


@contextlib.contextmanager
def closed_port() -> Iterator[str]:
    """A URL whose port refuses connections: bound once to get a free port, then closed."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def black_hole() -> Iterator[str]:
    """A URL whose listener accepts every connection and never sends a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except (TimeoutError, OSError):
                continue
            held.append(conn)  # kept open, never answered

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(1)
        for conn in held:
            conn.close()
        server.close()


@contextlib.contextmanager
def dns_failure() -> Iterator[str]:
    """A URL whose host name cannot resolve."""
    yield "http://zoho-attach-time-to-fail.invalid"


def _connection(url: str, timeout: float | None) -> str:
    extra: dict[str, Any] = {
        "refresh_token": "1000.bench-refresh-token",
        "accounts_url": url,
        "api_domain": url,
        "oauth_cache": "memory",
    }
    if timeout is not None:
        extra["timeout"] = timeout
    return json.dumps(
        {"conn_type": "zoho_crm", "login": "bench-client", "password": "bench-secret", "extra": extra}
    )


class _CountingLog:
    """The hook's logger, counting the warnings (retries) it is asked to write."""

    def __init__(self, log: Any, warnings: list[str]) -> None:
        self._log = log
        self._warnings = warnings

    def warning(self, message: str, *args: Any, **kwargs: Any) -> None:
        self._warnings.append(message % args if args else message)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._log, name)


def measure(fault: str, action: str, *, timeout: float | None) -> dict[str, Any]:
    """Time one action against one fault: seconds, requests sent, warnings logged, the final message."""
    import requests

    from airflow_provider_zoho_attach.hooks.zoho_crm import ZohoCRMHook
    from airflow_provider_zoho_attach.utils import tokens

    tokens.clear_memory_cache()
    server = {"closed": closed_port, "blackhole": black_hole, "dns": dns_failure}[fault]
    sent = 0
    original_send = requests.Session.send

    def counting_send(self: Any, request: Any, **kwargs: Any) -> Any:
        nonlocal sent
        sent += 1
        return original_send(self, request, **kwargs)

    warnings: list[str] = []

    class CountingHook(ZohoCRMHook):
        # Warnings are counted, not printed: each is one retry of the operation.
        @property
        def log(self) -> Any:
            return _CountingLog(super().log, warnings)

    requests.Session.send = counting_send  # type: ignore[method-assign]
    try:
        with server() as url:
            os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = _connection(url, timeout)
            hook = CountingHook(zoho_conn_id=CONN_ID)
            started = time.monotonic()
            if action == "test_connection":
                ok, message = hook.test_connection()
                assert not ok, message
            else:
                try:
                    hook.list_attachments("Leads", "1")
                except Exception as error:
                    message = str(error)
                else:  # pragma: no cover - nothing answers
                    raise AssertionError("the call succeeded against a dead host")
            seconds = time.monotonic() - started
            hook.close()
    finally:
        requests.Session.send = original_send  # type: ignore[method-assign]
    return {
        "fault": fault,
        "action": action,
        "timeout": timeout,
        "seconds": round(seconds, 2),
        "requests": sent,
        "warnings": len(warnings),
        "message": message,
    }


def main(argv: list[str] | None = None) -> int:
    """Measure and print a table (or JSON lines with ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--faults", default=",".join(FAULTS))
    parser.add_argument("--actions", default="list_attachments,test_connection")
    parser.add_argument(
        "--timeout", type=float, default=None, help="the timeout extra (default: the provider's)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    # A throwaway Airflow home unless one is given: the connection comes from the environment and
    # nothing here needs a metadata database, so the user's ~/airflow is never touched.
    if "AIRFLOW_HOME" not in os.environ:
        home = tempfile.mkdtemp(prefix="zoho-time-to-fail-")
        atexit.register(shutil.rmtree, home, ignore_errors=True)
        os.environ["AIRFLOW_HOME"] = home
    for fault in args.faults.split(","):
        for action in args.actions.split(","):
            result = measure(fault, action, timeout=args.timeout)
            if args.json:
                print(json.dumps(result), flush=True)
            else:
                print(
                    f"{fault:10} {action:17} timeout={result['timeout']!s:5} {result['seconds']:8.2f} s "
                    f"{result['requests']:3} requests {result['warnings']:3} warnings | {result['message']}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
