"""Provider metadata, found by Airflow through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from airflow_provider_zoho_attach.utils.connection_form import CONN_FIELDS, UI_FIELD_BEHAVIOUR

PACKAGE = "airflow_provider_zoho_attach"
INTEGRATION = "Zoho CRM"


def get_provider_info() -> dict[str, Any]:
    """Return the provider's metadata in the shape of Airflow's ``provider_info.schema.json``."""
    return {
        # Must equal the distribution name: Airflow's discovery refuses the provider otherwise.
        "package-name": "airflow-provider-zoho-attach",
        "name": "Zoho CRM Attachments",
        "description": (
            "Move files in and out of `Zoho CRM <https://www.zoho.com/crm/>`__ records: list, upload, "
            "download and delete attachments and record photos, wait for new attachments, and trigger "
            "DAGs when one arrives."
        ),
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": "https://www.zoho.com/crm/developer/docs/api/v8/",
                "tags": ["service"],
            }
        ],
        "operators": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    f"{PACKAGE}.operators.attachments",
                    f"{PACKAGE}.operators.field_files",
                    f"{PACKAGE}.operators.mirror",
                    f"{PACKAGE}.operators.photos",
                    f"{PACKAGE}.operators.records",
                ],
            }
        ],
        "sensors": [{"integration-name": INTEGRATION, "python-modules": [f"{PACKAGE}.sensors.attachments"]}],
        "hooks": [{"integration-name": INTEGRATION, "python-modules": [f"{PACKAGE}.hooks.zoho_crm"]}],
        "triggers": [
            {"integration-name": INTEGRATION, "python-modules": [f"{PACKAGE}.triggers.attachments"]}
        ],
        "extra-links": [f"{PACKAGE}.links.zoho_crm.ZohoCRMRecordLink"],
        "connection-types": [
            {
                "connection-type": "zoho_crm",
                "hook-class-name": f"{PACKAGE}.hooks.zoho_crm.ZohoCRMHook",
                "hook-name": INTEGRATION,
                "conn-fields": CONN_FIELDS,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
    }
