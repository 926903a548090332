"""
The ``zoho_crm`` connection form in a real browser: Playwright's Python package drives Debian's
chromium (``/usr/bin/chromium``; Playwright never downloads a browser here) against the running
api-server. Screenshots are saved under ``test-artifacts/``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_zoho_attach.utils.connection_form import CONN_FIELDS, UI_FIELD_BEHAVIOUR
from tests.deployment._deployment import SUMMARY, Deployment

pytestmark = [pytest.mark.deployment]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CONN_ID = "zoho_crm_from_ui"
#: Fields the form must show for the type, besides Connection ID/Type and Description.
STANDARD_LABELS = ["Client ID", "Client Secret"]
EXTRA_LABELS = [spec["label"] for spec in CONN_FIELDS.values()]
SELECTS = [spec["label"] for spec in CONN_FIELDS.values() if "enum" in spec["schema"]]
HIDDEN = ["host", "port", "schema"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless chromium (Debian's), closed after the module."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is missing: run `bash scripts/ensure-chromium.sh` (make test-e2e does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _field(dialog: Any, label: str) -> Any:
    """The form row (a chakra field group) whose label is ``label``."""
    from playwright.sync_api import expect

    row = dialog.get_by_role("group").filter(has=dialog.page.locator("label").get_by_text(label, exact=True))
    expect(row).to_have_count(1)
    return row


def test_connection_form_creates_a_working_zoho_connection(
    deployment: Deployment, zoho: Any, browser: Any, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=20_000)  # the machine may be busy
    # What the UI builds the form from: provider info (Airflow >= 3.2) or the hook's methods (3.1).
    metadata = deployment.api("GET", "/ui/connections/hook_meta", prefix="")
    zoho_crm = next((item for item in metadata if item["connection_type"] == "zoho_crm"), None)
    assert zoho_crm is not None, "the zoho_crm connection type is not registered"
    assert all((zoho_crm["extra_fields"], zoho_crm["standard_fields"])), (
        f"Airflow {'.'.join(map(str, deployment.airflow_version))} has no form metadata for zoho_crm "
        f"(Airflow 3.1 reads get_connection_form_widgets/get_ui_field_behaviour from the hook class's "
        f"own __dict__, not from a base class): {zoho_crm}"
    )
    page = browser.new_page(viewport={"width": 1400, "height": 2200})
    page.set_default_timeout(30_000)
    try:
        for _ in range(2):  # Airflow 3.1 lands on the home page after the automatic all-admins login
            page.goto(f"{deployment.url}/connections")
            page.wait_for_load_state("networkidle")
            if page.url.endswith("/connections"):
                break
        assert page.url.endswith("/connections"), f"the UI did not open the connections page: {page.url}"
        page.get_by_role("button", name="Add Connection").click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_be_visible()
        dialog.locator("input[name='connection_id']").fill(CONN_ID)
        combo = dialog.get_by_role("combobox").first
        combo.click()
        combo.fill("Zoho")
        page.get_by_role("option", name="Zoho CRM", exact=True).click()

        # Standard fields: login/password relabelled, host/port/schema hidden.
        for label in STANDARD_LABELS:
            expect(_field(dialog, label)).to_be_visible()
        for name in HIDDEN:
            expect(dialog.locator(f"[name='{name}']")).to_have_count(0)
        for label in ("Host", "Port", "Schema", "Login", "Password"):
            expect(dialog.locator("label").get_by_text(label, exact=True)).to_have_count(0)
        expect(dialog.locator("input[name='login']")).to_have_attribute(
            "placeholder", UI_FIELD_BEHAVIOUR["placeholders"]["login"]
        )
        dialog.locator("input[name='login']").fill(zoho.client_id)
        dialog.locator("input[name='password']").fill(zoho.client_secret)
        page.screenshot(path=str(artifacts / "connection-form-1-zoho-crm-standard-fields.png"))

        # Extra fields, with their labels, selects and defaults.
        dialog.get_by_text("Extra Fields", exact=True).click()
        for label in EXTRA_LABELS:
            expect(_field(dialog, label)).to_be_visible()
        expect(dialog.locator("input[name='element_api_version']")).to_have_value("v8")
        if deployment.airflow_version >= (3, 2):  # 3.1's form shows format=password fields in clear
            expect(dialog.locator("input[name='element_refresh_token']")).to_have_attribute(
                "type", "password"
            )
        for label in SELECTS:
            expect(_field(dialog, label).get_by_role("combobox")).to_have_count(1)
        expect(_field(dialog, "Data centre").get_by_text("us", exact=True).first).to_be_visible()
        expect(_field(dialog, "Environment").get_by_text("production", exact=True).first).to_be_visible()
        _field(dialog, "Data centre").get_by_role("combobox").click()
        expect(page.get_by_role("option")).to_have_text(CONN_FIELDS["data_center"]["schema"]["enum"])
        page.get_by_role("option", name="us", exact=True).click()  # (Escape would close the dialog)

        dialog.locator("input[name='element_refresh_token']").fill(zoho.refresh_token)
        dialog.locator("input[name='element_accounts_url']").fill(zoho.url)
        dialog.locator("input[name='element_api_domain']").fill(zoho.url)
        # The default is shown as is, not masked (the extra's name does not look like a secret).
        expect(_field(dialog, "Token cache").get_by_text("variable", exact=True).first).to_be_visible()
        page.screenshot(path=str(artifacts / "connection-form-2-extra-fields.png"))

        dialog.get_by_role("button", name="Save").click()
        expect(page.get_by_text("Connection has been successfully created.").first).to_be_visible()
        expect(dialog).to_be_hidden()
        row = page.get_by_role("row").filter(has_text=CONN_ID)
        expect(row).to_have_count(1)
        page.screenshot(
            path=str(artifacts / "connection-form-3-after-save.png"),
            clip={"x": 0, "y": 0, "width": 1400, "height": 700},
        )
    finally:
        page.close()

    # What the form stored (secrets are masked by the API).
    saved = deployment.api("GET", f"/connections/{CONN_ID}")
    assert saved["conn_type"] == "zoho_crm"
    assert saved["login"] == zoho.client_id
    assert (saved["host"], saved["port"], saved["schema"]) == (None, None, None)
    extra = json.loads(saved["extra"])
    assert extra["accounts_url"] == zoho.url
    assert extra["api_domain"] == zoho.url
    assert extra["data_center"] == "us"
    assert extra["oauth_cache"] == "variable"

    # Test Connection against the emulator, with the stored secrets (the api-server merges them).
    # Not the list's "Test Connection" button: in Airflow 3.3.2 it posts host "" and port 0 for a
    # connection without host and port, which the API refuses (400, "host or port ... differs").
    before = zoho.token_calls
    result = deployment.api(
        "POST", "/connections/test", json={"connection_id": CONN_ID, "conn_type": "zoho_crm"}
    )
    assert result["status"] is True, result
    assert "Connected to Zoho CRM" in result["message"]
    calls = zoho.token_calls - before
    SUMMARY["token_calls_outside_tasks"] = SUMMARY.get("token_calls_outside_tasks", 0) + calls
    # The api-server is no task: it keeps its token in memory, so it needs one of its own.
    assert calls <= 1


def test_connection_form_defaults_are_not_masked(deployment: Deployment) -> None:
    """
    Airflow masks form values whose field name looks sensitive ("token", "secret"...).

    The cache extra was first named ``token_cache``: its default reached the form as '***' and a
    connection saved without touching it stored '***'. It is ``oauth_cache`` now.
    """
    metadata = deployment.api("GET", "/ui/connections/hook_meta", prefix="")
    zoho_crm = next(item for item in metadata if item["connection_type"] == "zoho_crm")
    masked = {
        name: field["value"]
        for name, field in zoho_crm["extra_fields"].items()
        if field["value"] == "***" and field["schema"].get("format") != "password"
    }
    assert masked == {}
