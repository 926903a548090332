"""The deal-documents example end to end: attachments and field files into one folder, then a field filled."""

from __future__ import annotations

import pytest

from tests.e2e._examples import load_example
from tests.e2e.conftest import run_dag, task_states, xcom

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


@pytest.mark.zoho_emulator(seed="demo")
def test_the_deal_documents_example_collects_and_files(airflow_db, zoho_emulator_connection, tmp_path):
    emu = zoho_emulator_connection
    deal = "5725767000000100001"
    attachments = [a["File_Name"] for a in emu.attachments("Deals", deal) if not a.get("$link_url")]
    field_files = emu.files.field_files("Deals", deal)
    (contract,) = [e for e in field_files if e["field"] == "Signed_Contract"]
    contract_bytes = emu.files.content(contract["id"])
    new_contract = tmp_path / "signed-v2.pdf"
    new_contract.write_bytes(b"%PDF-1.7 countersigned")
    destination = tmp_path.as_uri() + "/{module}/{record_id}/"

    run = run_dag(
        load_example("example_zoho_deal_documents.py").dag,
        run_conf={"destination": destination, "signed_contract": str(new_contract)},
    )

    assert task_states(run) == {"collect_deal_documents": "success", "file_signed_contract": "success"}
    collected = xcom(run, "collect_deal_documents")
    folder = tmp_path / "Deals" / deal
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        {*attachments, *(e["File_Name__s"] for e in field_files)}
    )
    assert {r.get("field") for r in collected} == {None, "Signed_Contract", "Photos"}
    assert (folder / contract["File_Name__s"]).read_bytes() == contract_bytes
    (filed,) = xcom(run, "file_signed_contract")
    (now,) = emu.files.field_files("Deals", deal, "Signed_Contract")
    assert filed["attachment_id"] == now["id"] != contract["id"]
    assert emu.files.content(now["id"]) == b"%PDF-1.7 countersigned"


@pytest.mark.zoho_emulator(seed="demo")
def test_a_rerun_of_the_example_changes_nothing(airflow_db, zoho_emulator_connection, tmp_path):
    emu = zoho_emulator_connection
    conf = {"destination": tmp_path.as_uri() + "/{module}/{record_id}/"}
    run_dag(load_example("example_zoho_deal_documents.py").dag, run_conf=conf)
    before = emu.files.field_files("Deals", "5725767000000100001")
    emu.reset_log()

    again = run_dag(load_example("example_zoho_deal_documents.py").dag, run_conf=conf)

    assert set(task_states(again).values()) == {"success"}
    assert {r["status"] for r in xcom(again, "collect_deal_documents")} == {"unchanged"}
    assert [r["status"] for r in xcom(again, "file_signed_contract")] == ["skipped"]
    assert emu.files.field_files("Deals", "5725767000000100001") == before
    assert emu.count("POST", "/files") == 0
    assert emu.count("PUT") == 0


@pytest.mark.zoho_emulator(seed="demo")
def test_the_field_upload_operator_maps_over_records(airflow_db, zoho_emulator_connection, tmp_path):
    import pendulum
    from airflow.sdk import DAG

    from airflow_provider_zoho_attach.operators.field_files import ZohoCRMUploadFieldFilesOperator

    emu = zoho_emulator_connection
    deals = [emu.add_record("Deals") for _ in range(2)]
    terms = tmp_path / "terms.pdf"
    terms.write_bytes(b"%PDF-1.7 terms")
    with DAG(
        dag_id="map_field_files", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")
    ) as dag:
        ZohoCRMUploadFieldFilesOperator.partial(
            task_id="file", module="Deals", field="Supporting_Documents", source="{{ params.source }}"
        ).expand(record_id=deals)

    run = run_dag(dag, run_conf={"source": str(terms)})

    assert task_states(run) == {"file[0]": "success", "file[1]": "success"}
    for index, deal in enumerate(deals):
        (entry,) = emu.files.field_files("Deals", deal, "Supporting_Documents")
        (result,) = xcom(run, "file", map_index=index)
        assert result["attachment_id"] == entry["id"]
        assert result["record_id"] == deal
        assert result["field"] == "Supporting_Documents"
        assert emu.files.content(entry["id"]) == b"%PDF-1.7 terms"
