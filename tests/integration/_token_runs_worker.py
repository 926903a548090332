"""Runs N "scripts" one after the other, each a new process that lists a record with a fresh hook.

Run by test_token_file_cache.py. Each run is a process forked from this small interpreter, which has
imported the hook but never made a token: like ``python -c`` runs of a user's script (each starts with
an empty process memory), without paying Airflow's import time 30 times over. Prints the outcomes as
JSON: "OK" or the error code of each run.
"""

from __future__ import annotations

import json
import multiprocessing
import sys


def _run(module: str, record_id: str, results) -> None:
    from airflow_provider_zoho_attach.exceptions import ZohoCRMError
    from airflow_provider_zoho_attach.hooks.zoho_crm import ZohoCRMHook

    try:
        # A refused token fails at once: the test counts token calls, it does not wait out throttles.
        ZohoCRMHook(token_throttle_timeout=0).list_attachments(module, record_id)
    except ZohoCRMError as error:
        results.put(error.code)
    except Exception as error:
        results.put(repr(error))
    else:
        results.put("OK")


def main(runs: int, module: str, record_id: str) -> None:
    import requests  # noqa: F401 - imported once here rather than in every run
    import tenacity  # noqa: F401

    from airflow_provider_zoho_attach.hooks.zoho_crm import ZohoCRMHook

    # Read the connection once, so that what that imports is not imported again by each run. It
    # makes no token: every run still starts with no token in its memory.
    ZohoCRMHook().settings  # noqa: B018
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    outcomes = []
    for _ in range(runs):
        child = context.Process(target=_run, args=(module, record_id, results))
        child.start()
        outcomes.append(results.get(timeout=120))
        child.join(timeout=60)
    print(json.dumps({"outcomes": outcomes}))


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3])
