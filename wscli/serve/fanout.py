"""Fan-out of `wscli serve`: one room's batch of this tick, written to each of its clients
in one write (pure: no I/O of its own, the clients write).

The frames of the batch are joined ONCE and every client that takes the shared frames gets
the same bytes; clients of the ``wscli.chat.v1`` envelopes, and of each :class:`Form`
(Socket.IO namespaces), get bytes built once per batch for all of them. Only a client that
encodes per connection (compression, long-polling) is handed the messages themselves.
"""

from __future__ import annotations

from collections.abc import Callable

from wscli.serve.room import Room
from wscli.serve.room_message import RoomMessage
from wscli.serve.subscriber import Form, Subscriber

Batch = list[tuple[RoomMessage, str | None]]
"""A room's messages of one tick, each with its sender's key (None: the server's own)."""
Delivered = Callable[[str, RoomMessage, int], None]
"""Told, after a flush, of each delivered message that asks for an acknowledgement:
(sender key, message, how many of this instance's clients it was handed to)."""


class Sent:
    """What was written to clients: messages and bytes (what /metrics reads)."""

    __slots__ = ("bytes", "messages")

    def __init__(self) -> None:
        self.messages = 0
        self.bytes = 0


def send_batch(
    room: Room, batch: Batch, echo: bool, limit: int, sent: Sent
) -> list[tuple[Subscriber, int]]:
    """Write ``batch`` to the members of ``room`` (``echo`` False: each sender's own
    messages left out), counting it in ``sent``; the clients whose unsent bytes would pass
    ``limit`` (nothing written to them), with those bytes."""
    count = len(batch)
    shared = batch[0][0].frame if count == 1 else b"".join([m.frame for m, _ in batch])
    formed: dict[Form, bytes] = {}  # the same per form (e.g. Socket.IO), built if needed
    slow: list[tuple[Subscriber, int]] = []
    if not echo:
        _send_no_echo(room, batch, shared, formed, limit, slow, sent)
        return slow
    enveloped: bytes | None = None  # the same for wscli.chat.v1 clients, built if needed
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
    sent.messages += count * receivers
    sent.bytes += len(shared) * receivers + extra
    return slow


def acknowledge(room: Room, batch: Batch, echo: bool, delivered: Delivered) -> None:
    """Tell ``delivered`` of the messages of ``batch`` that ask for an acknowledgement: how
    many of the room's clients here each was handed to (the sender included unless
    --no-echo; raw clients only get what has a raw form)."""
    wanted = [
        (m, s)
        for m, s in batch
        if s is not None and m.event is not None and m.event.ack is not None
    ]
    if not wanted:
        return
    members = len(room.members)
    raw = sum(1 for client in room.members if client.form is None)
    for message, sender in wanted:
        count = members if message.raw else members - raw
        if not echo:
            count -= sum(1 for client in room.members if client.key == sender)
        delivered(sender, message, count)


def _send_no_echo(
    room: Room,
    batch: Batch,
    shared: bytes,
    formed: dict[Form, bytes],
    limit: int,
    slow: list[tuple[Subscriber, int]],
    sent: Sent,
) -> None:
    """--no-echo: each sender's own messages are left out of what it is sent."""
    enveloped: bytes | None = None
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
    sent.messages += sent_messages
    sent.bytes += sent_bytes


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
