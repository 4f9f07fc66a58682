"""RFC 6455's opening-handshake rules on `wscli serve`'s own head parser and 101, tried with
raw bytes over real loopback sockets: one answer and one log line per malformed head, 426
for a wrong version (with the version the server speaks), 431 for an oversized head, the
Host allow-list first, and nothing after a refused head ever read.

(Before the server parsed heads itself, a malformed request line or header got no answer
at all, and a wrong version got 400 without ``Sec-WebSocket-Version``.)"""

from __future__ import annotations

import pytest

from tests.serve.serve_helpers import (
    client,
    masked_frame,
    nothing_before_sentinel,
    raw_request,
    running,
    upgrade_request,
)
from wscli.serve.connection import MAX_HEAD


def _head(port: int, request_line: str = "GET /chat HTTP/1.1", extra: str = "") -> bytes:
    return upgrade_request("/chat", port, extra).replace(
        b"GET /chat HTTP/1.1", request_line.encode(), 1
    )


MALFORMED = {
    "two spaces in the request line": lambda p: _head(p, "GET  /chat HTTP/1.1"),
    "no version": lambda p: _head(p, "GET /chat"),
    "HTTP/2.0": lambda p: _head(p, "GET /chat HTTP/2.0"),
    "control character in the target": lambda p: _head(p, "GET /ch\x01at HTTP/1.1"),
    "header without a colon": lambda p: _head(p, extra="X-Broken\r\n"),
    "space before the colon": lambda p: _head(p, extra="X-Broken : 1\r\n"),
    "folded header": lambda p: _head(p, extra="X-A: 1\r\n folded\r\n"),
    "NUL in a value": lambda p: _head(p, extra="X-A: a\x00b\r\n"),
    "bare CR in a value": lambda p: _head(p, extra="X-A: a\rb\r\n"),
    "a body": lambda p: _head(p, extra="Content-Length: 4\r\n"),
}


@pytest.mark.parametrize("name", list(MALFORMED))
async def test_each_malformed_head_gets_one_400_and_one_log_line(name: str) -> None:
    async with running() as srv, client(srv) as bystander:
        answer = await raw_request(srv.port, MALFORMED[name](srv.port) + masked_frame(1, b"x"))
        assert answer.startswith(b"HTTP/1.1 400 "), answer
        assert answer.count(b"HTTP/1.1") == 1
        (error,) = await srv.wait_events("error", 1)
        assert error["message"].startswith("bad handshake: ") and "\n" not in error["message"]
        assert not srv.events("connect")[1:]  # only the bystander ever joined
        await nothing_before_sentinel(bystander)  # the frame behind the head reached nobody


async def test_a_request_line_over_8_kib_gets_414() -> None:
    async with running() as srv:
        answer = await raw_request(srv.port, _head(srv.port, f"GET /{'a' * 8200} HTTP/1.1"))
        assert answer.startswith(b"HTTP/1.1 414 "), answer
        (error,) = await srv.wait_events("error", 1)
        assert "request line over 8192 bytes" in error["message"]


@pytest.mark.parametrize("extra", [f"X-Long: {'a' * 9000}\r\n", "X: y\r\n" * 129])
async def test_a_header_line_too_long_or_too_many_headers_get_431(extra: str) -> None:
    async with running() as srv:
        answer = await raw_request(srv.port, _head(srv.port, extra=extra))
        assert answer.startswith(b"HTTP/1.1 431 "), answer


async def test_a_head_over_the_limit_gets_431_before_it_ends() -> None:
    async with running() as srv:
        lines = "".join(f"X-{n}: {'v' * 100}\r\n" for n in range(MAX_HEAD // 100))
        answer = await raw_request(srv.port, _head(srv.port, extra=lines))
        assert answer.startswith(b"HTTP/1.1 431 "), answer
        (error,) = await srv.wait_events("error", 1)
        assert f"request head over {MAX_HEAD} bytes" in error["message"]


async def test_a_wrong_version_gets_426_naming_version_13() -> None:
    async with running() as srv, client(srv) as bystander:
        head = upgrade_request("/chat", srv.port).replace(
            b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Version: 8"
        )
        answer = await raw_request(srv.port, head + masked_frame(1, b"forged"))
        status, _, rest = answer.partition(b"\r\n")
        assert status == b"HTTP/1.1 426 Upgrade Required", answer
        assert b"\r\nSec-WebSocket-Version: 13\r\n" in b"\r\n" + rest
        (error,) = await srv.wait_events("error", 1)
        assert "Sec-WebSocket-Version" in error["message"]
        await nothing_before_sentinel(bystander)


@pytest.mark.parametrize(
    ("old", "new", "status"),
    [
        (b"Connection: Upgrade", b"Connection: keep-alive", 426),
        (b"Upgrade: websocket", b"Upgrade: websocket, h2c", 426),
        (b"dGhlIHNhbXBsZSBub25jZQ==", b"c2hvcnQ=", 400),
        (b"Sec-WebSocket-Version: 13\r\n", b"", 400),
    ],
)
async def test_the_other_upgrade_rules(old: bytes, new: bytes, status: int) -> None:
    async with running() as srv:
        answer = await raw_request(srv.port, upgrade_request("/chat", srv.port).replace(old, new))
        assert answer.startswith(f"HTTP/1.1 {status} ".encode()), answer
        await srv.wait_events("error", 1)


async def test_the_host_allow_list_comes_before_the_upgrade_rules() -> None:
    async with running() as srv:
        head = upgrade_request("/chat", srv.port).replace(
            f"Host: 127.0.0.1:{srv.port}".encode(), b"Host: evil.example"
        )
        bad_version = head.replace(b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Version: 8")
        for request in (head, bad_version):
            answer = await raw_request(srv.port, request)
            assert answer.startswith(b"HTTP/1.1 403 "), answer
        refused = await srv.wait_events("refused", 2)
        assert all(e["status"] == 403 and "evil.example" in e["reason"] for e in refused)


async def test_our_101_opens_for_a_real_client_with_its_subprotocol() -> None:
    async with running() as srv, client(srv, subprotocols=["wscli.chat.v1"]) as ws:
        assert ws.subprotocol == "wscli.chat.v1"
        assert ws.response.headers["Sec-WebSocket-Accept"]
        await ws.send("hi")
        (conn,) = srv.chat.admitted
        assert conn.enveloped
