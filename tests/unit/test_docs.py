"""The documentation builds without warnings, and what it shows is true.

* The Sphinx build (``-W``) succeeds and renders every public class and function.
* Every ``:ref:`` label used in docstrings or pages exists; every ``literalinclude`` points at a
  marker pair of an example DAG, and every example marker is shown somewhere.
* Every code block is a shell line or Python that runs here: Python blocks are executed against a
  running emulator (``seed="demo"``) with ``zoho_crm_default`` pointing at it; a block that defines
  ``test_`` functions is run with pytest.
* Tables that restate code (data centres, connection extras, template fields, error codes and
  retries) match the code.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import shlex
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
PACKAGE = REPO / "airflow_provider_zoho_attach"
EXAMPLE_DAGS = REPO / "example_dags"

#: The modules the API reference documents (``automodule``), i.e. the public surface.
PUBLIC_MODULES = (
    "airflow_provider_zoho_attach.hooks.zoho_crm",
    "airflow_provider_zoho_attach.operators.attachments",
    "airflow_provider_zoho_attach.operators.field_files",
    "airflow_provider_zoho_attach.operators.mirror",
    "airflow_provider_zoho_attach.operators.photos",
    "airflow_provider_zoho_attach.operators.records",
    "airflow_provider_zoho_attach.sensors.attachments",
    "airflow_provider_zoho_attach.triggers.attachments",
    "airflow_provider_zoho_attach.links.zoho_crm",
    "airflow_provider_zoho_attach.exceptions",
    "airflow_provider_zoho_attach.results",
    "airflow_provider_zoho_attach.testing.emulator",
    "airflow_provider_zoho_attach.testing.pytest_plugin",
    "airflow_provider_zoho_attach.testing.object_store",
)
#: Languages a code block may have: shell (shown, not run) or Python (run by this module).
SHELL_LANGUAGES = {"bash", "console", "shell", "sh"}
PYTHON_LANGUAGES = {"python", "py", "python3"}

_DIRECTIVE = re.compile(r"^(?P<indent>\s*)\.\. (?P<name>[\w:-]+)::\s*(?P<argument>.*)$")
_OPTION = re.compile(r"^\s*:(?P<name>[\w-]+):\s*(?P<value>.*)$")
_LABEL = re.compile(r"^\.\. _(?P<label>\S+):\s*$", re.MULTILINE)
_REF = re.compile(r":ref:`(?:[^`<]*<(?P<target>[^`>]+)>|(?P<plain>[^`<]+))`")


def rst_files() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.rst") if "_build" not in p.parts)


@dataclass
class Directive:
    """One directive of a page, with its options and the content lines indented under it."""

    path: Path
    line: int
    name: str
    argument: str
    options: dict[str, str]
    content: str
    end: int  # the first line number after the directive

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


def directives(path: Path) -> list[Directive]:
    """The directives of a page (nested ones included), in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found = []
    for index, line in enumerate(lines):
        match = _DIRECTIVE.match(line)
        if not match:
            continue
        indent = len(match["indent"])
        options: dict[str, str] = {}
        body: list[str] = []
        cursor = index + 1
        while cursor < len(lines) and (option := _OPTION.match(lines[cursor])) and not body:
            options[option["name"]] = option["value"].strip()
            cursor += 1
        while cursor < len(lines):
            text = lines[cursor]
            if text.strip() and len(text) - len(text.lstrip()) <= indent:
                break
            body.append(text)
            cursor += 1
        found.append(
            Directive(
                path=path,
                line=index + 1,
                name=match["name"],
                argument=match["argument"].strip(),
                options=options,
                content=textwrap.dedent("\n".join(body)).strip("\n") + "\n",
                end=cursor + 1,
            )
        )
    return found


def code_blocks() -> list[Directive]:
    return [
        d for path in rst_files() for d in directives(path) if d.name in ("code-block", "code", "sourcecode")
    ]


def python_blocks() -> list[Directive]:
    return [d for d in code_blocks() if d.argument in PYTHON_LANGUAGES]


def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def list_table_rows(text: str, after: str) -> list[list[str]]:
    """The body rows of the first ``list-table`` after ``after`` (a heading or text), as cell texts."""
    lines = text[text.index(".. list-table::", text.index(after)) :].splitlines()[1:]
    rows: list[list[str]] = []
    for line in lines:
        if not line.strip() or (not rows and line.strip().startswith(":")):
            continue
        if not line.startswith("   "):
            break
        if line.startswith("   * - "):
            rows.append([line[len("   * - ") :].strip()])
        elif line.startswith("     - "):
            rows[-1].append(line[len("     - ") :].strip())
        else:
            rows[-1][-1] += " " + line.strip()
    return rows[1:]  # without the header row


def literal(cell: str) -> str:
    """The first ````literal```` of a table cell."""
    match = re.search(r"``([^`]+)``", cell)
    assert match, f"no literal in {cell!r}"
    return match[1]


# --------------------------------------------------------------------------------------------- build


def sphinx_command(out: Path) -> list[str]:
    """Build the HTML docs like ``make docs`` (warnings are errors) into ``out/html``."""
    return [
        sys.executable,
        "-m",
        "sphinx",
        "-W",
        "--keep-going",
        "-q",
        "-b",
        "html",
        "-d",
        str(out / "doctrees"),
        str(DOCS),
        str(out / "html"),
    ]


@pytest.fixture(scope="module")
def built_html(request) -> Path:
    """
    The HTML docs, built like ``make docs`` (warnings are errors).

    The build starts in the background as soon as the session knows it will need it (see
    tests/unit/conftest.py), so that it runs beside the other tests; here it is waited for.
    """
    from tests.unit.conftest import docs_build

    build = docs_build(request.config)
    returncode = build.wait(timeout=240)
    stderr = build.stderr()
    problems = [line for line in stderr.splitlines() if "WARNING" in line or "ERROR" in line]
    assert returncode == 0, stderr[-6000:]
    assert not problems, stderr[-6000:]
    return build.out / "html"


def test_sphinx_build_has_no_warnings(built_html):
    assert (built_html / "index.html").is_file()
    assert (built_html / "connections" / "zoho_crm.html").is_file()


def test_reference_renders_every_public_name(built_html):
    rendered = "\n".join(p.read_text(encoding="utf-8") for p in (built_html / "api").glob("*.html"))
    missing = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in _public_names(module):
            obj = getattr(module, name)
            if callable(obj) and f'id="{module_name}.{name}"' not in rendered:
                missing.append(f"{module_name}.{name}")
    assert not missing, f"not rendered in the API reference: {missing}"


def test_every_page_is_built(built_html):
    for path in rst_files():
        assert (built_html / path.relative_to(DOCS).with_suffix(".html")).is_file(), path


# --------------------------------------------------------------------------------------------- references


def test_every_ref_label_exists():
    labels = {m["label"].lower() for path in rst_files() for m in _LABEL.finditer(path.read_text())}
    used: dict[str, str] = {}
    sources = [*PACKAGE.rglob("*.py"), *rst_files()]
    for path in sources:
        for match in _REF.finditer(path.read_text(encoding="utf-8")):
            label = (match["target"] or match["plain"]).strip()
            used.setdefault(label, str(path.relative_to(REPO)))
    assert used, "no :ref: found at all: the pattern is broken"
    missing = {label: where for label, where in used.items() if label.lower() not in labels}
    assert not missing, f"labels referenced but defined nowhere in docs/: {missing}"


def test_operator_docstring_labels_are_referenced():
    """The how-to labels the operators and the sensor point to are real (the build would fail too)."""
    from airflow_provider_zoho_attach.operators import attachments, photos
    from airflow_provider_zoho_attach.sensors.attachments import ZohoCRMNewAttachmentSensor

    classes = [getattr(attachments, n) for n in attachments.__all__]
    classes += [getattr(photos, n) for n in photos.__all__]
    for cls in classes:
        assert f":ref:`howto/operator:{cls.__name__}`" in (cls.__doc__ or ""), cls.__name__
    assert ":ref:`howto/sensor:ZohoCRMNewAttachmentSensor`" in (ZohoCRMNewAttachmentSensor.__doc__ or "")


def test_literalincludes_point_at_example_markers():
    includes = [d for path in rst_files() for d in directives(path) if d.name == "literalinclude"]
    assert includes
    for include in includes:
        target = (include.path.parent / include.argument).resolve()
        assert target.parent == EXAMPLE_DAGS, f"{include.where}: code must come from example_dags/"
        source = target.read_text(encoding="utf-8")
        start, end = include.options.get("start-after", ""), include.options.get("end-before", "")
        assert start.startswith("[START "), include.where
        assert end.startswith("[END "), include.where
        assert start[len("[START ") :] == end[len("[END ") :], f"{include.where}: markers differ"
        assert source.count(f"# {start}\n") == 1, f"{include.where}: no single '# {start}' in {target.name}"
        assert source.count(f"# {end}\n") == 1, f"{include.where}: no single '# {end}' in {target.name}"
        assert source.index(start) < source.index(end), include.where
        assert "dedent" in include.options, f"{include.where}: add :dedent:"


def test_every_example_marker_is_shown_in_the_docs():
    shown = {
        d.options.get("start-after", "")[len("[START ") :].rstrip("]")
        for path in rst_files()
        for d in directives(path)
        if d.name == "literalinclude"
    }
    for path in EXAMPLE_DAGS.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        starts = re.findall(r"# \[START (howto_\w+)\]", source)
        ends = re.findall(r"# \[END (howto_\w+)\]", source)
        assert sorted(starts) == sorted(ends), f"{path.name}: unbalanced markers"
        for marker in starts:
            assert marker in shown, f"{path.name}: [START {marker}] is not shown in docs/"


# --------------------------------------------------------------------------------------------- docstrings


def _public_names(module) -> list[str]:
    names = getattr(module, "__all__", None)
    assert names is not None, f"{module.__name__} has no __all__"
    return list(names)


def _members_needing_docs(cls: type) -> list[str]:
    """Public methods and properties defined on ``cls`` itself."""
    names = []
    for name, member in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(member, property | cached_property | classmethod | staticmethod) or inspect.isfunction(
            member
        ):
            names.append(name)
    return names


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_public_names_have_docstrings(module_name):
    module = importlib.import_module(module_name)
    assert inspect.getdoc(module), f"{module_name} has no module docstring"
    undocumented = []
    for name in _public_names(module):
        obj = getattr(module, name)
        if not callable(obj):  # constants are documented by the pages that use them
            continue
        if not inspect.getdoc(obj):
            undocumented.append(name)
        if inspect.isclass(obj):
            for member in _members_needing_docs(obj):
                # getdoc follows inheritance, as autodoc does (autodoc_inherit_docstrings).
                if not inspect.getdoc(getattr(obj, member, None) or vars(obj)[member]):
                    undocumented.append(f"{name}.{member}")
    assert not undocumented, f"{module_name}: no docstring for {undocumented}"


def test_api_reference_covers_the_public_modules():
    documented = {
        d.argument
        for path in (DOCS / "api").glob("*.rst")
        for d in directives(path)
        if d.name == "automodule"
    }
    assert documented == set(PUBLIC_MODULES)
    from airflow_provider_zoho_attach.get_provider_info import get_provider_info

    info = get_provider_info()
    provided = {
        m
        for kind in ("operators", "sensors", "hooks", "triggers")
        for e in info[kind]
        for m in e["python-modules"]
    }
    assert provided <= documented


# --------------------------------------------------------------------------------------------- code blocks


def test_code_blocks_are_shell_or_python():
    blocks = code_blocks()
    assert python_blocks(), "no Python block found: the parser is broken"
    for block in blocks:
        assert block.argument in SHELL_LANGUAGES | PYTHON_LANGUAGES, (
            f"{block.where}: a '{block.argument}' block is neither a shell line nor run by a test"
        )


def test_no_untested_literal_blocks():
    """``::`` literal blocks and ``>>>`` doctest blocks would be code that no test runs."""
    for path in rst_files():
        inside = {
            number
            for d in directives(path)
            if d.name in ("code-block", "code", "sourcecode")
            for number in range(d.line + 1, d.end)
        }
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if number in inside:
                continue
            stripped = line.rstrip()
            where = f"{path.relative_to(REPO)}:{number}"
            assert not (stripped.endswith("::") and not _DIRECTIVE.match(stripped)), (
                f"{where}: a literal block; use a code-block"
            )
            assert not stripped.lstrip().startswith(">>>"), f"{where}: a doctest block"


def test_emulator_command_lines_parse():
    from airflow_provider_zoho_attach.testing._emulator_cli import _build_parser

    seen = 0
    for block in code_blocks():
        if block.argument not in SHELL_LANGUAGES:
            continue
        for line in block.content.replace("\\\n", " ").splitlines():
            if not line.lstrip().startswith(("python -m ", "airflow dags test ")):
                continue
            words = shlex.split(line, comments=True)
            if words[:3] == ["python", "-m", "airflow_provider_zoho_attach.testing.emulator"]:
                _build_parser().parse_args(words[3:])
                seen += 1
            if words[:3] == ["airflow", "dags", "test"]:
                assert (EXAMPLE_DAGS / f"{words[3]}.py").is_file(), f"{block.where}: no DAG {words[3]}"
    assert seen


#: The widest line a shell block may have: wider ones scroll sideways in the rendered docs and on
#: GitHub, hiding the end of a command. Break them with ``\`` continuations.
MAX_SHELL_LINE = 90
#: Python blocks follow the code's own limit, less room for the page's margin.
MAX_PYTHON_LINE = 100
_FENCE = re.compile(r"^```(?P<language>\w*)\n(?P<body>.*?)^```", re.MULTILINE | re.DOTALL)


def test_command_lines_in_the_docs_wrap():
    too_long = []
    for block in code_blocks():
        limit = MAX_SHELL_LINE if block.argument in SHELL_LANGUAGES else MAX_PYTHON_LINE
        for offset, line in enumerate(block.content.splitlines(), start=1):
            if len(line) > limit:
                too_long.append(f"{block.where}+{offset}: {len(line)} > {limit}: {line[:60]}...")
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    fences = list(_FENCE.finditer(readme))
    assert fences, "README has no fenced block: the pattern is broken"
    for fence in fences:
        if fence["language"] not in SHELL_LANGUAGES:
            continue
        first = readme.count("\n", 0, fence.start()) + 2
        for number, line in enumerate(fence["body"].splitlines(), start=first):
            if len(line) > MAX_SHELL_LINE:
                too_long.append(f"README.md:{number}: {len(line)} > {MAX_SHELL_LINE}: {line[:60]}...")
    assert not too_long, "\n".join(too_long)


@pytest.fixture
def docs_emulator(monkeypatch, tmp_path):
    """The demo data set on a running emulator, ``zoho_crm_default`` pointing at it, cwd in tmp."""
    from airflow_provider_zoho_attach.testing import ZohoCRMEmulator
    from airflow_provider_zoho_attach.triggers import attachments as triggers
    from airflow_provider_zoho_attach.utils import tokens

    # A trigger's first poll waits a random part of its interval (up to 5 s in the examples), to
    # spread many deferred sensors; here it would only make the run slower by a random amount.
    monkeypatch.setattr(triggers, "_stagger", lambda poll_interval: 0.0)
    tokens.clear_memory_cache()
    with ZohoCRMEmulator(seed="demo") as emulator:
        for name, value in emulator.airflow_env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(tmp_path)
        yield emulator
    tokens.clear_memory_cache()


def defines_tests(block: Directive) -> bool:
    return re.search(r"^def test_\w+\(", block.content, re.MULTILINE) is not None


@pytest.fixture(scope="module")
def docs_test_modules(tmp_path_factory) -> dict[str, Any]:
    """
    The blocks that define tests, each written as a test module, all run by one pytest process.

    As a user runs them: a fresh interpreter, the emulator's fixtures from the plugin's entry
    point, no connection in the environment. One process rather than one per block: each costs a
    Python, pytest and Airflow start-up.

    :return: ``{"tests": {block.where: [(test name, outcome)]}, "output": the run's output tail}``.
    """
    from xml.etree import ElementTree

    folder = tmp_path_factory.mktemp("docs-tests")
    modules = {}
    for index, block in enumerate(b for b in python_blocks() if defines_tests(b)):
        module = f"test_docs_example_{index}"
        (folder / f"{module}.py").write_text(block.content, encoding="utf-8")
        modules[module] = block.where
    report = folder / "report.xml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--junitxml={report}",
            *sorted(f"{module}.py" for module in modules),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        cwd=folder,
        env={**env, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    output = f"{result.stdout[-4000:]}\n{result.stderr[-2000:]}"
    tests: dict[str, list[tuple[str, str]]] = {where: [] for where in modules.values()}
    if report.is_file():
        for case in ElementTree.parse(report).iter("testcase"):  # noqa: S314 - our own pytest's report
            where = modules.get(case.get("classname", ""))
            if where is not None:
                problems = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
                tests[where].append((case.get("name", ""), problems[0] if problems else "passed"))
    return {"tests": tests, "output": output}


@pytest.mark.parametrize("block", python_blocks(), ids=lambda block: block.where)
def test_python_block_runs(block, docs_emulator, tmp_path, request):
    if defines_tests(block):
        run = request.getfixturevalue("docs_test_modules")
        outcomes = run["tests"][block.where]
        defined = re.findall(r"^def (test_\w+)\(", block.content, re.MULTILINE)
        assert {name.partition("[")[0] for name, _ in outcomes} == set(defined), (
            f"{block.where}: not every test ran: {outcomes}\n{run['output']}"
        )
        failed = [(name, outcome) for name, outcome in outcomes if outcome != "passed"]
        assert not failed, f"{block.where}: {failed}\n{run['output']}"
        return
    code = compile(block.content, block.where, "exec")
    exec(code, {"__name__": "__docs_example__"})  # noqa: S102 - the docs' own examples


# --------------------------------------------------------------------------------------------- tables


def test_data_centre_table_matches_the_code():
    from airflow_provider_zoho_attach.utils.datacenters import DATA_CENTERS

    rows = list_table_rows(page("connections/zoho_crm.rst"), "Data centres\n---")
    table = {literal(row[0]): [literal(cell) for cell in row[2:]] for row in rows}
    expected = {
        code: [
            dc.accounts_url,
            dc.api_domain("production"),
            dc.api_domain("sandbox"),
            dc.api_domain("developer"),
        ]
        for code, dc in DATA_CENTERS.items()
    }
    assert table == expected


def test_connection_extras_are_documented_with_their_defaults():
    from airflow_provider_zoho_attach.utils.connection_form import CONN_FIELDS

    rows = list_table_rows(page("connections/zoho_crm.rst"), "Extra (JSON)")
    table = {literal(row[0]): row[1] for row in rows}
    assert set(table) == set(CONN_FIELDS)
    for name, spec in CONN_FIELDS.items():
        default = spec["schema"].get("default")
        if default is not None:
            assert f"``{default}``" in table[name], f"{name}: default {default!r} not documented"
    assert "required" in table["refresh_token"]


TEMPLATED_PAGES = {
    "operators/find_records.rst": "operators.records.ZohoCRMFindRecordsOperator",
    "operators/mirror.rst": "operators.mirror.ZohoCRMMirrorAttachmentsOperator",
    "operators/list_attachments.rst": "operators.attachments.ZohoCRMListAttachmentsOperator",
    "operators/download_attachments.rst": "operators.attachments.ZohoCRMDownloadAttachmentsOperator",
    "operators/upload_attachment.rst": "operators.attachments.ZohoCRMUploadAttachmentOperator",
    "operators/delete_attachments.rst": "operators.attachments.ZohoCRMDeleteAttachmentOperator",
    "operators/download_photo.rst": "operators.photos.ZohoCRMDownloadPhotoOperator",
    "operators/upload_photo.rst": "operators.photos.ZohoCRMUploadPhotoOperator",
    "sensors/new_attachment.rst": "sensors.attachments.ZohoCRMNewAttachmentSensor",
}


@pytest.mark.parametrize(("page_name", "dotted"), sorted(TEMPLATED_PAGES.items()))
def test_how_to_pages_list_the_template_fields(page_name, dotted):
    module_name, _, class_name = f"airflow_provider_zoho_attach.{dotted}".rpartition(".")
    cls = getattr(importlib.import_module(module_name), class_name)
    text = page(page_name)
    assert f".. _howto/{'sensor' if 'Sensor' in class_name else 'operator'}:{class_name}:" in text
    match = re.search(r"``template_fields``: (.+?)\.\n\n", text, re.DOTALL)
    assert match, f"{page_name}: no '``template_fields``: ...' line"
    assert re.findall(r"``(\w+)``", match[1]) == list(cls.template_fields)


def _error_rows(heading: str) -> list[list[str]]:
    return list_table_rows(page("errors.rst"), heading)


def test_error_tables_match_the_error_mapping():
    from airflow_provider_zoho_attach import exceptions
    from airflow_provider_zoho_attach.utils.protocol import RetryPolicy

    policy = RetryPolicy()
    zoho_rows = _error_rows("Zoho's codes\n---")
    own_rows = _error_rows("The provider's own codes\n---")
    for row in zoho_rows:
        code, class_name, retried = literal(row[0]), literal(row[1]), row[2]
        error = exceptions.make_error("m", code=code, status_code=None)
        assert type(error).__name__ == class_name, code
        assert policy.is_retryable(error) == retried.startswith("yes"), code
    for row in own_rows:
        code, class_name, retried = literal(row[0]), literal(row[1]), row[2]
        error = getattr(exceptions, class_name)("m", code=code)
        assert policy.is_retryable(error) == retried.startswith("yes"), code
    documented = {literal(row[0]) for row in zoho_rows + own_rows}
    assert set(exceptions._CODE_TABLE) <= documented


def test_every_error_code_of_the_provider_is_documented():
    text = page("errors.rst")
    codes = set()
    for path in PACKAGE.rglob("*.py"):
        if "testing" in path.relative_to(PACKAGE).parts:
            continue
        codes |= set(re.findall(r"""\bcode\s*=\s*["']([A-Z][A-Z_]+)["']""", path.read_text(encoding="utf-8")))
        codes |= set(
            re.findall(r"""\["code"\]\s*=.*?["']([A-Z][A-Z_]+)["']""", path.read_text(encoding="utf-8"))
        )
    assert {"INVALID_ARGUMENT", "TIMEOUT", "PARTIAL_FAILURE"} <= codes, "the code pattern is broken"
    assert not {c for c in codes if f"``{c}``" not in text}, "codes missing from docs/errors.rst"


def test_every_error_class_is_in_the_class_table():
    from airflow_provider_zoho_attach import exceptions

    classes = {n for n in exceptions.__all__ if inspect.isclass(getattr(exceptions, n))}
    rows = _error_rows("Error classes\n---")
    assert {literal(row[0]) for row in rows} == classes


def test_readme_links_exist():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\((docs/[^)#]+)", readme)
    assert links, "README links into docs/"
    for link in links:
        assert (REPO / link).is_file(), f"README links to missing {link}"
    for command in ("make demo", "make test", "airflow connections add", "zoho-crm://"):
        assert command in readme


def test_requirements_table_matches_pyproject():
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    text = page("index.rst")
    python = project["requires-python"].removeprefix(">=")
    assert re.search(rf"^Python\s+{re.escape(python)} or newer", text, re.MULTILINE)
    for requirement in project["dependencies"]:
        name, _, version = requirement.partition(">=")
        assert re.search(rf"^``{re.escape(name)}``\s+{re.escape(version)} or newer", text, re.MULTILINE), (
            f"index.rst: {requirement} is not in the requirements table"
        )


def test_trigger_example_handles_an_error_event(docs_emulator):
    """The triggers page's example, pointed at a module the org does not have, fails with the error."""
    from airflow_provider_zoho_attach.exceptions import ZohoCRMError

    (block,) = [b for b in python_blocks() if b.path.name == "triggers.rst" and "trigger.run()" in b.content]
    assert 'module="Deals"' in block.content
    code = compile(block.content.replace('module="Deals"', 'module="No_Such_Module"'), block.where, "exec")
    with pytest.raises(ZohoCRMError) as failure:
        exec(code, {"__name__": "__docs_example__"})  # noqa: S102 - the docs' own example
    assert failure.value.code == "INVALID_MODULE"
