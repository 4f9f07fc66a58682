"""The proxy's byte budget and keepalive against hostile peers on either side: a ping flood
from a peer that never reads its pongs keeps the proxy's memory within --max-queue (plus a
read or two), and a side that stops answering pings is dropped.

Memory is read from /proc (VmRSS of the proxy process). On the relay of old, the pongs to a
flooder were counted nowhere: 64 MiB of pings grew the proxy by about 90 MiB.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import struct
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from tests.support import scaled
from tests.support.proxy_process import ProxyProcess
from tests.support.rawserver import RawConnection, RawServer, upgrade_response

MIB = 2**20
FLOOD = 64 * MIB
ALLOWED_GROWTH = 1 * MIB + 16 * MIB  # --max-queue 1M, plus 16 MiB for reads and the heap
# A flooder that reads nothing is dropped this long after the proxy stopped reading it (the
# deadline starts only once its backlog is over --max-queue, so the budget is reached first).
STALL = ("--ping-timeout", "1")

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")


def _rss(pid: int) -> int:
    match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    assert match is not None
    return int(match.group(1)) * 1024


def _ping(payload: bytes, masked: bool) -> bytes:
    """One ping frame (masked: from a client)."""
    if not masked:
        return bytes([0x89, len(payload)]) + payload
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return struct.pack("!BB", 0x89, 0x80 | len(payload)) + mask + body


async def _echo(ws: ServerConnection) -> None:
    try:
        async for message in ws:
            await ws.send(message)
    except ConnectionClosed:
        pass


async def _flood(sock: socket.socket, frame: bytes, proxy: ProxyProcess, base: int) -> int:
    """Send FLOOD bytes of ``frame`` (never reading) until the proxy drops us (its
    --ping-timeout after it stopped reading us) or stops reading us for good; returns the
    proxy's peak RSS growth meanwhile, read every 20 ms, also while our sends are blocked."""
    loop = asyncio.get_running_loop()
    burst = frame * (256 * 1024 // len(frame))
    sent, peak = 0, 0

    async def sample() -> None:
        nonlocal peak
        while True:
            peak = max(peak, _rss(proxy.proc.pid) - base)
            await asyncio.sleep(0.02)

    sampler = asyncio.create_task(sample())
    try:
        while sent < FLOOD:
            await asyncio.wait_for(loop.sock_sendall(sock, burst), scaled(5))
            sent += len(burst)
    except (ConnectionError, asyncio.TimeoutError, OSError):
        pass  # the proxy dropped us (what it read was answered or dropped), or stopped reading
    finally:
        sampler.cancel()
    return max(peak, _rss(proxy.proc.pid) - base)


async def test_a_client_flooding_pings_it_never_reads_stays_within_max_queue() -> None:
    async with serve(_echo, "127.0.0.1", 0, compression=None) as upstream:
        port = upstream.sockets[0].getsockname()[1]
        options = ("--max-queue", "1M", *STALL)
        async with ProxyProcess(f"ws://127.0.0.1:{port}", *options, "--json") as proxy:
            base = _rss(proxy.proc.pid)
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # pongs back up soon
            sock.setblocking(False)
            loop = asyncio.get_running_loop()
            await loop.sock_connect(sock, ("127.0.0.1", proxy.port))
            key = "dGhlIHNhbXBsZSBub25jZQ=="
            await loop.sock_sendall(
                sock,
                (
                    f"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                    f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                    "Sec-WebSocket-Version: 13\r\n\r\n"
                ).encode(),
            )
            answer = await asyncio.wait_for(loop.sock_recv(sock, 4096), scaled(10))
            assert answer.startswith(b"HTTP/1.1 101")
            with sock:
                grown = await _flood(sock, _ping(b"p" * 125, masked=True), proxy, base)
                # Reading nothing for --ping-timeout past the budget, the flooder is dropped.
                closed = proxy.wait_for_event(lambda e: e.get("event") == "close", timeout=15)
            assert closed is not None
            assert proxy.proc.poll() is None  # the proxy goes on
    assert grown <= ALLOWED_GROWTH, f"the proxy grew by {grown / MIB:.1f} MiB"


async def test_an_upstream_flooding_pings_it_never_reads_stays_within_max_queue() -> None:
    flooded = asyncio.Event()
    grown_box: list[int] = []

    async def flood(conn: RawConnection) -> None:
        request = await conn.read_request()
        await conn.send(upgrade_response()(request))
        sock = conn.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        burst = _ping(b"p" * 125, masked=False) * 2048
        sent = 0
        try:
            while sent < FLOOD:
                conn.writer.write(burst)
                await asyncio.wait_for(conn.writer.drain(), scaled(3))
                sent += len(burst)
        except (ConnectionError, asyncio.TimeoutError):
            pass
        flooded.set()

    with RawServer(flood) as upstream:
        options = ("--max-queue", "1M", *STALL)
        async with ProxyProcess(upstream.url(), *options, "--json") as proxy:
            base = _rss(proxy.proc.pid)
            started = time.monotonic()
            # A client that reads everything (it answers the forwarded pings itself).
            async with connect(proxy.ws_url(), compression=None, proxy=None) as ws:
                while time.monotonic() - started < scaled(30):
                    grown_box.append(_rss(proxy.proc.pid) - base)
                    try:
                        await asyncio.wait_for(ws.recv(), 0.1)
                    except asyncio.TimeoutError:
                        pass
                    except ConnectionClosed:
                        break
                    if proxy.events() and any(e.get("event") == "close" for e in proxy.events()):
                        break
            closed = proxy.wait_for_event(lambda e: e.get("event") == "close", timeout=15)
            assert closed is not None
            assert proxy.proc.poll() is None
    grown = max(grown_box)
    assert grown <= ALLOWED_GROWTH, f"the proxy grew by {grown / MIB:.1f} MiB"


async def test_a_side_that_stops_answering_pings_is_dropped_with_1011() -> None:
    async def silent_after_open(conn: RawConnection) -> None:
        request = await conn.read_request()
        await conn.send(upgrade_response()(request))
        await asyncio.sleep(scaled(30))  # reads nothing, answers nothing

    with RawServer(silent_after_open) as upstream:
        options = ("--ping-interval", "0.2", "--ping-timeout", "0.5")
        async with ProxyProcess(upstream.url(), *options, "--json") as proxy:
            started = time.monotonic()
            async with connect(proxy.ws_url(), compression=None, proxy=None) as ws:
                with pytest.raises(ConnectionClosed):
                    while True:
                        await asyncio.wait_for(ws.recv(), scaled(10))
                said = (ws.close_code, ws.close_reason)
            elapsed = time.monotonic() - started
            closed = proxy.wait_for_event(lambda e: e.get("event") == "close", timeout=5)
    assert said == (1011, "keepalive ping timeout")
    assert closed is not None and closed["code"] == 1011
    assert elapsed < scaled(5)
