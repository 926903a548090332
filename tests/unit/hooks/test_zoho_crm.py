"""Downloads and uploads through the hook, with requests-mock standing in for Zoho."""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from airflow_provider_zoho_attach.exceptions import (
    ZohoCRMInvalidRequestError,
    ZohoCRMNotFoundError,
    ZohoCRMTransferError,
)
from tests.unit.conftest import API, TOKEN_URL, token_body

BASE = f"{API}/crm/v8/Deals/42/Attachments"
PDF = b"%PDF-1.7 contract bytes " * 1000


def serve(requests_mock, url, content=PDF, name="contract.pdf", **headers):
    disposition = f"attachment;filename*=UTF-8''{name}" if name else None
    all_headers = {"Content-Type": "application/pdf", "Content-Length": str(len(content))}
    if disposition:
        all_headers["Content-Disposition"] = disposition
    all_headers.update(headers)
    requests_mock.get(url, content=content, headers=all_headers)


@pytest.fixture(autouse=True)
def _token(requests_mock):
    requests_mock.post(TOKEN_URL, json=token_body())


def test_download_into_a_directory(hook, requests_mock, tmp_path):
    serve(requests_mock, f"{BASE}/7")
    result = hook.download_attachment("deals", "42", "7", tmp_path)
    assert result == {
        "attachment_id": "7",
        "file_name": "contract.pdf",
        "path": str(tmp_path / "contract.pdf"),
        "size": len(PDF),
        "sha256": hashlib.sha256(PDF).hexdigest(),
        "content_type": "application/pdf",
        "module": "Deals",
        "record_id": "42",
        "status": "downloaded",
    }
    assert (tmp_path / "contract.pdf").read_bytes() == PDF
    assert os.listdir(tmp_path) == ["contract.pdf"]


def test_download_to_an_exact_file_path(hook, requests_mock, tmp_path):
    serve(requests_mock, f"{BASE}/7")
    result = hook.download_attachment("Deals", 42, 7, str(tmp_path / "sub" / "named.bin"))
    assert result["path"] == str(tmp_path / "sub" / "named.bin")
    assert (tmp_path / "sub" / "named.bin").read_bytes() == PDF


def test_an_identical_file_is_kept_and_a_different_one_is_not_clobbered(hook, requests_mock, tmp_path):
    serve(requests_mock, f"{BASE}/7")
    first = hook.download_attachment("Deals", "42", "7", tmp_path)
    again = hook.download_attachment("Deals", "42", "7", tmp_path)
    assert first["status"] == "downloaded"
    assert again["status"] == "unchanged"
    assert again["path"] == first["path"]

    (tmp_path / "contract.pdf").write_bytes(b"someone else's contract")
    clash = hook.download_attachment("Deals", "42", "7", tmp_path)
    assert clash["path"] == str(tmp_path / "contract (7).pdf")
    assert (tmp_path / "contract.pdf").read_bytes() == b"someone else's contract"
    assert (tmp_path / "contract (7).pdf").read_bytes() == PDF
    rerun = hook.download_attachment("Deals", "42", "7", tmp_path)
    assert rerun["status"] == "unchanged"
    assert rerun["path"] == clash["path"]

    replaced = hook.download_attachment("Deals", "42", "7", tmp_path, overwrite=True)
    assert replaced["path"] == str(tmp_path / "contract.pdf")
    assert (tmp_path / "contract.pdf").read_bytes() == PDF
    assert sorted(os.listdir(tmp_path)) == ["contract (7).pdf", "contract.pdf"]


def test_truncated_body_is_retried_and_nothing_partial_is_left(hook, requests_mock, tmp_path, sleeps):
    headers = {
        "Content-Type": "application/pdf",
        "Content-Disposition": "attachment;filename*=UTF-8''c.pdf",
    }
    requests_mock.get(
        f"{BASE}/7",
        [
            {"content": PDF[:100], "headers": {**headers, "Content-Length": str(len(PDF))}},
            {"content": PDF, "headers": {**headers, "Content-Length": str(len(PDF))}},
        ],
    )
    result = hook.download_attachment("Deals", "42", "7", tmp_path)
    assert result["size"] == len(PDF)
    assert os.listdir(tmp_path) == ["c.pdf"]
    assert len(sleeps) == 1


def test_a_download_that_keeps_failing_leaves_nothing(hook, requests_mock, tmp_path):
    requests_mock.get(f"{BASE}/7", content=b"xx", headers={"Content-Length": "10"})
    with pytest.raises(ZohoCRMTransferError) as info:
        hook.download_attachment("Deals", "42", "7", tmp_path)
    assert info.value.code == "INCOMPLETE_BODY"
    assert os.listdir(tmp_path) == []


def test_unknown_attachment_is_not_found(hook, requests_mock, tmp_path):
    requests_mock.get(f"{BASE}/7", status_code=204)
    with pytest.raises(ZohoCRMNotFoundError):
        hook.download_attachment("Deals", "42", "7", tmp_path)
    assert os.listdir(tmp_path) == []


def test_name_falls_back_to_the_record_then_to_the_id(hook, requests_mock, tmp_path):
    serve(requests_mock, f"{BASE}/7", name=None)
    assert hook.download_attachment("Deals", "42", "7", tmp_path, file_name="../record.pdf")["file_name"] == (
        "record.pdf"
    )
    requests_mock.get(BASE, json={"data": [{"id": "8", "File_Name": "listed.txt"}], "info": {}})
    serve(requests_mock, f"{BASE}/8", name=None)
    assert hook.download_attachment("Deals", "42", "8", tmp_path)["file_name"] == "listed.txt"
    requests_mock.get(BASE, status_code=204)
    serve(requests_mock, f"{BASE}/9", name=None)
    assert hook.download_attachment("Deals", "42", "9", tmp_path)["file_name"] == "attachment-9"


@pytest.mark.parametrize(
    "name",
    ["..%2F..%2Fescape.txt", "%2Fetc%2Fpasswd", "..%5C..%5Cwin.ini", "%2E%2E", "a%00b", "C%3A%5Cx.txt"],
)
def test_hostile_header_names_stay_inside(hook, requests_mock, tmp_path, name):
    dest = tmp_path / "dest"
    dest.mkdir()
    serve(requests_mock, f"{BASE}/7", name=name)
    result = hook.download_attachment("Deals", "42", "7", dest)
    assert os.path.dirname(result["path"]) == str(dest)
    assert os.listdir(tmp_path) == ["dest"]


def test_download_to_object_storage(hook, requests_mock, memory_storage):
    from airflow.sdk import ObjectStoragePath

    serve(requests_mock, f"{BASE}/7")
    result = hook.download_attachment("Deals", "42", "7", "memory://bucket/deals/")
    assert result["path"].endswith("bucket/deals/contract.pdf")
    assert ObjectStoragePath("memory://bucket/deals/contract.pdf").read_bytes() == PDF
    again = hook.download_attachment("Deals", "42", "7", ObjectStoragePath("memory://bucket/deals/"))
    assert again["status"] == "unchanged"


def test_upload_streams_a_multipart_file_part(hook, requests_mock, tmp_path):
    source = tmp_path / "invoice 1.pdf"
    source.write_bytes(PDF)
    # What is on the record before the upload (none here): a lost answer is looked for outside it.
    requests_mock.get(BASE, status_code=204)
    requests_mock.post(
        BASE,
        json={
            "data": [
                {
                    "code": "SUCCESS",
                    "details": {"id": "99", "Created_Time": "2024-03-02T14:05:11+05:30"},
                    "message": "attachment uploaded successfully",
                    "status": "success",
                }
            ]
        },
    )
    result = hook.upload_attachment("Deals", "42", source)
    assert result == {
        "attachment_id": "99",
        "file_name": "invoice 1.pdf",
        "size": len(PDF),
        # requests-mock does not consume a streamed body, so no digest was computed on the way;
        # the integration tests check it against the emulator.
        "sha256": None,
        "module": "Deals",
        "record_id": "42",
        "created_time": "2024-03-02T14:05:11+05:30",
    }
    sent = requests_mock.request_history[-1]
    assert sent.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert int(sent.headers["Content-Length"]) > len(PDF)
    body = b"".join(sent.body) if not isinstance(sent.body, bytes) else sent.body
    assert b'Content-Disposition: form-data; name="file"; filename="invoice 1.pdf"' in body
    assert PDF in body


def test_upload_refuses_what_zoho_would_refuse_before_sending(hook, requests_mock, tmp_path):
    with pytest.raises(ZohoCRMInvalidRequestError, match="no such file"):
        hook.upload_attachment("Deals", "42", tmp_path / "missing.pdf")
    big = tmp_path / "big.bin"
    with open(big, "wb") as handle:
        handle.truncate(100 * 1024 * 1024 + 1)
    with pytest.raises(ZohoCRMInvalidRequestError, match="at most"):
        hook.upload_attachment("Deals", "42", big)
    with pytest.raises(ZohoCRMInvalidRequestError, match="file_name"):
        hook.upload_attachment("Deals", "42", io.BytesIO(b"x"))
    with pytest.raises(ZohoCRMInvalidRequestError, match="module"):
        hook.upload_attachment("Sales Orders", "42", io.BytesIO(b"x"), file_name="x.txt")
    with pytest.raises(ZohoCRMInvalidRequestError, match="record_id"):
        hook.upload_attachment("Deals", "42a", io.BytesIO(b"x"), file_name="x.txt")
    assert requests_mock.call_count == 0


def test_link_attachment_goes_in_the_query(hook, requests_mock):
    requests_mock.post(
        BASE, json={"data": [{"code": "SUCCESS", "details": {"id": "5"}, "status": "success"}]}
    )
    result = hook.attach_link("Deals", "42", "https://example.com/spec", title="Spec")
    assert result["attachment_id"] == "5"
    assert requests_mock.request_history[-1].qs == {
        "attachmenturl": ["https://example.com/spec"],
        "title": ["spec"],
    }
    with pytest.raises(ZohoCRMInvalidRequestError, match="link_url"):
        hook.attach_link("Deals", "42", "javascript:alert(1)")


def test_bulk_delete_reports_each_id(hook, requests_mock):
    requests_mock.delete(
        BASE,
        json={
            "data": [
                {"code": "SUCCESS", "details": {"id": "1"}, "message": "record deleted", "status": "success"},
                {
                    "code": "INVALID_DATA",
                    "details": {"id": "2"},
                    "message": "record not deleted",
                    "status": "error",
                },
            ]
        },
    )
    results = hook.delete_attachments("Deals", "42", ["1", "2"])
    assert [(r["attachment_id"], r["status"]) for r in results] == [("1", "deleted"), ("2", "error")]
    assert results[1]["code"] == "INVALID_DATA"
    assert requests_mock.request_history[-1].qs == {"ids": ["1,2"]}


def test_list_pages_cost_one_call_per_200(hook, requests_mock):
    pages = [
        {
            "json": {
                "data": [{"id": str(i)} for i in range(p * 200, p * 200 + 200)],
                "info": {"more_records": p < 2, "page": p + 1},
            }
        }
        for p in range(3)
    ]
    requests_mock.get(BASE, pages)
    assert len(hook.list_attachments("Deals", "42")) == 600
    assert requests_mock.call_count == 1 + 3


def test_requests_carry_auth_user_agent_and_timeouts(hook, requests_mock):
    requests_mock.get(BASE, status_code=204)
    hook.list_attachments("Deals", "42")
    call = requests_mock.request_history[-1]
    assert call.headers["Authorization"].startswith("Zoho-oauthtoken 1000.")
    assert call.headers["User-Agent"].startswith("airflow-provider-zoho-attach/")
    assert call.timeout == (10.0, 60.0)  # connect at most 10 s, read the timeout extra
    token_call = requests_mock.request_history[0]
    assert token_call.timeout == (10.0, 60.0)
    assert "refresh_token=" in token_call.text
    assert "refresh_token" not in token_call.url


def test_arguments_are_checked_once_then_the_cores_list_privately(hook, requests_mock, tmp_path):
    # The public methods check the user's arguments; what they call inside never goes back
    # through a public method (nor checks the same arguments again).
    public = ("iter_attachments", "list_attachments", "get_attachment")
    for name in public:
        hook.__dict__[name] = lambda *args, _name=name, **kwargs: pytest.fail(f"{_name} called")
    requests_mock.get(BASE, json={"data": [{"id": "8", "File_Name": "listed.txt"}], "info": {}})
    serve(requests_mock, f"{BASE}/8", name=None)
    assert hook.download_attachment("Deals", "42", "8", tmp_path)["file_name"] == "listed.txt"
    source = tmp_path / "new.txt"
    source.write_bytes(b"new")
    requests_mock.post(BASE, json={"data": [{"details": {"id": "9"}, "status": "success"}]})
    assert hook.upload_attachment("Deals", "42", source)["attachment_id"] == "9"
    requests_mock.delete(f"{BASE}/8", json={"data": [{"details": {"id": "8"}, "status": "success"}]})
    assert hook.delete_attachment("Deals", "42", "8")["status"] == "deleted"
    for name in public:
        del hook.__dict__[name]
    assert hook.get_attachment("deals", 42, "8")["File_Name"] == "listed.txt"


def test_results_have_the_keys_of_their_typed_dicts(hook, requests_mock, tmp_path):
    from airflow_provider_zoho_attach import results

    def keys(shape):
        return shape.__required_keys__, shape.__required_keys__ | shape.__optional_keys__

    def assert_shape(result, shape):
        required, allowed = keys(shape)
        assert required <= set(result) <= allowed, (sorted(result), shape.__name__)

    serve(requests_mock, f"{BASE}/7")
    assert_shape(hook.download_attachment("Deals", "42", "7", tmp_path), results.DownloadResult)
    source = tmp_path / "new.txt"
    source.write_bytes(b"new")
    requests_mock.get(BASE, status_code=204)
    requests_mock.post(BASE, json={"data": [{"details": {"id": "9"}, "status": "success"}]})
    assert_shape(hook.upload_attachment("Deals", "42", source), results.UploadResult)
    assert_shape(hook.attach_link("Deals", "42", "https://example.com/a"), results.UploadResult)
    requests_mock.delete(
        BASE,
        json={"data": [{"details": {"id": "1"}, "status": "success"}, {"code": "X", "status": "error"}]},
    )
    for result in hook.delete_attachments("Deals", "42", ["1", "2"]):
        assert_shape(result, results.DeleteResult)
