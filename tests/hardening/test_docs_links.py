"""
docs/hardening/index.rst tells the truth: it is valid reStructuredText, every test it names exists
(file, function and parameter id), and its tables match the data the tests assert, cell by cell.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

from tests.hardening import docs_tables

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "hardening" / "index.rst"
NODE_ID = re.compile(r"``(tests/[\w/]+\.py)::(\w+)(?:\[([^\]`]+)\])?``")


def _doctree():
    from docutils.core import publish_doctree
    from docutils.utils import Reporter

    # Warnings are errors, as in the Sphinx build (-W). Sphinx-only roles are not used on the page.
    return publish_doctree(
        PAGE.read_text(encoding="utf-8"),
        source_path=str(PAGE),
        settings_overrides={"report_level": Reporter.WARNING_LEVEL, "halt_level": Reporter.WARNING_LEVEL},
    )


def _tables() -> dict[str, list[list[str]]]:
    """Every table of the page, by title: rows of cell texts (literals without their backquotes)."""
    from docutils import nodes

    tables = {}
    for table in _doctree().findall(nodes.table):
        title = next(iter(table.findall(nodes.title))).astext()
        rows = [
            [" ".join(entry.astext().split()) for entry in row.findall(nodes.entry)]
            for row in table.findall(nodes.row)
        ]
        tables[title] = rows
    return tables


def _expected(rendered: str) -> tuple[str, list[list[str]]]:
    """The title and rows of a table rendered by docs_tables, as docutils reads them."""
    from docutils import nodes
    from docutils.core import publish_doctree

    table = next(iter(publish_doctree(rendered).findall(nodes.table)))
    title = next(iter(table.findall(nodes.title))).astext()
    return title, [
        [" ".join(entry.astext().split()) for entry in row.findall(nodes.entry)]
        for row in table.findall(nodes.row)
    ]


def _param_ids(function) -> set[str] | None:
    """The parameter ids of a test (``None`` if it is not parametrized)."""
    ids: set[str] | None = None
    for mark in getattr(function, "pytestmark", []):
        if mark.name != "parametrize":
            continue
        values = mark.args[1]
        given = mark.kwargs.get("ids")
        found = {str(i) for i in given} if given is not None else {str(v) for v in values}
        ids = found if ids is None else {f"{a}-{b}" for a in ids for b in found}
    return ids


def test_the_page_is_valid_restructuredtext():
    _doctree()


def test_every_test_named_in_the_page_exists():
    text = PAGE.read_text(encoding="utf-8")
    named = NODE_ID.findall(text)
    assert len(named) > 100
    missing = []
    for path, function_name, param in set(named):
        source = ROOT / path
        if not source.is_file():
            missing.append(f"{path} (no such file)")
            continue
        functions = {
            node.name for node in ast.parse(source.read_text()).body if isinstance(node, ast.FunctionDef)
        }
        if function_name not in functions:
            missing.append(f"{path}::{function_name}")
            continue
        if param:
            module = importlib.import_module(path[:-3].replace("/", "."))
            ids = _param_ids(getattr(module, function_name))
            if ids is None or param not in ids:
                missing.append(f"{path}::{function_name}[{param}]")
    assert missing == []


@pytest.mark.parametrize(
    "render",
    [
        docs_tables.fault_legend_table,
        docs_tables.fault_matrix_table,
        docs_tables.bad_input_table,
        docs_tables.hostile_names_table,
        docs_tables.state_matrix_table,
    ],
    ids=["fault-legend", "fault-matrix", "bad-input", "hostile-names", "state-matrix"],
)
def test_tables_match_what_the_tests_assert(render):
    title, rows = _expected(render())
    tables = _tables()
    assert title in tables, f"no table {title!r} in {PAGE}"
    assert tables[title] == rows


def test_every_fault_matrix_cell_is_a_test():
    from tests.hardening import test_fault_matrix as matrix

    for op in matrix.OPERATIONS:
        ids = _param_ids(getattr(matrix, f"test_{op}"))
        assert ids == set(matrix.FAULTS), op
