"""What the hub of `wscli serve` needs from a client connection (:class:`Subscriber`) and
from a kind of client that takes room messages in another form (:class:`Form`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from wscli.serve.room_message import RoomMessage


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
