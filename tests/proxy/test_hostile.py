"""Hostile peers on either side of `wscli proxy`: every byte is untrusted until the handshake
is accepted, every wait is bounded, and one bad connection costs only itself."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import time

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.support import scaled
from tests.support.proxy_process import ProxyProcess


async def _raw_exchange(port: int, data: bytes, wait: float) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    got = b""
    try:
        async with asyncio.timeout(wait):
            while chunk := await reader.read(65536):
                got += chunk
    except TimeoutError:
        got += b"<still open>"
    writer.close()
    return got


async def _idle_upstream() -> tuple[socket.socket, int]:
    """A TCP server that accepts and never answers (a hung upstream)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock, sock.getsockname()[1]


async def test_garbage_instead_of_a_request_gets_400_and_the_proxy_goes_on() -> None:
    sock, port = await _idle_upstream()
    with sock, ProxyProcess(f"ws://127.0.0.1:{port}") as proxy:
        answer = await _raw_exchange(proxy.port, b"\x16\x03\x01\x02\x00garbage\r\n\r\n", 5)
        # Answered (it used to be a silent close), then closed; nothing reached the upstream.
        assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer
        assert b"<still open>" not in answer
        assert proxy.proc.poll() is None
        line = await asyncio.to_thread(proxy.wait_for, r"#1 error: did not receive a valid")
        assert line is not None
        assert "\\x16" in line.string or "\\u0016" in line.string  # the peer's bytes escaped
        assert "\x16" not in proxy.stdout
        assert await asyncio.to_thread(proxy.wait_for, r"#1 refused by proxy: HTTP 400")


async def test_a_client_that_never_finishes_its_request_is_dropped_at_open_timeout() -> None:
    sock, port = await _idle_upstream()
    with sock, ProxyProcess(f"ws://127.0.0.1:{port}", "--open-timeout", "1") as proxy:
        start = time.monotonic()
        answer = await _raw_exchange(proxy.port, b"GET / HTTP/1.1\r\nHost: x\r\n", scaled(5))
        assert answer == b""  # dropped, not answered, and well before our own timeout
        assert time.monotonic() - start < scaled(4)
        assert await asyncio.to_thread(proxy.wait_for, "opening handshake timed out")


async def test_an_upstream_that_never_answers_is_a_504_at_open_timeout() -> None:
    sock, port = await _idle_upstream()
    with sock, ProxyProcess(f"ws://127.0.0.1:{port}", "--open-timeout", "1") as proxy:
        start = time.monotonic()
        with pytest.raises(InvalidStatus) as info:
            async with connect(proxy.ws_url(), proxy=None, open_timeout=scaled(5)):
                pass
        assert info.value.response.status_code == 504
        assert time.monotonic() - start < scaled(4)


async def test_an_upstream_refusal_with_a_huge_body_is_a_502_not_a_buffer() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        size = 64 * 2**20
        writer.write(f"HTTP/1.1 403 Forbidden\r\nContent-Length: {size}\r\n\r\n".encode())
        try:
            for _ in range(size // 65536):
                writer.write(b"x" * 65536)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        writer.close()

    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, ProxyProcess(f"ws://127.0.0.1:{port}") as proxy:
        with pytest.raises(InvalidStatus) as info:
            async with connect(proxy.ws_url(), proxy=None, open_timeout=scaled(10)):
                pass
        assert info.value.response.status_code == 502
        assert proxy.proc.poll() is None


async def test_a_message_over_max_size_closes_both_sides_with_1009() -> None:
    closes: list[int | None] = []

    async def handler(ws: ServerConnection) -> None:
        try:
            async for message in ws:
                await ws.send(message)
        except ConnectionClosed:
            pass
        closes.append(ws.close_code)

    async with serve(handler, "127.0.0.1", 0, max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        async with ProxyProcess(f"ws://127.0.0.1:{port}", "--max-size", "64K") as proxy:
            async with connect(proxy.ws_url(), proxy=None) as ws:
                await ws.send(b"x" * 100_000)
                with pytest.raises(ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), scaled(5))
                assert ws.close_code == 1009
            for _ in range(100):
                if closes:
                    break
                await asyncio.sleep(0.05)
            assert closes == [1009]


async def test_frames_sent_before_the_answer_are_relayed_after_it() -> None:
    got: list[str | bytes] = []

    async def handler(ws: ServerConnection) -> None:
        async for message in ws:
            got.append(message)
            await ws.send(message)

    async with serve(handler, "127.0.0.1", 0, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        async with ProxyProcess(f"ws://127.0.0.1:{port}", "--no-compression") as proxy:
            request = (
                b"GET / HTTP/1.1\r\nHost: [::1]\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            early = b"\x81\x85\x00\x00\x00\x00early"  # a masked text frame, zero mask
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(request + early)
            answer = b""
            async with asyncio.timeout(scaled(10)):
                while not answer.endswith(b"\x81\x05early"):  # echoed back
                    chunk = await reader.read(65536)
                    assert chunk, answer
                    answer += chunk
                # Still open, and nothing else came after the echo: the next frame's echo
                # is the next thing read.
                writer.write(b"\x81\x85\x00\x00\x00\x00after")
                after = await reader.readexactly(7)
            writer.close()
            assert answer.startswith(b"HTTP/1.1 101 Switching Protocols")
            assert after == b"\x81\x05after"
            assert got == ["early", "after"]


async def test_an_upstream_that_hangs_up_on_the_request_is_a_502() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, ProxyProcess(f"ws://127.0.0.1:{port}") as proxy:
        with pytest.raises(InvalidStatus) as info:
            async with connect(proxy.ws_url(), proxy=None, open_timeout=scaled(10)):
                pass
        assert info.value.response.status_code == 502
        assert b"invalid answer from the upstream" in info.value.response.body


async def test_a_large_refusal_body_reaches_the_client_whole() -> None:
    body = bytes(range(256)) * 2048  # 512 KiB: more than the sockets buffer at once

    def refuse(conn: ServerConnection, request: object) -> object:
        response = conn.respond(403, "")
        del response.headers["Content-Length"]  # assigning would add a second one
        response.headers["Content-Length"] = str(len(body))
        return dataclasses.replace(response, body=body)

    async def never(ws: ServerConnection) -> None:
        raise AssertionError("not reached")

    async with serve(never, "127.0.0.1", 0, process_request=refuse) as server:  # type: ignore[arg-type]
        port = server.sockets[0].getsockname()[1]
        async with ProxyProcess(f"ws://127.0.0.1:{port}") as proxy:
            with pytest.raises(InvalidStatus) as info:
                async with connect(proxy.ws_url(), proxy=None, open_timeout=scaled(10)):
                    pass
            assert info.value.response.status_code == 403
            assert info.value.response.body == body
