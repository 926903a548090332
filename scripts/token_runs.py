"""Count the access tokens that consecutive script runs create against the emulator (issue 13.2).

Starts the emulator (Zoho's limit of 10 token creations per 10 minutes on), then runs a small script
that lists one record's attachments through ``ZohoCRMHook`` ``--runs`` times, each in a new
``python -c`` process with the connection the emulator's command line prints, one after the other, as
someone trying things out would. It prints how many runs succeeded, how many were refused a token
(``TOKEN_THROTTLED``) and how many token calls reached the emulator.

Each run imports Airflow, so 30 runs take a few minutes on a busy machine; ``make test`` covers the
same path with forked processes (``tests/integration/test_token_file_cache.py``). The user's cache
directory is a temporary one (``XDG_CACHE_HOME``), so nothing under ``~/.cache`` is read or written.

Usage: ``python scripts/token_runs.py [--runs 30] [--oauth-cache memory]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# One run: what a user's script does. token_throttle_timeout=0 makes a refused token fail at once
# instead of waiting out the throttle for two minutes, which would only slow the count down.
RUN = """
import sys
from airflow_provider_zoho_attach.exceptions import ZohoCRMError
from airflow_provider_zoho_attach.hooks.zoho_crm import ZohoCRMHook

try:
    ZohoCRMHook(token_throttle_timeout=0).list_attachments(sys.argv[1], sys.argv[2])
except ZohoCRMError as error:
    print(error.code)
    sys.exit(1)
print("OK")
"""


def main(argv: list[str] | None = None) -> int:
    """Run the count and print the figures; return 0 when at most one token was created."""
    from airflow_provider_zoho_attach.testing import ZohoCRMEmulator
    from airflow_provider_zoho_attach.testing._emulator_seed import DEMO_RECORDS
    from airflow_provider_zoho_attach.testing.emulator import cli_connection_env

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument(
        "--oauth-cache",
        default=None,
        help="override the connection's oauth_cache (default: what the CLI prints)",
    )
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="zoho-token-runs-") as cache,
        ZohoCRMEmulator(seed="demo") as zoho,
    ):
        extra = {} if args.oauth_cache is None else {"oauth_cache": args.oauth_cache}
        env = {**os.environ, **cli_connection_env(zoho, **extra), "XDG_CACHE_HOME": cache}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        outcomes: dict[str, int] = {}
        started = time.monotonic()
        for _ in range(args.runs):
            done = subprocess.run(
                [sys.executable, "-c", RUN, "Deals", DEMO_RECORDS["acme_deal"]],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            lines = done.stdout.strip().splitlines()
            outcome = lines[-1] if lines else f"exit {done.returncode}: {done.stderr.strip()[-200:]}"
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        seconds = time.monotonic() - started
        print(
            f"{args.runs} runs in {seconds:.0f} s: {outcomes}; token calls: {zoho.token_calls} "
            f"(oauth_cache {args.oauth_cache or 'as printed by the emulator CLI'})"
        )
        return 0 if zoho.token_calls <= 1 else 1


if __name__ == "__main__":
    sys.exit(main())
