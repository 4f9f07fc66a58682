"""Plain HTTP on the port of `wscli serve`: the chat page, ``/healthz``, ``/admission``, 404, 405.

websockets hands every request that is not a WebSocket upgrade to the server's
``process_request``; :func:`answer` builds the response for it. ``GET`` and ``HEAD`` are
served (``HEAD`` with the same headers and no body, as RFC 9110 §9.3.2 asks); any other
method gets ``405`` with ``Allow: GET, HEAD``. ``/admission`` is the chat page's pre-flight
(would its upgrade be admitted, and if not why: a browser only sees 1006 for a refusal).
Every answer closes the connection (the library does that for any status but 101).
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import json
from collections.abc import Callable
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

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
    conn: ServerConnection,
    request: Request,
    room: str,
    page: bytes | None,
    health: Callable[[], dict[str, Any]],
    admission: Callable[[], dict[str, Any]] | None = None,
) -> Response:
    """The response to a plain HTTP ``request`` for ``room`` (its path without the query)."""
    method = request.method
    if method not in {"GET", "HEAD"}:
        response = conn.respond(405, f"Method not allowed: {room} answers GET and HEAD.\n")
        response.headers["Allow"] = ALLOWED_METHODS
    elif room == "/" and page is not None:
        response = _with_body(conn, page, "text/html; charset=utf-8")
        response.headers["Content-Security-Policy"] = PAGE_CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-cache"
    elif room == "/healthz":
        response = _with_body(conn, json.dumps(health()).encode(), "application/json")
        response.headers["Cache-Control"] = "no-store"
    elif room == ADMISSION_PATH and admission is not None:
        response = _with_body(conn, json.dumps(admission()).encode(), "application/json")
        response.headers["Cache-Control"] = "no-store"
    else:
        response = conn.respond(
            404, f"Not found. {room} is a chat room for WebSocket clients only.\n"
        )
    if method == "HEAD":
        # Same headers (Content-Length included) as GET, no body.
        response = dataclasses.replace(response, body=b"")
    return response


def _with_body(conn: ServerConnection, body: bytes, content_type: str) -> Response:
    """A 200 response carrying ``body``; ``respond()`` sets text/plain, so replace it."""
    response = conn.respond(200, "")
    headers = Headers(response.headers)
    del headers["Content-Type"]
    del headers["Content-Length"]
    headers["Content-Type"] = content_type
    headers["Content-Length"] = str(len(body))
    return dataclasses.replace(response, headers=headers, body=body)
