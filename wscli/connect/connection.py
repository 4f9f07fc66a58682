"""The :class:`~websockets.asyncio.client.ClientConnection` wscli opens: through connect()'s
documented ``create_connection`` hook, it reports ping and pong frames (--show-ping-pong),
hands a redirect answer back instead of letting websockets follow it (see
:mod:`wscli.connect.redirects`), and stops reading while the server leaves too much of what
wscli sent unread (a ping flood), using asyncio's public Protocol/Transport methods.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any, cast

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus
from websockets.frames import Frame, Opcode
from websockets.protocol import Event

from wscli.core.events import Direction, FrameKind

# Called for each ping/pong frame: (kind, direction, payload, rtt in seconds or None).
FrameObserver = Callable[[FrameKind, Direction, bytes, float | None], None]


REDIRECT_STATUSES = frozenset({300, 301, 302, 303, 307, 308})


class RedirectAnswer(Exception):
    """The server answered the upgrade with a redirect (3xx and a Location header)."""

    def __init__(self, status: int, reason: str, location: str) -> None:
        super().__init__(f"HTTP {status} {reason}".strip())
        self.status = status
        self.reason = reason
        self.location = location


OUTGOING_LIMIT = 1 << 20
"""Bytes of our own frames waiting for the server to read them before wscli stops reading.

websockets answers every ping with a pong at once, whatever the server reads: a server
flooding pings while never reading made the unsent pongs grow without bound (RSS 40 → 233
MB in 14 s). Past this limit wscli stops reading (the server's frames wait in the
kernel, which makes the server block in turn) until the backlog drains; if it does not
drain within --ping-timeout, wscli drops the connection.
"""


PINGS_KEPT = 64
"""Unanswered pings remembered for their round-trip time."""


class ObservedConnection(ClientConnection):
    """A client connection that reports ping and pong frames (for --show-ping-pong) and
    stops reading while the server leaves too much of ours unread (see OUTGOING_LIMIT).

    Built by websockets through connect()'s documented ``create_connection`` hook; the
    flow control uses asyncio's public Protocol/Transport methods.
    """

    frame_observer: FrameObserver | None = None
    stall_timeout: float | None = 20.0
    reading_paused: bool = False
    stalled: bool = False
    """True once wscli dropped the connection because the server stopped reading."""
    _stall_timer: asyncio.TimerHandle | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Our own record of the pings we sent (payload -> time), for a pong's round trip:
        # the library keeps one too, but not as public API.
        self.pings_sent: dict[bytes, float] = {}

    async def handshake(self, *args: Any, **kwargs: Any) -> None:
        """The opening handshake; a 3xx answer becomes :class:`RedirectAnswer`.

        websockets would follow redirects itself, silently, to any host, with every -H
        header: credentials sent where the user never said. An exception that is not
        InvalidStatus makes connect() hand the answer back instead;
        :mod:`wscli.connect.redirects` follows it only with -L.
        """
        try:
            await super().handshake(*args, **kwargs)
        except InvalidStatus as exc:
            response = exc.response
            if response.status_code in REDIRECT_STATUSES and "Location" in response.headers:
                raise RedirectAnswer(
                    response.status_code, response.reason_phrase, response.headers["Location"]
                ) from exc
            raise

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Our own handle on the asyncio transport (the Protocol callback's argument), for
        # flow control through asyncio's public Transport methods.
        super().connection_made(transport)
        # A stream transport (uvloop's does not subclass asyncio.Transport: no isinstance).
        self.socket_transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.reading_paused or self.socket_transport.is_closing():
            return
        if self.socket_transport.get_write_buffer_size() > OUTGOING_LIMIT:
            self.reading_paused = True
            self.socket_transport.pause_reading()
            if self.stall_timeout is not None:
                self._stall_timer = asyncio.get_running_loop().call_later(
                    self.stall_timeout, self._give_up
                )

    def resume_writing(self) -> None:
        super().resume_writing()
        if self.reading_paused and not self.socket_transport.is_closing():
            self.reading_paused = False
            if self._stall_timer is not None:
                self._stall_timer.cancel()
                self._stall_timer = None
            self.socket_transport.resume_reading()

    def _give_up(self) -> None:
        if self.reading_paused:
            self.stalled = True
            self.socket_transport.abort()  # a close frame would only queue behind the backlog

    def process_event(self, event: Event) -> None:
        observer = self.frame_observer
        if observer is not None and isinstance(event, Frame) and self.response is not None:
            if event.opcode is Opcode.PING:
                observer("ping", "in", bytes(event.data), None)
            elif event.opcode is Opcode.PONG:
                data = bytes(event.data)
                sent = self.pings_sent.pop(data, None)
                rtt = asyncio.get_running_loop().time() - sent if sent is not None else None
                observer("pong", "in", data, rtt)
        super().process_event(event)

    async def ping(self, data: Any = None) -> Any:
        payload = os.urandom(4) if data is None else data
        raw = payload.encode() if isinstance(payload, str) else bytes(payload)
        sent = self.pings_sent
        if len(sent) >= PINGS_KEPT:  # unanswered pings: forget the oldest
            del sent[next(iter(sent))]
        sent[raw] = asyncio.get_running_loop().time()
        waiter = await super().ping(payload)
        observer = self.frame_observer
        if observer is not None:
            observer("ping", "out", raw, None)
        return waiter
