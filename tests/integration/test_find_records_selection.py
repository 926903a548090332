"""ZohoCRMFindRecordsOperator with explicit ids (``records=``), through RecordSelection, on the emulator."""

from __future__ import annotations

import pytest

from airflow_provider_zoho_attach.exceptions import ZohoCRMInvalidRequestError
from airflow_provider_zoho_attach.operators.records import ZohoCRMFindRecordsOperator


def test_explicit_ids_are_returned_without_a_call(zoho_emulator_connection):
    emulator = zoho_emulator_connection
    ids = emulator.add_records("Deals", [{"Stage": "Won"}, {"Stage": "Lost"}])
    emulator.reset_log()
    find = ZohoCRMFindRecordsOperator(task_id="find", module="deals", records=f"{ids[1]},{ids[0]}")
    assert find.execute({}) == [
        {"module": "Deals", "record_id": ids[1]},
        {"module": "Deals", "record_id": ids[0]},
    ]
    assert emulator.requests == []
    assert find.hook.credits.used == 0


def test_explicit_ids_with_fields_are_read_by_one_coql_query(zoho_emulator_connection):
    emulator = zoho_emulator_connection
    ids = emulator.add_records("Deals", [{"Stage": "Won"}, {"Stage": "Lost"}, {"Stage": "Won"}])
    emulator.reset_log()
    find = ZohoCRMFindRecordsOperator(
        task_id="find", module="Deals", records=[ids[0], ids[2]], fields=["Stage"], output_format="records"
    )
    assert find.execute({}) == [
        {"Stage": "Won", "module": "Deals", "record_id": ids[0]},
        {"Stage": "Won", "module": "Deals", "record_id": ids[2]},
    ]
    assert [r.path for r in emulator.requests if r.path.startswith("/crm/")] == ["/crm/v8/coql"]
    assert find.hook.credits.used == 1  # LIMIT 2: the cheapest COQL call


def test_explicit_ids_and_where_together_are_refused_before_any_call(zoho_emulator_connection):
    find = ZohoCRMFindRecordsOperator(task_id="find", module="Deals", records="1", where="Stage = 'Won'")
    with pytest.raises(ZohoCRMInvalidRequestError, match="at most one of records, where and criteria"):
        find.execute({})
    assert zoho_emulator_connection.requests == []
