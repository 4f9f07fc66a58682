"""What `wscli proxy` forwards and what it refuses, tried with raw bytes as an attacker would:
the upstream's origin is fixed (no open relay), the Host allow-list of `wscli serve` applies
(no DNS rebinding through the proxy), and hop-by-hop headers stay on their hop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request
from websockets.uri import WebSocketURI, parse_uri

from tests.support import scaled
from tests.support.proxy_process import ProxyProcess
from tests.support.serve_process import ServeProcess
from wscli.proxy.gate import Gate, Refused, decide

KEY = "dGhlIHNhbXBsZSBub25jZQ=="


class Internal:
    """A plain HTTP server the proxy must never reach: it records every connection."""

    def __init__(self) -> None:
        self.heads: list[bytes] = []
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            self.heads.append(await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5))
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
            self.heads.append(b"")
        body = b"internal secret"
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        writer.close()


@pytest.fixture
async def internal() -> AsyncIterator[Internal]:
    target = Internal()
    server = await asyncio.start_server(target.handle, "127.0.0.1", 0)
    target.port = server.sockets[0].getsockname()[1]
    async with server:
        yield target


class Upstream:
    """The configured upstream: a websockets server recording the requests that reach it."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.port = 0

    async def handler(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        self.requests.append(ws.request)
        await ws.send("hello from upstream")
        await ws.wait_closed()

    def plain(self, conn: ServerConnection, request: Request) -> object:
        if "websocket" in request.headers.get("Upgrade", "").lower():
            return None
        self.requests.append(request)
        return conn.respond(200, "upstream page\n")


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    up = Upstream()
    async with serve(up.handler, "127.0.0.1", 0, process_request=up.plain) as server:  # type: ignore[arg-type]
        up.port = server.sockets[0].getsockname()[1]
        yield up


async def exchange(port: int, data: bytes, wait: float = 5) -> bytes:
    """Send ``data``; everything answered until the proxy closes (or ``wait`` passes)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    got = b""
    try:
        async with asyncio.timeout(scaled(wait)):
            while chunk := await reader.read(65536):
                got += chunk
                if b"\r\n\r\n" in got and got.startswith(b"HTTP/1.1 101"):
                    break
    except TimeoutError:
        pass
    writer.close()
    return got


def plain_get(target: str, host: str) -> bytes:
    return f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()


def upgrade(target: str, host: str, extra: str = "") -> bytes:
    return (
        f"GET {target} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n"
        f"{extra}\r\n"
    ).encode()


# Finding 1: the proxy was an open relay (SSRF)


async def test_a_target_that_is_not_origin_form_never_reaches_another_host(
    internal: Internal, upstream: Upstream
) -> None:
    secret = "Authorization: Bearer operator-secret"
    async with ProxyProcess(f"ws://127.0.0.1:{upstream.port}/ws", "-H", secret) as proxy:
        host = f"127.0.0.1:{proxy.port}"
        elsewhere = f"127.0.0.1:{internal.port}"
        attacks = [
            plain_get(f"@{elsewhere}/secret", host),  # the upstream became userinfo
            upgrade(f"@{elsewhere}/internal", host),
            plain_get(f"http://{elsewhere}/secret", host),  # absolute-form, another host
            upgrade(f"ws://{elsewhere}/internal", host),
            plain_get("*", host),  # asterisk-form
            plain_get(f".{elsewhere}/x", host),
            plain_get(f":{internal.port}/secret", host),
        ]
        for attack in attacks:
            answer = await exchange(proxy.port, attack)
            assert answer.startswith(b"HTTP/1.1 400"), (attack, answer)
            assert b"internal secret" not in answer
        assert internal.heads == []  # not one connection, so no operator header either
        assert upstream.requests == []


async def test_an_absolute_form_target_naming_the_proxy_itself_is_its_path(
    upstream: Upstream,
) -> None:
    async with ProxyProcess(f"ws://127.0.0.1:{upstream.port}") as proxy:
        host = f"127.0.0.1:{proxy.port}"
        answer = await exchange(proxy.port, upgrade(f"ws://{host}/room?x=1", host))
        assert answer.startswith(b"HTTP/1.1 101"), answer
        answer = await exchange(proxy.port, plain_get(f"http://localhost:{proxy.port}/p", host))
        assert answer.startswith(b"HTTP/1.1 200"), answer
        assert [r.path for r in upstream.requests] == ["/room?x=1", "/p"]
        assert {r.headers["Host"] for r in upstream.requests} == {f"127.0.0.1:{upstream.port}"}


async def test_paths_and_queries_reach_the_fixed_upstream_as_sent(upstream: Upstream) -> None:
    async with ProxyProcess(f"ws://127.0.0.1:{upstream.port}/base?k=v") as proxy:
        host = f"127.0.0.1:{proxy.port}"
        for target in ["/", "//evil.example/x", "/@evil.example/x?y=@z", "/a/../b?q=1"]:
            answer = await exchange(proxy.port, upgrade(target, host))
            assert answer.startswith(b"HTTP/1.1 101"), (target, answer)
        paths = [r.path for r in upstream.requests]
        assert paths == ["/base?k=v", "//evil.example/x", "/@evil.example/x?y=@z", "/a/../b?q=1"]


# The decision itself (pure)

GATE = Gate(parse_uri("ws://up.example:8080/socket?v=1"), {"proxy.example"}, 9000, tls=False)


def test_decide_gives_the_upstream_uri_or_a_refusal() -> None:
    def resource(
        target: str, upgrade: bool = True, hosts: tuple[str, ...] = ("x.localhost",)
    ) -> object:
        verdict = decide(GATE, target, hosts, upgrade)
        return verdict.resource_name if isinstance(verdict, WebSocketURI) else verdict

    assert resource("/") == "/socket?v=1"  # a WebSocket client asking for / gets the URL's own
    assert resource("/", upgrade=False) == "/"  # a page is asked for as it is
    assert resource("/room?x=2") == "/room?x=2"
    assert resource("http://proxy.example:9000/p", hosts=("proxy.example:9000",)) == "/p"
    assert resource("@evil:1/x") == Refused(400, "the request target is not a path (origin-form)")
    assert resource("/", hosts=()) == Refused(400, "no Host header")
    assert resource("/", hosts=("a", "a")) == Refused(400, "duplicate Host header")
    assert resource("/", hosts=("rebind.attacker.example",)) == Refused(
        403, "host rebind.attacker.example not allowed (see --allowed-host)"
    )


# Finding 4: DNS rebinding through the proxy


async def test_a_foreign_host_is_403_at_the_proxy_as_at_wscli_serve() -> None:
    with ServeProcess() as server, ProxyProcess(f"ws://127.0.0.1:{server.port}") as proxy:
        rebind = f"rebind.attacker.example:{proxy.port}"
        direct = await exchange(server.port, plain_get("/healthz", rebind))
        assert direct.startswith(b"HTTP/1.1 403"), direct
        answer = await exchange(proxy.port, plain_get("/healthz", rebind))
        assert answer.startswith(b"HTTP/1.1 403"), answer
        assert b'"status"' not in answer
        answer = await exchange(proxy.port, plain_get("/", rebind))  # the chat page
        assert answer.startswith(b"HTTP/1.1 403") and b"<html" not in answer.lower()
        answer = await exchange(proxy.port, upgrade("/chat", rebind))
        assert answer.startswith(b"HTTP/1.1 403"), answer
        answer = await exchange(proxy.port, plain_get("/healthz", f"localhost:{proxy.port}"))
        assert answer.startswith(b"HTTP/1.1 200") and b'"status"' in answer


async def test_allowed_host_lets_a_name_through_and_star_lets_any() -> None:
    with ServeProcess() as server:
        upstream = f"ws://127.0.0.1:{server.port}"
        async with ProxyProcess(upstream, "--allowed-host", "chat.example") as proxy:
            answer = await exchange(proxy.port, plain_get("/healthz", "chat.example"))
            assert answer.startswith(b"HTTP/1.1 200"), answer
            answer = await exchange(proxy.port, plain_get("/healthz", "other.example"))
            assert answer.startswith(b"HTTP/1.1 403"), answer
        async with ProxyProcess(upstream, "--allowed-host", "*") as proxy:
            answer = await exchange(proxy.port, plain_get("/healthz", "other.example"))
            assert answer.startswith(b"HTTP/1.1 200"), answer


# Hop-by-hop headers: those a Connection header names belong to one hop (RFC 9110 §7.6.1)


async def test_headers_named_in_connection_stay_on_their_hop(upstream: Upstream) -> None:
    async with ProxyProcess(f"ws://127.0.0.1:{upstream.port}") as proxy:
        host = f"127.0.0.1:{proxy.port}"
        extra = "Connection: X-Hop, keep-alive\r\nX-Hop: for the proxy only\r\nX-End: kept\r\n"
        answer = await exchange(proxy.port, upgrade("/", host, extra))
        assert answer.startswith(b"HTTP/1.1 101"), answer
        extra = "X-Hop-Too: 1\r\nConnection: close, x-hop-too\r\nX-End: kept\r\n"
        answer = await exchange(
            proxy.port, plain_get("/page", host).replace(b"\r\n\r\n", f"\r\n{extra}\r\n".encode())
        )
        assert answer.startswith(b"HTTP/1.1 200"), answer
    for request in upstream.requests:
        assert "X-Hop" not in request.headers and "X-Hop-Too" not in request.headers
        assert request.headers["X-End"] == "kept"
