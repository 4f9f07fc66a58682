"""The naive Python baseline for benchmarks/fanout.py: a websockets.broadcast chat server.

What most people write first: one handler per client, ``async for`` over its messages and
``websockets.asyncio.server.broadcast`` to every connected client (sender included). Each
delivery is its own frame encoding and write. permessage-deflate is off, like the others.

Usage: python benchmarks/naive_server.py [PORT]   (127.0.0.1; prints "naive listening on PORT")
"""

from __future__ import annotations

import asyncio
import signal
import sys

from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

CLIENTS: set[ServerConnection] = set()


async def handler(websocket: ServerConnection) -> None:
    """Relay every message of this client to all clients."""
    CLIENTS.add(websocket)
    try:
        async for message in websocket:
            broadcast(CLIENTS, message)
    except ConnectionClosed:
        pass
    finally:
        CLIENTS.discard(websocket)


async def main(port: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with serve(handler, "127.0.0.1", port, compression=None) as server:
        bound = server.sockets[0].getsockname()[1]
        print(f"naive listening on {bound}", flush=True)
        await stop


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
