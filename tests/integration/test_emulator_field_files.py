"""
The emulator's field metadata (``/settings/fields``, ``/settings/modules``), records with file and
image fields (read, list, update) and ``download_fields_attachment``: shapes, limits, errors.

Every answer these tests get is also checked against Zoho's OAS files (:mod:`._oas`) when they are
present; the defects of the OAS are named there.
"""

from __future__ import annotations

import os

import pytest

from airflow_provider_zoho_attach.testing._emulator_seed import tiny_png
from tests.integration._files_client import (
    PDF,
    PNG,
    ZFS_ID,
    ZOHO_TIME,
    error,
    ids,
    record,
)

pytestmark = pytest.mark.integration


# ---------------------------------------------------------------------------- field metadata


def test_settings_fields_lists_file_and_image_fields(zoho_emulator, files_api, files_deal):
    response = files_api.get("settings/fields", module="Deals")
    assert response.status_code == 200
    fields = {f["api_name"]: f for f in response.json()["fields"]}
    assert list(fields)[:2] == ["Owner", "Deal_Name"]
    contract, docs, photos = fields["Signed_Contract"], fields["Supporting_Documents"], fields["Photos"]
    assert (contract["data_type"], contract["json_type"], contract["ui_type"], contract["length"]) == (
        "fileupload",
        "jsonarray",
        555,
        1,
    )
    assert docs["length"] == 5
    assert (photos["data_type"], photos["json_type"], photos["ui_type"], photos["length"]) == (
        "imageupload",
        "jsonarray",
        556,
        3,
    )
    assert contract["associated_module"]["module"] == "Signed_Contract__s"
    assert contract["system_mandatory"] is False
    assert contract["custom_field"] is True
    assert (fields["Record_Image"]["data_type"], fields["Record_Image"]["json_type"]) == (
        "profileimage",
        "string",
    )
    assert fields["Deal_Name"]["system_mandatory"] is True
    assert zoho_emulator.files.fields("Deals") == response.json()["fields"]


def test_settings_fields_errors_and_types(zoho_emulator, files_api):
    assert error(files_api.get("settings/fields")) == ("REQUIRED_PARAM_MISSING", {"param_name": "module"})
    assert error(files_api.get("settings/fields", module="Widgets")) == (
        "INVALID_MODULE",
        {"api_name": "Widgets"},
    )
    assert files_api.get("settings/fields", module="Leads", type="unused").status_code == 204
    assert files_api.get("settings/fields", module="Leads", type="nope").json()["code"] == "INVALID_DATA"
    names = [
        f["api_name"] for f in files_api.get("settings/fields", module="Tasks", type="all").json()["fields"]
    ]
    assert names == ["Owner", "Subject", "Created_By", "Modified_By", "Created_Time", "Modified_Time"]


def test_declaring_fields_follows_zoho_limits(zoho_emulator):
    files = zoho_emulator.files
    with pytest.raises(ValueError, match="1 or 5"):
        files.add_field("Deals", "Docs", "fileupload", length=2)
    with pytest.raises(ValueError, match="1 to 10"):
        files.add_field("Deals", "Pics", "imageupload", length=11)
    with pytest.raises(ValueError, match="fileupload"):
        files.add_field("Deals", "Text", "text")
    files.add_field("Deals", "Docs", "fileupload", length=5)
    with pytest.raises(ValueError, match="already has"):
        files.add_field("Deals", "Docs", "fileupload", length=5)
    with pytest.raises(ValueError, match="already has"):
        files.add_field("Deals", "Owner", "fileupload")
    files_deal = zoho_emulator.add_record("Deals")
    for number in range(5):
        files.attach("Deals", files_deal, "Docs", f"{number}.txt", "x")
    with pytest.raises(ValueError, match="at most 5"):
        files.attach("Deals", files_deal, "Docs", "6.txt", "x")
    files.add_field("Deals", "Pics", "imageupload", length=1)
    with pytest.raises(ValueError, match="not a PNG"):
        files.attach("Deals", files_deal, "Pics", "a.txt", "not an image")
    with pytest.raises(KeyError, match="no file or image field"):
        files.attach("Deals", files_deal, "Deal_Name", "a.txt", "x")
    assert files.zfs_files(used=False) == []  # refused files leave nothing behind
    assert len(os.listdir(zoho_emulator.blob_dir)) == 5
    files.add_field("Projects", "Plans", "fileupload")  # a custom module appears, with a Name field
    names = [f["api_name"] for f in files.fields("Projects")]
    assert (names[1], names[-2], names[-1]) == ("Name", "Record_Image", "Plans")


def test_settings_modules_lists_standard_and_custom_modules(zoho_emulator, files_api):
    zoho_emulator.files.add_field("Projects", "Plans", "fileupload")
    modules = {m["api_name"]: m for m in files_api.get("settings/modules").json()["modules"]}
    assert modules["Deals"]["generated_type"] == "default"
    assert modules["Deals"]["api_supported"] is True
    assert modules["Projects"]["generated_type"] == "custom"


# ---------------------------------------------------------------------------- records


def test_record_shows_file_and_image_fields(zoho_emulator, files_api, files_deal):
    zoho_emulator.clock.advance(5)
    contract = zoho_emulator.files.attach("Deals", files_deal, "Signed_Contract", "contract.pdf", PDF)
    photo = zoho_emulator.files.attach("Deals", files_deal, "Photos", "site.png", PNG, description="front")
    data = record(files_api, files_deal)
    assert data["id"] == files_deal
    assert data["Deal_Name"] == "Acme"
    assert data["Supporting_Documents"] is None
    (entry,) = data["Signed_Contract"]
    assert entry["id"] == contract["id"]
    assert entry["id"].isdigit()
    assert ZFS_ID.match(entry["File_Id__s"])
    assert (entry["File_Name__s"], entry["Size__s"]) == ("contract.pdf", str(len(PDF)))
    assert ZOHO_TIME.match(entry["Created_Time__s"])
    assert ZOHO_TIME.match(entry["Modified_Time__s"])
    assert entry["Owner__s"]["id"] == entry["Created_By__s"]["id"]
    (image,) = data["Photos"]
    assert image["id"] == photo["id"]
    assert ZFS_ID.match(image["Preview_Id__s"])
    assert image["Sequence_Number__s"] == 1
    assert image["Description__s"] == "front"
    assert ZOHO_TIME.match(data["Created_Time"])
    assert ZOHO_TIME.match(data["Modified_Time"])
    only = files_api.get(f"Deals/{files_deal}", fields="Photos").json()["data"][0]
    assert set(only) == {"Photos", "id"}


def test_record_errors(zoho_emulator, files_api):
    assert error(files_api.get("Deals/5725767000000000009")) == ("INVALID_DATA", {"resource_path_index": 1})
    assert error(files_api.get("Deals/abc"))[0] == "INVALID_DATA"
    assert error(files_api.get("Widgets/1")) == ("INVALID_MODULE", {"resource_path_index": 0})
    assert files_api.request("DELETE", "Deals/1").json()["code"] == "INVALID_REQUEST_METHOD"


def test_record_list_by_ids_and_pages(zoho_emulator, files_api, files_deal):
    other = zoho_emulator.add_record("Deals", name="Other")
    zoho_emulator.files.attach("Deals", other, "Signed_Contract", "c.pdf", PDF)
    listed = files_api.get("Deals", fields="Deal_Name,Signed_Contract", ids=f"{files_deal},{other}")
    assert listed.status_code == 200
    body = listed.json()
    assert [r["id"] for r in body["data"]] == [other, files_deal]  # sort_by id, desc
    assert body["data"][0]["Signed_Contract"][0]["File_Name__s"] == "c.pdf"
    assert body["data"][1]["Signed_Contract"] is None
    assert body["info"] == {
        "per_page": 200,
        "count": 2,
        "page": 1,
        "sort_by": "id",
        "sort_order": "desc",
        "more_records": False,
        "next_page_token": None,
        "previous_page_token": None,
        "page_token_expiry": None,
    }
    first = files_api.get("Deals", fields="id", per_page="1", sort_order="asc").json()
    assert [r["id"] for r in first["data"]] == [files_deal]
    assert first["info"]["more_records"] is True
    assert files_api.get("Leads", fields="id").status_code == 204
    assert error(files_api.get("Deals")) == ("REQUIRED_PARAM_MISSING", {"param_name": "fields"})
    assert (
        error(files_api.get("Deals", fields="id", page="1", page_token="x"))[0]
        == "AMBIGUITY_DURING_PROCESSING"
    )
    assert error(files_api.get("Deals", fields="id", page="11"))[0] == "DISCRETE_PAGINATION_LIMIT_EXCEEDED"
    assert error(files_api.get("Deals", fields="id", ids="1,x")) == ("INVALID_DATA", {"param_name": "ids"})
    assert error(files_api.get("Deals", fields="id", sort_by="Deal_Name")) == (
        "INVALID_DATA",
        {"param_name": "sort_by"},
    )


def test_attach_appends_and_consumes_the_single_use_id(zoho_emulator, files_api, files_deal):
    first, second, spare = ids(files_api.upload(("one.pdf", PDF), ("two.txt", b"two"), ("three.txt", b"3")))
    zoho_emulator.clock.advance(60)
    response = files_api.put(f"Deals/{files_deal}", {"Supporting_Documents": [{"File_Id__s": first}]})
    assert response.status_code == 200
    (result,) = response.json()["data"]
    assert (result["code"], result["status"], result["message"]) == ("SUCCESS", "success", "record updated")
    details = result["details"]
    assert details["id"] == files_deal
    assert set(details) >= {
        "Modified_Time",
        "Modified_By",
        "Created_Time",
        "Created_By",
    }
    assert details["Modified_Time"] > details["Created_Time"]
    files_api.put(f"Deals/{files_deal}", {"Supporting_Documents": [{"File_Id__s": second}]})
    names = [e["File_Name__s"] for e in record(files_api, files_deal)["Supporting_Documents"]]
    assert names == ["one.pdf", "two.txt"]  # appended, the first one kept
    # The id was consumed: attaching it again, here or elsewhere, is refused.
    again = files_api.put(f"Deals/{files_deal}", {"Signed_Contract": [{"File_Id__s": first}]})
    assert again.status_code == 400
    (failure,) = again.json()["data"]
    assert (failure["code"], failure["details"]) == (
        "INVALID_DATA",
        {"api_name": "Signed_Contract", "json_path": "$.data[0].Signed_Contract[0].File_Id__s"},
    )
    twice = files_api.put(
        f"Deals/{files_deal}", {"Signed_Contract": [{"File_Id__s": spare}, {"File_Id__s": spare}]}
    )
    assert twice.json()["data"][0]["code"] in ("INVALID_DATA", "LIMIT_EXCEEDED")
    assert [f["id"] for f in zoho_emulator.files.zfs_files(used=False)] == [spare]
    assert (
        zoho_emulator.files.zfs_files(used=True)[0]["used_by"] == f"Deals/{files_deal}/Supporting_Documents"
    )


def test_field_limit_is_enforced_and_nothing_changes(zoho_emulator, files_api, files_deal):
    a, b = ids(files_api.upload(("a.pdf", PDF), ("b.pdf", PDF)))
    files_api.put(f"Deals/{files_deal}", {"Signed_Contract": [{"File_Id__s": a}]})
    response = files_api.put(
        f"Deals/{files_deal}", {"Deal_Name": "Renamed", "Signed_Contract": [{"File_Id__s": b}]}
    )
    assert response.status_code == 400
    (failure,) = response.json()["data"]
    assert failure == {
        "code": "LIMIT_EXCEEDED",
        "details": {"api_name": "Signed_Contract", "json_path": "$.data[0].Signed_Contract", "limit": 1},
        "message": "Record insertion limit has been exceeded.",
        "status": "error",
    }
    data = record(files_api, files_deal)
    assert data["Deal_Name"] == "Acme"  # the whole record is refused, not half-applied
    assert [e["File_Id__s"] for e in data["Signed_Contract"]] == [a]
    pictures = ids(files_api.upload(*[(f"p{i}.png", PNG) for i in range(4)]))
    over = files_api.put(f"Deals/{files_deal}", {"Photos": [{"File_Id__s": p} for p in pictures]})
    assert (
        over.json()["data"][0]["message"]
        == "Record insertion limit for Image upload field has been exceeded."
    )
    zoho_emulator.config.field_limit_code = "NOT_ALLOWED"
    assert files_api.put(f"Deals/{files_deal}", {"Signed_Contract": [{"File_Id__s": b}]}).json()["data"][0][
        "code"
    ] == ("NOT_ALLOWED")


def test_delete_removes_an_entry_and_its_file(zoho_emulator, files_api, files_deal):
    kept = zoho_emulator.files.attach("Deals", files_deal, "Supporting_Documents", "keep.txt", "k")
    gone = zoho_emulator.files.attach("Deals", files_deal, "Supporting_Documents", "gone.txt", "g")
    (new,) = ids(files_api.upload(("new.txt", b"n")))
    response = files_api.put(
        "Deals",
        {
            "id": files_deal,
            "Supporting_Documents": [{"id": gone["id"], "_delete": None}, {"File_Id__s": new}],
        },
    )
    assert response.status_code == 200
    assert [e["File_Name__s"] for e in record(files_api, files_deal)["Supporting_Documents"]] == [
        "keep.txt",
        "new.txt",
    ]
    assert files_api.get("files", id=gone["File_Id__s"]).status_code == 204
    assert files_api.get("files", id=kept["File_Id__s"]).content == b"k"  # GET /files serves field files too
    (removed,) = zoho_emulator.files.removed
    assert (removed["id"], removed["field"], removed["file_name"]) == (
        gone["id"],
        "Supporting_Documents",
        "gone.txt",
    )
    unknown = files_api.put(
        f"Deals/{files_deal}", {"Supporting_Documents": [{"id": "5725767000000000009", "_delete": None}]}
    )
    assert unknown.json()["data"][0]["details"]["json_path"] == "$.data[0].Supporting_Documents[0].id"
    zoho_emulator.config.files_api_serves_field_files = False
    assert files_api.get("files", id=kept["File_Id__s"]).status_code == 204


def test_replace_mode_keeps_only_the_entries_sent(zoho_emulator, files_api, files_deal):
    zoho_emulator.config.field_update_mode = "replace"
    one = zoho_emulator.files.attach("Deals", files_deal, "Supporting_Documents", "one.txt", "1")
    zoho_emulator.files.attach("Deals", files_deal, "Supporting_Documents", "two.txt", "2")
    (new,) = ids(files_api.upload(("new.txt", b"n")))
    files_api.put(f"Deals/{files_deal}", {"Supporting_Documents": [{"id": one["id"]}, {"File_Id__s": new}]})
    assert [e["File_Name__s"] for e in record(files_api, files_deal)["Supporting_Documents"]] == [
        "one.txt",
        "new.txt",
    ]
    files_api.put(f"Deals/{files_deal}", {"Supporting_Documents": []})
    assert record(files_api, files_deal)["Supporting_Documents"] is None
    assert len(zoho_emulator.files.removed) == 3


def test_bad_updates_get_clear_errors(zoho_emulator, files_api, files_deal):
    (text_id,) = ids(files_api.upload(("notes.txt", b"not an image")))

    def first_error(*records, path=f"Deals/{files_deal}"):
        response = files_api.put(path, *records)
        assert response.status_code == 400, response.text
        return (
            error(response)
            if "data" not in response.json()
            else tuple(response.json()["data"][0][k] for k in ("code", "details"))
        )

    assert first_error({"Photos": [{"File_Id__s": text_id}]}) == (
        "INVALID_DATA",
        {"api_name": "Photos", "json_path": "$.data[0].Photos[0].File_Id__s"},
    )
    assert first_error({"Nope": [{"File_Id__s": text_id}]}) == (
        "INVALID_DATA",
        {"api_name": "Nope", "json_path": "$.data[0].Nope"},
    )
    assert first_error({"Deal_Name": [{"File_Id__s": text_id}]}) == (
        "INVALID_DATA",
        {"api_name": "Deal_Name", "json_path": "$.data[0].Deal_Name", "expected_data_type": "text"},
    )
    assert first_error({"Signed_Contract": {"File_Id__s": text_id}})[1]["expected_data_type"] == "jsonarray"
    assert first_error({"Signed_Contract": [{"File_Name__s": "x"}]})[0] == "MANDATORY_NOT_FOUND"
    assert first_error({"Signed_Contract": [{"File_Id__s": "f" * 40}]})[0] == "INVALID_DATA"
    assert first_error({"Deal_Name": "x"}, path="Deals")[0] == "MANDATORY_NOT_FOUND"
    assert first_error({"id": "5725767000000000009", "Deal_Name": "x"}, path="Deals")[0] == "INVALID_DATA"
    assert first_error({"Deal_Name": "x"}, path="Deals/5725767000000000009")[0] == "INVALID_DATA"
    too_many = files_api.put("Deals", *[{"id": files_deal}] * 101)
    assert error(too_many) == ("LIMIT_EXCEEDED", {"api_name": "data", "limit": 100})
    assert files_api.request("PUT", f"Deals/{files_deal}", data=b"{nope").json()["code"] == "INVALID_DATA"
    assert (
        files_api.request("PUT", f"Deals/{files_deal}", json={"data": []}).json()["code"]
        == "MANDATORY_NOT_FOUND"
    )
    zoho_emulator.config.reject_unknown_fields = False
    assert files_api.put(f"Deals/{files_deal}", {"Nope": 1, "Deal_Name": "Renamed"}).status_code == 200
    assert record(files_api, files_deal)["Deal_Name"] == "Renamed"


def test_bulk_update_answers_each_record(zoho_emulator, files_api, files_deal):
    other = zoho_emulator.add_record("Deals")
    a, b = ids(files_api.upload(("a.pdf", PDF), ("b.pdf", PDF)))
    response = files_api.put(
        "Deals",
        {"id": files_deal, "Signed_Contract": [{"File_Id__s": a}]},
        {"id": other, "Signed_Contract": [{"File_Id__s": a}]},
        {"id": other, "Signed_Contract": [{"File_Id__s": b}]},
    )
    assert response.status_code == 200
    assert [r["status"] for r in response.json()["data"]] == ["success", "error", "success"]
    assert record(files_api, other)["Signed_Contract"][0]["File_Id__s"] == b


def test_record_image_is_a_zfs_id(zoho_emulator, files_api):
    contact = zoho_emulator.add_record("Contacts")
    assert record(files_api, contact, "Contacts")["Record_Image"] is None
    zoho_emulator.set_photo("Contacts", contact, PNG)
    image_id = record(files_api, contact, "Contacts")["Record_Image"]
    assert ZFS_ID.match(image_id)
    assert files_api.get("files", id=image_id).content == PNG
    new_png = tiny_png(3, 3)
    (file_id,) = ids(files_api.upload(("face.png", new_png)))
    assert files_api.put(f"Contacts/{contact}", {"Record_Image": file_id}).status_code == 200
    assert zoho_emulator.photo("Contacts", contact) == new_png
    assert record(files_api, contact, "Contacts")["Record_Image"] == file_id
    assert files_api.get("files", id=image_id).status_code == 204  # the old photo is gone
    (second_id,) = ids(files_api.upload(("face2.png", PNG)))
    assert files_api.put(f"Contacts/{contact}", {"Record_Image": second_id}).status_code == 200
    assert files_api.get("files", id=file_id).status_code == 204  # replaced: its ZFS file went too
    assert files_api.put(f"Contacts/{contact}", {"Record_Image": None}).status_code == 200
    assert zoho_emulator.photo("Contacts", contact) is None
    assert files_api.get("files", id=second_id).status_code == 204
    assert record(files_api, contact, "Contacts")["Record_Image"] is None


def test_legacy_item_shape(zoho_emulator, files_api, files_deal):
    entry = zoho_emulator.files.attach("Deals", files_deal, "Signed_Contract", "contract.pdf", PDF)
    zoho_emulator.config.field_item_shape = "legacy"
    (legacy,) = record(files_api, files_deal)["Signed_Contract"]
    assert legacy["attachment_Id"] == entry["id"]
    assert legacy["file_Id"] == entry["File_Id__s"]
    assert (legacy["file_Name"], legacy["extn"], legacy["original_Size_Byte"]) == (
        "contract.pdf",
        "pdf",
        str(len(PDF)),
    )
    assert legacy["download_Url"].endswith(f"fields_attachment_id={entry['id']}")


# ---------------------------------------------------------------------------- download_fields_attachment


def test_download_fields_attachment(zoho_emulator, files_api, files_deal):
    entry = zoho_emulator.files.attach("Deals", files_deal, "Signed_Contract", "signed contract.pdf", PDF)
    path = f"Deals/{files_deal}/actions/download_fields_attachment"
    response = files_api.get(path, fields_attachment_id=entry["id"])
    assert response.status_code == 200
    assert response.content == PDF
    assert response.headers["Content-Type"] == "application/x-download"
    assert response.headers["Content-Disposition"] == "attachment;filename*=UTF-8''signed%20contract.pdf"
    assert files_api.get(path, fields_attachment_id="5725767000000000009").status_code == 204
    assert error(files_api.get(path)) == ("REQUIRED_PARAM_MISSING", {"param_name": "fields_attachment_id"})
    assert error(files_api.get(path, fields_attachment_id=entry["File_Id__s"]))[0] == "INVALID_DATA"
    other = zoho_emulator.add_record("Deals")  # another record's entry is not this one's
    action = "actions/download_fields_attachment"
    assert files_api.get(f"Deals/{other}/{action}", fields_attachment_id=entry["id"]).status_code == 204
    bad = files_api.get(f"Deals/5725767000000000009/{action}", fields_attachment_id=entry["id"])
    assert error(bad) == ("INVALID_DATA", {"resource_path_index": 1})
    unknown_module = files_api.get(f"Widgets/{files_deal}/{action}", fields_attachment_id="1")
    assert error(unknown_module)[0] == "INVALID_MODULE"
    zoho_emulator.config.field_attachment_missing_status = 400
    assert error(files_api.get(path, fields_attachment_id="5725767000000000009"))[0] == "INVALID_DATA"
