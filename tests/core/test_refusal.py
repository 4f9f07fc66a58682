"""wscli.core.refusal: the server's answer to a refused upgrade, bounded, and the hint that
follows its status and headers."""

from __future__ import annotations

import pytest

from wscli.core.errors import HandshakeRejected, format_error
from wscli.core.refusal import BODY_KEPT, HEADERS_KEPT, Refusal, refusal_hint


def test_a_refusal_keeps_a_bounded_copy() -> None:
    headers = [(f"X-{i}", "v") for i in range(200)]
    refusal = Refusal.of(400, "Bad Request", headers, b"x" * 100_000)
    assert len(refusal.body) == BODY_KEPT and refusal.body_size == 100_000
    assert len(refusal.headers) == HEADERS_KEPT


@pytest.mark.parametrize(
    ("body", "line"),
    [
        (b"\n\n  no supported subprotocol offered  \nmore\n", "no supported subprotocol offered"),
        (b"<html><body>Forbidden</body></html>", ""),
        (b"", ""),
        (b"caf\xc3\xa9 \xff", "café \ufffd"),
    ],
)
def test_first_line_of_the_body(body: bytes, line: str) -> None:
    assert Refusal.of(400, "", [], body).first_line == line


def _hint(status: int, headers: list[tuple[str, str]] | None = None, **kwargs: object) -> str:
    url = str(kwargs.pop("url", "ws://h/chat"))
    hint = refusal_hint(Refusal.of(status, "", headers or [], b""), url, **kwargs)  # type: ignore[arg-type]
    assert hint is not None
    return hint


def test_hints_follow_the_status_and_headers() -> None:
    assert "--socketio" in _hint(400, url="ws://h/socket.io/")
    assert "--socketio" not in _hint(400, url="ws://h/socket.io/?EIO=4&transport=websocket")
    assert "-s" in _hint(400)
    assert "superchat" in _hint(400, subprotocols=["superchat"])
    assert "--auth USER:PASS" in _hint(401, [("WWW-Authenticate", 'Basic realm="x"')])
    assert "Bearer TOKEN" in _hint(401, [("www-authenticate", "Bearer")])
    assert "check the credentials" in _hint(401, [("WWW-Authenticate", "Basic")], auth=True)
    assert "--origin" in _hint(403, origin=True)
    assert "URL path" in _hint(404)
    assert "version 8" in _hint(426, [("Sec-WebSocket-Version", "8")])
    assert "in 30 s" in _hint(503, [("Retry-After", "30")])
    assert "--reconnect" in _hint(503)
    assert "WebSocket endpoint" in _hint(200)
    assert refusal_hint(Refusal.of(418, "", [], b""), "ws://h/") is None


def test_the_error_line_quotes_the_body_cut_to_the_width_and_escaped() -> None:
    said = "no supported subprotocol offered \x1b]52;c;cHduZWQ=\x07 (supported: chat)" + "x" * 300
    error = HandshakeRejected(
        "127.0.0.1:1 rejected the WebSocket handshake",
        "HTTP 400 Bad Request",
        hint="check -s",
        refusal=Refusal.of(400, "Bad Request", [], said.encode()),
    )
    line = format_error(error, width=140)
    assert len(line) == 140
    assert line.startswith(
        "wscli: error: 127.0.0.1:1 rejected the WebSocket handshake: HTTP 400 Bad Request: no"
    )
    assert line.endswith("… (hint: check -s)")
    assert "\x1b" not in line and "\x07" not in line
    # However narrow the terminal, some of the server's words stay.
    assert ": no supported subprotoco… (hint" in format_error(error, width=20)
    # Off a terminal (a pipe, --json): bounded all the same.
    assert len(format_error(error)) < 400 and "\\e]52" in format_error(error)
