"""The server's descriptor count on the rebuilt connection layer.

The acceptor counts each connection when it accepts it; the server's protocol must report its
end exactly once, whichever way it ends: a chat client, a plain HTTP answer, a refused
upgrade, a malformed head, a client that leaves mid-head, a TCP probe, a --max-clients 503.
Counted twice the figure goes negative and the server lets in more than fit; never counted
it creeps up until every client gets 503. Real server, real sockets.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.serve.serve_helpers import (
    Running,
    client,
    http_get,
    raw_request,
    recv,
    running,
    upgrade_request,
)
from tests.support import scaled

pytestmark = pytest.mark.asyncio


async def settled(server: Running, expected: int, timeout: float = 5) -> None:
    """Wait until the count of live connections is ``expected``; never below zero."""
    budget = server.chat.fds.budget
    deadline = asyncio.get_running_loop().time() + scaled(timeout)
    while budget.connections != expected:
        assert budget.connections >= 0, "a connection's end was counted twice"
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{budget.connections} connections counted, not {expected}")
        await asyncio.sleep(0.02)


async def test_every_way_a_connection_ends_is_counted_once() -> None:
    async with running(max_clients=1) as server:
        port = server.port
        await settled(server, 0)
        async with client(server, "/room?nick=a") as first:
            await recv(first)  # the welcome: joined
            await settled(server, 1)
            # --max-clients: the second upgrade gets 503 from the server itself.
            full = await raw_request(port, upgrade_request("/room", port))
            assert full.startswith(b"HTTP/1.1 503 ")
            await settled(server, 1)
        await settled(server, 0)
        answers = [
            await raw_request(port, http_get("/healthz", port)),
            await raw_request(port, http_get("/", port)),
            await raw_request(port, upgrade_request("/room", port).replace(b"127.0.0.1", b"x")),
            await raw_request(port, upgrade_request("/room", port, "Host: twice\r\n")),
        ]
        assert [a.split(b" ", 2)[1] for a in answers] == [b"200", b"200", b"403", b"400"]
        # A TCP probe, and a client that leaves in the middle of its head.
        for data in (b"", b"GET /chat HTTP/1.1\r\nHost: 1"):
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(data)
            await writer.drain()
            writer.close()
            await writer.wait_closed()
        await settled(server, 0)
        health = json.loads(
            (await raw_request(port, http_get("/healthz", port))).split(b"\r\n\r\n", 1)[1]
        )
        assert health["status"] == "ok"
        assert health["fds"]["limit"] == server.chat.fd_limit.soft
        assert 0 < health["fds"]["open"] < health["fds"]["limit"]
        await settled(server, 0)


async def test_connections_are_counted_while_open() -> None:
    async with running() as server:
        clients = [await client(server, f"/room?nick=c{i}").__aenter__() for i in range(5)]
        try:
            for ws in clients:
                await recv(ws)
            await settled(server, 5)
        finally:
            for ws in clients:
                await ws.close()
        await settled(server, 0)
