"""The hook reports its transfers to Airflow's hook lineage collector, as ``S3Hook`` does."""

from __future__ import annotations

import hashlib

import pytest

from airflow_provider_zoho_attach.utils import lineage

pytestmark = pytest.mark.integration


@pytest.fixture
def collector(monkeypatch):
    """A real collector: what Airflow builds when a hook lineage reader (OpenLineage) is installed."""
    from airflow.sdk.lineage import HookLineageCollector

    collector = HookLineageCollector()
    monkeypatch.setattr(lineage, "_hook_lineage_collector", lambda: collector)
    return collector


def _entries(infos):
    return [(info.asset.uri, info.asset.extra) for info in infos]


def test_a_download_reads_the_zoho_file_and_writes_the_local_file(collector, hook, zoho_emulator, tmp_path):
    deal = zoho_emulator.add_record("Deals")
    attachment = zoho_emulator.add_attachment("Deals", deal, "a.pdf", b"%PDF a")
    result = hook.download_attachment("Deals", deal, attachment, tmp_path / "in", directory=True)
    host = zoho_emulator.url.split("://", 1)[1]
    digest = hashlib.sha256(b"%PDF a").hexdigest()
    extra = {"file_name": "a.pdf", "size": 6, "sha256": digest, "content_type": result["content_type"]}
    collected = collector.collected_assets
    assert _entries(collected.inputs) == [(f"zoho-crm://{host}/Deals/{deal}/attachments/{attachment}", extra)]
    assert _entries(collected.outputs) == [(f"file://{tmp_path}/in/a.pdf", extra)]
    assert collected.inputs[0].context is hook


def test_uploads_photos_and_field_files_are_reported(
    collector, hook, zoho_emulator, zoho_deal_with_files, tmp_path
):
    from airflow_provider_zoho_attach.testing._emulator_seed import tiny_png

    deal = zoho_deal_with_files["record_id"]
    source = tmp_path / "b.txt"
    source.write_bytes(b"bee")
    uploaded = hook.upload_attachment("Deals", deal, source)
    face = tmp_path / "face.png"
    face.write_bytes(tiny_png(4, 4))
    hook.upload_photo("Deals", deal, face)
    (field_file,) = hook.attach_to_field("Deals", deal, "Supporting_Documents", [source])
    hook.attach_link("Deals", deal, "https://example.com/spec", title="Spec")
    host = zoho_emulator.url.split("://", 1)[1]
    uris = [uri for uri, _ in _entries(collector.collected_assets.outputs)]
    assert uris[:3] == [
        f"zoho-crm://{host}/Deals/{deal}/attachments/{uploaded['attachment_id']}",
        f"zoho-crm://{host}/Deals/{deal}/photo",
        f"zoho-crm://{host}/Deals/{deal}/fields/Supporting_Documents/{field_file['attachment_id']}",
    ]
    assert uris[3].startswith(f"zoho-crm://{host}/Deals/{deal}/attachments/")  # the link
    # The same file was read twice (attachment, field file): the collector counts it once per hook.
    assert _entries(collector.collected_assets.inputs) == [
        (f"file://{source}", {"file_name": "b.txt", "size": 3, "sha256": hashlib.sha256(b"bee").hexdigest()}),
        (
            f"file://{face}",
            {
                "file_name": "face.png",
                "size": face.stat().st_size,
                "sha256": hashlib.sha256(face.read_bytes()).hexdigest(),
            },
        ),
    ]


def test_openlineage_reads_the_collected_zoho_files(collector, hook, zoho_emulator, tmp_path):
    pytest.importorskip("airflow.providers.openlineage")
    from airflow.providers.openlineage.utils.utils import translate_airflow_asset

    deal = zoho_emulator.add_record("Deals")
    attachment = zoho_emulator.add_attachment("Deals", deal, "a.pdf", b"%PDF a")
    hook.download_attachment("Deals", deal, attachment, tmp_path, directory=True)
    (info,) = collector.collected_assets.inputs
    dataset = translate_airflow_asset(info.asset, info.context)
    assert dataset.name == f"Deals/{deal}/attachments/{attachment}"
    assert dataset.facets["zohoCrmFile"].fileName == "a.pdf"


def test_nothing_is_built_when_nobody_collects(monkeypatch, hook, zoho_emulator, tmp_path):
    from airflow.sdk.lineage import NoOpCollector

    monkeypatch.setattr(lineage, "_hook_lineage_collector", NoOpCollector)

    def fail(*args, **kwargs):
        raise AssertionError("a lineage record was built for no reader")

    monkeypatch.setattr(lineage, "LineageRecorder", fail)
    deal = zoho_emulator.add_record("Deals")
    attachment = zoho_emulator.add_attachment("Deals", deal, "a.pdf", b"%PDF a")
    assert hook.download_attachment("Deals", deal, attachment, tmp_path, directory=True)["size"] == 6


def test_a_lineage_failure_never_fails_the_transfer(monkeypatch, hook, zoho_emulator, tmp_path):
    def broken():
        raise RuntimeError("collector is broken")

    monkeypatch.setattr(lineage, "_hook_lineage_collector", broken)
    deal = zoho_emulator.add_record("Deals")
    attachment = zoho_emulator.add_attachment("Deals", deal, "a.pdf", b"%PDF a")
    assert hook.download_attachment("Deals", deal, attachment, tmp_path, directory=True)["size"] == 6
