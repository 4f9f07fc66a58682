"""A strict parser of one HTTP/1.1 request head (pure: bytes in, fields out), for `serve`.

RFC 9112 §3 and §5 without the lenient parts: the request line is exactly
``method SP request-target SP HTTP-version``; every line ends with CRLF (a bare CR or LF
anywhere is an error, never a line break); a header is ``name ":" OWS value OWS`` with a
token name and a value of visible characters, spaces, tabs and obs-text (no obsolete line
folding). Its limits are websockets' own, so the server refuses exactly the heads the library
would: a request line over :data:`MAX_REQUEST_LINE` bytes (414), a header line over
:data:`MAX_HEADER_LINE` or more than :data:`MAX_HEADERS` headers (431). A request body is not
supported (``Transfer-Encoding``, a ``Content-Length`` other than 0: 400), except where the
caller takes one (Socket.IO long-polling's ``POST``): then its framing is checked by RFC 9112
§6 strictly, exactly one ``Content-Length`` of at most :data:`MAX_BODY_DIGITS` digits (400
otherwise), no ``Transfer-Encoding`` (411: only a declared length is read).

Any input gives a :class:`RequestHead` or raises :class:`HeadError` (status and reason),
nothing else; the output is bounded by those limits and the time is linear in the input
(one regular-expression match over the header lines, one split).

Why not websockets' parser: it reads line by line through generators (about a third of a
handshake's time here, measured with py-spy). The checks that decide who gets in stay where
they are (wscli.serve.admission), on the same ``Request`` the library would have made.
"""

from __future__ import annotations

import dataclasses
import re

MAX_REQUEST_LINE = 8192
"""Bytes of request line (without CRLF): longer is 414."""
MAX_HEADER_LINE = 8192
"""Bytes of one header line (without CRLF): longer is 431."""
MAX_HEADERS = 128
"""Headers in one head: more is 431."""
MAX_BODY_DIGITS = 15
"""A Content-Length of more digits is refused outright (no body that large is taken)."""

# RFC 9110 §5.6.2 token, §5.5 field value (with obs-text), RFC 9112 §3.2 request-target as
# visible ASCII: what websockets accepts, minus the control characters it lets through.
_METHOD = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TARGET = re.compile(rb"[\x21-\x7e]+")
_NAME = _METHOD
_VALUE = re.compile(rb"[\x09\x20-\x7e\x80-\xff]*")
_HEADER_BLOCK = re.compile(rb"(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\x09\x20-\x7e\x80-\xff]*\r\n)*")
_VERSIONS = {b"HTTP/1.1": "HTTP/1.1", b"HTTP/1.0": "HTTP/1.0"}


class HeadError(ValueError):
    """The head is not one the server can take: answer ``status`` (400, 414 or 431)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclasses.dataclass(frozen=True, slots=True)
class RequestHead:
    """A parsed head: ``headers`` as (name, value) pairs in their order (values decoded as
    ISO-8859-1, opaque bytes kept one-to-one, as websockets does)."""

    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    content_length: int = 0
    """The body's length (only when the caller takes a body; else always 0)."""


def parse_request_head(head: bytes, body: bool = False) -> RequestHead:
    """Parse ``head``: the request line and headers, ending with the empty line
    (``\\r\\n\\r\\n``); ``body``: the request may announce a body by its
    ``Content-Length`` (see the module doc). Raises :class:`HeadError`."""
    if not head.endswith(b"\r\n\r\n"):
        raise HeadError(400, "request head does not end with an empty line")
    line_end = head.find(b"\r\n")
    request_line = head[:line_end]
    if len(request_line) > MAX_REQUEST_LINE:
        raise HeadError(414, f"request line over {MAX_REQUEST_LINE} bytes")
    parts = request_line.split(b" ")
    if len(parts) != 3:
        raise HeadError(400, f"invalid request line: {_shown(request_line)}")
    raw_method, raw_target, raw_version = parts
    version = _VERSIONS.get(raw_version)
    if version is None:
        # The whole line, as websockets' parser quotes it: what the client asked for is
        # what an operator looks for in the log (redacted there, like any request line).
        raise HeadError(400, f"unsupported protocol in request line: {_shown(request_line)}")
    if not _METHOD.fullmatch(raw_method):
        raise HeadError(400, f"invalid method: {_shown(raw_method)}")
    if not _TARGET.fullmatch(raw_target):
        raise HeadError(400, f"invalid request target: {_shown(raw_target)}")
    block = head[line_end + 2 : -2]  # each header line with its CRLF
    # One match checks every header line at once (in C); the loop below only splits.
    if not _HEADER_BLOCK.fullmatch(block):
        _diagnose(block)
    lines = block.decode("iso-8859-1").split("\r\n")
    lines.pop()  # after the last CRLF
    if len(lines) > MAX_HEADERS:
        raise HeadError(431, f"more than {MAX_HEADERS} headers")
    if lines and max(map(len, lines)) > MAX_HEADER_LINE:
        raise HeadError(431, f"header line over {MAX_HEADER_LINE} bytes")
    headers: list[tuple[str, str]] = []
    lengths: list[str] = []
    for line in lines:
        name, _, value = line.partition(":")
        value = value.strip(" \t")
        headers.append((name, value))
        lower = name.lower()
        if lower == "content-length":
            lengths.append(value)
        elif lower == "transfer-encoding":
            if body:
                raise HeadError(411, "Transfer-Encoding is not supported: send Content-Length")
            raise HeadError(400, "a request body is not supported")
    length = _content_length(lengths) if body else 0
    if not body and any(value != "0" for value in lengths):
        raise HeadError(400, "a request body is not supported")
    method, target = raw_method.decode("ascii"), raw_target.decode("ascii")
    return RequestHead(method, target, version, headers, length)


def _content_length(values: list[str]) -> int:
    """The one Content-Length of a request that may have a body (none: no body, RFC 9112
    §6.3); raise :class:`HeadError` for several, or one that is not plain digits."""
    if not values:
        return 0
    if len(values) > 1:
        raise HeadError(400, "more than one Content-Length")
    value = values[0]
    if not value or not value.isdigit() or not value.isascii() or len(value) > MAX_BODY_DIGITS:
        raise HeadError(400, "invalid Content-Length")
    return int(value)


def _diagnose(block: bytes) -> None:
    """Raise the :class:`HeadError` that says what is wrong with the header lines."""
    lines = block.split(b"\r\n")
    lines.pop()
    if len(lines) > MAX_HEADERS:
        raise HeadError(431, f"more than {MAX_HEADERS} headers")
    for line in lines:
        if len(line) > MAX_HEADER_LINE:
            raise HeadError(431, f"header line over {MAX_HEADER_LINE} bytes")
        raw_name, colon, raw_value = line.partition(b":")
        if not colon:
            raise HeadError(400, "invalid header line: no colon")
        if not _NAME.fullmatch(raw_name):
            raise HeadError(400, f"invalid header name: {_shown(raw_name)}")
        if not _VALUE.fullmatch(raw_value):
            raise HeadError(400, f"invalid value of header {_shown(raw_name)}")
    raise HeadError(400, "invalid header line")


def _shown(raw: bytes) -> str:
    """At most 60 characters of peer bytes for a reason (escaped where printed)."""
    text = raw[:60].decode("ascii", "backslashreplace")
    return repr(text + ("..." if len(raw) > 60 else ""))
