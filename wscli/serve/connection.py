"""One client connection of `wscli serve`, as the hub sees it.

:class:`HubConnection` is a ``websockets`` ``ServerConnection`` that
- hands each complete incoming message straight to its owner (the server) from
  ``process_event`` — no per-message future, task or queue, so the receive side stays cheap;
- takes the hub's pre-encoded broadcast frames and writes them to its transport directly,
  only while the connection is open and its unsent bytes are under the limit (the
  :class:`~wscli.serve.hub.Subscriber` interface);
- closes without waiting for a full write buffer to drain (:meth:`HubConnection.drop`), and
  bounds the closing phase with a timer, so a peer that stops reading holds nothing up;
- keeps little memory when idle: no receive queue, handshake headers released, no keepalive
  task of its own (the server pings every connection from one task).

Everything else — handshake, ping/pong replies, close handshake, max size, compression when
negotiated — is the library's.

This leans on websockets 17 internals (pinned ``<18``): tests/test_hubconnection.py fails when
the library code copied or extended here changes, so an upgrade is reviewed, not discovered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol, cast

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.frames import BINARY, CONT, PONG, TEXT, Frame
from websockets.http11 import Request, Response
from websockets.protocol import CLOSED, CONNECTING, OPEN, Event

from wscli.serve.hub import Hub, Message


class Owner(Protocol):
    """What a connection reports to (the server)."""

    hub: Hub

    def on_message(self, conn: HubConnection, data: bytes, text: bool) -> None: ...

    def on_connection_lost(self, conn: HubConnection, exc: Exception | None) -> None: ...

    def on_keepalive_pong(self, conn: HubConnection) -> None: ...

    def on_connection_made(self, conn: HubConnection) -> None: ...

    def on_backlog(self, conn: HubConnection, backlogged: bool) -> None: ...


KEEPALIVE_PING = b"wscli"

# Once a connection is open, its handshake request and response are no longer needed: every
# connection then points to these two shared objects instead (about 2 KB saved per client).
_DONE_REQUEST = Request("/", Headers())
_DONE_RESPONSE = Response(101, "Switching Protocols", Headers())


class _NoMessages:
    """Stands in for the library's per-connection receive queue, which the hub path never uses
    (messages go from process_event straight to the hub)."""

    def close(self) -> None:
        pass

    def __len__(self) -> int:
        return 0


_NO_MESSAGES = _NoMessages()


class HubConnection(ServerConnection):
    """A client connection: receives messages for the hub and takes its frames.

    The :class:`~wscli.serve.hub.Subscriber` methods are called by the hub; ``chat`` is set on a
    per-server subclass (see :meth:`wscli.serve.server.ChatServer.start`).
    """

    chat: Owner

    # Memory per idle client: the library gives each connection 27 attributes, and CPython
    # keeps instance dicts of up to 29 keys compact (~300 bytes; from 30 keys on, ~1.6 KB).
    # So this class adds one (``ident``, set at the handshake); everything else is a
    # class-level default that only connections that need it (fragments, compression,
    # closing) override, or lives in the server (handshake start, pending keepalive ping).
    ident: tuple[str, str, str | None] = ("", "/", None)
    """(key, room, nick): key is "" until the client joined the hub."""
    shared_frames = True
    left = False
    _fragments: tuple[bytearray, bool] | None = None
    """A fragmented message in progress: one growing buffer (a flood of tiny fragments
    costs no more memory than the message, bounded by --max-size) and whether it is text."""
    _abort_handle: asyncio.TimerHandle | None = None
    _final_flush = False

    @property
    def key(self) -> str:
        return self.ident[0]

    @property
    def room(self) -> str:
        return self.ident[1]

    @property
    def nick(self) -> str | None:
        return self.ident[2]

    @property
    def joined(self) -> bool:
        return bool(self.ident[0])

    @property
    def client_id(self) -> int:
        """The short id shown in logs (the hub's counter, from the key)."""
        key = self.ident[0]
        return int(key.rpartition(":")[2]) if key else 0

    # Receiving: complete messages go straight to the hub.

    def process_event(self, event: Event) -> None:
        if self.request is None:  # the handshake request
            super().process_event(event)
            return
        frame = cast(Frame, event)
        opcode = frame.opcode
        if opcode is TEXT or opcode is BINARY:
            if frame.fin:
                self._message(bytes(frame.data), opcode is TEXT)
            else:
                self._fragments = (bytearray(frame.data), opcode is TEXT)
        elif opcode is CONT:
            # The protocol has checked the sequence: a CONT always follows a start frame.
            assert self._fragments is not None
            fragments, text = self._fragments
            fragments += frame.data
            if frame.fin:
                self._fragments = None
                self._message(bytes(fragments), text)
        elif opcode is PONG:
            data = bytes(frame.data)
            if data == KEEPALIVE_PING:
                self.chat.on_keepalive_pong(self)
            else:
                self.acknowledge_pings(data)

    def _message(self, data: bytes, text: bool) -> None:
        if self.left:
            return
        if text:
            try:
                data.decode()
            except UnicodeDecodeError as exc:
                self.fail(1007, f"invalid UTF-8: {exc.reason} at position {exc.start}")
                return
        self.chat.on_message(self, data, text)

    def fail(self, code: int, reason: str) -> None:
        """Fail the connection (RFC 6455 §7.1.7) from a callback, e.g. on invalid UTF-8."""
        self.left = True  # what follows in the same read is not relayed
        if self.protocol.state is OPEN:
            self.protocol.fail(code, reason)
            self.send_data()
        self._arm_abort(self.close_timeout)

    # Subscriber interface (called by the hub).

    def send_frames(self, data: bytes, limit: int) -> int:
        if self.protocol.state is not OPEN and not self._final_flush:
            return 0
        transport = self.transport
        buffered = transport.get_write_buffer_size()
        if buffered and buffered + len(data) > limit:
            return buffered
        if not transport.is_closing():
            transport.write(data)
        return 0

    def send_messages(self, messages: Sequence[Message], limit: int) -> int:
        if self.protocol.state is not OPEN:
            return 0
        transport = self.transport
        buffered = transport.get_write_buffer_size()
        if buffered and buffered + sum(len(m.data) for m in messages) > limit:
            return buffered
        if not transport.is_closing():
            protocol = self.protocol
            for message in messages:
                if message.text:
                    protocol.send_text(message.data)
                else:
                    protocol.send_binary(message.data)
            # One write for the tick, as on the shared path (the protocol is open, so there
            # is no end-of-stream marker among the chunks).
            transport.write(b"".join(protocol.data_to_send()))
        return 0

    def drop(self, code: int, reason: str, timeout: float | None = None) -> None:
        """Send a close frame now (behind what is buffered) and abort after ``timeout``.

        Unlike ``close()``, this never waits for the write buffer to drain: a client that
        stopped reading cannot hold the server (or its shutdown) hostage.
        """
        self.left = True
        if self.protocol.state is OPEN and not self.transport.is_closing():
            self.protocol.send_close(code, reason)
            self.send_data()
        self._arm_abort(self.close_timeout if timeout is None else timeout)

    # Bounding the closing phase: the library enforces close_timeout only while a
    # coroutine awaits close(); here nobody does, so a timer aborts a peer that never
    # finishes the close handshake or never closes TCP.

    def _arm_abort(self, delay: float | None) -> None:
        if self._abort_handle is None and self.protocol.state is not CLOSED:
            self._abort_handle = self.loop.call_later(delay or 0, self.transport.abort)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        # Memory per idle client: no receive queue, and a list instead of a deque (which
        # costs ~600 bytes even when empty) for the rarely used drain waiters.
        self.recv_messages = _NO_MESSAGES  # type: ignore[assignment]
        self.drain_waiters = []  # type: ignore[assignment]
        self.chat.on_connection_made(self)

    def opened(self) -> None:
        """The handshake is over: drop what only it needed."""
        if self.request is not None:
            # The library's parser generator keeps a reference to the request: empty it.
            self.request.headers.clear()
        self.request = _DONE_REQUEST
        self.response = _DONE_RESPONSE

    def send_keepalive_ping(self) -> bool:
        """Send the keepalive ping (its pong goes to ``chat.on_keepalive_pong``)."""
        if self.protocol.state is not OPEN:
            return False
        self.protocol.send_ping(KEEPALIVE_PING)
        self.send_data()
        return True

    def data_received(self, data: bytes) -> None:
        # The library's data_received, with one change: when a close frame (or a protocol
        # error) arrives in the same read as messages, those messages are relayed — to this
        # client too — BEFORE our close frame goes out, as if they had come in a read of
        # their own. (The library writes its close reply first, then processes events.)
        protocol = self.protocol
        was_open = protocol.state is OPEN
        protocol.receive_data(data)
        events = protocol.events_received()
        if was_open and protocol.state is not OPEN and self.joined and not self.left:
            self._final_flush = True
            try:
                for event in events:
                    self.process_event(event)
                self.chat.hub.flush()
            finally:
                self._final_flush = False
            events = []
        try:
            self.send_data()
        except Exception as exc:
            self.set_connection_exc(exc)
        if (
            protocol.close_expected()
            and self.close_deadline is None
            and self.close_timeout is not None
        ):
            self.close_deadline = self.loop.time() + self.close_timeout
        for event in events:
            self.process_event(event)
        state = protocol.state
        if state is not OPEN and state is not CONNECTING and self._abort_handle is None:
            self._arm_abort(self.close_timeout)

    # The transport says when unsent bytes pass the write limit (and drop back below its
    # low-water mark): the server watches only those connections for its total budget.

    def pause_writing(self) -> None:
        super().pause_writing()
        self.chat.on_backlog(self, True)

    def resume_writing(self) -> None:
        super().resume_writing()
        self.chat.on_backlog(self, False)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self._abort_handle is not None:
            self._abort_handle.cancel()
            self._abort_handle = None
        self.chat.on_connection_lost(self, exc)


def close_details(conn: ServerConnection) -> tuple[int, str, str | None]:
    """(code, reason, by) of a finished connection; 1006 when no close frame came."""
    protocol = conn.protocol
    if protocol.close_rcvd is not None and (
        protocol.close_rcvd_then_sent or protocol.close_sent is None
    ):
        return protocol.close_rcvd.code, protocol.close_rcvd.reason, "client"
    if protocol.close_sent is not None:
        return protocol.close_sent.code, protocol.close_sent.reason, "server"
    return 1006, "connection dropped without a close frame", None
