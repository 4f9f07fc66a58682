"""One direction of a relayed connection: frames from one endpoint to the other, with the
message faults of that direction applied in order.

Without delay, jitter or throttle a frame is forwarded as soon as it is parsed (the fast
path); otherwise it waits in a queue served by one task, in order, each at its due time.
The queue counts bytes: past ``--max-queue`` the source stops being read, so a slow or
delayed direction slows its sender instead of filling memory.
"""

from __future__ import annotations

import asyncio
import collections
from typing import TYPE_CHECKING

from websockets.frames import Close, Frame, Opcode

from wscli.proxy.endpoint import Endpoint
from wscli.proxy.faults import DirectionFaults, Way

if TYPE_CHECKING:
    from wscli.proxy.pair import Pair

SHOWN_PREFIX = 4096  # bytes of a message kept for the terminal view
MAX_FORWARDED_PINGS = 16  # payloads of forwarded pings remembered, to swallow their pongs

# An action to perform on the destination: (opcode, payload, fin) or a Close.
Action = tuple[Opcode, bytes, bool] | Close


class Lane:
    """Frames received by ``source`` and sent by ``dest`` (``way``: up or down)."""

    def __init__(
        self, pair: Pair, way: Way, source: Endpoint, dest: Endpoint, faults: DirectionFaults
    ) -> None:
        self.pair = pair
        self.way = way
        self.source = source
        self.dest = dest
        self.faults = faults
        self.timed = pair.config.faults.shapes_time
        self.queue: collections.deque[tuple[float, Action, int]] = collections.deque()
        self.queued_bytes = 0
        self.last_due = 0.0
        self.pump: asyncio.Task[None] | None = None
        self.close_forwarded = False
        # The message being received: its type, whether it is dropped, what is shown.
        self.kind = ""
        self.dropping = False
        self.parts: list[bytes] = []
        self.kept = 0
        self.length = 0
        self.delay: float | None = None
        # Pings this lane forwarded: the far side's pong to them is not passed back, as
        # the proxy (an endpoint itself, RFC 6455 §5.5.2) has answered them already.
        self.forwarded_pings: collections.deque[bytes] = collections.deque(
            maxlen=MAX_FORWARDED_PINGS
        )
        self.reverse: Lane | None = None

    # Receiving

    def frames(self, frames: list[Frame]) -> None:
        """Handle the frames just parsed from ``source``, then write what is ready."""
        for frame in frames:
            self.frame(frame)
        if not self.close_forwarded and not self.source.is_open():
            # The source failed (protocol error, too big: the proxy closed it) or ended
            # without a close frame: tell the other side the same way.
            self._source_ended()
        self.dest.flush()

    def frame(self, frame: Frame) -> None:
        opcode, data = frame.opcode, frame.data
        if type(data) is not bytes:
            data = bytes(data)
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            self.kind = "text" if opcode is Opcode.TEXT else "binary"
            self.dropping = self.faults.drop()
            self.parts, self.kept, self.length = [], 0, 0
            self.delay = self.faults.delay() if self.timed and not self.dropping else None
        if opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
            self._data(opcode, data, frame.fin)
        elif opcode is Opcode.PING:
            self.pair.display.message(self.pair.id, self.way, "ping", data, len(data))
            if self.reverse is not None:
                self.reverse.forwarded_pings.append(data)
            self.schedule((Opcode.PING, data, True), len(data))
        elif opcode is Opcode.PONG:
            self.pair.display.message(self.pair.id, self.way, "pong", data, len(data))
            if data in self.forwarded_pings:
                self.forwarded_pings.remove(data)
            else:
                self.schedule((Opcode.PONG, data, True), len(data))
        elif opcode is Opcode.CLOSE:
            close = self.source.protocol.close_rcvd
            assert close is not None
            self.pair.close_seen(close, self.source.side)
            self.close_forwarded = True
            self.schedule(close, 0)

    def _data(self, opcode: Opcode, data: bytes, fin: bool) -> None:
        self.length += len(data)
        full = self.pair.display.full_payloads
        if full or self.kept < SHOWN_PREFIX:
            piece = data if full else data[: SHOWN_PREFIX - self.kept]
            self.parts.append(piece)
            self.kept += len(piece)
        if not self.dropping:
            self.schedule((opcode, data, fin), len(data))
        if fin:
            payload = b"".join(self.parts)
            self.parts = []
            pid = self.pair.id
            self.pair.display.message(pid, self.way, self.kind, payload, self.length, self.delay)
            if self.dropping:
                self.pair.display.fault(pid, "drop", self.way, type=self.kind, length=self.length)
            else:
                self.pair.message_relayed()

    def _source_ended(self) -> None:
        self.close_forwarded = True
        protocol = self.source.protocol
        if protocol.close_sent is not None and protocol.close_rcvd is None:
            # The proxy closed the source itself (e.g. 1009 for a message over --max-size).
            self.pair.close_seen(protocol.close_sent, "proxy")
            self.schedule(protocol.close_sent, 0)

    # Sending

    def schedule(self, action: Action, size: int) -> None:
        """Send ``action`` now (fast path) or queue it for its due time."""
        if not self.timed and not self.queue and not self.pair.stalled:
            self.perform(action)
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        due = now
        if isinstance(action, tuple) and action[0] in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
            due += self.delay or 0.0
        due = self.faults.send_time(max(due, self.last_due), size)
        self.last_due = due
        self.queue.append((due, action, size))
        self.queued_bytes += size
        if self.queued_bytes > self.pair.config.max_queue:
            self.source.hold("queue")
        if self.pump is None or self.pump.done():
            self.pump = loop.create_task(self._pump())

    async def _pump(self) -> None:
        loop = asyncio.get_running_loop()
        while self.queue and not self.dest.lost:
            due, action, size = self.queue[0]
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            await self.dest.writable.wait()
            if self.pair.stalled or self.dest.lost:
                return
            self.queue.popleft()
            self.queued_bytes -= size
            if self.queued_bytes <= self.pair.config.max_queue // 2:
                self.source.release("queue")
            self.perform(action)
            self.dest.flush()

    def perform(self, action: Action) -> None:
        """Put one frame (or the close) on ``dest``'s protocol; the caller flushes."""
        dest = self.dest
        if not dest.is_open():
            return
        protocol = dest.protocol
        if isinstance(action, Close):
            if action.code == 1005:
                protocol.send_close()
            elif action.code in (1006, 1015):  # cannot be sent: mirror it as a drop
                dest.abort()
            else:
                protocol.send_close(action.code, action.reason)
            self.pair.closing()
            return
        opcode, data, fin = action
        if opcode is Opcode.TEXT:
            protocol.send_text(data, fin)
        elif opcode is Opcode.BINARY:
            protocol.send_binary(data, fin)
        elif opcode is Opcode.CONT:
            protocol.send_continuation(data, fin)
        elif opcode is Opcode.PING:
            protocol.send_ping(data)
        elif opcode is Opcode.PONG:
            protocol.send_pong(data)
