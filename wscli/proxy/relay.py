"""One direction of a relayed connection: frames from one engine to the other, with the
message faults of that direction applied in order.

Without delay, jitter or throttle a frame is handed to the other engine as soon as it is
parsed (the fast path: the engine writes everything of one loop iteration in one write);
otherwise it waits in a queue served by one task, in order, each at its due time. Queued
bytes are reserved on the destination engine, so they count in its byte budget, and past
``--max-queue`` the source stops being read (until half of it is sent): a slow or delayed
direction slows its sender instead of filling memory.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
from collections.abc import Sequence
from typing import Protocol

from websockets.frames import Close, Frame, Opcode

from wscli.proxy.config import ProxyConfig
from wscli.proxy.faults import DirectionFaults, Way
from wscli.proxy.output import Display, Relayed
from wscli.proxy.rules import Rule
from wscli.wire.engine import Engine
from wscli.wire.owner import parse_close
from wscli.wire.stream import HOLD_QUEUE

SHOWN_PREFIX = 4096  # bytes of a message kept for the terminal view
MAX_FORWARDED_PINGS = 16  # payloads of forwarded pings remembered, to swallow their pongs


@dataclasses.dataclass(frozen=True)
class Shown:
    """A whole message's line, queued behind its last frame: it is shown when the message
    has really been forwarded (or, when the connection ends first, marked as not)."""

    kind: str
    payload: bytes
    """What the display keeps of it (a prefix, or all of it for --json)."""
    length: int
    delay: float | None


# An action to perform on the destination: (opcode, payload, fin), a Close, or the line of
# a message whose frames went before it.
Action = tuple[Opcode, bytes, bool] | Close | Shown
_DATA = (Opcode.TEXT, Opcode.BINARY, Opcode.CONT)


class Conversation(Protocol):
    """What a relay tells its pair (wscli.proxy.pair.Pair)."""

    id: int
    config: ProxyConfig
    display: Display
    stalled: bool

    def close_seen(self, close: Close, by: str) -> None: ...

    def message_relayed(self, way: Way) -> None: ...

    def close_sent(self) -> None: ...


class Relay:
    """Frames received by ``source`` and sent by ``dest`` (``way``: up or down)."""

    def __init__(
        self,
        pair: Conversation,
        way: Way,
        source: Engine,
        dest: Engine,
        faults: DirectionFaults,
    ) -> None:
        self.pair = pair
        self.way = way
        self.side = "client" if way == "up" else "server"  # who sends what this relay reads
        self.source = source
        self.dest = dest
        self.faults = faults
        self.queue: collections.deque[tuple[float, Action, int]] = collections.deque()
        self.queued_bytes = 0
        self.last_due = 0.0
        self.pump: asyncio.Task[None] | None = None
        self.room = asyncio.Event()  # set while the destination takes more
        self.room.set()
        self.resumed = asyncio.Event()  # set unless the control API paused this direction
        self.resumed.set()
        self.close_forwarded = False
        # The message being received: its type, the rule dropping it, what is shown.
        self.kind = ""
        self.dropping: Rule | None = None
        self.unsent = False  # a frame of it found the destination closed
        self.parts: list[bytes] = []
        self.kept = 0
        self.length = 0
        self.delay: float | None = None
        # Pings this relay forwarded: the far side's pong to them is not passed back, as
        # the proxy (an endpoint itself, RFC 6455 §5.5.2) has answered them already.
        self.forwarded_pings: collections.deque[bytes] = collections.deque(
            maxlen=MAX_FORWARDED_PINGS
        )
        self.reverse: Relay | None = None

    # Receiving

    def frames(self, frames: Sequence[Frame]) -> None:
        """Relay the frames of one read of ``source``: what is ready goes out in one write."""
        for frame in frames:
            self.frame(frame)
        self.dest.flush()

    def frame(self, frame: Frame) -> None:
        """Relay one frame just parsed from ``source``."""
        opcode, data = frame.opcode, frame.data
        if type(data) is not bytes:
            data = bytes(data)
        display = self.pair.display
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            self.kind = "text" if opcode is Opcode.TEXT else "binary"
            plan = self.faults.message()
            self.dropping, self.delay = plan.dropped_by, plan.delay
            self.parts, self.kept, self.length = [], 0, 0
            self.unsent = False
        if opcode in _DATA:
            self._data(opcode, data, frame.fin)
        elif opcode is Opcode.PING:
            display.message(Relayed(self.pair.id, self.way, "ping", data, len(data)))
            if self.reverse is not None:
                self.reverse.forwarded_pings.append(data)
            self.schedule((Opcode.PING, data, True), len(data))
        elif opcode is Opcode.PONG:
            display.message(Relayed(self.pair.id, self.way, "pong", data, len(data)))
            if data in self.forwarded_pings:
                self.forwarded_pings.remove(data)
            else:
                self.schedule((Opcode.PONG, data, True), len(data))
        elif opcode is Opcode.CLOSE:
            close = parse_close(data)
            self.pair.close_seen(close, self.side)
            self.close_forwarded = True
            self.schedule(close, 0)

    def _data(self, opcode: Opcode, data: bytes, fin: bool) -> None:
        self.length += len(data)
        display = self.pair.display
        full = display.full_payloads
        if full or self.kept < SHOWN_PREFIX:
            piece = data if full else data[: SHOWN_PREFIX - self.kept]
            self.parts.append(piece)
            self.kept += len(piece)
        dropping = self.dropping
        if dropping is None:
            self.schedule((opcode, data, fin), len(data))
        if fin:
            payload = b"".join(self.parts)
            self.parts = []
            if dropping is None:
                self.schedule(Shown(self.kind, payload, self.length, self.delay), 0)
                return
            pid = self.pair.id
            display.message(Relayed(pid, self.way, self.kind, payload, self.length, None, False))
            display.fault(
                pid, "drop", self.way, type=self.kind, length=self.length, rule=dropping.id
            )

    def source_failed(self, close: Close) -> None:
        """The proxy closed the source itself (1009 for a message over --max-size, 1002 for
        a protocol error): the destination is told the same way."""
        if self.close_forwarded:
            return
        self.close_forwarded = True
        self.pair.close_seen(close, "proxy")
        self.schedule(close, 0)

    # Sending

    def schedule(self, action: Action, size: int) -> None:
        """Send ``action`` now (fast path) or queue it for its due time."""
        if (
            not self.queue
            and self.resumed.is_set()
            and not self.pair.stalled
            and not self.faults.timed
        ):
            self.perform(action)
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        due = now
        if (isinstance(action, tuple) and action[0] in _DATA) or isinstance(action, Shown):
            due += self.delay or 0.0
        due = self.faults.send_time(max(due, self.last_due), size)
        self.last_due = due
        self.queue.append((due, action, size))
        self.queued_bytes += size
        if not self.dest.lost:
            self.dest.reserve(size)
        if self.queued_bytes > self.pair.config.max_queue:
            self.source.hold(HOLD_QUEUE)
        if self.pump is None or self.pump.done():
            self.pump = loop.create_task(self._pump())

    async def _pump(self) -> None:
        loop = asyncio.get_running_loop()
        dest = self.dest
        while self.queue and not dest.lost:
            due, action, size = self.queue[0]
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            await self.resumed.wait()
            await self.room.wait()
            if self.pair.stalled or dest.lost:
                return
            self.queue.popleft()
            self.queued_bytes -= size
            dest.unreserve(size)
            if self.queued_bytes <= self.pair.config.max_queue // 2:
                self.source.release(HOLD_QUEUE)
            self.perform(action)

    def perform(self, action: Action) -> None:
        """Put one frame (or the close) on ``dest``; it goes out with this iteration's."""
        dest = self.dest
        if isinstance(action, Shown):
            self._show(action, forwarded=not self.unsent)
            return
        if not dest.is_open:
            if isinstance(action, tuple) and action[0] in _DATA:
                self.unsent = True
            return
        if isinstance(action, Close):
            if action.code == 1005:
                dest.close(None)
            elif action.code in (1006, 1015):  # cannot be sent: mirror it as a drop
                dest.abort()
            else:
                dest.close(action.code, action.reason)
            self.pair.close_sent()
            return
        opcode, data, fin = action
        dest.send_frame(opcode, data, fin)

    def _show(self, shown: Shown, forwarded: bool) -> None:
        pid = self.pair.id
        self.pair.display.message(
            Relayed(pid, self.way, shown.kind, shown.payload, shown.length, shown.delay, forwarded)
        )
        if forwarded:
            self.pair.message_relayed(self.way)

    def pause(self) -> None:
        """Hold this direction's messages (the control API): they wait in the queue, and
        past --max-queue the sender stops being read."""
        self.resumed.clear()

    def resume(self) -> None:
        """Send what was held, in order, then relay as before."""
        self.resumed.set()
        if self.queue and (self.pump is None or self.pump.done()):
            self.pump = asyncio.get_running_loop().create_task(self._pump())

    @property
    def paused(self) -> bool:
        return not self.resumed.is_set()

    def cancel(self) -> None:
        """The connection is over: stop the queue; the messages still in it are shown as
        not forwarded."""
        if self.pump is not None:
            self.pump.cancel()
        for _, action, _ in self.queue:
            if isinstance(action, Shown):
                self._show(action, forwarded=False)
        self.queue.clear()
