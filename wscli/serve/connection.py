"""One client connection of `wscli serve`: an ``asyncio.Protocol`` over websockets' sans-I/O
``ServerProtocol`` (its public API only: bytes in, events and bytes out).

The life of a connection, and the rule each phase keeps:

- **HEAD**: bytes are collected (at most :data:`MAX_HEAD`) until the request head ends
  (``\\r\\n\\r\\n``). Only the head is given to a ``ServerProtocol``: nothing after it is
  parsed — as a frame or anything else — before the server has decided.
- **decision** (synchronous, by the owner: :meth:`Owner.on_request`): plain HTTP is answered
  in full, a refusal too; then the connection goes to **DISCARD**: everything still coming
  is dropped unread (pipelined requests are ignored, never misparsed), the write side is
  shut (FIN) so the answer arrives before the socket closes, and the socket is aborted
  after ``close_timeout`` if the client never closes. An accepted upgrade gets its 101 and
  the bytes that followed the head are parsed as frames only then.
- **WAIT** (a request the owner answers later: Socket.IO long-polling, see
  :class:`Deferred`): a ``POST`` body announced by ``Content-Length`` is read first
  (bounded by the owner, within ``handshake_timeout``), then the connection waits for
  :meth:`ClientConnection.answer`; anything else the client sends is dropped unread.
- **OPEN**: complete messages go straight to the owner (no queue, no task); the hub's
  broadcast frames are written as they are (:meth:`send_frames`); everything the protocol
  itself writes (pongs, close frames) is counted against the same per-client limit as
  broadcasts — a ping flooder that does not read is dropped at ``max_queue``.
- **closing**: a close handshake or failure is bounded by ``close_timeout``; :meth:`drop`
  without a timeout aborts at once so a slow client's buffer is freed immediately.

After the handshake, the handshake's ``ServerProtocol`` (request, response, parser) is
replaced by a fresh ``ServerProtocol(state=OPEN)`` unless an extension (permessage-deflate)
was negotiated, which the public constructor cannot carry over: an idle connection then
holds only what it needs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol as TypingProtocol

from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State
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

KEEPALIVE_PING = b"wscli"
MAX_HEAD = 16 * 1024
"""Bytes of request head (request line and headers) accepted before 431."""
DISCARD_LIMIT = 1 << 20
"""Bytes read and dropped after a plain HTTP answer or a refusal before aborting."""

HEAD, OPEN, DISCARD, DONE, WAIT = range(5)
"""Phases of a connection (see the module docstring)."""

_OPEN = State.OPEN
_GET_HEAD = (b"GET", b"HEAD")
_GET_HEAD_POST = (b"GET", b"HEAD", b"POST")
_CLOSED = State.CLOSED
_TEXT, _BINARY, _CONT, _PONG = Opcode.TEXT, Opcode.BINARY, Opcode.CONT, Opcode.PONG


class Deferred(TypingProtocol):
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


class Owner(TypingProtocol):
    """What a connection reports to (the server)."""

    hub: Hub
    max_queue: int
    close_timeout: float
    handshake_timeout: float

    def protocol_for_handshake(self) -> ServerProtocol: ...

    def protocol_when_open(self) -> ServerProtocol: ...

    def on_connection_made(self, conn: ClientConnection) -> None: ...

    def on_handshake_timeout(self, conn: ClientConnection) -> None: ...

    def on_request(self, conn: ClientConnection, request: Request) -> Response | Admit | Deferred:
        """Plain HTTP answer or refusal (sent, then the connection closes), admission, or a
        request answered later (a ``POST``'s ``Content-Length`` is the one in ``request``)."""
        ...

    def on_bad_request(self, conn: ClientConnection, why: str, response: Response | None) -> None:
        """A head that is not a request the server can take (logged; answered if a response)."""
        ...

    def takes_body(self, target: str) -> bool:
        """Whether a ``POST`` to ``target`` is served (its body read); else 405."""
        ...

    def on_open(self, conn: ClientConnection, admitted: Admit, response: Response) -> None: ...

    def on_message(self, conn: ClientConnection, data: bytes, text: bool) -> None: ...

    def on_keepalive_pong(self, conn: ClientConnection) -> None: ...

    def on_backlog(self, conn: ClientConnection, backlogged: bool) -> None: ...

    def on_wrote_backlogged(self, conn: ClientConnection, size: int) -> None: ...

    def on_over_limit(self, conn: ClientConnection, buffered: int) -> None: ...

    def on_connection_lost(self, conn: ClientConnection, exc: Exception | None) -> None: ...


class ClientConnection(asyncio.Protocol):
    """A client of `wscli serve`, from the TCP accept to the end (see the module docstring).

    The :class:`~wscli.serve.hub.Subscriber` methods (``key``, ``room``, ``nick``,
    ``shared_frames``, ``send_frames``, ``send_messages``, ``drop``) are called by the hub.
    """

    __slots__ = (
        "_body",
        "_buffer",
        "_fragments",
        "_timer",
        "author",
        "client_id",
        "closed_by_server",
        "deferred",
        "enveloped",
        "eof",
        "key",
        "nick",
        "owner",
        "paused",
        "peer",
        "phase",
        "protocol",
        "received",
        "room",
        "shared_frames",
        "since",
        "started",
        "subprotocol",
        "transport",
    )

    form: Form | None = None
    """Raw clients take the raw frames (see :class:`~wscli.serve.hub.Form`)."""

    def __init__(self, owner: Owner) -> None:
        self.owner = owner
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.protocol: ServerProtocol | None = None
        self.phase = HEAD
        self.key = ""
        """The hub's key for this client: "" until it joined the hub."""
        self.room = "/"
        self.nick: str | None = None
        self.client_id = 0
        self.author: str | None = None
        """Its nick, else ``#ID``: who it is in the JSON envelope (set when it joins)."""
        self.shared_frames = True
        self.subprotocol: str | None = None
        self.enveloped = False
        """True when the client negotiated ``wscli.chat.v1`` (see wscli.serve.envelope)."""
        self.since: str | None = None
        """The last message id it saw (``?since=``): the hub replays only what followed."""
        self.paused = False
        self.peer: object = None
        """The client's address (``transport.get_extra_info("peername")``)."""
        self.eof = False
        self.received = 0
        """Bytes received before the decision (for the log: a probe sends none)."""
        self.closed_by_server: tuple[int, str] | None = None
        self.deferred: Deferred | None = None
        """The request being answered later (phase WAIT)."""
        self.started = 0.0
        """When it was accepted (``time.monotonic()``): the handshake's duration is timed."""
        self._buffer = b""
        self._body: bytearray | None = None
        self._fragments: tuple[bytearray, bool] | None = None
        self._timer: asyncio.TimerHandle | None = None

    # Subscriber interface (called by the hub)

    @property
    def joined(self) -> bool:
        return bool(self.key)

    @property
    def is_open(self) -> bool:
        """True while messages may be sent to this client."""
        protocol = self.protocol
        return self.phase == OPEN and protocol is not None and protocol.state is _OPEN

    def buffered(self) -> int:
        """Bytes written but not yet taken by the kernel (or TLS)."""
        return self.transport.get_write_buffer_size()

    def send_frames(self, data: bytes, limit: int) -> int:
        """Write pre-encoded frames unless the unsent bytes would pass ``limit`` (the hub's
        contract: 0 when written or nothing to do, else the bytes still unsent)."""
        # Only OPEN connections: a close frame that came in the same read as messages
        # leaves the phase OPEN until those messages are relayed (see _frames_received).
        if self.phase != OPEN:
            return 0
        transport = self.transport
        buffered = transport.get_write_buffer_size()
        if buffered and buffered + len(data) > limit:
            return buffered
        transport.write(data)
        if self.paused:
            self.owner.on_wrote_backlogged(self, len(data))
        return 0

    def send_messages(self, messages: Sequence[RoomMessage], limit: int) -> int:
        """Like :meth:`send_frames`, encoding with this connection's extensions."""
        protocol = self.protocol
        if self.phase != OPEN or protocol is None or protocol.state is not _OPEN:
            return 0
        transport = self.transport
        buffered = transport.get_write_buffer_size()
        if buffered and buffered + sum(len(m.data) for m in messages) > limit:
            return buffered
        for message in messages:
            if message.text:
                protocol.send_text(message.data)
            else:
                protocol.send_binary(message.data)
        data = b"".join(protocol.data_to_send())  # open: no end-of-stream marker among them
        transport.write(data)
        if self.paused:
            self.owner.on_wrote_backlogged(self, len(data))
        return 0

    def drop(self, code: int, reason: str, timeout: float | None = None) -> None:
        """Close now without waiting for the unsent bytes to drain.

        ``timeout`` None (a slow client): the close is recorded and the socket aborted at
        once, which frees its buffer. Otherwise a close frame goes out behind what is
        buffered and the socket is aborted if the client has not closed after ``timeout``.
        """
        protocol = self.protocol
        if self.phase != OPEN or protocol is None:
            if self.phase in (HEAD, DISCARD, WAIT):
                self._finish_abort()
            return
        self.phase = DONE
        if protocol.state is _OPEN:
            self.closed_by_server = (code, reason)
            if timeout is not None:
                protocol.send_close(code, reason)
                self._write_protocol_output()
        if timeout is None:
            self._finish_abort()
        else:
            self._arm(timeout, self._finish_abort)

    def fail(self, code: int, reason: str) -> None:
        """Fail the connection (RFC 6455 §7.1.7), e.g. invalid UTF-8 or keepalive timeout."""
        protocol = self.protocol
        if protocol is None or self.phase != OPEN:
            return
        self.phase = DONE  # what follows in the same read is not relayed
        if protocol.state is _OPEN:
            self.closed_by_server = (code, reason)
            protocol.fail(code, reason)
            self._write_protocol_output()
        self._arm(self.owner.close_timeout, self._finish_abort)

    def send_keepalive_ping(self) -> bool:
        """Send the keepalive ping (its pong goes to ``owner.on_keepalive_pong``)."""
        if not self.is_open:
            return False
        assert self.protocol is not None
        self.protocol.send_ping(KEEPALIVE_PING)
        self._write_protocol_output()
        return True

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.peer = transport.get_extra_info("peername")
        self._arm(self.owner.handshake_timeout, self._handshake_timed_out)
        self.owner.on_connection_made(self)

    def data_received(self, data: bytes) -> None:
        phase = self.phase
        if phase == OPEN:
            self._frames_received(data)
        elif phase == HEAD:
            self._head_received(data)
        elif phase == DISCARD:
            self.received += len(data)
            if self.received > DISCARD_LIMIT:
                self._finish_abort()
        elif phase == WAIT:
            self._body_received(data)
        # DONE: a failed or dropped connection reads nothing more

    def eof_received(self) -> bool | None:
        self.eof = True
        protocol = self.protocol
        if self.phase in (OPEN, DONE) and protocol is not None:
            protocol.receive_eof()
            if self.phase == OPEN:
                self._deliver(protocol.events_received())
                self.phase = DONE
            self._write_protocol_output()
        return None  # the transport closes itself

    def pause_writing(self) -> None:
        self.paused = True
        self.owner.on_backlog(self, True)

    def resume_writing(self) -> None:
        self.paused = False
        self.owner.on_backlog(self, False)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        protocol = self.protocol
        if protocol is not None and not self.eof and self.phase != HEAD:
            self.eof = True
            protocol.receive_eof()
            protocol.data_to_send()  # nowhere to send it now
        deferred, self.deferred = self.deferred, None
        if deferred is not None:
            deferred.connection_lost(self)
        self.owner.on_connection_lost(self, exc)  # still in the phase it ended in
        self.phase = DONE

    # The handshake

    def _head_received(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        self.received += len(data)
        if not _plausible_request(buffer):
            # Garbage, a TLS hello on the plain port: no need to wait for the timeout.
            self._cancel_timer()
            self.owner.on_bad_request(self, "not an HTTP request", None)
            return
        end = buffer.find(b"\r\n\r\n")
        if request_line_too_long(buffer):
            self._cancel_timer()
            why = f"request line over {MAX_REQUEST_LINE} bytes"
            self.owner.on_bad_request(self, why, uri_too_long())
            return
        if end < 0 or end + 4 > MAX_HEAD:
            if len(buffer) > MAX_HEAD or end >= 0:
                self._cancel_timer()
                self.owner.on_bad_request(
                    self,
                    f"request head over {MAX_HEAD} bytes",
                    text_response(431, "Request head too large."),
                )
                return
            self._buffer = buffer
            return
        self._buffer = b""
        self._cancel_timer()
        head, rest = buffer[: end + 4], buffer[end + 4 :]
        method = head[: head.find(b" ")] if b" " in head[:16] else b""
        posting = method == b"POST" and self.owner.takes_body(_target(head))
        served = _GET_HEAD_POST if posting else _GET_HEAD
        if method and method not in served and method.isalpha() and method.isupper():
            # websockets' parser refuses requests with a body; a method we do not serve gets
            # its 405 before (RFC 9110 §15.5.6), body or not, and the body is discarded.
            self.owner.on_bad_request(self, "", method_not_allowed())
            return
        body_length = None
        if posting:
            # websockets' parser takes no body: its framing is checked and taken out here,
            # then given back to the owner as the one Content-Length of the request.
            try:
                head, body_length = split_body_framing(head)
            except BodyFramingError as framing:
                self.owner.on_bad_request(self, "", text_response(framing.status, str(framing)))
                return
        protocol = self.owner.protocol_for_handshake()
        protocol.receive_data(head)
        events = protocol.events_received()
        if not events or not isinstance(events[0], Request):
            self.protocol = None
            exc = protocol.handshake_exc
            self.owner.on_bad_request(self, _one_line(exc), bad_request(exc))
            return
        request = events[0]
        if body_length is not None:
            request.headers["Content-Length"] = str(body_length)
        decision = self.owner.on_request(self, request)
        if isinstance(decision, Response):
            self.answer(decision)
            return
        if not isinstance(decision, Admit):
            self._wait(decision, rest)
            return
        response = protocol.accept(request)
        if response.status_code != 101:
            self.owner.on_bad_request(self, _one_line(protocol.handshake_exc), response)
            return
        protocol.send_response(response)
        self.transport.write(b"".join(protocol.data_to_send()))
        self.phase = OPEN
        if response.headers.get("Sec-WebSocket-Extensions") is None:
            # Nothing negotiated to carry over: a fresh, smaller protocol object replaces the
            # one that holds the handshake (the constructor's public ``state`` parameter).
            protocol = self.owner.protocol_when_open()
        else:
            self.shared_frames = False  # compressed: frames encoded per connection
        self.protocol = protocol
        self.subprotocol = response.headers.get("Sec-WebSocket-Protocol")
        self.enveloped = self.subprotocol == SUBPROTOCOL
        self.owner.on_open(self, decision, response)
        if rest and self.phase == OPEN:
            self._frames_received(rest)

    def answer(self, response: Response) -> None:
        """Send ``response`` (not a 101) and close: the rest of the input is discarded."""
        if self.phase == DONE:
            return
        self.deferred = None
        self._cancel_timer()
        self.transport.write(response.serialize())
        self.end()

    def _wait(self, deferred: Deferred, rest: bytes) -> None:
        """WAIT: read the body the owner expects, hand it over, wait for the answer."""
        self.phase = WAIT
        self.deferred = deferred
        self.received = 0
        if deferred.body_length:
            self._arm(self.owner.handshake_timeout, self._body_timed_out)
        else:
            deferred.body_received(self, b"")
        if rest and self.phase == WAIT:
            self._body_received(rest)

    def _body_received(self, data: bytes) -> None:
        """Body bytes (up to ``body_length``) are kept; what follows is dropped unread."""
        before = self.received
        self.received += len(data)
        deferred = self.deferred
        length = deferred.body_length if deferred is not None else 0
        if before >= length:
            if self.received - length > DISCARD_LIMIT:
                self._finish_abort()
            return
        assert deferred is not None
        if self._body is None:
            self._body = bytearray()
        self._body += data[: length - before]
        if self.received >= length:
            body, self._body = bytes(self._body), None
            self._cancel_timer()
            deferred.body_received(self, body)

    def _body_timed_out(self) -> None:
        self._timer = None
        if self.phase == WAIT:
            self._finish_abort()

    def end(self) -> None:
        """Close after what was written; what the client still sends is discarded."""
        self.phase = DISCARD
        self.received = 0
        self._buffer = b""
        transport = self.transport
        if transport.is_closing():
            return
        if transport.can_write_eof():
            # Half-close: the client reads the whole answer, then closes; bytes it still
            # sends are dropped. (Closing with unread input would reset the connection and
            # could destroy the answer in flight.)
            transport.write_eof()
            self._arm(self.owner.close_timeout, self._finish_abort)
        else:
            transport.close()

    def _handshake_timed_out(self) -> None:
        self._timer = None
        if self.phase == HEAD:
            self.phase = DONE
            self.owner.on_handshake_timeout(self)
            self.transport.abort()

    # Frames

    def _frames_received(self, data: bytes) -> None:
        protocol = self.protocol
        assert protocol is not None
        protocol.receive_data(data)
        events = protocol.events_received()
        closing = protocol.state is not _OPEN
        if events:
            self._deliver(events)
            if closing and self.joined and self.phase == OPEN:
                # Messages that came with the close frame are relayed — to this client
                # too — before the close frame goes out, as if they had come alone.
                self.owner.hub.flush()
        if closing:
            self.phase = DONE
        self._write_protocol_output()

    def _deliver(self, events: Sequence[object]) -> None:
        owner = self.owner
        for event in events:
            if self.phase != OPEN:
                return
            frame: Frame = event  # type: ignore[assignment]
            opcode = frame.opcode
            if opcode is _TEXT or opcode is _BINARY:
                if frame.fin:
                    self._message(bytes(frame.data), opcode is _TEXT)
                else:
                    self._fragments = (bytearray(frame.data), opcode is _TEXT)
            elif opcode is _CONT:
                # The protocol has checked the sequence: a CONT always follows a start frame.
                assert self._fragments is not None
                fragments, text = self._fragments
                fragments += frame.data
                if frame.fin:
                    self._fragments = None
                    self._message(bytes(fragments), text)
            elif opcode is _PONG and frame.data == KEEPALIVE_PING:
                owner.on_keepalive_pong(self)

    def _message(self, data: bytes, text: bool) -> None:
        if text:
            try:
                data.decode()
            except UnicodeDecodeError as exc:
                self.fail(1007, f"invalid UTF-8: {exc.reason} at position {exc.start}")
                return
        self.owner.on_message(self, data, text)

    def _write_protocol_output(self) -> None:
        """Write what the protocol produced (pongs, close frames), counted against the
        per-client limit like broadcasts; an end-of-stream marker closes the socket."""
        protocol = self.protocol
        if protocol is None:
            return
        transport = self.transport
        for data in protocol.data_to_send():
            if not data:
                # End of stream (after the closing handshake, or failing): the server closes
                # TCP. Half-close when possible and drop what the client still sends until
                # it closes too (bounded by close_timeout): closing with unread input would
                # reset the connection and could destroy the close frame in flight.
                if not transport.is_closing():
                    if transport.can_write_eof():
                        transport.write_eof()
                        if self._timer is None:
                            self._arm(self.owner.close_timeout, self._finish_abort)
                    else:
                        transport.close()
                continue
            if transport.is_closing():
                continue
            buffered = transport.get_write_buffer_size()
            if buffered and buffered + len(data) > self.owner.max_queue:
                self.owner.on_over_limit(self, buffered)
                return
            transport.write(data)
        if protocol.close_expected() and self._timer is None and self.phase != HEAD:
            self._arm(self.owner.close_timeout, self._finish_abort)

    # Timers

    def _arm(self, delay: float, callback: object) -> None:
        if self._timer is not None:
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(delay, callback)  # type: ignore[arg-type]

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _finish_abort(self) -> None:
        self._timer = None
        if self.phase == OPEN:
            self.phase = DONE
        self.transport.abort()


def close_details(conn: ClientConnection) -> tuple[int, str, str | None]:
    """(code, reason, by) of a finished connection; 1006 when no close frame came."""
    protocol = conn.protocol
    if protocol is not None and protocol.state is _CLOSED:
        closed = protocol.close_exc
        rcvd, sent = closed.rcvd, closed.sent
        if rcvd is not None and (closed.rcvd_then_sent or sent is None):
            return rcvd.code, rcvd.reason, "client"
        if sent is not None:
            return sent.code, sent.reason, "server"
    if conn.closed_by_server is not None:
        code, reason = conn.closed_by_server
        return code, reason, "server"
    return 1006, "connection dropped without a close frame", None


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
