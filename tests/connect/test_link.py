"""wscli.connect.link: connect() arguments from options, proxy choice, backoff, error mapping,
and real connections in-process (pings observed, close information)."""

from __future__ import annotations

import asyncio
import base64
import ssl
from pathlib import Path

import pytest
from connect_servers import close_after_first, echo, running
from websockets.datastructures import Headers
from websockets.exceptions import InvalidProxyStatus, InvalidStatus
from websockets.http11 import Response
from websockets.uri import parse_uri

from wscli.connect.link import (
    WebSocketLink,
    backoff_delays,
    basic_auth_header,
    build_connect_kwargs,
    close_result,
    describe_handshake_error,
    is_loopback,
    is_retryable,
    open_link,
    resolve_proxy,
)
from wscli.core.clientoptions import ConnectOptions
from wscli.core.errors import (
    ClosedAbnormally,
    ConnectFailed,
    HandshakeRejected,
    TimedOut,
    UsageProblem,
)
from wscli.core.exitcodes import ExitCode


def test_kwargs_from_options() -> None:
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
    kwargs = build_connect_kwargs(options, environ={})
    assert kwargs["uri"] == "ws://localhost:9000/x"
    assert kwargs["additional_headers"] == [
        ("X-A", "1"),
        ("Authorization", "Basic " + base64.b64encode(b"u:p").decode()),
    ]
    assert kwargs["subprotocols"] == ["chat"]
    assert kwargs["origin"] == "https://o"
    assert kwargs["compression"] is None
    assert kwargs["max_size"] is None and kwargs["ping_interval"] is None
    assert kwargs["open_timeout"] == 3
    assert kwargs["proxy"] is None
    assert "ssl" not in kwargs


def test_wss_gets_a_verifying_context_and_insecure_turns_it_off() -> None:
    secure = build_connect_kwargs(ConnectOptions(url="wss://example.com/"), environ={})
    assert secure["ssl"].verify_mode == ssl.CERT_REQUIRED
    insecure = build_connect_kwargs(ConnectOptions(url="https://e/", insecure=True), environ={})
    assert insecure["ssl"].verify_mode == ssl.CERT_NONE


def test_bad_values_are_usage_problems(tmp_path: Path) -> None:
    with pytest.raises(UsageProblem):
        basic_auth_header("no-colon")
    with pytest.raises(UsageProblem):
        build_connect_kwargs(ConnectOptions(url="gopher://x/"), environ={})
    cert = tmp_path / "c.pem"
    cert.write_text("x")
    with pytest.raises(UsageProblem, match="need a wss:// URL"):
        build_connect_kwargs(ConnectOptions(url="ws://x/", cert=str(cert)), environ={})


def test_proxy_resolution() -> None:
    remote = parse_uri("ws://example.com/")
    local = parse_uri("ws://127.0.0.1:1/")
    env = {"HTTPS_PROXY": "http://p:3128"}
    assert resolve_proxy("http://p:1", remote, {}) == "http://p:1"
    assert resolve_proxy("none", remote, env) is None
    assert resolve_proxy(None, remote, env) is True
    assert resolve_proxy(None, remote, {}) is None
    assert resolve_proxy(None, local, env) is None
    assert resolve_proxy("http://p:1", local, env) == "http://p:1"  # explicit wins
    assert is_loopback("localhost") and is_loopback("::1") and is_loopback("127.8.0.1")
    assert not is_loopback("example.com") and not is_loopback("10.0.0.1")


def test_backoff_grows_with_jitter_up_to_cap() -> None:
    low = backoff_delays(0.5, 2, 4, rng=lambda: 0.0)
    high = backoff_delays(0.5, 2, 4, rng=lambda: 1.0)
    assert [next(low) for _ in range(5)] == [0.25, 0.5, 1.0, 2.0, 2.0]
    assert [next(high) for _ in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]


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
        " (hint: check -H/--header, --auth and --origin)"
    )
    proxy = describe_handshake_error(InvalidProxyStatus(_response(407, "Auth")), options)
    assert isinstance(proxy, ConnectFailed) and "407" in str(proxy)
    assert isinstance(describe_handshake_error(TimeoutError(), options), TimedOut)
    refused = describe_handshake_error(ConnectionRefusedError(), options)
    assert isinstance(refused, ConnectFailed) and "refused" in str(refused)
    assert isinstance(describe_handshake_error(ImportError(), options), UsageProblem)
    ipv6 = describe_handshake_error(TimeoutError(), ConnectOptions(url="ws://[::1]:9/"))
    assert str(ipv6) == "opening the connection to [::1]:9 timed out"


def test_close_result() -> None:
    assert close_result(1000, "", "server") == ExitCode.OK
    assert close_result(1001, "", "server") == ExitCode.OK
    with pytest.raises(ClosedAbnormally) as info:
        close_result(4001, "nope", "server")
    assert info.value.code == 4001 and info.value.exit_code == ExitCode.CLOSED_ABNORMALLY
    with pytest.raises(ClosedAbnormally, match="no close frame"):
        close_result(None, "", None)


async def test_open_link_observes_pings_and_reports_close() -> None:
    frames: list[tuple[str, str, bytes, float | None]] = []
    with running(echo) as server:
        connection = await open_link(
            ConnectOptions(url=server.url), observer=lambda *f: frames.append(f), environ={}
        )
        link = WebSocketLink(connection, server.url)
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
        connection = await open_link(ConnectOptions(url=server.url), environ={})
        link = WebSocketLink(connection, server.url)
        await link.send("x")
        await connection.wait_closed()
        assert link.closed_info() == (4002, "go away", "server")


async def test_send_many_sends_each_payload_as_its_own_message_in_order() -> None:
    payloads: list[str | bytes] = ["a", b"\x00\x01", "", "é" * 3, b""]
    with running(echo, compression=None) as server:
        connection = await open_link(ConnectOptions(url=server.url, compression=False), environ={})
        link = WebSocketLink(connection, server.url)
        sent = await link.send_many(payloads)
        echoed = [await asyncio.wait_for(connection.recv(), 5) for _ in payloads]
        await link.close()
    assert [m.data for m in sent] == payloads
    assert all(m.direction == "out" for m in sent)
    assert echoed == payloads


async def test_open_link_refused_raises_connect_failed() -> None:
    with running(echo) as server:
        port = server.port
    await asyncio.sleep(0)
    with pytest.raises(ConnectFailed, match="connection refused"):
        await open_link(ConnectOptions(url=f"ws://127.0.0.1:{port}/"), environ={})
