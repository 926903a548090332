"""
The tables of docs/hardening/index.rst, rendered from the data the tests assert.

``python -m tests.hardening.docs_tables`` prints them (reStructuredText ``list-table`` directives)
to paste into the page after a change; tests/hardening/test_docs_links.py checks that the page and
this data agree, cell by cell, and that every test the page names exists.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

MATRIX_TEST = "tests/hardening/test_fault_matrix.py"
BAD_INPUT_TEST = "tests/hardening/test_bad_input.py"
FILES_TEST = "tests/hardening/test_files.py"
STATE_TEST = "tests/hardening/test_state_matrix.py"

_SHORT_CLASS = {
    "ZohoCRMRateLimitError": "rate limit",
    "ZohoCRMServerError": "server",
    "ZohoCRMAuthError": "auth",
    "ZohoCRMNotFoundError": "not found",
    "ZohoCRMTransferError": "transfer",
    "ZohoCRMConnectionError": "connection",
    "ZohoCRMInvalidRequestError": "invalid request",
    "ZohoCRMPermissionError": "permission",
    "ZohoCRMError": "error",
}


def outcome_cell(outcome: str) -> str:
    """``survived`` -> "survived"; ``ZohoCRMRateLimitError TOO_MANY_REQUESTS`` -> "rate limit ``TOO_...``"."""
    if outcome in ("survived", "empty"):
        return outcome
    error_class, _, code = outcome.partition(" ")
    return f"{_SHORT_CLASS[error_class]} ``{code}``"


def literal(text: str) -> str:
    """An inline literal (the page names tests and shows inputs this way)."""
    assert "``" not in text, text
    assert text == text.strip(), text
    return f"``{text}``"


def list_table(
    title: str, header: Sequence[str], rows: Iterable[Sequence[str]], widths: str | None = None
) -> str:
    lines = [f".. list-table:: {title}", "   :header-rows: 1"]
    if widths:
        lines.append(f"   :widths: {widths}")
    lines.append("")
    for row in [header, *rows]:
        for index, cell in enumerate(row):
            lines.append(("   * - " if index == 0 else "     - ") + cell)
    return "\n".join(lines) + "\n"


def fault_matrix_table() -> str:
    from tests.hardening.test_fault_matrix import EXPECTED, FAULTS, OPERATIONS

    header = ["Operation", "Test", *(literal(fault) for fault in FAULTS)]
    rows = [
        [name, literal(f"{MATRIX_TEST}::test_{op}"), *(outcome_cell(EXPECTED[op][f]) for f in FAULTS)]
        for op, name in OPERATIONS.items()
    ]
    return list_table("Fault matrix: outcome per operation and fault", header, rows)


def fault_legend_table() -> str:
    from tests.hardening.test_fault_matrix import FAULTS

    rows = [[literal(fault), description] for fault, description in FAULTS.items()]
    return list_table("Fault columns", ["Column", "What the emulator does"], rows, widths="20 80")


def bad_input_table() -> str:
    from tests.hardening.test_bad_input import CASES, DAG_CASES, where

    rows = [
        [
            where(c.id),
            literal(c.argument),
            literal(c.shown),
            literal(c.excerpt),
            literal(f"{BAD_INPUT_TEST}::test_bad_input[{c.id}]"),
        ]
        for c in CASES
    ]
    rows += [
        [
            f"dag.test() task ``{c.id}``",
            literal(c.argument),
            literal(c.shown),
            literal(c.excerpt),
            literal(f"{BAD_INPUT_TEST}::test_bad_input_fails_the_task"),
        ]
        for c in DAG_CASES
    ]
    return list_table(
        "Bad input: refused before any request, in one line",
        ["Where", "Argument", "Input", "Message excerpt", "Test"],
        rows,
        widths="10 12 25 33 20",
    )


def hostile_names_table() -> str:
    from tests.hardening.test_files import HOSTILE, shown

    tests = " and ".join(
        literal(f"{FILES_TEST}::{name}")
        for name in (
            "test_hostile_names_stay_inside_a_local_directory",
            "test_hostile_names_stay_inside_object_storage",
        )
    )
    rows = [[case, literal(shown(name)), literal(shown(safe)), tests] for case, name, safe in HOSTILE]
    return list_table(
        "Hostile names from Zoho and what they are saved as",
        ["Case", "File name Zoho sends", "Saved as", "Tests"],
        rows,
        widths="15 30 25 30",
    )


def state_matrix_table() -> str:
    from tests.hardening.test_state_matrix import (
        EXPECTED,
        EXPECTED_AFTER_LOST_ANSWER,
        FAULTS,
        LOST_ANSWER_FAULTS,
        ROWS,
    )

    rows = []
    for row, (operation, there) in ROWS.items():
        first, rerun = EXPECTED[row]
        if row in EXPECTED_AFTER_LOST_ANSWER:
            lost_first, lost_rerun = EXPECTED_AFTER_LOST_ANSWER[row]
            faults = ", ".join(LOST_ANSWER_FAULTS)
            first = f"{first}; after {faults}: {lost_first}"
            rerun = rerun if rerun == lost_rerun else f"{rerun}; after {faults}: {lost_rerun}"
        rows.append([literal(row), operation, there, first, rerun])
    return list_table(
        f"What was already there, and a re-run ({STATE_TEST}, faults: " + ", ".join(FAULTS) + ")",
        ["Row", "Operation", "Already there", "First run (with the fault)", "Re-run"],
        rows,
        widths="20 15 25 25 15",
    )


if __name__ == "__main__":  # pragma: no cover - a helper for editing the docs page
    for render in (
        fault_legend_table,
        fault_matrix_table,
        bad_input_table,
        hostile_names_table,
        state_matrix_table,
    ):
        print(render())
