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
import hmac
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Protocol

from wscli.core.exposition import Histogram
from wscli.serve.access import MAX_NICK
from wscli.serve.backplane import Backplane, Deliver, LocalBackplane, Receiver
from wscli.serve.envelope import RESUME_RESERVE, resume_envelope
from wscli.serve.message_id import local_id, resume_start
from wscli.serve.replay import Waiting, client_frames, fit, send_replay
from wscli.serve.room import Room
from wscli.serve.room_message import RoomMessage, encode_frame, frame_payload

__all__ = [  # the seam and the message types live in their own modules; named here too
    "DEFAULT_HISTORY_LIMIT",
    "MAX_IDLE_ROOMS",
    "SLOW_CLIENT_CODE",
    "Backplane",
    "Deliver",
    "Delivered",
    "Form",
    "Hub",
    "LocalBackplane",
    "Receiver",
    "RoomMessage",
    "Subscriber",
    "encode_frame",
    "frame_payload",
]

# Rooms that are empty but keep a history are retained up to this many (oldest dropped),
# so clients cannot grow memory without bound by visiting many paths.
MAX_IDLE_ROOMS = 1024
DEFAULT_HISTORY_LIMIT = 64 * 2**20  # bytes, all rooms together (--history-bytes)

FANOUT_BOUNDS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)
"""Buckets of the fan-out delay histogram (seconds)."""

# Suffixes tried from 2 before going on from the last one given in the room: the lowest
# free one in a normal room, one probe per join in a crowd sharing one name.
NEAR_SUFFIXES = 8

SLOW_CLIENT_CODE = 1013


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


SlowClientCallback = Callable[[Subscriber, int], None]
Delivered = Callable[[str, RoomMessage, int], None]
"""Told, after a flush, of each delivered message that asks for an acknowledgement:
(sender key, message, how many of this instance's clients it was handed to)."""


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
        await self.backplane.start(self)

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

    def claim_nick(
        self, room_name: str, nick: str, session: str | None
    ) -> tuple[str, Subscriber | None]:
        """The nickname ``nick`` gets in ``room_name`` (unique among its clients here) and
        the client it replaces, if any.

        The holder of ``nick`` connected from the same page session (``?session=``: a page
        reconnecting before the server noticed its old link died) is replaced; anyone
        else's ``nick`` becomes ``nick (2)``, ``nick (3)``... (at most ``MAX_NICK``
        characters).
        """
        room = self.rooms.get(room_name)
        if room is None or nick not in room.nicks:
            return nick, None
        holder, held_by = room.nicks[nick]
        if session is not None and held_by is not None and hmac.compare_digest(held_by, session):
            return nick, holder
        for number in range(2, NEAR_SUFFIXES + 2):  # the lowest free number, usually
            candidate = _suffixed(nick, number)
            if candidate not in room.nicks:
                return candidate, None
        if len(room.suffixes) > 2 * len(room.nicks) + 16:
            room.suffixes.clear()  # only hints: names long gone need not be remembered
        number = max(room.suffixes.get(nick, 0), NEAR_SUFFIXES + 1)
        while True:  # a crowd of one name: on from the last number given
            number += 1
            candidate = _suffixed(nick, number)
            if candidate not in room.nicks:
                room.suffixes[nick] = number
                return candidate, None

    def tell(self, client: Subscriber, payload: bytes) -> None:
        """Send one ``wscli.chat.v1`` control message (welcome, pong, ack...) to ``client``
        alone, counted against its limit like any write."""
        frame = encode_frame(payload, True)
        if client.shared_frames:
            over = client.send_frames(frame, self.max_queue)
        else:
            over = client.send_messages([frame_payload(frame)], self.max_queue)
        if over:
            self.drop_slow(client, over)

    def join(self, client: Subscriber, session: str | None = None, announce: bool = True) -> None:
        """Add ``client`` to its room: replay the history (or the gap since ``?since=``),
        then announce a nickname (``announce`` False: it replaces its own stale connection,
        see :meth:`claim_nick`). While the backplane reads the room's shared history, or
        the gap, the client waits for it (see :meth:`history_loaded`, :meth:`gap_loaded`)."""
        room = self._room(client.room)
        # Frames published before the join belong to the old members only.
        self._flush_room(room)
        if not room.members and not room.waiting and self.backplane.subscribe(room.name):
            self._forget_history(room)  # the backplane replays the shared history instead
            room.loading = room.shared = True
        self.clients += 1
        since = client.since if client.enveloped else None
        if room.loading:
            room.waiting.add(client, since)
        else:
            self._enter(room, client, since, None)
        if client.nick:
            room.nicks[client.nick] = (client, session)
        if client.nick and announce:
            self.publish(
                client.room,
                RoomMessage(f"* {client.nick} joined".encode(), True, True, client.nick),
            )

    def leave(self, client: Subscriber, announce: bool = True) -> bool:
        """Remove ``client`` from its room (idempotent); announce a nickname's departure
        (``announce`` False: it is being replaced by its own page's new connection)."""
        room = self.rooms.get(client.room)
        if room is None:
            return False
        if client in room.members:
            del room.members[client]
            if client.enveloped:
                room.enveloped -= 1
        elif room.waiting.remove(client) is None:
            return False
        self.clients -= 1
        nick = client.nick
        if nick and nick in room.nicks and room.nicks[nick][0] is client:
            del room.nicks[nick]
        if not room.members and not room.waiting:
            room.suffixes.clear()
            self.backplane.unsubscribe(room.name)
            room.loading = False
            self._room_emptied(room)
        if client.nick and announce:
            self.publish(
                client.room, RoomMessage(f"* {client.nick} left".encode(), True, True, client.nick)
            )
        return True

    def _enter(
        self, room: Room, client: Subscriber, since: str | None, waited: Waiting | None
    ) -> None:
        """Replay to ``client`` what it should see from the kept history, and make it a
        member; or, when its gap is not kept here, ask the backplane for it (it waits)."""
        kept = list(room.history) if room.history else []
        complete = False
        if since is not None:
            start = None
            if self.history and not room.reordered:
                epoch = None if room.shared else self.instance_id
                start = resume_start([m.id for m in kept], since, epoch, room.evicted)
            if start is None and since and self.backplane.resume(room.name, since):
                if waited is None:
                    room.waiting.add(client, since)
                else:
                    room.waiting.clients[client] = waited
                return
            kept = kept[start:] if start is not None else kept
            complete = start is not None
        self._admit(room, client, kept, True, (since, complete), waited)

    def _admit(
        self,
        room: Room,
        client: Subscriber,
        messages: list[RoomMessage],
        kept: bool,
        resume: tuple[str | None, bool],
        waited: Waiting | None,
    ) -> None:
        """Send the replay of ``messages`` (copies ``kept`` in the room's history, or fresh
        ones), the resume line, and what arrived while the client waited (less what the
        replay holds); then it is a member like any other.

        A replay is at most ``max_queue`` bytes, so a newcomer (nothing unsent yet) always
        takes it, and it is counted against the server's total budget like any write. The
        raw frames of the kept history fit (it keeps no more); escaped envelopes can be up
        to 6 times bigger, and a gap read from the backplane is not bounded by the history:
        the oldest are cut, and the closing resume line says so (``cut``).
        """
        form = client.form
        if form is not None:
            self._admit_form(room, client, form, messages, kept, waited)
            return
        messages = [m for m in messages if m.raw]  # raw clients get nothing of other events
        since, complete = resume
        built = 0
        if client.enveloped and kept:
            frames, built = room.envelopes(messages, self.max_queue - RESUME_RESERVE)
            self.history_held += built
        else:
            chosen = [m for m in messages if not m.notice] if not kept else messages
            reserve = RESUME_RESERVE if client.enveloped else 0
            frames, _ = fit(
                client_frames(client.enveloped, chosen, False), self.max_queue - reserve
            )
            messages = chosen
        cut = len(messages) - len(frames)
        line = None
        if client.enveloped and (since is not None or cut):
            # The page says "N missed messages restored" (or that some may be missing).
            body = resume_envelope(since, len(frames), complete, cut)
            line = encode_frame(body, True)
        live: list[bytes] = []
        if waited is not None:
            skip = {m.id for m in messages}
            held = [
                m
                for m, sender in room.waiting.held_since(waited)
                if m.raw and m.id not in skip and (self.echo or sender != client.key)
            ]
            live = client_frames(client.enveloped, held, False)
        over = send_replay(client, frames, line, live, self.max_queue)
        if not over:
            self.sent_messages += len(frames) + len(live)
            self.sent_bytes += sum(map(len, frames)) + sum(map(len, live))
        room.members[client] = None
        if client.enveloped:
            room.enveloped += 1
        if built:
            self._trim_history()  # now that the room has a member, it is not forgotten
        if over:
            self.drop_slow(client, over)

    def _admit_form(
        self,
        room: Room,
        client: Subscriber,
        form: Form,
        messages: list[RoomMessage],
        kept: bool,
        waited: Waiting | None,
    ) -> None:
        """:meth:`_admit` for a client of another form (Socket.IO): the newest of
        ``messages`` whose frames fit ``max_queue``, then what arrived while it waited; a
        client that encodes each message itself (long-polling) is handed the messages."""
        chosen = [_kept(m) for m in messages] if kept else [m for m in messages if not m.notice]
        frames, _ = fit([form.frames(m) for m in chosen], self.max_queue)
        chosen = chosen[len(chosen) - len(frames) :]
        held: list[RoomMessage] = []
        if waited is not None:
            skip = {m.id for m in chosen}
            held = [
                m
                for m, sender in room.waiting.held_since(waited)
                if m.id not in skip and (self.echo or sender != client.key)
            ]
        if client.shared_frames:
            live = [form.frames(m) for m in held]
            over = send_replay(client, frames, None, live, self.max_queue)
            sent = sum(map(len, frames)) + sum(map(len, live))
        else:
            replay = chosen + held
            over = client.send_messages(replay, self.max_queue) if replay else 0
            sent = sum(map(len, frames)) + sum(len(m.data) for m in held)
        if not over:
            self.sent_messages += len(chosen) + len(held)
            self.sent_bytes += sent
        room.members[client] = None
        if over:
            self.drop_slow(client, over)

    def _room(self, name: str) -> Room:
        room = self.rooms.get(name)
        if room is None:
            room = self.rooms[name] = Room(name, self.history)
        self._idle_rooms.pop(name, None)
        return room

    def _forget_history(self, room: Room) -> None:
        if room.history:
            room.history.clear()
            self.history_held -= room.history_held
            room.history_held = room.frame_bytes = 0
            self._kept.pop(room.name, None)

    def _room_emptied(self, room: Room) -> None:
        if self.rooms.get(room.name) is not room or room.members or room.waiting:
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
            if gone is not None and not gone.members and not gone.batch and not gone.waiting:
                del self.rooms[oldest]
                self.history_held -= gone.history_held
                self._kept.pop(oldest, None)

    # Fan-out

    def publish(self, room: str, message: RoomMessage, sender: str | None = None) -> None:
        """Send ``message`` to every client of ``room`` (through the backplane), under an
        id of this instance that every instance shows (:mod:`wscli.serve.message_id`)."""
        if not message.id:
            self._seq += 1
            message.id = local_id(self.instance_id, self._seq)
        self.backplane.publish(room, message, sender)

    def deliver_local(self, room_name: str, message: RoomMessage, sender: str | None) -> None:
        """Queue ``message`` for this instance's clients of ``room_name`` (backplane callback)."""
        room = self.rooms.get(room_name)
        if room is None:
            if message.notice or not self.history:
                return  # nobody here to tell, nothing to remember
            # e.g. from another instance: remember it for the clients who come later
            room = self._room(room_name)
        message.encode()
        if not message.id:
            self._seq += 1
            message.id = local_id(self.instance_id, self._seq)
        room.messages += 1
        room.bytes += len(message.data)
        if room.waiting:
            for client in room.waiting.hold(message, sender, self.max_queue):
                self.drop_slow(client, self.max_queue)
            if room.loading or self.rooms.get(room_name) is not room:
                return  # remembered after the shared history, once it is loaded
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

    def deliver_many(self, room_name: str, messages: list[tuple[RoomMessage, str | None]]) -> None:
        """:meth:`deliver_local` for a backplane's batch, in order: the room's own work once
        per batch, not once per message, when its clients take them at once."""
        room = self.rooms.get(room_name)
        if room is None or room.waiting or not room.members:
            for message, sender in messages:
                self.deliver_local(room_name, message, sender)
            return
        history = room.history
        for message, _ in messages:
            message.encode()
            if not message.id:
                self._seq += 1
                message.id = local_id(self.instance_id, self._seq)
            room.messages += 1
            room.bytes += len(message.data)
            if history is not None and not message.notice:
                self._remember(room, message)
        if not room.batch:
            self._dirty.append(room)
            if not self._flush_scheduled:
                self._flush_scheduled = True
                self._tick_started = time.monotonic()
                if self._loop is None:
                    self._loop = asyncio.get_running_loop()
                self._loop.call_soon(self.flush)
        room.batch.extend(messages)

    def history_loaded(self, room_name: str, messages: list[RoomMessage], complete: bool) -> None:
        """The backplane read ``room_name``'s shared history (see :meth:`Backplane.subscribe`):
        keep it, then let the clients that waited for it in, each with its replay."""
        room = self.rooms.get(room_name)
        if room is None or not room.loading:
            return  # every client left meanwhile
        room.loading = False
        room.evicted = not complete
        for message in messages:
            message.encode()
            if room.history is not None and not message.notice:
                self._remember(room, message)
        # A newcomer's replay is the history before the held messages, which follow it as
        # live: the newest of the held ones must not take the replay's places and leave
        # the older ones to come after them (a join saw h7 h0 h2 h4 h6, then h1 h3 h5).
        shared = list(room.history) if room.history else []
        for message, _ in room.waiting.held:
            if room.history is not None and not message.notice:
                self._remember(room, message)
        for client, waited in list(room.waiting.clients.items()):
            self._release(room, client, waited, shared)

    def gap_loaded(self, room_name: str, since: str, messages: list[RoomMessage] | None) -> None:
        """The backplane's answer to :meth:`Backplane.resume`: the clients of ``room_name``
        that wait with ``since`` get the gap (complete), or, when it was not found, the
        normal history (not complete)."""
        room = self.rooms.get(room_name)
        if room is None or room.loading:
            return  # stale: the room emptied (and may be loading again) meanwhile
        gap = messages or []
        for message in gap:
            message.encode()
        for client, waited in list(room.waiting.clients.items()):
            if waited.since != since:
                continue
            self._unwait(room, client)
            if messages is None:
                kept = list(room.history) if room.history else []
                self._admit(room, client, kept, True, (since, False), waited)
            else:
                self._admit(room, client, gap, False, (since, True), waited)

    def _release(
        self, room: Room, subscriber: Subscriber, waited: Waiting, shared: list[RoomMessage]
    ) -> None:
        """A client waited for the shared history: replay it (or look for its gap)."""
        self._unwait(room, subscriber)
        since = waited.since
        if since is None:
            replay = shared[-self.history :] if self.history else []
            self._admit(room, subscriber, replay, True, (None, False), waited)
            return
        self._enter(room, subscriber, since, waited)

    def _unwait(self, room: Room, client: Subscriber) -> None:
        """Take ``client`` off the waiting list, keeping the held messages it still needs."""
        room.waiting.clients.pop(client, None)

    def reordered(self, room_name: str) -> None:
        """See :meth:`Receiver.reordered`: resumes in this room go to the shared store."""
        room = self.rooms.get(room_name)
        if room is not None:
            room.reordered = True

    def lost(self, room_name: str, count: int) -> None:
        """See :meth:`Receiver.lost`: the page's clients are told some may be missing."""
        room = self.rooms.get(room_name)
        if room is None:
            return
        room.evicted = True
        last = room.history[-1].id if room.history else ""
        line = encode_frame(resume_envelope(last, 0, False), True)
        for client in room.members:
            if client.enveloped:
                if client.shared_frames:
                    client.send_frames(line, self.max_queue)
                else:
                    client.send_messages([frame_payload(line)], self.max_queue)

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
                idle = not oldest.members and not oldest.batch and not oldest.waiting
                if idle and self.rooms.get(name) is oldest:
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


def _suffixed(nick: str, number: int) -> str:
    """``nick (number)``, the nickname cut so that the whole is at most ``MAX_NICK``."""
    tail = f" ({number})"
    return nick[: MAX_NICK - len(tail)].rstrip() + tail


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
    message.author, message.cid, message.event = kept.author, kept.cid, kept.event
    message.id, message.when, message.frame = kept.id, kept.when, kept.frame
    return message
