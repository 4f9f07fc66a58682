"""Redis Streams backplane: several `wscli serve` instances share their rooms, losing nothing.

Plugged into :class:`wscli.serve.hub.Hub` as its :class:`~wscli.serve.backplane.Backplane`.
Every message a hub publishes is appended to its room's Redis Stream (capped with
``MAXLEN ~``, expiring ``--redis-stream-ttl`` after its last message; format in
:mod:`wscli.serve.redis_wire`); each instance reads back the streams of the rooms it has
clients in and delivers what it reads, its own messages included. Nothing is delivered
locally first, so everyone in a room sees the stream's order, and payloads travel byte for
byte under one id per message, the same on every instance.

The work is split along its seams:

- :mod:`~wscli.serve.redis_outbox`: what waits to be appended, and the backlog;
- :mod:`~wscli.serve.redis_writer`: appends, first reads of joined rooms, paged reads of
  histories and resume gaps (bounded by ``--max-queue``), evictions;
- :mod:`~wscli.serve.redis_reader`: rooms read, blocking reads in bounded groups, what an
  entry read means (duplicates, lost messages, this instance's own batches);
- :mod:`~wscli.serve.redis_retention`: the bounds of what this instance keeps in Redis;
- :mod:`~wscli.serve.redis_link`: the connection (single Redis or Cluster) and its tasks.

This module runs the life cycle: connect, serve, and on loss deliver locally and reconnect
(:func:`~wscli.net.backoff.backoff_delays`).

- **Outage.** While Redis is unreachable the instance keeps serving its clients: what they
  send is delivered locally at once and kept (bounded by ``max_backlog_bytes``), then
  appended in order when Redis returns, marked so this instance does not deliver it twice.
- **Shutdown.** :meth:`RedisBackplane.drain` waits (bounded, ``DRAIN_TIMEOUT`` = 5 s) until
  every accepted message is in Redis and delivered locally; the server sends 1001 after it.
- **Backpressure.** While the backlog is above ``max_backlog_bytes`` the biggest producer is
  reported through ``on_pressure`` (the server stops reading from it); other clients'
  messages are never dropped and the backplane is never disconnected for it.
- **Health.** ``/healthz`` turns ``degraded`` as soon as a command is overdue
  (:data:`OVERDUE_AFTER` past its due time), before the command times out.

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
from wscli.net.backoff import backoff_delays
from wscli.serve.backplane import Receiver
from wscli.serve.redis_link import Session, Tasks, connect, load_redis
from wscli.serve.redis_outbox import Outbox, Subscribe
from wscli.serve.redis_reader import Reader
from wscli.serve.redis_retention import MAX_IDLE_STREAMS, StreamBook
from wscli.serve.redis_wire import DEFAULT_PREFIX, describe_error, error_hint
from wscli.serve.redis_writer import Writer
from wscli.serve.room_message import RoomMessage

__all__ = ["DEFAULT_PREFIX", "RedisBackplane"]

COMMAND_TIMEOUT = 5.0  # seconds for one pipeline, or past a blocking read's BLOCK time
OVERDUE_AFTER = 1.0  # a command this late (past BLOCK for reads) turns /healthz degraded
WATCH_EVERY = 0.25  # seconds between two looks for a command past COMMAND_TIMEOUT
RECONNECT_FIRST = 0.25  # seconds before the first reconnection attempt (doubles each time)
RECONNECT_MAX = 5.0
DRAIN_TIMEOUT = 5.0  # SIGTERM waits at most this long for the backlog (see drain)
CLOSE_TIMEOUT = 2.0  # close() appends the last notices for at most this long
MAX_BACKLOG_BYTES = 64 * 2**20  # accepted, not yet read back; above it producers are slowed
STREAM_CAP = 1000  # entries kept per room stream (MAXLEN ~), at least 2 x --history
STREAM_TTL = 24 * 3600.0  # seconds a room stream outlives its last message
REPLAY_BYTES = 4 * 2**20  # at most this much is read for one history or gap (--max-queue)
HISTORY_BYTES = 64 * 2**20  # what one instance keeps in Redis (--history-bytes)
BOUND_REPORT_EVERY = 10.0  # seconds between two log lines about streams dropped at a bound

EventCallback = Callable[..., None]
"""Called like ``EventLog.emit``: ``on_event("backplane", state=..., detail=...)``."""

PressureCallback = Callable[[str, bool], None]
"""``on_pressure(sender_key, slow)``: stop (True) or resume (False) reading from a client."""


class RedisBackplane:
    """Carries a hub's messages through per-room Redis Streams (see the module doc).

    ``url`` is a redis-py URL (``redis://``, ``rediss://``, ``unix://``) of a single Redis or
    of any node of a Redis Cluster. ``prefix`` starts every key: deployments sharing a Redis
    use different prefixes. ``history`` is how many messages a room replays to newcomers
    (read from the stream, so every instance replays the same past), ``replay_bytes`` the
    most read for one newcomer (``--max-queue``). ``history_bytes`` and ``stream_ttl``
    bound what this instance keeps in Redis (:mod:`~wscli.serve.redis_retention`).
    ``on_event`` receives the connection-state events (``lost``, ``restored``, ...) for the
    server's log.
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
        stream_ttl: float = STREAM_TTL,
        replay_bytes: int = REPLAY_BYTES,
        history_bytes: int = HISTORY_BYTES,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.history = history
        self.max_backlog_bytes = max_backlog_bytes
        self.stream_cap = max(stream_cap, 2 * history + 16)
        self.stream_ttl = stream_ttl
        self.replay_bytes = replay_bytes
        self.instance = random.getrandbits(64).to_bytes(8, "big").hex()
        self.on_pressure = on_pressure
        self._on_event = on_event
        self._receiver: Receiver | None = None
        self._session: Session | None = None
        self._tasks: Tasks | None = None
        self._task: asyncio.Task[None] | None = None
        self._nodes: list[tuple[str, int]] = []  # a cluster's nodes, for reconnecting
        self._outbox = Outbox()
        self._book = StreamBook(
            max_bytes=history_bytes,
            ttl=stream_ttl,
            cap=self.stream_cap,
            keep=2 * history + 16,
        )
        self._subscriptions: dict[str, int] = {}  # rooms with local clients: their token
        self._tokens = 0
        self._reader = Reader(
            prefix=prefix,
            instance=self.instance,
            outbox=self._outbox,
            emit=self._emit,
            receiver=self._get_receiver,
            progress=self._progress,
        )
        self._writer = Writer(
            prefix=prefix,
            instance=self.instance,
            outbox=self._outbox,
            book=self._book,
            reader=self._reader,
            receiver=self._get_receiver,
            subscriptions=self._subscriptions,
            history=history,
            replay_bytes=replay_bytes,
            cap=self.stream_cap,
            ttl_ms=int(stream_ttl * 1000),
            progress=self._progress,
        )
        self._slowed: set[str] = set()
        self.errors = 0  # connections lost (for /metrics)
        self._bound_reported = (0, 0, 0.0)  # deleted, trimmed, when last logged
        self._closing = False

    @property
    def connected(self) -> bool:
        """True while messages go through Redis (False: this instance delivers locally)."""
        return self._session is not None

    @property
    def backlog_bytes(self) -> int:
        """Bytes of messages accepted here and not yet read back from Redis."""
        return self._outbox.bytes

    def _get_receiver(self) -> Receiver:
        assert self._receiver is not None, "backplane not started"
        return self._receiver

    # Backplane interface

    def describe(self) -> dict[str, object]:
        """For /healthz: ``connected`` False while Redis is lost, ``overdue`` seconds past
        the due time of the latest command, the backlog, the bounds in use and counts of
        what they did (never room names but in ``lag``)."""
        session = self._session
        return {
            "kind": "redis",
            "connected": session is not None,
            "overdue": self.overdue(),
            "cluster": bool(session and session.cluster),
            "prefix": self.prefix,
            **self._reader.describe(),
            "appends": self._writer.appends,
            "errors": self.errors,
            "backlog": {"batches": len(self._outbox.mine), "bytes": self._outbox.bytes},
            "lag": self._outbox.lag(),
            "kept": self._book.describe(),
            "bounds": {
                "stream_cap": self.stream_cap,
                "stream_ttl": self.stream_ttl,
                "idle_streams": MAX_IDLE_STREAMS,
                "kept_bytes": self._book.max_bytes,
                "replay_bytes": self.replay_bytes,
                "backlog_bytes": self.max_backlog_bytes,
            },
        }

    def overdue(self) -> float:
        """Seconds the most overdue command in flight is past due (0: none is). A command
        is due at once (a blocking read: after its BLOCK time); more than
        :data:`OVERDUE_AFTER` late is overdue."""
        if self._session is None:
            return 0.0
        now = asyncio.get_running_loop().time()
        due = [*self._reader.in_flight.values()]
        if self._writer.in_flight_since is not None:
            due.append(self._writer.in_flight_since)
        late = max((now - when - OVERDUE_AFTER for when in due), default=0.0)
        return round(max(late, 0.0), 3)

    async def start(self, receiver: Receiver) -> None:
        """Connect (and learn whether it is a cluster); raise ConnectFailed when unreachable."""
        redis = load_redis()
        self._receiver = receiver
        try:
            session = await connect(self.url, COMMAND_TIMEOUT, [])
        except (OSError, asyncio.TimeoutError, redis.RedisError) as exc:
            raise ConnectFailed(
                f"cannot connect to Redis at {redact_url(self.url)}",
                describe_error(exc, redis),
                error_hint(exc, redis),
            ) from None
        self._session = session
        self._task = asyncio.get_running_loop().create_task(self._run())

    def subscribe(self, room: str) -> bool:
        """``room`` got its first local client: read its stream from now on.

        Returns True: the room's history comes from the stream (through the hub's
        ``history_loaded``, before any newer message), so the hub waits for it.
        """
        if room in self._subscriptions:
            return True
        self._tokens += 1
        self._subscriptions[room] = self._tokens
        self._book.reading(room, True)
        op = Subscribe(room, self._tokens, int(time.time() * 1000))
        self._outbox.subscribe(op)
        if self._session is None:
            # Redis is out of reach: no history now; the room is read from this join on
            # once Redis is back. Answered on the next tick (the hub is still joining).
            op.answered = True
            asyncio.get_running_loop().call_soon(self._no_history, room, op.token)
        self._writer.wake.set()
        return True

    def _no_history(self, room: str, token: int) -> None:
        if self._subscriptions.get(room) == token:
            self._get_receiver().history_loaded(room, [], False)

    def unsubscribe(self, room: str) -> None:
        """``room`` lost its last local client: stop reading its stream."""
        if self._subscriptions.pop(room, None) is None:
            return
        self._book.reading(room, False)
        self._writer.forget(room)
        self._reader.remove(room)

    def resume(self, room: str, since: str) -> bool:
        """Look for ``since`` in ``room``'s stream (False while Redis is out of reach)."""
        if self._session is None or room not in self._subscriptions:
            return False
        return self._writer.resume(room, since)

    def publish(self, room: str, message: RoomMessage, sender: str | None) -> None:
        """Queue ``message`` for its room's stream (never blocks); while Redis is lost, also
        deliver it locally at once."""
        local = self._session is None
        if local:
            receiver = self._get_receiver()
            receiver.deliver_local(room, message, sender)
            receiver.reordered(room)
        self._outbox.add(room, message, sender, local)
        self._writer.wake.set()
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
        if self._tasks is not None:
            await self._tasks.stop()
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    # Connection life cycle

    async def _run(self) -> None:
        """Serve through Redis; on loss, deliver locally and reconnect, until closed."""
        redis = load_redis()
        while not self._closing:
            session = self._session
            assert session is not None
            self._nodes = session.nodes() or self._nodes
            tasks = self._tasks = Tasks()
            tasks.spawn("writer", self._writer.run(session))
            tasks.spawn("watchdog", self._watch())
            self._reader.start(session, tasks)
            try:
                failure = await tasks.failed
            finally:
                self._reader.stop()
                await tasks.stop()
                self._tasks = None
            self._lost(failure, redis)
            await session.close()
            self._session = await self._reconnect(redis)
            self._outbox.close_batches()
            self._emit("restored", f"streams {self.prefix}:{{HASH}} read again")

    async def _watch(self) -> None:
        """End the session once a command is :data:`COMMAND_TIMEOUT` past due (Redis
        stalled): one timer for every command in flight, none of them timed by itself; and
        wake an idle writer for its heartbeat PING."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(WATCH_EVERY)
            if self.overdue() + OVERDUE_AFTER > COMMAND_TIMEOUT:
                raise asyncio.TimeoutError("a Redis command is overdue")
            self._writer.heartbeat(loop.time())

    def _lost(self, failure: BaseException, redis: Any) -> None:
        self._session = None
        self.errors += 1
        self._emit(
            "lost",
            f"{describe_error(failure, redis)}; serving this instance's clients only, "
            f"keeping {self._outbox.bytes} bytes for Redis, reconnecting",
        )
        # What was accepted here and not read back reaches this instance's clients now,
        # in order; it is appended (marked as delivered) when Redis returns.
        receiver = self._get_receiver()
        for batch in self._outbox.undelivered():
            batch.local = True
            for message, sender in batch.messages:
                receiver.deliver_local(batch.room, message, sender)
            receiver.reordered(batch.room)
        self._writer.abandon()

    async def _reconnect(self, redis: Any) -> Session:
        for delay in backoff_delays(RECONNECT_FIRST, 2, RECONNECT_MAX):
            await asyncio.sleep(delay)
            try:
                session = await connect(self.url, COMMAND_TIMEOUT, self._nodes)
            except (OSError, asyncio.TimeoutError, redis.RedisError):
                continue
            try:
                await self._reader.check_trimmed(session)
            except (OSError, asyncio.TimeoutError, redis.RedisError):
                await session.close()
                continue
            return session
        raise AssertionError("unreachable: the delays never end")

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

    def _progress(self) -> None:
        """Appends or reads went through: relieve the pressure, report the bounds."""
        if self._slowed:
            self._relieve_pressure()
        if self._book.deleted != self._bound_reported[0] or (
            self._book.trimmed != self._bound_reported[1]
        ):
            self._report_bounds()

    def _relieve_pressure(self) -> None:
        """Read from slowed clients again once the backlog is below half its budget."""
        if self._outbox.bytes > self.max_backlog_bytes // 2:
            return
        slowed, self._slowed = self._slowed, set()
        for sender in slowed:
            if self.on_pressure is not None:
                self.on_pressure(sender, False)

    def _report_bounds(self) -> None:
        """Log streams dropped or trimmed at the bounds: the first time, then at most once
        per :data:`BOUND_REPORT_EVERY` seconds (an attacker must not flood the log)."""
        deleted, trimmed, when = self._bound_reported
        book = self._book
        if (book.deleted, book.trimmed) == (deleted, trimmed):
            return
        now = time.monotonic()
        if when and now - when < BOUND_REPORT_EVERY:
            return
        self._bound_reported = (book.deleted, book.trimmed, now)
        self._emit(
            "bounded",
            f"kept in Redis by this instance: {book.idle} idle streams (at most "
            f"{book.max_idle}), about {book.bytes} bytes (at most {book.max_bytes}); "
            f"{book.deleted - deleted} streams deleted, {book.trimmed - trimmed} trimmed "
            "to their history to stay within these bounds",
        )

    def _emit(self, state: str, detail: str) -> None:
        if self._on_event is not None:
            self._on_event("backplane", state=state, detail=detail)
