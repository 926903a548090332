"""The Zoho CRM hook: OAuth, requests, pagination, transfers."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook

from airflow_provider_zoho_attach.utils.connection_form import legacy_field_behaviour, wtforms_widgets
from airflow_provider_zoho_attach.utils.settings import CONN_TYPE, DEFAULT_CONN_ID, ZohoCRMSettings


class ZohoCRMHook(BaseHook):
    """
    Talk to Zoho CRM's attachments, photo and OAuth endpoints.

    :param zoho_conn_id: the ``zoho_crm`` connection to use.
    """

    conn_name_attr = "zoho_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = "Zoho CRM"

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Return the connection form's extra fields (read by Airflow 3.1)."""
        return wtforms_widgets()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Return the relabelled and hidden standard fields (read by Airflow 3.1)."""
        return legacy_field_behaviour()

    def __init__(self, zoho_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.zoho_conn_id = zoho_conn_id

    @cached_property
    def settings(self) -> ZohoCRMSettings:
        """The checked settings of the connection (read once, on first use)."""
        return ZohoCRMSettings.from_connection(self.get_connection(self.zoho_conn_id))
