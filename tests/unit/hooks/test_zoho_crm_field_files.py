"""File-upload and image-upload fields and the Zoho File System, with requests-mock standing in for Zoho."""

from __future__ import annotations

import hashlib
import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from airflow_provider_zoho_attach.exceptions import (
    ZohoCRMInvalidRequestError,
    ZohoCRMNotFoundError,
    ZohoCRMTransferError,
)
from airflow_provider_zoho_attach.utils.field_files import parse_field_files
from tests.unit.conftest import API, TOKEN_URL, token_body

V8 = f"{API}/crm/v8"
FIELDS = {
    "fields": [
        {"api_name": "Deal_Name", "data_type": "text", "length": 120},
        {"api_name": "Signed_Contract", "data_type": "fileupload", "length": 1},
        {"api_name": "Scans", "data_type": "fileupload", "length": 5},
        {"api_name": "Photos", "data_type": "imageupload", "length": 10},
    ]
}


class FakeZoho:
    """One Deal (42) whose file fields live in memory; ZFS ids are handed out in order."""

    def __init__(self, requests_mock) -> None:
        self.items: dict[str, list[dict]] = {"Signed_Contract": [], "Scans": [], "Photos": []}
        self.zfs: dict[str, bytes] = {}
        self.uploads: list[list[str]] = []
        self.updates: list[dict] = []
        self.next_item = 900
        self.lose_next_update = False
        self.fail_update: dict | None = None
        requests_mock.post(TOKEN_URL, json=token_body())
        requests_mock.get(f"{V8}/settings/fields", json=FIELDS)
        requests_mock.post(f"{V8}/files", json=self.upload)
        requests_mock.get(re.compile(rf"{V8}/Deals/42\?"), json=self.record)
        requests_mock.get(f"{V8}/Deals/404", status_code=204)
        requests_mock.put(f"{V8}/Deals/42", json=self.update)

    def upload(self, request, context):
        names = re.findall(rb'filename="([^"]+)"', body_of(request))
        self.uploads.append([name.decode() for name in names])
        data = []
        for name in names:
            ident = f"zfs{len(self.zfs):04d}" + "a" * 30
            self.zfs[ident] = b""
            data.append(
                {"code": "SUCCESS", "status": "success", "details": {"name": name.decode(), "id": ident}}
            )
        return {"data": data}

    def record(self, request, context):
        # requests-mock lower-cases request.qs; field names are case-sensitive.
        fields = parse_qs(urlsplit(request.url).query)["fields"][0].split(",")
        return {"data": [{"id": "42", **{field: self.items.get(field) or None for field in fields}}]}

    def update(self, request, context):
        body = request.json()
        self.updates.append(body)
        if self.fail_update is not None:
            context.status_code = 200
            return {"data": [self.fail_update]}
        (row,) = body["data"]
        for field, items in row.items():
            if field == "id":
                continue
            for item in items:
                if "_delete" in item:
                    self.items[field] = [held for held in self.items[field] if held["id"] != item["id"]]
                else:
                    self.next_item += 1
                    self.items[field].append(
                        {
                            "id": str(self.next_item),
                            "File_Id__s": item["File_Id__s"],
                            "File_Name__s": "f.pdf",
                            "Size__s": "3",
                            "Created_Time__s": "2026-12-02T08:00:00+00:00",
                        }
                    )
        if self.lose_next_update:
            self.lose_next_update = False
            raise requests.exceptions.ConnectionError("Connection reset by peer")
        return {"data": [{"code": "SUCCESS", "status": "success", "details": {"id": "42"}}]}


def body_of(request) -> bytes:
    # The hook streams a multipart body: requests-mock hands over the iterable, unread.
    return request.body if isinstance(request.body, bytes) else b"".join(request.body)


@pytest.fixture
def zoho(requests_mock):
    return FakeZoho(requests_mock)


def files(tmp_path, count, size=3):
    paths = []
    for index in range(count):
        path = tmp_path / f"doc{index:02d}.pdf"
        path.write_bytes(bytes([index % 256]) * size)
        paths.append(path)
    return paths


def calls(requests_mock, method, path):
    return [
        r for r in requests_mock.request_history if r.method == method and r.path == f"/crm/v8/{path}".lower()
    ]


def test_file_fields_are_read_once_per_hook(hook, zoho, requests_mock):
    first = hook.get_file_fields("deals")
    assert {name: (f.data_type, f.max_files) for name, f in first.items()} == {
        "Signed_Contract": ("fileupload", 1),
        "Scans": ("fileupload", 5),
        "Photos": ("imageupload", 10),
    }
    assert hook.get_file_fields("Deals") is first
    assert len(calls(requests_mock, "GET", "settings/fields")) == 1


def test_upload_files_sends_ten_per_request_in_order(hook, zoho, tmp_path):
    sources = files(tmp_path, 23)
    results = hook.upload_files(sources)
    assert [len(batch) for batch in zoho.uploads] == [10, 10, 3]
    assert [r["file_name"] for r in results] == [p.name for p in sources]
    assert results[4]["sha256"] == hashlib.sha256(sources[4].read_bytes()).hexdigest()
    assert len({r["file_id"] for r in results}) == 23


def test_a_file_over_20_mb_is_refused_before_anything_is_sent(hook, zoho, requests_mock, tmp_path):
    small = files(tmp_path, 1)[0]
    big = tmp_path / "big.pdf"
    with big.open("wb") as handle:
        handle.truncate(20 * 1024 * 1024 + 1)
    with pytest.raises(ZohoCRMInvalidRequestError, match=r"big\.pdf"):
        hook.upload_files([small, big])
    assert not calls(requests_mock, "POST", "files")


def test_attach_uploads_then_updates_the_record_once(hook, zoho, tmp_path):
    (source,) = files(tmp_path, 1)
    (result,) = hook.attach_to_field("Deals", "42", "Scans", source)
    (update,) = zoho.updates
    assert update == {"data": [{"id": "42", "Scans": [{"File_Id__s": result["file_id"]}]}]}
    assert result["attachment_id"] == zoho.items["Scans"][0]["id"]
    assert result["field"] == "Scans"
    assert result["module"] == "Deals"
    assert result["record_id"] == "42"
    assert result["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()


def test_the_field_limit_is_checked_before_any_upload(hook, zoho, requests_mock, tmp_path):
    hook.attach_to_field("Deals", "42", "Signed_Contract", files(tmp_path, 1))
    uploads_before = len(zoho.uploads)
    with pytest.raises(ZohoCRMInvalidRequestError, match="at most 1 file") as caught:
        hook.attach_to_field("Deals", "42", "Signed_Contract", files(tmp_path, 1))
    assert caught.value.code == "LIMIT_EXCEEDED"
    assert len(zoho.uploads) == uploads_before
    # replace=True swaps the file in one update.
    (result,) = hook.attach_to_field("Deals", "42", "Signed_Contract", files(tmp_path, 1), replace=True)
    assert [item["id"] for item in zoho.items["Signed_Contract"]] == [result["attachment_id"]]


def test_a_field_that_holds_no_files_is_refused_before_any_upload(hook, zoho, tmp_path):
    with pytest.raises(
        ZohoCRMInvalidRequestError, match=r"its file fields: Photos, Scans, Signed_Contract"
    ) as caught:
        hook.attach_to_field("Deals", "42", "Deal_Name", files(tmp_path, 1))
    assert caught.value.code == "NOT_A_FILE_FIELD"
    assert zoho.uploads == []


def test_a_refused_update_names_the_files_it_left_unattached(hook, zoho, tmp_path):
    zoho.fail_update = {"code": "INVALID_DATA", "status": "error", "message": "invalid data", "details": {}}
    with pytest.raises(ZohoCRMInvalidRequestError) as caught:
        hook.attach_to_field("Deals", "42", "Scans", files(tmp_path, 2))
    ids = caught.value.details["unattached_file_ids"]
    assert len(ids) == 2
    assert all(file_id in str(caught.value) for file_id in ids)
    assert "doc00.pdf" in str(caught.value)


def test_a_lost_update_answer_is_not_sent_again_once_it_applied(hook, zoho, tmp_path):
    zoho.lose_next_update = True
    (result,) = hook.attach_to_field("Deals", "42", "Scans", files(tmp_path, 1))
    assert len(zoho.updates) == 1
    assert [item["File_Id__s"] for item in zoho.items["Scans"]] == [result["file_id"]]


def test_files_already_in_zfs_are_attached_without_an_upload(hook, zoho):
    (result,) = hook.attach_to_field("Deals", "42", "Photos", [{"file_id": "abc123"}])
    assert zoho.uploads == []
    assert result["file_id"] == "abc123"


def test_remove_field_files_is_a_successful_rerun(hook, zoho, tmp_path):
    (added,) = hook.attach_to_field("Deals", "42", "Scans", files(tmp_path, 1))
    first = hook.remove_field_files("Deals", "42", "Scans", [added["attachment_id"]])
    again = hook.remove_field_files("Deals", "42", "Scans", added["attachment_id"])
    assert [r["status"] for r in first] == ["deleted"]
    assert [r["status"] for r in again] == ["absent"]
    assert len(zoho.updates) == 2  # the attach and one delete: the re-run sent nothing


def test_list_field_files_reads_v8_and_legacy_item_keys():
    record = {
        "Scans": [{"id": "1", "File_Id__s": "z1", "File_Name__s": "a.pdf", "Size__s": "10"}],
        "Photos": [{"attachment_Id": "2", "file_Id": "z2", "file_Name": "b.png", "original_Size_Byte": "7"}],
        "Signed_Contract": None,
    }
    parsed = parse_field_files(record, ["Signed_Contract", "Scans", "Photos"])
    assert [(f["field"], f["id"], f["file_id"], f["file_name"], f["size"]) for f in parsed] == [
        ("Scans", "1", "z1", "a.pdf", 10),
        ("Photos", "2", "z2", "b.png", 7),
    ]


def test_list_field_files_of_a_missing_record(hook, zoho):
    with pytest.raises(ZohoCRMNotFoundError):
        hook.list_field_files("Deals", "404")


def test_download_field_file_streams_through_the_action(hook, zoho, requests_mock, tmp_path):
    body = b"%PDF contract"
    requests_mock.get(
        f"{V8}/Deals/42/actions/download_fields_attachment",
        content=body,
        headers={"Content-Disposition": "attachment;filename*=UTF-8''contract.pdf", "Content-Length": "13"},
    )
    result = hook.download_field_file("Deals", "42", "901", tmp_path, field="Signed_Contract")
    assert (tmp_path / "contract.pdf").read_bytes() == body
    assert result["attachment_id"] == "901"
    assert result["field"] == "Signed_Contract"
    assert requests_mock.last_request.qs == {"fields_attachment_id": ["901"]}


def test_download_file_from_zfs(hook, zoho, requests_mock, tmp_path):
    requests_mock.get(
        f"{V8}/files", content=b"png", headers={"Content-Disposition": 'attachment;filename="p.png"'}
    )
    result = hook.download_file("zfsid1", tmp_path)
    assert (tmp_path / "p.png").read_bytes() == b"png"
    assert result["file_id"] == "zfsid1"
    assert "module" not in result


def test_an_unknown_zfs_file_is_not_found(hook, zoho, requests_mock, tmp_path):
    requests_mock.get(f"{V8}/files", status_code=204)
    with pytest.raises(ZohoCRMNotFoundError, match="no such file"):
        hook.download_file("zfsid1", tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("bad", ["", "a b", "../x", "x" * 151, None, 12])
def test_bad_zfs_ids_are_refused_before_any_request(hook, zoho, requests_mock, tmp_path, bad):
    with pytest.raises(ZohoCRMInvalidRequestError, match="file_id"):
        hook.download_file(bad, tmp_path)
    assert not calls(requests_mock, "GET", "files")


def test_an_answer_without_one_id_per_file_is_an_error(hook, zoho, requests_mock, tmp_path):
    requests_mock.post(f"{V8}/files", json={"data": []})
    with pytest.raises(ZohoCRMTransferError, match="0 file id"):
        hook.upload_files(files(tmp_path, 1))


def test_the_multipart_body_has_one_file_part_per_source(hook, zoho, requests_mock, tmp_path):
    hook.upload_files(files(tmp_path, 2, size=5), inline=True)
    request = calls(requests_mock, "POST", "files")[-1]
    body = body_of(request)
    assert body.count(b'name="file"') == 2
    assert request.qs == {"type": ["inline"]}
    assert json.loads(json.dumps(zoho.uploads)) == [["doc00.pdf", "doc01.pdf"]]
