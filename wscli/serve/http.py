"""Plain HTTP on the port of `wscli serve`: the chat page, ``/healthz``, ``/admission``, 404, 405,
and the answers to malformed heads (400, 414, 431).

The server hands every request that is not a WebSocket upgrade (and passed the Host check)
to :func:`answer`, which builds the response for it. ``GET`` and ``HEAD`` are
served (``HEAD`` with the same headers and no body, as RFC 9110 §9.3.2 asks); any other
method gets ``405`` with ``Allow: GET, HEAD``. ``/admission`` is the chat page's pre-flight
(would its upgrade be admitted, and if not why: a browser only sees 1006 for a refusal).
Every answer closes the connection
(:meth:`wscli.serve.connection.ClientConnection.answer`).
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import json
from collections.abc import Callable
from typing import Any

from websockets.datastructures import Headers
from websockets.exceptions import HeaderLineTooLong, RequestLineTooLong, TooManyHeaders
from websockets.http11 import Response
from websockets.server import ServerProtocol

PAGE_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)

ALLOWED_METHODS = "GET, HEAD"
ADMISSION_PATH = "/admission"


def load_page() -> bytes:
    """The chat page shipped as package data (``wscli/serve/static/chat.html``)."""
    return (importlib.resources.files("wscli.serve") / "static" / "chat.html").read_bytes()


def answer(
    method: str,
    room: str,
    page: bytes | None,
    health: Callable[[], dict[str, Any]],
    admission: Callable[[], dict[str, Any]] | None = None,
    files: Callable[[str], Response | None] | None = None,
) -> Response:
    """The response to a plain HTTP request ``method`` for ``room`` (path without query).

    ``files`` (``--static DIR``) is asked after ``/healthz`` and ``/admission`` and before
    the chat page: a directory's ``index.html`` replaces the page at ``/``.
    """
    found = None
    if method not in {"GET", "HEAD"}:
        response = text_response(405, f"Method not allowed: {room} answers GET and HEAD.")
        response.headers["Allow"] = ALLOWED_METHODS
    elif room == "/healthz":
        response = _with_body(json.dumps(health()).encode(), "application/json")
        response.headers["Cache-Control"] = "no-store"
    elif room == ADMISSION_PATH and admission is not None:
        response = _with_body(json.dumps(admission()).encode(), "application/json")
        response.headers["Cache-Control"] = "no-store"
    elif files is not None and (found := files(room)) is not None:
        response = found
    elif room == "/" and page is not None:
        response = _with_body(page, "text/html; charset=utf-8")
        response.headers["Content-Security-Policy"] = PAGE_CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-cache"
    else:
        response = text_response(
            404, f"Not found. {room} is a chat room for WebSocket clients only."
        )
    if method == "HEAD":
        # Same headers (Content-Length included) as GET, no body.
        response = dataclasses.replace(response, body=b"")
    return response


def document(method: str, body: bytes, content_type: str) -> Response:
    """A 200 answer carrying ``body``, never cached (``HEAD``: the same headers, no body)."""
    response = _with_body(body, content_type)
    response.headers["Cache-Control"] = "no-store"
    if method == "HEAD":
        response = dataclasses.replace(response, body=b"")
    return response


def text_response(status: int, text: str) -> Response:
    """A plain-text answer that closes the connection (built by websockets' public
    ``ServerProtocol.reject``: Date, Connection: close, Content-Length, Content-Type)."""
    return ServerProtocol().reject(status, text + "\n")


MAX_REQUEST_LINE = 8192
"""Bytes of request line (method, target, version) answered; a longer one gets 414."""


def request_line_too_long(head: bytes) -> bool:
    """True when the request line that ``head`` begins with is longer than
    :data:`MAX_REQUEST_LINE` (seen as soon as that many bytes came without its end)."""
    limit = MAX_REQUEST_LINE + 2  # with its CRLF
    return len(head) >= limit and head.find(b"\r\n", 0, limit) < 0


def uri_too_long() -> Response:
    """414: the request line is longer than :data:`MAX_REQUEST_LINE`."""
    return text_response(414, "Request line too long.")


def bad_request(exc: BaseException | None) -> Response:
    """The answer to a request head websockets' parser refused (``exc``, as its
    ``handshake_exc`` says): 414 for a request line over the limit, 431 for a header line
    or too many headers, else 400."""
    causes = []
    while exc is not None:
        causes.append(exc)
        exc = exc.__cause__
    if any(isinstance(cause, RequestLineTooLong) for cause in causes):
        return uri_too_long()
    if any(isinstance(cause, (HeaderLineTooLong, TooManyHeaders)) for cause in causes):
        return text_response(431, "Request header fields too large.")
    return text_response(400, "Malformed request.")


def method_not_allowed() -> Response:
    """405 for a method the server does not serve (any path: every path is GET/HEAD only)."""
    response = text_response(405, "Method not allowed: this server answers GET and HEAD.")
    response.headers["Allow"] = ALLOWED_METHODS
    return response


MAX_BODY_DIGITS = 15
"""A Content-Length of more digits is refused outright (no body that large is taken)."""


class BodyFramingError(ValueError):
    """A request body the server will not read: ``status`` is the answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def split_body_framing(head: bytes) -> tuple[bytes, int]:
    """A request head without its ``Content-Length`` line, and that length.

    websockets' request parser takes no body; a ``POST`` (Socket.IO long-polling) has one.
    Its framing is checked here, by the rules of RFC 9112 §6, strictly: exactly one
    ``Content-Length`` of digits (400 for several or a bad value), no
    ``Transfer-Encoding`` (411: only a declared length is read). Header names are matched
    exactly as the parser will see them, so the rest of the head is parsed unchanged.
    Without either header the body is empty.
    """
    if head.count(b"\n") != head.count(b"\r\n"):
        # A bare LF would hide a line from one of the two parsers: refused, as websockets does.
        raise BodyFramingError(400, "Invalid line ending in the request head.")
    lines = head.split(b"\r\n")
    kept: list[bytes] = [lines[0]]
    lengths: list[bytes] = []
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        lowered = name.lower()
        if colon and lowered == b"content-length":
            lengths.append(value.strip(b" \t"))
            continue
        if colon and lowered == b"transfer-encoding":
            raise BodyFramingError(411, "Transfer-Encoding is not supported: send Content-Length.")
        kept.append(line)
    if not lengths:
        return b"\r\n".join(kept), 0  # no framing: no body (RFC 9112 §6.3)
    if len(lengths) > 1:
        raise BodyFramingError(400, "More than one Content-Length.")
    value = lengths[0]
    if not value or not value.isdigit() or not value.isascii() or len(value) > MAX_BODY_DIGITS:
        raise BodyFramingError(400, "Invalid Content-Length.")
    return b"\r\n".join(kept), int(value)


def body_response(status: int, body: bytes, content_type: str) -> Response:
    """A ``status`` response carrying ``body`` with ``content_type`` (closes the connection)."""
    response = text_response(status, "")
    headers = Headers(response.headers)
    del headers["Content-Type"]
    del headers["Content-Length"]
    headers["Content-Type"] = content_type
    headers["Content-Length"] = str(len(body))
    return dataclasses.replace(response, headers=headers, body=body)


def _with_body(body: bytes, content_type: str) -> Response:
    """A 200 response carrying ``body`` with ``content_type``."""
    return body_response(200, body, content_type)
