"""Operators for the photo of a Zoho CRM record (Leads, Contacts, Accounts, Products, Vendors...)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_zoho_attach.operators.base import ZohoCRMBaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_zoho_attach.results import PhotoDownloadResult, PhotoUploadResult
    from airflow_provider_zoho_attach.utils.lineage import LineageRecorder

__all__ = ["ZohoCRMDownloadPhotoOperator", "ZohoCRMUploadPhotoOperator"]


class ZohoCRMDownloadPhotoOperator(ZohoCRMBaseOperator):
    """
    Download the photo of a Zoho CRM record.

    The photo is streamed to a temporary file, verified and renamed into place, like attachments.
    Returns ``{"file_name", "path", "size", "sha256", "content_type", "module", "record_id",
    "status"}``; with ``missing_ok=True`` a record without a photo returns ``None`` instead of
    failing.

    .. seealso::
        :ref:`howto/operator:ZohoCRMDownloadPhotoOperator`

    :param module: the module API name. (templated)
    :param record_id: the record id. (templated)
    :param destination: a directory (the file is named ``<Module>-<id>-photo.<ext>``), a file path,
        or an object-storage URL/``ObjectStoragePath``. (templated)
    :param overwrite: replace an existing different file.
    :param missing_ok: return ``None`` when the record has no photo.
    :param zoho_conn_id: the ``zoho_crm`` connection. (templated)
    """

    template_fields: Sequence[str] = (*ZohoCRMBaseOperator.template_fields, "destination")

    def __init__(
        self,
        *,
        module: str,
        record_id: str | int,
        destination: Any,
        overwrite: bool = False,
        missing_ok: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(module=module, record_id=record_id, **kwargs)
        self.destination = destination
        self.overwrite = overwrite
        self.missing_ok = missing_ok

    def plan_lineage(self, recorder: LineageRecorder) -> None:
        """The record's photo, as the START event's input."""
        from airflow_provider_zoho_attach.utils.lineage import ZohoResource

        module, record_id = self.target()
        recorder.read(recorder.zoho(ZohoResource(module, record_id, "photo")))

    def execute(self, context: Context) -> PhotoDownloadResult | None:
        from airflow_provider_zoho_attach.exceptions import ZohoCRMNotFoundError
        from airflow_provider_zoho_attach.utils.validation import require_value

        require_value(
            self.destination,
            argument="destination",
            expected="a directory, a file path or an object-storage URL",
        )
        module, record_id = self.target()
        self.persist_record_link(context, module, record_id)
        try:
            result = self.hook.download_photo(module, record_id, self.destination, overwrite=self.overwrite)
        except ZohoCRMNotFoundError:
            if not self.missing_ok:
                raise
            self.log.info("%s/%s has no photo", module, record_id)
            return None
        self.lineage.downloaded(result, kind="photo")
        # A re-run finds the same photo in place: say so, rather than claim it was downloaded again.
        done = "is unchanged at" if result.get("status") == "unchanged" else "downloaded to"
        self.log.info(
            "Photo of %s/%s %s %s (%d bytes)", module, record_id, done, result["path"], result["size"]
        )
        return result


class ZohoCRMUploadPhotoOperator(ZohoCRMBaseOperator):
    """
    Set the photo of a Zoho CRM record (PNG, JPEG, GIF or BMP, at most 10 MB), replacing any previous one.

    Returns ``{"file_name", "size", "sha256", "module", "record_id"}``.

    .. seealso::
        :ref:`howto/operator:ZohoCRMUploadPhotoOperator`

    :param module: the module API name. (templated)
    :param record_id: the record id. (templated)
    :param source: a local path, an object-storage URL or an ``ObjectStoragePath``. (templated)
    :param zoho_conn_id: the ``zoho_crm`` connection. (templated)
    """

    template_fields: Sequence[str] = (*ZohoCRMBaseOperator.template_fields, "source")

    def __init__(self, *, module: str, record_id: str | int, source: Any, **kwargs: Any) -> None:
        super().__init__(module=module, record_id=record_id, **kwargs)
        self.source = source

    def plan_lineage(self, recorder: LineageRecorder) -> None:
        """The record's photo, as the START event's output."""
        from airflow_provider_zoho_attach.utils.lineage import ZohoResource

        module, record_id = self.target()
        recorder.wrote(recorder.zoho(ZohoResource(module, record_id, "photo")))

    def execute(self, context: Context) -> PhotoUploadResult:
        from airflow_provider_zoho_attach.utils.validation import require_value

        require_value(self.source, argument="source", expected="the path or URL of an image")
        module, record_id = self.target()
        self.persist_record_link(context, module, record_id)
        result = self.hook.upload_photo(module, record_id, self.source)
        self.lineage.uploaded(result, self.source, kind="photo")
        self.log.info(
            "Set the photo of %s/%s from %s (%d bytes)", module, record_id, self.source, result["size"]
        )
        return result
