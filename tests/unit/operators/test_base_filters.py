"""The filter arguments are parsed once: the list and download operators share them, the sensor and its
trigger share "new attachment"."""

from __future__ import annotations

import pytest

from airflow_provider_zoho_attach.exceptions import ZohoCRMInvalidRequestError
from airflow_provider_zoho_attach.operators.attachments import (
    ZohoCRMDownloadAttachmentsOperator,
    ZohoCRMListAttachmentsOperator,
)
from airflow_provider_zoho_attach.operators.base import ZohoCRMAttachmentFilterMixin
from airflow_provider_zoho_attach.utils.filters import AttachmentFilter

FILTER_FIELDS = ("file_name_pattern", "created_after", "created_before", "max_items")


@pytest.mark.parametrize("cls", [ZohoCRMListAttachmentsOperator, ZohoCRMDownloadAttachmentsOperator])
def test_list_and_download_share_the_filter_arguments(cls):
    assert issubclass(cls, ZohoCRMAttachmentFilterMixin)
    assert tuple(cls.template_fields[-4:]) == FILTER_FIELDS


def test_the_operators_filter_is_checked_when_the_task_runs():
    task = ZohoCRMListAttachmentsOperator(
        task_id="list", module="Deals", record_id="1", file_name_pattern="*.pdf", max_items="3"
    )
    assert task.attachment_filter().file_name_patterns == ("*.pdf",)
    assert task.item_limit() == 3
    task.created_after = "yesterday"
    with pytest.raises(ZohoCRMInvalidRequestError, match="created_after='yesterday' is not valid"):
        task.attachment_filter()


def test_new_attachments_names_the_times_as_the_sensor_does():
    wanted = AttachmentFilter.new_attachments(since="2024-03-02T00:00:00Z", known_ids=[{"id": "7"}])
    assert wanted.known_ids == {"7"}
    assert not wanted.matches({"id": "7", "Created_Time": "2024-03-03T00:00:00+00:00"})
    assert wanted.matches({"id": "8", "Created_Time": "2024-03-03T00:00:00+00:00"})
    with pytest.raises(ZohoCRMInvalidRequestError, match="until='soon' is not valid"):
        AttachmentFilter.new_attachments(until="soon")


def test_link_attachment_finds_the_link_and_reads_no_further():
    from airflow_provider_zoho_attach.utils.filters import link_attachment

    url = "https://example.com/contract?sig=abc"
    read = []

    def listing():
        for record in (
            {"id": "1", "$link_url": None, "File_Name": "a.pdf"},
            {"id": "2", "$link_url": url, "File_Name": "Contract"},
            {"id": "3", "$link_url": url, "File_Name": "Contract (again)"},
        ):
            read.append(record["id"])
            yield record

    assert link_attachment(listing(), url)["id"] == "2"
    assert read == ["1", "2"]
    assert link_attachment([{"id": "1", "$link_url": "https://example.com/other"}], url) is None
