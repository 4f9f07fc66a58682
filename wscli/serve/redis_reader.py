"""The Redis backplane's reading side: the rooms read here, their cursors, the blocking reads,
and what an entry read means (duplicate, lost messages, this instance's own batch).

A room is read from its cursor (the last entry seen) while it has a client here. On a
single Redis rooms are read in groups of at most :data:`GROUP_ROOMS`, one blocking
``XREAD`` per group on a connection of its own: a message in one room re-issues one
group's read, so the bytes a read costs do not grow with the rooms read (keys are of fixed
length, see :mod:`wscli.serve.redis_wire`). When a group's set of rooms changes, its read
is restarted with ``CLIENT UNBLOCK``. On a Redis Cluster each room has its own blocking
read (a multi-key XREAD must stay in one hash slot).

Each entry's header is checked against a :class:`~wscli.serve.redis_outbox.Ledger`: a
batch read twice (a retried append) is skipped, and a jump in an instance's message count
means Redis lost messages (a failover before replication, or trimming while this instance
was away): counted, logged, and the room's clients are told some may be missing. After a
reconnection, the first entry still in each stream is compared with the last one seen, for
the same reason.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from wscli.serve.backplane import Receiver
from wscli.serve.redis_link import Session, Tasks
from wscli.serve.redis_outbox import Batch, Ledger, Outbox
from wscli.serve.redis_wire import (
    StreamId,
    entry_fields,
    format_id,
    parse_header,
    parse_id,
    room_bytes,
    stream_key,
    unpack_messages,
)

BLOCK_MS = 1000  # a blocking read returns empty after this long (and proves the link alive)
READ_COUNT = 32  # stream entries per room per read
GROUP_ROOMS = 64  # rooms per blocking read on a single Redis
UNBLOCK_TRIES = 20  # CLIENT UNBLOCK attempts, 5 ms apart, after a group's rooms changed
TRIM_CHECKS = 256  # rooms checked for trimmed entries per pipeline after a reconnection

Emit = Callable[[str, str], None]


class Group:
    """Rooms read by one blocking XREAD (single Redis)."""

    __slots__ = ("client_id", "generation", "keys", "name", "read_generation", "wake")

    def __init__(self, name: str) -> None:
        self.name = name
        self.keys: dict[bytes, str] = {}  # key -> room
        self.client_id: int | None = None
        self.generation = 0  # bumped when its rooms change
        self.read_generation = -1  # the generation the pending XREAD was built for
        self.wake = asyncio.Event()


class Reader:
    """The rooms this instance reads, and what it does with what it reads."""

    def __init__(
        self,
        *,
        prefix: str,
        instance: str,
        outbox: Outbox,
        emit: Emit,
        receiver: Callable[[], Receiver],
        progress: Callable[[], None],
    ) -> None:
        self.prefix = prefix
        self.instance = instance
        self.outbox = outbox
        self.emit = emit
        self.receiver = receiver
        self.progress = progress  # after own batches were read back (backpressure)
        self.cursors: dict[str, StreamId] = {}  # rooms read: the last id seen
        self.anchored: set[str] = set()  # rooms whose cursor is an entry known to exist
        self.ledger = Ledger()
        self.lost_messages = 0  # messages other instances wrote that never arrived here
        self.lost_own = 0  # messages of this instance Redis lost before others read them
        self.gaps = 0  # times entries were found missing (some may be missing)
        self.malformed = 0
        self.reads = 0  # stream entries read (for /metrics)
        self.in_flight: dict[str, float] = {}  # commands in flight: when they are due
        # Rooms just added whose entries up to an id are still to be read: then what to do.
        self.settling: dict[str, tuple[StreamId, Callable[[], None]]] = {}
        self._groups: dict[str, Group] = {}
        self._group_of: dict[str, Group] = {}
        self._next_group = 0
        self._session: Session | None = None
        self._tasks: Tasks | None = None

    # The session's reads

    def start(self, session: Session, tasks: Tasks) -> None:
        """Read every room again (a new session): one task per group, or per room."""
        self._session, self._tasks = session, tasks
        self._groups.clear()
        self._group_of.clear()
        for room in self.cursors:
            self._place(room)

    def stop(self) -> None:
        """The session ended (its tasks are cancelled by the backplane): rooms still to be
        read up to an id are let go with what was read (nothing more comes for now)."""
        self._session = self._tasks = None
        self.in_flight.clear()
        settling, self.settling = self.settling, {}
        for _, then in settling.values():
            then()

    def after_reading(self, room: str, until: StreamId, then: Callable[[], None]) -> None:
        """Call ``then`` once ``room``'s entries up to ``until`` were read and delivered
        (at once when the cursor is there already or nothing can be read now). Bounded:
        a read that finds nothing newer for the room (entries trimmed or expired) ends
        the wait too."""
        cursor = self.cursors.get(room)
        if cursor is None or cursor >= until or self._session is None:
            then()
        else:
            self.settling[room] = (until, then)

    def _settled(self, room: str, read_all: bool) -> None:
        """``room``'s cursor moved, or a read found nothing newer (``read_all``)."""
        waiting = self.settling.get(room)
        if waiting is None:
            return
        cursor = self.cursors.get(room)
        if read_all or cursor is None or cursor >= waiting[0]:
            del self.settling[room]
            waiting[1]()

    def add(self, room: str, cursor: StreamId, anchored: bool) -> None:
        """Read ``room`` from after ``cursor`` from now on."""
        self.cursors[room] = cursor
        if anchored:
            self.anchored.add(room)
        if self._session is not None:
            self._place(room)

    def remove(self, room: str) -> None:
        """Stop reading ``room`` (its group's read restarts without it)."""
        if self.cursors.pop(room, None) is None:
            return
        self.anchored.discard(room)
        self.settling.pop(room, None)
        self.ledger.forget(room)
        self.outbox.forget_room(room)
        tasks = self._tasks
        group = self._group_of.pop(room, None)
        if tasks is None:
            return
        if group is None:
            tasks.cancel(f"room\0{room}")
            return
        group.keys.pop(stream_key(self.prefix, room), None)
        group.generation += 1
        if not group.keys:
            del self._groups[group.name]
            tasks.cancel(group.name)  # its connection closes with it
        elif self._session is not None and group.client_id is not None:
            tasks.spawn(f"unblock\0{group.name}", self._unblock(self._session, group))

    @property
    def groups(self) -> int:
        return len(self._groups)

    def _place(self, room: str) -> None:
        session, tasks = self._session, self._tasks
        assert session is not None and tasks is not None
        if session.cluster:
            tasks.spawn(f"room\0{room}", self._read_room(session, room))
            return
        group = next((g for g in self._groups.values() if len(g.keys) < GROUP_ROOMS), None)
        if group is None:
            self._next_group += 1
            group = Group(f"group\0{self._next_group}")
            self._groups[group.name] = group
            tasks.spawn(group.name, self._read_group(session, group))
        group.keys[stream_key(self.prefix, room)] = room
        self._group_of[room] = group
        group.generation += 1
        group.wake.set()
        if group.client_id is not None:
            tasks.spawn(f"unblock\0{group.name}", self._unblock(session, group))

    async def _unblock(self, session: Session, group: Group) -> None:
        """UNBLOCK the group's XREAD so it starts over with the new set. Until the reader has
        built a read for the current set, retry briefly: an UNBLOCK can overtake the XREAD
        it is meant for (they travel on two connections)."""
        loop = asyncio.get_running_loop()
        name = f"unblock\0{group.name}"
        try:
            for _ in range(UNBLOCK_TRIES):
                if group.read_generation == group.generation or group.client_id is None:
                    return
                self.in_flight[name] = loop.time()
                unblocked = await session.client.client_unblock(group.client_id)
                self.in_flight.pop(name, None)
                if unblocked:
                    return
                await asyncio.sleep(0.005)
        finally:
            self.in_flight.pop(name, None)

    async def _read_group(self, session: Session, group: Group) -> None:
        """Single Redis: one blocking XREAD over the group's rooms, on its own connection."""
        try:
            await self._read_group_on(session, group)
        finally:
            self.in_flight.pop(group.name, None)

    async def _read_group_on(self, session: Session, group: Group) -> None:
        loop = asyncio.get_running_loop()
        self.in_flight[group.name] = loop.time()  # connecting: due at once, like a command
        link = await session.open_reader()
        group.client_id = link.client_id
        self.in_flight.pop(group.name, None)
        try:
            while True:
                keys = list(group.keys.items())
                group.read_generation = group.generation
                if not keys:
                    group.wake.clear()
                    await group.wake.wait()
                    continue
                ids = [format_id(self.cursors[room]) for _, room in keys]
                self.in_flight[group.name] = loop.time() + BLOCK_MS / 1000
                reply = await link.call(
                    "XREAD", "COUNT", READ_COUNT, "BLOCK", BLOCK_MS, "STREAMS",
                    *(key for key, _ in keys), *ids,
                )  # fmt: skip
                self.in_flight.pop(group.name, None)
                for key, entries in reply or ():
                    room = group.keys.get(key)
                    if room is not None:
                        self.consume(room, entries)
                if self.settling:
                    # A read returns every stream of it with newer entries: one it did not
                    # return had none (its awaited entries are gone).
                    answered = {key for key, _ in reply or ()}
                    for key, room in keys:
                        if key not in answered:
                            self._settled(room, read_all=True)
                if reply:
                    await _fan_out_first()
        finally:
            group.client_id = None
            await session.close_reader(link)

    async def _read_room(self, session: Session, room: str) -> None:
        """Redis Cluster: one blocking XREAD per room (keys of one read share a slot)."""
        loop = asyncio.get_running_loop()
        key = stream_key(self.prefix, room)
        name = f"room\0{room}"
        try:
            while True:
                cursor = self.cursors.get(room)
                if cursor is None:
                    return
                self.in_flight[name] = loop.time() + BLOCK_MS / 1000
                reply = await session.client.xread(
                    {key: format_id(cursor)}, count=READ_COUNT, block=BLOCK_MS
                )
                self.in_flight.pop(name, None)
                for _, entries in reply or ():
                    self.consume(room, entries)
                if not reply:
                    self._settled(room, read_all=True)
                else:
                    await _fan_out_first()
        finally:
            self.in_flight.pop(name, None)

    # After a reconnection

    async def check_trimmed(self, session: Session) -> None:
        """Compare the first entry still in each stream read here with the last one seen:
        newer means entries were trimmed (or the stream expired) while this instance was
        away: some messages may be missing."""
        rooms = [r for r in self.cursors if r in self.anchored]
        for start in range(0, len(rooms), TRIM_CHECKS):
            chunk = rooms[start : start + TRIM_CHECKS]
            replies = await session.pipeline(
                [("XRANGE", stream_key(self.prefix, room), "-", "+", "COUNT", 1) for room in chunk]
            )
            for room, first in zip(chunk, replies, strict=True):
                cursor = self.cursors.get(room)
                if cursor is None or room not in self.anchored:
                    continue
                oldest = parse_id(first[0][0]) if first else None
                if oldest is None or oldest > cursor:
                    self._gap(room, 0, "trimmed or expired while this instance was away")

    # What was read

    def consume(self, room: str, entries: list[Any]) -> None:
        """Deliver the new entries of ``room``'s stream, in order."""
        cursor = self.cursors.get(room)
        if cursor is None:
            return  # no longer read here
        found: list[Any] = []
        for raw_id, raw_fields in entries:
            entry = parse_id(raw_id)
            if entry <= cursor:
                continue  # read before (a read built for an older set of rooms)
            cursor = entry
            self.reads += 1
            found += self.accept(room, raw_fields)
        if found:
            self.receiver().deliver_many(room, found)
        self.cursors[room] = cursor
        self.anchored.add(room)
        self.progress()
        self._settled(room, read_all=False)

    def accept(self, room: str, raw_fields: Any) -> list[Any]:
        """The messages of one entry this instance should deliver: none for a duplicate, for
        its own batch already delivered during an outage, or for a foreign entry."""
        try:
            fields = entry_fields(raw_fields)
            instance, seq, pos, delivered = parse_header(fields[b"h"])
            if fields[b"r"] != room_bytes(room):
                raise ValueError("an entry of another room")
            batch = self.outbox.mine.get(seq) if instance == self.instance else None
            if batch is not None and batch.room == room:
                # This instance's own batch, still held: its messages as accepted, not
                # unpacked again (the same bytes: a batch takes no more messages once it
                # is sent). Unpacking costs about 3 µs per message, more than half of what
                # reading a batch costs the publishing instance (cProfile of a fan-out).
                messages: list[Any] = batch.messages
            else:
                messages = unpack_messages(fields[b"d"])
        except (KeyError, ValueError) as exc:
            self.malformed += 1
            if self.malformed == 1:
                self.emit("malformed", f"ignoring a foreign entry in a room stream: {exc}")
            return []
        missing = self.ledger.check(room, instance, seq, pos, len(messages))
        if missing is None:
            return []
        if instance == self.instance:
            lost = self._lost_own(room, seq)
            if batch is not None:
                self.outbox.done(batch)
                delivered = batch.local
            if delivered:
                return lost
            return lost + messages if lost else messages
        elif missing:
            self.lost_messages += missing
            self._gap(room, missing, f"{missing} messages of instance {instance} lost by Redis")
        return messages

    def _lost_own(self, room: str, seq: int) -> list[Any]:
        """Batches of this instance appended before ``seq`` and never read back: Redis lost
        them (confirmed, then a failover before replication). Its own clients get them now
        (returned, to be delivered before the batch read), in order; the other instances
        never will: counted and logged."""
        lost: list[Batch] = []
        for batch in self.outbox.mine.values():  # by seq: only older ones are looked at
            if batch.seq >= seq:
                break
            if batch.room == room and batch.appended:
                lost.append(batch)
        if not lost:
            return []
        count = 0
        again: list[Any] = []
        for batch in lost:
            self.outbox.done(batch)
            count += len(batch.messages)
            if not batch.local:
                again += batch.messages
        self.lost_own += count
        self.gaps += 1
        self.emit(
            "lost-messages",
            f"{count} messages appended by this instance were lost by Redis before the "
            "other instances read them (a failover before replication?)",
        )
        return again

    def _gap(self, room: str, count: int, why: str) -> None:
        self.gaps += 1
        self.emit("missing", f"{why}; some messages may be missing in a room")
        self.receiver().lost(room, count)

    def describe(self) -> dict[str, int]:
        """Counts for ``/healthz``."""
        return {
            "rooms_read": len(self.cursors),
            "read_groups": len(self._groups),
            "reads": self.reads,
            "lost_messages": self.lost_messages + self.lost_own,
            "gaps": self.gaps,
            "malformed": self.malformed,
        }


async def _fan_out_first() -> None:
    """Let the hub write what was just delivered before the next read is sent.

    The hub writes to its clients on the loop's next turn (``call_soon``); yielding once
    puts that before the next XREAD. Sent first, the read wakes Redis, which on a busy core
    takes the CPU from this instance in the middle of its fan-out: every instance and Redis
    share one core in ``benchmarks/multi_instance.py``.
    """
    await asyncio.sleep(0)


async def cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel ``tasks`` and wait for them (their errors were reported already)."""
    for task in tasks:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(*tasks, return_exceptions=True)
