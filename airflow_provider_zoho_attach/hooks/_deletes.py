"""The sync hook's delete core: a DELETE with retries, and the listing that confirms a lost answer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_zoho_attach.exceptions import (
    ZohoCRMConnectionError,
    ZohoCRMError,
    ZohoCRMNotFoundError,
    ZohoCRMServerError,
)
from airflow_provider_zoho_attach.hooks._base import _check, _DeleteOutcome, _listing
from airflow_provider_zoho_attach.hooks._sync_transport import _SyncTransport
from airflow_provider_zoho_attach.results import DeleteResult
from airflow_provider_zoho_attach.utils.outcomes import ATTACHMENT_NOT_THERE
from airflow_provider_zoho_attach.utils.protocol import is_unreachable


class _DeleteCore(_SyncTransport):
    """Deletes with retries and tells, after a lost answer, what is really gone."""

    def _delete(
        self,
        path: str,
        *,
        operation: str,
        params: Mapping[str, str] | None = None,
        per_item: bool = False,
    ) -> _DeleteOutcome:
        """
        One DELETE with retries.

        ``lost`` tells that an attempt's answer was lost (the connection broke, or a 5xx), so Zoho
        may have deleted already. An answer of a later attempt that the attachment is not there
        (:data:`~airflow_provider_zoho_attach.utils.outcomes.ATTACHMENT_NOT_THERE`) is then returned
        as ``refused`` rather than raised, for the caller to confirm by listing.
        """
        lost = False

        def attempt() -> Any:
            nonlocal lost
            try:
                with self._exchange("DELETE", path, operation=operation, params=params) as response:
                    return _check(response, operation=operation, per_item=per_item)
            except (ZohoCRMConnectionError, ZohoCRMServerError) as error:
                # A host never reached received nothing: only an answer lost after sending counts.
                lost = lost or not is_unreachable(error)
                raise

        try:
            return _DeleteOutcome(self._retry(attempt, operation=operation), lost)
        except ZohoCRMError as error:
            if lost and error.code == ATTACHMENT_NOT_THERE:
                return _DeleteOutcome(None, lost, refused=error)
            raise

    def _confirm_deleted(
        self,
        module: str,
        record_id: str,
        ids: Sequence[str],
        refused: ZohoCRMError,
        operation: str,
    ) -> list[DeleteResult]:
        """
        After a lost answer, tell by listing the record which of ``ids`` are gone.

        Gone ids are ``"deleted"``; ids still listed keep Zoho's refusal; if the listing fails for
        another reason than a missing record, the outcome is ``"unknown"``.

        :raises ZohoCRMError: the listing's error when the record itself does not exist (a wrong
            record id is an error, never "deleted").
        """
        try:
            listing = _listing(module, record_id, fields=("File_Name",))
            present = {str(r.get("id")) for r in self._records(listing)}
        except ZohoCRMError as error:
            # A listing's INVALID_DATA is about the record id (it names no attachment): no such record.
            if error.code == "INVALID_DATA" or isinstance(error, ZohoCRMNotFoundError):
                error.extend_message(f" (while confirming the delete of {len(ids)} attachment(s))")
                raise
            self.log.warning("%s: the answer was lost and the check failed too (%s)", operation, error.code)
            return [
                {
                    "attachment_id": ident,
                    "module": module,
                    "record_id": record_id,
                    "status": "unknown",
                    "code": error.code,
                    "message": "the answer to the delete was lost and listing the record to confirm it "
                    f"failed: {error.message}",
                }
                for ident in ids
            ]
        results: list[DeleteResult] = []
        for ident in ids:
            result: DeleteResult = {
                "attachment_id": ident,
                "module": module,
                "record_id": record_id,
                "status": "deleted",
            }
            if ident in present:
                result["status"] = "error"
                result["code"] = refused.code
                result["message"] = refused.message
            else:
                self.log.warning(
                    "%s: %s is gone (the attempt whose answer was lost deleted it)", operation, ident
                )
            results.append(result)
        return results
