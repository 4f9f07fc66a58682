"""`wscli serve --socketio --redis`: Socket.IO events cross instances like raw messages —
name, arguments and attachments to the Socket.IO clients of the other instance, the
``message`` event's first argument to its raw clients, the acknowledgement back on the
sender's instance once the event came back from the room's stream."""

from __future__ import annotations

import asyncio
import re

from websockets.asyncio.client import connect

from tests.serve.socketio.sio_helpers import binary, node_clients
from tests.support import requires, scaled
from tests.support.redis_process import RedisServer
from tests.support.serve_process import ServeProcess

pytestmark = requires("redis-server", "node", "npm")


async def test_events_cross_instances_through_redis() -> None:
    redis = RedisServer()
    try:
        first = ServeProcess("--socketio", "--redis", redis.url)
        second = ServeProcess("--socketio", "--redis", redis.url)
        try:
            async with (
                node_clients() as node,
                connect(second.ws_url("/lab"), proxy=None, open_timeout=scaled(5)) as raw,
            ):
                node.connect("a", f"{first.http_url}lab", transports=["polling"])
                node.connect("b", f"{second.http_url}lab", transports=["websocket"])
                await node.next("a", "connect")
                await node.next("b", "connect")
                await asyncio.sleep(scaled(0.5))  # both instances read the room's stream
                node.emit("a", "typing", {"who": "a"}, 2)
                assert await node.events("b", 1) == [["typing", [{"who": "a"}, 2]]]
                node.emit("a", "message", binary(b"\x00\x01"), "more", ack=True)
                expected = ["message", [binary(b"\x00\x01"), "more"]]
                assert await node.events("b", 1) == [expected]
                assert await asyncio.wait_for(raw.recv(), scaled(10)) == b"\x00\x01"
                ack = await node.next("a", "ack")
                # Its id is the sending instance's (the one every instance shows); one client
                # of the room on the first instance: the sender.
                assert ack["args"][0]["recipients"] == 1
                assert re.fullmatch(r"[0-9a-f]{12}\.[0-9]+", ack["args"][0]["id"])
                # The sender got its events back too (echo), in the stream's order.
                assert await node.events("a", 2) == [["typing", [{"who": "a"}, 2]], expected]
                await raw.send("from the raw client")
                for name in ("a", "b"):
                    assert await node.events(name, 1) == [["message", ["from the raw client"]]]
        finally:
            first.stop()
            second.stop()
    finally:
        redis.stop()
