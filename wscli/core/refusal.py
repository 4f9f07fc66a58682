"""A refused upgrade as both client commands explain it (pure: no I/O).

A server that refuses a WebSocket upgrade usually says why in the body of its answer ("no
supported subprotocol offered (supported: chat, wscli.chat.v1)") and in its headers
(``WWW-Authenticate``, ``Retry-After``). `connect` and `handshake` show the same things,
from here: the first line of the body for the error line, a bounded copy of the answer for
``--json``, and a hint that follows the actual status and headers.

Everything here is the server's: kept raw and bounded, escaped where it is printed
(:func:`wscli.core.errors.format_error`, :mod:`wscli.core.ndjson`).
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Sequence

BODY_KEPT = 1024
"""Bytes of a refusal's body that are kept (the rest is counted): the error line quotes its
first line, ``--json`` carries it."""
HEADERS_KEPT = 64
"""Headers of a refusal that are kept for ``--json`` (websockets reads at most 128)."""


@dataclasses.dataclass(frozen=True)
class Refusal:
    """The server's answer to the upgrade when it was not 101: status, headers, body."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    """The first :data:`BODY_KEPT` bytes."""
    body_size: int = 0
    """The size of the whole body as received."""

    @classmethod
    def of(
        cls, status: int, reason: str, headers: Sequence[tuple[str, str]], body: bytes
    ) -> Refusal:
        """A bounded copy of an answer."""
        return cls(
            status, reason, tuple(headers[:HEADERS_KEPT]), bytes(body[:BODY_KEPT]), len(body)
        )

    def header(self, name: str) -> str | None:
        """The first value of the header ``name`` (any case), or None."""
        lower = name.lower()
        return next((value for key, value in self.headers if key.lower() == lower), None)

    @property
    def first_line(self) -> str:
        """The first non-blank line of the body, decoded leniently, stripped; "" for none.

        A body that is HTML (an error page) says nothing readable in one line: "" too.
        """
        text = self.body.decode("utf-8", "replace")
        for line in text.splitlines():
            line = line.strip()
            if line:
                return "" if line.startswith("<") else line
        return ""


def _auth_scheme(challenge: str | None) -> str:
    return (challenge or "").strip().split(" ", 1)[0].lower()


def refusal_hint(
    refusal: Refusal,
    url: str,
    *,
    subprotocols: Sequence[str] = (),
    auth: bool = False,
    origin: bool = False,
    socketio_option: str | None = "--socketio",
) -> str | None:
    """The likely fix for ``refusal`` of an upgrade to ``url``, from its status and headers.

    ``subprotocols``, ``auth`` and ``origin``: what the request offered (-s, --auth or an
    Authorization header, --origin). ``socketio_option``: how the command speaks Socket.IO
    (None when it cannot).
    """
    status = refusal.status
    parts = urllib.parse.urlsplit(url)
    if 300 <= status < 400 and refusal.header("Location") is not None:
        return "follow it with -L/--location"
    socketio_path = "/socket.io" in parts.path and "EIO=" not in parts.query
    if status == 400:
        if socketio_path and socketio_option is not None:
            return f"a Socket.IO endpoint: use {socketio_option}"
        if subprotocols:
            return f"does the server support the subprotocol offered ({', '.join(subprotocols)})?"
        return "the server may require a subprotocol (-s)"
    if status == 401:
        scheme = _auth_scheme(refusal.header("WWW-Authenticate"))
        if auth:
            return "check the credentials (--auth, -H 'Authorization: ...')"
        if scheme == "basic":
            return "it asks for a user and password: --auth USER:PASS"
        if scheme == "bearer":
            return "it asks for a token: -H 'Authorization: Bearer TOKEN'"
        return "it needs credentials: --auth USER:PASS or -H 'Authorization: ...'"
    if status == 403:
        if origin:
            return "check --origin (servers refuse browsers from other sites), -H and --auth"
        return "check -H/--header and --auth; some servers require --origin"
    if status == 404:
        if socketio_path and socketio_option is not None:
            return f"a Socket.IO endpoint: use {socketio_option}"
        return "check the URL path"
    if status == 426:
        version = refusal.header("Sec-WebSocket-Version")
        if version is not None:
            return f"the server speaks WebSocket version {version} (wscli speaks 13)"
        return "is it a WebSocket endpoint? check the URL path"
    if status in (429, 503):
        retry = refusal.header("Retry-After")
        later = f" in {retry} s" if retry is not None and retry.strip().isdigit() else " later"
        full = "busy" if status == 429 else "unavailable or full"
        retried = " (--reconnect retries it)" if status == 503 else ""
        return f"the server is {full}: try again{later}{retried}"
    if status in (502, 504):
        return "a proxy in front of the server could not reach it"
    if 200 <= status < 300:
        return "is it a WebSocket endpoint? check the URL path"
    return None
