"""`wscli handshake` against hostile servers: every line on stderr that quotes
the server (the error, the verdict) is escaped; ``--accept-for`` with a URL is refused."""

from __future__ import annotations

import json
import re

from rawserver import RawServer, answer, http_response, upgrade_response
from support import run_wscli

HOSTILE_REASON = "Not\x1b]0;PWNED\x07\x1b]52;c;cHduZWQ=\x07\x1b[31mRED"


def _assert_inert(stderr: bytes) -> None:
    """No byte of stderr can drive a terminal: no ESC, BEL, C1 or bidi control."""
    text = stderr.decode("utf-8")
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", text), text


def test_non_101_reason_with_osc_sequences_is_escaped() -> None:
    with RawServer(answer(http_response(404, HOSTILE_REASON))) as server:
        result = run_wscli("handshake", server.url())
        as_json = run_wscli("handshake", server.url(), "--json")
    assert result.returncode == as_json.returncode == 4
    _assert_inert(result.stderr)
    escaped = b"404 Not\\e]0;PWNED\\x07\\e]52;c;cHduZWQ=\\x07\\e[31mRED"
    assert b"wscli: error: server at 127.0.0.1:" in result.stderr
    assert b"rejected the upgrade: HTTP " + escaped + b"\n" in result.stderr
    assert b"status: " + escaped + b" (expected 101 Switching Protocols)" in result.stderr
    document = json.loads(as_json.stdout)
    assert "\x1b" not in document["error"]["message"]


def test_101_verdict_line_and_bad_accept_with_c1_are_escaped() -> None:
    raw = upgrade_response(accept="abc\x9b[2J==")

    def hostile_101(request: bytes) -> bytes:
        return raw(request).replace(b"101 Switching Protocols", b"101 Switching\x9b[2JProtocols")

    with RawServer(answer(hostile_101, after="websocket")) as server:
        result = run_wscli("handshake", server.url())
    assert result.returncode == 4
    _assert_inert(result.stderr)
    assert b"status: 101 Switching\\x9b[2JProtocols" in result.stderr
    assert b"received abc\\x9b[2J==" in result.stderr
    assert b"wrong Sec-WebSocket-Accept" in result.stderr

    def hostile_ok(request: bytes) -> bytes:
        good = upgrade_response()(request)
        return good.replace(b"101 Switching Protocols", b"101 \xe2\x80\xaeSwitching")

    with RawServer(answer(hostile_ok, after="websocket")) as server:
        ok = run_wscli("handshake", server.url())
    assert ok.returncode == 0, ok.stderr
    _assert_inert(ok.stderr)  # the reason is Latin-1: its bytes show as \x80 escapes
    assert b"status: 101 \xc3\xa2\\x80\xc2\xaeSwitching" in ok.stderr


def test_accept_for_with_a_url_is_a_usage_error() -> None:
    result = run_wscli("handshake", "--accept-for", "dGhlIHNhbXBsZSBub25jZQ==", "ws://h/")
    assert result.returncode == 2
    assert result.stdout == b""
    assert result.stderr.startswith(b"wscli: error: --accept-for takes no URL: ")
    assert b"'ws://h/' would be ignored" in result.stderr
