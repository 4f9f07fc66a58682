"""What a client is sent when it enters a room: the history (or the gap since the last id it
saw), the page's resume line, then what arrived while it waited — as one write. Pure:
frames in, one call to the client out.

A replay never passes the client's ``--max-queue``: the newest messages that fit are sent
(:func:`fit`), and a cut replay is never called complete. What follows it (messages that
arrived while the client waited for the shared history or its gap) is live traffic and
goes through the same write, under the same rule as any live message.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from typing import Generic, Protocol, TypeVar

from wscli.serve.envelope import envelope
from wscli.serve.room_message import RoomMessage, encode_frame, frame_payload

__all__ = ["Waiting", "WaitingClients", "client_frames", "fit", "kept_envelope", "send_replay"]


class Waiting:
    """A client held back until its room's shared history, or its gap, has been read:
    ``since`` as it asked (None: a plain join), ``held_from`` the place in the room's held
    messages where its live traffic starts, ``held_bytes_at`` their bytes then."""

    __slots__ = ("held_bytes_at", "held_from", "since")

    def __init__(self, since: str | None, held_from: int, held_bytes_at: int) -> None:
        self.since = since
        self.held_from = held_from
        self.held_bytes_at = held_bytes_at


C = TypeVar("C")


class WaitingClients(Generic[C]):
    """The clients of one room that wait, and the messages delivered meanwhile (for them).

    Held messages are bounded like a client's queue: once what arrived since a client
    started waiting passes ``limit``, :meth:`hold` names it for dropping, oldest first.
    """

    __slots__ = ("clients", "held", "held_bytes")

    def __init__(self) -> None:
        self.clients: collections.OrderedDict[C, Waiting] = collections.OrderedDict()
        self.held: list[tuple[RoomMessage, str | None]] = []
        self.held_bytes = 0

    def __bool__(self) -> bool:
        return bool(self.clients)

    def add(self, client: C, since: str | None) -> None:
        self.clients[client] = Waiting(since, len(self.held), self.held_bytes)

    def remove(self, client: C) -> Waiting | None:
        waiting = self.clients.pop(client, None)
        if not self.clients:
            self.held.clear()
            self.held_bytes = 0
        return waiting

    def hold(self, message: RoomMessage, sender: str | None, limit: int) -> list[C]:
        """Keep ``message`` for the waiting clients; those it pushes past ``limit``."""
        self.held.append((message, sender))
        self.held_bytes += message.kept_size()
        over: list[C] = []
        for client, waiting in self.clients.items():  # oldest first: they hold the most
            if self.held_bytes - waiting.held_bytes_at <= limit:
                break
            over.append(client)
        return over

    def held_since(self, waiting: Waiting) -> list[tuple[RoomMessage, str | None]]:
        return self.held[waiting.held_from :]


def client_frames(enveloped: bool, messages: Sequence[RoomMessage], kept: bool) -> list[bytes]:
    """The frames of ``messages`` for one kind of client. ``kept``: copies from a room's
    history, which hold only their encoded frame (see :meth:`Room.remember`)."""
    if not enveloped:
        return [m.frame for m in messages]
    if kept:
        return [kept_envelope(m) for m in messages]
    return [m.envelope_frame() for m in messages]


def kept_envelope(kept: RoomMessage) -> bytes:
    """The ``wscli.chat.v1`` frame of a message kept in history (which holds only its frame)."""
    payload = frame_payload(kept.frame).data
    body = envelope(payload, kept.text, False, kept.author, kept.id, kept.when, kept.cid)
    return encode_frame(body, True)


def fit(frames: list[bytes], limit: int) -> tuple[list[bytes], bool]:
    """The newest ``frames`` whose total fits ``limit``; True when some were left out."""
    total = 0
    start = len(frames)
    while start > 0 and total + len(frames[start - 1]) <= limit:
        start -= 1
        total += len(frames[start])
    return frames[start:], start > 0


class Target(Protocol):
    """What :func:`send_replay` needs of a client (the hub's Subscriber provides it)."""

    @property
    def shared_frames(self) -> bool: ...

    @property
    def enveloped(self) -> bool: ...

    def send_frames(self, data: bytes, limit: int) -> int: ...

    def send_messages(self, messages: Sequence[RoomMessage], limit: int) -> int: ...


def send_replay(
    client: Target, replay: list[bytes], line: bytes | None, live: list[bytes], limit: int
) -> int:
    """Write the ``replay`` frames, the resume ``line`` (a frame) when there is one, then
    ``live``, in one write; the client's answer (0: written)."""
    frames = [*replay, line, *live] if line is not None else [*replay, *live]
    if not frames:
        return 0
    if client.shared_frames:
        return client.send_frames(b"".join(frames), limit)
    return client.send_messages([frame_payload(f) for f in frames], limit)
