"""A bounded HTTP/1.1 request parser for small JSON APIs (the proxy's control API).

Pure (bytes in, a request or an error out). Every byte is hostile: the head is at most
:data:`MAX_HEAD` bytes and :data:`MAX_HEADERS` lines, the body at most the caller's limit
and only with ``Content-Length`` (no chunked bodies: 501); anything else is a
:class:`BadRequest` with the status to answer. :class:`RequestReader` is fed the bytes as
they come and scans each byte of the head once, so its cost is linear in the input however
it is cut into reads.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

MAX_HEAD = 8192
"""Bytes of the request line and headers, the final blank line included."""
MAX_HEADERS = 64
"""Header lines in one request."""
MAX_BODY = 64 * 1024
"""Default limit of a body."""

_METHOD = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,16}")
_TARGET = re.compile(rb"[\x21-\x7e]{1,2048}")
_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")
_VERSIONS = (b"HTTP/1.1", b"HTTP/1.0")


class BadRequest(Exception):
    """The request cannot be served: answer ``status`` with ``reason`` (said to the peer)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class HttpRequest:
    """A parsed request; header names are lower case, values latin-1 text as received."""

    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (lower case); :class:`BadRequest` when repeated."""
        values = [value for key, value in self.headers if key == name]
        if len(values) > 1:
            raise BadRequest(400, f"duplicate {name} header")
        return values[0] if values else None

    @property
    def path(self) -> str:
        """The target without its query."""
        return self.target.split("?", 1)[0]


def parse_head(head: bytes) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """Method, target and headers of a request head (without its final CRLF CRLF)."""
    if len(head) > MAX_HEAD:
        raise BadRequest(431, "request head too large")
    lines = head.split(b"\r\n")
    request_line = lines[0].split(b" ")
    if len(request_line) != 3:
        raise BadRequest(400, "malformed request line")
    method, target, version = request_line
    if not _METHOD.fullmatch(method) or not _TARGET.fullmatch(target):
        raise BadRequest(400, "malformed request line")
    if version not in _VERSIONS:
        raise BadRequest(505 if version.startswith(b"HTTP/") else 400, "expected HTTP/1.1")
    if len(lines) - 1 > MAX_HEADERS:
        raise BadRequest(431, f"more than {MAX_HEADERS} headers")
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not _NAME.fullmatch(name):
            raise BadRequest(400, "malformed header line")
        value = value.strip(b" \t")
        if not _VALUE.fullmatch(value):
            raise BadRequest(400, "malformed header value")
        headers.append((name.decode("ascii").lower(), value.decode("latin-1")))
    return method.decode("ascii"), target.decode("ascii"), tuple(headers)


def body_length(headers: tuple[tuple[str, str], ...], limit: int) -> int:
    """The body's length from ``Content-Length`` (0 without); no chunked bodies."""
    if any(name == "transfer-encoding" for name, _ in headers):
        raise BadRequest(501, "Transfer-Encoding is not supported: send Content-Length")
    values = {value for name, value in headers if name == "content-length"}
    if not values:
        return 0
    if len(values) > 1:
        raise BadRequest(400, "conflicting Content-Length headers")
    value = values.pop()
    if not value.isdigit() or not value.isascii() or len(value) > 12:
        raise BadRequest(400, "malformed Content-Length")
    length = int(value)
    if length > limit:
        raise BadRequest(413, f"body over {limit} bytes")
    return length


class RequestReader:
    """One request read from bytes as they come: :meth:`feed` returns it once complete.

    What follows the request (pipelined requests) is ignored: the API answers one request
    per connection.
    """

    def __init__(self, max_body: int = MAX_BODY) -> None:
        self.max_body = max_body
        self.buffer = bytearray()
        self.scanned = 0  # bytes of the buffer searched for the end of the head
        self.head: tuple[str, str, tuple[tuple[str, str], ...]] | None = None
        self.length = 0

    def feed(self, data: bytes) -> HttpRequest | None:
        """Add ``data``; the request when it is complete, None while more is needed."""
        buffer = self.buffer
        if self.head is None:
            # At most a head and a body are kept: anything past them is not read.
            buffer += data[: MAX_HEAD + 4 + self.max_body - len(buffer)]
            end = buffer.find(b"\r\n\r\n", max(self.scanned - 3, 0))
            if end < 0:
                if len(buffer) > MAX_HEAD + 4:
                    raise BadRequest(431, "request head too large")
                self.scanned = len(buffer)
                return None
            self.head = parse_head(bytes(buffer[:end]))
            self.length = body_length(self.head[2], self.max_body)
            del buffer[: end + 4]
            del buffer[self.length :]
        else:
            buffer += data[: self.length - len(buffer)]
        if len(buffer) < self.length:
            return None
        method, target, headers = self.head
        return HttpRequest(method, target, headers, bytes(buffer))


def json_body(request: HttpRequest) -> Any:
    """The request's body as JSON (None when empty); :class:`BadRequest` when it is not
    JSON, too deeply nested, or not sent as ``application/json``."""
    if not request.body:
        return None
    kind = (request.header("content-type") or "").split(";", 1)[0].strip().lower()
    if kind != "application/json":
        # Also what keeps a web page from posting here: a browser sends this type only
        # after a CORS preflight, which the API never answers.
        raise BadRequest(415, "send the body as Content-Type: application/json")
    try:
        return json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadRequest(400, "the body is not valid JSON") from None
