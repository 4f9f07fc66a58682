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

The hub coordinates; each job has its module: the rooms and their history budget
(:mod:`~wscli.serve.rooms`), a joining client's replay and wait (:mod:`~wscli.serve.lobby`),
nicknames (:mod:`~wscli.serve.nicks`), and the writes of one room's batch
(:mod:`~wscli.serve.fanout`). It does no socket I/O itself: it talks to :class:`Subscriber`
objects (the server's connections) and schedules its flush on the running event loop.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

from wscli.core.exposition import Histogram
from wscli.serve.backplane import Backplane, Deliver, LocalBackplane, Receiver
from wscli.serve.envelope import resume_envelope
from wscli.serve.fanout import Delivered, Sent, acknowledge, send_batch
from wscli.serve.lobby import Lobby
from wscli.serve.message_id import local_id
from wscli.serve.nicks import claim_nick
from wscli.serve.room import Room
from wscli.serve.room_message import RoomMessage, encode_frame, frame_payload
from wscli.serve.rooms import DEFAULT_HISTORY_LIMIT, MAX_IDLE_ROOMS, Rooms
from wscli.serve.subscriber import Form, Subscriber

__all__ = [  # the seam, the message types and the limits live in their own modules
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

FANOUT_BOUNDS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)
"""Buckets of the fan-out delay histogram (seconds)."""

SLOW_CLIENT_CODE = 1013

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
        self.max_queue = max_queue
        self.backplane: Backplane = backplane if backplane is not None else LocalBackplane()
        self.instance_id = uuid.uuid4().hex[:12]
        self._rooms = Rooms(history, history_limit)
        self.rooms: dict[str, Room] = self._rooms.by_name
        self.clients = 0
        self._dirty: list[Room] = []
        self._flush_scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_slow_client = on_slow_client
        self.on_delivered = on_delivered
        self._next_id = 0
        self._seq = 0
        # What /metrics reads (plain integers: see wscli.serve.metrics).
        self.sent = Sent()
        self.fanout = Histogram(FANOUT_BOUNDS)
        self._tick_started = 0.0  # when this tick's first message reached the hub
        self._tick_messages = 0
        self._lobby = Lobby(
            self._rooms,
            self.backplane,
            self.sent,
            self.drop_slow,
            echo=echo,
            history=history,
            max_queue=max_queue,
            instance_id=self.instance_id,
        )

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
        return self._rooms.active

    @property
    def kept_rooms(self) -> int:
        """Rooms without clients kept for their history."""
        return self._rooms.kept

    @property
    def history_held(self) -> int:
        """The bytes of history all rooms hold (at most ``history_limit``)."""
        return self._rooms.held

    @property
    def sent_messages(self) -> int:
        """Messages written to clients (each receiver counts)."""
        return self.sent.messages

    @property
    def sent_bytes(self) -> int:
        """Bytes written to clients, counted before compression."""
        return self.sent.bytes

    # Membership

    def claim_nick(
        self, room_name: str, nick: str, session: str | None
    ) -> tuple[str, Subscriber | None]:
        """See :func:`wscli.serve.nicks.claim_nick`: the nickname ``nick`` gets in
        ``room_name``, and the client (of the same page session) it replaces, if any."""
        return claim_nick(self.rooms.get(room_name), nick, session)

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
        room = self._rooms.open(client.room)
        # Frames published before the join belong to the old members only.
        self._flush_room(room)
        if not room.members and not room.waiting and self.backplane.subscribe(room.name):
            self._rooms.forget_history(room)  # the backplane replays the shared history instead
            room.loading = room.shared = True
        self.clients += 1
        since = client.since if client.enveloped else None
        if room.loading:
            room.waiting.add(client, since)
        else:
            self._lobby.enter(room, client, since, None)
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
            self._rooms.emptied(room)
        if client.nick and announce:
            self.publish(
                client.room, RoomMessage(f"* {client.nick} left".encode(), True, True, client.nick)
            )
        return True

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
            room = self._rooms.open(room_name)
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
            self._rooms.remember(room, message, self.max_queue)
        if not room.members:
            self._rooms.emptied(room)
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
                self._rooms.remember(room, message, self.max_queue)
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
        """See :meth:`Receiver.history_loaded` and :meth:`Lobby.history_loaded`."""
        self._lobby.history_loaded(room_name, messages, complete)

    def gap_loaded(self, room_name: str, since: str, messages: list[RoomMessage] | None) -> None:
        """See :meth:`Receiver.gap_loaded` and :meth:`Lobby.gap_loaded`."""
        self._lobby.gap_loaded(room_name, since, messages)

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
        self._tick_messages += len(batch)
        slow = send_batch(room, batch, self.echo, self.max_queue, self.sent)
        if self.on_delivered is not None:
            acknowledge(room, batch, self.echo, self.on_delivered)
        for client, buffered in slow:
            self.drop_slow(client, buffered)
        if not room.members:
            self._rooms.emptied(room)

    def drop_slow(self, client: Subscriber, buffered: int) -> None:
        """Disconnect a client that stopped reading (1013), so it delays nobody."""
        self.leave(client)
        client.drop(SLOW_CLIENT_CODE, "too slow: outgoing queue full")
        if self._on_slow_client is not None:
            self._on_slow_client(client, buffered)
