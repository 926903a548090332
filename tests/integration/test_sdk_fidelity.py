"""
Zoho's official Python SDK for API v8 (``zohocrmsdk8-0``) driven against the emulator.

If Zoho's own client can list, upload, download and delete through the emulator, the emulator
speaks the protocol the way Zoho's client expects. The same holds for files in ZFS and in record
fields: upload to ZFS, attach to a field, read the record back, download the field's file, remove
it. The SDK keeps global state in its ``Initializer``; each test initialises it afresh and puts
the previous state back afterwards.
"""

from __future__ import annotations

import os

import pytest

pytestmark = [pytest.mark.sdk, pytest.mark.integration]

pytest.importorskip("zohocrmsdk")

from zohocrmsdk.src.com.zoho.crm.api import (  # noqa: E402
    ParameterMap,
    field_attachments,
    files,
    modules,
    record,
)
from zohocrmsdk.src.com.zoho.crm.api.attachments import (  # noqa: E402
    ActionWrapper,
    APIException,
    AttachmentsOperations,
    DeleteAttachmentsParam,
    FileBodyWrapper,
    GetAttachmentsParam,
    ResponseWrapper,
    UploadUrlAttachmentsParam,
)
from zohocrmsdk.src.com.zoho.crm.api.record import FileBodyWrapper as RecordFileBodyWrapper  # noqa: E402
from zohocrmsdk.src.com.zoho.crm.api.record import RecordOperations  # noqa: E402
from zohocrmsdk.src.com.zoho.crm.api.util import StreamWrapper  # noqa: E402

from airflow_provider_zoho_attach.testing._emulator_seed import tiny_png  # noqa: E402
from tests.integration._sdk_session import sdk_on_emulator  # noqa: E402


@pytest.fixture
def sdk(zoho_emulator, tmp_path):
    """Initialise the SDK against the emulator (API and accounts URLs are the emulator's)."""
    with sdk_on_emulator(zoho_emulator, tmp_path):
        yield AttachmentsOperations()


def list_params(fields="id,File_Name,Size,Created_Time,$type,$link_url"):
    params = ParameterMap()
    params.add(GetAttachmentsParam.fields, fields)
    return params


def test_sdk_initialises_with_one_token_call(zoho_emulator, sdk):
    assert zoho_emulator.token_calls == 1
    # The SDK learns who it is right after getting a token (spec §4.3); SDK 7.x also asks for the org.
    assert zoho_emulator.count(method="GET", path_contains="/crm/v8/users") == 1
    assert all(r.status == 200 for r in zoho_emulator.requests)


def test_sdk_list_upload_download_delete(zoho_emulator, sdk, tmp_path):
    record_id = zoho_emulator.add_record("Deals")
    existing = zoho_emulator.add_attachment("Deals", record_id, "proposal.pdf", b"%PDF-1.4 tiny")

    listed = sdk.get_attachments(int(record_id), "Deals", list_params())
    assert listed.get_status_code() == 200
    wrapper = listed.get_object()
    assert isinstance(wrapper, ResponseWrapper)
    (row,) = wrapper.get_data()
    assert str(row.get_id()) == existing
    assert row.get_file_name() == "proposal.pdf"
    assert row.get_size() == "13"
    assert row.get_type() == "File"
    assert row.get_created_time() is not None
    assert wrapper.get_info().get_more_records() is False
    assert wrapper.get_info().get_count() == 1

    content = os.urandom(200_000)
    path = tmp_path / "quarterly_report.bin"
    path.write_bytes(content)
    body = FileBodyWrapper()
    body.set_file(StreamWrapper(file_path=str(path)))
    uploaded = sdk.upload_attachments(int(record_id), "Deals", body)
    assert uploaded.get_status_code() == 200
    action = uploaded.get_object()
    assert isinstance(action, ActionWrapper)
    (result,) = action.get_data()
    assert result.get_status().get_value() == "success"
    new_id = str(result.get_details()["id"])
    names = [a["File_Name"] for a in zoho_emulator.attachments("Deals", record_id)]
    assert names == ["quarterly_report.bin", "proposal.pdf"]

    downloaded = sdk.get_attachment(int(new_id), int(record_id), "Deals")
    assert downloaded.get_status_code() == 200
    stream = downloaded.get_object().get_file()
    assert stream.get_name() == "quarterly_report.bin"
    assert b"".join(stream.get_stream()) == content

    deleted = sdk.delete_attachment(int(new_id), int(record_id), "Deals")
    assert deleted.get_status_code() == 200
    assert deleted.get_object().get_data()[0].get_status().get_value() == "success"
    assert [a["id"] for a in zoho_emulator.attachments("Deals", record_id)] == [existing]


def test_sdk_file_name_with_spaces_is_not_percent_decoded(zoho_emulator, sdk):
    # The SDK takes the text after the last "'" of Content-Disposition and does not URL-decode it
    # (spec §2.4): with Zoho's RFC 5987 header, a space arrives as %20.
    record_id = zoho_emulator.add_record("Deals")
    attachment_id = zoho_emulator.add_attachment("Deals", record_id, "two words.txt", "x")
    stream = sdk.get_attachment(int(attachment_id), int(record_id), "Deals").get_object().get_file()
    assert stream.get_name() == "two%20words.txt"
    zoho_emulator.config.content_disposition_format = "quoted"
    stream = sdk.get_attachment(int(attachment_id), int(record_id), "Deals").get_object().get_file()
    assert stream.get_name() == "two words.txt"


def test_sdk_link_attachment_and_bulk_delete(zoho_emulator, sdk):
    record_id = zoho_emulator.add_record("Leads")
    file_id = zoho_emulator.add_attachment("Leads", record_id, "a.txt", "a")

    params = ParameterMap()
    params.add(UploadUrlAttachmentsParam.attachmenturl, "https://www.example.com/spec.html")
    params.add(UploadUrlAttachmentsParam.title, "Spec sheet")
    linked = sdk.upload_url_attachments(int(record_id), "Leads", params)
    assert linked.get_status_code() == 200
    link_id = str(linked.get_object().get_data()[0].get_details()["id"])

    rows = sdk.get_attachments(int(record_id), "Leads", list_params()).get_object().get_data()
    link = next(r for r in rows if str(r.get_id()) == link_id)
    assert link.get_type() == "Link URL"
    assert link.get_link_url() == "https://www.example.com/spec.html"
    assert link.get_file_name() == "Spec sheet"
    assert link.get_size() == "0"

    not_downloadable = sdk.get_attachment(int(link_id), int(record_id), "Leads").get_object()
    assert isinstance(not_downloadable, APIException)
    assert not_downloadable.get_code().get_value() == "DOWNLOAD_NOT_ALLOWED"

    params = ParameterMap()
    params.add(DeleteAttachmentsParam.ids, f"{file_id},{link_id}")
    deleted = sdk.delete_attachments(int(record_id), "Leads", params)
    assert deleted.get_status_code() == 200
    assert [d.get_status().get_value() for d in deleted.get_object().get_data()] == ["success", "success"]
    assert zoho_emulator.attachments("Leads", record_id) == []


def test_sdk_empty_list_and_errors(zoho_emulator, sdk):
    record_id = zoho_emulator.add_record("Contacts")
    empty = sdk.get_attachments(int(record_id), "Contacts", list_params())
    assert empty.get_status_code() == 204
    assert empty.get_object() is None

    unknown_module = sdk.get_attachments(int(record_id), "Widgets", list_params()).get_object()
    assert isinstance(unknown_module, APIException)
    assert unknown_module.get_code().get_value() == "INVALID_MODULE"
    assert unknown_module.get_details() == {"resource_path_index": 0}

    unknown_record = sdk.get_attachments(5725767000000000009, "Contacts", list_params()).get_object()
    assert unknown_record.get_code().get_value() == "INVALID_DATA"

    missing = sdk.get_attachment(5725767000000000009, int(record_id), "Contacts")
    assert missing.get_status_code() == 204


def test_sdk_record_photo(zoho_emulator, sdk, tmp_path):
    record_id = zoho_emulator.add_record("Contacts")
    operations = RecordOperations("Contacts")
    path = tmp_path / "face.png"
    path.write_bytes(tiny_png(8, 8))
    body = RecordFileBodyWrapper()
    body.set_file(StreamWrapper(file_path=str(path)))
    uploaded = operations.upload_photo(int(record_id), body)
    assert uploaded.get_status_code() == 200
    assert zoho_emulator.photo("Contacts", record_id) == tiny_png(8, 8)

    photo = operations.get_photo(int(record_id))
    assert photo.get_status_code() == 200
    assert b"".join(photo.get_object().get_file().get_stream()) == tiny_png(8, 8)

    assert operations.delete_photo(int(record_id)).get_status_code() == 200
    assert zoho_emulator.photo("Contacts", record_id) is None


# ---------------------------------------------------------------------------- ZFS and file fields


def upload_to_zfs(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    body = files.BodyWrapper()
    body.set_file([StreamWrapper(file_path=str(path))])
    response = files.FilesOperations().upload_files(body)
    assert response.get_status_code() == 200
    (result,) = response.get_object().get_data()
    assert isinstance(result, files.SuccessResponse)
    assert result.get_details()["name"] == name
    return result.get_details()["id"]


def update_field(module, record_id, field, items):
    one = record.Record()
    one.add_key_value(field, items)
    body = record.BodyWrapper()
    body.set_data([one])
    response = record.RecordOperations(module).update_record(int(record_id), body)
    (result,) = response.get_object().get_data()
    return response.get_status_code(), result


def field_value(module, record_id, field):
    response = record.RecordOperations(module).get_record(int(record_id))
    assert response.get_status_code() == 200
    (found,) = response.get_object().get_data()
    return found.get_key_value(field)


def test_sdk_zfs_upload_attach_read_download_remove(zoho_emulator, sdk, tmp_path):
    zoho_emulator.files.add_field("Deals", "Signed_Contract", "fileupload", length=1)
    deal = zoho_emulator.add_record("Deals", name="Acme")
    content = os.urandom(150_000)
    file_id = upload_to_zfs(tmp_path, "signed contract.pdf", content)

    attach = record.FileDetails()
    attach.set_file_id__s(file_id)
    status, result = update_field("Deals", deal, "Signed_Contract", [attach])
    assert status == 200
    assert isinstance(result, record.SuccessResponse)
    assert result.get_details()["id"] == deal

    (entry,) = field_value("Deals", deal, "Signed_Contract")
    assert isinstance(entry, record.FileDetails)
    assert entry.get_file_id__s() == file_id
    assert entry.get_file_name__s() == "signed contract.pdf"
    assert entry.get_size__s() == str(len(content))
    assert entry.get_created_time__s() is not None
    assert entry.get_owner__s().get_id() is not None

    download = field_attachments.FieldAttachmentsOperations("Deals", int(deal), int(entry.get_id()))
    response = download.get_field_attachments()
    assert response.get_status_code() == 200
    stream = response.get_object().get_file()
    assert b"".join(stream.get_stream()) == content
    assert stream.get_name() == "signed%20contract.pdf"  # the SDK does not %-decode (see above)
    params = ParameterMap()
    params.add(files.GetFileParam.id, file_id)
    assert b"".join(files.FilesOperations().get_file(params).get_object().get_file().get_stream()) == content

    # The id is single-use: attaching it again is refused, as an APIException in the answer.
    status, refused = update_field("Deals", deal, "Signed_Contract", [attach])
    assert status == 400
    assert isinstance(refused, record.APIException)
    assert refused.get_code().get_value() == "INVALID_DATA"

    # set_delete(None) does send "_delete": null (the facts file guessed it might not).
    remove = record.FileDetails()
    remove.set_id(entry.get_id())
    remove.set_delete(None)
    status, _ = update_field("Deals", deal, "Signed_Contract", [remove])
    assert status == 200
    assert field_value("Deals", deal, "Signed_Contract") is None
    assert zoho_emulator.files.removed[0]["file_name"] == "signed contract.pdf"
    # The SDK read the field metadata once (cached under resource_path) before its record calls.
    assert zoho_emulator.count("GET", path_contains="/settings/fields") == 1


def test_sdk_image_upload_field(zoho_emulator, sdk, tmp_path):
    zoho_emulator.files.add_field("Deals", "Photos", "imageupload", length=2)
    deal = zoho_emulator.add_record("Deals")
    images = [tiny_png(4 + i, 4) for i in range(3)]
    ids = [upload_to_zfs(tmp_path, f"site-{i}.png", image) for i, image in enumerate(images)]

    items = []
    for file_id in ids[:2]:
        item = record.ImageUpload()
        item.set_file_id__s(file_id)
        items.append(item)
    assert update_field("Deals", deal, "Photos", items)[0] == 200
    shown = field_value("Deals", deal, "Photos")
    assert [type(i) for i in shown] == [record.ImageUpload] * 2
    assert [i.get_sequence_number__s() for i in shown] == [1, 2]
    assert [i.get_file_name__s() for i in shown] == ["site-0.png", "site-1.png"]
    assert all(i.get_preview_id__s() for i in shown)

    third = record.ImageUpload()
    third.set_file_id__s(ids[2])
    status, refused = update_field("Deals", deal, "Photos", [third])
    assert status == 400
    assert refused.get_code().get_value() == "LIMIT_EXCEEDED"
    assert (
        refused.get_message().get_value()
        == "Record insertion limit for Image upload field has been exceeded."
    )


def test_sdk_files_errors_and_quirks(zoho_emulator, sdk, tmp_path):
    zoho_emulator.files.flag_virus("infected.pdf")
    path = tmp_path / "infected.pdf"
    path.write_bytes(b"%PDF-1.4")

    def body():
        wrapper = files.BodyWrapper()
        wrapper.set_file([StreamWrapper(file_path=str(path))])
        return wrapper

    refused = files.FilesOperations().upload_files(body())
    assert refused.get_status_code() == 400
    assert isinstance(refused.get_object(), files.APIException)
    assert refused.get_object().get_code().get_value() == "VIRUS_DETECTED"

    # The SDK drops query parameters of multipart requests: type=inline never arrives.
    zoho_emulator.files.clear_virus_flags()
    params = ParameterMap()
    params.add(files.UploadFilesParam.type, "inline")
    assert files.FilesOperations().upload_files(body(), params).get_status_code() == 200
    assert zoho_emulator.files.zfs_files()[0]["inline"] is False
    assert zoho_emulator.requests[-1].query == {}

    unknown = ParameterMap()
    unknown.add(files.GetFileParam.id, "0" * 40)
    missing = files.FilesOperations().get_file(unknown)
    assert missing.get_status_code() == 204
    assert missing.get_object() is None
    deal = zoho_emulator.add_record("Deals")
    gone = field_attachments.FieldAttachmentsOperations("Deals", int(deal), 5725767000000000009)
    assert gone.get_field_attachments().get_status_code() == 204


def test_sdk_reads_modules(zoho_emulator, sdk):
    zoho_emulator.files.add_field("Projects", "Plans", "fileupload")
    response = modules.ModulesOperations().get_modules()
    assert response.get_status_code() == 200
    found = {m.get_api_name(): m for m in response.get_object().get_modules()}
    assert found["Deals"].get_api_supported() is True
    assert found["Projects"].get_generated_type().get_value() == "custom"
