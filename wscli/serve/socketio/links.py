"""The thin glue between Engine.IO sessions and the server's connections.

- :class:`WebSocketLink`: the :class:`~wscli.serve.socketio.engine.Transport` over one
  WebSocket connection of the server (a :class:`~wscli.serve.connection.ClientConnection`
  after its 101): packets become frames, the hub's shared frames pass through unchanged.
  Only these few calls touch the connection, so another connection engine underneath
  needs another link, not another session.
- :class:`PollRequest` and :class:`SendRequest`: long-polling's GET and POST as the
  connection's :class:`~wscli.serve.connection.Deferred` requests (answered later);
  :class:`EndedPoll`: the GET that fetches a closed session's last packets.
- :class:`PollingBacklog`: a long-polling session as the server's total budget sees it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from websockets.http11 import Response

from wscli.core.socketio import ProtocolViolation, decode_payload, encode_payload
from wscli.serve.budget import BacklogBudget
from wscli.serve.http import body_response
from wscli.serve.hub import RoomMessage, encode_frame
from wscli.serve.socketio.engine import EngineSession
from wscli.serve.socketio.polling import PollingTransport

if TYPE_CHECKING:
    from wscli.serve.connection import ClientConnection

CLOSE_CODES = {
    "server shutting down": 1001,
    "parse error": 1002,
    "transport error": 1002,
    "ping timeout": 1011,
    "too slow: outgoing queue full": 1013,
}
"""The WebSocket close code for the reason a session ended (others: 1000); the same
counts the session's end in /metrics (``wscli_connections_closed``)."""

POLL_CONTENT_TYPE = "text/plain; charset=UTF-8"
SEND_CONTENT_TYPE = "text/html"  # as the Node server answers a POST ("ok")


def poll_response(
    body: bytes,
    status: int = 200,
    content_type: str = POLL_CONTENT_TYPE,
    origin: str | None = None,
) -> Response:
    """A long-polling answer: never cached (as the Node server's ``no-store``). ``origin``:
    the admitted ``Origin`` of the request, allowed to read the answer (CORS: a page from
    an ``--origin`` polls with XMLHttpRequest, which may read only what the server allows)."""
    response = body_response(status, body, content_type)
    response.headers["Cache-Control"] = "no-store"
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Vary"] = "Origin"
    return response


class WebSocketLink:
    """Engine.IO over one WebSocket: one packet per message (see the module docstring)."""

    __slots__ = ("close_timeout", "conn", "session")

    name = "websocket"

    def __init__(self, conn: ClientConnection, close_timeout: float) -> None:
        self.conn = conn
        self.close_timeout = close_timeout
        self.session: EngineSession | None = None

    @property
    def shared_frames(self) -> bool:
        return self.conn.shared_frames

    def send_packets(self, packets: Sequence[str | bytes], limit: int) -> int:
        conn = self.conn
        if conn.shared_frames:
            data = b"".join(
                [
                    encode_frame(p.encode("utf-8"), True)
                    if isinstance(p, str)
                    else encode_frame(p, False)
                    for p in packets
                ]
            )
            return conn.send_frames(data, limit)
        messages = [
            RoomMessage(p.encode("utf-8"), True) if isinstance(p, str) else RoomMessage(p, False)
            for p in packets
        ]
        return conn.send_messages(messages, limit)

    def send_frames(self, data: bytes, limit: int) -> int:
        return self.conn.send_frames(data, limit)

    def take_queue(self) -> list[str | bytes]:
        return []

    def close(self, reason: str) -> None:
        self.conn.drop(CLOSE_CODES.get(reason, 1000), reason[:120], self.close_timeout)

    def abort(self) -> None:
        self.conn.drop(1013, "too slow: outgoing queue full")


class PollRequest:
    """A long-polling GET: answered at once when packets wait, else parked until some do."""

    __slots__ = ("conn", "on_overlap", "origin", "session", "transport")

    body_length = 0

    def __init__(
        self,
        session: EngineSession,
        transport: PollingTransport,
        on_overlap: Callable[[EngineSession], None],
        origin: str | None,
    ) -> None:
        self.session = session
        self.transport = transport
        self.on_overlap = on_overlap
        self.origin = origin
        self.conn: ClientConnection | None = None

    def body_received(self, conn: ClientConnection, body: bytes) -> None:
        self.conn = conn
        if not self.transport.poll(self):
            conn.answer(poll_response(b"", 400))
            self.on_overlap(self.session)

    def connection_lost(self, conn: ClientConnection) -> None:
        if self.transport.waiter_lost(self):
            # As the Node server: "poll connection closed prematurely".
            self.session.transport_lost(self.transport, "transport error")

    # Waiter

    def answer(self, body: bytes) -> None:
        if self.conn is not None:
            self.conn.answer(poll_response(body, origin=self.origin))

    def abort(self) -> None:
        if self.conn is not None:
            self.conn.drop(1013, "too slow: outgoing queue full")


class SendRequest:
    """A long-polling POST: its body's packets go to the session, then ``ok``."""

    __slots__ = ("body_length", "origin", "session", "transport")

    def __init__(
        self, session: EngineSession, transport: PollingTransport, length: int, origin: str | None
    ) -> None:
        self.session = session
        self.transport = transport
        self.body_length = length
        self.origin = origin
        transport.posting = True

    def body_received(self, conn: ClientConnection, body: bytes) -> None:
        self.transport.posting = False
        try:
            packets = decode_payload(body)
        except ProtocolViolation as exc:
            packets = []
            self.session.close("parse error", str(exc))
        self.session.receive_packets(packets, self.transport)
        conn.answer(poll_response(b"ok", content_type=SEND_CONTENT_TYPE, origin=self.origin))

    def connection_lost(self, conn: ClientConnection) -> None:
        self.transport.posting = False
        if not self.session.closed and self.session.transport is self.transport:
            self.session.close("transport error", "data request connection closed prematurely")


class EndedPoll:
    """The GET after a polling session ended: its last packets (the close)."""

    __slots__ = ("origin", "transport")

    body_length = 0

    def __init__(self, transport: PollingTransport, origin: str | None) -> None:
        self.transport = transport
        self.origin = origin

    def body_received(self, conn: ClientConnection, body: bytes) -> None:
        body = encode_payload(self.transport.take_queue())
        conn.answer(poll_response(body, origin=self.origin))

    def connection_lost(self, conn: ClientConnection) -> None:
        pass


class PollingBacklog:
    """A long-polling session as the server's total budget (``--max-total-queue``) sees it:
    what waits for its next poll counts like a socket's unsent bytes, and the budget may
    drop it (through the hub, as any slow client: logged ``slow``)."""

    __slots__ = ("budget", "client_id", "room", "session")

    key = ""
    nick = None

    def __init__(self, session: EngineSession, budget: BacklogBudget, room: str) -> None:
        self.session = session
        self.budget = budget
        self.room = room
        self.client_id = 0

    @property
    def joined(self) -> bool:
        return not self.session.closed

    def buffered(self) -> int:
        transport = self.session.transport
        return transport.queued if isinstance(transport, PollingTransport) else 0

    def behind(self, transport: PollingTransport, behind: bool) -> None:
        if behind:
            self.budget.backlogged(self, transport.queued)
        else:
            self.budget.drained(self)

    def wrote(self, size: int) -> None:
        self.budget.wrote(size)

    def drop(self, code: int, reason: str) -> None:
        self.session.drop(reason)
