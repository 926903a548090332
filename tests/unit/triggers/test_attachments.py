"""The event trigger built from a ``zoho-crm`` asset URI (the watcher of the asset it names)."""

from __future__ import annotations

import pytest

from airflow_provider_zoho_attach.triggers.attachments import ZohoCRMAttachmentEventTrigger

URI = "zoho-crm://www.zohoapis.eu/deals/5725767000001234001/attachments"


def test_a_zoho_crm_asset_is_watched_by_the_trigger_it_names():
    from airflow.sdk import Asset, AssetWatcher

    trigger = ZohoCRMAttachmentEventTrigger.for_asset(URI, poll_interval=30, zoho_conn_id="zoho_eu")
    asset = Asset(URI, watchers=[AssetWatcher(name="deal_files", trigger=trigger)])

    assert asset.uri == "zoho-crm://www.zohoapis.eu/Deals/5725767000001234001/attachments"
    classpath, kwargs = trigger.serialize()
    assert classpath.endswith("ZohoCRMAttachmentEventTrigger")
    assert (kwargs["module"], kwargs["record_ids"]) == ("Deals", ["5725767000001234001"])
    assert (kwargs["poll_interval"], kwargs["zoho_conn_id"]) == (30.0, "zoho_eu")
    # The asset itself works as well as its URI.
    assert ZohoCRMAttachmentEventTrigger.for_asset(asset).serialize()[1]["record_ids"] == kwargs["record_ids"]


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("s3://bucket/Deals/1/attachments", "is not a zoho-crm:// asset URI"),
        ("zoho-crm://www.zohoapis.eu/Deals/1/attachments/2", "names no record's attachments"),
        ("zoho-crm://www.zohoapis.eu/Contacts/1/photo", "names no record's attachments"),
        ("zoho-crm://www.zohoapis.eu/Deals", "names no record's attachments"),
        ("zoho-crm://www.zohoapis.eu/Deals/abc/attachments", "is not a zoho-crm URI path"),
    ],
)
def test_a_uri_that_names_no_record_s_attachments_fails_the_dag_file(uri, message):
    with pytest.raises(ValueError, match=message):
        ZohoCRMAttachmentEventTrigger.for_asset(uri)


def test_stores_that_disagree_load_what_they_all_hold():
    """A save that reached one store only: an id the other does not hold comes again, never lost."""
    import asyncio

    from airflow_provider_zoho_attach.triggers.attachments import _StateStore

    class Stored:
        def __init__(self, value):
            self.value = value

        async def get(self):
            return self.value

    store = _StateStore.__new__(_StateStore)
    store.key, store.sleep = "k", asyncio.sleep
    store.backends = [
        Stored({"seen": {"1": ["a", "b"], "2": ["x"]}}),
        Stored(None),
        Stored('{"seen": {"1": ["a"], "3": []}}'),
    ]

    assert asyncio.run(store.load()) == {"1": ["a"], "2": ["x"], "3": []}
