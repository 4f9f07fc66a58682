"""Hostile clients against the history replay of the page's subprotocol (`wscli.chat.v1`),
measured on a real `wscli serve` process: its CPU and memory read from /proc, with generous
bounds (the machine is shared), the attack done with raw sockets as an attacker would."""

from __future__ import annotations

import asyncio
import socket
import struct

from websockets.asyncio.client import connect

from tests.serve.serve_helpers import upgrade_request
from tests.support import cpu_seconds, rss_bytes, scaled
from tests.support.serve_process import ServeProcess

MiB = 2**20
SUBPROTOCOL = "Sec-WebSocket-Protocol: wscli.chat.v1\r\n"


async def post(server: ServeProcess, messages: list[str]) -> None:
    """Send ``messages`` to /chat and wait until each came back (so all are kept)."""
    async with connect(server.ws_url("/chat"), proxy=None, compression=None, max_size=None) as ws:
        for message in messages:
            await ws.send(message)
            assert len(await asyncio.wait_for(ws.recv(), scaled(20))) == len(message)


def join_and_reset(port: int, extra: str) -> None:
    """Upgrade, read the 101 head only, then reset the connection without reading on."""
    with socket.create_connection(("127.0.0.1", port), timeout=scaled(20)) as sock:
        sock.sendall(upgrade_request("/chat", port, extra))
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            assert chunk, head
            head += chunk
        assert head.startswith(b"HTTP/1.1 101"), head
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def cpu_per_join(server: ServeProcess, extra: str, joins: int) -> float:
    before = cpu_seconds(server.proc.pid)
    for _ in range(joins):
        join_and_reset(server.port, extra)
    # The server finishes writing the replay after the 101: ask it something to be sure.
    join_and_reset(server.port, "")
    return (cpu_seconds(server.proc.pid) - before) / joins


# Finding 2: the replay to a wscli.chat.v1 client rebuilt every envelope, one Python call
# per escaped character: about 505 ms of server CPU per join, against 1 ms for a raw join.


async def test_a_subprotocol_join_costs_about_what_a_raw_join_costs() -> None:
    with ServeProcess("--history", "10", "--max-size", "2M") as server:
        await post(server, ["\u202e" * (MiB // 3)] * 4)  # 4 x 1 MiB of RIGHT-TO-LEFT OVERRIDE
        raw = cpu_per_join(server, "", 6)
        enveloped = cpu_per_join(server, SUBPROTOCOL, 6)
        # Before: 0.5 s a join (more on a loaded machine). The first one builds the
        # envelopes (kept with the history), then a join only writes them.
        assert enveloped < max(5 * raw, 0.06), (enveloped, raw)


# Finding 3: the escaped replay passed --max-queue about 6 times: 10 newcomers that do not
# read held +24 MiB each, and all stayed connected.


async def test_non_reading_subprotocol_newcomers_hold_at_most_their_queue() -> None:
    with ServeProcess("--history", "10", "--max-size", "2M") as server:
        await post(server, ["\x01" * MiB] * 4)  # escaped as \u0001: 6 bytes each
        before = rss_bytes(server.proc.pid)
        sockets = []
        try:
            for _ in range(10):
                sock = socket.socket()
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                sock.settimeout(scaled(20))
                sock.connect(("127.0.0.1", server.port))
                sock.sendall(upgrade_request("/chat", server.port, SUBPROTOCOL))
                head = b""
                while b"\r\n\r\n" not in head:
                    head += sock.recv(1)  # the head only: the replay stays unread
                assert head.startswith(b"HTTP/1.1 101"), head
                sockets.append(sock)
            await asyncio.sleep(scaled(0.5))
            grown = rss_bytes(server.proc.pid) - before
            # Before: about 240 MiB. Now each holds at most --max-queue (4 MiB) unsent,
            # plus the envelopes built once and kept with the history.
            assert grown < 80 * MiB, grown / MiB
        finally:
            for sock in sockets:
                sock.close()
