"""What an :class:`~wscli.wire.engine.Engine` needs from its command, and what it reports.

- :class:`Settings`: the limits and timeouts one command gives all its connections (shared:
  an idle connection holds one reference, not a copy);
- :class:`Owner`: the events, one method each, every one given the connection first, so one
  owner object can serve many connections (`serve`'s server holds tens of thousands);
- :class:`Ending`: how a connection ended (who closed, code and reason, or 1006).

Owners subclass :class:`Owner` to inherit no-op defaults for the events they ignore.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, Protocol, TypeVar

from websockets.frames import Close, Frame
from websockets.http11 import Request, Response

if TYPE_CHECKING:
    from wscli.wire.engine import Engine
    from wscli.wire.keepalive import Keepalive

Conn = TypeVar("Conn", bound="Engine", contravariant=True)
"""The connection type an owner is told about (a subclass of Engine for `serve`)."""

By = Literal["peer", "local"] | None
"""Who closed first: the peer, this side (wscli, or the protocol on its behalf), nobody."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """Limits and timeouts shared by the connections of one command.

    ``limit`` is the byte budget: everything queued for the peer (protocol output, messages,
    relayed frames) counts against it. Past it, reading from the peer pauses (its pings make
    pongs, its close an echo) and :meth:`Owner.over_budget` is told; a peer still over it
    after ``stall_timeout`` seconds is dropped (None: never; the owner may drop it sooner).
    """

    limit: int = 1 << 20
    stall_timeout: float | None = 20.0
    close_timeout: float = 2.0
    frames: bool = False
    """Deliver the frames (:meth:`Owner.frames_received`, the proxy) instead of whole
    messages."""
    high_water: int | None = None
    """The transport's write high-water mark (None: asyncio's default, 64 KiB)."""
    track_pings: bool = True
    """Remember each ping sent (payload → time) for the round trip of its pong; False where
    tens of thousands of connections share one :class:`~wscli.wire.keepalive.Keepalive`."""
    keepalive: Keepalive | None = None
    """Told of every pong, so it can stop waiting for it (see wscli.wire.keepalive)."""


@dataclasses.dataclass(frozen=True)
class Ending:
    """How a connection ended.

    ``rcvd``/``sent``: the close frames received and sent (None: none); ``peer_first``: the
    peer's came first. ``dropped``: the code and reason this side ended with without a close
    frame (a slow client dropped at once). ``stalled``: dropped because the peer read
    nothing of what was queued for it within the budget's deadline.
    """

    rcvd: Close | None = None
    sent: Close | None = None
    peer_first: bool = False
    dropped: Close | None = None
    stalled: bool = False
    exc: Exception | None = None

    @property
    def by(self) -> By:
        if self.rcvd is not None and (self.sent is None or self.peer_first):
            return "peer"
        if self.sent is not None or self.dropped is not None:
            return "local"
        return None

    @property
    def code(self) -> int:
        """The close code that tells the story: the first close frame's, else 1006."""
        close = self.first
        return close.code if close is not None else 1006

    @property
    def reason(self) -> str:
        close = self.first
        return close.reason if close is not None else ""

    @property
    def first(self) -> Close | None:
        """The close frame (or drop) of whoever closed first."""
        if self.by == "peer":
            return self.rcvd
        return self.sent if self.sent is not None else self.dropped


class Owner(Protocol[Conn]):
    """The events of a connection. Owners subclass it to inherit the defaults, which
    ignore the events; a command's own protocol may extend it (`serve`'s head phase).

    Called synchronously from the connection's ``asyncio.Protocol`` callbacks: an owner
    must not block. It may call the connection back (send, close, hold reading) from any
    of them.
    """

    def upgrade_requested(self, conn: Conn, request: Request) -> None:
        """Server side: the client's upgrade request. Reading is held until the owner
        calls ``conn.accept(response)`` or ``conn.answer(response)``."""
        return None

    def invalid_request(self, conn: Conn, exc: Exception) -> None:
        """Server side: what the client sent is not a valid HTTP request head (``exc`` and
        its ``__cause__`` say why, quoting the peer's bytes); it was answered 400 and the
        connection is ending."""
        return None

    def rejected(self, conn: Conn, response: Response | None) -> None:
        """Client side: the server did not accept the upgrade (``response`` None: no valid
        answer; ``conn.protocol.handshake_exc`` says why). The connection is closing."""
        return None

    def opened(self, conn: Conn) -> None:
        """The opening handshake completed: frames flow from now on."""
        return None

    def message_received(self, conn: Conn, data: bytes, text: bool) -> None:
        """A whole message (text already checked to be UTF-8)."""
        return None

    def messages_received(self, conn: Conn, messages: Sequence[str | bytes]) -> None:
        """Whole messages of one read, in order: text as str (checked UTF-8), binary as
        bytes (a direct client's, see wscli.wire.client). By default each goes to
        :meth:`message_received`."""
        for message in messages:
            if isinstance(message, str):
                self.message_received(conn, message.encode(), True)
            else:
                self.message_received(conn, message, False)

    def frames_received(self, conn: Conn, frames: Sequence[Frame]) -> None:
        """With ``Settings.frames``: the frames of one read as they came, control frames
        included (the pongs to this side's own pings go to :meth:`pong_observed`)."""
        return None

    def ping_observed(self, conn: Conn, data: bytes, sent: bool) -> None:
        """A ping received (answered already) or ``sent``."""
        return None

    def pong_observed(self, conn: Conn, data: bytes, rtt: float | None) -> None:
        """A pong received; ``rtt``: the round trip of the ping it answers, if ours."""
        return None

    def closing(self, conn: Conn) -> None:
        """The peer began the closing handshake, or broke the protocol: nothing more is
        delivered, and the answer goes out after this returns."""
        return None

    def closed(self, conn: Conn, ending: Ending) -> None:
        """The TCP connection is gone."""
        return None

    def over_budget(self, conn: Conn, queued: int) -> None:
        """What is queued for the peer passed ``Settings.limit`` (told once until it is
        back under half): a peer that reads none of it stops being read until it drains;
        the owner may drop it at once instead."""
        return None

    def writable(self, conn: Conn, writable: bool) -> None:
        """The transport's write buffer passed its high-water mark (False) or drained
        below its low-water mark (True): backpressure for whoever feeds this connection."""
        return None


def parse_close(data: bytes) -> Close:
    """The code and reason of a close frame's payload, already checked by the protocol
    (an empty payload is 1005, "no status received")."""
    if len(data) < 2:
        return Close(1005, "")
    return Close(int.from_bytes(data[:2], "big"), data[2:].decode("utf-8", "replace"))
