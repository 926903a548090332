"""
The emulator's Files API (ZFS), field metadata, records with file and image fields, and
``download_fields_attachment``: shapes, limits, errors, scopes, faults.

Every answer these tests get is also checked against Zoho's OAS files (:mod:`._oas`) when they are
present; the defects of the OAS are named there.
"""

from __future__ import annotations

import hashlib
import os
import re

import pytest
import requests

from airflow_provider_zoho_attach.testing import ALL_SCOPES, ZohoCRMEmulator
from airflow_provider_zoho_attach.testing._emulator_seed import DEMO_RECORDS, tiny_png
from tests.integration._oas import Oas, check_answer

pytestmark = pytest.mark.integration

TIMEOUT = 30
MIB = 1024 * 1024
PNG = tiny_png(8, 8)
PDF = b"%PDF-1.4 signed"
ZFS_ID = re.compile(r"^[0-9a-f]{40}$")
ZOHO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")
EICAR_LIKE = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


@pytest.fixture(scope="module")
def oas():
    return Oas() if Oas.available() else None


class Api:
    """An authenticated client of one emulator that checks every answer against the OAS."""

    def __init__(self, emulator, oas, scopes=None):
        self.emulator = emulator
        self.oas = oas
        self.session = requests.Session()
        refresh = emulator.create_refresh_token(scopes) if scopes else None
        self.session.headers["Authorization"] = f"Zoho-oauthtoken {emulator.issue_access_token(refresh)}"
        self.base = f"{emulator.url}/crm/v8/"

    def request(self, method, path, **kwargs):
        kwargs.setdefault("timeout", TIMEOUT)
        response = self.session.request(method, self.base + path, **kwargs)
        if self.oas is not None:
            check_answer(self.oas, response)
        return response

    def get(self, path, **params):
        return self.request("GET", path, params=params)

    def upload(self, *files, **params):
        parts = [("file", file) for file in files]
        return self.request("POST", "files", files=parts, params=params)

    def put(self, path, *records):
        return self.request("PUT", path, json={"data": list(records)})


@pytest.fixture
def api(zoho_emulator, oas):
    client = Api(zoho_emulator, oas)
    yield client
    client.session.close()


@pytest.fixture
def deal(zoho_emulator):
    """A Deal with the demo's three file fields, empty."""
    files = zoho_emulator.files
    files.add_field("Deals", "Signed_Contract", "fileupload", length=1)
    files.add_field("Deals", "Supporting_Documents", "fileupload", length=5)
    files.add_field("Deals", "Photos", "imageupload", length=3)
    return zoho_emulator.add_record("Deals", name="Acme")


def ids(response):
    assert response.status_code == 200, response.text
    return [entry["details"]["id"] for entry in response.json()["data"]]


def error(response):
    body = response.json()
    return body["code"], body["details"]


def record(api, record_id, module="Deals"):
    response = api.get(f"{module}/{record_id}")
    assert response.status_code == 200, response.text
    (data,) = response.json()["data"]
    return data


# ---------------------------------------------------------------------------- ZFS upload


def test_upload_answers_one_entry_per_file_in_request_order(zoho_emulator, api):
    response = api.upload(("b.txt", b"bee"), ("a b (2).pdf", PDF), ("c.png", PNG, "image/png"))
    assert response.status_code == 200
    data = response.json()["data"]
    assert [d["details"]["name"] for d in data] == ["b.txt", "a b (2).pdf", "c.png"]
    assert [d["message"] for d in data] == [f"{d['details']['name']} uploaded successfully" for d in data]
    assert {(d["code"], d["status"]) for d in data} == {("SUCCESS", "success")}
    file_ids = [d["details"]["id"] for d in data]
    assert all(ZFS_ID.match(i) for i in file_ids)
    assert len(set(file_ids)) == 3
    stored = zoho_emulator.files.zfs_files(used=False)
    assert [(f["id"], f["size"], f["inline"]) for f in stored] == [
        (i, n, False) for i, n in zip(file_ids, (3, 15, len(PNG)), strict=True)
    ]
    assert zoho_emulator.files.content(file_ids[1]) == PDF


def test_upload_type_inline(zoho_emulator, api):
    (file_id,) = ids(api.upload(("i.png", PNG), type="inline"))
    assert zoho_emulator.files.zfs_files()[0] == {
        "id": file_id,
        "name": "i.png",
        "size": len(PNG),
        "content_type": "image/png",
        "inline": True,
        "used_by": None,
    }
    assert error(api.upload(("i.png", PNG), type="attachment")) == ("INVALID_DATA", {"param_name": "type"})


def test_more_than_ten_files_refuse_the_whole_request(zoho_emulator, api):
    assert len(ids(api.upload(*[(f"f{i}.txt", b"x") for i in range(10)]))) == 10
    response = api.upload(*[(f"g{i}.txt", b"x") for i in range(11)])
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_REQUEST"
    assert len(zoho_emulator.files.zfs_files()) == 10


def test_a_file_over_the_size_limit_refuses_the_whole_request(zoho_emulator, api):
    zoho_emulator.config.max_zfs_file_size = 1000
    response = api.upload(("ok.bin", b"x" * 1000), ("big.bin", b"x" * 1001), ("after.bin", b"y"))
    assert response.status_code == 415
    assert response.json()["code"] == "FILE_SIZE_MORE_THAN_ALLOWED_SIZE"
    assert zoho_emulator.files.zfs_files() == []
    zoho_emulator.config.zfs_oversize_status = 400
    assert api.upload(("big.bin", b"x" * 1001)).status_code == 400
    assert len(ids(api.upload(("ok.bin", b"x" * 1000)))) == 1


def test_twenty_mb_limit_with_streamed_parts_and_flat_memory(zoho_emulator, api):
    import tracemalloc

    boundary = "zfs-boundary-5c1d"
    sizes = [2 * MIB] * 10

    def body(sizes):
        block = hashlib.sha256(b"zfs").digest() * (MIB // 32)
        for index, size in enumerate(sizes):
            disposition = f'form-data; name="file"; filename="p{index}.bin"'
            yield f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
            for start in range(0, size, MIB):
                yield block[: min(MIB, size - start)]
            yield b"\r\n"
        yield f"--{boundary}--\r\n".encode()

    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    tracemalloc.start()
    try:
        response = api.request("POST", "files", data=body(sizes), headers=headers)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(ids(response)) == 10
    assert peak < 8 * MIB, f"peak traced memory {peak / MIB:.1f} MiB for a 20 MiB upload"
    over = api.request("POST", "files", data=body([20 * MIB + 1]), headers=headers)
    assert over.status_code == 415
    assert len(zoho_emulator.files.zfs_files()) == 10


@pytest.mark.parametrize(
    "parts",
    [[("empty.txt", b"")], [("a.txt", b"a"), ("empty.txt", b"")]],
    ids=["empty", "one-empty"],
)
def test_empty_part_is_failure_in_attachment_handling(zoho_emulator, api, parts):
    response = api.upload(*parts)
    assert response.status_code == 400
    assert response.json() == {
        "code": "failure_in_attachment_handling",
        "details": {},
        "message": "Problem in uploading attachment. kindly upload the file properly",
        "status": "error",
    }
    assert zoho_emulator.files.zfs_files() == []


def test_no_file_part_is_failure_in_attachment_handling(api):
    assert api.request("POST", "files", files={"other": ("a.txt", b"a")}).json()["code"] == (
        "failure_in_attachment_handling"
    )
    assert api.request("POST", "files", data={"x": "1"}).json()["code"] == "failure_in_attachment_handling"


def test_scripted_virus_verdict_refuses_the_whole_request(zoho_emulator, api):
    zoho_emulator.files.flag_virus("invoice.pdf")
    response = api.upload(("clean.txt", b"ok"), ("invoice.pdf", PDF))
    assert response.status_code == 400
    assert response.json()["code"] == "VIRUS_DETECTED"
    assert response.json()["message"] == "Unable to process your request. Virus has been detected."
    # The EICAR test file is caught by its content, wherever it sits.
    assert error(api.upload(("eicar.com.txt", b"x" * 5 + EICAR_LIKE)))[0] == "VIRUS_DETECTED"
    assert zoho_emulator.files.zfs_files() == []
    zoho_emulator.files.clear_virus_flags()
    zoho_emulator.config.virus_signature = ""
    assert len(ids(api.upload(("invoice.pdf", PDF), ("eicar.com.txt", EICAR_LIKE)))) == 2
    assert zoho_emulator.requests[0].code == "VIRUS_DETECTED"


def test_virus_signature_split_across_blocks_is_found(zoho_emulator, api):
    padding = b"." * (MIB - 10)  # the signature straddles the parser's 1 MiB blocks
    assert error(api.upload(("big.txt", padding + EICAR_LIKE)))[0] == "VIRUS_DETECTED"


# ---------------------------------------------------------------------------- ZFS download


def test_download_streams_the_file_with_its_name_and_type(api):
    (file_id,) = ids(api.upload(("image (2).png", PNG, "image/png")))
    response = api.get("files", id=file_id)
    assert response.status_code == 200
    assert response.content == PNG
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["Content-Disposition"] == "attachment;filename*=UTF-8''image%20%282%29.png"


def test_download_unknown_empty_and_missing_id(api):
    assert api.get("files", id="0" * 40).status_code == 204
    assert api.get("files", id="").status_code == 204
    response = api.get("files")
    assert response.status_code == 400
    assert error(response) == ("REQUIRED_PARAM_MISSING", {"param_name": "id"})
    assert api.request("DELETE", "files").json()["code"] == "INVALID_REQUEST_METHOD"


# ---------------------------------------------------------------------------- scopes


@pytest.mark.parametrize(
    ("scopes", "upload", "download"),
    [
        (["ZohoCRM.Files.CREATE"], 200, 401),
        (["zohocrm.files.create", "ZOHOCRM.FILES.READ"], 200, 200),
        (["ZohoCRM.files.READ"], 401, 200),
        (["ZohoCRM.Files.ALL"], 200, 200),
        (["ZohoCRM.modules.ALL", "ZohoCRM.settings.ALL"], 401, 401),
    ],
)
def test_files_scopes_are_case_insensitive(zoho_emulator, oas, scopes, upload, download):
    file_id = zoho_emulator.files.upload("a.txt", "a")
    client = Api(zoho_emulator, oas, scopes)
    assert client.upload(("b.txt", b"b")).status_code == upload
    response = client.get("files", id=file_id)
    assert response.status_code == download
    if download == 401:
        assert response.json()["code"] == "OAUTH_SCOPE_MISMATCH"


def test_settings_and_module_scopes(zoho_emulator, oas, deal):
    reader = Api(zoho_emulator, oas, ["ZohoCRM.settings.fields.READ", "ZohoCRM.modules.deals.READ"])
    assert reader.get("settings/fields", module="Deals").status_code == 200
    assert reader.get(f"Deals/{deal}").status_code == 200
    assert reader.put(f"Deals/{deal}", {"Deal_Name": "x"}).status_code == 401
    assert (
        reader.get(f"Deals/{deal}/actions/download_fields_attachment", fields_attachment_id="1").status_code
        == 204
    )
    assert reader.get(f"Leads/{zoho_emulator.add_record('Leads')}").status_code == 401
    writer = Api(zoho_emulator, oas, ["ZohoCRM.modules.deals.UPDATE"])
    assert writer.put(f"Deals/{deal}", {"Deal_Name": "x"}).status_code == 200
    assert writer.get("settings/fields", module="Deals").json()["code"] == "OAUTH_SCOPE_MISMATCH"
    assert Api(zoho_emulator, oas, ["ZohoCRM.settings.ALL"]).get("settings/modules").status_code == 200


# ---------------------------------------------------------------------------- field metadata


def test_settings_fields_lists_file_and_image_fields(zoho_emulator, api, deal):
    response = api.get("settings/fields", module="Deals")
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


def test_settings_fields_errors_and_types(zoho_emulator, api):
    assert error(api.get("settings/fields")) == ("REQUIRED_PARAM_MISSING", {"param_name": "module"})
    assert error(api.get("settings/fields", module="Widgets")) == ("INVALID_MODULE", {"api_name": "Widgets"})
    assert api.get("settings/fields", module="Leads", type="unused").status_code == 204
    assert api.get("settings/fields", module="Leads", type="nope").json()["code"] == "INVALID_DATA"
    names = [f["api_name"] for f in api.get("settings/fields", module="Tasks", type="all").json()["fields"]]
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
    deal = zoho_emulator.add_record("Deals")
    for number in range(5):
        files.attach("Deals", deal, "Docs", f"{number}.txt", "x")
    with pytest.raises(ValueError, match="at most 5"):
        files.attach("Deals", deal, "Docs", "6.txt", "x")
    files.add_field("Deals", "Pics", "imageupload", length=1)
    with pytest.raises(ValueError, match="not a PNG"):
        files.attach("Deals", deal, "Pics", "a.txt", "not an image")
    with pytest.raises(KeyError, match="no file or image field"):
        files.attach("Deals", deal, "Deal_Name", "a.txt", "x")
    assert files.zfs_files(used=False) == []  # refused files leave nothing behind
    assert len(os.listdir(zoho_emulator.blob_dir)) == 5
    files.add_field("Projects", "Plans", "fileupload")  # a custom module appears, with a Name field
    names = [f["api_name"] for f in files.fields("Projects")]
    assert (names[1], names[-2], names[-1]) == ("Name", "Record_Image", "Plans")


def test_settings_modules_lists_standard_and_custom_modules(zoho_emulator, api):
    zoho_emulator.files.add_field("Projects", "Plans", "fileupload")
    modules = {m["api_name"]: m for m in api.get("settings/modules").json()["modules"]}
    assert modules["Deals"]["generated_type"] == "default"
    assert modules["Deals"]["api_supported"] is True
    assert modules["Projects"]["generated_type"] == "custom"


# ---------------------------------------------------------------------------- records


def test_record_shows_file_and_image_fields(zoho_emulator, api, deal):
    zoho_emulator.clock.advance(5)
    contract = zoho_emulator.files.attach("Deals", deal, "Signed_Contract", "contract.pdf", PDF)
    photo = zoho_emulator.files.attach("Deals", deal, "Photos", "site.png", PNG, description="front")
    data = record(api, deal)
    assert data["id"] == deal
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
    only = api.get(f"Deals/{deal}", fields="Photos").json()["data"][0]
    assert set(only) == {"Photos", "id"}


def test_record_errors(zoho_emulator, api):
    assert error(api.get("Deals/5725767000000000009")) == ("INVALID_DATA", {"resource_path_index": 1})
    assert error(api.get("Deals/abc"))[0] == "INVALID_DATA"
    assert error(api.get("Widgets/1")) == ("INVALID_MODULE", {"resource_path_index": 0})
    assert api.request("DELETE", "Deals/1").json()["code"] == "INVALID_REQUEST_METHOD"


def test_record_list_by_ids_and_pages(zoho_emulator, api, deal):
    other = zoho_emulator.add_record("Deals", name="Other")
    zoho_emulator.files.attach("Deals", other, "Signed_Contract", "c.pdf", PDF)
    listed = api.get("Deals", fields="Deal_Name,Signed_Contract", ids=f"{deal},{other}")
    assert listed.status_code == 200
    body = listed.json()
    assert [r["id"] for r in body["data"]] == [other, deal]  # sort_by id, desc
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
    first = api.get("Deals", fields="id", per_page="1", sort_order="asc").json()
    assert [r["id"] for r in first["data"]] == [deal]
    assert first["info"]["more_records"] is True
    assert api.get("Leads", fields="id").status_code == 204
    assert error(api.get("Deals")) == ("REQUIRED_PARAM_MISSING", {"param_name": "fields"})
    assert error(api.get("Deals", fields="id", page="1", page_token="x"))[0] == "AMBIGUITY_DURING_PROCESSING"
    assert error(api.get("Deals", fields="id", page="11"))[0] == "DISCRETE_PAGINATION_LIMIT_EXCEEDED"
    assert error(api.get("Deals", fields="id", ids="1,x")) == ("INVALID_DATA", {"param_name": "ids"})
    assert error(api.get("Deals", fields="id", sort_by="Deal_Name")) == (
        "INVALID_DATA",
        {"param_name": "sort_by"},
    )


def test_attach_appends_and_consumes_the_single_use_id(zoho_emulator, api, deal):
    first, second, spare = ids(api.upload(("one.pdf", PDF), ("two.txt", b"two"), ("three.txt", b"3")))
    zoho_emulator.clock.advance(60)
    response = api.put(f"Deals/{deal}", {"Supporting_Documents": [{"File_Id__s": first}]})
    assert response.status_code == 200
    (result,) = response.json()["data"]
    assert (result["code"], result["status"], result["message"]) == ("SUCCESS", "success", "record updated")
    details = result["details"]
    assert details["id"] == deal
    assert set(details) >= {
        "Modified_Time",
        "Modified_By",
        "Created_Time",
        "Created_By",
    }
    assert details["Modified_Time"] > details["Created_Time"]
    api.put(f"Deals/{deal}", {"Supporting_Documents": [{"File_Id__s": second}]})
    names = [e["File_Name__s"] for e in record(api, deal)["Supporting_Documents"]]
    assert names == ["one.pdf", "two.txt"]  # appended, the first one kept
    # The id was consumed: attaching it again, here or elsewhere, is refused.
    again = api.put(f"Deals/{deal}", {"Signed_Contract": [{"File_Id__s": first}]})
    assert again.status_code == 400
    (failure,) = again.json()["data"]
    assert (failure["code"], failure["details"]) == (
        "INVALID_DATA",
        {"api_name": "Signed_Contract", "json_path": "$.data[0].Signed_Contract[0].File_Id__s"},
    )
    twice = api.put(f"Deals/{deal}", {"Signed_Contract": [{"File_Id__s": spare}, {"File_Id__s": spare}]})
    assert twice.json()["data"][0]["code"] in ("INVALID_DATA", "LIMIT_EXCEEDED")
    assert [f["id"] for f in zoho_emulator.files.zfs_files(used=False)] == [spare]
    assert zoho_emulator.files.zfs_files(used=True)[0]["used_by"] == f"Deals/{deal}/Supporting_Documents"


def test_field_limit_is_enforced_and_nothing_changes(zoho_emulator, api, deal):
    a, b = ids(api.upload(("a.pdf", PDF), ("b.pdf", PDF)))
    api.put(f"Deals/{deal}", {"Signed_Contract": [{"File_Id__s": a}]})
    response = api.put(f"Deals/{deal}", {"Deal_Name": "Renamed", "Signed_Contract": [{"File_Id__s": b}]})
    assert response.status_code == 400
    (failure,) = response.json()["data"]
    assert failure == {
        "code": "LIMIT_EXCEEDED",
        "details": {"api_name": "Signed_Contract", "json_path": "$.data[0].Signed_Contract", "limit": 1},
        "message": "Record insertion limit has been exceeded.",
        "status": "error",
    }
    data = record(api, deal)
    assert data["Deal_Name"] == "Acme"  # the whole record is refused, not half-applied
    assert [e["File_Id__s"] for e in data["Signed_Contract"]] == [a]
    pictures = ids(api.upload(*[(f"p{i}.png", PNG) for i in range(4)]))
    over = api.put(f"Deals/{deal}", {"Photos": [{"File_Id__s": p} for p in pictures]})
    assert (
        over.json()["data"][0]["message"]
        == "Record insertion limit for Image upload field has been exceeded."
    )
    zoho_emulator.config.field_limit_code = "NOT_ALLOWED"
    assert api.put(f"Deals/{deal}", {"Signed_Contract": [{"File_Id__s": b}]}).json()["data"][0]["code"] == (
        "NOT_ALLOWED"
    )


def test_delete_removes_an_entry_and_its_file(zoho_emulator, api, deal):
    kept = zoho_emulator.files.attach("Deals", deal, "Supporting_Documents", "keep.txt", "k")
    gone = zoho_emulator.files.attach("Deals", deal, "Supporting_Documents", "gone.txt", "g")
    (new,) = ids(api.upload(("new.txt", b"n")))
    response = api.put(
        "Deals",
        {"id": deal, "Supporting_Documents": [{"id": gone["id"], "_delete": None}, {"File_Id__s": new}]},
    )
    assert response.status_code == 200
    assert [e["File_Name__s"] for e in record(api, deal)["Supporting_Documents"]] == ["keep.txt", "new.txt"]
    assert api.get("files", id=gone["File_Id__s"]).status_code == 204
    assert api.get("files", id=kept["File_Id__s"]).content == b"k"  # GET /files serves field files too
    (removed,) = zoho_emulator.files.removed
    assert (removed["id"], removed["field"], removed["file_name"]) == (
        gone["id"],
        "Supporting_Documents",
        "gone.txt",
    )
    unknown = api.put(
        f"Deals/{deal}", {"Supporting_Documents": [{"id": "5725767000000000009", "_delete": None}]}
    )
    assert unknown.json()["data"][0]["details"]["json_path"] == "$.data[0].Supporting_Documents[0].id"
    zoho_emulator.config.files_api_serves_field_files = False
    assert api.get("files", id=kept["File_Id__s"]).status_code == 204


def test_replace_mode_keeps_only_the_entries_sent(zoho_emulator, api, deal):
    zoho_emulator.config.field_update_mode = "replace"
    one = zoho_emulator.files.attach("Deals", deal, "Supporting_Documents", "one.txt", "1")
    zoho_emulator.files.attach("Deals", deal, "Supporting_Documents", "two.txt", "2")
    (new,) = ids(api.upload(("new.txt", b"n")))
    api.put(f"Deals/{deal}", {"Supporting_Documents": [{"id": one["id"]}, {"File_Id__s": new}]})
    assert [e["File_Name__s"] for e in record(api, deal)["Supporting_Documents"]] == ["one.txt", "new.txt"]
    api.put(f"Deals/{deal}", {"Supporting_Documents": []})
    assert record(api, deal)["Supporting_Documents"] is None
    assert len(zoho_emulator.files.removed) == 3


def test_bad_updates_get_clear_errors(zoho_emulator, api, deal):
    (text_id,) = ids(api.upload(("notes.txt", b"not an image")))

    def first_error(*records, path=f"Deals/{deal}"):
        response = api.put(path, *records)
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
    too_many = api.put("Deals", *[{"id": deal}] * 101)
    assert error(too_many) == ("LIMIT_EXCEEDED", {"api_name": "data", "limit": 100})
    assert api.request("PUT", f"Deals/{deal}", data=b"{nope").json()["code"] == "INVALID_DATA"
    assert api.request("PUT", f"Deals/{deal}", json={"data": []}).json()["code"] == "MANDATORY_NOT_FOUND"
    zoho_emulator.config.reject_unknown_fields = False
    assert api.put(f"Deals/{deal}", {"Nope": 1, "Deal_Name": "Renamed"}).status_code == 200
    assert record(api, deal)["Deal_Name"] == "Renamed"


def test_bulk_update_answers_each_record(zoho_emulator, api, deal):
    other = zoho_emulator.add_record("Deals")
    a, b = ids(api.upload(("a.pdf", PDF), ("b.pdf", PDF)))
    response = api.put(
        "Deals",
        {"id": deal, "Signed_Contract": [{"File_Id__s": a}]},
        {"id": other, "Signed_Contract": [{"File_Id__s": a}]},
        {"id": other, "Signed_Contract": [{"File_Id__s": b}]},
    )
    assert response.status_code == 200
    assert [r["status"] for r in response.json()["data"]] == ["success", "error", "success"]
    assert record(api, other)["Signed_Contract"][0]["File_Id__s"] == b


def test_record_image_is_a_zfs_id(zoho_emulator, api):
    contact = zoho_emulator.add_record("Contacts")
    assert record(api, contact, "Contacts")["Record_Image"] is None
    zoho_emulator.set_photo("Contacts", contact, PNG)
    image_id = record(api, contact, "Contacts")["Record_Image"]
    assert ZFS_ID.match(image_id)
    assert api.get("files", id=image_id).content == PNG
    new_png = tiny_png(3, 3)
    (file_id,) = ids(api.upload(("face.png", new_png)))
    assert api.put(f"Contacts/{contact}", {"Record_Image": file_id}).status_code == 200
    assert zoho_emulator.photo("Contacts", contact) == new_png
    assert record(api, contact, "Contacts")["Record_Image"] == file_id
    assert api.get("files", id=image_id).status_code == 204  # the old photo is gone
    (second_id,) = ids(api.upload(("face2.png", PNG)))
    assert api.put(f"Contacts/{contact}", {"Record_Image": second_id}).status_code == 200
    assert api.get("files", id=file_id).status_code == 204  # replaced: its ZFS file went too
    assert api.put(f"Contacts/{contact}", {"Record_Image": None}).status_code == 200
    assert zoho_emulator.photo("Contacts", contact) is None
    assert api.get("files", id=second_id).status_code == 204
    assert record(api, contact, "Contacts")["Record_Image"] is None


def test_legacy_item_shape(zoho_emulator, api, deal):
    entry = zoho_emulator.files.attach("Deals", deal, "Signed_Contract", "contract.pdf", PDF)
    zoho_emulator.config.field_item_shape = "legacy"
    (legacy,) = record(api, deal)["Signed_Contract"]
    assert legacy["attachment_Id"] == entry["id"]
    assert legacy["file_Id"] == entry["File_Id__s"]
    assert (legacy["file_Name"], legacy["extn"], legacy["original_Size_Byte"]) == (
        "contract.pdf",
        "pdf",
        str(len(PDF)),
    )
    assert legacy["download_Url"].endswith(f"fields_attachment_id={entry['id']}")


# ---------------------------------------------------------------------------- download_fields_attachment


def test_download_fields_attachment(zoho_emulator, api, deal):
    entry = zoho_emulator.files.attach("Deals", deal, "Signed_Contract", "signed contract.pdf", PDF)
    path = f"Deals/{deal}/actions/download_fields_attachment"
    response = api.get(path, fields_attachment_id=entry["id"])
    assert response.status_code == 200
    assert response.content == PDF
    assert response.headers["Content-Type"] == "application/x-download"
    assert response.headers["Content-Disposition"] == "attachment;filename*=UTF-8''signed%20contract.pdf"
    assert api.get(path, fields_attachment_id="5725767000000000009").status_code == 204
    assert error(api.get(path)) == ("REQUIRED_PARAM_MISSING", {"param_name": "fields_attachment_id"})
    assert error(api.get(path, fields_attachment_id=entry["File_Id__s"]))[0] == "INVALID_DATA"
    other = zoho_emulator.add_record("Deals")  # another record's entry is not this one's
    assert (
        api.get(
            f"Deals/{other}/actions/download_fields_attachment", fields_attachment_id=entry["id"]
        ).status_code
        == 204
    )
    bad = api.get(
        "Deals/5725767000000000009/actions/download_fields_attachment", fields_attachment_id=entry["id"]
    )
    assert error(bad) == ("INVALID_DATA", {"resource_path_index": 1})
    assert error(api.get(f"Widgets/{deal}/actions/download_fields_attachment", fields_attachment_id="1"))[
        0
    ] == ("INVALID_MODULE")
    zoho_emulator.config.field_attachment_missing_status = 400
    assert error(api.get(path, fields_attachment_id="5725767000000000009"))[0] == "INVALID_DATA"


# ---------------------------------------------------------------------------- faults, log, credits


def test_faults_and_the_request_log_cover_the_new_routes(zoho_emulator, api, deal):
    zoho_emulator.inject_fault("commit_then_reset", method="POST", path="/files$")
    with pytest.raises(requests.ConnectionError):
        api.upload(("orphan.pdf", PDF))
    (orphan,) = zoho_emulator.files.zfs_files(used=False)  # stored, but the client never heard
    assert orphan["name"] == "orphan.pdf"
    zoho_emulator.inject_fault("status", status=500, method="PUT", path=f"/Deals/{deal}$")
    assert api.put(f"Deals/{deal}", {"Signed_Contract": [{"File_Id__s": orphan["id"]}]}).status_code == 500
    entry = zoho_emulator.files.attach("Deals", deal, "Signed_Contract", "big.bin", b"z" * 4096)
    zoho_emulator.inject_fault("truncated", path="download_fields_attachment")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        api.get(f"Deals/{deal}/actions/download_fields_attachment", fields_attachment_id=entry["id"])
    zoho_emulator.inject_fault("429", path="^/crm/v8/settings/fields$")
    assert api.get("settings/fields", module="Deals").status_code == 429
    log = [(r.method, r.path, r.status, r.fault) for r in zoho_emulator.requests]
    assert log == [
        ("POST", "/crm/v8/files", 0, "commit_then_reset"),
        ("PUT", f"/crm/v8/Deals/{deal}", 500, "status"),
        ("GET", f"/crm/v8/Deals/{deal}/actions/download_fields_attachment", 200, "truncated"),
        ("GET", "/crm/v8/settings/fields", 429, "429"),
    ]
    assert zoho_emulator.requests[2].query == {"fields_attachment_id": entry["id"]}


def test_each_new_call_costs_one_credit(zoho_emulator, api, deal):
    zoho_emulator.config.daily_credits = 4
    (file_id,) = ids(api.upload(("a.pdf", PDF)))
    api.get("files", id=file_id)
    api.get("settings/fields", module="Deals")
    api.put(f"Deals/{deal}", {"Signed_Contract": [{"File_Id__s": file_id}]})
    assert zoho_emulator.credits_used == 4
    assert api.get(f"Deals/{deal}").status_code == 429


# ---------------------------------------------------------------------------- seeds, fixtures, admin


def test_demo_seed_has_field_files_and_unchanged_attachments():
    with ZohoCRMEmulator(seed="demo") as zoho:
        assert [(r["attachments"], r["field_files"]) for r in zoho.seed_records] == [
            (2, 3),
            (1, 1),
            (2, 0),
            (1, 0),
        ]
        acme = DEMO_RECORDS["acme_deal"]
        files = zoho.files.field_files("Deals", acme)
        assert [(e["field"], e["File_Name__s"]) for e in files] == [
            ("Signed_Contract", "signed-contract.pdf"),
            ("Photos", "site-1.png"),
            ("Photos", "site-2.png"),
        ]
        assert zoho.files.content(files[0]["id"]).startswith(b"%PDF-")
        assert zoho.files.content(files[1]["File_Id__s"]).startswith(b"\x89PNG")
        assert zoho.files.zfs_files(used=False) == []


def test_deal_with_files_fixture(zoho_emulator, zoho_deal_with_files, api):
    deal = zoho_deal_with_files
    assert [(e["field"], e["File_Name__s"]) for e in deal["field_files"]] == [
        ("Signed_Contract", "signed-contract.pdf"),
        ("Photos", "site-1.png"),
        ("Photos", "site-2.png"),
    ]
    data = record(api, deal["record_id"])
    assert data["Supporting_Documents"] is None
    assert len(data["Photos"]) == 2


def test_admin_api_drives_field_files(zoho_emulator):
    admin = f"{zoho_emulator.url}/__emulator__/"
    deal = zoho_emulator.add_record("Deals")
    field = requests.post(
        admin + "fields", json={"module": "Deals", "api_name": "Plans", "length": 5}, timeout=TIMEOUT
    )
    assert field.status_code == 201
    assert field.json()["data_type"] == "fileupload"
    added = requests.post(
        admin + "field-files",
        json={
            "module": "Deals",
            "record_id": deal,
            "field": "Plans",
            "file_name": "p.txt",
            "content": "plan",
        },
        timeout=TIMEOUT,
    )
    assert added.status_code == 201
    listed = requests.get(
        admin + "field-files", params={"module": "Deals", "record_id": deal}, timeout=TIMEOUT
    )
    assert listed.json()["field_files"] == [added.json()]
    assert (
        requests.get(admin + "zfs", params={"used": "true"}, timeout=TIMEOUT).json()["files"][0]["name"]
        == "p.txt"
    )
    assert requests.post(admin + "zfs/virus", json={"file_name": "x.pdf"}, timeout=TIMEOUT).status_code == 200
    assert requests.get(admin + "state", timeout=TIMEOUT).json()["records"][0]["field_files"] == [
        added.json()
    ]
    assert zoho_emulator.requests == []  # admin calls are not logged
    api = Api(zoho_emulator, None, ALL_SCOPES)
    assert error(api.upload(("x.pdf", PDF)))[0] == "VIRUS_DETECTED"
