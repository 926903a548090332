"""The emulator's streaming multipart parser: the same parts whatever the read block size."""

from __future__ import annotations

import io

import pytest

from airflow_provider_zoho_attach.testing._emulator_io import BodyReader, MalformedBody, parse_multipart

BOUNDARY = "b0undary"
BODY = (
    b"preamble\r\n--b0undary\r\n"
    b'Content-Disposition: form-data; name="file"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\n'
    b"line one\r\n--b0und almost a delimiter\r\n--b0undary\r\n"
    b'Content-Disposition: form-data; name="title"\r\n\r\n'
    b"Title\r\n--b0undary--\r\nepilogue"
)


def _parse(body: bytes, chunk_size: int) -> tuple[int, list[tuple[str | None, str | None, bytes]]]:
    reader = BodyReader(io.BufferedReader(io.BytesIO(body)), length=len(body), chunked=False)
    parts: list[tuple[str | None, str | None, bytearray]] = []

    class Collect:
        def __init__(self, info):
            parts.append((info.name, info.filename, bytearray()))

        def write(self, data):
            parts[-1][2].extend(data)

        def close(self):
            pass

    count = parse_multipart(reader, BOUNDARY, Collect, chunk_size=chunk_size)
    assert reader.exhausted
    return count, [(name, filename, bytes(data)) for name, filename, data in parts]


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7, 11, 1024])
def test_the_parts_do_not_depend_on_the_block_size(chunk_size):
    assert _parse(BODY, chunk_size) == (
        2,
        [("file", "a.txt", b"line one\r\n--b0und almost a delimiter"), ("title", None, b"Title")],
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"no boundary at all", "no multipart boundary"),
        (BODY[: BODY.index(b"Title")], "the body ended inside a part"),
        (b"--b0undary\r\nContent-Disposition: form-data", "the body ended inside part headers"),
        (b"--b0undary junk\r\n", "garbage after a boundary"),
        (b"--b0undary", "the body ended right after a boundary"),
    ],
)
def test_a_broken_body_is_refused(body, message):
    with pytest.raises(MalformedBody, match=message):
        _parse(body, 5)
