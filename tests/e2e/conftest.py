"""Run DAGs end to end with ``dag.test()`` on a throwaway sqlite Airflow home (see tests/conftest.py)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def airflow_db():
    """A fresh metadata database, once per test session."""
    from airflow.utils import db

    db.resetdb()
    return True


def _register(dag: Any) -> None:
    """
    Make a DAG built in a test runnable by ``dag.test()``.

    Airflow 3 only runs DAGs it has serialized from a bundle; a DAG defined inside a test is in
    none, so it is written to the metadata database the way the DAG processor would.
    """
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    try:
        from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    except ImportError:  # Airflow < 3.2 keeps them in airflow.models
        from airflow.models.dagbag import DagBag, sync_bag_to_db  # type: ignore[no-redef]
    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder="/nonexistent", collect_dags=False)
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)


def run_dag(dag: Any, **kwargs: Any) -> Any:
    """Run ``dag`` with ``dag.test()`` and return the DAG run."""
    _register(dag)
    return dag.test(**kwargs)


def task_states(dag_run: Any) -> dict[str, str]:
    """``{task_id[map_index]: state}`` of a finished run, for readable assertions."""
    states = {}
    for ti in dag_run.get_task_instances():
        key = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
        states[key] = str(ti.state)
    return states


def xcom(dag_run: Any, task_id: str, *, map_index: int | None = None, key: str = "return_value") -> Any:
    """The XCom a task of ``dag_run`` pushed (a list over map indexes for a mapped task, by default)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = session.query(XComModel).filter(
            XComModel.dag_id == dag_run.dag_id,
            XComModel.run_id == dag_run.run_id,
            XComModel.task_id == task_id,
            XComModel.key == key,
        )
        rows = sorted(query.all(), key=lambda row: row.map_index)
        values = [(row.map_index, XComModel.deserialize_value(row)) for row in rows]
    if map_index is not None:
        return next(value for index, value in values if index == map_index)
    if len(values) == 1 and values[0][0] < 0:
        return values[0][1]
    return [value for _, value in values]
