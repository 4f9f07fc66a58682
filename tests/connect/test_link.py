"""wscli.connect.connection and .link: the request from options, proxy choice, error
mapping, and real connections in-process (pings observed, close information)."""

from __future__ import annotations

import asyncio
import base64
import socket
import ssl
from pathlib import Path

import pytest
from websockets.datastructures import Headers
from websockets.exceptions import InvalidMessage, InvalidStatus
from websockets.http11 import Response
from websockets.uri import parse_uri

from tests.support.connect_servers import close_after_first, echo, running
from wscli.connect.connection import (
    build_request,
    check_options,
    describe_handshake_error,
    open_websocket,
)
from wscli.connect.link import (
    WebSocketLink,
    close_result,
    is_retryable,
)
from wscli.core.clientoptions import ConnectOptions
from wscli.core.clientrequest import USER_AGENT, basic_auth_header
from wscli.core.errors import (
    ClosedAbnormally,
    ConnectFailed,
    HandshakeRejected,
    TimedOut,
    UsageProblem,
)
from wscli.core.exitcodes import ExitCode
from wscli.net.client import tls_context
from wscli.net.tunnel import is_loopback, resolve_proxy


def test_the_request_from_options() -> None:
    options = ConnectOptions(
        url="localhost:9000/x",
        headers=[("X-A", "1")],
        subprotocols=["chat"],
        origin="https://o",
        auth="u:p",
        compression=False,
        max_size=None,
        ping_interval=None,
        open_timeout=3,
    )
    uri = parse_uri("ws://localhost:9000/x")
    _, request = build_request(options, uri)
    headers = request.headers
    assert request.path == "/x"
    assert headers["Host"] == "localhost:9000"
    assert headers["X-A"] == "1"
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"u:p").decode()
    assert headers["Sec-WebSocket-Protocol"] == "chat"
    assert headers["Origin"] == "https://o"
    assert "Sec-WebSocket-Extensions" not in headers  # --no-compression offers none
    assert headers["User-Agent"] == USER_AGENT
    _, offering = build_request(ConnectOptions(url="ws://h/"), parse_uri("ws://h/"))
    assert offering.headers["Sec-WebSocket-Extensions"].startswith("permessage-deflate")
    # -H User-Agent replaces the default, as before
    _, own = build_request(
        ConnectOptions(url="ws://h/", headers=[("User-Agent", "me")]), parse_uri("ws://h/")
    )
    assert own.headers.get_all("User-Agent") == ["me"]


def test_wss_gets_a_verifying_context_and_insecure_turns_it_off() -> None:
    secure = tls_context(
        ConnectOptions(url="wss://example.com/"), parse_uri("wss://example.com/"), "wss://e/"
    )
    assert secure is not None and secure.verify_mode == ssl.CERT_REQUIRED
    insecure = tls_context(
        ConnectOptions(url="https://e/", insecure=True), parse_uri("wss://e/"), "wss://e/"
    )
    assert insecure is not None and insecure.verify_mode == ssl.CERT_NONE
    assert tls_context(ConnectOptions(url="ws://e/"), parse_uri("ws://e/"), "ws://e/") is None


def test_bad_values_are_usage_problems(tmp_path: Path) -> None:
    with pytest.raises(UsageProblem):
        basic_auth_header("no-colon")
    with pytest.raises(UsageProblem):
        check_options(ConnectOptions(url="gopher://x/"))
    cert = tmp_path / "c.pem"
    cert.write_text("x")
    with pytest.raises(UsageProblem, match="need a wss:// URL"):
        check_options(ConnectOptions(url="ws://x/", cert=str(cert)))
    with pytest.raises(UsageProblem, match="invalid --proxy"):
        check_options(ConnectOptions(url="ws://x/", proxy="ftp://p"))


def test_proxy_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    remote = parse_uri("ws://example.com/")
    secure = parse_uri("wss://example.com/")
    local = parse_uri("ws://127.0.0.1:1/")
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "socks_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    assert resolve_proxy("http://p:1", remote.host, remote.port, remote.secure) == "http://p:1"
    assert resolve_proxy(None, remote.host, remote.port, remote.secure) is None
    monkeypatch.setenv("HTTPS_PROXY", "http://p:3128")
    assert resolve_proxy("none", remote.host, remote.port, remote.secure) is None
    assert (
        resolve_proxy(None, remote.host, remote.port, remote.secure) == "http://p:3128"
    )  # ws:// may go through the HTTPS one
    assert resolve_proxy(None, secure.host, secure.port, secure.secure) == "http://p:3128"
    assert (
        resolve_proxy(None, local.host, local.port, local.secure) is None
    )  # loopback: never through the environment's
    assert (
        resolve_proxy("http://p:1", local.host, local.port, local.secure) == "http://p:1"
    )  # explicit wins
    monkeypatch.setenv("NO_PROXY", ".example.com")
    assert (
        resolve_proxy(None, remote.host, remote.port, remote.secure) is None
    )  # urllib's no_proxy rules
    assert is_loopback("localhost") and is_loopback("::1") and is_loopback("127.8.0.1")
    assert not is_loopback("example.com") and not is_loopback("10.0.0.1")


def test_retryable_errors() -> None:
    assert is_retryable(ConnectFailed("x"))
    assert is_retryable(ClosedAbnormally("x"))
    assert is_retryable(TimedOut("x"))
    assert is_retryable(HandshakeRejected("x", status=503))
    assert not is_retryable(HandshakeRejected("x", status=403))
    assert not is_retryable(UsageProblem("x"))


def _response(status: int, reason: str) -> Response:
    return Response(status, reason, Headers())


def test_handshake_errors_map_to_typed_errors() -> None:
    options = ConnectOptions(url="ws://h:81/")
    rejected = describe_handshake_error(InvalidStatus(_response(403, "Forbidden")), options)
    assert isinstance(rejected, HandshakeRejected) and rejected.status == 403
    assert str(rejected) == (
        "h:81 rejected the WebSocket handshake: HTTP 403 Forbidden"
        " (hint: check -H/--header and --auth; some servers require --origin)"
    )
    broken = InvalidMessage("did not receive a valid HTTP response")
    broken.__cause__ = EOFError("connection closed while reading HTTP status line")
    closed = describe_handshake_error(broken, options)
    assert isinstance(closed, HandshakeRejected)
    assert closed.why == "the server closed the connection without a complete HTTP response"


async def test_opening_errors_are_typed() -> None:
    with running(echo) as server:
        port = server.port
    await asyncio.sleep(0)
    options = ConnectOptions(url=f"ws://127.0.0.1:{port}/", open_timeout=1)
    with pytest.raises(ConnectFailed, match="connection refused"):
        await open_websocket(options)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    with listener:  # accepts TCP, never answers the upgrade
        address = f"ws://127.0.0.1:{listener.getsockname()[1]}/"
        with pytest.raises(TimedOut, match=r"opening the connection to 127\.0\.0\.1:\d+ timed"):
            await open_websocket(ConnectOptions(url=address, open_timeout=0.1))


def test_close_result() -> None:
    assert close_result(1000, "", "server") == ExitCode.OK
    assert close_result(1001, "", "server") == ExitCode.OK
    with pytest.raises(ClosedAbnormally) as info:
        close_result(4001, "nope", "server")
    assert info.value.code == 4001 and info.value.exit_code == ExitCode.CLOSED_ABNORMALLY
    with pytest.raises(ClosedAbnormally, match="no close frame"):
        close_result(None, "", None)


async def test_an_open_link_observes_pings_and_reports_close() -> None:
    frames: list[tuple[str, str, bytes, float | None]] = []
    with running(echo) as server:
        channel = await open_websocket(
            ConnectOptions(url=server.url), observer=lambda *f: frames.append(f)
        )
        link = WebSocketLink(channel, server.url)
        rtt = await link.ping(b"hey")
        assert rtt >= 0
        assert [(k, d, p) for k, d, p, _ in frames] == [
            ("ping", "out", b"hey"),
            ("pong", "in", b"hey"),
        ]
        assert frames[1][3] is not None
        sent = await link.send(b"\x01")
        assert sent.direction == "out" and sent.data == b"\x01"
        received = await link.recv()
        assert received is not None and received.data == b"\x01"
        assert "Sec-WebSocket-Accept" in dict(link.response_headers)
        await link.close()
        assert link.closed_info() == (1000, "", "client")


async def test_server_close_is_reported_with_code_and_who() -> None:
    with running(close_after_first(4002, "go away")) as server:
        channel = await open_websocket(ConnectOptions(url=server.url))
        link = WebSocketLink(channel, server.url)
        await link.send("x")
        await channel.wait_closed()
        assert link.closed_info() == (4002, "go away", "server")


async def test_send_many_sends_each_payload_as_its_own_message_in_order() -> None:
    payloads: list[str | bytes] = ["a", b"\x00\x01", "", "é" * 3, b""]
    with running(echo, compression=None) as server:
        channel = await open_websocket(ConnectOptions(url=server.url, compression=False))
        link = WebSocketLink(channel, server.url)
        sent = await link.send_many(payloads)
        echoed = [await asyncio.wait_for(channel.recv(), 5) for _ in payloads]
        await link.close()
    assert [m.data for m in sent] == payloads
    assert all(m.direction == "out" for m in sent)
    assert echoed == payloads
