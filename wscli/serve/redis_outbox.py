"""The Redis backplane's books (pure, no I/O): what waits to be appended, what is in flight,
what this instance appended but has not read back yet, and what each reader has seen.

Every message accepted from a local client is held here from :meth:`Outbox.add` until the
instance has read it back from the room's stream (or delivered it itself while Redis was
unreachable and appended it afterwards), and it is counted in :attr:`Outbox.bytes` all that
time: that count is the backlog the backpressure and ``/healthz`` speak of.
"""

from __future__ import annotations

import collections
import time

from wscli.serve.redis_wire import pack_message
from wscli.serve.room_message import RoomMessage

BATCH_BYTES = 256 * 2**10  # a stream entry carries chat messages up to about this size
MAX_INSTANCES_PER_ROOM = 256  # reader state kept per room (instances that wrote into it)


class Subscribe:
    """Queued when a room gets its first local client at ``since_ms`` (our clock): read
    its tail (the shared history) and read the room from there on. ``token`` tells this
    subscription from a later one of the same room; ``answered`` is set once the hub had
    its history (e.g. empty, because Redis was lost before the read)."""

    __slots__ = ("answered", "room", "since_ms", "token")

    def __init__(self, room: str, token: int, since_ms: int) -> None:
        self.room = room
        self.token = token
        self.since_ms = since_ms
        self.answered = False


class Batch:
    """Messages of one room accepted during one round trip: one stream entry.

    Each message is packed once, when it is accepted; ``pos`` (the instance's count of
    messages appended to the room before this batch) is given when the batch is first sent.
    """

    __slots__ = (
        "appended",
        "created",
        "local",
        "messages",
        "packed",
        "pos",
        "room",
        "senders",
        "seq",
        "size",
    )

    def __init__(self, seq: int, room: str, local: bool) -> None:
        self.seq = seq
        self.room = room
        self.local = local  # already delivered to this instance's clients
        self.appended = False
        self.created = time.monotonic()
        self.size = 0  # packed bytes
        self.pos: int | None = None
        self.messages: list[tuple[RoomMessage, str | None]] = []
        self.packed: list[bytes] = []
        self.senders: dict[str | None, int] = {}


Op = Subscribe | Batch


class Outbox:
    """Batches from :meth:`add` to the moment they are read back (see the module doc)."""

    def __init__(self) -> None:
        self.queue: collections.deque[Op] = collections.deque()  # not yet sent, in order
        self.mine: dict[int, Batch] = {}  # every batch not yet read back, by seq (= order)
        self.bytes = 0
        self.by_sender: collections.Counter[str | None] = collections.Counter()
        self._open: dict[str, Batch] = {}  # per room, the queued batch still taking messages
        self._seq = 0

    def add(self, room: str, message: RoomMessage, sender: str | None, local: bool) -> Batch:
        """Queue ``message``; it joins the room's open batch when that has room for it."""
        packed = pack_message(message, sender)
        size = len(packed)
        batch = self._open.get(room)
        if batch is None or batch.local != local or batch.size + size > BATCH_BYTES:
            self._seq += 1
            batch = Batch(self._seq, room, local)
            self._open[room] = batch
            self.queue.append(batch)
            self.mine[batch.seq] = batch
        batch.messages.append((message, sender))
        batch.packed.append(packed)
        batch.size += size
        batch.senders[sender] = batch.senders.get(sender, 0) + size
        self.by_sender[sender] += size
        self.bytes += size
        return batch

    def subscribe(self, op: Subscribe) -> None:
        """Queue ``op``; later messages of its room go in batches after it."""
        self._open.pop(op.room, None)
        self.queue.append(op)

    def close_batches(self) -> None:
        """Messages accepted from now on start new batches (e.g. after Redis came back)."""
        self._open.clear()

    def take(self, max_bytes: int) -> list[Op]:
        """The next ops to send, about ``max_bytes`` of messages (at least one op)."""
        ops: list[Op] = []
        size = 0
        while self.queue and (not ops or size < max_bytes):
            op = self.queue.popleft()
            if isinstance(op, Batch):
                if self._open.get(op.room) is op:
                    del self._open[op.room]
                size += op.size
            ops.append(op)
        return ops

    def requeue(self, ops: list[Op]) -> None:
        """Put ops whose pipeline failed back at the front, in their order."""
        self.queue.extendleft(reversed(ops))

    def done(self, batch: Batch) -> None:
        """``batch`` needs no more tracking (read back, or its room is not read here)."""
        if self.mine.pop(batch.seq, None) is None:
            return
        size = 0
        for sender, count in batch.senders.items():
            size += count
            left = self.by_sender[sender] - count
            if left > 0:
                self.by_sender[sender] = left
            else:
                del self.by_sender[sender]
        self.bytes -= size

    def forget_room(self, room: str) -> None:
        """``room`` is no longer read here: stop waiting for its appended batches."""
        for batch in [b for b in self.mine.values() if b.room == room and b.appended]:
            self.done(batch)

    def unread_before(self, room: str, seq: int) -> list[Batch]:
        """This instance's appended batches of ``room`` older than ``seq`` and not read back:
        once a later one is read, Redis lost them (a failover before replication)."""
        return [b for b in self.mine.values() if b.room == room and b.appended and b.seq < seq]

    def undelivered(self) -> list[Batch]:
        """Batches this instance's clients have not received yet, in order."""
        return [batch for batch in self.mine.values() if not batch.local]

    def lag(self, limit: int = 20) -> dict[str, float]:
        """Per room, seconds since its oldest batch not yet read back (worst ``limit``)."""
        now = time.monotonic()
        oldest: dict[str, float] = {}
        for batch in self.mine.values():
            oldest.setdefault(batch.room, batch.created)
        worst = sorted(oldest.items(), key=lambda item: item[1])[:limit]
        return {room: round(now - created, 3) for room, created in worst}


class Ledger:
    """Per room read here, what was read from each instance: the last batch SEQ (a repeat is
    a retried append, skipped) and the next POS expected (a jump is messages Redis lost)."""

    def __init__(self) -> None:
        self._rooms: dict[str, dict[str, tuple[int, int]]] = {}

    def check(self, room: str, instance: str, seq: int, pos: int, count: int) -> int | None:
        """None for a batch read before (skip it); else how many messages of ``instance``
        are missing before it (0: none), and the batch is recorded as read."""
        seen = self._rooms.setdefault(room, {})
        last = seen.get(instance)
        missing = 0
        if last is not None:
            if seq <= last[0]:
                return None
            # A lower POS: the instance started counting this room afresh (its books
            # dropped the room); only a jump forward means lost messages.
            missing = max(0, pos - last[1])
        elif len(seen) >= MAX_INSTANCES_PER_ROOM:
            del seen[next(iter(seen))]  # the instance heard from least recently
        seen.pop(instance, None)
        seen[instance] = (seq, pos + count)
        return missing

    def forget(self, room: str) -> None:
        self._rooms.pop(room, None)
