"""Redis Streams backplane: several `wscli serve` instances share their rooms, losing nothing.

Plugged into :class:`wscli.serve.hub.Hub` as its :class:`~wscli.serve.hub.Backplane`. Every
message a hub publishes is appended to its room's Redis Stream (``PREFIX:{ROOM}``, capped
with ``MAXLEN ~``; format in :mod:`wscli.serve.redis_wire`); each instance reads back the
streams of the rooms it has clients in and delivers what it reads, its own messages
included. Nothing is delivered locally first, so everyone in a room sees the stream's order,
and payloads travel byte for byte.

- **Batches.** What an instance accepts for a room during one round trip to Redis becomes one
  stream entry (cut at about 256 KiB); all rooms' entries go out in one pipeline, so Redis
  pays per batch, not per chat message.
- **Rooms on demand.** A room is read only while it has a local client
  (:meth:`RedisBackplane.subscribe`/:meth:`~RedisBackplane.unsubscribe`, called by the hub).
  A room is read from the moment its first client joined (in Redis's clock, whose offset is
  measured at connect with ``TIME``), so a message appended while the subscription is set
  up is not missed; what the stream holds before that moment is the shared ``--history``.
  On a single Redis one connection reads all rooms (``XREAD BLOCK`` over their keys;
  ``CLIENT UNBLOCK`` when the set changes); on a Redis Cluster (detected with ``INFO
  cluster``) each room has its own blocking read, since a multi-key XREAD must stay in one
  hash slot.
- **Nothing lost.** A message stays in the :class:`~wscli.serve.redis_outbox.Outbox` until
  this instance has read it back. After a connection loss the reader resumes from the last id
  it saw, and unconfirmed appends are retried; a batch appended twice is recognised by its
  ``INSTANCE:SEQ`` header and skipped everywhere.
- **Outage.** While Redis is unreachable the instance keeps serving its clients: what they
  send is delivered locally at once and kept (bounded by ``max_backlog_bytes``), then
  appended in order when Redis returns, marked so this instance does not deliver it twice.
  Reconnection uses capped exponential backoff with jitter.
- **Shutdown.** :meth:`RedisBackplane.drain` waits (bounded, ``DRAIN_TIMEOUT`` = 5 s) until
  every accepted message is in Redis and delivered locally; the server sends 1001 after it.
- **Backpressure.** While the backlog is above ``max_backlog_bytes`` the biggest producer is
  reported through ``on_pressure`` (the server stops reading from it); other clients'
  messages are never dropped and the backplane is never disconnected for it.

Redis unreachable at start raises :class:`~wscli.core.errors.ConnectFailed` (exit 3).
``redis`` (redis-py) is an optional dependency, imported only when a backplane starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from typing import Any

from wscli.core.errors import ConnectFailed
from wscli.core.url import redact_url
from wscli.serve.hub import Deliver, RoomMessage
from wscli.serve.message_id import stream_id
from wscli.serve.redis_link import Session, connect, load_redis
from wscli.serve.redis_outbox import BATCH_BYTES, Outbox, SeenBatches, Subscribe
from wscli.serve.redis_wire import (
    DEFAULT_PREFIX,
    StreamId,
    describe_error,
    error_hint,
    format_id,
    make_header,
    parse_header,
    parse_id,
    stream_key,
    unpack_messages,
)

__all__ = ["DEFAULT_PREFIX", "RedisBackplane"]

COMMAND_TIMEOUT = 5.0  # seconds for one pipeline of appends, or past a read's BLOCK time
BLOCK_MS = 2000  # a blocking read returns empty after this long (and proves the link alive)
READ_COUNT = 128  # stream entries per room per read
RECONNECT_FIRST = 0.25  # seconds before the first reconnection attempt (doubles each time)
RECONNECT_MAX = 5.0
DRAIN_TIMEOUT = 5.0  # SIGTERM waits at most this long for the backlog (see drain)
CLOSE_TIMEOUT = 2.0  # close() appends the last notices for at most this long
MAX_BACKLOG_BYTES = 64 * 2**20  # accepted, not yet read back; above it producers are slowed
UNBLOCK_TRIES = 20  # CLIENT UNBLOCK attempts, 5 ms apart, after the set of rooms changed
JOIN_MARGIN_MS = 10  # a room is read from this long before its first join (clock error)
MAX_SEQ = 2**64 - 1
STREAM_CAP = 1000  # entries kept per room stream (MAXLEN ~), at least 2 x --history

EventCallback = Callable[..., None]
"""Called like ``EventLog.emit``: ``on_event("backplane", state=..., detail=...)``."""

PressureCallback = Callable[[str, bool], None]
"""``on_pressure(sender_key, slow)``: stop (True) or resume (False) reading from a client."""


class RedisBackplane:
    """Carries a hub's messages through per-room Redis Streams (see the module doc).

    ``url`` is a redis-py URL (``redis://``, ``rediss://``, ``unix://``) of a single Redis or
    of any node of a Redis Cluster. ``prefix`` starts every key: deployments sharing a Redis
    use different prefixes. ``history`` is how many messages a room replays to newcomers
    (read from the stream, so every instance replays the same past). ``on_event`` receives
    the connection-state events (``lost``, ``restored``, ...) for the server's log.
    """

    def __init__(
        self,
        url: str,
        prefix: str = DEFAULT_PREFIX,
        *,
        history: int = 0,
        on_event: EventCallback | None = None,
        on_pressure: PressureCallback | None = None,
        max_backlog_bytes: int = MAX_BACKLOG_BYTES,
        stream_cap: int = STREAM_CAP,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.history = history
        self.max_backlog_bytes = max_backlog_bytes
        self.stream_cap = max(stream_cap, 2 * history + 16)
        self.instance = random.getrandbits(64).to_bytes(8, "big").hex()
        self.on_pressure = on_pressure
        self._on_event = on_event
        self._deliver: Deliver | None = None
        self._session: Session | None = None
        self._task: asyncio.Task[None] | None = None
        self._outbox = Outbox()
        self._seen = SeenBatches()
        self._subscribed: set[str] = set()  # rooms with local clients (the hub's view)
        self._cursors: dict[str, StreamId] = {}  # rooms being read: the last id seen
        self._rooms_by_key: dict[bytes, str] = {}
        self._lanes: dict[str, asyncio.Task[None]] = {}  # by room, or "\0" + role
        self._failed: asyncio.Future[BaseException | None] | None = None
        self._wake = asyncio.Event()
        self._rooms_changed = asyncio.Event()
        self._generation = 0  # bumped when the set of rooms read changes
        self._read_generation = -1  # the generation the pending XREAD was built for
        self._slowed: set[str] = set()
        self._clock_offset_ms = 0.0  # Redis's TIME minus ours, as last measured
        self._malformed_logged = False
        self._closing = False
        # For /metrics (plain integers): stream entries appended and read, connections lost.
        self.appends = 0
        self.reads = 0
        self.errors = 0

    @property
    def connected(self) -> bool:
        """True while messages go through Redis (False: this instance delivers locally)."""
        return self._session is not None

    @property
    def backlog_bytes(self) -> int:
        """Bytes of messages accepted here and not yet read back from Redis."""
        return self._outbox.bytes

    # Backplane interface

    def describe(self) -> dict[str, object]:
        """For /healthz: ``connected`` False while Redis is lost; the backlog; lag per room."""
        session = self._session
        return {
            "kind": "redis",
            "connected": session is not None,
            "cluster": bool(session and session.cluster),
            "prefix": self.prefix,
            "rooms_read": len(self._cursors),
            "backlog": {"batches": len(self._outbox.mine), "bytes": self._outbox.bytes},
            "lag": self._outbox.lag(),
            "appends": self.appends,
            "reads": self.reads,
            "errors": self.errors,
        }

    async def start(self, deliver: Deliver) -> None:
        """Connect (and learn whether it is a cluster); raise ConnectFailed when unreachable."""
        redis = load_redis()
        self._deliver = deliver
        try:
            self._session = await self._connect()
        except (OSError, asyncio.TimeoutError, redis.RedisError) as exc:
            raise ConnectFailed(
                f"cannot connect to Redis at {redact_url(self.url)}",
                describe_error(exc, redis),
                error_hint(exc, redis),
            ) from None
        self._task = asyncio.get_running_loop().create_task(self._run())

    def subscribe(self, room: str) -> bool:
        """``room`` got its first local client: read its stream from now on.

        Returns True: the room's history comes from the stream (delivered like messages,
        before any newer one), so the hub must not replay its own.
        """
        if room in self._subscribed:
            return True
        self._subscribed.add(room)
        since = int(time.time() * 1000 + self._clock_offset_ms) - JOIN_MARGIN_MS
        self._outbox.subscribe(room, since)
        self._wake.set()
        return True

    def unsubscribe(self, room: str) -> None:
        """``room`` lost its last local client: stop reading its stream."""
        self._subscribed.discard(room)
        self._stop_reading(room)

    def publish(self, room: str, message: RoomMessage, sender: str | None) -> None:
        """Queue ``message`` for its room's stream (never blocks); while Redis is lost, also
        deliver it locally at once."""
        assert self._deliver is not None, "backplane not started"
        local = self._session is None
        if local:
            self._deliver(room, message, sender)
        self._outbox.add(room, message, sender, local)
        self._wake.set()
        if self._outbox.bytes > self.max_backlog_bytes:
            self._apply_pressure()

    async def drain(self, timeout: float = DRAIN_TIMEOUT) -> bool:
        """Wait until every accepted message is in Redis and delivered here (True), or
        ``timeout`` seconds (False, logged)."""
        deadline = time.monotonic() + timeout
        while self._outbox.mine and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if self._outbox.mine:
            self._emit(
                "drain",
                f"{len(self._outbox.mine)} batches ({self._outbox.bytes} bytes) not confirmed "
                f"after {timeout:g} s",
            )
            return False
        return True

    async def close(self) -> None:
        """Append what is still queued (e.g. the last leave notices, briefly), disconnect."""
        deadline = time.monotonic() + CLOSE_TIMEOUT
        while self._outbox.mine and self._session is not None and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._stop_session()
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    # Connection life cycle

    async def _connect(self) -> Session:
        session = await connect(self.url)
        self._clock_offset_ms = session.clock_offset_ms
        return session

    async def _run(self) -> None:
        """Serve through Redis; on loss, deliver locally and reconnect, until closed."""
        redis = load_redis()
        loop = asyncio.get_running_loop()
        while not self._closing:
            session = self._session
            assert session is not None
            self._failed = loop.create_future()
            self._start_task("\0writer", self._write(session))
            self._start_lanes(session)
            try:
                failure = await self._failed
            finally:
                await self._stop_session()
            self._lost(failure, redis)
            await session.close()
            self._session = await self._reconnect(redis)
            self._emit("restored", f"streams {self.prefix}:{{ROOM}} read again")

    def _start_task(self, name: str, coro: Any) -> None:
        """Run ``coro`` as a task of this session, filed under ``name`` (a room, or a NUL
        and a role); its failure ends the session."""
        task = asyncio.get_running_loop().create_task(coro)
        self._lanes[name] = task

        def finished(done: asyncio.Task[None]) -> None:
            if done.cancelled() or done.exception() is None:
                return
            if self._failed is not None and not self._failed.done():
                self._failed.set_result(done.exception())

        task.add_done_callback(finished)

    def _start_lanes(self, session: Session) -> None:
        if not session.cluster:
            self._start_task("\0reader", self._read_all(session))
        else:
            for room in self._cursors:
                self._start_room_lane(session, room)

    def _start_room_lane(self, session: Session, room: str) -> None:
        old = self._lanes.pop(room, None)
        if old is not None:
            old.cancel()
        self._start_task(room, self._read_room(session, room))

    async def _stop_session(self) -> None:
        tasks = list(self._lanes.values())
        self._lanes.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _lost(self, failure: BaseException | None, redis: Any) -> None:
        self._session = None
        self.errors += 1
        why = describe_error(failure, redis) if failure is not None else "connection closed"
        self._emit(
            "lost",
            f"{why}; serving this instance's clients only, keeping "
            f"{self._outbox.bytes} bytes for Redis, reconnecting",
        )
        # What was accepted here and not read back reaches this instance's clients now,
        # in order; it is appended (marked as delivered) when Redis returns.
        assert self._deliver is not None
        for batch in self._outbox.undelivered():
            batch.local = True
            for message, sender in batch.messages:
                self._deliver(batch.room, message, sender)

    async def _reconnect(self, redis: Any) -> Session:
        attempt = 0
        while True:
            ceiling = min(RECONNECT_MAX, RECONNECT_FIRST * 2**attempt)
            await asyncio.sleep(ceiling / 2 + random.random() * ceiling / 2)
            attempt += 1
            try:
                return await self._connect()
            except (OSError, asyncio.TimeoutError, redis.RedisError):
                continue

    # Appending

    async def _write(self, session: Session) -> None:
        """Send queued subscriptions and batches in order, each wake-up's worth in one
        pipeline; one pipeline in flight at a time (the next one fills meanwhile)."""
        outbox = self._outbox
        while True:
            if not outbox.queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            ops = outbox.take(4 * BATCH_BYTES)
            pipe = session.writer.pipeline(transaction=False)
            for op in ops:
                key = stream_key(self.prefix, op.room)
                if isinstance(op, Subscribe):
                    pipe.xrevrange(key, count=1)  # the newest entry now
                    if self.history:
                        before = format_id((op.since_ms - 1, MAX_SEQ))
                        pipe.xrevrange(key, max=before, count=2 * self.history + 16)
                else:
                    fields = {b"h": make_header(self.instance, op.seq, op.local), b"d": op.payload}
                    pipe.xadd(key, fields, maxlen=self.stream_cap, approximate=True)
            try:
                results = await asyncio.wait_for(pipe.execute(), COMMAND_TIMEOUT)
            except BaseException:
                outbox.requeue(ops)  # retried after the reconnect (duplicates are skipped)
                raise
            changed = False
            replies = iter(results)
            for op in ops:
                result = next(replies)
                if isinstance(op, Subscribe):
                    tail = next(replies) if self.history else []
                    changed |= self._subscribed_to(session, op, result, tail)
                else:
                    op.appended = True
                    self.appends += 1
                    if op.room not in self._cursors:
                        outbox.done(op)  # not read here: nothing more to wait for
            if changed and not session.cluster:
                await self._restart_read(session)
            if outbox.bytes <= self.max_backlog_bytes and self._slowed:
                self._relieve_pressure()

    async def _restart_read(self, session: Session) -> None:
        """The set of rooms changed: unblock the reader's XREAD so it starts over with the
        new set. Until the reader has built a read for the current set, retry briefly: an
        UNBLOCK can overtake the XREAD it is meant for (they travel on two connections)."""
        assert session.reader_id is not None
        for _ in range(UNBLOCK_TRIES):
            if self._read_generation == self._generation:
                return  # the reader already reads the new set
            unblocked = await asyncio.wait_for(
                session.writer.client_unblock(session.reader_id), COMMAND_TIMEOUT
            )
            if unblocked:
                return
            await asyncio.sleep(0.005)

    def _subscribed_to(
        self, session: Session, op: Subscribe, newest: list[Any], tail: list[Any]
    ) -> bool:
        """A room's tail was read: replay its history, then read it from its first join.

        The join time comes from our clock (corrected by the offset measured at connect);
        should that estimate be late, the newest entry at subscription time still bounds
        the read from above, so nothing appended after the subscription (this instance's
        own messages included) is taken for history.
        """
        room = op.room
        if room not in self._subscribed or room in self._cursors:
            return False
        # An empty stream: everything appended from now on is new.
        cursor: StreamId = (0, 0)
        if newest:
            cursor = min((op.since_ms - 1, MAX_SEQ), parse_id(newest[0][0]))
        replay: list[tuple[RoomMessage, str | None]] = []
        for raw_id, fields in reversed(tail):
            entry = parse_id(raw_id)
            if entry > cursor:
                break  # read live instead
            for message, sender in self._accept(room, fields, entry):
                if not message.notice:
                    replay.append((message, sender))
        self._cursors[room] = cursor
        self._rooms_by_key[stream_key(self.prefix, room)] = room
        self._generation += 1
        self._rooms_changed.set()
        if session.cluster:
            self._start_room_lane(session, room)
        assert self._deliver is not None
        for message, sender in replay[-self.history :] if self.history else ():
            self._deliver(room, message, sender)
        return True

    def _stop_reading(self, room: str) -> None:
        if self._cursors.pop(room, None) is None:
            return
        self._rooms_by_key.pop(stream_key(self.prefix, room), None)
        self._seen.forget(room)
        self._outbox.forget_room(room)
        self._generation += 1
        lane = self._lanes.pop(room, None)
        if lane is not None:
            lane.cancel()

    # Reading

    async def _read_all(self, session: Session) -> None:
        """Single Redis: one blocking XREAD over every room read here."""
        while True:
            streams = {stream_key(self.prefix, r): format_id(c) for r, c in self._cursors.items()}
            self._read_generation = self._generation
            if not streams:
                self._rooms_changed.clear()
                await self._rooms_changed.wait()
                continue
            reply = await asyncio.wait_for(
                session.reader.xread(streams, count=READ_COUNT, block=BLOCK_MS),
                BLOCK_MS / 1000 + COMMAND_TIMEOUT,
            )
            for key, entries in reply or ():
                room = self._rooms_by_key.get(key)
                if room is not None:
                    self._consume(room, entries)

    async def _read_room(self, session: Session, room: str) -> None:
        """Redis Cluster: one blocking XREAD per room (keys of one read share a slot)."""
        key = stream_key(self.prefix, room)
        while True:
            cursor = self._cursors.get(room)
            if cursor is None:
                return
            reply = await asyncio.wait_for(
                session.reader.xread({key: format_id(cursor)}, count=READ_COUNT, block=BLOCK_MS),
                BLOCK_MS / 1000 + COMMAND_TIMEOUT,
            )
            for _, entries in reply or ():
                self._consume(room, entries)

    def _consume(self, room: str, entries: list[Any]) -> None:
        """Deliver the new entries of ``room``'s stream, in order."""
        cursor = self._cursors.get(room)
        if cursor is None:
            return  # no longer read here
        assert self._deliver is not None
        for raw_id, fields in entries:
            entry = parse_id(raw_id)
            if entry <= cursor:
                continue  # read before (a read built for an older set of rooms)
            cursor = entry
            self.reads += 1
            for message, sender in self._accept(room, fields, entry):
                self._deliver(room, message, sender)
        self._cursors[room] = cursor
        if self._slowed and self._outbox.bytes <= self.max_backlog_bytes:
            self._relieve_pressure()

    def _accept(
        self, room: str, fields: dict[bytes, bytes], entry: StreamId
    ) -> list[tuple[RoomMessage, str | None]]:
        """The messages of one entry this instance should deliver (none for a duplicate,
        for its own batch already delivered during an outage, or for a foreign entry).

        Each gets its id from the entry (:func:`~wscli.serve.message_id.stream_id`), the
        same on every instance, so a page can resume against any of them."""
        try:
            instance, seq, delivered = parse_header(fields[b"h"])
            messages = unpack_messages(fields[b"d"])
            if any(r != room for r, _, _ in messages):
                raise ValueError("a message for another room")
        except (KeyError, ValueError, UnicodeDecodeError) as exc:
            if not self._malformed_logged:
                self._malformed_logged = True
                self._emit("malformed", f"ignoring a foreign entry in room {room!r}: {exc}")
            return []
        if not self._seen.first_time(room, instance, seq):
            return []
        if instance == self.instance:
            batch = self._outbox.mine.get(seq)
            if batch is not None:
                self._outbox.done(batch)
                delivered = batch.local
            if delivered:
                return []
        for index, (_, message, _sender) in enumerate(messages):
            message.id = stream_id(entry, index)
        return [(message, sender) for _, message, sender in messages]

    # Backpressure

    def _apply_pressure(self) -> None:
        """Over the backlog budget: slow the producers holding more than a fair share of it
        (backlog / producers), biggest first: a flooder is stopped, a quiet user is not."""
        if self.on_pressure is None:
            return
        by_sender = self._outbox.by_sender
        fair = self._outbox.bytes / max(1, len(by_sender))
        for sender, held in by_sender.most_common():
            if held < fair:
                return
            if sender is not None and sender not in self._slowed:
                self._slowed.add(sender)
                self._emit(
                    "pressure",
                    f"backlog {self._outbox.bytes} bytes over {self.max_backlog_bytes}: "
                    f"not reading from client {sender} ({held} bytes of it) for now",
                )
                self.on_pressure(sender, True)

    def _relieve_pressure(self) -> None:
        if self._outbox.bytes > self.max_backlog_bytes // 2:
            return
        slowed, self._slowed = self._slowed, set()
        for sender in slowed:
            if self.on_pressure is not None:
                self.on_pressure(sender, False)

    def _emit(self, state: str, detail: str) -> None:
        if self._on_event is not None:
            self._on_event("backplane", state=state, detail=detail)
