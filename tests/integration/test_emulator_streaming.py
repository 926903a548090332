"""The emulator under load: streamed big bodies with flat memory, concurrency, large listings, keep-alive."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import tracemalloc

import pytest
import requests

from airflow_provider_zoho_attach.testing import ZohoCRMEmulator

pytestmark = pytest.mark.integration

TIMEOUT = 60
MIB = 1024 * 1024
BOUNDARY = "streaming-boundary-7MA4YWxkTrZu0gW"


class MultipartStream:
    """A multipart body generated block by block, with a known length (so it is sent with Content-Length)."""

    def __init__(self, size, seed=b"x"):
        self._head = (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        self._tail = f"\r\n--{BOUNDARY}--\r\n".encode()
        self._size = size
        self._sent = 0
        self._block = hashlib.sha256(seed).digest() * (MIB // 32)
        self.sha256 = hashlib.sha256()

    def __len__(self):
        return len(self._head) + self._size + len(self._tail)

    def read(self, _size=-1):
        if self._head:
            head, self._head = self._head, b""
            return head
        if self._sent < self._size:
            block = self._block[: min(MIB, self._size - self._sent)]
            # Vary the blocks so that a misplaced block would change the digest.
            block = self._sent.to_bytes(8, "big") + block[8:]
            self._sent += len(block)
            self.sha256.update(block)
            return block
        tail, self._tail = self._tail, b""
        return tail

    def chunks(self):
        while block := self.read():
            yield block


@pytest.fixture
def big(zoho_emulator):
    zoho_emulator.config.max_upload_size = 1024 * MIB
    record_id = zoho_emulator.add_record("Deals")
    session = requests.Session()
    session.headers["Authorization"] = f"Zoho-oauthtoken {zoho_emulator.issue_access_token()}"
    yield zoho_emulator, record_id, session, f"{zoho_emulator.url}/crm/v8/Deals/{record_id}/Attachments"
    session.close()


def download_digest(session, url):
    digest = hashlib.sha256()
    size = 0
    with session.get(url, stream=True, timeout=TIMEOUT) as response:
        assert response.status_code == 200
        for block in response.iter_content(MIB):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_big_upload_and_download_stream_with_flat_memory(big, framing):
    emulator, record_id, session, url = big
    size = 64 * MIB
    body = MultipartStream(size)
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}

    tracemalloc.start()
    try:
        data = body if framing == "content-length" else body.chunks()
        response = session.post(url, data=data, headers=headers, timeout=TIMEOUT)
        assert response.status_code == 200, response.text
        attachment_id = response.json()["data"][0]["details"]["id"]
        digest, downloaded = download_digest(session, f"{url}/{attachment_id}")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert downloaded == size
    assert digest == body.sha256.hexdigest()
    (row,) = emulator.attachments("Deals", record_id)
    assert row["Size"] == str(size)
    # Server and client together: a few 1 MiB blocks, never the body.
    assert peak < 32 * MIB, f"peak traced memory {peak / MIB:.1f} MiB"


def test_expect_100_continue(big):
    emulator, record_id, session, url = big
    path = url.split(emulator.url)[1]
    token = session.headers["Authorization"]
    payload = (
        '--B\r\nContent-Disposition: form-data; name="file"; filename="e.txt"\r\n\r\nexpected\r\n--B--\r\n'
    )

    with socket.create_connection((emulator.host, emulator.port), timeout=10) as sock:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: x\r\n{'Authorization'}: {token}\r\n"
            f"Content-Type: multipart/form-data; boundary=B\r\nContent-Length: {len(payload)}\r\n"
            "Expect: 100-continue\r\n\r\n"
        )
        sock.sendall(head.encode())
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(payload.encode())
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK")
    assert emulator.attachment_content(emulator.attachments("Deals", record_id)[0]["id"]) == b"expected"

    # Refused before the body: no 100 Continue, an immediate answer, the connection closed.
    with socket.create_connection((emulator.host, emulator.port), timeout=10) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Zoho-oauthtoken nope\r\n"
            f"Content-Type: multipart/form-data; boundary=B\r\nContent-Length: {10**9}\r\n"
            "Expect: 100-continue\r\n\r\n".encode()
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 401 Unauthorized")
    assert b"Connection: close" in answer
    assert b"INVALID_TOKEN" in answer


def test_body_too_big_to_drain_is_answered_then_closed(big):
    emulator, _record_id, session, url = big
    emulator.config.max_upload_size = 1000
    emulator.config.drain_limit = 10_000
    path = url.split(emulator.url)[1]
    with socket.create_connection((emulator.host, emulator.port), timeout=10) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {session.headers['Authorization']}\r\n"
            f"Content-Type: multipart/form-data; boundary=B\r\nContent-Length: {10**9}\r\n\r\n".encode()
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"Connection: close" in answer
    assert b"FILE_SIZE_MORE_THAN_ALLOWED_SIZE" in answer


def test_keep_alive_serves_many_requests_on_one_connection(big):
    emulator, record_id, session, url = big
    attachment_id = emulator.add_attachment("Deals", record_id, "k.txt", "keep-alive")
    path = url.split(emulator.url)[1]
    token = session.headers["Authorization"]
    with socket.create_connection((emulator.host, emulator.port), timeout=10) as sock:
        reader = sock.makefile("rb")
        for _ in range(3):
            sock.sendall(
                f"GET {path}/{attachment_id} HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\n\r\n".encode()
            )
            status = reader.readline()
            assert status == b"HTTP/1.1 200 OK\r\n"
            length = 0
            while (line := reader.readline()) != b"\r\n":
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            assert reader.read(length) == b"keep-alive"
        reader.close()


def test_twenty_concurrent_downloads(big):
    emulator, record_id, session, url = big
    contents = [os.urandom(2 * MIB) for _ in range(4)]
    ids = [emulator.add_attachment("Deals", record_id, f"c{i}.bin", c) for i, c in enumerate(contents)]
    results: dict[int, bytes] = {}
    errors: list[BaseException] = []

    def worker(n):
        try:
            with requests.Session() as own:
                own.headers.update(session.headers)
                response = own.get(f"{url}/{ids[n % 4]}", timeout=TIMEOUT)
                assert response.status_code == 200
                results[n] = response.content
        except BaseException as exc:  # reported below
            errors.append(exc)

    emulator.pause()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    try:
        # All twenty are being served at the same time ...
        assert emulator.wait_in_flight(20, timeout=TIMEOUT)
    finally:
        emulator.resume()
    for thread in threads:
        thread.join()

    # ... and each got its own bytes.
    assert errors == []
    assert all(results[n] == contents[n % 4] for n in range(20))
    assert emulator.peak_in_flight == 20


def test_five_thousand_attachments_by_page_then_page_token(zoho_emulator):
    record_id = zoho_emulator.add_record("Deals")
    ids = zoho_emulator.add_attachments_bulk("Deals", record_id, 5000, size=10)
    newest_first = list(reversed(ids))
    session = requests.Session()
    session.headers["Authorization"] = f"Zoho-oauthtoken {zoho_emulator.issue_access_token()}"
    url = f"{zoho_emulator.url}/crm/v8/Deals/{record_id}/Attachments"

    seen: list[str] = []
    params = {"fields": "id,File_Name,Size", "per_page": "200", "page": "1"}
    used_tokens = 0
    while True:
        response = session.get(url, params=params, timeout=TIMEOUT)
        assert response.status_code == 200
        body = response.json()
        seen.extend(row["id"] for row in body["data"])
        info = body["info"]
        if not info["more_records"]:
            break
        if "page" in params and (int(params["page"]) + 1) * 200 <= 2000:
            params["page"] = str(int(params["page"]) + 1)
        else:
            params.pop("page", None)
            params["page_token"] = info["next_page_token"]
            used_tokens += 1

    assert seen == newest_first
    assert used_tokens == 15
    assert zoho_emulator.api_calls() == 25
    # Each page is O(page) work on the server: far below a second even on a slow machine.
    assert max(r.duration for r in zoho_emulator.requests) < 0.5
    rows = zoho_emulator.attachments("Deals", record_id)
    assert rows[0]["File_Name"] == "file-4999.txt"
    assert zoho_emulator.attachment_content(ids[7]) == b"file-7.txt"[:10]


def test_stop_removes_contents_and_closes_connections():
    emulator = ZohoCRMEmulator()
    with emulator:
        record_id = emulator.add_record("Leads")
        emulator.add_attachment("Leads", record_id, "a.txt", "x")
        blob_dir = emulator.blob_dir
        assert os.listdir(blob_dir)
        idle = socket.create_connection((emulator.host, emulator.port), timeout=10)
        # One answered request makes sure a handler thread is waiting on this connection.
        idle.sendall(b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n")
        assert idle.recv(65536).startswith(b"HTTP/1.1 404")
        url = emulator.url
    assert not os.path.exists(blob_dir)
    assert not emulator.running
    assert idle.recv(10) == b""  # the idle kept-alive connection was closed
    idle.close()
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=5)
    with pytest.raises(RuntimeError):
        emulator.start()
    with pytest.raises(RuntimeError):
        _ = emulator.url
    emulator.stop()  # twice is fine


def test_stop_does_not_wait_for_the_serving_loop_to_poll():
    from airflow_provider_zoho_attach.testing._emulator_server import EmulatorHTTPServer

    emulator = ZohoCRMEmulator()
    server = EmulatorHTTPServer(
        ("127.0.0.1", 0),
        engine=emulator._engine,
        store=emulator._store,
        files=emulator._files,
        admin=emulator._admin,
    )
    # A loop that would only look at its stop flag once an hour: shutdown() must wake it.
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 3600}, daemon=True)
    serving.start()
    stopper = threading.Thread(target=server.shutdown, daemon=True)
    stopper.start()
    stopper.join(timeout=10)
    serving.join(timeout=10)
    server.server_close()
    emulator.stop()
    assert not stopper.is_alive()
    assert not serving.is_alive()


def test_storage_dir(tmp_path):
    with ZohoCRMEmulator(storage_dir=tmp_path) as emulator:
        emulator.add_attachment("Leads", emulator.add_record("Leads"), "a.txt", "x")
        assert os.path.dirname(emulator.blob_dir) == str(tmp_path)
    assert os.listdir(tmp_path) == []


def test_only_loopback_hosts():
    with pytest.raises(ValueError, match="loopback"):
        ZohoCRMEmulator(host="0.0.0.0")  # noqa: S104 - checking that it is refused
