"""Injected faults, rate limits, the request log and the admin HTTP API of the emulator."""

from __future__ import annotations

import base64
import socket
import threading

import pytest
import requests

pytestmark = pytest.mark.integration

TIMEOUT = 30


@pytest.fixture
def setup(zoho_emulator):
    """A record with one 100 kB attachment, and an authorised session."""
    record_id = zoho_emulator.add_record("Deals")
    content = bytes(range(256)) * 400
    attachment_id = zoho_emulator.add_attachment("Deals", record_id, "data.bin", content)
    session = requests.Session()
    session.headers["Authorization"] = f"Zoho-oauthtoken {zoho_emulator.issue_access_token()}"
    base = f"{zoho_emulator.url}/crm/v8/Deals/{record_id}/Attachments"
    yield {
        "record_id": record_id,
        "attachment_id": attachment_id,
        "content": content,
        "session": session,
        "list": base,
        "download": f"{base}/{attachment_id}",
    }
    session.close()


def get_list(setup, **kwargs):
    return setup["session"].get(setup["list"], params={"fields": "id"}, timeout=TIMEOUT, **kwargs)


def raw_get(emulator, path, headers=""):
    """Send a GET over a plain socket; return everything received and whether it ended with a reset."""
    with socket.create_connection((emulator.host, emulator.port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode())
        received = bytearray()
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            return bytes(received), True
        return bytes(received), False


# ---------------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    ("status", "code"), [(500, "INTERNAL_ERROR"), (503, "SERVICE_UNAVAILABLE"), (502, "BAD_GATEWAY")]
)
def test_status_fault(zoho_emulator, setup, status, code):
    zoho_emulator.inject_fault("status", status=status, count=2)
    for _ in range(2):
        response = get_list(setup)
        assert response.status_code == status
        assert response.headers["Content-Type"] == "application/json;charset=UTF-8"
        assert response.json()["code"] == code
        assert response.json()["status"] == "error"
    assert get_list(setup).status_code == 200
    assert [r.fault for r in zoho_emulator.requests] == ["status", "status", None]


def test_internal_error_body(zoho_emulator, setup):
    zoho_emulator.inject_fault("status", status=500)
    assert get_list(setup).json() == {
        "code": "INTERNAL_ERROR",
        "details": {},
        "message": "Internal Server Error",
        "status": "error",
    }


def test_fault_filters(zoho_emulator, setup):
    zoho_emulator.inject_fault("status", status=500, method="DELETE")
    zoho_emulator.inject_fault("status", status=503, path=r"/Attachments/\d+$")
    assert get_list(setup).status_code == 200
    assert setup["session"].get(setup["download"], timeout=TIMEOUT).status_code == 503
    assert setup["session"].get(setup["download"], timeout=TIMEOUT).status_code == 200
    assert setup["session"].delete(setup["download"], timeout=TIMEOUT).status_code == 500
    assert zoho_emulator.faults == []


def test_faults_default_to_api_calls_only(zoho_emulator, setup):
    zoho_emulator.inject_fault("status", status=500)
    token = requests.post(
        f"{zoho_emulator.url}/oauth/v2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": zoho_emulator.client_id,
            "client_secret": zoho_emulator.client_secret,
            "refresh_token": zoho_emulator.refresh_token,
        },
        timeout=TIMEOUT,
    )
    assert "access_token" in token.json()
    assert get_list(setup).status_code == 500


def test_fault_on_token_endpoint_by_path(zoho_emulator):
    zoho_emulator.inject_fault("status", status=503, path="^/oauth/")
    response = requests.post(f"{zoho_emulator.url}/oauth/v2/token", data={}, timeout=TIMEOUT)
    assert response.status_code == 503
    assert zoho_emulator.token_calls == 1


def test_429_fault(zoho_emulator, setup):
    zoho_emulator.inject_fault("429")
    response = get_list(setup)
    assert response.status_code == 429
    assert response.json()["code"] == "TOO_MANY_REQUESTS"
    assert "Retry-After" not in response.headers


def test_reset_fault(zoho_emulator, setup):
    zoho_emulator.inject_fault("reset")
    with pytest.raises(requests.ConnectionError):
        get_list(setup)
    (record,) = zoho_emulator.requests
    assert record.status == 0
    assert record.fault == "reset"
    assert zoho_emulator.count(status=0) == 1
    assert get_list(setup).status_code == 200


def test_reset_is_a_tcp_rst(zoho_emulator, setup):
    zoho_emulator.inject_fault("reset")
    token = setup["session"].headers["Authorization"]
    received, reset = raw_get(
        zoho_emulator, setup["download"].split(zoho_emulator.url)[1], f"Authorization: {token}\r\n"
    )
    assert received == b""
    assert reset


def test_reset_mid_body(zoho_emulator, setup):
    zoho_emulator.inject_fault("reset_mid_body")
    token = setup["session"].headers["Authorization"]
    received, reset = raw_get(
        zoho_emulator, setup["download"].split(zoho_emulator.url)[1], f"Authorization: {token}\r\n"
    )
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert b"Content-Length: 102400" in head
    assert 0 < len(body) < len(setup["content"])
    assert reset
    zoho_emulator.inject_fault("reset_mid_body")
    with pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        setup["session"].get(setup["download"], timeout=TIMEOUT)


def test_truncated_body(zoho_emulator, setup):
    zoho_emulator.inject_fault("truncated")
    token = setup["session"].headers["Authorization"]
    received, reset = raw_get(
        zoho_emulator, setup["download"].split(zoho_emulator.url)[1], f"Authorization: {token}\r\n"
    )
    head, _, body = received.partition(b"\r\n\r\n")
    assert b"Content-Length: 102400" in head
    assert len(body) == 51200
    assert body == setup["content"][:51200]
    assert not reset  # a clean close (FIN)
    zoho_emulator.inject_fault("truncated")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        setup["session"].get(setup["download"], timeout=TIMEOUT)
    assert zoho_emulator.requests[-1].bytes_out == 51200


def test_slow_body(zoho_emulator, setup):
    zoho_emulator.inject_fault("slow_body", delay=0.6)
    with pytest.raises((requests.ConnectionError, requests.Timeout)):
        setup["session"].get(setup["download"], timeout=0.2)

    zoho_emulator.inject_fault("slow_body", delay=0.3)
    response = setup["session"].get(setup["download"], timeout=TIMEOUT)
    assert response.content == setup["content"]
    assert response.elapsed.total_seconds() < 0.3  # headers came before the stall


def test_a_stalled_body_goes_on_when_released(zoho_emulator, setup):
    zoho_emulator.inject_fault("slow_body", delay=3600)
    with setup["session"].get(setup["download"], timeout=TIMEOUT, stream=True) as response:
        first = response.raw.read(len(setup["content"]) // 2)  # the half sent before the stall
        received = []
        reader = threading.Thread(target=lambda: received.append(response.raw.read()))
        reader.start()
        reader.join(0.2)
        assert reader.is_alive()  # the rest waits for the stall to end
        zoho_emulator.release_stalls()
        reader.join(TIMEOUT)
    assert not reader.is_alive()
    assert first + received[0] == setup["content"]


def test_html_error(zoho_emulator, setup):
    zoho_emulator.inject_fault("html_error")
    response = get_list(setup)
    assert response.status_code == 502
    assert response.headers["Content-Type"] == "text/html"
    assert b"<html>" in response.content


def test_invalid_token_fault(zoho_emulator, setup):
    zoho_emulator.inject_fault("invalid_token")
    response = get_list(setup)
    assert response.status_code == 401
    assert response.json() == {
        "code": "INVALID_TOKEN",
        "details": {},
        "message": "invalid oauth token",
        "status": "error",
    }
    assert get_list(setup).status_code == 200


def test_empty_204_fault(zoho_emulator, setup):
    zoho_emulator.inject_fault("empty_204")
    response = get_list(setup)
    assert response.status_code == 204
    assert response.content == b""


def test_token_throttle_fault(zoho_emulator, setup):
    zoho_emulator.inject_fault("token_throttle")
    assert get_list(setup).status_code == 200  # API calls are not affected
    response = requests.post(
        f"{zoho_emulator.url}/oauth/v2/token",
        params={
            "grant_type": "refresh_token",
            "client_id": zoho_emulator.client_id,
            "client_secret": zoho_emulator.client_secret,
            "refresh_token": zoho_emulator.refresh_token,
        },
        timeout=TIMEOUT,
    )
    assert response.status_code == 200
    assert response.json()["error"] == "Access Denied"


def test_commit_then_reset_stores_the_upload(zoho_emulator, setup):
    zoho_emulator.inject_fault("commit_then_reset", method="POST")
    with pytest.raises(requests.ConnectionError):
        setup["session"].post(setup["list"], files={"file": ("retry-me.txt", b"payload")}, timeout=TIMEOUT)
    names = [a["File_Name"] for a in zoho_emulator.attachments("Deals", setup["record_id"])]
    assert names == ["retry-me.txt", "data.bin"]
    assert zoho_emulator.requests[-1].status == 0
    assert zoho_emulator.requests[-1].fault == "commit_then_reset"


def test_fault_delay(zoho_emulator, setup):
    zoho_emulator.inject_fault("status", status=500, delay=0.3)
    with pytest.raises(requests.Timeout):
        setup["session"].get(setup["list"], params={"fields": "id"}, timeout=0.1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "explode"}, "unknown fault kind"),
        ({"kind": "status"}, "needs status"),
        ({"kind": "status", "status": 99}, "needs status"),
        ({"kind": "429", "count": 0}, "count"),
        ({"kind": "slow_body", "delay": -1}, "delay"),
    ],
)
def test_bad_faults(zoho_emulator, kwargs, message):
    kind = kwargs.pop("kind")
    with pytest.raises(ValueError, match=message):
        zoho_emulator.inject_fault(kind, **kwargs)


def test_clear_faults(zoho_emulator, setup):
    zoho_emulator.inject_fault("429", count=5)
    assert zoho_emulator.faults == [
        {"kind": "429", "count": 5, "method": None, "path": None, "status": None, "delay": None}
    ]
    zoho_emulator.clear_faults()
    assert get_list(setup).status_code == 200


# ---------------------------------------------------------------------------- limits


def test_max_concurrency(zoho_emulator, setup):
    zoho_emulator.config.max_concurrency = 2
    zoho_emulator.pause()
    results = []

    def slow_call():
        results.append(
            requests.get(
                setup["list"], params={"fields": "id"}, headers=setup["session"].headers, timeout=TIMEOUT
            )
        )

    threads = [threading.Thread(target=slow_call) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        assert zoho_emulator.wait_in_flight(2)
        refused = get_list(setup)
    finally:
        zoho_emulator.resume()

    assert refused.status_code == 429
    assert refused.json() == {
        "code": "TOO_MANY_REQUESTS",
        "details": {},
        "message": "You have exceeded the number of concurrent API calls allowed. Try again later.",
        "status": "error",
    }
    assert "Retry-After" not in refused.headers
    for thread in threads:
        thread.join()
    assert [r.status_code for r in results] == [200, 200]
    assert get_list(setup).status_code == 200
    assert zoho_emulator.peak_in_flight == 2


def test_latency_holds_the_concurrency_slot(zoho_emulator, setup):
    zoho_emulator.config.max_concurrency = 1
    zoho_emulator.config.latency = 1.0
    results = []
    slow = threading.Thread(
        target=lambda: results.append(
            requests.get(
                setup["list"], params={"fields": "id"}, headers=setup["session"].headers, timeout=TIMEOUT
            )
        )
    )
    slow.start()
    assert zoho_emulator.wait_in_flight(1)
    assert get_list(setup).status_code == 429
    slow.join()
    assert results[0].status_code == 200


def test_daily_credits(zoho_emulator, setup):
    zoho_emulator.config.daily_credits = 3
    zoho_emulator.config.send_credits_header = True
    statuses = [get_list(setup).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert get_list(setup).json()["code"] == "TOO_MANY_REQUESTS"
    # Token calls are free.
    zoho_emulator.issue_access_token()
    assert requests.post(f"{zoho_emulator.url}/oauth/v2/token", data={}, timeout=TIMEOUT).status_code == 200
    assert zoho_emulator.stats()["credits_remaining"] == 0

    zoho_emulator.clock.advance(24 * 3600 + 1)
    setup["session"].headers["Authorization"] = f"Zoho-oauthtoken {zoho_emulator.issue_access_token()}"
    response = get_list(setup)
    assert response.status_code == 200
    assert "X-API-CREDITS-REMAINING" not in response.headers  # a third used: Zoho says it from half
    assert get_list(setup).headers["X-API-CREDITS-REMAINING"] == "1"


def test_latency_is_added_to_api_calls(zoho_emulator, setup):
    zoho_emulator.config.latency = 0.25
    get_list(setup)
    assert zoho_emulator.requests[-1].duration >= 0.25


# ---------------------------------------------------------------------------- request log


def test_request_log(zoho_emulator, setup):
    get_list(setup)
    setup["session"].get(setup["download"], timeout=TIMEOUT)
    setup["session"].post(setup["list"], files={"file": ("a.txt", b"12345")}, timeout=TIMEOUT)
    setup["session"].get(setup["list"], timeout=TIMEOUT)

    listed, downloaded, uploaded, refused = zoho_emulator.requests
    assert (listed.method, listed.path, listed.query, listed.status) == (
        "GET",
        setup["list"].split(zoho_emulator.url)[1],
        {"fields": "id"},
        200,
    )
    assert listed.started <= listed.finished
    assert downloaded.bytes_out == len(setup["content"])
    assert uploaded.method == "POST"
    assert uploaded.bytes_in > 5
    assert refused.status == 400
    assert refused.code == "REQUIRED_PARAM_MISSING"
    assert zoho_emulator.count() == 4
    assert zoho_emulator.count(method="get") == 3
    assert zoho_emulator.count(path_contains="/Attachments/") == 1
    assert zoho_emulator.count(status=400) == 1
    assert zoho_emulator.api_calls() == 4
    assert listed.to_dict()["path"] == listed.path

    zoho_emulator.reset_log()
    assert zoho_emulator.requests == []
    assert zoho_emulator.api_calls() == 0


def test_log_never_holds_secrets(zoho_emulator, setup):
    token = setup["session"].headers["Authorization"].split()[1]
    requests.post(
        f"{zoho_emulator.url}/oauth/v2/token",
        params={"grant_type": "refresh_token", "client_id": zoho_emulator.client_id},
        data={"client_secret": zoho_emulator.client_secret, "refresh_token": zoho_emulator.refresh_token},
        timeout=TIMEOUT,
    )
    requests.post(
        f"{zoho_emulator.url}/oauth/v2/token/revoke", params={"token": "1000.abc.def"}, timeout=TIMEOUT
    )
    get_list(setup)
    setup["session"].get(
        setup["list"], params={"fields": "id", "access_token": token, "code": "x"}, timeout=TIMEOUT
    )

    dump = (
        repr(zoho_emulator.requests)
        + requests.get(f"{zoho_emulator.url}/__emulator__/requests", timeout=TIMEOUT).text
    )
    for secret in (token, zoho_emulator.client_secret, zoho_emulator.refresh_token, "1000.abc.def"):
        assert secret not in dump
    token_call = zoho_emulator.requests[0]
    assert token_call.form["client_secret"] == "***"
    assert token_call.form["refresh_token"] == "***"
    assert token_call.query["client_id"] == zoho_emulator.client_id
    assert zoho_emulator.requests[1].query == {"token": "***"}
    assert zoho_emulator.requests[-1].query["access_token"] == "***"
    assert zoho_emulator.token_calls == 1


def test_page_token_is_not_redacted(zoho_emulator, setup):
    setup["session"].get(setup["list"], params={"fields": "id", "page_token": "abc"}, timeout=TIMEOUT)
    assert zoho_emulator.requests[-1].query["page_token"] == "abc"


def test_log_limit(zoho_emulator, setup):
    zoho_emulator.config.request_log_limit = 2
    for _ in range(4):
        get_list(setup)
    assert len(zoho_emulator.requests) == 2
    assert zoho_emulator.api_calls() == 4


# ---------------------------------------------------------------------------- admin HTTP API


def admin(emulator, method, path, **kwargs):
    return requests.request(method, f"{emulator.url}/__emulator__/{path}", timeout=TIMEOUT, **kwargs)


def test_admin_api_drives_a_running_emulator(zoho_emulator):
    record = admin(zoho_emulator, "POST", "records", json={"module": "Deals", "name": "Via admin"}).json()[
        "id"
    ]
    text_id = admin(
        zoho_emulator,
        "POST",
        "attachments",
        json={
            "module": "Deals",
            "record_id": record,
            "file_name": "a.txt",
            "content": "hello",
            "created_time": "2024-01-01T00:00:00+00:00",
        },
    ).json()["id"]
    binary_id = admin(
        zoho_emulator,
        "POST",
        "attachments",
        json={
            "module": "Deals",
            "record_id": record,
            "file_name": "b.bin",
            "content_base64": base64.b64encode(b"\x00\xff").decode(),
        },
    ).json()["id"]
    link_id = admin(
        zoho_emulator,
        "POST",
        "links",
        json={"module": "Deals", "record_id": record, "url": "https://example.com/x"},
    ).json()["id"]

    listed = admin(
        zoho_emulator, "GET", "attachments", params={"module": "Deals", "record_id": record}
    ).json()
    assert [a["id"] for a in listed["attachments"]] == [link_id, binary_id, text_id]
    assert admin(zoho_emulator, "GET", f"attachments/{binary_id}/content").content == b"\x00\xff"
    assert admin(zoho_emulator, "GET", f"attachments/{text_id}/content").content == b"hello"

    state = admin(zoho_emulator, "GET", "state").json()
    assert state["records"][0]["record_id"] == record
    assert state["url"] == zoho_emulator.url

    credentials = admin(zoho_emulator, "GET", "credentials").json()
    assert credentials["client_id"] == zoho_emulator.client_id
    assert credentials["refresh_token"] == zoho_emulator.refresh_token
    assert credentials["env"] == zoho_emulator.airflow_env()

    assert admin(zoho_emulator, "POST", "faults", json={"kind": "status", "status": 503}).status_code == 201
    assert admin(zoho_emulator, "GET", "faults").json()["faults"][0]["status"] == 503
    token = zoho_emulator.issue_access_token()
    url = f"{zoho_emulator.url}/crm/v8/Deals/{record}/Attachments"
    headers = {"Authorization": f"Zoho-oauthtoken {token}"}
    assert requests.get(url, params={"fields": "id"}, headers=headers, timeout=TIMEOUT).status_code == 503
    admin(zoho_emulator, "POST", "faults", json={"kind": "429", "count": 3})
    assert admin(zoho_emulator, "DELETE", "faults").json() == {"faults": []}

    stats = admin(zoho_emulator, "GET", "stats").json()
    assert stats["api_calls"] == 1
    assert stats["token_calls"] == 0
    assert len(admin(zoho_emulator, "GET", "requests").json()["requests"]) == 1
    assert admin(zoho_emulator, "POST", "reset-log").json() == {"status": "success"}
    assert admin(zoho_emulator, "GET", "stats").json()["api_calls"] == 0

    assert (
        admin(zoho_emulator, "PATCH", "config", json={"latency": 0.01, "empty_list_status": 200}).json()[
            "latency"
        ]
        == 0.01
    )
    assert zoho_emulator.config.empty_list_status == 200
    assert admin(zoho_emulator, "PATCH", "config", json={"nope": 1}).status_code == 400

    assert (
        admin(zoho_emulator, "POST", "clock/advance", json={"seconds": 3601}).json()["clock_offset"] == 3601
    )
    assert requests.get(url, params={"fields": "id"}, headers=headers, timeout=TIMEOUT).status_code == 401

    limited = admin(
        zoho_emulator, "POST", "refresh-tokens", json={"scopes": ["ZohoCRM.modules.leads.READ"]}
    ).json()
    limited_access = zoho_emulator.issue_access_token(limited["refresh_token"])
    response = requests.get(
        url,
        params={"fields": "id"},
        headers={"Authorization": f"Zoho-oauthtoken {limited_access}"},
        timeout=TIMEOUT,
    )
    assert response.json()["code"] == "OAUTH_SCOPE_MISMATCH"
    admin(zoho_emulator, "POST", "refresh-tokens/revoke", json={"token": limited["refresh_token"]})
    with pytest.raises(RuntimeError):
        zoho_emulator.issue_access_token(limited["refresh_token"])

    fresh = zoho_emulator.issue_access_token()
    admin(zoho_emulator, "POST", "tokens/revoke")
    response = requests.get(
        url, params={"fields": "id"}, headers={"Authorization": f"Zoho-oauthtoken {fresh}"}, timeout=TIMEOUT
    )
    assert response.status_code == 401
    fresh = zoho_emulator.issue_access_token()
    admin(zoho_emulator, "POST", "tokens/expire")
    response = requests.get(
        url, params={"fields": "id"}, headers={"Authorization": f"Zoho-oauthtoken {fresh}"}, timeout=TIMEOUT
    )
    assert response.status_code == 401

    # Admin calls are neither logged nor counted: 4 API calls since the log was reset.
    assert zoho_emulator.api_calls() == 4
    assert all(not r.path.startswith("/__emulator__") for r in zoho_emulator.requests)


def test_admin_deleted_and_errors(zoho_emulator):
    record = zoho_emulator.add_record("Deals")
    attachment_id = zoho_emulator.add_attachment("Deals", record, "a.txt", "x")
    token = zoho_emulator.issue_access_token()
    requests.delete(
        f"{zoho_emulator.url}/crm/v8/Deals/{record}/Attachments/{attachment_id}",
        headers={"Authorization": f"Zoho-oauthtoken {token}"},
        timeout=TIMEOUT,
    )
    assert admin(zoho_emulator, "GET", "deleted").json()["deleted"][0]["id"] == attachment_id
    assert admin(zoho_emulator, "GET", "nope").status_code == 404
    assert admin(zoho_emulator, "POST", "attachments", data="not json").status_code == 400
    assert admin(zoho_emulator, "POST", "attachments", json={"module": "Deals"}).status_code == 400
    assert admin(zoho_emulator, "POST", "faults", json={"kind": "nope"}).status_code == 400
