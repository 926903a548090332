"""
Zoho's OpenAPI files for CRM v8 (GitHub ``zoho/crm-oas``, ``v8.0/*.json``) as validators of the
emulator's answers.

The files are read from ``$ZOHO_OAS_DIR``, else from ``../shared/zoho-oas`` beside the repository;
without them the tests that need them skip. OAS 3.0 schemas become JSON Schema (draft 7): a
``nullable`` schema also accepts ``null``; references between the files resolve to our copies, and
references to files we do not have accept anything (:data:`DEFECTS` ``external-files-absent``).

Where the OAS is wrong, the fix is named in :data:`DEFECTS` and applied here or chosen by the test
that names it, never silently.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest

jsonschema = pytest.importorskip("jsonschema")
referencing = pytest.importorskip("referencing")

from referencing.jsonschema import DRAFT7  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
OAS_DIR = Path(os.environ.get("ZOHO_OAS_DIR") or REPO.parent / "shared" / "zoho-oas")
#: The base URI the files use to refer to each other.
BASE = "https://raw.githubusercontent.com/Zohocorp-Pvt-Ltd/crm-oas/refs/heads/main/v8.0/"
FILES = (
    "common.json",
    "attachments.json",
    "files.json",
    "field_attachments.json",
    "fields.json",
    "record.json",
    "coql.json",
)

#: Every defect of the OAS files the tests work around, by name.
DEFECTS = {
    "external-files-absent": (
        "users.json, modules.json and tags.json are not in our copy: their schemas accept anything"
    ),
    "fields-ghost-required": (
        "fields.json requires `common.picklist` and `_update_existing_records` in every field, keys "
        "that no Zoho sample or SDK model has (the SDK knows `update_existing_records`): dropped"
    ),
    "fields-ref-not-nullable": (
        "OAS 3.0 ignores `nullable` beside `$ref`, so fields.json cannot say that the sub-objects "
        "Zoho sends as null (`tooltip`, `crypt`, `external`...) may be null: they accept null"
    ),
    "record-info-not-nullable": (
        "record.json `Info` types `next_page_token`, `previous_page_token` and `page_token_expiry` "
        'as strings, yet Zoho\'s Get Records sample has `"previous_page_token": null`: null accepted'
    ),
    "record-oneof-always-fails": (
        "record.json answers are `oneOf` branches without `required` keys: any object matches "
        "every branch, so the `oneOf` never passes; the test checks the branch the answer is"
    ),
    "record-errors-under-200": (
        "record.json documents errors only inside its 200 answers: 4xx bodies use that schema"
    ),
    "files-size-status": (
        "files.json lists FILE_SIZE_MORE_THAN_ALLOWED_SIZE under 400; Zoho's YAML spec and docs answer 415"
    ),
    "files-codes-missing": (
        "files.json has no REQUIRED_PARAM_MISSING (GET without `id`) and no INVALID_REQUEST (more "
        "than 10 files), both in Zoho's YAML spec: checked against common shapes"
    ),
    "record-enums-incomplete": (
        "record.json closes `code` and `message` of API_Exception to enums that lack the errors its "
        "own Get Records documents (DISCRETE_PAGINATION_LIMIT_EXCEEDED, AMBIGUITY_DURING_PROCESSING) "
        'and the docs\' wording ("the module name given..."): the enums are dropped'
    ),
    "record-file-fields-unlinked": (
        "record.json `Record` allows any key and never refers to `FileDetails` or `Image_Upload`: "
        "the test checks each entry of a file or image field against them"
    ),
    "files-download-type": (
        "files.json types a downloaded file application/x-download; Zoho's YAML example sends the "
        "file's own type (`image/png;charset=UTF-8`), as the emulator does"
    ),
    "download-errors-as-binary": (
        "field_attachments.json declares its JSON errors as application/x-download"
    ),
    "no-204": "neither download documents the 204 Zoho's docs give for an unknown id",
    "coql-oneof-overlap": (
        "coql.json's 400 is a `oneOf` whose `Query_Exception` has no `required` keys and shares the "
        "codes of `Syntax_Exception` and `Invalid_Query_Exception`: an answer matches two branches, "
        "so the test checks the branch of its code"
    ),
    "coql-codes-missing": (
        "coql.json documents no INVALID_DATA (limit 0), MANDATORY_NOT_FOUND (no select_query) or "
        "INVALID_MODULE, which Zoho's docs list: checked against common.json API_Exception"
    ),
    "coql-limit-detail-type": (
        "coql.json types `details.limit` of Query_Exception as an integer, yet Zoho's own example of "
        'INVALID_QUERY for `limit s` is `{"limit": "s"}`: that answer is checked as Invalid_Query_Exception'
    ),
    "search-sort-undeclared": (
        "record.json's Search Records declares no sort_by or sort_order, which Zoho's YAML spec and "
        "docs list for it (the hook sends both): accepted"
    ),
    "search-errors-under-200": (
        "record.json documents the search's errors only inside its 200 answer (`API_Exception`)"
    ),
    "generic-errors-undocumented": (
        "no file documents 401 (OAUTH_SCOPE_MISMATCH...), 429, 5xx or INVALID_REQUEST_METHOD: "
        "checked against common.json API_Exception"
    ),
}


class _Anything(dict):
    """A document whose every JSON pointer leads to ``{}`` (a schema that accepts anything)."""

    def __missing__(self, key: str) -> _Anything:
        return _Anything()


def _nullable(node: Any) -> Any:
    """OAS ``nullable: true`` -> JSON Schema ``null`` in the type (and in the enum)."""
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _nullable(value) for key, value in node.items()}
    if out.pop("nullable", False):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out


def _patch(name: str, doc: dict[str, Any]) -> dict[str, Any]:
    schemas = doc["components"]["schemas"]
    if name == "fields.json":
        field = schemas["fields"]
        # DEFECTS["fields-ghost-required"]
        field["required"] = [
            k for k in field["required"] if k not in ("common.picklist", "_update_existing_records")
        ]
        # DEFECTS["fields-ref-not-nullable"]
        for key, prop in field["properties"].items():
            if "$ref" in prop:
                field["properties"][key] = {"anyOf": [prop, {"type": "null"}]}
    if name == "record.json":
        # DEFECTS["record-info-not-nullable"]
        for key in ("next_page_token", "previous_page_token", "page_token_expiry"):
            schemas["Info"]["properties"][key]["type"] = ["string", "null"]
        # DEFECTS["record-enums-incomplete"]
        for key in ("code", "message"):
            schemas["API_Exception"]["properties"][key].pop("enum")
    return doc


class Oas:
    """The OAS files, ready to validate answers."""

    def __init__(self, directory: Path = OAS_DIR) -> None:
        if not self.available(directory):
            pytest.skip(f"Zoho's OAS files are not in {directory} (set ZOHO_OAS_DIR)")
        self.docs = {name: json.loads((directory / name).read_text(encoding="utf-8")) for name in FILES}
        resources = [
            (BASE + name, DRAFT7.create_resource(_nullable(_patch(name, copy.deepcopy(doc)))))
            for name, doc in self.docs.items()
        ]

        def retrieve(uri: str) -> Any:  # DEFECTS["external-files-absent"]
            return DRAFT7.create_resource(_Anything())

        self.registry = referencing.Registry(retrieve=retrieve).with_resources(resources)

    @staticmethod
    def available(directory: Path = OAS_DIR) -> bool:
        """Whether the OAS files are there."""
        return all((directory / name).is_file() for name in FILES)

    def pointer(self, name: str, path: str, method: str, status: int, media: str = "application/json") -> str:
        """The JSON pointer of an answer's schema in file ``name`` (response ``$ref`` followed)."""
        pointer = (
            "/paths/" + path.replace("~", "~0").replace("/", "~1") + f"/{method.lower()}/responses/{status}"
        )
        node = self.resolve(name, pointer)
        if "$ref" in node:
            pointer = node["$ref"].removeprefix("#")
            node = self.resolve(name, pointer)
        assert media in node.get("content", {}), f"{name} documents no {media} for {method} {path} {status}"
        return pointer + "/content/" + media.replace("/", "~1") + "/schema"

    def resolve(self, name: str, pointer: str) -> Any:
        """The node at a JSON pointer of file ``name`` (unpatched)."""
        node: Any = self.docs[name]
        for part in pointer.strip("/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def errors(self, body: Any, name: str, pointer: str) -> list[str]:
        """Where ``body`` breaks the schema at ``pointer`` of file ``name`` (empty: valid)."""
        validator = jsonschema.Draft7Validator({"$ref": f"{BASE}{name}#{pointer}"}, registry=self.registry)
        return [
            f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in validator.iter_errors(body)
        ]

    def check(self, body: Any, name: str, pointer: str) -> None:
        """Fail the test unless ``body`` matches the schema at ``pointer`` of file ``name``."""
        problems = self.errors(body, name, pointer)
        assert not problems, f"not valid against {name}#{pointer}:\n" + "\n".join(problems[:20])


# ---------------------------------------------------------------------- the emulator's answers

_API_EXCEPTION = ("common.json", "/components/schemas/API_Exception")
_MANDATORY_PARAM = ("fields.json", "/components/schemas/MandatoryParamError")


def _kind(path_url: str) -> str:
    rest = path_url.split("/crm/v8/", 1)[1].split("?", 1)[0].strip("/").split("/")
    if rest[0] == "files" or rest[0] == "settings":
        return "/".join(rest[:2])
    if rest == ["coql"] or rest[-1:] == ["search"]:
        return rest[-1]
    if len(rest) == 4 and rest[2:] == ["actions", "download_fields_attachment"]:
        return "download_fields_attachment"
    return "record" if len(rest) == 2 else "records"


def check_answer(oas: Oas, response: Any) -> None:
    """
    Check one answer of the files endpoints against the OAS (``response`` is a ``requests`` one).

    ZFS, field metadata, records (read and update) and field-file downloads; other paths and the
    settings/modules answer (its modules.json is not in our copy) are not checked.
    """
    method, status = response.request.method, response.status_code
    kind = _kind(response.request.path_url)
    body = response.json() if "json" in response.headers.get("Content-Type", "") else None
    generic = status == 401 or status >= 429 or (body or {}).get("code") == "INVALID_REQUEST_METHOD"
    if generic:  # DEFECTS["generic-errors-undocumented"]; a proxy's HTML page is no Zoho answer
        if body is not None:
            oas.check(body, *_API_EXCEPTION)
        return
    if status in (204, 304):  # DEFECTS["no-204"] for the downloads; the others document it
        assert not response.content
        return
    if kind == "coql":
        _check_coql(oas, status, body)
        return
    if kind == "search":  # DEFECTS["search-errors-under-200"]
        branch = "0" if status == 200 else "1"
        oas.check(body, "record.json", oas.pointer("record.json", _SEARCH, "GET", 200) + "/oneOf/" + branch)
        return
    if kind == "files":
        _check_files(oas, method, status, body, response)
    elif kind == "settings/fields":
        oas.check(body, "fields.json", oas.pointer("fields.json", "/crm/v8/settings/fields", "GET", status))
    elif kind == "download_fields_attachment":
        path = "/crm/v8/{module_api_name}/{record_id}/actions/download_fields_attachment"
        if status == 200:
            oas.pointer("field_attachments.json", path, "GET", 200, "application/x-download")
            assert response.headers["Content-Type"] == "application/x-download"
            assert response.headers["Content-Disposition"].startswith("attachment;")
        elif body["code"] == "REQUIRED_PARAM_MISSING":  # DEFECTS["files-codes-missing"]
            oas.check(body, *_MANDATORY_PARAM)
        else:  # DEFECTS["download-errors-as-binary"]
            oas.check(
                body,
                "field_attachments.json",
                oas.pointer("field_attachments.json", path, "GET", 400, "application/x-download"),
            )
    elif kind in ("record", "records"):
        _check_record(oas, kind, method, status, body)


_SEARCH = "/crm/v8/{module_api_name}/search"
_COQL_BRANCHES = {
    "SYNTAX_ERROR": "Syntax_Exception",
    "INVALID_QUERY": "Invalid_Query_Exception",
    "LIMIT_EXCEEDED": "Limit_Exceeded_Exception",
    "INVALID_ALIAS": "Invalid_Alias_Exception",
    "DUPLICATE_DATA": "Duplicate_Data_Exception",
    "DUPLICATE_ALIAS": "Duplicate_Alias_Exception",
}


def _check_coql(oas: Oas, status: int, body: Any) -> None:
    """A COQL answer against coql.json (rows) or the branch of its error code."""
    if status == 200:
        oas.check(body, "coql.json", oas.pointer("coql.json", "/crm/v8/coql", "POST", 200))
        return
    branch = _COQL_BRANCHES.get(body["code"])
    if branch is None:  # DEFECTS["coql-codes-missing"]
        oas.check(body, *_API_EXCEPTION)
        return
    # DEFECTS["coql-oneof-overlap"]: the branch of the code, and Query_Exception where it applies.
    oas.check(body, "coql.json", f"/components/schemas/{branch}")
    if body["code"] == "SYNTAX_ERROR":
        oas.check(body["details"], "coql.json", "/components/schemas/Parse_Error_Details")
    if body["code"] == "INVALID_QUERY" and not isinstance(body["details"].get("limit"), str):
        # DEFECTS["coql-limit-detail-type"] spares only the `limit s` answer.
        oas.check(body, "coql.json", "/components/schemas/Query_Exception")


def _check_files(oas: Oas, method: str, status: int, body: Any, response: Any) -> None:
    if method == "GET" and status == 200:
        oas.pointer("files.json", "/crm/v8/files", "GET", 200, "application/x-download")
        # DEFECTS["files-download-type"]: the file's own type, not application/x-download
        assert "json" not in response.headers["Content-Type"]
        assert response.headers["Content-Disposition"].startswith("attachment;")
        return
    if status == 200:
        oas.check(body, "files.json", oas.pointer("files.json", "/crm/v8/files", "POST", 200))
    elif body["code"] in ("REQUIRED_PARAM_MISSING",):  # DEFECTS["files-codes-missing"]
        oas.check(body, *_MANDATORY_PARAM)
    elif body["code"] == "INVALID_REQUEST":  # DEFECTS["files-codes-missing"]
        oas.check(body, *_API_EXCEPTION)
    else:  # 400, and 415 for the size: DEFECTS["files-size-status"]
        assert status in (400, 415)
        oas.check(body, "files.json", oas.pointer("files.json", "/crm/v8/files", method, 400))


def _check_record(oas: Oas, kind: str, method: str, status: int, body: Any) -> None:
    path = "/crm/v8/{module_api_name}" + ("/{id}" if kind == "record" else "")
    # DEFECTS["record-errors-under-200"], DEFECTS["record-oneof-always-fails"]: pick the branch.
    pointer = oas.pointer("record.json", path, method, 200) + "/oneOf/"
    if "data" not in body:
        oas.check(body, "record.json", pointer + ("2" if kind == "record" and method == "GET" else "1"))
        return
    oas.check(body, "record.json", pointer + "0")
    if method == "GET":  # DEFECTS["record-file-fields-unlinked"]
        for record in body["data"]:
            for value in record.values():
                if (
                    isinstance(value, list)
                    and value
                    and isinstance(value[0], dict)
                    and "File_Id__s" in value[0]
                ):
                    schema = "Image_Upload" if "Preview_Id__s" in value[0] else "FileDetails"
                    for entry in value:
                        oas.check(entry, "record.json", f"/components/schemas/{schema}")
