"""
The emulator's answers against Zoho's own OpenAPI files (``zoho/crm-oas``, v8.0).

Each answer is checked against the schema the OAS gives for its path, method and status. Where the
OAS itself is wrong, the test names the defect (:data:`_oas.DEFECTS`) and checks what the OAS
meant instead.
"""

from __future__ import annotations

import json

import pytest
import requests

from tests.integration._oas import Oas

pytestmark = pytest.mark.integration

TIMEOUT = 30


@pytest.fixture(scope="module")
def oas():
    return Oas()


@pytest.fixture
def api(zoho_emulator):
    session = requests.Session()
    session.headers["Authorization"] = f"Zoho-oauthtoken {zoho_emulator.issue_access_token()}"
    session.base = f"{zoho_emulator.url}/crm/v8/"  # type: ignore[attr-defined]
    yield session
    session.close()


def call(api, method, path, **kwargs):
    kwargs.setdefault("timeout", TIMEOUT)
    return api.request(method, api.base + path, **kwargs)


def test_page_with_page_token_names_the_ambiguity_as_common_json_says(zoho_emulator, api, oas):
    record_id = zoho_emulator.add_record("Deals")
    zoho_emulator.add_attachments_bulk("Deals", record_id, 3)
    first = call(api, "GET", f"Deals/{record_id}/Attachments", params={"fields": "id", "per_page": "2"})
    token = first.json()["info"]["next_page_token"]
    response = call(
        api,
        "GET",
        f"Deals/{record_id}/Attachments",
        params={"fields": "id", "page": "2", "page_token": token},
    )
    assert response.status_code == 400
    body = response.json()
    oas.check(body, "common.json", "/components/schemas/AmbiguityError")
    assert [item["api_name"] for item in body["details"]["ambiguity_due_to"]] == ["page", "page_token"]


def test_the_named_defects_are_in_the_oas_files(oas):
    """Each allowance of ``_oas.DEFECTS`` answers a defect that is really there (drop it once fixed)."""
    fields = oas.resolve("fields.json", "/components/schemas/fields")
    assert {"common.picklist", "_update_existing_records"} <= set(fields["required"])
    assert fields["properties"]["tooltip"] == {"$ref": "#/components/schemas/tooltip"}
    info = oas.resolve("record.json", "/components/schemas/Info")["properties"]
    assert info["previous_page_token"] == {"type": "string"}
    branches = oas.resolve(
        "record.json", oas.pointer("record.json", "/crm/v8/{module_api_name}/{id}", "GET", 200)
    )
    assert all("required" not in oas.resolve("record.json", b["$ref"][1:]) for b in branches["oneOf"])
    codes = oas.resolve("record.json", "/components/schemas/API_Exception")["properties"]["code"]["enum"]
    assert "DISCRETE_PAGINATION_LIMIT_EXCEEDED" not in codes
    assert "/crm/v8/{module_api_name}/{id}" in oas.docs["record.json"]["paths"]
    assert "400" not in oas.docs["record.json"]["paths"]["/crm/v8/{module_api_name}/{id}"]["get"]["responses"]
    files = oas.docs["files.json"]["paths"]["/crm/v8/files"]
    assert "415" not in files["post"]["responses"]
    assert "application/x-download" in files["get"]["responses"]["200"]["content"]
    errors = json.dumps(files["post"]["responses"]["400"]) + json.dumps(oas.docs["files.json"]["components"])
    assert "REQUIRED_PARAM_MISSING" not in errors
    assert 'INVALID_REQUEST"' not in errors
    download = oas.docs["field_attachments.json"]["paths"]
    (path,) = download.values()
    assert list(path["get"]["responses"]["400"]["content"]) == ["application/x-download"]
    assert "204" not in path["get"]["responses"]
    assert "401" not in json.dumps([oas.docs[name]["paths"] for name in ("files.json", "record.json")])


def test_the_checker_refuses_a_wrong_answer(oas):
    pointer = oas.pointer("files.json", "/crm/v8/files", "POST", 200)
    good = {
        "data": [
            {"code": "SUCCESS", "details": {"name": "a", "id": "b"}, "message": "m", "status": "success"}
        ]
    }
    assert oas.errors(good, "files.json", pointer) == []
    bad = {"data": [{"code": "SUCCESS", "details": {"name": "a"}, "message": "m", "status": "success"}]}
    assert oas.errors(bad, "files.json", pointer)
    entry = {"id": "1", "File_Id__s": "x", "Size__s": 12}  # Size__s is a string
    assert oas.errors(entry, "record.json", "/components/schemas/FileDetails")
