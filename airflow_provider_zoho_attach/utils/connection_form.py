"""The ``zoho_crm`` connection form, defined once.

Airflow >= 3.2 reads the form declaratively from the provider info (``conn-fields`` and
``ui-field-behaviour``); Airflow 3.1 calls the hook's ``get_connection_form_widgets()`` and
``get_ui_field_behaviour()``. Both are derived from the tables below so they cannot drift apart.
This module must stay import-cheap: Airflow reads it whenever it discovers providers.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_zoho_attach.utils.datacenters import DATA_CENTERS, ENVIRONMENTS

__all__ = ["CONN_FIELDS", "UI_FIELD_BEHAVIOUR", "legacy_field_behaviour", "wtforms_widgets"]

CONN_FIELDS: dict[str, dict[str, Any]] = {
    "refresh_token": {
        "label": "Refresh token",
        "description": "OAuth refresh token from a Self Client in Zoho's API console (api-console.zoho.com).",
        "schema": {"type": ["string", "null"], "format": "password"},
    },
    "data_center": {
        "label": "Data centre",
        "description": "Where the Zoho org lives: the domain of its accounts server (zoho.com is 'us').",
        "schema": {"type": ["string", "null"], "default": "us", "enum": list(DATA_CENTERS)},
    },
    "environment": {
        "label": "Environment",
        "description": "Production org, sandbox or developer edition; tokens work only in their own.",
        "schema": {"type": ["string", "null"], "default": "production", "enum": list(ENVIRONMENTS)},
    },
    "api_version": {
        "label": "API version",
        "description": "Zoho CRM REST API version.",
        "schema": {"type": ["string", "null"], "default": "v8"},
    },
    "accounts_url": {
        "label": "Accounts URL (override)",
        "description": "Explicit OAuth accounts server (a proxy, the emulator). Empty: from the data centre.",
        "schema": {"type": ["string", "null"]},
    },
    "api_domain": {
        "label": "API domain (override)",
        "description": "Explicit API domain, e.g. for a proxy or the emulator. Empty: from the data centre.",
        "schema": {"type": ["string", "null"]},
    },
    "timeout": {
        "label": "Timeout (seconds)",
        "description": "Seconds to wait for each read of a response; connecting waits at most 10 s.",
        "schema": {"type": ["number", "null"], "default": 60, "minimum": 0},
    },
    "max_concurrency": {
        "label": "Max concurrency",
        "description": "Requests one task may have in flight at once (Zoho's smallest edition allows 5).",
        "schema": {"type": ["integer", "null"], "default": 5, "minimum": 1},
    },
    # Not "token_cache": Airflow masks the value of any extra whose name contains "token".
    "oauth_cache": {
        "label": "Token cache",
        "description": (
            "'variable' shares the access token between tasks through an Airflow Variable, and outside "
            "tasks through a per-user file (Zoho allows 10 new tokens per 10 minutes); 'file' always "
            "uses the per-user file; 'memory' caches per process; 'none' never caches."
        ),
        "schema": {
            "type": ["string", "null"],
            "default": "variable",
            "enum": ["variable", "file", "memory", "none"],
        },
    },
    "max_retries": {
        "label": "Max retries",
        "description": "Retries of a call that failed for a transient reason (5xx, 429, network).",
        "schema": {"type": ["integer", "null"], "default": 5, "minimum": 0},
    },
    # A string choice rather than a checkbox: Airflow 3.1's mocked WTForms knows no boolean field.
    "allow_api_domain_mismatch": {
        "label": "Allow another API domain in tokens",
        "description": (
            "'true' accepts access tokens that name another API domain than the data centre's (a "
            "proxy); calls still go to the configured domain. 'false' refuses them."
        ),
        "schema": {"type": ["string", "null"], "default": "false", "enum": ["false", "true"]},
    },
    "daily_credit_budget": {
        "label": "Daily credit budget for watching",
        "description": (
            "API credits per 24 hours that attachment watchers and deferred sensors of this connection "
            "may spend together; they spread their polls to stay inside it. Empty: no limit."
        ),
        "schema": {"type": ["integer", "null"], "minimum": 1},
    },
}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["host", "port", "schema"],
    "relabeling": {"login": "Client ID", "password": "Client Secret"},
    "placeholders": {
        "login": "1000.XXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
        "description": "Zoho CRM org used for attachments",
    },
}


def legacy_field_behaviour() -> dict[str, Any]:
    """Return :data:`UI_FIELD_BEHAVIOUR` in the snake_case form of ``get_ui_field_behaviour()``."""
    return {
        "hidden_fields": list(UI_FIELD_BEHAVIOUR["hidden-fields"]),
        "relabeling": dict(UI_FIELD_BEHAVIOUR["relabeling"]),
        "placeholders": dict(UI_FIELD_BEHAVIOUR["placeholders"]),
    }


def wtforms_widgets() -> dict[str, Any]:
    """
    Return :data:`CONN_FIELDS` as WTForms fields, for ``get_connection_form_widgets()``.

    Airflow 3.1 calls this with ``wtforms``/``flask_appbuilder`` replaced by mocks when FAB is not
    installed, so only the field types and validators those mocks know are used.
    """
    from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import IntegerField, PasswordField, StringField
    from wtforms.validators import Optional, any_of

    widgets: dict[str, Any] = {}
    for name, spec in CONN_FIELDS.items():
        schema = spec["schema"]
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        label = lazy_gettext(spec["label"])
        description = spec.get("description", "")
        default = schema.get("default")
        if schema.get("format") == "password":
            widgets[name] = PasswordField(label, widget=BS3PasswordFieldWidget(), description=description)
        elif "integer" in kinds or "number" in kinds:
            widgets[name] = IntegerField(
                label,
                validators=[Optional()],
                widget=BS3TextFieldWidget(),
                description=description,
                default=default,
            )
        else:
            validators: list[Any] = [Optional()]
            if "enum" in schema:
                validators.append(any_of(schema["enum"]))
            widgets[name] = StringField(
                label,
                validators=validators,
                widget=BS3TextFieldWidget(),
                description=description,
                default=default,
            )
    return widgets
