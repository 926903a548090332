"""
The emulator's command line: ``python -m airflow_provider_zoho_attach.testing.emulator``.

:func:`airflow_provider_zoho_attach.testing.emulator.main` runs :func:`main` with the emulator
class; this module does not import the emulator, so that the emulator can import it.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any, NoReturn, Protocol

from airflow_provider_zoho_attach.testing._emulator_model import EmulatorConfig

__all__ = ["CLI_OAUTH_CACHE", "ServedEmulator", "cli_connection_env", "main"]


class ServedEmulator(Protocol):
    """What the command line needs of an emulator (:class:`ZohoCRMEmulator` is one)."""

    seed_records: list[dict[str, Any]]

    @property
    def url(self) -> str: ...

    def start(self) -> Any: ...

    def stop(self) -> None: ...

    def airflow_env(self, conn_id: str = ..., **extra: Any) -> dict[str, str]: ...


#: The token cache the command line's connection uses: it shares tokens between processes (an Airflow
#: Variable in tasks, the per-user file everywhere else), unlike the test helpers' ``memory``.
CLI_OAUTH_CACHE = "variable"


def cli_connection_env(emulator: ServedEmulator, **extra: Any) -> dict[str, str]:
    """
    The connection variable the command line prints and writes: tokens shared between processes.

    The helpers of :class:`ZohoCRMEmulator` default to ``oauth_cache`` ``memory`` so that each test
    counts its own token calls; someone trying DAGs, scripts and ``airflow`` commands from a shell
    runs many short processes instead, each of which would create a token with ``memory`` and hit
    Zoho's limit of 10 per 10 minutes (which the emulator applies too).

    :param emulator: the running emulator.
    :param extra: extras to add or override (``None`` removes one).
    """
    return emulator.airflow_env(**{"oauth_cache": CLI_OAUTH_CACHE, **extra})


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, no usage dump: scripts read stderr.
        self.exit(2, f"{self.prog}: error: {message}\n")


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a non-negative number of seconds, got {text!r}")
    return value


def _int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number of at least {minimum}, got {text!r}")
        return value

    return parse


_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)


def _port(text: str) -> int:
    value = _non_negative_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, got {text!r}")
    return value


def _build_parser() -> _ArgumentParser:
    parser = _ArgumentParser(
        prog="python -m airflow_provider_zoho_attach.testing.emulator",
        description="Run the offline Zoho CRM emulator until interrupted (SIGINT or SIGTERM).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=8765, help="port (default 8765; 0 = any free port)")
    parser.add_argument("--seed", default=None, help="data set to load: demo")
    parser.add_argument(
        "--latency", type=_non_negative_float, default=0.0, help="seconds added to each API call"
    )
    parser.add_argument(
        "--max-concurrency", type=_positive_int, default=None, help="API calls in flight at once"
    )
    parser.add_argument(
        "--daily-credits", type=_non_negative_int, default=None, help="API credits per 24 hours"
    )
    parser.add_argument(
        "--storage-dir", default=None, help="parent directory of the temporary content store (e.g. /dev/shm)"
    )
    parser.add_argument(
        "--print-env",
        action="store_true",
        help=(
            "also print AIRFLOW_CONN_ZOHO_CRM_DEFAULT=... on its own line (oauth_cache=variable: tokens "
            "shared between processes), then a comment line saying where tokens are kept"
        ),
    )
    parser.add_argument(
        "--env-file",
        default=None,
        help="write KEY=VALUE lines (dotenv format) for the connection to this file",
    )
    return parser


def _sharing_note() -> str:
    from airflow_provider_zoho_attach.utils.tokens import token_cache_dir

    return (
        f"# oauth_cache={CLI_OAUTH_CACHE}: access tokens are shared through an Airflow Variable in tasks "
        f"and through {token_cache_dir()} in scripts and CLI calls (the emulator allows 10 new tokens "
        "per 10 minutes, as Zoho does)"
    )


def main(argv: Sequence[str] | None, emulator_class: Callable[..., ServedEmulator]) -> int:
    """
    Command-line entry point, serving an ``emulator_class`` (:class:`ZohoCRMEmulator`).

    Prints one line with the URL (then one line per seeded record, and the connection variable
    with ``--print-env``), serves until SIGINT or SIGTERM and returns 0. Bad input prints one line
    on stderr and returns 2.
    """
    parser = _build_parser()
    args = parser.parse_args(argv)
    prog = parser.prog

    def fail(message: str) -> int:
        print(f"{prog}: error: {message}", file=sys.stderr, flush=True)
        return 2

    config = EmulatorConfig(
        latency=args.latency, max_concurrency=args.max_concurrency, daily_credits=args.daily_credits
    )
    try:
        emulator = emulator_class(
            host=args.host, port=args.port, seed=args.seed, config=config, storage_dir=args.storage_dir
        )
    except ValueError as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(f"cannot use storage directory {args.storage_dir}: {exc.strerror or exc}")
    try:
        emulator.start()
    except OSError as exc:
        emulator.stop()
        return fail(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        env = cli_connection_env(emulator)
        if args.env_file:
            try:
                with open(args.env_file, "w", encoding="utf-8") as handle:
                    handle.write(f"ZOHO_EMULATOR_URL={emulator.url}\n")
                    for name, value in env.items():
                        handle.write(f"{name}={value}\n")
            except OSError as exc:
                return fail(f"cannot write {args.env_file}: {exc.strerror or exc}")
        seed_note = f", seed {args.seed}" if args.seed else ""
        print(f"Zoho CRM emulator listening on {emulator.url}{seed_note} (Ctrl-C to stop)", flush=True)
        for record in emulator.seed_records:
            print(
                f"  {record['module']} {record['record_id']} {record['name']!r}: "
                f"{record['attachments']} attachment(s), {record.get('field_files', 0)} field file(s)",
                flush=True,
            )
        if args.print_env:
            for name, value in env.items():
                print(f"{name}={value}", flush=True)
            print(_sharing_note(), flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0
