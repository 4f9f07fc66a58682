"""One TCP connection of a relayed pair, driven by websockets' sans-I/O protocol.

The proxy sees frames, not messages: each side is a plain :class:`asyncio.Protocol` over a
:class:`websockets.server.ServerProtocol` (facing the client) or a
:class:`websockets.client.ClientProtocol` (facing the upstream), so pings, pongs, close
frames and fragments are all visible and forwarded as they come, and reading can be paused
for backpressure, a stall or the handshake.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, cast

from websockets.client import ClientProtocol
from websockets.protocol import State
from websockets.server import ServerProtocol

if TYPE_CHECKING:
    from wscli.proxy.lane import Lane
    from wscli.proxy.pair import Pair


class Endpoint(asyncio.Protocol):
    """The client-facing or upstream-facing connection of a :class:`Pair`.

    ``holds`` names why reading is paused (``handshake``, ``backpressure``, ``queue``); it
    resumes when none is left. ``writable`` is cleared while the transport's write buffer
    is above ``--max-queue``.
    """

    def __init__(self, pair: Pair, side: str, protocol: ServerProtocol | ClientProtocol) -> None:
        self.pair = pair
        self.side = side  # "client" or "server"
        self.protocol = protocol
        self.transport: asyncio.Transport | None = None
        self.holds: set[str] = set()
        self.writable = asyncio.Event()
        self.writable.set()
        self.lost = False
        self.discarding = False  # stalled: bytes read are thrown away, nothing answered
        self.lane: Lane | None = None  # the direction this endpoint's frames go, once open

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=self.pair.config.max_queue)
        if self.holds:
            transport.pause_reading()
        self.pair.connection_made(self)

    def data_received(self, data: bytes) -> None:
        if self.discarding:
            return
        self.protocol.receive_data(data)
        self.pair.received(self)
        self.pair.display.flush()  # the lines of one read reach stdout together, at once

    def eof_received(self) -> bool | None:
        if not self.discarding:
            self.protocol.receive_eof()
            self.pair.received(self)
            self.pair.display.flush()
        return None  # let the transport close

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.writable.set()  # wake a waiting pump: it finds the connection gone
        self.pair.connection_lost(self)

    def pause_writing(self) -> None:
        self.writable.clear()
        self.pair.peer(self).hold("backpressure")

    def resume_writing(self) -> None:
        self.writable.set()
        self.pair.peer(self).release("backpressure")

    # Flow control

    def hold(self, reason: str) -> None:
        """Stop reading for ``reason`` (other reasons may hold it too)."""
        if not self.holds and self.transport is not None and not self.lost:
            self.transport.pause_reading()
        self.holds.add(reason)

    def release(self, reason: str) -> None:
        """Drop ``reason``; reading resumes when no reason is left."""
        if reason not in self.holds:
            return
        self.holds.discard(reason)
        if not self.holds and self.transport is not None and not self.lost:
            self.transport.resume_reading()

    # Output

    def flush(self) -> None:
        """Write what the protocol has to send; an empty chunk means end of stream."""
        transport = self.transport
        if transport is None or self.lost:
            self.protocol.data_to_send()  # nowhere to go
            return
        pending: list[bytes] = []
        for data in self.protocol.data_to_send():
            if data:
                pending.append(data)
                continue
            if pending:
                transport.write(b"".join(pending))
                pending = []
            if transport.can_write_eof():
                transport.write_eof()
            else:
                transport.close()
        if pending:
            # One write (one system call) for every frame parsed from one read.
            transport.write(b"".join(pending) if len(pending) > 1 else pending[0])

    def abort(self) -> None:
        """Drop the TCP connection at once (the peer sees no close frame: 1006)."""
        if self.transport is not None and not self.lost:
            self.transport.abort()

    def is_open(self) -> bool:
        """True while frames may still be sent on this side."""
        return not self.lost and self.protocol.state is State.OPEN
