"""The one WebSocket adapter of `wscli connect`: a client connection engine
(:class:`~wscli.wire.client.ClientEngine`) as the pipe, the prompt and Socket.IO use it —
an awaitable receive queue, sends with backpressure, pings with their round trip, a close
that waits for the end, and what ended the connection.

It is the engine's owner: received messages wait in a bounded queue (reading pauses while
it is full, so a consumer that stops — a blocked stdout — slows the server instead of
filling memory); ping and pong frames go to an observer (--show-ping-pong, --json); the
keepalive and the ping-flood guard are the engine's (see :data:`OUTGOING_LIMIT`).
"""

from __future__ import annotations

import asyncio
import collections
import itertools
from collections.abc import Callable, Sequence
from typing import cast

from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.http11 import Response

from wscli.core.clientoptions import ConnectOptions
from wscli.core.errors import ClosedAbnormally
from wscli.core.events import ClosedBy, Direction, FrameKind
from wscli.core.headers import extension_names
from wscli.wire.client import ClientEngine
from wscli.wire.keepalive import KEEPALIVE_TIMEOUT_REASON, Keepalive
from wscli.wire.owner import Ending, Owner, Settings
from wscli.wire.stream import HOLD_CONSUMER, WRITE_PAUSED

FrameObserver = Callable[[FrameKind, Direction, bytes, float | None], None]
"""Called for each ping/pong frame: (kind, direction, payload, round trip in s or None)."""

OUTGOING_LIMIT = 1 << 20
"""Bytes of our own frames waiting for the server to read them before wscli stops reading.

A server flooding pings while never reading made the unsent pongs grow without bound (RSS
40 → 233 MB in 14 s). Past this limit wscli stops reading (the server's frames wait in the
kernel, which makes the server block in turn) until the backlog drains; if it does not drain
within --ping-timeout, wscli drops the connection.
"""

QUEUE_MESSAGES = 4096
QUEUE_BYTES = 1 << 20
"""Received messages (or bytes of them) waiting for the consumer before reading pauses; it
resumes below a quarter. One socket read holds thousands of short messages: a smaller
queue would pause and resume reading for every read."""


class WebSocketChannel(Owner[ClientEngine]):
    """One WebSocket connection, from the upgrade request to the end."""

    name = "websocket"

    def __init__(
        self, options: ConnectOptions, protocol: ClientProtocol, observer: FrameObserver | None
    ) -> None:
        self.observer = observer
        self.close_timeout = options.close_timeout
        self.ping_timeout = options.ping_timeout
        self.keepalive: Keepalive | None = None
        if options.ping_interval is not None:
            self.keepalive = Keepalive(
                options.ping_interval, options.ping_timeout, self._pinged, lambda exc: None
            )
        settings = Settings(
            limit=OUTGOING_LIMIT,
            stall_timeout=options.ping_timeout,
            close_timeout=options.close_timeout,
            keepalive=self.keepalive,
        )
        self.engine = ClientEngine(self, settings, protocol, direct=True, max_size=options.max_size)
        loop = asyncio.get_running_loop()
        self._answer: asyncio.Future[None] = loop.create_future()
        self._ended: asyncio.Future[None] = loop.create_future()
        self.messages: collections.deque[str | bytes] = collections.deque()
        self._queued = 0
        self._waiter: asyncio.Future[None] | None = None
        self._drain: asyncio.Future[None] | None = None
        self._pongs: dict[bytes, asyncio.Future[float]] = {}

    # What the link shows

    @property
    def response(self) -> Response | None:
        return self.engine.response

    @property
    def subprotocol(self) -> str | None:
        response = self.engine.response
        return response.headers.get("Sec-WebSocket-Protocol") if response is not None else None

    @property
    def extensions(self) -> list[str]:
        response = self.engine.response
        if response is None:
            return []
        return extension_names(response.headers.get_all("Sec-WebSocket-Extensions"))

    @property
    def response_headers(self) -> list[tuple[str, str]]:
        response = self.engine.response
        return list(response.headers.raw_items()) if response is not None else []

    @property
    def is_open(self) -> bool:
        """True while no close has begun (by either side) and the connection stands."""
        return self.engine.is_open

    def closed_info(self) -> tuple[int | None, str, ClosedBy]:
        """Close code (None: no close frame), reason and who closed first."""
        ending = self.engine.ending()
        if ending.rcvd is not None:
            by: ClosedBy = "server" if ending.by == "peer" else "client"
            return ending.rcvd.code, ending.rcvd.reason, by
        if ending.sent is not None:  # we closed (e.g. 1009 for a message over --max-size)
            return ending.sent.code, ending.sent.reason, "client"
        return None, "", None

    def check_stalled(self) -> None:
        """Raise :class:`ClosedAbnormally` if wscli dropped the connection because the
        server stopped reading what wscli sent (e.g. flooding pings, reading no pongs), or
        answered no ping within --ping-timeout: the client's verdict, not a server fault."""
        sent = self.engine.ending().sent
        if sent is not None and (sent.code, sent.reason) == (1011, KEEPALIVE_TIMEOUT_REASON):
            within = "" if self.ping_timeout is None else f" {self.ping_timeout:g} s"
            raise ClosedAbnormally(
                f"no pong within --ping-timeout{within}",
                "wscli closed the connection (1011)",
                hint="a stalled server or network; raise --ping-timeout (0: never)",
                code=1011,
                reason=KEEPALIVE_TIMEOUT_REASON,
            )
        if self.engine.stalled:
            raise ClosedAbnormally(
                "wscli dropped the connection",
                f"the server read none of our last {OUTGOING_LIMIT // 1024} KiB "
                f"(pongs and messages) within --ping-timeout",
                hint="a server flooding pings without reading the pongs?",
            )

    # Talking

    async def handshake(self) -> None:
        """Wait for the server's answer; raise why it refused (InvalidHandshake, InvalidStatus
        with the response, or the OSError that ended the connection)."""
        await self._answer

    async def recv(self) -> str | bytes:
        """The next message (text as str); raises ConnectionClosed once the connection is
        closed and every message before the end was received."""
        messages = self.messages
        if not messages:
            await self._arrival()
        message = messages.popleft()
        self._queued -= len(message)
        if len(messages) < QUEUE_MESSAGES // 4 and self._queued < QUEUE_BYTES // 4:
            self.engine.release(HOLD_CONSUMER)
        return message

    async def recv_many(self) -> list[str | bytes]:
        """Every message received so far (at least one), as :meth:`recv` gives them: a
        pipe writes one burst at a time."""
        messages = self.messages
        if not messages:
            await self._arrival()
        batch = list(messages)
        messages.clear()
        self._queued = 0
        self.engine.release(HOLD_CONSUMER)
        return batch

    async def send(self, data: str | bytes) -> None:
        """Send one message (text for str); it goes out with those of the same loop
        iteration. Waits while the server reads too slowly."""
        await self._ready()
        if isinstance(data, str):
            self.engine.send_text(data.encode("utf-8", "surrogatepass"))
        else:
            self.engine.send_binary(data)
        if self.engine.flags & WRITE_PAUSED:
            await self._drained()

    async def send_all(self, payloads: Sequence[str | bytes]) -> None:
        """Send messages in order, in one write."""
        await self._ready()
        engine = self.engine
        kinds = set(map(type, payloads))
        if kinds == {str}:  # a pipe's lines: all text
            texts = cast(Sequence[str], payloads)
            engine.send_messages([data.encode("utf-8", "surrogatepass") for data in texts], True)
        elif kinds == {bytes}:
            engine.send_messages(cast(Sequence[bytes], payloads), False)
        else:  # runs of one kind go to the engine together
            for text, run in itertools.groupby(payloads, lambda data: isinstance(data, str)):
                if text:
                    encoded = [cast(str, data).encode("utf-8", "surrogatepass") for data in run]
                    engine.send_messages(encoded, True)
                else:
                    engine.send_messages(cast(list[bytes], list(run)), False)
        if engine.flags & WRITE_PAUSED:
            await self._drained()

    async def ping(self, payload: bytes = b"") -> float:
        """Send a ping (4 random bytes unless ``payload``); its round trip in seconds."""
        await self._ready()
        data = self.engine.ping(payload or None)
        waiter = self._pongs.get(data)
        if waiter is None:
            waiter = self._pongs[data] = asyncio.get_running_loop().create_future()
        return await asyncio.shield(waiter)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close (the closing handshake, bounded by the close timeout) and wait for the end."""
        engine = self.engine
        if engine.is_open:
            engine.close(code, reason)
        elif not self._answer.done():
            engine.abort()
        try:
            await asyncio.wait_for(asyncio.shield(self._ended), self.close_timeout + 1)
        except (TimeoutError, asyncio.TimeoutError):
            engine.abort()
            await asyncio.wait_for(asyncio.shield(self._ended), 1)

    async def wait_closed(self) -> None:
        """Wait until the connection has ended (whoever ended it)."""
        await asyncio.shield(self._ended)

    # The engine's events

    def opened(self, conn: ClientEngine) -> None:
        if not self._answer.done():
            self._answer.set_result(None)
        if self.keepalive is not None:
            self.keepalive.start()

    def rejected(self, conn: ClientEngine, response: Response | None) -> None:
        if not self._answer.done():
            failure = conn.protocol.handshake_exc if conn.protocol is not None else None
            self._answer.set_exception(failure or InvalidHandshake("no valid answer"))

    def message_received(self, conn: ClientEngine, data: bytes, text: bool) -> None:
        self.messages_received(conn, (data.decode() if text else data,))

    def messages_received(self, conn: ClientEngine, messages: Sequence[str | bytes]) -> None:
        queue = self.messages
        queue.extend(messages)
        self._queued += sum(map(len, messages))
        if len(queue) >= QUEUE_MESSAGES or self._queued >= QUEUE_BYTES:
            conn.hold(HOLD_CONSUMER)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def ping_observed(self, conn: ClientEngine, data: bytes, sent: bool) -> None:
        if self.observer is not None:
            self.observer("ping", "out" if sent else "in", data, None)

    def pong_observed(self, conn: ClientEngine, data: bytes, rtt: float | None) -> None:
        if self.observer is not None:
            self.observer("pong", "in", data, rtt)
        if data in self._pongs:
            # A pong answers its ping and every earlier one (RFC 6455 §5.5.3).
            for payload in list(self._pongs):
                waiter = self._pongs.pop(payload)
                if not waiter.done():
                    waiter.set_result(rtt or 0.0)
                if payload == data:
                    break

    def writable(self, conn: ClientEngine, writable: bool) -> None:
        drain = self._drain
        if writable and drain is not None and not drain.done():
            drain.set_result(None)

    def closed(self, conn: ClientEngine, ending: Ending) -> None:
        if self.keepalive is not None:
            self.keepalive.stop()
        if not self._answer.done():
            failure = conn.protocol.handshake_exc if conn.protocol is not None else None
            lost = ending.exc or ConnectionResetError("connection lost during the handshake")
            self._answer.set_exception(failure or lost)
            self._answer.exception()  # retrieved: nobody may wait for it any more
        self._ended.set_result(None)
        for wakeup in (self._waiter, self._drain):
            if wakeup is not None and not wakeup.done():
                wakeup.set_result(None)
        for pong in self._pongs.values():
            if not pong.done():
                pong.set_exception(self._closed_error())
                pong.exception()  # retrieved: a ping nobody waits for any more is no error
        self._pongs.clear()

    # Helpers

    def _pinged(self) -> tuple[ClientEngine, ...]:
        """What the keepalive pings: this connection, while open."""
        return (self.engine,) if self.engine.is_open else ()

    async def _arrival(self) -> None:
        """Wait until a message is queued; raise ConnectionClosed once none can come."""
        while not self.messages:
            if self._ended.done():
                raise self._closed_error()
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    async def _ready(self) -> None:
        """Raise ConnectionClosed (once the connection has ended) unless it is open."""
        if not self.engine.is_open:
            try:
                await asyncio.wait_for(asyncio.shield(self._ended), self.close_timeout + 1)
            except (TimeoutError, asyncio.TimeoutError):
                self.engine.abort()  # the close's own deadline should have ended it already
                await asyncio.shield(self._ended)
            raise self._closed_error()

    async def _drained(self) -> None:
        if self._drain is None or self._drain.done():
            self._drain = asyncio.get_running_loop().create_future()
        await self._drain
        if not self.engine.is_open and self._ended.done():
            raise self._closed_error()

    def _closed_error(self) -> ConnectionClosed:
        ending = self.engine.ending()
        rcvd, sent = ending.rcvd, ending.sent
        order = ending.peer_first if rcvd is not None and sent is not None else None
        return ConnectionClosed(rcvd, sent, order)
