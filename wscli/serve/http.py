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

import base64
import dataclasses
import functools
import hashlib
import importlib.resources
import json
import re
from collections.abc import Callable
from typing import Any

from websockets.datastructures import Headers
from websockets.http11 import Response
from websockets.server import ServerProtocol

from wscli.core.httphead import MAX_REQUEST_LINE

PAGE_CSP = (
    "default-src 'none'; script-src {scripts}; style-src 'unsafe-inline'; "
    "img-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.S)
# Every answer: nothing is sniffed into another type, no address leaks to a link's site.
COMMON_HEADERS = (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"))

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
        response.headers["Content-Security-Policy"] = page_csp(page)
        response.headers["Cache-Control"] = "no-cache"
    else:
        response = text_response(
            404, f"Not found. {room} is a chat room for WebSocket clients only."
        )
    if method == "HEAD":
        # Same headers (Content-Length included) as GET, no body.
        response = dataclasses.replace(response, body=b"")
    return response


@functools.lru_cache(maxsize=2)
def page_csp(page: bytes) -> str:
    """The page's Content-Security-Policy header: its inline scripts pinned by their
    SHA-256 (no ``'unsafe-inline'``), so a proxy that rewrites the page cannot run more."""
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(page)
    ]
    return PAGE_CSP.format(scripts=" ".join(hashes) or "'none'")


def document(method: str, body: bytes, content_type: str) -> Response:
    """A 200 answer carrying ``body``, never cached (``HEAD``: the same headers, no body)."""
    response = _with_body(body, content_type)
    response.headers["Cache-Control"] = "no-store"
    if method == "HEAD":
        response = dataclasses.replace(response, body=b"")
    return response


def text_response(status: int, text: str) -> Response:
    """A plain-text answer that closes the connection (built by websockets' public
    ``ServerProtocol.reject``: Date, Connection: close, Content-Length, Content-Type), with
    :data:`COMMON_HEADERS`: every answer of the server is built from this one."""
    response = ServerProtocol().reject(status, text + "\n")
    for name, value in COMMON_HEADERS:
        response.headers[name] = value
    return response


def request_line_too_long(head: bytes) -> bool:
    """True when the request line that ``head`` begins with is longer than
    :data:`~wscli.core.httphead.MAX_REQUEST_LINE` (seen as soon as that many bytes came
    without its end)."""
    limit = MAX_REQUEST_LINE + 2  # with its CRLF
    return len(head) >= limit and head.find(b"\r\n", 0, limit) < 0


def head_refused(status: int) -> Response:
    """The answer to a request head the parser refused with ``status``
    (:class:`~wscli.core.httphead.HeadError`): 414 for a request line over the limit, 431
    for a header line or too many headers, 411 for a body not framed by Content-Length,
    else 400. It never quotes the head (the log line
    does, escaped)."""
    if status == 414:
        return text_response(414, "Request line too long.")
    if status == 431:
        return text_response(431, "Request header fields too large.")
    if status == 411:
        return text_response(411, "Transfer-Encoding is not supported: send Content-Length.")
    return text_response(400, "Malformed request.")


def method_not_allowed() -> Response:
    """405 for a method the server does not serve (any path: every path is GET/HEAD only)."""
    response = text_response(405, "Method not allowed: this server answers GET and HEAD.")
    response.headers["Allow"] = ALLOWED_METHODS
    return response


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
