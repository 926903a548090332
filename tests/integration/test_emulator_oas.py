"""
The emulator's answers against Zoho's own OpenAPI files (``zoho/crm-oas``, v8.0).

Each answer is checked against the schema the OAS gives for its path, method and status. Where the
OAS itself is wrong, the test names the defect (:data:`_oas.DEFECTS`) and checks what the OAS
meant instead.
"""

from __future__ import annotations

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
