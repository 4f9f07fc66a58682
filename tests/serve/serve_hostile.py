"""Hostile clients against a running `wscli serve` (a manual check, not part of the suite).

    .venv/bin/wscli serve --port 0 2>serve.log &      # note the port from the banner
    .venv/bin/python -m tests.serve.serve_hostile PORT [CONNECTIONS]
    grep -ci traceback serve.log                       # expect 0

Sends garbage, a TLS ClientHello to the plain port, unmasked and reserved-opcode frames,
invalid UTF-8, 100,000 one-byte fragments, fragments past --max-size and a ping flood, then
opens CONNECTIONS (default 2,000) WebSocket clients at once over 500 rooms, and checks the
server still answers /healthz and relays a message. Loopback only; every wait is bounded
and the whole run stops itself after two minutes.
"""

from __future__ import annotations

import asyncio
import os
import resource
import sys
import time

import websockets

from tests.serve.serve_helpers import masked_frame, upgrade_request


async def raw(port: int, data: bytes, timeout: float = 3) -> bytes:
    """Send ``data`` on a fresh connection; what comes back within ``timeout``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    try:
        return await asyncio.wait_for(reader.read(65536), timeout)
    except asyncio.TimeoutError:
        return b"<no answer>"
    finally:
        writer.close()


async def upgraded(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(upgrade_request("/hostile", port))
    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    return reader, writer


async def close_frame(reader: asyncio.StreamReader) -> bytes:
    """The tail of what the server sends until it closes (its close frame's reason)."""
    try:
        return (await asyncio.wait_for(reader.read(), 5))[-48:]
    except asyncio.TimeoutError:
        return b"<no close>"


async def frames_then_close(port: int, data: bytes) -> bytes:
    reader, writer = await upgraded(port)
    writer.write(data)
    answer = await close_frame(reader)
    writer.close()
    return answer


async def main(port: int, count: int) -> None:
    print("garbage:", await raw(port, os.urandom(3000)))
    print("TLS hello on plain port:", await raw(port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc"))
    print("unmasked:", await frames_then_close(port, b"\x81\x05hello"))
    print("opcode 3:", await frames_then_close(port, masked_frame(0x3, b"x")))
    print("bad UTF-8:", await frames_then_close(port, masked_frame(0x1, b"\xff\xfe")))
    too_big = [masked_frame(0x1, b"a" * 60000, fin=False)]
    too_big += [masked_frame(0x0, b"a" * 60000, fin=False) for _ in range(30)]
    print("fragments past max-size:", await frames_then_close(port, b"".join(too_big)))

    reader, writer = await upgraded(port)
    tiny = [masked_frame(0x1, b"a", fin=False)]
    tiny += [masked_frame(0x0, b"a", fin=False) for _ in range(100_000)]
    writer.write(b"".join([*tiny, masked_frame(0x0, b"a")]))
    started = time.monotonic()
    echoed = await asyncio.wait_for(reader.readexactly(100_012), 10)
    print(f"100,000 fragments: {len(echoed)} bytes echoed in {time.monotonic() - started:.2f} s")
    writer.close()

    reader, writer = await upgraded(port)
    writer.write(b"".join(masked_frame(0x9, b"p") for _ in range(50_000)))
    await asyncio.sleep(0.5)
    writer.close()
    print("ping flood: sent 50,000")

    async def one(i: int) -> object:
        try:
            return await websockets.connect(
                f"ws://127.0.0.1:{port}/room{i % 500}", proxy=None, open_timeout=30
            )
        except Exception as exc:  # counted below
            return exc

    started = time.monotonic()
    results = await asyncio.gather(*(one(i) for i in range(count)))
    opened = [r for r in results if isinstance(r, websockets.ClientConnection)]
    failed = [type(r).__name__ for r in results if isinstance(r, Exception)]
    print(f"{count} at once: {len(opened)} open in {time.monotonic() - started:.2f} s; {failed}")
    print(
        "healthz:",
        (await raw(port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")).partition(
            b"\r\n\r\n"
        )[2],
    )
    if opened:
        await opened[0].send("still alive")
        print("relayed:", await asyncio.wait_for(opened[0].recv(), 5))
    await asyncio.gather(*(ws.close() for ws in opened), return_exceptions=True)


if __name__ == "__main__":
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    connections = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    asyncio.run(asyncio.wait_for(main(int(sys.argv[1]), connections), 120))
