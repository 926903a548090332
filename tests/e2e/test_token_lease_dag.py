"""The token lease through Airflow's real Variable API: mapped tasks in a ``dag.test()`` run."""

from __future__ import annotations

import pendulum
import pytest
from airflow.sdk import DAG

from airflow_provider_zoho_attach.operators.attachments import ZohoCRMListAttachmentsOperator
from airflow_provider_zoho_attach.utils.token_lease import SharedRecord
from airflow_provider_zoho_attach.utils.tokens import variable_key
from tests.e2e.conftest import run_dag, task_states

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def _shared_record() -> SharedRecord:
    from airflow.models import Variable

    from airflow_provider_zoho_attach.hooks.zoho_crm import ZohoCRMHook

    fingerprint = ZohoCRMHook().settings.credentials_fingerprint
    return SharedRecord.parse(Variable.get(variable_key(fingerprint), deserialize_json=True), fingerprint)


def test_mapped_tasks_share_one_token_through_the_variable_and_its_lease(
    airflow_db, zoho_emulator, monkeypatch
):
    emu = zoho_emulator
    for name, value in emu.airflow_env(oauth_cache="variable").items():
        monkeypatch.setenv(name, value)
    records = [emu.add_record("Deals") for _ in range(3)]
    for record in records:
        emu.add_attachment("Deals", record, "a.pdf", b"%PDF")
    start = pendulum.datetime(2024, 1, 1, tz="UTC")
    with DAG("zoho_token_lease", schedule=None, start_date=start, catchup=False) as dag:
        ZohoCRMListAttachmentsOperator.partial(task_id="list", module="Deals").expand(record_id=records)
    first = run_dag(dag)
    assert set(task_states(first).values()) == {"success"}
    assert emu.token_calls == 1
    record = _shared_record()
    # The token went through the lease: a first generation, and no lease left behind.
    assert record.token is not None
    assert record.generation == 1
    assert record.lease is None
    # Revoked at Zoho: the next run replaces it once, through the lease, and uses the replacement.
    emu.revoke_access_tokens()
    second = run_dag(dag)
    assert set(task_states(second).values()) == {"success"}
    assert emu.token_calls == 2
    assert _shared_record().generation == 2
