"""A chat message as `wscli serve` relays it, and the server-to-client frames it travels in
(pure: no I/O). The hub fans these out; the backplanes carry them between instances."""

from __future__ import annotations

import struct

from wscli.core.ndjson import timestamp
from wscli.core.socketio import RelayedEvent
from wscli.serve.envelope import envelope

OP_TEXT = 0x1
OP_BINARY = 0x2


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
    older instance over a backplane), used by the JSON envelope of the page's subprotocol;
    ``cid`` the id its sender gave it (:mod:`wscli.serve.chat_commands`), in the envelope too.

    ``event`` is the Socket.IO event a Socket.IO client emitted (None for a raw message,
    which Socket.IO clients get as a ``message`` event); ``raw`` False means raw clients get
    nothing of it (an event other than ``message``): ``data`` and ``frame`` are then empty.
    """

    __slots__ = (
        "author",
        "cid",
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
        cid: str | None = None,
        event: RelayedEvent | None = None,
        raw: bool = True,
    ) -> None:
        self.data = data
        self.text = text
        self.notice = notice
        self.author = author
        self.cid = cid
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
            payload = envelope(
                self.data, self.text, self.notice, self.author, self.id, self.when, self.cid
            )
            self.enveloped = encode_frame(payload, True)
        return self.enveloped

    def as_envelope(self) -> RoomMessage:
        """The ``wscli.chat.v1`` text message (for clients that encode per connection)."""
        frame = self.envelope_frame()
        return frame_payload(frame)

    def encode(self) -> None:
        """Fill in :attr:`frame` once (raw clients get nothing of a message not ``raw``)."""
        if not self.frame and self.raw:
            self.frame = encode_frame(self.data, self.text)

    def kept_size(self) -> int:
        """Bytes this message holds once encoded (its frame, and its Socket.IO event)."""
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
