"""ZohoCRMFindRecordsOperator.execute against the emulator (the DAG run is in tests/e2e)."""

from __future__ import annotations

import pytest

from airflow_provider_zoho_attach.exceptions import ZohoCRMInvalidRequestError
from airflow_provider_zoho_attach.operators.records import ZohoCRMFindRecordsOperator


def test_records_output_carries_the_fields_and_max_records_stops(zoho_emulator_connection):
    ids = zoho_emulator_connection.add_records(
        "Deals", [{"Stage": "Won"}, {"Stage": "Lost"}, {"Stage": "Won"}]
    )
    find = ZohoCRMFindRecordsOperator(
        task_id="find",
        module="deals",
        criteria="(Stage:equals:Won)",
        fields=["Stage"],
        output_format="records",
    )
    assert find.execute({}) == [
        {"Stage": "Won", "module": "Deals", "record_id": ids[0]},
        {"Stage": "Won", "module": "Deals", "record_id": ids[2]},
    ]
    first = ZohoCRMFindRecordsOperator(task_id="first", module="Deals", max_records=1)
    assert first.execute({}) == [{"module": "Deals", "record_id": ids[0]}]


def test_bad_arguments_fail_before_any_request(zoho_emulator_connection):
    with pytest.raises(ValueError, match="output_format"):
        ZohoCRMFindRecordsOperator(task_id="x", module="Deals", output_format="rows")
    find = ZohoCRMFindRecordsOperator(task_id="y", module="Deals", where="Stage = 'x' limit 5")
    with pytest.raises(ZohoCRMInvalidRequestError, match="where="):
        find.execute({})
    assert zoho_emulator_connection.requests == []
