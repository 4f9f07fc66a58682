"""One client connection of `wscli serve`: the connection engine
(:class:`~wscli.wire.engine.Engine`) with the server's own head phase and what the hub needs.

The life of a connection, and the rule each phase keeps:

- **HEAD**: bytes are collected (at most :data:`MAX_HEAD`) until the request head ends
  (``\\r\\n\\r\\n``), within the handshake timeout (one timer for every connection:
  :class:`~wscli.wire.deadlines.Deadlines`). Only the head is parsed, by our own strict
  parser (:mod:`wscli.core.httphead`): nothing after it is read — as a frame or anything
  else — before the server has decided.
- **decision** (synchronous, by the owner: :meth:`ServeOwner.on_request`, on the same
  websockets ``Request`` the library's parser would give): plain HTTP is answered in full, a
  refusal too; then the connection goes to **DISCARD**: everything still coming is dropped
  unread (pipelined requests are ignored, never misparsed), the write side is shut (FIN) so
  the answer arrives before the socket closes, and the socket is aborted after
  ``close_timeout`` if the client never closes. An admitted upgrade is checked by RFC 6455's
  rules (:mod:`wscli.core.upgrade`: 426 for a wrong version, 400 for a bad key) and gets our
  own 101; the engine takes over (:meth:`~wscli.wire.engine.Engine.open`: the one hand-over
  seam) and the bytes that followed the head are parsed as frames only then.
- **WAIT** (still the engine's handshake phase; a request the owner answers later: Socket.IO
  long-polling, see :class:`Deferred`): a ``POST`` body announced by ``Content-Length`` (its
  framing checked by the same head parser) is read first (bounded by the owner, within the
  handshake timeout, on the connection's own timer), then the connection
  waits for :meth:`ClientConnection.answer`; anything else the client sends is dropped
  unread (bounded).
- **OPEN** (the engine's): complete messages go straight to the owner (no queue, no task);
  the hub's broadcast frames are written as they are (:meth:`send_frames`); everything the
  protocol itself writes (pongs, close frames) counts against the same limit, --max-queue:
  a ping flooder that does not read is dropped there.
- **closing** (the engine's): bounded by ``close_timeout``; :meth:`drop` without a timeout
  aborts at once so a slow client's buffer is freed immediately.

An open connection has no ``ServerProtocol`` until the client sends something or a message
must be encoded for it (:meth:`Engine.new_protocol`): most chat clients are idle, and the
protocol object is 1.4 KB of the 3.6 KB an idle client held. Only with --compression, when
the client offers permessage-deflate, does websockets' own handshake run (after all the
checks above) and its protocol, which carries the negotiated extension, stay. The
connection subclasses our own engine (not a library class) so that a client is one object
with ``__slots__``: memory per idle client is what bounds `serve`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol

from wscli.core.httphead import MAX_REQUEST_LINE, HeadError, parse_request_head
from wscli.core.upgrade import (
    UpgradeError,
    check_upgrade,
    offered_subprotocols,
    switching_protocols,
)
from wscli.serve.admission import Admit
from wscli.serve.envelope import SUBPROTOCOL
from wscli.serve.http import (
    head_refused,
    method_not_allowed,
    request_line_too_long,
    text_response,
)
from wscli.serve.hub import Form, Hub, RoomMessage
from wscli.wire.deadlines import Deadlines
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
    handshakes: Deadlines[ClientConnection]
    """The handshake timeout of every connection still reading its head: one timer."""
    compression: bool
    """permessage-deflate offered (--compression)."""

    def protocol_for_handshake(self) -> ServerProtocol: ...

    def protocol_when_open(self) -> ServerProtocol: ...

    def on_connection_made(self, conn: ClientConnection) -> None: ...

    def select_subprotocol(self, offered: Sequence[str]) -> str | None:
        """The subprotocol to answer with (None: none); UpgradeError when one is required."""
        ...

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

    The :class:`~wscli.serve.subscriber.Subscriber` methods (``key``, ``room``, ``nick``,
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
    """Raw clients take the raw frames (see :class:`~wscli.serve.subscriber.Form`)."""

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
        if not self.is_open:
            return 0
        protocol = self.protocol_now()
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
        self.owner.handshakes.add(self)
        self.owner.on_connection_made(self)

    # The handshake

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner.handshakes.discard(self)
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
            owner.handshakes.discard(self)
            owner.on_bad_request(self, "not an HTTP request", None)
            return
        end = buffer.find(b"\r\n\r\n")
        if request_line_too_long(buffer):
            # Answered as soon as the line is too long, not when the head ends (or the
            # handshake times out): the parser would refuse it all the same.
            owner.handshakes.discard(self)
            why = f"request line over {MAX_REQUEST_LINE} bytes"
            owner.on_bad_request(self, why, head_refused(414))
            return
        if end < 0 or end + 4 > MAX_HEAD:
            if len(buffer) > MAX_HEAD or end >= 0:
                owner.handshakes.discard(self)
                owner.on_bad_request(
                    self,
                    f"request head over {MAX_HEAD} bytes",
                    text_response(431, "Request head too large."),
                )
                return
            self._fragments = (bytearray(buffer), False)
            return
        owner.handshakes.discard(self)
        head, rest = buffer[: end + 4], buffer[end + 4 :]
        method = head[: head.find(b" ")] if b" " in head[:16] else b""
        posting = method == b"POST" and owner.takes_body(_target(head))
        served = _GET_HEAD_POST if posting else _GET_HEAD
        if method and method not in served and method.isalpha() and method.isupper():
            # A request with a body is refused by the parser (but a POST that is served); a
            # method we do not serve gets its 405 before (RFC 9110 §15.5.6), body or not,
            # and the body is discarded.
            owner.on_bad_request(self, "", method_not_allowed())
            return
        try:
            parsed = parse_request_head(head, body=posting)
        except HeadError as exc:
            owner.on_bad_request(self, exc.reason, head_refused(exc.status))
            return
        headers = Headers(parsed.headers)
        request = Request(parsed.target, headers, parsed.method, parsed.version)
        decision = owner.on_request(self, request)
        if isinstance(decision, Response):
            self.answer(decision)
            return
        if not isinstance(decision, Admit):
            self._wait(decision, rest)
            return
        get_all = headers.get_all
        try:
            accept = check_upgrade(
                get_all("Connection"),
                get_all("Upgrade"),
                get_all("Sec-WebSocket-Key"),
                get_all("Sec-WebSocket-Version"),
            )
            subprotocol = owner.select_subprotocol(
                offered_subprotocols(get_all("Sec-WebSocket-Protocol"))
            )
        except UpgradeError as exc:
            response = text_response(
                exc.status, f"Failed to open a WebSocket connection: {exc.reason}."
            )
            for name, value in exc.headers:
                response.headers[name] = value
            owner.on_bad_request(self, exc.reason, response)
            return
        self.subprotocol = subprotocol
        self.enveloped = subprotocol == SUBPROTOCOL
        if owner.compression and "Sec-WebSocket-Extensions" in headers:
            # permessage-deflate is negotiated by websockets' handshake, whose protocol then
            # carries the extension for the life of the connection (there is no public way to
            # hand a negotiated extension to a fresh protocol). Everything above was checked
            # first; the library checks the request once more.
            self._compressed_handshake(head, rest)
            return
        # Our own 101: no protocol object until the client sends something.
        self.transport.write(switching_protocols(accept, subprotocol))
        self.open(None, rest)

    def _compressed_handshake(self, head: bytes, rest: bytes) -> None:
        owner = self.owner
        protocol = owner.protocol_for_handshake()
        protocol.receive_data(head)
        events = protocol.events_received()
        request = events[0] if events else None
        if not isinstance(request, Request):  # parsed above: cannot happen, but never trust
            owner.on_bad_request(self, _one_line(protocol.handshake_exc), None)
            return
        response = protocol.accept(request)
        if response.status_code != 101:
            owner.on_bad_request(self, _one_line(protocol.handshake_exc), response)
            return
        protocol.send_response(response)
        self.transport.write(b"".join(protocol.data_to_send()))
        if response.headers.get("Sec-WebSocket-Extensions") is None:
            self.open(None, rest)  # nothing negotiated: made when needed, like any other
            return
        self.shared_frames = False  # compressed: frames encoded per connection
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
            self.set_deadline(self.owner.handshakes.delay, self._body_timed_out)
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

    def new_protocol(self) -> ServerProtocol:
        return self.owner.protocol_when_open()

    def handshake_timed_out(self) -> None:
        """The handshake deadline passed (see wscli.wire.deadlines)."""
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
