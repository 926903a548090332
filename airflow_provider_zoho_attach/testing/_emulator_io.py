"""Streaming request-body readers and a streaming ``multipart/form-data`` parser for the emulator.

Nothing here holds a whole body in memory: bodies are read from the socket in large blocks
(:data:`CHUNK_SIZE`) and parts are handed to sinks block by block, so a 512 MiB upload costs a
couple of MiB of buffer whatever its size.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol
from urllib.parse import unquote

__all__ = [
    "CHUNK_SIZE",
    "BodyReader",
    "ClientDisconnected",
    "DiscardSink",
    "FileSink",
    "MalformedBody",
    "MemorySink",
    "PartInfo",
    "RawReader",
    "Sink",
    "TooLarge",
    "content_disposition_filename",
    "parse_header_value",
    "parse_multipart",
]

#: Block size of socket reads and file writes. Large blocks keep Python overhead per byte low.
CHUNK_SIZE = 1024 * 1024

_MAX_PART_HEADER_BYTES = 16 * 1024
_MAX_CHUNK_LINE = 4096


class MalformedBody(Exception):
    """The request body does not follow its declared framing (chunked or multipart)."""


class ClientDisconnected(Exception):
    """The client closed the connection before sending the whole body."""


class TooLarge(Exception):
    """A part exceeded the size its sink accepts."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} bytes")
        self.limit = limit


class RawReader(Protocol):
    """The buffered socket reader a body comes from."""

    def read(self, size: int, /) -> bytes:
        """Up to ``size`` bytes (fewer only at the end of the stream)."""
        ...

    def readline(self, size: int, /) -> bytes:
        """One line of at most ``size`` bytes."""
        ...


class BodyReader:
    """
    Reads one request body from a connection: by ``Content-Length``, by chunked transfer coding, or none.

    :param rfile: the connection's buffered reader.
    :param length: the ``Content-Length`` (``None`` when absent).
    :param chunked: ``True`` for ``Transfer-Encoding: chunked``.
    :param before_first_read: called once before the first byte is read (sends ``100 Continue``).
    """

    def __init__(
        self,
        rfile: RawReader,
        *,
        length: int | None,
        chunked: bool,
        before_first_read: Callable[[], None] | None = None,
    ) -> None:
        self._rfile = rfile
        self._chunked = chunked
        self._remaining = 0 if chunked else (length or 0)
        self._chunk_left = 0
        self._done = not chunked and not length
        self._before_first_read = before_first_read
        self.length = None if chunked else (length or 0)
        self.bytes_read = 0
        self.started = False

    @property
    def exhausted(self) -> bool:
        """Whether the whole body has been read."""
        return self._done

    def _start(self) -> None:
        if not self.started:
            self.started = True
            if self._before_first_read is not None:
                self._before_first_read()

    def read(self, size: int = CHUNK_SIZE) -> bytes:
        """
        Return up to ``size`` bytes of the body; ``b""`` once it is over.

        :raises ClientDisconnected: the connection ended early.
        :raises MalformedBody: the chunked framing is broken.
        """
        if self._done:
            return b""
        self._start()
        if self._chunked:
            return self._read_chunked(size)
        data = self._rfile.read(min(size, self._remaining))
        if not data:
            raise ClientDisconnected("the client closed the connection in the middle of the body")
        self._remaining -= len(data)
        self.bytes_read += len(data)
        if self._remaining == 0:
            self._done = True
        return data

    def _read_chunked(self, size: int) -> bytes:
        if self._chunk_left == 0:
            line = self._rfile.readline(_MAX_CHUNK_LINE)
            if not line:
                raise ClientDisconnected("the client closed the connection in the middle of the body")
            try:
                self._chunk_left = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise MalformedBody("bad chunk size line") from None
            if self._chunk_left < 0:
                raise MalformedBody("bad chunk size line")
            if self._chunk_left == 0:
                # Trailer fields end with an empty line; their content is of no interest here.
                while True:
                    trailer = self._rfile.readline(_MAX_CHUNK_LINE)
                    if not trailer:
                        raise ClientDisconnected("the connection ended inside the chunked trailer")
                    if trailer in (b"\r\n", b"\n"):
                        break
                self._done = True
                return b""
        data = self._rfile.read(min(size, self._chunk_left))
        if not data:
            raise ClientDisconnected("the client closed the connection in the middle of a chunk")
        self._chunk_left -= len(data)
        self.bytes_read += len(data)
        if self._chunk_left == 0:
            crlf = self._rfile.readline(_MAX_CHUNK_LINE)
            if crlf not in (b"\r\n", b"\n"):
                raise MalformedBody("chunk data not followed by CRLF")
        return data

    def drain(self, limit: int | None = None) -> bool:
        """
        Read and discard the rest of the body.

        :param limit: give up (returning ``False``) once this many more bytes were read.
        :return: ``True`` when the body was consumed completely.
        """
        consumed = 0
        try:
            while not self._done:
                if limit is not None and consumed >= limit:
                    return False
                consumed += len(self.read(CHUNK_SIZE))
        except (ClientDisconnected, MalformedBody, OSError):
            return False
        return True

    def read_all(self, limit: int) -> bytes:
        """
        Return the whole (small) body.

        :raises TooLarge: the body is longer than ``limit``.
        """
        parts: list[bytes] = []
        total = 0
        while True:
            block = self.read(CHUNK_SIZE)
            if not block:
                return b"".join(parts)
            total += len(block)
            if total > limit:
                raise TooLarge(limit)
            parts.append(block)


class Sink(Protocol):
    """Receives the content of one multipart part."""

    def write(self, data: memoryview) -> None:
        """Take the next block (the view is only valid during the call)."""

    def close(self) -> None:
        """The part is complete."""


@dataclass
class FileSink:
    """
    Writes a part to a file, refusing to go past ``limit`` bytes.

    :param path: where to write (created, truncated).
    :param limit: the most bytes accepted (``None`` = no limit).
    """

    path: str
    limit: int | None = None
    size: int = 0
    head: bytes = b""
    _file: BinaryIO | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # Unbuffered: blocks are already large, a second buffer would only add a copy.
        self._file = open(self.path, "wb", buffering=0)  # noqa: SIM115 - closed in close()/abort()

    def write(self, data: memoryview) -> None:
        """Append a block, keeping the first bytes for content sniffing."""
        self.size += len(data)
        if self.limit is not None and self.size > self.limit:
            raise TooLarge(self.limit)
        if len(self.head) < 16:
            self.head += bytes(data[: 16 - len(self.head)])
        assert self._file is not None
        view = data
        while view:
            written = self._file.write(view)
            view = view[written or 0 :]

    def close(self) -> None:
        """Close the file (kept on disk)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def abort(self) -> None:
        """Close and delete the file."""
        self.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


@dataclass
class MemorySink:
    """Keeps a small part (a form field) in memory, refusing to go past ``limit`` bytes."""

    limit: int
    data: bytearray = field(default_factory=bytearray)

    def write(self, data: memoryview) -> None:
        """Append a block."""
        if len(self.data) + len(data) > self.limit:
            raise TooLarge(self.limit)
        self.data += data

    def close(self) -> None:
        """Nothing to release."""

    def text(self) -> str:
        """The content decoded as UTF-8 (invalid bytes replaced)."""
        return self.data.decode("utf-8", "replace")


class DiscardSink:
    """Throws a part away (parts the endpoint does not know)."""

    size = 0

    def write(self, data: memoryview) -> None:
        """Count and forget."""
        self.size += len(data)

    def close(self) -> None:
        """Nothing to release."""


@dataclass(frozen=True)
class PartInfo:
    """
    The headers of one multipart part.

    :param name: the form field name (``name`` of ``Content-Disposition``).
    :param filename: the file name (``filename*`` preferred over ``filename``), or ``None``.
    :param content_type: the part's ``Content-Type`` without parameters, or ``None``.
    """

    name: str | None
    filename: str | None
    content_type: str | None


_TOKEN_PARAM = re.compile(
    r"""\s*;?\s*(?P<key>[^\s=;"]+)\s*(?:=\s*(?P<value>"(?:[^"\\]|\\.)*"|[^;]*))?""",
)
_QUOTED_PAIR = re.compile(r'\\(["\\])')


def parse_header_value(value: str) -> tuple[str, dict[str, str]]:
    """
    Split a header such as ``form-data; name="file"; filename="a.pdf"`` into value and parameters.

    Parameter names are lower-cased; quoted values are unquoted (only ``\\"`` and ``\\\\`` are
    escapes, as browsers and ``urllib3`` do not escape other backslashes).
    """
    main, _, rest = value.partition(";")
    params: dict[str, str] = {}
    pos = 0
    rest = ";" + rest if rest else ""
    while pos < len(rest):
        match = _TOKEN_PARAM.match(rest, pos)
        if not match or match.end() == pos:
            break
        pos = match.end()
        key = match.group("key").lower()
        raw = match.group("value")
        if raw is None:
            continue
        raw = raw.strip()
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            raw = _QUOTED_PAIR.sub(r"\1", raw[1:-1])
        params[key] = raw
    return main.strip().lower(), params


def _decode_ext_value(value: str) -> str | None:
    """Decode an RFC 5987 ``ext-value`` (``UTF-8''na%C3%AFve.txt``)."""
    charset, sep, rest = value.partition("'")
    if not sep:
        return None
    _lang, sep, encoded = rest.partition("'")
    if not sep:
        return None
    try:
        return unquote(encoded, encoding=charset or "utf-8", errors="strict")
    except (LookupError, UnicodeDecodeError):
        return None


def content_disposition_filename(params: dict[str, str]) -> str | None:
    """The file name of parsed ``Content-Disposition`` parameters (``filename*`` wins)."""
    extended = params.get("filename*")
    if extended is not None:
        decoded = _decode_ext_value(extended)
        if decoded:
            return decoded
    return params.get("filename")


def _parse_part_headers(block: bytes) -> PartInfo:
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError:
        text = block.decode("latin-1")
    headers: dict[str, str] = {}
    for line in text.split("\r\n"):
        if not line.strip():
            continue
        header, sep, value = line.partition(":")
        if not sep:
            raise MalformedBody("a part header line has no colon")
        headers[header.strip().lower()] = value.strip()
    disposition = headers.get("content-disposition")
    name: str | None = None
    filename: str | None = None
    if disposition is not None:
        _kind, params = parse_header_value(disposition)
        name = params.get("name")
        filename = content_disposition_filename(params)
    content_type = headers.get("content-type")
    if content_type is not None:
        content_type = parse_header_value(content_type)[0] or None
    return PartInfo(name=name, filename=filename, content_type=content_type)


def _write_view(sink: Sink, buf: bytearray, end: int) -> None:
    if end <= 0:
        return
    view = memoryview(buf)
    try:
        sink.write(view[:end])
    finally:
        view.release()


def parse_multipart(
    reader: BodyReader,
    boundary: str,
    open_sink: Callable[[PartInfo], Sink],
    *,
    chunk_size: int = CHUNK_SIZE,
) -> int:
    """
    Stream a ``multipart/form-data`` body part by part into sinks.

    The body is scanned block by block for the delimiter; everything before it goes to the current
    part's sink, except a tail shorter than the delimiter that could be its beginning. Memory use
    is about two blocks whatever the size of the body.

    :param reader: the request body.
    :param boundary: the ``boundary`` parameter of the request's ``Content-Type``.
    :param open_sink: called with each part's headers; returns where its content goes.
    :param chunk_size: the read block size.
    :return: the number of parts.
    :raises MalformedBody: the body is not valid multipart.
    :raises TooLarge: a sink refused more data (the rest of the body is left unread).
    """
    if not boundary or len(boundary) > 200:
        raise MalformedBody("missing or oversized multipart boundary")
    scanner = _MultipartScanner(reader, b"\r\n--" + boundary.encode("latin-1"), chunk_size)
    scanner.skip_preamble()
    parts = 0
    while not scanner.at_close_delimiter():
        sink = open_sink(_parse_part_headers(scanner.part_headers()))
        parts += 1
        scanner.copy_part(sink)
        sink.close()
    # Close delimiter: the epilogue is ignored.
    reader.drain()
    return parts


class _MultipartScanner:
    """
    A multipart body read block by block: what was read and not yet consumed, and where it stands.

    :param reader: the request body.
    :param delimiter: ``CRLF--boundary``.
    :param chunk_size: the read block size.
    """

    def __init__(self, reader: BodyReader, delimiter: bytes, chunk_size: int) -> None:
        self.reader = reader
        self.delimiter = delimiter
        self.chunk_size = chunk_size
        # A tail shorter than the delimiter may be its beginning: it waits for the next block.
        self.keep = len(delimiter) - 1
        # A leading CRLF lets the first boundary (which has none before it) match the delimiter too.
        self.buf = bytearray(b"\r\n")

    def fill(self) -> bool:
        """Read the next block into the buffer; ``False`` at the end of the body."""
        block = self.reader.read(self.chunk_size)
        if not block:
            return False
        self.buf.extend(block)
        return True

    def skip_preamble(self) -> None:
        """Discard everything up to and including the first delimiter."""
        buf = self.buf
        while True:
            index = buf.find(self.delimiter)
            if index >= 0:
                del buf[: index + len(self.delimiter)]
                return
            if len(buf) > self.keep:
                del buf[: len(buf) - self.keep]
            if not self.fill():
                raise MalformedBody("no multipart boundary found in the body")

    def at_close_delimiter(self) -> bool:
        """Right after a delimiter: ``True`` if it closes the body (``--``), else skip its line's end."""
        buf = self.buf
        while len(buf) < 2:
            if not self.fill():
                raise MalformedBody("the body ended right after a boundary")
        if buf[:2] == b"--":
            return True
        while (eol := buf.find(b"\r\n")) < 0:
            if len(buf) > 1024 or not self.fill():
                raise MalformedBody("a boundary line is not terminated")
        if buf[:eol].strip(b" \t"):
            raise MalformedBody("garbage after a boundary")
        del buf[: eol + 2]
        return False

    def part_headers(self) -> bytes:
        """The header block of the part that starts here (``b""`` for none), consumed."""
        buf = self.buf
        if buf[:2] == b"\r\n":
            del buf[:2]
            return b""
        while (end := buf.find(b"\r\n\r\n")) < 0:
            if len(buf) > _MAX_PART_HEADER_BYTES:
                raise MalformedBody("part headers too long")
            if not self.fill():
                raise MalformedBody("the body ended inside part headers")
        header_block = bytes(buf[:end])
        del buf[: end + 4]
        return header_block

    def copy_part(self, sink: Sink) -> None:
        """Write the content of the part that starts here to ``sink``; consume it and its delimiter."""
        buf = self.buf
        while True:
            index = buf.find(self.delimiter)
            if index >= 0:
                _write_view(sink, buf, index)
                del buf[: index + len(self.delimiter)]
                return
            safe = len(buf) - self.keep
            if safe > 0:
                _write_view(sink, buf, safe)
                del buf[:safe]
            if not self.fill():
                raise MalformedBody("the body ended inside a part")
