"""The record plumbing (template fields, lazy hook, target, link, on_kill) is one mixin for all tasks."""

from __future__ import annotations

from unittest import mock

import pytest

from airflow_provider_zoho_attach.links.zoho_crm import ZohoCRMRecordLink
from airflow_provider_zoho_attach.operators import attachments, photos
from airflow_provider_zoho_attach.operators.base import ZohoCRMRecordMixin
from airflow_provider_zoho_attach.sensors.attachments import ZohoCRMNewAttachmentSensor
from airflow_provider_zoho_attach.utils.settings import DEFAULT_CONN_ID

TASKS = [getattr(attachments, name) for name in attachments.__all__]
TASKS += [getattr(photos, name) for name in photos.__all__]
TASKS += [ZohoCRMNewAttachmentSensor]


@pytest.mark.parametrize("cls", TASKS)
def test_every_task_on_a_record_has_the_same_plumbing(cls):
    assert issubclass(cls, ZohoCRMRecordMixin)
    assert tuple(cls.template_fields[:3]) == ("zoho_conn_id", "module", "record_id")
    assert [type(link) for link in cls.operator_extra_links] == [ZohoCRMRecordLink]
    assert (cls.ui_color, cls.ui_fgcolor) == (ZohoCRMRecordMixin.ui_color, ZohoCRMRecordMixin.ui_fgcolor)
    assert cls.hook is ZohoCRMRecordMixin.hook
    assert cls.on_kill is ZohoCRMRecordMixin.on_kill


def test_the_sensor_builds_its_hook_lazily_and_closes_it_when_killed():
    sensor = ZohoCRMNewAttachmentSensor(task_id="wait", module="deals", record_id=" 42 ")
    assert sensor.zoho_conn_id == DEFAULT_CONN_ID
    assert "hook" not in sensor.__dict__
    sensor.on_kill()  # nothing built, nothing to close
    assert sensor.target() == ("Deals", "42")
    assert sensor.hook.zoho_conn_id == DEFAULT_CONN_ID
    with mock.patch.object(type(sensor.hook), "close") as close:
        sensor.on_kill()
    close.assert_called_once_with()


def _required(cls):
    """The arguments a task of ``cls`` needs besides module and record id (any valid values)."""
    extra = {
        "ZohoCRMUploadAttachmentOperator": {"source": "/tmp/a.pdf"},
        "ZohoCRMUploadPhotoOperator": {"source": "/tmp/a.png"},
        "ZohoCRMDeleteAttachmentOperator": {"attachment_ids": ["1"]},
        "ZohoCRMDownloadAttachmentsOperator": {"destination": "/tmp/out/"},
        "ZohoCRMDownloadPhotoOperator": {"destination": "/tmp/photo.png"},
    }
    return {"module": "Deals", **extra.get(cls.__name__, {})}


@pytest.mark.parametrize("cls", TASKS)
def test_every_task_takes_a_pool_directly_and_when_mapped(cls):
    """The pool that bounds a deployment's concurrent Zoho calls (see docs/deployment.rst)."""
    from airflow.sdk import DAG

    with DAG("pool_dag", schedule=None):
        task = cls(task_id="one", record_id="1", pool="zoho_crm", pool_slots=2, **_required(cls))
        mapped = cls.partial(task_id="many", pool="zoho_crm", **_required(cls)).expand(record_id=["1", "2"])
    assert (task.pool, task.pool_slots) == ("zoho_crm", 2)
    assert mapped.pool == "zoho_crm"
    assert mapped.partial_kwargs["pool"] == "zoho_crm"


def test_the_pool_example_maps_its_downloads_into_the_pool():
    import runpy
    from pathlib import Path

    example = Path(__file__).resolve().parents[3] / "example_dags" / "example_zoho_pool.py"
    dag = runpy.run_path(str(example))["dag"]
    mapped = dag.get_task("download_record_attachments")
    assert mapped.pool == "zoho_crm"
    assert mapped.partial_kwargs["max_concurrency"] == 1


def test_the_module_level_tasks_share_the_hook_plumbing_and_colours():
    from airflow_provider_zoho_attach.operators.base import ZohoCRMHookMixin
    from airflow_provider_zoho_attach.operators.mirror import ZohoCRMMirrorAttachmentsOperator
    from airflow_provider_zoho_attach.operators.records import ZohoCRMFindRecordsOperator

    for cls in (ZohoCRMFindRecordsOperator, ZohoCRMMirrorAttachmentsOperator):
        assert (cls.ui_color, cls.ui_fgcolor) == ("#fde8e8", "#b41e1e")
        assert (cls.ui_color, cls.ui_fgcolor) == (ZohoCRMHookMixin.ui_color, ZohoCRMHookMixin.ui_fgcolor)
        assert cls.hook is ZohoCRMHookMixin.hook
