"""The zoho-crm asset URI scheme as Airflow sees it: registered, normalised, made and converted."""

from __future__ import annotations

import pytest
from airflow.sdk import Asset

from airflow_provider_zoho_attach.assets import zoho_crm
from airflow_provider_zoho_attach.get_provider_info import get_provider_info


def test_the_scheme_is_in_the_provider_info():
    (entry,) = get_provider_info()["asset-uris"]
    module = "airflow_provider_zoho_attach.assets.zoho_crm"
    assert entry == {
        "schemes": ["zoho-crm"],
        "handler": f"{module}.sanitize_uri",
        "factory": f"{module}.create_asset",
        "to_openlineage_converter": f"{module}.convert_asset_to_openlineage",
    }


def test_airflow_registers_the_handler_factory_and_converter():
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    manager = ProvidersManagerTaskRuntime()
    assert manager.asset_uri_handlers["zoho-crm"] is zoho_crm.sanitize_uri
    assert manager.asset_factories["zoho-crm"] is zoho_crm.create_asset
    assert manager.asset_to_openlineage_converters["zoho-crm"] is zoho_crm.convert_asset_to_openlineage


def test_a_watched_record_is_a_valid_normalised_asset():
    asset = Asset("zoho-crm://WWW.ZohoApis.EU:443/deals/5725767000001234001/attachments/")
    assert asset.uri == "zoho-crm://www.zohoapis.eu/Deals/5725767000001234001/attachments"
    # The same record however it is spelled: one asset, so one event reaches every consumer.
    assert Asset("zoho-crm://www.zohoapis.eu/Deals/5725767000001234001/attachments").uri == asset.uri


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("zoho-crm://www.zohoapis.eu/Deals/12a/attachments", "record_id"),
        ("zoho-crm://www.zohoapis.eu/Deals/1/notes", "zoho-crm URI path"),
        ("zoho-crm://www.zohoapis.eu/Deal/1/attachments", "Deals"),
        ("zoho-crm:///Deals/1/attachments", "API host"),
    ],
)
def test_a_bad_asset_fails_the_dag_file_with_what_to_fix(uri, says):
    with pytest.raises(ValueError, match=says):
        Asset(uri)


def test_the_factory_makes_the_same_asset_as_a_uri():
    made = zoho_crm.create_asset(host="https://www.zohoapis.eu", module="deals", record_id=1, attachment_id=2)
    assert made == Asset("zoho-crm://www.zohoapis.eu/Deals/1/attachments/2")
    by_path = zoho_crm.create_asset(host="www.zohoapis.eu", path="Deals/1/attachments", extra={"a": 1})
    assert by_path.uri == "zoho-crm://www.zohoapis.eu/Deals/1/attachments"
    assert by_path.extra == {"a": 1}
    with pytest.raises(ValueError, match="record_id"):
        zoho_crm.create_asset(host="h", module="Deals")


def test_openlineage_translates_the_asset_through_the_converter():
    pytest.importorskip("airflow.providers.openlineage")
    from airflow.providers.openlineage.utils.utils import translate_airflow_asset

    asset = Asset(
        "zoho-crm://www.zohoapis.eu/Deals/1/attachments/2",
        extra={"file_name": "a.pdf", "size": 3, "sha256": "ab"},
    )
    dataset = translate_airflow_asset(asset, None)
    assert (dataset.namespace, dataset.name) == ("zoho-crm://www.zohoapis.eu", "Deals/1/attachments/2")
    assert dataset.facets["zohoCrmFile"].fileName == "a.pdf"
    assert dataset.facets["version"].datasetVersion == "sha256:ab"
    record = translate_airflow_asset(Asset("zoho-crm://www.zohoapis.eu/Deals/1/attachments"), None)
    assert record.name == "Deals/1/attachments"
    assert "datasetType" not in record.facets  # a record's attachments, not one file
