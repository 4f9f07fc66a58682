"""Redis pub/sub backplane: several `wscli serve` instances share their rooms.

Plugged into :class:`wscli.serve.hub.Hub` as its :class:`~wscli.serve.hub.Backplane`: every
message a hub
publishes (client messages and join/leave notices alike) goes to ONE Redis channel, and each
instance — the publishing one included — delivers what comes back from its subscription to its
own clients. Nothing is delivered locally first, so every instance sees every room in the
order Redis serialised the messages. Each Redis message carries the room, the sender's key
(unique across instances, for ``--no-echo``), the text/binary type and the payload bytes
unchanged (see :func:`pack_message`). What an instance publishes within one event-loop tick
travels as one Redis message (a batch, cut at ``BATCH_BYTES``), so Redis and redis-py pay
per batch rather than per chat message; batches keep their order and are never split, so
the order is still the same everywhere.

Redis pub/sub drops what is published before a subscription is acknowledged, so
:meth:`RedisBackplane.start` returns only after the SUBSCRIBE acknowledgement: the server
accepts no client before that. Redis unreachable at start raises
:class:`~wscli.core.errors.ConnectFailed` (exit 3).

Redis lost while running: the instance keeps serving its own clients — each message is then
delivered locally at once, so a room stays usable on each instance — logs the loss, and
reconnects in the background with capped exponential backoff and jitter; once the new
subscription is acknowledged it goes back to Redis. Messages published on other instances
during the gap do not arrive (pub/sub keeps nothing). We chose this over exiting: a Redis
restart would otherwise disconnect every client of every instance at once, and restarted
instances would fail to start until Redis was back.

``redis`` (redis-py) is an optional dependency, imported only when a backplane starts.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import re
import struct
import urllib.parse
from collections.abc import Callable
from typing import Any

from wscli.core.errors import ConnectFailed, UsageProblem
from wscli.serve.hub import Deliver, Message

DEFAULT_CHANNEL = "wscli:chat"

# Wire format of one chat message: a fixed header, then room, sender, payload; a Redis
# message is one or more of these back to back.
_HEADER = struct.Struct("!BBIII")  # version, flags, room length, sender length, data length
_VERSION = 1
_TEXT = 0x1
_NOTICE = 0x2
_HAS_SENDER = 0x4
_HAS_AUTHOR = 0x8  # the author (nick or #id) and its length (one byte) follow the sender

CONNECT_TIMEOUT = 5.0  # seconds to connect and get the SUBSCRIBE acknowledgement
COMMAND_TIMEOUT = 5.0  # seconds for one pipelined batch of PUBLISH commands
PING_INTERVAL = 5.0  # an idle subscription is PINGed this often ...
PING_TIMEOUT = 5.0  # ... and declared lost when no answer comes this long after
RECONNECT_FIRST = 0.25  # seconds before the first reconnection attempt (doubles each time)
RECONNECT_MAX = 5.0
BATCH_BYTES = 256 * 2**10  # a Redis message carries chat messages up to about this size
MAX_PENDING_BYTES = 64 * 2**20  # messages waiting to be published; beyond it they are dropped

EventCallback = Callable[..., None]
"""Called like ``EventLog.emit``: ``on_event("backplane", state=..., detail=...)``."""

_Queued = tuple[bytes, str, Message, str | None]
"""(packed, room, message, sender): a message waiting for (or in) a PUBLISH."""


def pack_message(room: str, message: Message, sender: str | None) -> bytes:
    """The bytes published on the channel for ``message`` (payload kept byte for byte)."""
    flags = (_TEXT if message.text else 0) | (_NOTICE if message.notice else 0)
    room_bytes = room.encode("utf-8", "surrogateescape")
    sender_bytes = b""
    if sender is not None:
        flags |= _HAS_SENDER
        sender_bytes = sender.encode("utf-8", "surrogateescape")
    if message.author is not None:
        flags |= _HAS_AUTHOR
        author = message.author.encode("utf-8", "surrogateescape")[:255]
        sender_bytes += author + bytes((len(author),))
    data = message.data
    header = _HEADER.pack(_VERSION, flags, len(room_bytes), len(sender_bytes), len(data))
    return b"".join((header, room_bytes, sender_bytes, data))


def unpack_messages(payload: bytes) -> list[tuple[str, Message, str | None]]:
    """The chat messages in one Redis message (inverse of joined :func:`pack_message`).

    ValueError for anything this module did not produce; then none of them is delivered.
    """
    found: list[tuple[str, Message, str | None]] = []
    start, end = 0, len(payload)
    if not payload:
        raise ValueError("too short")
    while start < end:
        if end - start < _HEADER.size:
            raise ValueError("too short")
        version, flags, room_len, sender_len, data_len = _HEADER.unpack_from(payload, start)
        if version != _VERSION:
            raise ValueError(f"unknown version {version}")
        if flags & ~(_TEXT | _NOTICE | _HAS_SENDER | _HAS_AUTHOR):
            raise ValueError(f"unknown flags {flags:#x}")
        if not flags & (_HAS_SENDER | _HAS_AUTHOR) and sender_len:
            raise ValueError("sender bytes without a sender")
        start += _HEADER.size
        stop = start + room_len + sender_len + data_len
        if stop > end:
            raise ValueError("lengths past the end")
        room = payload[start : start + room_len].decode("utf-8", "surrogateescape")
        start += room_len
        sender, author = None, None
        field = payload[start : start + sender_len]
        if flags & _HAS_AUTHOR:
            if not field or field[-1] + 1 > len(field):
                raise ValueError("author flag without an author")
            cut = len(field) - 1 - field[-1]
            author = field[cut:-1].decode("utf-8", "surrogateescape")
            field = field[:cut]
        if flags & _HAS_SENDER:
            sender = field.decode("utf-8", "surrogateescape")
        elif field:
            raise ValueError("sender bytes without a sender")
        start += sender_len
        message = Message(payload[start:stop], bool(flags & _TEXT), bool(flags & _NOTICE), author)
        found.append((room, message, sender))
        start = stop
    return found


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, for logs and error messages."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _describe(exc: BaseException, redis: Any) -> str:
    """A short lower-case cause: the socket error when there is one, else redis-py's text."""
    if isinstance(exc, (asyncio.TimeoutError, redis.TimeoutError)):
        return "timed out"
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror.lower()
        cause = cause.__cause__ or cause.__context__
    text = " ".join(str(exc).split()).rstrip(".")
    # redis-py says "Error 111 connecting to HOST:PORT. Connection refused."
    text = re.sub(r"^Error \d+ (?:connecting to|while reading from) \S+?\.? (?=\S)", "", text)
    return (text[:1].lower() + text[1:]) or type(exc).__name__


def _hint(exc: BaseException, redis: Any) -> str:
    text = str(exc).lower()
    if isinstance(exc, redis.AuthenticationError) or "auth" in text or "noperm" in text:
        return "put the password in the URL, redis://:PASSWORD@HOST:PORT/0, via WSCLI_REDIS_URL"
    if isinstance(exc, (asyncio.TimeoutError, redis.TimeoutError)):
        return "is that address a Redis server, and reachable?"
    return "is redis-server running there? check --redis"


def _load_redis() -> Any:
    try:
        import redis.asyncio
    except ImportError:
        raise UsageProblem(
            "--redis needs the redis package",
            "it is not installed",
            "pip install 'wscli-toolkit[redis]'",
        ) from None
    return redis


class _Session:
    """One live Redis connection pair: a client for PUBLISH, a subscription for the rest."""

    def __init__(self, client: Any, pubsub: Any) -> None:
        self.client = client
        self.pubsub = pubsub

    async def close(self) -> None:
        for closer in (self.pubsub.aclose, self.client.aclose):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(closer(), 1.0)


class RedisBackplane:
    """Carries a hub's messages through one Redis pub/sub channel (see the module doc).

    ``url`` is a redis-py URL (``redis://``, ``rediss://``, ``unix://``). The channel is
    global to the Redis server (pub/sub ignores the database number), so deployments that
    share a Redis server use different ``channel`` names. ``on_event`` receives the
    connection-state events (``lost``, ``restored``) and problems, for the server's log.
    """

    def __init__(
        self,
        url: str,
        channel: str = DEFAULT_CHANNEL,
        *,
        on_event: EventCallback | None = None,
        max_pending_bytes: int = MAX_PENDING_BYTES,
    ) -> None:
        self.url = url
        self.channel = channel
        self.max_pending_bytes = max_pending_bytes
        self._on_event = on_event
        self._deliver: Deliver | None = None
        self._session: _Session | None = None
        self._task: asyncio.Task[None] | None = None
        # Waiting for the publisher, and their total size.
        self._pending: collections.deque[_Queued] = collections.deque()
        self._pending_bytes = 0
        self._in_flight: list[_Queued] = []
        self._wake = asyncio.Event()
        self._dropping = False
        self._malformed_logged = False
        self._closing = False

    @property
    def connected(self) -> bool:
        """True while messages go through Redis (False: this instance delivers locally)."""
        return self._session is not None

    # Backplane interface

    def describe(self) -> dict[str, object]:
        """For /healthz: ``connected`` False while Redis is lost (local delivery only)."""
        return {"kind": "redis", "connected": self.connected, "channel": self.channel}

    async def start(self, deliver: Deliver) -> None:
        """Connect and subscribe; return once the subscription is acknowledged."""
        redis = _load_redis()
        self._deliver = deliver
        try:
            self._session = await self._connect()
        except (OSError, asyncio.TimeoutError, redis.RedisError) as exc:
            raise ConnectFailed(
                f"cannot connect to Redis at {redact_url(self.url)}",
                _describe(exc, redis),
                _hint(exc, redis),
            ) from None
        self._task = asyncio.get_running_loop().create_task(self._run())

    def publish(self, room: str, message: Message, sender: str | None) -> None:
        """Queue ``message`` for Redis (never blocks); deliver locally while Redis is lost."""
        assert self._deliver is not None, "backplane not started"
        if self._session is None:
            self._deliver(room, message, sender)
            return
        packed = pack_message(room, message, sender)
        if self._pending_bytes + len(packed) > self.max_pending_bytes:
            if not self._dropping:
                self._dropping = True
                self._emit("overflow", "Redis is not keeping up: dropping messages")
            return
        self._dropping = False
        self._pending.append((packed, room, message, sender))
        self._pending_bytes += len(packed)
        self._wake.set()

    async def close(self) -> None:
        """Publish what is still queued (briefly), then disconnect."""
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        session, self._session = self._session, None
        if session is not None:
            batch = self._take_pending()
            if batch:
                with contextlib.suppress(Exception):
                    await self._publish_batch(session, batch)
            await session.close()
        self._pending.clear()
        self._pending_bytes = 0

    # Connection life cycle

    async def _connect(self) -> _Session:
        redis = _load_redis()
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        try:
            client = redis.asyncio.Redis.from_url(
                self.url,
                socket_connect_timeout=CONNECT_TIMEOUT,
                socket_keepalive=True,
                # Failures surface at once: this class decides how to reconnect.
                retry=Retry(NoBackoff(), 0),
                client_name="wscli-serve",
            )
        except ValueError as exc:
            raise UsageProblem(f"bad --redis URL {redact_url(self.url)!r}", str(exc)) from None
        pubsub = client.pubsub()
        session = _Session(client, pubsub)
        try:
            # PING opens the publishing connection now, so a publish never waits for a connect.
            await asyncio.wait_for(client.ping(), CONNECT_TIMEOUT)
            await asyncio.wait_for(self._subscribe(pubsub), CONNECT_TIMEOUT)
        except BaseException:
            await session.close()
            raise
        return session

    async def _subscribe(self, pubsub: Any) -> None:
        await pubsub.subscribe(self.channel)
        while True:
            reply = await pubsub.get_message(timeout=CONNECT_TIMEOUT)
            if reply is not None and reply["type"] == "subscribe":
                return

    async def _run(self) -> None:
        """Serve through Redis; on loss, deliver locally and reconnect, until closed."""
        redis = _load_redis()
        while not self._closing:
            session = self._session
            assert session is not None
            listen = asyncio.ensure_future(self._listen(session))
            send = asyncio.ensure_future(self._send(session))
            try:
                done, _ = await asyncio.wait({listen, send}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (listen, send):
                    task.cancel()
                await asyncio.gather(listen, send, return_exceptions=True)
            failure = next((t.exception() for t in done if t.exception() is not None), None)
            self._lost(failure)
            await session.close()
            self._session = await self._reconnect(redis)
            self._emit("restored", f"subscribed to {self.channel!r} again")

    def _lost(self, failure: BaseException | None) -> None:
        self._session = None
        why = _describe(failure, _load_redis()) if failure is not None else "connection closed"
        self._emit("lost", f"{why}; serving this instance's clients only, reconnecting")
        # What never made it to Redis still reaches this instance's clients, in order.
        assert self._deliver is not None
        for _, room, message, sender in [*self._in_flight, *self._take_pending()]:
            self._deliver(room, message, sender)
        self._in_flight = []

    async def _reconnect(self, redis: Any) -> _Session:
        attempt = 0
        while True:
            ceiling = min(RECONNECT_MAX, RECONNECT_FIRST * 2**attempt)
            await asyncio.sleep(ceiling / 2 + random.random() * ceiling / 2)
            attempt += 1
            try:
                return await self._connect()
            except (OSError, asyncio.TimeoutError, redis.RedisError):
                continue

    # Moving messages

    def _take_pending(self) -> list[_Queued]:
        batch = list(self._pending)
        self._pending.clear()
        self._pending_bytes = 0
        return batch

    async def _send(self, session: _Session) -> None:
        """Publish queued messages in order, each wake-up's worth in one pipeline."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch = self._take_pending()
            if not batch:
                continue
            self._in_flight = batch
            await self._publish_batch(session, batch)
            self._in_flight = []

    async def _publish_batch(self, session: _Session, batch: list[_Queued]) -> None:
        pipe = session.client.pipeline(transaction=False)
        chunk: list[bytes] = []
        size = 0
        for packed, *_ in batch:
            if chunk and size + len(packed) > BATCH_BYTES:
                pipe.publish(self.channel, b"".join(chunk))
                chunk, size = [], 0
            chunk.append(packed)
            size += len(packed)
        pipe.publish(self.channel, b"".join(chunk))
        await asyncio.wait_for(pipe.execute(), COMMAND_TIMEOUT)

    async def _listen(self, session: _Session) -> None:
        """Deliver what the subscription receives; PING it when idle to notice a dead link."""
        loop = asyncio.get_running_loop()
        pubsub = session.pubsub
        last_seen = loop.time()
        ping_sent: float | None = None
        while True:
            reply = await pubsub.get_message(timeout=1.0)
            now = loop.time()
            if reply is None:
                if ping_sent is not None and now - ping_sent > PING_TIMEOUT:
                    raise asyncio.TimeoutError
                if ping_sent is None and now - last_seen > PING_INTERVAL:
                    await asyncio.wait_for(pubsub.ping(), COMMAND_TIMEOUT)
                    ping_sent = now
                continue
            last_seen = now
            ping_sent = None
            if reply["type"] == "message":
                self._receive(reply["data"])

    def _receive(self, payload: bytes) -> None:
        try:
            messages = unpack_messages(payload)
        except ValueError as exc:
            if not self._malformed_logged:
                self._malformed_logged = True
                self._emit("malformed", f"ignoring a foreign message on {self.channel!r}: {exc}")
            return
        assert self._deliver is not None
        for room, message, sender in messages:
            self._deliver(room, message, sender)

    def _emit(self, state: str, detail: str) -> None:
        if self._on_event is not None:
            self._on_event("backplane", state=state, detail=detail)
