"""The Redis backplane's writing side: one pipeline at a time carries, in order, this
instance's appends and the first read of each newly joined room, plus the pages of the
longer reads (a room's shared history, a resuming client's gap) and the deletions that keep
this instance within its bounds (:mod:`wscli.serve.redis_retention`).

- **Appends.** Each batch is one ``XADD MAXLEN ~ CAP``; each room appended to in a
  pipeline gets one ``PEXPIRE`` (``--redis-stream-ttl``) in the same pipeline.
- **A room's first join.** ``XREVRANGE`` of its newest entries, in order with the appends:
  the newest entry is where the room is read from (so a message this instance accepts after
  the join is read, never taken for history), and the entries are the first page of its
  history.
- **Pages.** Histories and gaps are read newest first, a page per pipeline, and stop at the
  history's length, at ``--max-queue`` bytes, or at the stream cap: the bytes a join makes
  Redis send are bounded, whatever is in the stream.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any

from wscli.serve.backplane import Receiver
from wscli.serve.redis_link import Command, Session
from wscli.serve.redis_outbox import BATCH_BYTES, Outbox, Subscribe
from wscli.serve.redis_reader import Reader
from wscli.serve.redis_retention import Eviction, StreamBook
from wscli.serve.redis_wire import (
    StreamId,
    entry_fields,
    make_header,
    pack_batch,
    parse_header,
    parse_id,
    room_bytes,
    stream_key,
    unpack_messages,
)
from wscli.serve.room_message import RoomMessage

MAX_SEQ = 2**64 - 1
FIRST_PAGE = 1  # entries in a first page: the sizes of the next ones follow from it
MAX_PAGE = 64
HEARTBEAT = 1.0  # seconds without work before the writer PINGs Redis
MAX_GAP_READS = 64  # gaps of resuming clients read at once
KEY_CACHE = 4096  # stream keys remembered (each is a BLAKE2b of the room)
# Entries stamped up to this long before a room's first join here are delivered to its
# clients as live (read before they are let in), not taken for history: a client may act
# on its 101 before this instance notes the join (a loaded machine deschedules the server
# between the two). With 3 busy loops beside 3 instances on 2 cores, 2 of 15 runs lost
# another instance's first message without it, 0 of 40 with it. Short, as what it reads
# is read whole (the history is read within --max-queue).
JOIN_SLACK_MS = 100


class Read:
    """A read of one room's stream, newest entry first, one page per pipeline."""

    __slots__ = ("before", "bytes", "done", "entries", "found", "largest", "room", "seen")

    def __init__(self, room: str) -> None:
        self.room = room
        self.before: bytes | None = None  # the oldest id read: the next page is older
        self.bytes = 0
        self.entries = 0
        self.largest = 1
        self.done = False
        self.found: list[tuple[StreamId, list[RoomMessage], tuple[str, int, int, int]]] = []
        self.seen: set[tuple[str, int]] = set()  # batches read (a retried append: once)

    def page(self, budget: int, cap: int) -> int:
        """Entries to ask for next: few enough that a page stays near the byte budget."""
        if not self.entries:
            return FIRST_PAGE
        left = max(budget - self.bytes, 0)
        return max(1, min(MAX_PAGE, cap - self.entries, left // self.largest))

    def take(self, reply: list[Any], room_raw: bytes, asked: int, budget: int, cap: int) -> bool:
        """Add a page (newest first); True when the read reached the stream's start."""
        for raw_id, raw_fields in reply:
            self.before = raw_id
            self.entries += 1
            try:
                fields = entry_fields(raw_fields)
            except ValueError:
                continue
            size = len(fields.get(b"d", b""))
            self.bytes += size
            self.largest = max(self.largest, size)
            try:
                instance, seq, pos, _ = parse_header(fields[b"h"])
                if fields[b"r"] != room_raw:
                    raise ValueError("an entry of another room")
                messages = [m for m, _ in unpack_messages(fields[b"d"])]
            except (KeyError, ValueError):
                continue  # the live reader logs foreign entries
            if (instance, seq) in self.seen:
                continue
            self.seen.add((instance, seq))
            self.found.append((parse_id(raw_id), messages, (instance, seq, pos, len(messages))))
        return len(reply) < asked

    def over(self, budget: int, cap: int) -> bool:
        return self.bytes >= budget or self.entries >= cap

    def oldest_first(self) -> list[RoomMessage]:
        return [m for _, messages, _ in reversed(self.found) for m in messages]


class TailRead(Read):
    """The shared history of a room joined here (see :class:`Subscribe`)."""

    __slots__ = ("anchored", "cursor", "newest", "op", "wanted")

    def __init__(self, op: Subscribe, wanted: int) -> None:
        super().__init__(op.room)
        self.op = op
        self.wanted = wanted  # messages of history (notices are not replayed)
        self.cursor: StreamId = (0, 0)
        self.newest: StreamId = (0, 0)  # the stream's newest entry at the first page
        self.anchored = False

    def enough(self) -> bool:
        count = sum(1 for _, ms, _ in self.found for m in ms if not m.notice)
        return count >= self.wanted


class GapRead(Read):
    """What followed the message ``since`` in a room (a resuming client's gap)."""

    __slots__ = ("since",)

    def __init__(self, room: str, since: str) -> None:
        super().__init__(room)
        self.since = since

    def gap(self) -> list[RoomMessage] | None:
        """The messages after ``since``, oldest first; None when it was not read."""
        after: list[RoomMessage] = []  # newest first
        for _, messages, _ in self.found:  # newest entry first
            for message in reversed(messages):
                if message.id == self.since:
                    after.reverse()
                    return after
                after.append(message)
        return None


class Writer:
    """Appends, first reads of joined rooms, pages of longer reads and evictions, one
    pipeline at a time (see the module doc)."""

    def __init__(
        self,
        *,
        prefix: str,
        instance: str,
        outbox: Outbox,
        book: StreamBook,
        reader: Reader,
        receiver: Callable[[], Receiver],
        subscriptions: dict[str, int],
        history: int,
        replay_bytes: int,
        cap: int,
        ttl_ms: int,
        progress: Callable[[], None],
    ) -> None:
        self.prefix = prefix
        self.instance = instance
        self.outbox = outbox
        self.book = book
        self.reader = reader
        self.receiver = receiver
        self.subscriptions = subscriptions  # room -> token of its current subscription
        self.history = history
        self.replay_bytes = replay_bytes
        self.cap = cap
        self.ttl_ms = ttl_ms
        self.progress = progress  # after each pipeline (backpressure, bound reports)
        self.tails: dict[str, TailRead] = {}  # histories with pages still to read
        self.gaps: dict[tuple[str, str], GapRead] = {}
        self.evictions: list[Eviction] = []  # decided, not yet carried out
        self.wake = asyncio.Event()
        self.in_flight_since: float | None = None  # when the pipeline in flight was due
        self.appends = 0  # stream entries appended (for /metrics)
        self.idle_since: float | None = None  # waiting for work since then
        self._keys: dict[str, bytes] = {}  # stream keys of recent rooms (a hash each)

    # Requests

    def resume(self, room: str, since: str) -> bool:
        """Read what followed ``since`` in ``room`` (answered through ``gap_loaded``); False
        when :data:`MAX_GAP_READS` are under way already (each costs up to --max-queue of
        reading: a crowd of resuming clients, or a hostile one, cannot queue more)."""
        if (room, since) not in self.gaps and len(self.gaps) >= MAX_GAP_READS:
            return False
        self.gaps.setdefault((room, since), GapRead(room, since))
        self.wake.set()
        return True

    def forget(self, room: str) -> None:
        """``room`` is no longer read here: its pending reads are moot."""
        self.tails.pop(room, None)
        for key in [k for k in self.gaps if k[0] == room]:
            del self.gaps[key]

    def abandon(self) -> None:
        """The session ended: answer every request the hub waits for (without what could
        not be read); rooms whose first read was done are read again after reconnecting."""
        receiver = self.receiver()
        tails, self.tails = self.tails, {}
        for tail in tails.values():
            self._finish(tail, complete=False)
        for op in self.outbox.queue:
            if isinstance(op, Subscribe) and not op.answered:
                op.answered = True
                receiver.history_loaded(op.room, [], False)
        gaps, self.gaps = self.gaps, {}
        for read in gaps.values():
            receiver.gap_loaded(read.room, read.since, None)

    def heartbeat(self, now: float) -> None:
        """Wake the loop when it has been idle for :data:`HEARTBEAT` (it then PINGs):
        called by the backplane's watchdog, so an idle wait needs no timer of its own."""
        if self.idle_since is not None and now - self.idle_since > HEARTBEAT:
            self.wake.set()

    def _key(self, room: str) -> bytes:
        key = self._keys.get(room)
        if key is None:
            if len(self._keys) >= KEY_CACHE:
                self._keys.clear()
            key = self._keys[room] = stream_key(self.prefix, room)
        return key

    # The pipeline loop

    async def run(self, session: Session) -> None:
        """Send queued work in order, each wake-up's worth in one pipeline; one pipeline in
        flight at a time (the next one fills meanwhile)."""
        loop = asyncio.get_running_loop()
        outbox = self.outbox
        while True:
            self.evictions.extend(self.book.evictions())
            reads: list[Read] = [*self.tails.values(), *self.gaps.values()]
            if not outbox.queue and not reads and not self.evictions:
                if self.idle_since is not None and loop.time() - self.idle_since > HEARTBEAT:
                    # Idle: a PING proves the link alive (a loss is noticed, and a late
                    # answer is overdue, even when no room is read here).
                    self.in_flight_since = loop.time()
                    await session.pipeline([("PING",)])
                    self.in_flight_since = None
                    self.idle_since = loop.time()
                    continue
                if self.idle_since is None:
                    self.idle_since = loop.time()
                self.wake.clear()
                await self.wake.wait()  # woken by work, or by the watchdog's heartbeat()
                continue
            self.idle_since = None
            evictions, self.evictions = self.evictions, []
            ops = outbox.take(4 * BATCH_BYTES) if outbox.queue else []
            commands: list[Command] = []
            for eviction in evictions:
                key = stream_key(self.prefix, eviction.room)
                if eviction.keep:
                    commands.append(("XTRIM", key, "MAXLEN", "~", eviction.keep))
                else:
                    commands.append(("UNLINK", key))
            asked = [self._ask_page(commands, read) for read in reads]
            expire: dict[str, bytes] = {}
            for op in ops:
                key = self._key(op.room)
                if isinstance(op, Subscribe):
                    commands.append(("XREVRANGE", key, "+", "-", "COUNT", FIRST_PAGE))
                    continue
                if op.pos is None:
                    op.pos = self.book.number(op.room, len(op.messages))
                header = make_header(self.instance, op.seq, op.pos, op.local)
                commands.append(
                    (
                        "XADD", key, "MAXLEN", "~", self.cap, "*",
                        b"h", header, b"r", room_bytes(op.room), b"d", pack_batch(op.packed),
                    )
                )  # fmt: skip
                expire[op.room] = key
            for key in expire.values():
                commands.append(("PEXPIRE", key, self.ttl_ms))
            self.in_flight_since = loop.time()
            try:
                results = await session.pipeline(commands)
            except BaseException:
                outbox.requeue(ops)  # retried after the reconnect (duplicates are skipped)
                self.evictions[:0] = evictions
                raise
            finally:
                self.in_flight_since = None
            replies = iter(results[len(evictions) :])
            for read, count in zip(reads, asked, strict=True):
                self._took_page(read, next(replies), count)
            for op in ops:
                reply = next(replies)
                if isinstance(op, Subscribe):
                    self._first_page(session, op, reply)
                    continue
                op.appended = True
                self.appends += 1
                self.book.appended(op.room, op.size)
                if op.room not in self.reader.cursors:
                    outbox.done(op)  # not read here: nothing more to wait for
            self.progress()

    def _ask_page(self, commands: list[Command], read: Read) -> int:
        count = read.page(self.replay_bytes, self.cap)
        top = b"(" + read.before if read.before is not None else b"+"
        commands.append(("XREVRANGE", stream_key(self.prefix, read.room), top, "-", "COUNT", count))
        return count

    def _first_page(self, session: Session, op: Subscribe, reply: list[Any]) -> None:
        """A joined room's newest entries: where it is read from, and its history's start.

        The room is read from its first join on, in Redis's clock (corrected by the offset
        measured at connect, less its possible error): a message appended by another
        instance after the join but before this read is delivered, not taken for history.
        Should that estimate be late, the newest entry now still bounds it, so nothing this
        instance appends after the join (queued behind this read) is taken for history.
        """
        if self.subscriptions.get(op.room) != op.token:
            return  # every client left (and maybe a new subscription is queued)
        tail = TailRead(op, self.history)
        asked = FIRST_PAGE
        at_start = len(reply) < asked
        newest = parse_id(reply[0][0]) if reply else (0, 0)
        # Entries of the millisecond before the join (in Redis's clock, less the error of
        # its estimate and JOIN_SLACK_MS) are the last ones surely older than the join.
        skew = session.clock_offset_ms - session.clock_error_ms - JOIN_SLACK_MS
        joined = math.floor(op.since_ms + skew)
        tail.cursor = min(newest, (joined - 1, MAX_SEQ))
        tail.newest = newest
        older = [entry for entry in reply if parse_id(entry[0]) <= tail.cursor]
        tail.anchored = bool(older)
        tail.take(older, room_bytes(op.room), asked, self.replay_bytes, self.cap)
        if not older and reply:
            tail.before = reply[-1][0]  # the next page goes on from there
        if op.answered or not self.history or at_start or tail.enough():
            self._finish(tail, complete=at_start)
        elif tail.over(self.replay_bytes, self.cap):
            self._finish(tail, complete=False)
        else:
            self.tails[op.room] = tail

    def _took_page(self, read: Read, reply: list[Any], asked: int) -> None:
        at_start = read.take(reply, room_bytes(read.room), asked, self.replay_bytes, self.cap)
        over = read.over(self.replay_bytes, self.cap)
        if isinstance(read, TailRead):
            if self.tails.get(read.room) is not read:
                return
            if at_start or over or read.enough():
                del self.tails[read.room]
                self._finish(read, complete=at_start)
            return
        assert isinstance(read, GapRead)
        if self.gaps.get((read.room, read.since)) is not read:
            return
        gap = read.gap()
        if gap is not None or at_start or over:
            del self.gaps[(read.room, read.since)]
            self.receiver().gap_loaded(read.room, read.since, gap)

    def _finish(self, tail: TailRead, complete: bool) -> None:
        """Start reading the room after its first page, and give the hub its history."""
        op = tail.op
        if self.subscriptions.get(op.room) != op.token:
            return
        for _, _, (instance, seq, pos, count) in reversed(tail.found):
            self.reader.ledger.check(op.room, instance, seq, pos, count)
        self.reader.add(op.room, tail.cursor, tail.anchored)
        if not op.answered:
            op.answered = True
            room, history, receiver = op.room, tail.oldest_first(), self.receiver()
            # Entries after the cursor that were there at the first page (appended around
            # the join) are read as live first, and held for the waiting clients: a resume
            # finds its whole gap before it says complete, a join sees no message twice.
            self.reader.after_reading(
                room, tail.newest, lambda: receiver.history_loaded(room, history, complete)
            )
