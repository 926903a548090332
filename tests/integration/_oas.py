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
    "download-errors-as-binary": (
        "field_attachments.json declares its JSON errors as application/x-download"
    ),
    "no-204": "neither download documents the 204 Zoho's docs give for an unknown id",
    "scope-errors-undocumented": (
        "no file documents 401 OAUTH_SCOPE_MISMATCH: checked against common.json API_Exception"
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
    return doc


class Oas:
    """The OAS files, ready to validate answers."""

    def __init__(self, directory: Path = OAS_DIR) -> None:
        if not all((directory / name).is_file() for name in FILES):
            pytest.skip(f"Zoho's OAS files are not in {directory} (set ZOHO_OAS_DIR)")
        self.docs = {name: json.loads((directory / name).read_text(encoding="utf-8")) for name in FILES}
        resources = [
            (BASE + name, DRAFT7.create_resource(_nullable(_patch(name, copy.deepcopy(doc)))))
            for name, doc in self.docs.items()
        ]

        def retrieve(uri: str) -> Any:  # DEFECTS["external-files-absent"]
            return DRAFT7.create_resource(_Anything())

        self.registry = referencing.Registry(retrieve=retrieve).with_resources(resources)

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
