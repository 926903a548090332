"""
The emulator's Files API (ZFS): uploads with their limits and virus verdicts, downloads, scopes,
and, for every new endpoint, faults, credits and the request log; the demo seed, the fixture and
the admin API for field files.

Every answer these tests get is also checked against Zoho's OAS files (:mod:`._oas`) when they are
present; the defects of the OAS are named there.
"""

from __future__ import annotations

import hashlib

import pytest
import requests

from airflow_provider_zoho_attach.testing import ALL_SCOPES, ZohoCRMEmulator
from airflow_provider_zoho_attach.testing._emulator_seed import DEMO_RECORDS
from tests.integration._files_client import (
    MIB,
    PDF,
    PNG,
    TIMEOUT,
    ZFS_ID,
    Api,
    error,
    ids,
    record,
)

pytestmark = pytest.mark.integration

EICAR_LIKE = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


# ---------------------------------------------------------------------------- ZFS upload


def test_upload_answers_one_entry_per_file_in_request_order(zoho_emulator, files_api):
    response = files_api.upload(("b.txt", b"bee"), ("a b (2).pdf", PDF), ("c.png", PNG, "image/png"))
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


def test_upload_type_inline(zoho_emulator, files_api):
    (file_id,) = ids(files_api.upload(("i.png", PNG), type="inline"))
    assert zoho_emulator.files.zfs_files()[0] == {
        "id": file_id,
        "name": "i.png",
        "size": len(PNG),
        "content_type": "image/png",
        "inline": True,
        "used_by": None,
    }
    assert error(files_api.upload(("i.png", PNG), type="attachment")) == (
        "INVALID_DATA",
        {"param_name": "type"},
    )


def test_more_than_ten_files_refuse_the_whole_request(zoho_emulator, files_api):
    assert len(ids(files_api.upload(*[(f"f{i}.txt", b"x") for i in range(10)]))) == 10
    response = files_api.upload(*[(f"g{i}.txt", b"x") for i in range(11)])
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_REQUEST"
    assert len(zoho_emulator.files.zfs_files()) == 10


def test_a_file_over_the_size_limit_refuses_the_whole_request(zoho_emulator, files_api):
    zoho_emulator.config.max_zfs_file_size = 1000
    response = files_api.upload(("ok.bin", b"x" * 1000), ("big.bin", b"x" * 1001), ("after.bin", b"y"))
    assert response.status_code == 415
    assert response.json()["code"] == "FILE_SIZE_MORE_THAN_ALLOWED_SIZE"
    assert zoho_emulator.files.zfs_files() == []
    zoho_emulator.config.zfs_oversize_status = 400
    assert files_api.upload(("big.bin", b"x" * 1001)).status_code == 400
    assert len(ids(files_api.upload(("ok.bin", b"x" * 1000)))) == 1


def test_twenty_mb_limit_with_streamed_parts_and_flat_memory(zoho_emulator, files_api):
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
        response = files_api.request("POST", "files", data=body(sizes), headers=headers)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(ids(response)) == 10
    assert peak < 8 * MIB, f"peak traced memory {peak / MIB:.1f} MiB for a 20 MiB upload"
    over = files_api.request("POST", "files", data=body([20 * MIB + 1]), headers=headers)
    assert over.status_code == 415
    assert len(zoho_emulator.files.zfs_files()) == 10


@pytest.mark.parametrize(
    "parts",
    [[("empty.txt", b"")], [("a.txt", b"a"), ("empty.txt", b"")]],
    ids=["empty", "one-empty"],
)
def test_empty_part_is_failure_in_attachment_handling(zoho_emulator, files_api, parts):
    response = files_api.upload(*parts)
    assert response.status_code == 400
    assert response.json() == {
        "code": "failure_in_attachment_handling",
        "details": {},
        "message": "Problem in uploading attachment. kindly upload the file properly",
        "status": "error",
    }
    assert zoho_emulator.files.zfs_files() == []


def test_no_file_part_is_failure_in_attachment_handling(files_api):
    assert files_api.request("POST", "files", files={"other": ("a.txt", b"a")}).json()["code"] == (
        "failure_in_attachment_handling"
    )
    assert (
        files_api.request("POST", "files", data={"x": "1"}).json()["code"] == "failure_in_attachment_handling"
    )


def test_scripted_virus_verdict_refuses_the_whole_request(zoho_emulator, files_api):
    zoho_emulator.files.flag_virus("invoice.pdf")
    response = files_api.upload(("clean.txt", b"ok"), ("invoice.pdf", PDF))
    assert response.status_code == 400
    assert response.json()["code"] == "VIRUS_DETECTED"
    assert response.json()["message"] == "Unable to process your request. Virus has been detected."
    # The EICAR test file is caught by its content, wherever it sits.
    assert error(files_api.upload(("eicar.com.txt", b"x" * 5 + EICAR_LIKE)))[0] == "VIRUS_DETECTED"
    assert zoho_emulator.files.zfs_files() == []
    zoho_emulator.files.clear_virus_flags()
    zoho_emulator.config.virus_signature = ""
    assert len(ids(files_api.upload(("invoice.pdf", PDF), ("eicar.com.txt", EICAR_LIKE)))) == 2
    assert zoho_emulator.requests[0].code == "VIRUS_DETECTED"


def test_virus_signature_split_across_blocks_is_found(zoho_emulator, files_api):
    padding = b"." * (MIB - 10)  # the signature straddles the parser's 1 MiB blocks
    assert error(files_api.upload(("big.txt", padding + EICAR_LIKE)))[0] == "VIRUS_DETECTED"


# ---------------------------------------------------------------------------- ZFS download


def test_download_streams_the_file_with_its_name_and_type(files_api):
    (file_id,) = ids(files_api.upload(("image (2).png", PNG, "image/png")))
    response = files_api.get("files", id=file_id)
    assert response.status_code == 200
    assert response.content == PNG
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["Content-Disposition"] == "attachment;filename*=UTF-8''image%20%282%29.png"


def test_download_unknown_empty_and_missing_id(files_api):
    assert files_api.get("files", id="0" * 40).status_code == 204
    assert files_api.get("files", id="").status_code == 204
    response = files_api.get("files")
    assert response.status_code == 400
    assert error(response) == ("REQUIRED_PARAM_MISSING", {"param_name": "id"})
    assert files_api.request("DELETE", "files").json()["code"] == "INVALID_REQUEST_METHOD"


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
def test_files_scopes_are_case_insensitive(zoho_emulator, zoho_oas, scopes, upload, download):
    file_id = zoho_emulator.files.upload("a.txt", "a")
    client = Api(zoho_emulator, zoho_oas, scopes)
    assert client.upload(("b.txt", b"b")).status_code == upload
    response = client.get("files", id=file_id)
    assert response.status_code == download
    if download == 401:
        assert response.json()["code"] == "OAUTH_SCOPE_MISMATCH"


def test_settings_and_module_scopes(zoho_emulator, zoho_oas, files_deal):
    reader = Api(zoho_emulator, zoho_oas, ["ZohoCRM.settings.fields.READ", "ZohoCRM.modules.deals.READ"])
    assert reader.get("settings/fields", module="Deals").status_code == 200
    assert reader.get(f"Deals/{files_deal}").status_code == 200
    assert reader.put(f"Deals/{files_deal}", {"Deal_Name": "x"}).status_code == 401
    assert (
        reader.get(
            f"Deals/{files_deal}/actions/download_fields_attachment", fields_attachment_id="1"
        ).status_code
        == 204
    )
    assert reader.get(f"Leads/{zoho_emulator.add_record('Leads')}").status_code == 401
    writer = Api(zoho_emulator, zoho_oas, ["ZohoCRM.modules.deals.UPDATE"])
    assert writer.put(f"Deals/{files_deal}", {"Deal_Name": "x"}).status_code == 200
    assert writer.get("settings/fields", module="Deals").json()["code"] == "OAUTH_SCOPE_MISMATCH"
    assert Api(zoho_emulator, zoho_oas, ["ZohoCRM.settings.ALL"]).get("settings/modules").status_code == 200


# ---------------------------------------------------------------------------- faults, log, credits


def test_faults_and_the_request_log_cover_the_new_routes(zoho_emulator, files_api, files_deal):
    zoho_emulator.inject_fault("commit_then_reset", method="POST", path="/files$")
    with pytest.raises(requests.ConnectionError):
        files_api.upload(("orphan.pdf", PDF))
    (orphan,) = zoho_emulator.files.zfs_files(used=False)  # stored, but the client never heard
    assert orphan["name"] == "orphan.pdf"
    zoho_emulator.inject_fault("status", status=500, method="PUT", path=f"/Deals/{files_deal}$")
    assert (
        files_api.put(f"Deals/{files_deal}", {"Signed_Contract": [{"File_Id__s": orphan["id"]}]}).status_code
        == 500
    )
    entry = zoho_emulator.files.attach("Deals", files_deal, "Signed_Contract", "big.bin", b"z" * 4096)
    zoho_emulator.inject_fault("truncated", path="download_fields_attachment")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        files_api.get(
            f"Deals/{files_deal}/actions/download_fields_attachment", fields_attachment_id=entry["id"]
        )
    zoho_emulator.inject_fault("429", path="^/crm/v8/settings/fields$")
    assert files_api.get("settings/fields", module="Deals").status_code == 429
    log = [(r.method, r.path, r.status, r.fault) for r in zoho_emulator.requests]
    assert log == [
        ("POST", "/crm/v8/files", 0, "commit_then_reset"),
        ("PUT", f"/crm/v8/Deals/{files_deal}", 500, "status"),
        ("GET", f"/crm/v8/Deals/{files_deal}/actions/download_fields_attachment", 200, "truncated"),
        ("GET", "/crm/v8/settings/fields", 429, "429"),
    ]
    assert zoho_emulator.requests[2].query == {"fields_attachment_id": entry["id"]}


def test_each_new_call_costs_one_credit(zoho_emulator, files_api, files_deal):
    zoho_emulator.config.daily_credits = 4
    (file_id,) = ids(files_api.upload(("a.pdf", PDF)))
    files_api.get("files", id=file_id)
    files_api.get("settings/fields", module="Deals")
    files_api.put(f"Deals/{files_deal}", {"Signed_Contract": [{"File_Id__s": file_id}]})
    assert zoho_emulator.credits_used == 4
    assert files_api.get(f"Deals/{files_deal}").status_code == 429


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


def test_deal_with_files_fixture(zoho_emulator, zoho_deal_with_files, files_api):
    files_deal = zoho_deal_with_files
    assert [(e["field"], e["File_Name__s"]) for e in files_deal["field_files"]] == [
        ("Signed_Contract", "signed-contract.pdf"),
        ("Photos", "site-1.png"),
        ("Photos", "site-2.png"),
    ]
    data = record(files_api, files_deal["record_id"])
    assert data["Supporting_Documents"] is None
    assert len(data["Photos"]) == 2


def test_admin_api_drives_field_files(zoho_emulator):
    admin = f"{zoho_emulator.url}/__emulator__/"
    files_deal = zoho_emulator.add_record("Deals")
    field = requests.post(
        admin + "fields", json={"module": "Deals", "api_name": "Plans", "length": 5}, timeout=TIMEOUT
    )
    assert field.status_code == 201
    assert field.json()["data_type"] == "fileupload"
    added = requests.post(
        admin + "field-files",
        json={
            "module": "Deals",
            "record_id": files_deal,
            "field": "Plans",
            "file_name": "p.txt",
            "content": "plan",
        },
        timeout=TIMEOUT,
    )
    assert added.status_code == 201
    listed = requests.get(
        admin + "field-files", params={"module": "Deals", "record_id": files_deal}, timeout=TIMEOUT
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
    files_api = Api(zoho_emulator, None, ALL_SCOPES)
    assert error(files_api.upload(("x.pdf", PDF)))[0] == "VIRUS_DETECTED"
