"""The hub of `wscli serve`: rooms, fan-out, history and per-client outgoing limits.

This is the ONE place where broadcast happens. The path of a message:

    connection -> Hub.publish(room, message, sender)
               -> backplane.publish(room, message, sender)
               -> Hub.deliver_local(room, message, sender)   (on every instance)
               -> one shared frame per message, appended to the room's batch
               -> Hub.flush(), once per event-loop tick: one write per client

Why it is fast: a broadcast frame is encoded ONCE (compression is off by default, so every
client gets the same bytes) and the frames a room received during one event-loop tick are
joined ONCE and handed to each client in ONE ``transport.write`` — one system call per client
per tick instead of one per delivery. A client whose unsent bytes pass ``max_queue`` is
dropped (close 1013) instead of delaying the others or growing the server's memory.

The :class:`Backplane` is the seam for running several instances (e.g. over Redis): the
default :class:`LocalBackplane` delivers at once; a remote one delivers when the message comes
back from the broker, so every instance sees the broker's order.

This module does no socket I/O itself: it talks to :class:`Subscriber` objects (the server's
connections) and schedules its flush on the running event loop.
"""

from __future__ import annotations

import asyncio
import collections
import struct
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Protocol

from wscli.core.exposition import Histogram
from wscli.core.ndjson import timestamp
from wscli.core.socketio import RelayedEvent
from wscli.serve.envelope import RESUME_RESERVE, envelope, resume_envelope
from wscli.serve.message_id import local_id, resume_from

OP_TEXT = 0x1
OP_BINARY = 0x2

# Rooms that are empty but keep a history are retained up to this many (oldest dropped),
# so clients cannot grow memory without bound by visiting many paths.
MAX_IDLE_ROOMS = 1024
DEFAULT_HISTORY_LIMIT = 64 * 2**20  # bytes, all rooms together (--history-bytes)

FANOUT_BOUNDS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)
"""Buckets of the fan-out delay histogram (seconds)."""

SLOW_CLIENT_CODE = 1013


def encode_frame(data: bytes, text: bool) -> bytes:
    """One unmasked, unfragmented server-to-client frame (RFC 6455 §5.2) carrying ``data``."""
    first = 0x80 | (OP_TEXT if text else OP_BINARY)
    length = len(data)
    if length < 126:
        header = bytes((first, length))
    elif length < 65536:
        header = struct.pack("!BBH", first, 126, length)
    else:
        header = struct.pack("!BBQ", first, 127, length)
    return header + data


class RoomMessage:
    """A chat message as the hub relays it to a room: payload bytes exactly as the client
    sent them (not to be confused with :class:`wscli.core.events.Message`, what
    `wscli connect` received).

    ``notice`` marks the server's own join/leave notices, which are never kept in history;
    ``author`` is the sender's verified nickname or ``#id`` (None: unknown, e.g. from an
    older instance over a backplane), used by the JSON envelope of the page's subprotocol.

    ``event`` is the Socket.IO event a Socket.IO client emitted (None for a raw message,
    which Socket.IO clients get as a ``message`` event); ``raw`` False means raw clients get
    nothing of it (an event other than ``message``): ``data`` is then empty.
    """

    __slots__ = (
        "author",
        "data",
        "enveloped",
        "event",
        "frame",
        "id",
        "notice",
        "raw",
        "text",
        "when",
    )

    def __init__(
        self,
        data: bytes,
        text: bool,
        notice: bool = False,
        author: str | None = None,
        event: RelayedEvent | None = None,
        raw: bool = True,
    ) -> None:
        self.data = data
        self.text = text
        self.notice = notice
        self.author = author
        self.event = event
        self.raw = raw
        self.frame = b""  # filled in once by Hub.deliver_local
        self.id = (
            ""  # stable id (wscli.serve.message_id): the backplane's, else Hub.deliver_local's
        )
        self.when = ""  # set when first needed (envelope, history)
        self.enveloped = b""  # the wscli.chat.v1 frame, encoded once when first needed

    def envelope_frame(self) -> bytes:
        """The frame for ``wscli.chat.v1`` clients (see :mod:`wscli.serve.envelope`)."""
        if not self.enveloped and self.raw:
            if not self.when:
                self.when = timestamp()
            payload = envelope(self.data, self.text, self.notice, self.author, self.id, self.when)
            self.enveloped = encode_frame(payload, True)
        return self.enveloped

    def as_envelope(self) -> RoomMessage:
        """The ``wscli.chat.v1`` text message (for clients that encode per connection)."""
        frame = self.envelope_frame()
        return frame_payload(frame)

    def kept_size(self) -> int:
        """Bytes this message holds in a history (its frame, and its Socket.IO event)."""
        return len(self.frame) + (self.event.size if self.event is not None else 0)

    def __repr__(self) -> str:
        kind = "text" if self.text else "binary"
        return f"RoomMessage({kind}, {len(self.data)} bytes{', notice' if self.notice else ''})"


def frame_payload(frame: bytes) -> RoomMessage:
    """The message inside one frame made by :func:`encode_frame` (for a replay that must be
    encoded per client: history keeps only the encoded frame)."""
    length = frame[1] & 0x7F
    start = 2 if length < 126 else 4 if length == 126 else 10
    return RoomMessage(frame[start:], frame[0] & 0x0F == OP_TEXT)


class Form(Protocol):
    """How a kind of client takes room messages other than as the raw frames, e.g. as
    Socket.IO events of one namespace. One object per kind: the hub encodes each message once
    per form and flush, and hands the same bytes to every client of that form."""

    def frames(self, message: RoomMessage) -> bytes:
        """``message`` as pre-encoded WebSocket frames (empty: nothing for this form)."""
        ...


class Subscriber(Protocol):
    """What the hub needs from a client connection (the server's connections provide it)."""

    @property
    def key(self) -> str:
        """Unique across instances: a remote backplane carries it so --no-echo works."""
        ...

    @property
    def room(self) -> str: ...

    @property
    def nick(self) -> str | None: ...

    @property
    def shared_frames(self) -> bool:
        """True when the client takes the shared pre-encoded frames (no per-client compression)."""
        ...

    @property
    def enveloped(self) -> bool:
        """True when the client negotiated ``wscli.chat.v1`` (JSON envelopes, not raw bytes)."""
        ...

    @property
    def since(self) -> str | None:
        """The last message id an enveloped client saw (``?since=``): it resumes after it."""
        ...

    @property
    def form(self) -> Form | None:
        """None: raw frames (or envelopes); else what :meth:`send_frames` is given is this
        form's frames, and :meth:`send_messages` gets every message, raw or not."""
        ...

    def send_frames(self, data: bytes, limit: int) -> int:
        """Write whole pre-encoded frames, unless the client's unsent bytes would pass ``limit``.

        Returns 0 when written (or when the connection is no longer open: nothing to do),
        else the bytes still unsent (nothing written; the hub drops the client).
        """
        ...

    def send_messages(self, messages: Sequence[RoomMessage], limit: int) -> int:
        """Like :meth:`send_frames`, encoding with the connection's own extensions."""
        ...

    def drop(self, code: int, reason: str) -> None:
        """Close the connection now, without waiting for its outgoing buffer to drain."""
        ...


Deliver = Callable[[str, RoomMessage, "str | None"], None]
Delivered = Callable[[str, RoomMessage, int], None]
"""Told, after a flush, of each delivered message that asks for an acknowledgement:
(sender key, message, how many of this instance's clients it was handed to)."""


class Backplane(Protocol):
    """Carries published messages to every hub instance (including the publishing one).

    ``publish`` must not block: a remote backplane queues the message and calls ``deliver``
    (the hub's :meth:`Hub.deliver_local`) when the message comes back, in the broker's order.
    """

    async def start(self, deliver: Deliver) -> None: ...

    def publish(self, room: str, message: RoomMessage, sender: str | None) -> None: ...

    def subscribe(self, room: str) -> bool:
        """``room`` got its first client here: carry its messages to this instance from now.

        True when the backplane supplies the room's history itself (delivered through
        ``deliver`` before newer messages, so every instance replays the same past): the hub
        then forgets its own copy instead of replaying it.
        """
        ...

    def unsubscribe(self, room: str) -> None:
        """``room`` lost its last client here: its messages need not come here any more."""
        ...

    async def drain(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) until every published message has been delivered
        through ``deliver``; False when the time ran out (before a graceful shutdown)."""
        ...

    async def close(self) -> None: ...

    def describe(self) -> dict[str, object]:
        """For /healthz: ``kind`` ("local", "redis", ...) and whatever tells its health."""
        ...


class LocalBackplane:
    """A single instance: deliver every message at once."""

    def __init__(self) -> None:
        self._deliver: Deliver | None = None

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver

    def publish(self, room: str, message: RoomMessage, sender: str | None) -> None:
        assert self._deliver is not None, "backplane not started"
        self._deliver(room, message, sender)

    def subscribe(self, room: str) -> bool:
        return False

    def unsubscribe(self, room: str) -> None:
        pass

    async def drain(self, timeout: float) -> bool:
        return True

    async def close(self) -> None:
        self._deliver = None

    def describe(self) -> dict[str, object]:
        return {"kind": "local"}


class Room:
    """The clients of one URL path, the frames waiting for this tick's flush, the history.

    History keeps each message once, as its encoded frame (what a newcomer is sent), and
    its ``wscli.chat.v1`` envelope once one was built (for the members taking envelopes
    when it came, or for the first such newcomer): a replay never builds one twice.
    ``frame_bytes`` (the frames: at most ``--max-queue``, what a raw replay sends) and
    ``history_held`` (everything held, envelopes too: what the server's history budget
    counts) say how much.
    """

    __slots__ = (
        "batch",
        "bytes",
        "enveloped",
        "evicted",
        "frame_bytes",
        "history",
        "history_held",
        "members",
        "messages",
        "name",
    )

    def __init__(self, name: str, history: int) -> None:
        self.name = name
        # A dict keeps insertion order and O(1) removal; values unused.
        self.members: dict[Subscriber, None] = {}
        self.enveloped = 0  # members that take wscli.chat.v1 envelopes
        self.batch: list[tuple[RoomMessage, str | None]] = []
        self.history: collections.deque[RoomMessage] | None = (
            collections.deque(maxlen=history) if history > 0 else None
        )
        self.frame_bytes = 0
        self.history_held = 0
        self.evicted = False  # the history dropped messages (a resume may miss some)
        self.messages = 0  # delivered here (for the busiest rooms of --metrics-rooms)
        self.bytes = 0

    def remember(self, message: RoomMessage, max_bytes: int) -> int:
        """Keep ``message`` (its frame and who sent it, when: not the payload a second time):
        the last N messages, their frames at most ``max_bytes``; returns the change in
        bytes held."""
        history = self.history
        assert history is not None
        kept = RoomMessage(b"", message.text, author=message.author, raw=message.raw)
        kept.frame, kept.id, kept.event = message.frame, message.id, message.event
        kept.when = message.when or timestamp()
        message.when = kept.when
        if self.enveloped:
            # This tick's flush needs it for those members anyway: built once, kept.
            kept.enveloped = message.envelope_frame()
        before = self.history_held
        if len(history) == history.maxlen:
            self.forget_oldest()
        history.append(kept)
        size = kept.kept_size()
        self.frame_bytes += size
        self.history_held += size + len(kept.enveloped)
        while self.frame_bytes > max_bytes:
            self.forget_oldest()
        return self.history_held - before

    def forget_oldest(self) -> int:
        """Drop the oldest kept message (and its envelope); the bytes freed."""
        assert self.history
        oldest = self.history.popleft()
        size = oldest.kept_size() + len(oldest.enveloped)
        self.frame_bytes -= oldest.kept_size()
        self.history_held -= size
        self.evicted = True
        return size

    def envelopes(self, kept: Sequence[RoomMessage], budget: int) -> tuple[list[bytes], int]:
        """The envelope frames of the newest of ``kept`` (messages of this history, oldest
        first) that fit in ``budget`` bytes, oldest first, and the bytes of envelopes built
        (and now held) for it: each is built once, when first needed, and kept."""
        chosen: list[bytes] = []
        size = built = 0
        for message in reversed(kept):
            if not message.enveloped:
                message.enveloped = _kept_envelope(message)
                built += len(message.enveloped)
            size += len(message.enveloped)
            if size > budget:
                break
            chosen.append(message.enveloped)
        chosen.reverse()
        self.history_held += built
        return chosen, built


SlowClientCallback = Callable[[Subscriber, int], None]


class Hub:
    """Rooms and fan-out for one server instance.

    ``max_queue`` bounds each client's unsent bytes; ``echo`` False excludes the sender
    (--no-echo); ``history`` is how many messages each room replays to newcomers (at most
    ``max_queue`` bytes of them); ``history_limit`` bounds the history kept by all rooms
    together (the history of the least recently written room is dropped first).
    """

    def __init__(
        self,
        *,
        echo: bool = True,
        history: int = 0,
        history_limit: int = DEFAULT_HISTORY_LIMIT,
        max_queue: int = 4 * 2**20,
        backplane: Backplane | None = None,
        on_slow_client: SlowClientCallback | None = None,
        on_delivered: Delivered | None = None,
    ) -> None:
        self.echo = echo
        self.history = history
        self.history_limit = history_limit
        self.history_held = 0
        # Rooms holding history, least recently written first (the budget's eviction order).
        self._kept: collections.OrderedDict[str, Room] = collections.OrderedDict()
        self.max_queue = max_queue
        self.backplane: Backplane = backplane if backplane is not None else LocalBackplane()
        self.instance_id = uuid.uuid4().hex[:12]
        self.rooms: dict[str, Room] = {}
        self.clients = 0
        self._idle_rooms: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._dirty: list[Room] = []
        self._flush_scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_slow_client = on_slow_client
        self.on_delivered = on_delivered
        self._next_id = 0
        self._seq = 0
        # What /metrics reads (plain integers: see wscli.serve.metrics).
        self.sent_messages = 0
        self.sent_bytes = 0
        self.fanout = Histogram(FANOUT_BOUNDS)
        self._tick_started = 0.0  # when this tick's first message reached the hub
        self._tick_messages = 0

    async def start(self) -> None:
        """Bind to the running loop and start the backplane."""
        self._loop = asyncio.get_running_loop()
        await self.backplane.start(self.deliver_local)

    async def drain(self, timeout: float) -> bool:
        """Wait (bounded) until everything published is delivered here, then flush it to the
        clients: called before a graceful shutdown sends 1001."""
        drained = await self.backplane.drain(timeout)
        self.flush()
        return drained

    async def close(self) -> None:
        """Flush what is pending and stop the backplane."""
        self.flush()
        await self.backplane.close()

    def new_key(self) -> tuple[int, str]:
        """A short id for logs and a key unique across instances (for the backplane)."""
        self._next_id += 1
        return self._next_id, f"{self.instance_id}:{self._next_id}"

    @property
    def active_rooms(self) -> int:
        """Rooms with at least one client."""
        return sum(1 for room in self.rooms.values() if room.members)

    @property
    def kept_rooms(self) -> int:
        """Rooms without clients kept for their history."""
        return sum(1 for room in self.rooms.values() if not room.members and room.history)

    # Membership

    def join(self, client: Subscriber) -> None:
        """Add ``client`` to its room: replay the history, then announce a nickname."""
        room = self._room(client.room)
        # Frames published before the join belong to the old members only.
        self._flush_room(room)
        shared_history = not room.members and self.backplane.subscribe(room.name)
        if shared_history and room.history:
            room.history.clear()  # the backplane replays the shared history instead
            self.history_held -= room.history_held
            room.history_held = room.frame_bytes = 0
            self._kept.pop(room.name, None)
        since = client.since if client.enveloped else None
        kept = list(room.history) if room.history else []
        complete = False
        if since is not None and not shared_history:
            start, complete = resume_from(
                [m.id for m in kept], since, (self.instance_id, "stream"), room.evicted
            )
            kept = kept[start:]
            complete = complete and self.history > 0
        # A replay is at most max_queue bytes, so a newcomer (nothing unsent yet) always
        # takes it, and it is counted against the server's total budget like any write.
        # The raw frames fit (the history keeps no more); escaped envelopes can be up to 6
        # times bigger: the oldest are cut, and the closing resume line says so.
        cut = built = 0
        form = client.form
        if form is not None:
            # A client of another form (Socket.IO): its frames, built for this replay.
            replay = [_kept(m) for m in kept]
            if client.shared_frames:
                frames = [form.frames(m) for m in replay]
            else:  # it encodes each message itself (long-polling)
                frames = []
                if replay:
                    client.send_messages(replay, self.max_queue)
                    self.sent_messages += len(replay)
        elif client.enveloped and kept:
            raw_kept = [m for m in kept if m.raw]  # raw clients get nothing of other events
            frames, built = room.envelopes(raw_kept, self.max_queue - RESUME_RESERVE)
            cut = len(raw_kept) - len(frames)
            self.history_held += built
        else:
            frames = [m.frame for m in kept if m.raw]
        self.sent_messages += len(frames)
        self.sent_bytes += sum(map(len, frames))
        if client.enveloped and not shared_history and (since is not None or cut):
            # The page says "N missed messages restored" (or that some may be missing).
            frames.append(encode_frame(resume_envelope(since, len(frames), complete, cut), True))
        if frames:
            if client.shared_frames:
                client.send_frames(b"".join(frames), self.max_queue)
            else:
                client.send_messages([frame_payload(f) for f in frames], self.max_queue)
        room.members[client] = None
        if client.enveloped:
            room.enveloped += 1
        self.clients += 1
        if built:
            self._trim_history()  # now that the room has a member, it is not forgotten
        if client.nick:
            self.publish(
                client.room,
                RoomMessage(f"* {client.nick} joined".encode(), True, True, client.nick),
            )

    def leave(self, client: Subscriber) -> bool:
        """Remove ``client`` from its room (idempotent); announce a nickname's departure."""
        room = self.rooms.get(client.room)
        if room is None or client not in room.members:
            return False
        del room.members[client]
        if client.enveloped:
            room.enveloped -= 1
        self.clients -= 1
        if not room.members:
            self.backplane.unsubscribe(room.name)
            self._room_emptied(room)
        if client.nick:
            self.publish(
                client.room, RoomMessage(f"* {client.nick} left".encode(), True, True, client.nick)
            )
        return True

    def _room(self, name: str) -> Room:
        room = self.rooms.get(name)
        if room is None:
            room = self.rooms[name] = Room(name, self.history)
        self._idle_rooms.pop(name, None)
        return room

    def _room_emptied(self, room: Room) -> None:
        if self.rooms.get(room.name) is not room:
            return  # already forgotten (e.g. its last client was dropped during a flush)
        if not room.history:
            if not room.batch:
                del self.rooms[room.name]
                self._kept.pop(room.name, None)
            return
        self._idle_rooms[room.name] = None
        while len(self._idle_rooms) > MAX_IDLE_ROOMS:
            oldest, _ = self._idle_rooms.popitem(last=False)
            gone = self.rooms.get(oldest)
            if gone is not None and not gone.members and not gone.batch:
                del self.rooms[oldest]
                self.history_held -= gone.history_held
                self._kept.pop(oldest, None)

    # Fan-out

    def publish(self, room: str, message: RoomMessage, sender: str | None = None) -> None:
        """Send ``message`` to every client of ``room`` (through the backplane)."""
        self.backplane.publish(room, message, sender)

    def deliver_local(self, room_name: str, message: RoomMessage, sender: str | None) -> None:
        """Queue ``message`` for this instance's clients of ``room_name`` (backplane callback)."""
        room = self.rooms.get(room_name)
        if room is None:
            if message.notice or not self.history:
                return  # nobody here to tell, nothing to remember
            # e.g. from another instance: remember it for the clients who come later
            room = self._room(room_name)
        if not message.frame and message.raw:
            message.frame = encode_frame(message.data, message.text)
        if not message.id:
            self._seq += 1
            message.id = local_id(self.instance_id, self._seq)
        room.messages += 1
        room.bytes += len(message.data)
        if room.history is not None and not message.notice:
            self._remember(room, message)
        if not room.members:
            self._room_emptied(room)
            return
        if not room.batch:
            self._dirty.append(room)
            if not self._flush_scheduled:
                self._flush_scheduled = True
                self._tick_started = time.monotonic()  # once per tick, not per message
                if self._loop is None:
                    self._loop = asyncio.get_running_loop()
                self._loop.call_soon(self.flush)
        room.batch.append((message, sender))

    def _remember(self, room: Room, message: RoomMessage) -> None:
        """Keep ``message`` in ``room``'s history within both byte bounds (room and total)."""
        self.history_held += room.remember(message, self.max_queue)
        self._kept[room.name] = room
        self._kept.move_to_end(room.name)
        self._trim_history()

    def _trim_history(self) -> None:
        """Drop the oldest kept messages of the least recently written rooms until the
        history of all rooms is within ``history_limit``."""
        while self.history_held > self.history_limit and self._kept:
            name, oldest = next(iter(self._kept.items()))
            if oldest.history:
                self.history_held -= oldest.forget_oldest()
            if not oldest.history:
                del self._kept[name]
                if not oldest.members and not oldest.batch and self.rooms.get(name) is oldest:
                    del self.rooms[name]
                    self._idle_rooms.pop(name, None)

    def flush(self) -> None:
        """Write every room's batch to its clients: one write per client."""
        self._flush_scheduled = False
        dirty, self._dirty = self._dirty, []
        for room in dirty:
            self._flush_room(room)
        if self._tick_messages:
            # The fan-out delay, once per tick: each of its messages counts the delay of
            # the first (an upper bound of its own), so no message is timed by itself.
            delay = time.monotonic() - self._tick_started
            self.fanout.observe(delay, self._tick_messages)
            self._tick_messages = 0

    def _flush_room(self, room: Room) -> None:
        batch = room.batch
        if not batch:
            return
        room.batch = []
        count = len(batch)
        self._tick_messages += count
        shared = batch[0][0].frame if count == 1 else b"".join([m.frame for m, _ in batch])
        enveloped: bytes | None = None  # the same for wscli.chat.v1 clients, built if needed
        formed: dict[Form, bytes] = {}  # the same per form (e.g. Socket.IO), built if needed
        limit = self.max_queue
        slow: list[tuple[Subscriber, int]] = []
        if self.echo:
            extra = 0  # bytes written beyond ``shared`` per receiver (envelopes, forms)
            for client in room.members:
                if client.shared_frames:
                    form = client.form
                    if form is not None:
                        data = formed.get(form)
                        if data is None:
                            data = formed[form] = b"".join([form.frames(m) for m, _ in batch])
                        over = client.send_frames(data, limit)
                        if not over:
                            extra += len(data) - len(shared)
                    elif client.enveloped:
                        if enveloped is None:
                            enveloped = b"".join([m.envelope_frame() for m, _ in batch])
                        over = client.send_frames(enveloped, limit)
                        if not over:
                            extra += len(enveloped) - len(shared)
                    else:
                        over = client.send_frames(shared, limit)
                else:
                    over = _send_each(client, [m for m, _ in batch], limit)
                if over:
                    slow.append((client, over))
            # Counted once per room and tick, not per client.
            receivers = len(room.members) - len(slow)
            self.sent_messages += count * receivers
            self.sent_bytes += len(shared) * receivers + extra
        else:
            self._flush_no_echo(room, batch, shared, formed, slow)
        if self.on_delivered is not None:
            self._acknowledge(room, batch)
        for client, buffered in slow:
            self.drop_slow(client, buffered)
        if not room.members:
            self._room_emptied(room)

    def _acknowledge(self, room: Room, batch: list[tuple[RoomMessage, str | None]]) -> None:
        """Tell ``on_delivered`` of the messages of ``batch`` that ask for an acknowledgement:
        how many of the room's clients here each was handed to (the sender included unless
        --no-echo; raw clients only get what has a raw form)."""
        wanted = [
            (m, s)
            for m, s in batch
            if s is not None and m.event is not None and m.event.ack is not None
        ]
        if not wanted:
            return
        assert self.on_delivered is not None
        members = len(room.members)
        raw = sum(1 for client in room.members if client.form is None)
        for message, sender in wanted:
            count = members if message.raw else members - raw
            if not self.echo:
                count -= sum(1 for client in room.members if client.key == sender)
            self.on_delivered(sender, message, count)

    def _flush_no_echo(
        self,
        room: Room,
        batch: list[tuple[RoomMessage, str | None]],
        shared: bytes,
        formed: dict[Form, bytes],
        slow: list[tuple[Subscriber, int]],
    ) -> None:
        """--no-echo: each sender's own messages are left out of what it is sent."""
        enveloped: bytes | None = None
        limit = self.max_queue
        senders = {s for _, s in batch if s is not None}
        sent_messages = sent_bytes = 0
        for client in room.members:
            form = client.form
            if client.key in senders:
                mine = [m for m, s in batch if s != client.key]
                if not mine:
                    continue
                if not client.shared_frames:
                    data = b"".join([m.frame for m in mine])  # counted before compression
                    over = _send_each(client, mine, limit)
                elif form is not None:
                    data = b"".join([form.frames(m) for m in mine])
                    over = client.send_frames(data, limit)
                elif client.enveloped:
                    data = b"".join([m.envelope_frame() for m in mine])
                    over = client.send_frames(data, limit)
                else:
                    data = b"".join([m.frame for m in mine])
                    over = client.send_frames(data, limit)
                count = len(mine)
            else:
                count = len(batch)
                if not client.shared_frames:
                    data = shared  # counted before compression
                    over = _send_each(client, [m for m, _ in batch], limit)
                elif form is not None:
                    found = formed.get(form)
                    if found is None:
                        found = formed[form] = b"".join([form.frames(m) for m, _ in batch])
                    data = found
                    over = client.send_frames(data, limit)
                elif client.enveloped:
                    if enveloped is None:
                        enveloped = b"".join([m.envelope_frame() for m, _ in batch])
                    data = enveloped
                    over = client.send_frames(enveloped, limit)
                else:
                    data = shared
                    over = client.send_frames(shared, limit)
            if over:
                slow.append((client, over))
            else:
                sent_messages += count
                sent_bytes += len(data)
        self.sent_messages += sent_messages
        self.sent_bytes += sent_bytes

    def drop_slow(self, client: Subscriber, buffered: int) -> None:
        """Disconnect a client that stopped reading (1013), so it delays nobody."""
        self.leave(client)
        client.drop(SLOW_CLIENT_CODE, "too slow: outgoing queue full")
        if self._on_slow_client is not None:
            self._on_slow_client(client, buffered)


def _send_each(client: Subscriber, messages: list[RoomMessage], limit: int) -> int:
    """Hand ``messages`` to a client that encodes per connection (compression, or a
    Socket.IO client on long-polling)."""
    if client.form is None:
        messages = [m for m in messages if m.raw]
        if not messages:
            return 0
    if client.enveloped:
        messages = [m.as_envelope() for m in messages]
    return client.send_messages(messages, limit)


def _kept(kept: RoomMessage) -> RoomMessage:
    """A message kept in history (which holds its frame, not its payload) as a whole one."""
    message = frame_payload(kept.frame) if kept.raw else RoomMessage(b"", kept.text, raw=False)
    message.author, message.event, message.id, message.when = (
        kept.author,
        kept.event,
        kept.id,
        kept.when,
    )
    message.frame = kept.frame
    return message


def _kept_envelope(kept: RoomMessage) -> bytes:
    """The ``wscli.chat.v1`` frame of a message kept in history (which holds only its frame)."""
    payload = frame_payload(kept.frame).data
    body = envelope(payload, kept.text, False, kept.author, kept.id, kept.when)
    return encode_frame(body, True)
