"""One client connection of `wscli serve`: the connection engine
(:class:`~wscli.wire.engine.Engine`) with the server's own head phase and what the hub needs.

The life of a connection, and the rule each phase keeps:

- **HEAD**: bytes are collected (at most :data:`MAX_HEAD`) until the request head ends
  (``\\r\\n\\r\\n``). Only the head is given to a ``ServerProtocol``: nothing after it is
  parsed — as a frame or anything else — before the server has decided.
- **decision** (synchronous, by the owner: :meth:`ServeOwner.on_request`): plain HTTP is
  answered in full, a refusal too; then the connection goes to **DISCARD**: everything still
  coming is dropped unread (pipelined requests are ignored, never misparsed), the write side
  is shut (FIN) so the answer arrives before the socket closes, and the socket is aborted
  after ``close_timeout`` if the client never closes. An accepted upgrade gets its 101 and
  the engine takes over (:meth:`~wscli.wire.engine.Engine.open`: the one hand-over seam);
  the bytes that followed the head are parsed as frames only then.
- **WAIT** (still the engine's handshake phase; a request the owner answers later: Socket.IO
  long-polling, see :class:`Deferred`): a ``POST`` body announced by ``Content-Length`` is
  read first (bounded by the owner, within ``handshake_timeout``), then the connection
  waits for :meth:`ClientConnection.answer`; anything else the client sends is dropped
  unread (bounded).
- **OPEN** (the engine's): complete messages go straight to the owner (no queue, no task);
  the hub's broadcast frames are written as they are (:meth:`send_frames`); everything the
  protocol itself writes (pongs, close frames) counts against the same limit, --max-queue:
  a ping flooder that does not read is dropped there.
- **closing** (the engine's): bounded by ``close_timeout``; :meth:`drop` without a timeout
  aborts at once so a slow client's buffer is freed immediately.

After the handshake, the handshake's ``ServerProtocol`` (request, response, parser) is
replaced by a fresh ``ServerProtocol(state=OPEN)`` unless an extension (permessage-deflate)
was negotiated, which the public constructor cannot carry over: an idle connection then
holds only what it needs. The connection subclasses our own engine (not a library class)
so that a client is one object with ``__slots__``: memory per idle client is what bounds
`serve`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from websockets.http11 import Request, Response
from websockets.server import ServerProtocol

from wscli.serve.admission import Admit
from wscli.serve.envelope import SUBPROTOCOL
from wscli.serve.http import (
    MAX_REQUEST_LINE,
    BodyFramingError,
    bad_request,
    method_not_allowed,
    request_line_too_long,
    split_body_framing,
    text_response,
    uri_too_long,
)
from wscli.serve.hub import Form, Hub, RoomMessage
from wscli.wire.engine import DISCARD_LIMIT, DONE, HANDSHAKE, OPEN, Engine
from wscli.wire.owner import Ending, Owner, Settings
from wscli.wire.stream import WRITE_PAUSED

MAX_HEAD = 16 * 1024
"""Bytes of request head (request line and headers) accepted before 431."""

HEAD = HANDSHAKE
"""The engine's handshake phase: here, the request head being read (see above)."""

_GET_HEAD = (b"GET", b"HEAD")
_GET_HEAD_POST = (b"GET", b"HEAD", b"POST")


class Deferred(Protocol):
    """A request the owner answers later with :meth:`ClientConnection.answer` (a long-poll):
    the connection first reads ``body_length`` bytes of request body."""

    @property
    def body_length(self) -> int: ...

    def body_received(self, conn: ClientConnection, body: bytes) -> None:
        """The whole body (empty when ``body_length`` is 0) has arrived."""
        ...

    def connection_lost(self, conn: ClientConnection) -> None:
        """The connection ended before it was answered."""
        ...


class ServeOwner(Owner["ClientConnection"], Protocol):
    """What a connection reports to (the server), beyond the engine's events."""

    hub: Hub
    handshake_timeout: float

    def protocol_for_handshake(self) -> ServerProtocol: ...

    def protocol_when_open(self) -> ServerProtocol: ...

    def on_connection_made(self, conn: ClientConnection) -> None: ...

    def on_handshake_timeout(self, conn: ClientConnection) -> None: ...

    def on_request(self, conn: ClientConnection, request: Request) -> Response | Admit | Deferred:
        """Plain HTTP answer or refusal (sent, then the connection closes), admission, or a
        request answered later (a ``POST``'s ``Content-Length`` is the one in ``request``)."""
        ...

    def takes_body(self, target: str) -> bool:
        """Whether a ``POST`` to ``target`` is served (its body read); else 405."""
        ...

    def on_bad_request(self, conn: ClientConnection, why: str, response: Response | None) -> None:
        """A head that is not a request the server can take (logged; answered if a response)."""
        ...

    def on_wrote_backlogged(self, conn: ClientConnection, size: int) -> None: ...


class ClientConnection(Engine):
    """A client of `wscli serve`, from the TCP accept to the end (see the module docstring).

    The :class:`~wscli.serve.hub.Subscriber` methods (``key``, ``room``, ``nick``,
    ``shared_frames``, ``send_frames``, ``send_messages``, ``drop``) are called by the hub.
    """

    __slots__ = (
        "deferred",
        "enveloped",
        "key",
        "nick",
        "peer",
        "room",
        "shared_frames",
        "since",
        "started",
        "subprotocol",
    )

    owner: ServeOwner

    form: Form | None = None
    """Raw clients take the raw frames (see :class:`~wscli.serve.hub.Form`)."""

    def __init__(self, owner: ServeOwner, settings: Settings) -> None:
        super().__init__(owner, settings)
        self.key = ""
        """The hub's key for this client: "" until it joined the hub."""
        self.room = "/"
        self.nick: str | None = None
        self.shared_frames = True
        self.subprotocol: str | None = None
        self.enveloped = False
        """True when the client negotiated ``wscli.chat.v1`` (see wscli.serve.envelope)."""
        self.since: str | None = None
        """The last message id it saw (``?since=``): the hub replays only what followed."""
        self.peer: object = None
        """The client's address (``transport.get_extra_info("peername")``)."""
        self.started = 0.0
        """When it was accepted (``time.monotonic()``): the handshake's duration is timed."""
        self.deferred: Deferred | None = None
        """The request being answered later (WAIT); kept until the connection's end is told."""

    # Subscriber interface (called by the hub)

    @property
    def joined(self) -> bool:
        return bool(self.key)

    @property
    def client_id(self) -> int:
        """Its number in the logs (the end of its hub key; 0 until it joined). Read from
        the key, not kept: an int per client is 36 bytes of every idle connection."""
        key = self.key
        return int(key.rpartition(":")[2]) if key else 0

    @property
    def author(self) -> str:
        """Its nick, else ``#ID``: who it is in the JSON envelope."""
        return self.nick or f"#{self.client_id}"

    def buffered(self) -> int:
        """Bytes written but not yet taken by the kernel (or TLS)."""
        return self.transport.get_write_buffer_size()

    def send_frames(self, data: bytes, limit: int) -> int:
        """Write pre-encoded frames unless the unsent bytes would pass ``limit`` (the hub's
        contract: 0 when written or nothing to do, else the bytes still unsent)."""
        # Only OPEN connections: a close frame that came in the same read as messages
        # leaves the phase OPEN until those messages are relayed (see Owner.closing).
        if self.phase != OPEN:
            return 0
        # The hot path of every broadcast: written here, in full. Nothing the protocol
        # makes waits unwritten meanwhile (serve flushes it at once: pongs, closes, the
        # messages it encodes per connection), so the frames keep their place.
        transport = self.transport
        buffered = transport.get_write_buffer_size()
        if buffered and buffered + len(data) > limit:
            return buffered
        transport.write(data)
        self.bytes_out += len(data)
        if self.flags & WRITE_PAUSED:
            self.owner.on_wrote_backlogged(self, len(data))
        return 0

    def send_messages(self, messages: Sequence[RoomMessage], limit: int) -> int:
        """Like :meth:`send_frames`, encoding with this connection's extensions."""
        protocol = self.protocol
        if not self.is_open or protocol is None:
            return 0
        buffered = self.queued()
        size = sum(len(m.data) for m in messages)
        if buffered and buffered + size > limit:
            return buffered
        for message in messages:
            if message.text:
                protocol.send_text(message.data)
            else:
                protocol.send_binary(message.data)
        self.messages_out += len(messages)
        self.bytes_out += size
        self.flush()  # the hub writes once per client per tick already: no deferral
        if self.flags & WRITE_PAUSED:
            self.owner.on_wrote_backlogged(self, size)
        return 0

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.peer = transport.get_extra_info("peername")
        self.set_deadline(self.owner.handshake_timeout, self._handshake_timed_out)
        self.owner.on_connection_made(self)

    # The handshake

    def connection_lost(self, exc: Exception | None) -> None:
        deferred = self.deferred
        if deferred is not None:
            deferred.connection_lost(self)
        super().connection_lost(exc)  # the owner sees `deferred`: a request, not a bad head
        self.deferred = None

    def handshake_received(self, data: bytes) -> None:
        if self.deferred is not None:
            self._body_received(data)
            return
        # The head so far waits in the engine's fragment slot: nothing else uses it before
        # the connection is open (one slot less per idle client).
        partial = self._fragments
        buffer = bytes(partial[0]) + data if partial is not None else data
        self._fragments = None
        self.bytes_in += len(data)  # the head too: a probe that sent none is logged apart
        owner = self.owner
        if not _plausible_request(buffer):
            # Garbage, a TLS hello on the plain port: no need to wait for the timeout.
            self.clear_deadline()
            owner.on_bad_request(self, "not an HTTP request", None)
            return
        end = buffer.find(b"\r\n\r\n")
        if request_line_too_long(buffer):
            self.clear_deadline()
            why = f"request line over {MAX_REQUEST_LINE} bytes"
            owner.on_bad_request(self, why, uri_too_long())
            return
        if end < 0 or end + 4 > MAX_HEAD:
            if len(buffer) > MAX_HEAD or end >= 0:
                self.clear_deadline()
                owner.on_bad_request(
                    self,
                    f"request head over {MAX_HEAD} bytes",
                    text_response(431, "Request head too large."),
                )
                return
            self._fragments = (bytearray(buffer), False)
            return
        self.clear_deadline()
        head, rest = buffer[: end + 4], buffer[end + 4 :]
        method = head[: head.find(b" ")] if b" " in head[:16] else b""
        posting = method == b"POST" and owner.takes_body(_target(head))
        served = _GET_HEAD_POST if posting else _GET_HEAD
        if method and method not in served and method.isalpha() and method.isupper():
            # websockets' parser refuses requests with a body; a method we do not serve gets
            # its 405 before (RFC 9110 §15.5.6), body or not, and the body is discarded.
            owner.on_bad_request(self, "", method_not_allowed())
            return
        body_length = None
        if posting:
            # websockets' parser takes no body: its framing is checked and taken out here,
            # then given back to the owner as the one Content-Length of the request.
            try:
                head, body_length = split_body_framing(head)
            except BodyFramingError as framing:
                owner.on_bad_request(self, "", text_response(framing.status, str(framing)))
                return
        protocol = owner.protocol_for_handshake()
        protocol.receive_data(head)
        events = protocol.events_received()
        if not events or not isinstance(events[0], Request):
            exc = protocol.handshake_exc
            owner.on_bad_request(self, _one_line(exc), bad_request(exc))
            return
        request = events[0]
        if body_length is not None:
            request.headers["Content-Length"] = str(body_length)
        decision = owner.on_request(self, request)
        if isinstance(decision, Response):
            self.answer(decision)
            return
        if not isinstance(decision, Admit):
            self._wait(decision, rest)
            return
        response = protocol.accept(request)
        if response.status_code != 101:
            owner.on_bad_request(self, _one_line(protocol.handshake_exc), response)
            return
        protocol.send_response(response)
        self.transport.write(b"".join(protocol.data_to_send()))
        if response.headers.get("Sec-WebSocket-Extensions") is None:
            # Nothing negotiated to carry over: a fresh, smaller protocol object replaces the
            # one that holds the handshake (the constructor's public ``state`` parameter).
            protocol = owner.protocol_when_open()
        else:
            self.shared_frames = False  # compressed: frames encoded per connection
        self.subprotocol = response.headers.get("Sec-WebSocket-Protocol")
        self.enveloped = self.subprotocol == SUBPROTOCOL
        self.open(protocol, rest)

    def answer(self, response: Response) -> None:
        """Send ``response`` (not a 101) and close: the rest of the input is discarded."""
        self.deferred = None
        self._fragments = None
        self.clear_deadline()
        super().answer(response)

    def _wait(self, deferred: Deferred, rest: bytes) -> None:
        """WAIT: read the body the owner expects, hand it over, wait for the answer."""
        self.deferred = deferred
        self.bytes_in = 0  # from now on: the bytes after the head (the body, then dropped)
        if deferred.body_length:
            self.set_deadline(self.owner.handshake_timeout, self._body_timed_out)
        else:
            deferred.body_received(self, b"")
        if rest and self.deferred is deferred:
            self._body_received(rest)

    def _body_received(self, data: bytes) -> None:
        """Body bytes (up to ``body_length``) are kept, in the engine's fragment slot as the
        head was; what follows is dropped unread, at most DISCARD_LIMIT of it."""
        deferred = self.deferred
        assert deferred is not None
        before = self.bytes_in
        self.bytes_in += len(data)
        length = deferred.body_length
        if before >= length:
            if self.bytes_in - length > DISCARD_LIMIT:
                self.abort()
            return
        partial = self._fragments
        if partial is None:
            partial = self._fragments = (bytearray(), False)
        partial[0].extend(data[: length - before])
        if self.bytes_in >= length:
            self._fragments = None
            self.clear_deadline()
            deferred.body_received(self, bytes(partial[0]))

    def _body_timed_out(self) -> None:
        self._timer = None
        if self.phase == HEAD:
            self.abort()

    def _handshake_timed_out(self) -> None:
        self._timer = None
        if self.phase == HEAD:
            self.phase = DONE
            self.owner.on_handshake_timeout(self)
            self.transport.abort()


def close_details(ending: Ending) -> tuple[int, str, str | None]:
    """(code, reason, by) of a finished connection, in the server's words: "client" or
    "server" closed first; 1006 when no close frame came."""
    close = ending.first
    if close is None:
        return 1006, "connection dropped without a close frame", None
    return close.code, close.reason, "client" if ending.by == "peer" else "server"


def _target(head: bytes) -> str:
    """The request target of a head (``POST /x?y HTTP/1.1`` → ``/x?y``), or ""."""
    parts = head[: head.find(b"\r\n")].split(b" ")
    return parts[1].decode("ascii", "replace") if len(parts) == 3 else ""


def _plausible_request(start: bytes) -> bool:
    """False when ``start`` cannot begin an HTTP request: it must start with a method
    (upper-case letters) followed by a space."""
    space = start.find(b" ", 0, 17)
    method = start[:space] if space >= 0 else start[:17]
    if space < 0 and len(start) >= 17:
        return False
    return not method or (method.isalpha() and method.isupper())


def _one_line(exc: BaseException | None) -> str:
    """An exception and its causes on one line."""
    if exc is None:
        return "invalid request"
    text = str(exc)
    cause = exc.__cause__
    while cause is not None:
        text += f"; {cause}"
        cause = cause.__cause__
    return " ".join(text.split())
