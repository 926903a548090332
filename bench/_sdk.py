"""
Zoho's official Python SDK (``zohocrmsdk8-0``) used the way its documentation shows, against the emulator.

Listing pages by number up to Zoho's 2,000-row limit and by ``page_token`` after it (the fewest calls
the API allows); downloads iterate the ``StreamWrapper`` as Zoho's samples do; uploads go through
``FileBodyWrapper`` and ``StreamWrapper(file_path=...)``.
"""

from __future__ import annotations

import logging
from typing import Any

FIELDS = "id,File_Name,Size,Created_Time,$type,$link_url,Parent_Id"


def init(  # noqa: PLR0917 - the SDK's own connection parameters, in its order
    url: str, client_id: str, client_secret: str, refresh_token: str, store_path: str, workdir: str
) -> Any:
    """Initialise the SDK on the emulator (its token store in ``store_path``); return the operations."""
    from zohocrmsdk.src.com.zoho.api.authenticator.oauth_token import OAuthToken
    from zohocrmsdk.src.com.zoho.api.authenticator.store.file_store import FileStore
    from zohocrmsdk.src.com.zoho.crm.api.attachments import AttachmentsOperations
    from zohocrmsdk.src.com.zoho.crm.api.dc.data_center import DataCenter
    from zohocrmsdk.src.com.zoho.crm.api.initializer import Initializer
    from zohocrmsdk.src.com.zoho.crm.api.sdk_config import SDKConfig

    logging.getLogger("SDKLogger").setLevel(logging.ERROR)
    Initializer.LOCAL.init = None
    Initializer.initialize(
        environment=DataCenter.Environment(url, f"{url}/oauth/v2/token", url),
        token=OAuthToken(client_id=client_id, client_secret=client_secret, refresh_token=refresh_token),
        store=FileStore(store_path),
        sdk_config=SDKConfig(auto_refresh_fields=False, pick_list_validation=False),
        resource_path=workdir,
    )
    return AttachmentsOperations()


def list_all(operations: Any, module: str, record_id: str) -> list[Any]:
    """Every attachment of a record, 200 per call."""
    from zohocrmsdk.src.com.zoho.crm.api import ParameterMap
    from zohocrmsdk.src.com.zoho.crm.api.attachments import GetAttachmentsParam, ResponseWrapper

    rows: list[Any] = []
    page, page_token = 1, None
    for _ in range(600):  # Zoho walks at most 100,000 rows: 500 pages
        params = ParameterMap()
        params.add(GetAttachmentsParam.fields, FIELDS)
        params.add(GetAttachmentsParam.per_page, 200)
        if page_token:
            params.add(GetAttachmentsParam.page_token, page_token)
        else:
            params.add(GetAttachmentsParam.page, page)
        response = operations.get_attachments(int(record_id), module, params)
        if response.get_status_code() == 204:
            return rows
        wrapper = response.get_object()
        if not isinstance(wrapper, ResponseWrapper):
            raise RuntimeError(f"the SDK's listing failed: {_describe(wrapper)}")
        rows.extend(wrapper.get_data())
        info = wrapper.get_info()
        if not info.get_more_records():
            return rows
        if page_token is not None or page * 200 >= 2000:
            page_token = info.get_next_page_token()
        page += 1
    raise RuntimeError("more than 600 pages")


def download(operations: Any, module: str, record_id: str, attachment_id: str, destination: str) -> int:
    """Download one attachment to ``destination`` as Zoho's sample code does; return the bytes written."""
    from zohocrmsdk.src.com.zoho.crm.api.attachments import FileBodyWrapper

    response = operations.get_attachment(int(attachment_id), int(record_id), module)
    wrapper = response.get_object()
    if not isinstance(wrapper, FileBodyWrapper):
        raise RuntimeError(f"the SDK's download failed: {_describe(wrapper)}")
    written = 0
    with open(destination, "wb") as handle:
        for chunk in wrapper.get_file().get_stream():
            handle.write(chunk)
            written += len(chunk)
    return written


def upload(operations: Any, module: str, record_id: str, path: str) -> str:
    """Upload a file as an attachment; return its id."""
    from zohocrmsdk.src.com.zoho.crm.api.attachments import ActionWrapper, FileBodyWrapper
    from zohocrmsdk.src.com.zoho.crm.api.util import StreamWrapper

    body = FileBodyWrapper()
    body.set_file(StreamWrapper(file_path=path))
    response = operations.upload_attachments(int(record_id), module, body)
    wrapper = response.get_object()
    if not isinstance(wrapper, ActionWrapper):
        raise RuntimeError(f"the SDK's upload failed: {_describe(wrapper)}")
    return str(wrapper.get_data()[0].get_details()["id"])


def _describe(value: Any) -> str:
    code = getattr(value, "get_code", None)
    if code is not None:
        choice = code()
        return str(getattr(choice, "get_value", lambda: choice)())
    return type(value).__name__


def list_record_ids(operations: Any, module: str, limit: int | None = None) -> list[str]:
    """
    The ids of a module's records (``GET /{module}``, 200 per call, ``page_token`` past row 2,000).

    :param operations: unused (the SDK is initialised); kept for symmetry with :func:`list_all`.
    :param module: the module API name.
    :param limit: stop once this many ids are read (fewer calls).
    """
    from zohocrmsdk.src.com.zoho.crm.api import ParameterMap
    from zohocrmsdk.src.com.zoho.crm.api.record import GetRecordsParam, RecordOperations
    from zohocrmsdk.src.com.zoho.crm.api.record import ResponseWrapper as RecordsWrapper

    del operations
    records = RecordOperations(module)
    ids: list[str] = []
    page, page_token = 1, None
    while limit is None or len(ids) < limit:
        params = ParameterMap()
        params.add(GetRecordsParam.fields, "id")
        params.add(GetRecordsParam.per_page, 200)
        if page_token:
            params.add(GetRecordsParam.page_token, page_token)
        else:
            params.add(GetRecordsParam.page, page)
        response = records.get_records(params)
        if response.get_status_code() == 204:
            break
        wrapper = response.get_object()
        if not isinstance(wrapper, RecordsWrapper):
            raise RuntimeError(f"the SDK's record listing failed: {_describe(wrapper)}")
        ids.extend(str(r.get_id()) for r in wrapper.get_data())
        info = wrapper.get_info()
        if not info.get_more_records():
            break
        if page_token is not None or page * 200 >= 2000:
            page_token = info.get_next_page_token()
        page += 1
    return ids[:limit] if limit is not None else ids
