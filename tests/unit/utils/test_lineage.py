"""Lineage names and records (utils/lineage.py) and their OpenLineage datasets (utils/openlineage.py)."""

from __future__ import annotations

import copy
from urllib.parse import urlsplit

import pytest

from airflow_provider_zoho_attach.utils.lineage import (
    LineageDataset,
    LineageRecorder,
    ZohoResource,
    file_location,
    normalize_zoho_uri,
    parse_zoho_path,
    zoho_host,
    zoho_namespace,
)

API = "https://www.zohoapis.eu"


@pytest.mark.parametrize(
    ("api_domain", "host"),
    [
        ("https://www.zohoapis.eu", "www.zohoapis.eu"),
        ("https://WWW.ZohoAPIs.com:443/", "www.zohoapis.com"),
        ("http://127.0.0.1:8765", "127.0.0.1:8765"),
        ("http://127.0.0.1:80", "127.0.0.1"),
        ("www.zohoapis.in", "www.zohoapis.in"),
        ("https://user@sandbox.zohoapis.com", "sandbox.zohoapis.com"),
    ],
)
def test_the_namespace_is_the_api_host(api_domain, host):
    assert zoho_host(api_domain) == host
    assert zoho_namespace(api_domain) == f"zoho-crm://{host}"


def test_a_namespace_needs_a_host():
    with pytest.raises(ValueError, match="API host"):
        zoho_host("https://")


@pytest.mark.parametrize(
    ("path", "name", "kind"),
    [
        ("Deals/123/attachments", "Deals/123/attachments", "attachments"),
        ("/deals/123/attachments/456", "Deals/123/attachments/456", "attachments"),
        ("salesorders/1/attachments", "Sales_Orders/1/attachments", "attachments"),
        ("Contacts/9/photo", "Contacts/9/photo", "photo"),
        ("Deals/1/fields/Signed_Contract", "Deals/1/fields/Signed_Contract", "fields"),
        ("Deals/1/fields/Signed_Contract/77", "Deals/1/fields/Signed_Contract/77", "fields"),
        ("Deals", "Deals", "records"),
        ("My_Custom_Module/5/attachments", "My_Custom_Module/5/attachments", "attachments"),
    ],
)
def test_zoho_paths_are_checked_and_normalised(path, name, kind):
    resource = parse_zoho_path(path)
    assert resource.name == name
    assert resource.kind == kind


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("Deals/12a/attachments", "record_id"),
        ("Deals/1/attachments/x", "attachment_id"),
        ("Deals/1/notes", "zoho-crm URI path"),
        ("Deals/1", "zoho-crm URI path"),
        ("Deals/1/photo/2", "zoho-crm URI path"),
        ("Deals/1/attachments/2/3", "zoho-crm URI path"),
        ("Deal s/1/attachments", "module"),
        ("Deal/1/attachments", "Deals"),  # a typo of a standard module is not taken for a custom one
        ("Deals/1/fields/bad-name", "field API name"),
        ("", "module"),
    ],
)
def test_bad_zoho_paths_say_what_is_wrong(path, says):
    with pytest.raises(ValueError, match=says):
        parse_zoho_path(path)


def test_a_uri_is_normalised_host_and_module():
    parts = normalize_zoho_uri(urlsplit("zoho-crm://WWW.ZohoApis.EU:443/deals/1/attachments"))
    assert parts.geturl() == "zoho-crm://www.zohoapis.eu/Deals/1/attachments"


@pytest.mark.parametrize("uri", ["zoho-crm:///Deals/1/attachments", "zoho-crm://h/Deals/1/attachments?x=1"])
def test_a_uri_needs_a_host_and_no_query(uri):
    with pytest.raises(ValueError, match="zoho-crm URI"):
        normalize_zoho_uri(urlsplit(uri))


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/data/in/a.pdf", ("file://worker-1", "/data/in/a.pdf")),
        ("file:///data/in/a.pdf", ("file://worker-1", "/data/in/a.pdf")),
        ("s3://bucket/zoho/a.pdf", ("s3://bucket", "zoho/a.pdf")),
        ("s3://aws_conn@bucket/zoho/a.pdf", ("s3://bucket", "zoho/a.pdf")),
        ("gcs://bucket/a.pdf", ("gs://bucket", "a.pdf")),
        ("gs://bucket/a.pdf", ("gs://bucket", "a.pdf")),
        ("memory://bucket/a.pdf", ("memory://bucket", "a.pdf")),
    ],
)
def test_files_and_objects_use_their_usual_namespaces(location, expected):
    assert file_location(location, hostname="worker-1") == expected


def test_a_relative_local_path_is_named_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert file_location("in/a.pdf", hostname="h") == ("file://h", str(tmp_path / "in" / "a.pdf"))


def test_a_local_file_is_on_the_host_airflow_names(monkeypatch):
    monkeypatch.setenv("AIRFLOW__CORE__HOSTNAME_CALLABLE", "socket.gethostname")
    import socket

    assert file_location("/x")[0] == f"file://{socket.gethostname()}"


def _recorder() -> LineageRecorder:
    return LineageRecorder(API)


def test_a_download_reads_the_zoho_file_and_writes_the_local_one():
    recorder = _recorder()
    result = {
        "module": "Deals",
        "record_id": "1",
        "attachment_id": "2",
        "file_name": "a.pdf",
        "path": "s3://bucket/in/a.pdf",
        "size": 3,
        "sha256": "ab",
        "content_type": "application/pdf",
        "status": "downloaded",
    }
    recorder.downloaded(result)
    (source,) = recorder.inputs
    (target,) = recorder.outputs
    assert (source.namespace, source.name) == ("zoho-crm://www.zohoapis.eu", "Deals/1/attachments/2")
    assert (source.file_name, source.size, source.sha256, source.kind) == ("a.pdf", 3, "ab", "attachment")
    assert (target.namespace, target.name, target.size) == ("s3://bucket", "in/a.pdf", 3)


def test_a_field_file_and_a_photo_have_their_own_names():
    recorder = _recorder()
    recorder.downloaded(
        {"module": "Deals", "record_id": "1", "attachment_id": "7", "field": "Contract", "path": "/x/c.pdf"}
    )
    recorder.uploaded(
        {"module": "Leads", "record_id": "3", "file_name": "p.png", "size": 4}, "/x/p.png", kind="photo"
    )
    assert [d.name for d in recorder.inputs] == ["Deals/1/fields/Contract/7", "/x/p.png"]
    assert recorder.outputs[1].name == "Leads/3/photo"
    assert recorder.outputs[1].kind == "photo"


def test_a_link_has_no_source_file():
    recorder = _recorder()
    recorder.uploaded(
        {"module": "Deals", "record_id": "1", "attachment_id": "2", "link_url": "https://x"}, "ignored"
    )
    assert recorder.inputs == []
    assert recorder.outputs[0].kind == "link"


def test_a_delete_is_a_dropped_input():
    recorder = _recorder()
    recorder.deleted({"module": "Deals", "record_id": "1", "attachment_id": "2", "status": "deleted"})
    assert recorder.outputs == []
    assert recorder.inputs[0].dropped


def test_a_listing_reads_each_record_with_zoho_keys():
    recorder = _recorder()
    recorder.listed(
        "Deals", "1", [{"id": "2", "File_Name": "a.pdf", "Size": "10"}, {"id": "3", "$type": "Link URL"}]
    )
    assert [(d.name, d.file_name, d.size, d.kind) for d in recorder.inputs] == [
        ("Deals/1/attachments/2", "a.pdf", 10, "attachment"),
        ("Deals/1/attachments/3", None, None, "link"),
    ]


def test_a_mirror_reports_its_records_and_output_statistics():
    recorder = _recorder()
    recorder.mirrored("s3://bucket/mirror/", files=12, size=3456, records=[("Deals", "1"), ("Deals", 2)])
    assert [d.name for d in recorder.inputs] == ["Deals/1/attachments", "Deals/2/attachments"]
    (target,) = recorder.outputs
    assert (target.namespace, target.name, target.file_count, target.size) == (
        "s3://bucket",
        "mirror/",
        12,
        3456,
    )


def test_a_recorder_survives_the_deep_copies_airflow_makes():
    recorder = _recorder()
    recorder.read(LineageDataset("s3://b", "k"))
    clone = copy.deepcopy(recorder)
    assert clone.inputs == recorder.inputs
    clone.read(LineageDataset("s3://b", "other"))
    assert len(recorder.inputs) == 1


def test_the_resource_of_a_result():
    assert (
        ZohoResource.of({"module": "Deals", "record_id": 1, "attachment_id": 2}).name
        == "Deals/1/attachments/2"
    )
    assert ZohoResource.of({"module": "Deals", "record_id": 1}, "photo").name == "Deals/1/photo"


# --- OpenLineage datasets (needs the openlineage extra) ---------------------------------------------


@pytest.fixture
def openlineage():
    pytest.importorskip("airflow.providers.openlineage")
    from airflow_provider_zoho_attach.utils import openlineage

    return openlineage


def _json(obj):
    import json

    from openlineage.client.serde import Serde

    return json.loads(Serde.to_json(obj))


def test_a_zoho_file_carries_standard_facets_and_ours(openlineage):
    dataset = LineageDataset(
        "zoho-crm://www.zohoapis.eu",
        "Deals/1/attachments/2",
        "a.pdf",
        3,
        "ab",
        "application/pdf",
        "attachment",
    )
    data = _json(openlineage.input_dataset(dataset))
    facets = data["facets"]
    assert facets["datasetType"]["datasetType"] == "FILE"
    assert facets["version"]["datasetVersion"] == "sha256:ab"
    assert facets["datasource"]["uri"] == "zoho-crm://www.zohoapis.eu"
    assert {k: v for k, v in facets["zohoCrmFile"].items() if not k.startswith("_")} == {
        "kind": "attachment",
        "fileName": "a.pdf",
        "size": 3,
        "sha256": "ab",
        "contentType": "application/pdf",
    }
    assert facets["zohoCrmFile"]["_schemaURL"] == openlineage.FACET_SCHEMA_URL
    assert data["inputFacets"]["inputStatistics"]["size"] == 3
    assert data["inputFacets"]["inputStatistics"]["fileCount"] == 1


def test_a_dropped_file_has_a_drop_lifecycle_change(openlineage):
    dataset = LineageDataset("zoho-crm://h", "Deals/1/attachments/2", dropped=True)
    facets = _json(openlineage.input_dataset(dataset))["facets"]
    assert facets["lifecycleStateChange"]["lifecycleStateChange"] == "DROP"
    assert facets["lifecycleStateChange"]["previousIdentifier"] == {
        "namespace": "zoho-crm://h",
        "name": "Deals/1/attachments/2",
    }


def test_a_mirror_destination_has_output_statistics(openlineage):
    recorder = _recorder()
    recorder.mirrored("/data/mirror", files=12, size=3456)
    data = _json(openlineage.output_dataset(recorder.outputs[0]))
    stats = data["outputFacets"]["outputStatistics"]
    assert (stats["fileCount"], stats["size"]) == (12, 3456)
    assert "datasetType" not in data["facets"]  # a directory, not a file


def test_operator_lineage_reports_each_dataset_once(openlineage):
    recorder = _recorder()
    recorder.read(LineageDataset("s3://b", "k", size=1), LineageDataset("s3://b", "k", size=2))
    lineage = openlineage.operator_lineage(recorder)
    assert [(d.name, d.inputFacets["inputStatistics"].size) for d in lineage.inputs] == [("k", 1)]
    assert openlineage.operator_lineage(None).inputs == []


def test_written_assets_are_one_per_record_and_one_per_file():
    recorder = _recorder()
    for ident, size in (("2", 3), ("3", 4)):
        recorder.uploaded({"module": "Deals", "record_id": "1", "attachment_id": ident, "size": size}, "/x/a")
    recorder.uploaded({"module": "Leads", "record_id": "5", "size": 7}, "/x/p.png", kind="photo")
    recorder.wrote(LineageDataset("s3://bucket", "zoho/a.pdf", size=3, sha256="ab"))
    assert recorder.written_assets() == [
        ("zoho-crm://www.zohoapis.eu/Deals/1/attachments", {"attachment_ids": ["2", "3"], "bytes": 7}),
        ("zoho-crm://www.zohoapis.eu/Leads/5/photo", {"attachment_ids": [], "bytes": 7}),
        ("s3://bucket/zoho/a.pdf", {"size": 3, "sha256": "ab"}),
    ]


def test_a_field_file_counts_for_its_field():
    recorder = _recorder()
    recorder.uploaded(
        {"module": "Deals", "record_id": "1", "attachment_id": "9", "field": "Contract"}, "/x/c.pdf"
    )
    assert recorder.written_assets()[0][0] == "zoho-crm://www.zohoapis.eu/Deals/1/fields/Contract"
