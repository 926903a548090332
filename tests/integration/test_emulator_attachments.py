"""The emulator's attachment and photo endpoints: shapes, validation and errors."""

from __future__ import annotations

import io
import os
import re
import struct
from datetime import UTC, datetime, timedelta

import pytest
import requests

from airflow_provider_zoho_attach.testing._emulator_seed import tiny_png

pytestmark = pytest.mark.integration

TIMEOUT = 30
ZOHO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")
FIELDS = "id,File_Name,Size,Created_Time,Modified_Time,Owner,Parent_Id,$file_id,$type,$link_url,$se_module"


class Api:
    """A tiny authenticated client of one emulator."""

    def __init__(self, emulator, version="v8"):
        self.emulator = emulator
        self.session = requests.Session()
        self.renew()
        self.base = f"{emulator.url}/crm/{version}"

    def renew(self):
        """Get a new access token (after moving the clock past the old one's expiry)."""
        self.session.headers["Authorization"] = f"Zoho-oauthtoken {self.emulator.issue_access_token()}"

    def request(self, method, path, **kwargs):
        kwargs.setdefault("timeout", TIMEOUT)
        return self.session.request(method, f"{self.base}/{path}", **kwargs)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.request("POST", path, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)

    def list(self, module, record_id, fields=FIELDS, **params):
        if fields is not None:
            params["fields"] = fields
        return self.get(f"{module}/{record_id}/Attachments", params=params)

    def upload(self, module, record_id, name, content, content_type=None, **kwargs):
        part = (name, content) if content_type is None else (name, content, content_type)
        return self.post(f"{module}/{record_id}/Attachments", files={"file": part}, **kwargs)


@pytest.fixture
def api(zoho_emulator):
    with requests.Session():
        yield Api(zoho_emulator)


def error(code, message, **details):
    return {"code": code, "details": details, "message": message, "status": "error"}


def uploaded_id(response):
    assert response.status_code == 200, response.text
    return response.json()["data"][0]["details"]["id"]


# ---------------------------------------------------------------------------- common conventions


def test_json_responses_carry_zoho_headers(zoho_emulator, api):
    record_id = zoho_emulator.add_record("Leads")
    zoho_emulator.add_attachment("Leads", record_id, "a.txt", "x")
    response = api.list("Leads", record_id)
    assert response.headers["Content-Type"] == "application/json;charset=UTF-8"
    assert response.headers["Content-Disposition"] == "attachment; filename=response.json"
    assert "X-ACCESSTOKEN-RESET" in response.headers
    assert response.headers["Server"] == "ZGS"
    bad = api.get("Nope/1/Attachments", params={"fields": "id"})
    assert bad.headers["Content-Disposition"] == "attachment; filename=response.json"


@pytest.mark.parametrize(
    "path",
    [
        "Leads/1/Foo",
        "Leads/1/Attachments/2/3",
        "Leads/1/actions/x",
        "",
        "Leads/1/Attachments/1/x/y",
        "users/1",
    ],
)
def test_unknown_api_path_is_invalid_url_pattern(api, path):
    response = api.get(path)
    assert response.status_code == 404
    assert response.json() == error(
        "INVALID_URL_PATTERN", "Please check if the URL trying to access is a correct one"
    )


@pytest.mark.parametrize("path", ["/", "/crm", "/crm/x8/Leads/1/Attachments", "/favicon.ico"])
def test_paths_outside_the_api_are_404(zoho_emulator, path):
    response = requests.get(zoho_emulator.url + path, timeout=TIMEOUT)
    assert response.status_code == 404
    assert response.json()["code"] == "INVALID_URL_PATTERN"


@pytest.mark.parametrize(
    ("method", "suffix"), [("PUT", ""), ("PATCH", ""), ("POST", "/1"), ("PUT", "/1"), ("PUT", "/photo")]
)
def test_wrong_method_is_invalid_request_method(zoho_emulator, api, method, suffix):
    record_id = zoho_emulator.add_record("Leads")
    path = f"Leads/{record_id}" + (suffix if suffix == "/photo" else "/Attachments" + suffix)
    response = api.request(method, path)
    assert response.status_code == 400
    assert response.json() == error(
        "INVALID_REQUEST_METHOD", "The http request method type is not a valid one"
    )


def test_unknown_module(api):
    response = api.list("Widgets", "1")
    assert response.status_code == 400
    assert response.json() == error(
        "INVALID_MODULE", "the module name given seems to be invalid", resource_path_index=0
    )


def test_module_names_are_case_sensitive_unless_configured(zoho_emulator, api):
    record_id = zoho_emulator.add_record("Leads")
    assert api.list("leads", record_id).json()["code"] == "INVALID_MODULE"
    zoho_emulator.config.module_names_case_sensitive = False
    assert api.list("leads", record_id).status_code == 204


@pytest.mark.parametrize(
    "module",
    [
        "Leads",
        "Accounts",
        "Sales_Orders",
        "Price_Books",
        "Purchase_Orders",
        "Appointments__s",
        "Services__s",
        "Notes",
    ],
)
def test_standard_modules(zoho_emulator, api, module):
    record_id = zoho_emulator.add_record(module)
    assert api.list(module, record_id).status_code == 204
    assert uploaded_id(api.upload(module, record_id, "a.txt", b"hi")).isdigit()


def test_custom_module_registered_by_add_record(zoho_emulator, api):
    assert api.list("Shipments__c", "5725767000009999999").json()["code"] == "INVALID_MODULE"
    record_id = zoho_emulator.add_record("Shipments__c", "5725767000009999999", name="Crate 7")
    assert record_id == "5725767000009999999"
    attachment_id = uploaded_id(api.upload("Shipments__c", record_id, "manifest.txt", b"crate"))
    (row,) = api.list("Shipments__c", record_id).json()["data"]
    assert row["id"] == attachment_id
    assert row["$se_module"] == "Shipments__c"
    assert row["Parent_Id"] == {"name": "Crate 7", "id": record_id}


@pytest.mark.parametrize("record_id", ["5725767000000000000", "abc"])
def test_unknown_record(api, record_id):
    response = api.list("Leads", record_id)
    assert response.status_code == 400
    assert response.json() == error(
        "INVALID_DATA", "the related id given seems to be invalid", resource_path_index=1
    )


@pytest.mark.parametrize("version", ["v2", "v2.1", "v3", "v5", "v7", "v8"])
def test_any_api_version(zoho_emulator, version):
    record_id = zoho_emulator.add_record("Deals")
    zoho_emulator.add_attachment("Deals", record_id, "a.txt", "x")
    response = Api(zoho_emulator, version).list("Deals", record_id)
    assert response.status_code == 200
    assert len(response.json()["data"]) == 1


# ---------------------------------------------------------------------------- list


def test_list_shape(zoho_emulator, api):
    record_id = zoho_emulator.add_record("Leads", name="Acme Lead")
    when = datetime(2024, 3, 2, 14, 5, 11, tzinfo=UTC)
    file_id = zoho_emulator.add_attachment(
        "Leads", record_id, "contract.pdf", b"%PDF" * 100, created_time=when
    )
    link_id = zoho_emulator.add_link_attachment(
        "Leads", record_id, "https://example.com/x", title="Spec", created_time=when + timedelta(hours=1)
    )

    response = api.list("Leads", record_id)

    assert response.status_code == 200
    body = response.json()
    assert body["info"] == {
        "per_page": 200,
        "count": 2,
        "page": 1,
        "more_records": False,
        "next_page_token": None,
        "previous_page_token": None,
        "page_token_expiry": None,
    }
    link, file = body["data"]
    assert file["id"] == file_id
    assert file["File_Name"] == "contract.pdf"
    assert file["Size"] == "400"
    assert file["Created_Time"] == "2024-03-02T14:05:11+00:00"
    assert file["Modified_Time"] == file["Created_Time"]
    assert file["$type"] == "File"
    assert file["$link_url"] is None
    assert re.fullmatch(r"[0-9a-f]{64}", file["$file_id"])
    assert file["$se_module"] == "Leads"
    assert file["Parent_Id"] == {"name": "Acme Lead", "id": record_id}
    assert set(file["Owner"]) == {"name", "id", "email"}
    assert link["id"] == link_id
    assert link["$type"] == "Link URL"
    assert link["Size"] == "0"
    assert link["File_Name"] == "Spec"
    assert link["$link_url"] == "https://example.com/x"
    assert link["$file_id"] is None


def test_full_records_have_every_zoho_field(zoho_emulator):
    record_id = zoho_emulator.add_record("Deals")
    zoho_emulator.add_attachment("Deals", record_id, "a.txt", "x")
    (record,) = zoho_emulator.attachments("Deals", record_id)
    assert set(record) == {
        "Owner",
        "Modified_Time",
        "File_Name",
        "Created_Time",
        "Size",
        "Parent_Id",
        "$editable",
        "$file_id",
        "$type",
        "$se_module",
        "$state",
        "$link_url",
        "$sharing_permission",
        "Modified_By",
        "Created_By",
        "id",
    }
    assert ZOHO_TIME.match(record["Created_Time"])
    assert zoho_emulator.attachments("Deals", "1") == []


def test_only_requested_fields_are_returned(zoho_emulator, api):
    record_id = zoho_emulator.add_record("Leads")
    zoho_emulator.add_attachment("Leads", record_id, "a.txt", "x")
    assert api.list("Leads", record_id, fields="File_Name,Size").json()["data"] == [
        {"File_Name": "a.txt", "Size": "1"}
    ]
    assert set(api.list("Leads", record_id, fields=" id , $type ").json()["data"][0]) == {"id", "$type"}
    zoho_emulator.config.always_include_id = True
    assert set(api.list("Leads", record_id, fields="File_Name").json()["data"][0]) == {"id", "File_Name"}


def test_fields_is_required_unless_configured(zoho_emulator, api):
    record_id = zoho_emulator.add_record("Leads")
    zoho_emulator.add_attachment("Leads", record_id, "a.txt", "x")
    response = api.list("Leads", record_id, fields=None)
    assert response.status_code == 400
    assert response.json() == error(
        "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing", param_name="fields"
    )
    zoho_emulator.config.fields_required = False
    (row,) = api.list("Leads", record_id, fields=None).json()["data"]
    assert row["File_Name"] == "a.txt"
    assert "$sharing_permission" in row


def test_too_many_fields(zoho_emulator, api):
    record_id = zoho_emulator.add_record("Leads")
    response = api.list("Leads", record_id, fields=",".join(f"F{i}" for i in range(51)))
    assert response.status_code == 400
    assert response.json()["code"] == "LIMIT_EXCEEDED"


def test_newest_first_by_created_time(zoho_emulator, api):
    record_id = zoho_emulator.add_record("Leads")
    base = datetime(2024, 1, 1, tzinfo=UTC)
    ids = {
        day: zoho_emulator.add_attachment(
            "Leads", record_id, f"d{day}.txt", "x", created_time=base + timedelta(days=day)
        )
        for day in (3, 1, 4, 2)
    }
    rows = api.list("Leads", record_id).json()["data"]
    assert [r["id"] for r in rows] == [ids[4], ids[3], ids[2], ids[1]]
    assert [r["File_Name"] for r in rows] == ["d4.txt", "d3.txt", "d2.txt", "d1.txt"]


def test_time_zone_offset(zoho_emulator, api):
    zoho_emulator.config.utc_offset_minutes = 330
    record_id = zoho_emulator.add_record("Leads")
    zoho_emulator.add_attachment("Leads", record_id, "a.txt", "x", created_time="2024-03-02T08:35:11+00:00")
    (row,) = api.list("Leads", record_id).json()["data"]
    assert row["Created_Time"] == "2024-03-02T14:05:11+05:30"


def test_ids_filter(zoho_emulator, api):
    record_id = zoho_emulator.add_record("Leads")
    ids = [zoho_emulator.add_attachment("Leads", record_id, f"{i}.txt", "x") for i in range(5)]
    other = zoho_emulator.add_attachment("Leads", zoho_emulator.add_record("Leads"), "other.txt", "x")
    rows = api.list("Leads", record_id, ids=f"{ids[1]},{ids[3]},{other}").json()["data"]
    assert sorted(r["id"] for r in rows) == sorted([ids[1], ids[3]])
    assert api.list("Leads", record_id, ids=other).status_code == 204
    bad = api.list("Leads", record_id, ids="1,x")
    assert bad.status_code == 400
    assert bad.json()["details"] == {"param_name": "ids"}


@pytest.mark.parametrize(
    ("param", "value"), [("per_page", "0"), ("per_page", "201"), ("per_page", "x"), ("page", "0")]
)
def test_bad_paging_values(zoho_emulator, api, param, value):
    record_id = zoho_emulator.add_record("Leads")
    response = api.list("Leads", record_id, **{param: value})
    assert response.status_code == 400
    assert response.json() == error("INVALID_DATA", "invalid data", param_name=param)


def test_empty_list_is_204_or_configured_200(zoho_emulator, api):
    record_id = zoho_emulator.add_record("Leads")
    response = api.list("Leads", record_id)
    assert response.status_code == 204
    assert response.content == b""
    assert "Content-Type" not in response.headers

    zoho_emulator.config.empty_list_status = 200
    response = api.list("Leads", record_id, per_page="50")
    assert response.status_code == 200
    assert response.json() == {
        "data": [],
        "info": {
            "per_page": 50,
            "count": 0,
            "page": 1,
            "more_records": False,
            "next_page_token": None,
            "previous_page_token": None,
            "page_token_expiry": None,
        },
    }


# ---------------------------------------------------------------------------- pagination


@pytest.fixture
def many(zoho_emulator):
    record_id = zoho_emulator.add_record("Deals")
    ids = zoho_emulator.add_attachments_bulk("Deals", record_id, 450)
    return record_id, list(reversed(ids))  # newest first


def test_pages_and_tokens(api, many):
    record_id, newest_first = many
    first = api.list("Deals", record_id, fields="id", per_page="200").json()
    assert [r["id"] for r in first["data"]] == newest_first[:200]
    assert first["info"]["more_records"] is True
    assert first["info"]["next_page_token"]
    assert ZOHO_TIME.match(first["info"]["page_token_expiry"])

    second = api.list("Deals", record_id, fields="id", per_page="200", page="2").json()
    assert [r["id"] for r in second["data"]] == newest_first[200:400]

    by_token = api.list(
        "Deals", record_id, fields="id", per_page="200", page_token=second["info"]["next_page_token"]
    ).json()
    assert [r["id"] for r in by_token["data"]] == newest_first[400:]
    assert by_token["info"]["page"] == 3
    assert by_token["info"]["more_records"] is False
    assert by_token["info"]["next_page_token"] is None
    assert by_token["info"]["page_token_expiry"] is None

    back = api.list(
        "Deals", record_id, fields="id", per_page="200", page_token=by_token["info"]["previous_page_token"]
    ).json()
    assert [r["id"] for r in back["data"]] == newest_first[200:400]


def test_discrete_pagination_limit(zoho_emulator, api, many):
    record_id, _ = many
    assert api.list("Deals", record_id, fields="id", per_page="200", page="10").status_code == 204
    response = api.list("Deals", record_id, fields="id", per_page="200", page="11")
    assert response.status_code == 400
    assert response.json()["code"] == "DISCRETE_PAGINATION_LIMIT_EXCEEDED"
    assert api.list("Deals", record_id, fields="id", per_page="150", page="14").status_code == 400
    assert api.list("Deals", record_id, fields="id", per_page="150", page="13").status_code == 204
    zoho_emulator.config.discrete_pagination_limit = 100
    assert api.list("Deals", record_id, fields="id", per_page="50", page="3").json()["code"] == (
        "DISCRETE_PAGINATION_LIMIT_EXCEEDED"
    )


def first_token(api, record_id, **params):
    params.setdefault("per_page", "100")
    params.setdefault("fields", "id")
    return api.list("Deals", record_id, **params).json()["info"]["next_page_token"]


def test_page_token_with_page_is_ambiguous(api, many):
    record_id, _ = many
    response = api.list("Deals", record_id, fields="id", page="2", page_token=first_token(api, record_id))
    assert response.status_code == 400
    assert response.json()["code"] == "AMBIGUITY_DURING_PROCESSING"


@pytest.mark.parametrize(
    "changed", [{"fields": "id,File_Name"}, {"per_page": "50"}, {"ids": "5725767000001000002"}]
)
def test_page_token_is_bound_to_the_other_parameters(api, many, changed):
    record_id, _ = many
    params = {"fields": "id", "per_page": "100", **changed, "page_token": first_token(api, record_id)}
    response = api.list("Deals", record_id, **params)
    assert response.status_code == 400
    assert response.json()["code"] == "TOKEN_BOUND_DATA_MISMATCH"


def test_page_token_is_bound_to_the_record(zoho_emulator, api, many):
    record_id, _ = many
    other = zoho_emulator.add_record("Deals")
    response = api.list("Deals", other, fields="id", per_page="100", page_token=first_token(api, record_id))
    assert response.json()["code"] == "TOKEN_BOUND_DATA_MISMATCH"


def test_page_token_expires(zoho_emulator, api, many):
    record_id, _ = many
    token = first_token(api, record_id)
    zoho_emulator.clock.advance(24 * 3600 - 10)
    api.renew()
    assert api.list("Deals", record_id, fields="id", per_page="100", page_token=token).status_code == 200
    zoho_emulator.clock.advance(11)
    response = api.list("Deals", record_id, fields="id", per_page="100", page_token=token)
    assert response.status_code == 400
    assert response.json()["code"] == "EXPIRED_VALUE"


@pytest.mark.parametrize("token", ["garbage", "abc.def", "eyJhIjpudWxsfQ.AAAAAAAAAAAAAAAAAAAAAAAA"])
def test_garbage_page_token(api, many, token):
    record_id, _ = many
    response = api.list("Deals", record_id, fields="id", per_page="100", page_token=token)
    assert response.status_code == 400
    assert response.json() == error(
        "INVALID_DATA", "The token given seems to be invalid", param_name="page_token"
    )


def test_pagination_limit_of_token_walks(zoho_emulator, api, many):
    record_id, _ = many
    zoho_emulator.config.max_token_rows = 200
    token = first_token(api, record_id)  # leads to row 100
    page = api.list("Deals", record_id, fields="id", per_page="100", page_token=token).json()
    response = api.list(
        "Deals", record_id, fields="id", per_page="100", page_token=page["info"]["next_page_token"]
    )
    assert response.status_code == 400
    assert response.json()["code"] == "PAGINATION_LIMIT_EXCEEDED"


def test_next_page_token_survives_new_attachments(zoho_emulator, api, many):
    record_id, newest_first = many
    token = first_token(api, record_id)
    zoho_emulator.add_attachment("Deals", record_id, "late.txt", "x")
    rows = api.list("Deals", record_id, fields="id", per_page="100", page_token=token).json()["data"]
    assert [r["id"] for r in rows] == newest_first[100:200]


# ---------------------------------------------------------------------------- upload


def test_upload_file(zoho_emulator, api):
    record_id = zoho_emulator.add_record("Leads")
    content = os.urandom(10_000)

    response = api.upload("Leads", record_id, "report.pdf", content)

    assert response.status_code == 200
    body = response.json()
    (item,) = body["data"]
    assert item["code"] == "SUCCESS"
    assert item["message"] == "attachment uploaded successfully"
    assert item["status"] == "success"
    details = item["details"]
    assert set(details) == {"Modified_Time", "Modified_By", "Created_Time", "id", "Created_By"}
    assert re.fullmatch(r"\d{19}", details["id"])
    assert ZOHO_TIME.match(details["Created_Time"])
    assert abs(datetime.fromisoformat(details["Created_Time"]).timestamp() - zoho_emulator.clock.now()) < 2
    assert zoho_emulator.attachment_content(details["id"]) == content
    (row,) = zoho_emulator.attachments("Leads", record_id)
    assert row["File_Name"] == "report.pdf"
    assert row["Size"] == "10000"
    assert row["Created_Time"] == details["Created_Time"]
    assert zoho_emulator.attachment_content_type(details["id"]) == "application/pdf"


def test_upload_created_time_follows_the_clock(zoho_emulator, api):
    record_id = zoho_emulator.add_record("Leads")
    zoho_emulator.clock.advance(30 * 86400)
    api.renew()
    details = api.upload("Leads", record_id, "a.txt", b"x").json()["data"][0]["details"]
    assert abs(datetime.fromisoformat(details["Created_Time"]).timestamp() - zoho_emulator.clock.now()) < 2


@pytest.mark.parametrize(
    ("name", "part_type", "expected"),
    [
        ("data.bin", None, "application/octet-stream"),
        ("notes.txt", None, "text/plain"),
        ("table.csv", None, "text/csv"),
        ("x.unknownext", None, "application/octet-stream"),
        ("report.pdf", "application/x-custom", "application/x-custom"),
    ],
)
def test_upload_content_type(zoho_emulator, api, name, part_type, expected):
    record_id = zoho_emulator.add_record("Leads")
    attachment_id = uploaded_id(api.upload("Leads", record_id, name, b"abc", part_type))
    assert zoho_emulator.attachment_content_type(attachment_id) == expected
    download = api.get(f"Leads/{record_id}/Attachments/{attachment_id}")
    assert download.headers["Content-Type"] == expected


def raw_multipart(disposition, content=b"hello", boundary="XyZ"):
    return (
        f"--{boundary}\r\nContent-Disposition: {disposition}\r\nContent-Type: text/plain\r\n\r\n".encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    ), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        ('form-data; name="file"; filename="plain.txt"', "plain.txt"),
        (
            'form-data; name="file"; filename="ascii.txt"; '
            "filename*=UTF-8''na%C3%AFve%20r%C3%A9sum%C3%A9.txt",
            "naïve résumé.txt",
        ),
        ('form-data; name="file"; filename="quote\\"d.txt"', 'quote"d.txt'),
        ('form-data; name="file"; filename="C:\\\\docs\\\\win.txt"', "win.txt"),
        ('form-data; name="file"; filename="日本.txt"', "日本.txt"),
        ('form-data; name="file"', "file"),
    ],
)
def test_upload_file_name_from_content_disposition(zoho_emulator, api, disposition, expected):
    record_id = zoho_emulator.add_record("Leads")
    body, headers = raw_multipart(disposition)
    attachment_id = uploaded_id(api.post(f"Leads/{record_id}/Attachments", data=body, headers=headers))
    (row,) = zoho_emulator.attachments("Leads", record_id)
    assert row["id"] == attachment_id
    assert row["File_Name"] == expected
    assert zoho_emulator.attachment_content(attachment_id) == b"hello"


def test_upload_ignores_preamble_and_unknown_parts(zoho_emulator, api):
    record_id = zoho_emulator.add_record("Leads")
    boundary = "b0undary"
    body = (
        b"this is the preamble\r\n"
        b'--b0undary\r\nContent-Disposition: form-data; name="note"\r\n\r\nignored\r\n'
        b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="x.bin"\r\n\r\n'
        b"--b0undary at the start\r\n--b0undar\r\n"
        b"--b0undary--\r\nepilogue"
    )
    attachment_id = uploaded_id(
        api.post(
            f"Leads/{record_id}/Attachments",
            data=body,
            headers={"Content-Type": f'multipart/form-data; boundary="{boundary}"'},
        )
    )
    assert zoho_emulator.attachment_content(attachment_id) == b"--b0undary at the start\r\n--b0undar"


def test_upload_streams_chunked_bodies(zoho_emulator, api):
    record_id = zoho_emulator.add_record("Leads")
    body, headers = raw_multipart('form-data; name="file"; filename="chunked.bin"', b"0123456789" * 50_000)

    def pieces():
        for start in range(0, len(body), 7777):
            yield body[start : start + 7777]

    attachment_id = uploaded_id(api.post(f"Leads/{record_id}/Attachments", data=pieces(), headers=headers))
    assert zoho_emulator.attachment_content(attachment_id) == b"0123456789" * 50_000


def test_malformed_multipart_is_rejected(zoho_emulator, api):
    record_id = zoho_emulator.add_record("Leads")
    response = api.post(
        f"Leads/{record_id}/Attachments",
        data=b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nno end',
        headers={"Content-Type": "multipart/form-data; boundary=XyZ"},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_DATA"
    assert zoho_emulator.attachments("Leads", record_id) == []
    assert os.listdir(zoho_emulator.blob_dir) == []


def test_upload_too_large_up_front_and_while_streaming(zoho_emulator, api):
    zoho_emulator.config.max_upload_size = 1000
    record_id = zoho_emulator.add_record("Leads")
    expected = error(
        "FILE_SIZE_MORE_THAN_ALLOWED_SIZE", "Please check if the size of the file is in the correct range"
    )

    # Content-Length says it all: refused without parsing.
    too_big = api.upload("Leads", record_id, "big.bin", b"x" * 200_000)
    assert too_big.status_code == 413
    assert too_big.json() == expected

    # Chunked: found out while streaming.
    body, headers = raw_multipart('form-data; name="file"; filename="big.bin"', b"y" * 5000)
    streamed = api.post(
        f"Leads/{record_id}/Attachments", data=iter([body[:3000], body[3000:]]), headers=headers
    )
    assert streamed.status_code == 413
    assert streamed.json() == expected

    # Just under the multipart slack but over the limit: streamed and refused.
    assert api.upload("Leads", record_id, "big.bin", b"z" * 1001).status_code == 413
    assert zoho_emulator.attachments("Leads", record_id) == []
    assert os.listdir(zoho_emulator.blob_dir) == []
    # The connection was drained and is still usable.
    assert uploaded_id(api.upload("Leads", record_id, "small.bin", b"z" * 1000))


def test_blocked_extension(zoho_emulator, api):
    record_id = zoho_emulator.add_record("Leads")
    response = api.upload("Leads", record_id, "setup.EXE", b"MZ")
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_DATA"
    zoho_emulator.config.blocked_extensions = ()
    assert uploaded_id(api.upload("Leads", record_id, "setup.exe", b"MZ"))


def test_one_file_per_request(zoho_emulator, api):
    record_id = zoho_emulator.add_record("Leads")
    response = api.post(
        f"Leads/{record_id}/Attachments", files=[("file", ("a.txt", b"a")), ("file", ("b.txt", b"b"))]
    )
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_DATA"
    assert zoho_emulator.attachments("Leads", record_id) == []


@pytest.mark.parametrize("transport", ["query", "multipart", "urlencoded"])
def test_link_attachment(zoho_emulator, api, transport):
    record_id = zoho_emulator.add_record("Leads")
    fields = {"attachmentUrl": "https://www.example.com/brochure?x=1&y=2", "title": "Brochure"}
    path = f"Leads/{record_id}/Attachments"
    if transport == "query":
        response = api.post(path, params=fields)
    elif transport == "multipart":
        response = api.post(path, files={k: (None, v) for k, v in fields.items()})
    else:
        response = api.post(path, data=fields)
    attachment_id = uploaded_id(response)
    assert response.json()["data"][0]["message"] == "attachment uploaded successfully"
    (row,) = zoho_emulator.attachments("Leads", record_id)
    assert row["id"] == attachment_id
    assert row["$type"] == "Link URL"
    assert row["$link_url"] == fields["attachmentUrl"]
    assert row["File_Name"] == "Brochure"
    assert row["Size"] == "0"


def test_link_title_defaults_to_the_url(zoho_emulator, api):
    record_id = zoho_emulator.add_record("Leads")
    uploaded_id(api.post(f"Leads/{record_id}/Attachments", params={"attachmentUrl": "https://example.org/a"}))
    assert zoho_emulator.attachments("Leads", record_id)[0]["File_Name"] == "https://example.org/a"


def test_duplicate_link_is_invalid_data(zoho_emulator, api):
    record_id = zoho_emulator.add_record("Leads")
    params = {"attachmentUrl": "https://example.org/a"}
    uploaded_id(api.post(f"Leads/{record_id}/Attachments", params=params))
    duplicate = api.post(f"Leads/{record_id}/Attachments", params=params)
    assert duplicate.status_code == 400
    assert duplicate.json()["code"] == "INVALID_DATA"
    # Another record may have it.
    assert uploaded_id(api.post(f"Leads/{zoho_emulator.add_record('Leads')}/Attachments", params=params))
    with pytest.raises(ValueError, match="already attached"):
        zoho_emulator.add_link_attachment("Leads", record_id, "https://example.org/a")


@pytest.mark.parametrize(
    "url", ["not a url", "ftp://example.com/x", "https://", "http://localhost", "x" * 10]
)
def test_malformed_link_url(zoho_emulator, api, url):
    record_id = zoho_emulator.add_record("Leads")
    response = api.post(f"Leads/{record_id}/Attachments", params={"attachmentUrl": url})
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_URL_PATTERN"
    assert response.json()["message"] == "the given attachment URL is incorrect"


def test_file_and_link_together_is_invalid_data(zoho_emulator, api):
    record_id = zoho_emulator.add_record("Leads")
    response = api.post(
        f"Leads/{record_id}/Attachments",
        params={"attachmentUrl": "https://example.org/a"},
        files={"file": ("a.txt", b"a")},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_DATA"
    assert zoho_emulator.attachments("Leads", record_id) == []
    assert os.listdir(zoho_emulator.blob_dir) == []


@pytest.mark.parametrize("body", [None, b"", b"just text"])
def test_upload_without_file_or_link(zoho_emulator, api, body):
    record_id = zoho_emulator.add_record("Leads")
    response = api.post(f"Leads/{record_id}/Attachments", data=body)
    assert response.status_code == 400
    assert response.json() == error(
        "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing", param_name="file"
    )


# ---------------------------------------------------------------------------- download


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("report.pdf", "application/pdf"),
        ("notes.txt", "text/plain"),
        ("blob.dat", "application/octet-stream"),
    ],
)
def test_download(zoho_emulator, api, name, content_type):
    record_id = zoho_emulator.add_record("Deals")
    content = os.urandom(3000)
    attachment_id = zoho_emulator.add_attachment("Deals", record_id, name, content)
    response = api.get(f"Deals/{record_id}/Attachments/{attachment_id}")
    assert response.status_code == 200
    assert response.content == content
    assert response.headers["Content-Type"] == content_type
    assert response.headers["Content-Length"] == "3000"
    assert response.headers["Content-Disposition"] == f"attachment;filename*=UTF-8''{name}"


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        ("rfc5987", "attachment;filename*=UTF-8''na%C3%AFve%20%22q%22%27s.pdf"),
        ("quoted", 'attachment;filename="naïve \\"q\\"\'s.pdf"'),
        ("both", "attachment;filename=\"na_ve _q_'s.pdf\";filename*=UTF-8''na%C3%AFve%20%22q%22%27s.pdf"),
    ],
)
def test_download_content_disposition_styles(zoho_emulator, api, style, expected):
    zoho_emulator.config.content_disposition_format = style
    record_id = zoho_emulator.add_record("Deals")
    attachment_id = zoho_emulator.add_attachment("Deals", record_id, 'naïve "q"\'s.pdf', b"x")
    header = api.get(f"Deals/{record_id}/Attachments/{attachment_id}").headers["Content-Disposition"]
    # http.client decodes header bytes as latin-1; undo that to see what was sent.
    assert header.encode("latin-1").decode("utf-8") == expected


def test_download_link_is_not_allowed(zoho_emulator, api):
    record_id = zoho_emulator.add_record("Deals")
    link_id = zoho_emulator.add_link_attachment("Deals", record_id, "https://example.org/a")
    response = api.get(f"Deals/{record_id}/Attachments/{link_id}")
    assert response.status_code == 400
    assert response.json() == error(
        "DOWNLOAD_NOT_ALLOWED", "As it is a linked attachment, you can not download it"
    )


def test_download_unknown_or_foreign_attachment_is_204(zoho_emulator, api):
    record_id = zoho_emulator.add_record("Deals")
    other_id = zoho_emulator.add_attachment("Deals", zoho_emulator.add_record("Deals"), "a.txt", "x")
    for attachment_id in ("5725767000000000001", other_id):
        response = api.get(f"Deals/{record_id}/Attachments/{attachment_id}")
        assert response.status_code == 204
        assert response.content == b""


def test_upload_then_download_round_trip(zoho_emulator, api):
    record_id = zoho_emulator.add_record("Contacts")
    content = os.urandom(1_500_000)
    attachment_id = uploaded_id(api.upload("Contacts", record_id, "photo album.zip", content))
    response = api.get(f"Contacts/{record_id}/Attachments/{attachment_id}")
    assert response.content == content
    assert response.headers["Content-Type"] == "application/zip"
    assert response.headers["Content-Disposition"] == "attachment;filename*=UTF-8''photo%20album.zip"


# ---------------------------------------------------------------------------- delete


def test_delete_one(zoho_emulator, api):
    record_id = zoho_emulator.add_record("Deals")
    attachment_id = uploaded_id(api.upload("Deals", record_id, "a.txt", b"abc"))
    assert len(os.listdir(zoho_emulator.blob_dir)) == 1

    response = api.delete(f"Deals/{record_id}/Attachments/{attachment_id}")

    assert response.status_code == 200
    assert response.json() == {
        "data": [
            {
                "code": "SUCCESS",
                "details": {"id": attachment_id},
                "message": "record deleted",
                "status": "success",
            }
        ]
    }
    assert zoho_emulator.attachments("Deals", record_id) == []
    assert os.listdir(zoho_emulator.blob_dir) == []
    (deleted,) = zoho_emulator.deleted_attachments
    assert deleted["id"] == attachment_id
    assert deleted["file_name"] == "a.txt"

    again = api.delete(f"Deals/{record_id}/Attachments/{attachment_id}")
    assert again.status_code == 400
    assert again.json() == error("INVALID_DATA", "record not deleted", resource_path_index=3)


def test_delete_bulk(zoho_emulator, api):
    record_id = zoho_emulator.add_record("Deals")
    ids = [zoho_emulator.add_attachment("Deals", record_id, f"{i}.txt", "x") for i in range(3)]
    response = api.delete(f"Deals/{record_id}/Attachments", params={"ids": f"{ids[0]},{ids[2]},123"})
    assert response.status_code == 200
    assert response.json() == {
        "data": [
            {"code": "SUCCESS", "details": {"id": ids[0]}, "message": "record deleted", "status": "success"},
            {"code": "SUCCESS", "details": {"id": ids[2]}, "message": "record deleted", "status": "success"},
            {
                "code": "INVALID_DATA",
                "details": {"id": "123"},
                "message": "record not deleted",
                "status": "error",
            },
        ]
    }
    assert [r["id"] for r in zoho_emulator.attachments("Deals", record_id)] == [ids[1]]


def test_delete_bulk_limits(zoho_emulator, api):
    record_id = zoho_emulator.add_record("Deals")
    missing = api.delete(f"Deals/{record_id}/Attachments")
    assert missing.status_code == 400
    assert missing.json()["code"] == "REQUIRED_PARAM_MISSING"
    too_many = api.delete(f"Deals/{record_id}/Attachments", params={"ids": ",".join(["1"] * 101)})
    assert too_many.status_code == 400
    assert too_many.json()["code"] == "LIMIT_EXCEEDED"
    assert (
        api.delete(f"Deals/{record_id}/Attachments", params={"ids": ",".join(["1"] * 100)}).status_code == 200
    )


# ---------------------------------------------------------------------------- photo


def bmp_header():
    return b"BM" + struct.pack("<IHHI", 70, 0, 0, 54) + b"\x00" * 60


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (tiny_png(), "image/png"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 100, "image/jpeg"),
        (b"GIF89a" + b"\x00" * 50, "image/gif"),
        (bmp_header(), "image/bmp"),
    ],
)
def test_photo_upload_download_delete(zoho_emulator, api, content, content_type):
    record_id = zoho_emulator.add_record("Contacts")
    path = f"Contacts/{record_id}/photo"
    assert api.get(path).status_code == 204

    uploaded = api.post(path, files={"file": ("whatever.bin", content)})
    assert uploaded.status_code == 200
    assert uploaded.json() == {
        "code": "SUCCESS",
        "details": {},
        "message": "photo uploaded successfully",
        "status": "success",
    }
    assert zoho_emulator.photo("Contacts", record_id) == content

    downloaded = api.get(path)
    assert downloaded.status_code == 200
    assert downloaded.content == content
    assert downloaded.headers["Content-Type"] == content_type
    assert "Content-Disposition" in downloaded.headers

    deleted = api.delete(path)
    assert deleted.status_code == 200
    assert deleted.json() == {
        "code": "SUCCESS",
        "details": {},
        "message": "Photo deleted",
        "status": "success",
    }
    assert api.get(path).status_code == 204
    assert zoho_emulator.photo("Contacts", record_id) is None


def test_photo_must_be_an_image(zoho_emulator, api):
    record_id = zoho_emulator.add_record("Leads")
    response = api.post(f"Leads/{record_id}/photo", files={"file": ("a.png", b"not an image at all")})
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_DATA"
    assert zoho_emulator.photo("Leads", record_id) is None


def test_photo_too_large_is_415(zoho_emulator, api):
    zoho_emulator.config.max_photo_size = 1000
    record_id = zoho_emulator.add_record("Leads")
    big = tiny_png() + b"\x00" * 2000
    for data in (big, iter([big])):
        body = io.BytesIO()
        body.write(b'--B\r\nContent-Disposition: form-data; name="file"; filename="p.png"\r\n\r\n')
        body.write(big)
        body.write(b"\r\n--B--\r\n")
        payload = body.getvalue() if isinstance(data, bytes) else iter([body.getvalue()])
        response = api.post(
            f"Leads/{record_id}/photo",
            data=payload,
            headers={"Content-Type": "multipart/form-data; boundary=B"},
        )
        assert response.status_code == 415
        assert response.json()["code"] == "FILE_SIZE_MORE_THAN_ALLOWED_SIZE"
    zoho_emulator.config.max_photo_size = 10 * 1024 * 1024
    assert api.post(f"Leads/{record_id}/photo", files={"file": ("p.png", big)}).status_code == 200


def test_photo_of_a_module_without_photos(zoho_emulator, api):
    record_id = zoho_emulator.add_record("Tasks")
    assert api.get(f"Tasks/{record_id}/photo").json()["code"] == "INVALID_MODULE"


def test_set_photo_helper(zoho_emulator, api):
    record_id = zoho_emulator.add_record("Accounts")
    zoho_emulator.set_photo("Accounts", record_id, tiny_png(), "image/png")
    assert api.get(f"Accounts/{record_id}/photo").content == tiny_png()
