"""How a client enters a room of `wscli serve`: the replay of the kept history (or of the
gap since the last id it saw, ``?since=``), the page's resume line, and the messages that
arrived while it waited for the backplane's read of the shared history or of its gap.

A replay is one write (:func:`wscli.serve.replay.send_replay`) of at most ``--max-queue``
bytes, so a newcomer always takes it; what arrived while the client waited follows in the
same write, less what the replay holds. Then the client is a member like any other.
"""

from __future__ import annotations

from collections.abc import Callable

from wscli.serve.backplane import Backplane
from wscli.serve.envelope import RESUME_RESERVE, resume_envelope
from wscli.serve.fanout import Sent
from wscli.serve.message_id import resume_start
from wscli.serve.replay import Waiting, client_frames, fit, send_replay
from wscli.serve.room import Room
from wscli.serve.room_message import RoomMessage, encode_frame, frame_payload
from wscli.serve.rooms import Rooms
from wscli.serve.subscriber import Form, Subscriber


class Lobby:
    """Lets clients into the rooms of one hub: at once when the kept history serves them,
    else after they wait (in ``room.waiting``) for the backplane's read.

    ``history`` is how many messages a plain join replays; ``echo`` False leaves a client's
    own messages out of what it waited for; a client that does not take its replay
    (``max_queue``) is handed to ``drop_slow``.
    """

    def __init__(
        self,
        rooms: Rooms,
        backplane: Backplane,
        sent: Sent,
        drop_slow: Callable[[Subscriber, int], None],
        *,
        echo: bool,
        history: int,
        max_queue: int,
        instance_id: str,
    ) -> None:
        self.rooms = rooms
        self.backplane = backplane
        self.sent = sent
        self.drop_slow = drop_slow
        self.echo = echo
        self.history = history
        self.max_queue = max_queue
        self.instance_id = instance_id

    def history_loaded(self, room_name: str, messages: list[RoomMessage], complete: bool) -> None:
        """The backplane read ``room_name``'s shared history (see :meth:`Backplane.subscribe`):
        keep it, then let the clients that waited for it in, each with its replay."""
        room = self.rooms.by_name.get(room_name)
        if room is None or not room.loading:
            return  # every client left meanwhile
        room.loading = False
        room.evicted = not complete
        for message in messages:
            message.encode()
            if room.history is not None and not message.notice:
                self.rooms.remember(room, message, self.max_queue)
        # A newcomer's replay is the history before the held messages, which follow it as
        # live: the newest of the held ones must not take the replay's places and leave
        # the older ones to come after them (a join saw h7 h0 h2 h4 h6, then h1 h3 h5).
        shared = list(room.history) if room.history else []
        for message, _ in room.waiting.held:
            if room.history is not None and not message.notice:
                self.rooms.remember(room, message, self.max_queue)
        for client, waited in list(room.waiting.clients.items()):
            self._release(room, client, waited, shared)

    def gap_loaded(self, room_name: str, since: str, messages: list[RoomMessage] | None) -> None:
        """The backplane's answer to :meth:`Backplane.resume`: the clients of ``room_name``
        that wait with ``since`` get the gap (complete), or, when it was not found, the
        normal history (not complete)."""
        room = self.rooms.by_name.get(room_name)
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
                self.admit(room, client, kept, True, (since, False), waited)
            else:
                self.admit(room, client, gap, False, (since, True), waited)

    def _release(
        self, room: Room, subscriber: Subscriber, waited: Waiting, shared: list[RoomMessage]
    ) -> None:
        """A client waited for the shared history: replay it (or look for its gap)."""
        self._unwait(room, subscriber)
        since = waited.since
        if since is None:
            replay = shared[-self.history :] if self.history else []
            self.admit(room, subscriber, replay, True, (None, False), waited)
            return
        self.enter(room, subscriber, since, waited)

    def _unwait(self, room: Room, client: Subscriber) -> None:
        """Take ``client`` off the waiting list, keeping the held messages it still needs."""
        room.waiting.clients.pop(client, None)

    def enter(
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
        self.admit(room, client, kept, True, (since, complete), waited)

    def admit(
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
            self.sent.messages += len(frames) + len(live)
            self.sent.bytes += sum(map(len, frames)) + sum(map(len, live))
        room.members[client] = None
        if client.enveloped:
            room.enveloped += 1
        if built:
            self.rooms.built(built)  # now that the room has a member, it is not forgotten
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
        """:meth:`admit` for a client of another form (Socket.IO): the newest of
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
            self.sent.messages += len(chosen) + len(held)
            self.sent.bytes += sent
        room.members[client] = None
        if over:
            self.drop_slow(client, over)


def _kept(kept: RoomMessage) -> RoomMessage:
    """A message kept in history (which holds its frame, not its payload) as a whole one."""
    message = frame_payload(kept.frame) if kept.raw else RoomMessage(b"", kept.text, raw=False)
    message.author, message.cid, message.event = kept.author, kept.cid, kept.event
    message.id, message.when, message.frame = kept.id, kept.when, kept.frame
    return message
