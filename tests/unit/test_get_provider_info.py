"""The provider is discovered by Airflow and its connection form is consistent on every path."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points

import pytest

from airflow_provider_zoho_attach.get_provider_info import get_provider_info
from airflow_provider_zoho_attach.hooks.zoho_crm import ZohoCRMHook
from airflow_provider_zoho_attach.utils.connection_form import CONN_FIELDS, UI_FIELD_BEHAVIOUR

DIST = "airflow-provider-zoho-attach"


def test_entry_point_points_at_get_provider_info():
    (ep,) = [ep for ep in entry_points(group="apache_airflow_provider") if ep.dist and ep.dist.name == DIST]
    assert ep.load() is get_provider_info


def test_package_name_is_the_distribution_name():
    info = get_provider_info()
    assert info["package-name"] == DIST
    assert info["name"]
    assert info["description"]


def test_connection_type_matches_the_hook():
    (conn_type,) = get_provider_info()["connection-types"]
    assert conn_type["connection-type"] == ZohoCRMHook.conn_type == "zoho_crm"
    assert conn_type["hook-class-name"] == f"{ZohoCRMHook.__module__}.{ZohoCRMHook.__qualname__}"
    assert conn_type["hook-name"] == ZohoCRMHook.hook_name
    assert ZohoCRMHook.conn_name_attr == "zoho_conn_id"
    assert ZohoCRMHook.default_conn_name == "zoho_crm_default"


def test_conn_fields_cover_the_design():
    fields = get_provider_info()["connection-types"][0]["conn-fields"]
    assert set(fields) == {
        "refresh_token",
        "data_center",
        "environment",
        "api_version",
        "accounts_url",
        "api_domain",
        "timeout",
        "max_concurrency",
        "oauth_cache",
        "max_retries",
        # Beyond design.md: issue 12 asks that a token naming another API host be refused unless
        # the user explicitly allows it.
        "allow_api_domain_mismatch",
        # Issue 17: watching within a budget.
        "daily_credit_budget",
    }
    assert fields["refresh_token"]["schema"]["format"] == "password"
    assert "enum" in fields["data_center"]["schema"]
    assert "ca" in fields["data_center"]["schema"]["enum"]
    assert fields["environment"]["schema"]["enum"] == ["production", "sandbox", "developer"]
    for spec in fields.values():
        assert spec["label"]
        assert "type" in spec["schema"]


def test_ui_field_behaviour_relabels_and_hides():
    behaviour = get_provider_info()["connection-types"][0]["ui-field-behaviour"]
    assert behaviour["relabeling"] == {"login": "Client ID", "password": "Client Secret"}
    assert {"host", "port", "schema"} <= set(behaviour["hidden-fields"])
    legacy = ZohoCRMHook.get_ui_field_behaviour()
    assert legacy["hidden_fields"] == behaviour["hidden-fields"]
    assert legacy["relabeling"] == behaviour["relabeling"]


def test_legacy_widgets_mirror_conn_fields():
    """Airflow 3.1 builds the form from the hook's WTForms fields under its mocks; same fields."""
    pytest.importorskip("airflow.api_fastapi.core_api.services.ui.connections")
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    with _mocked_wtforms(HookMetaService):
        widgets = ZohoCRMHook.get_connection_form_widgets()
    assert set(widgets) == set(CONN_FIELDS)
    param = widgets["data_center"].param
    assert param.schema["enum"] == CONN_FIELDS["data_center"]["schema"]["enum"]
    assert widgets["refresh_token"].param.schema["format"] == "password"
    assert widgets["max_concurrency"].param.schema["type"] == ["integer", "null"]
    assert UI_FIELD_BEHAVIOUR["relabeling"]["login"] == "Client ID"


def _mocked_wtforms(service):
    """Reproduce the mocks Airflow 3.1's HookMetaService installs when FAB is absent."""
    import contextlib
    import sys
    from importlib.util import find_spec
    from unittest import mock
    from unittest.mock import MagicMock

    stack = contextlib.ExitStack()
    modules = {}
    for name in (
        "wtforms",
        "wtforms.validators",
        "flask_babel",
        "flask_appbuilder",
        "flask_appbuilder.fieldwidgets",
    ):
        try:
            present = find_spec(name) is not None
        except ModuleNotFoundError:
            present = False
        if not present:
            modules[name] = MagicMock()
    stack.enter_context(mock.patch.dict(sys.modules, modules))
    for target, value in {
        "wtforms.StringField": service.MockStringField,
        "wtforms.IntegerField": service.MockIntegerField,
        "wtforms.PasswordField": service.MockPasswordField,
        "flask_babel.lazy_gettext": lambda text: text,
        "flask_appbuilder.fieldwidgets.BS3TextFieldWidget": service.MockAnyWidget,
        "flask_appbuilder.fieldwidgets.BS3PasswordFieldWidget": service.MockAnyWidget,
        "wtforms.validators.Optional": service.MockOptional,
        "wtforms.validators.any_of": service.MockEnum,
    }.items():
        stack.enter_context(mock.patch(target, value))
    return stack


def test_airflow_cli_lists_the_provider_and_its_hook():
    """
    What a user types: ``airflow providers hooks`` in a fresh interpreter.

    Its row for the connection type names the hook class and the distribution that registered it, so
    one command shows both that Airflow discovers the provider and that it knows the hook (``airflow
    providers list`` would start Airflow a second time to say the first half again).
    """
    out = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "hooks", "--output", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    rows = json.loads(out[out.index("[") :])
    (row,) = [row for row in rows if row["connection_type"] == "zoho_crm"]
    assert row["class"] == f"{ZohoCRMHook.__module__}.{ZohoCRMHook.__qualname__}"
    assert row["package_name"] == DIST
    assert row["hook_name"] == ZohoCRMHook.hook_name


def test_form_methods_are_on_the_registered_class_itself():
    """Airflow 3.1's ProvidersManager looks in ``hook_class.__dict__``: inherited methods are ignored."""
    assert "get_connection_form_widgets" in ZohoCRMHook.__dict__
    assert "get_ui_field_behaviour" in ZohoCRMHook.__dict__
