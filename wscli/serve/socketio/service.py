"""`wscli serve --socketio`: Engine.IO / Socket.IO sessions beside the raw WebSocket clients.

The server hands every request under the Engine.IO path (``/socket.io/`` by default) to
:meth:`SocketIOService.on_request`, and the messages of the WebSocket connections it
admitted for Socket.IO to :meth:`SocketIOService.receive`. The rules, in order:

1. The Host header, duplicate headers, the origin and ``--max-clients`` are the server's
   own admission (:func:`~wscli.serve.admission.admit`): the same answers as for raw
   clients. Nothing the client sends beyond the request head is read before that.
2. The request is sorted as the Node server sorts it
   (:func:`~wscli.serve.socketio.polling.classify`); its errors get the Node server's
   status and JSON body.
3. The token (``--token``): a handshake that presents it (``?token=`` or
   ``Authorization: Bearer``) is checked at once (403 when wrong); one that does not must
   present it in the ``auth`` payload of each namespace ``CONNECT`` (``auth.token``), which
   is then the first thing read from it: a session that joins no namespace within
   ``--handshake-timeout`` is closed, as the Node server's ``connectTimeout`` does.
   Requests that name a session (``sid``) are that session's: the sid is its credential.
4. Long-polling sessions count as clients (``--max-clients``, ``/healthz``) and are bounded
   by :attr:`~wscli.serve.config.ServeConfig.socketio_max_polling`; each queues at most
   ``--max-queue`` bytes for its next poll; a ``POST`` over ``--max-size`` (the announced
   ``maxPayload``) gets 413 and ends the session.

Socket.IO clients join the hub as :class:`~wscli.serve.socketio.sockets.NamespaceSocket`
members, so history, ``--no-echo``, ``--max-queue``, the total budget and the backplane
treat them as they treat raw clients. Behind ``--redis`` a polling session lives on the
instance that created it: a load balancer must send a session's requests to one instance
(sticky sessions), as with the Node server's adapters.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any, Protocol

from websockets.http11 import Request, Response

from wscli.core.socketio import RelayedEvent, encode_payload, open_packet
from wscli.net.neterrors import format_address, peer_host
from wscli.serve import access
from wscli.serve.admission import Admit, Plain, Policy, Refuse, admit, policy_verdict
from wscli.serve.budget import BacklogBudget
from wscli.serve.config import ServeConfig
from wscli.serve.connection import ClientConnection, Deferred
from wscli.serve.http import body_response, text_response
from wscli.serve.hub import Hub, RoomMessage
from wscli.serve.log import EventLog
from wscli.serve.metrics import Counters
from wscli.serve.socketio.bridge import NamespaceForm
from wscli.serve.socketio.engine import EngineSession, Transport
from wscli.serve.socketio.links import (
    CLOSE_CODES,
    EndedPoll,
    PollingBacklog,
    PollRequest,
    SendRequest,
    WebSocketLink,
    poll_response,
)
from wscli.serve.socketio.polling import (
    BAD_REQUEST,
    ERROR_MESSAGES,
    UNKNOWN_SID,
    EngineRequest,
    PollingTransport,
    classify,
    error_body,
    error_status,
)
from wscli.serve.socketio.sockets import NamespaceSocket, SocketIOClient, new_id
from wscli.serve.tokenguard import TokenGuard
from wscli.wire.keepalive import Keepalive

UPGRADE_TIMEOUT = 10.0
"""Seconds a probe WebSocket has to complete the upgrade (the Node server's default)."""
DEFAULT_PING_INTERVAL = 25.0
DEFAULT_PING_TIMEOUT = 20.0
"""Engine.IO heartbeats are not optional (a client gives up without pings): with
``--ping-interval 0`` / ``--ping-timeout 0`` the Node server's defaults are used."""

CLIENT_FILES = frozenset(
    f"socket.io{variant}{ext}"
    for variant in ("", ".min", ".esm.min", ".msgpack.min")
    for ext in (".js", ".js.map")
)
"""The client bundles the Node server serves under its path (from ``--static DIR``)."""

BY = {"client namespace disconnect": "client", "transport close": "client"}
MAX_FORMS = 4096
"""Namespaces whose encoder is kept: clients choose namespaces, so the cache is bounded."""


@dataclasses.dataclass(frozen=True)
class SocketIOAdmit(Admit):
    """A WebSocket for Engine.IO: a new session (``sid`` None) or the upgrade of one."""

    sid: str | None = None
    authenticated: bool = False


class ServerHost(Protocol):
    """What the service uses of the server."""

    hub: Hub
    log: EventLog
    config: ServeConfig
    budget: BacklogBudget
    counters: Counters
    tokens: TokenGuard


class SocketIOService:
    """The Socket.IO side of one `wscli serve` instance (see the module docstring)."""

    def __init__(self, server: ServerHost) -> None:
        config = server.config
        self.hub = server.hub
        self.log = server.log
        self.budget = server.budget
        self.counters = server.counters
        self.tokens = server.tokens
        self.path = config.socketio_path
        self.max_size = config.max_size
        self.max_queue = config.max_queue
        self.max_polling = config.socketio_max_polling
        self.close_timeout = config.close_timeout
        self.connect_timeout = config.handshake_timeout
        self.ping_interval = config.ping_interval or DEFAULT_PING_INTERVAL
        self.ping_timeout = config.ping_timeout or DEFAULT_PING_TIMEOUT
        self.policy: Policy | None = None
        self.token: str | None = None
        self.sessions: dict[str, EngineSession] = {}
        self.ending: dict[str, PollingTransport] = {}
        """Closed polling sessions whose last packets wait for one more GET (bounded)."""
        self.polling = 0
        self.links: dict[ClientConnection, WebSocketLink] = {}
        self.upgrades: dict[ClientConnection, SocketIOAdmit] = {}
        """Admitted WebSocket requests until their 101 is sent (see ChatServer.opened)."""
        self.sockets: dict[str, NamespaceSocket] = {}
        self._forms: dict[str, NamespaceForm] = {}
        self._timers: dict[object, asyncio.TimerHandle] = {}
        self.keepalive = Keepalive(
            self.ping_interval,
            self.ping_timeout,
            self.sessions.values,
            lambda exc: self.log.emit("error", remote=None, message=f"socket.io: {exc!r}"),
        )

    def start(self, policy: Policy) -> None:
        # The token is checked here, not by admit(): it may come in the auth payload.
        self.policy = dataclasses.replace(policy, token=None)
        self.token = policy.token
        self.keepalive.start()

    def handles(self, target: str) -> bool:
        """Whether a request for ``target`` (path and query) is Engine.IO's."""
        return target.startswith(self.path)

    @property
    def clients(self) -> int:
        """Sessions on long-polling (WebSocket ones are the server's connections)."""
        return self.polling

    # Requests

    def on_request(
        self, conn: ClientConnection, request: Request, clients: int
    ) -> Response | Admit | Plain | Refuse | Deferred:
        """The answer to a request under the Engine.IO path (see the module docstring)."""
        assert self.policy is not None
        path, params = access.split_path(request.path)
        sid = params.get("sid")
        decision = admit(request, self.policy, 0 if sid else clients)
        if isinstance(decision, Refuse):
            return decision
        name = path[len(self.path) :]
        if isinstance(decision, Plain) and name in CLIENT_FILES:
            # The Node server serves its client bundle here; we serve it from --static.
            return Plain("/" + name, request.method)
        upgrade = isinstance(decision, Admit)
        kind = classify(request.method, params, upgrade)
        if isinstance(kind, int):
            return self._engine_error(conn, path, kind, upgrade)
        if kind.sid is None:
            return self._handshake(conn, request, kind, params, clients)
        if not upgrade:  # an upgrade's origin was checked by admit()
            origin = request.headers.get("Origin")
            verdict = policy_verdict(self.policy, origin, request.headers.get("Host"), None, 0)
            if verdict is not None:
                return Refuse(path, verdict.status, verdict.reason, kind=verdict.kind)
        return self._session_request(conn, request, kind, path)

    def _handshake(
        self,
        conn: ClientConnection,
        request: Request,
        kind: EngineRequest,
        params: dict[str, str],
        clients: int,
    ) -> Response | Admit | Refuse:
        assert self.policy is not None
        path = access.split_path(request.path)[0]
        if kind.transport == "polling":
            origin = request.headers.get("Origin")
            host = request.headers.get("Host")
            verdict = policy_verdict(self.policy, origin, host, None, clients)
            if verdict is not None:
                return Refuse(path, verdict.status, verdict.reason, kind=verdict.kind)
            if self.polling >= self.max_polling:
                reason = f"too many long-polling sessions ({self.max_polling})"
                return Refuse(path, 503, reason, kind="full")
        authenticated = self.token is None
        if self.token is not None:
            presented = access.presented_token(request.headers, params)
            if presented is not None:
                if not access.token_matches(presented, self.token):
                    return Refuse(path, 403, "invalid token", kind="token")
                authenticated = True
        nick = access.clean_nick(params.get("nick"))
        if kind.transport == "websocket":
            return SocketIOAdmit(path, nick, sid=None, authenticated=authenticated)
        transport = PollingTransport()
        session = self._new_session(transport, authenticated, nick, conn)
        transport.backlog = PollingBacklog(session, self.budget, path)
        self.polling += 1
        opened = encode_payload(transport.take_queue())  # the open packet, answered at once
        return poll_response(opened, origin=request.headers.get("Origin"))

    def _session_request(
        self, conn: ClientConnection, request: Request, kind: EngineRequest, path: str
    ) -> Response | Admit | Deferred:
        assert kind.sid is not None
        session = self.sessions.get(kind.sid)
        if kind.kind == "poll" and session is None and kind.sid in self.ending:
            ended = self.ending.pop(kind.sid)
            self._disarm(ended)
            return EndedPoll(ended, request.headers.get("Origin"))
        if session is None:
            return self._engine_error(conn, path, UNKNOWN_SID, kind.kind == "upgrade")
        if access.split_path(request.path)[1].get("EIO") != "4":  # not the session's
            return self._engine_error(conn, path, BAD_REQUEST, kind.kind == "upgrade")
        transport = session.transport
        if kind.kind == "upgrade":
            if not isinstance(transport, PollingTransport) or session.probe is not None:
                return self._engine_error(conn, path, BAD_REQUEST, True)
            return SocketIOAdmit(path, None, sid=kind.sid, authenticated=True)
        if not isinstance(transport, PollingTransport):  # upgraded: polling is over
            return self._engine_error(conn, path, BAD_REQUEST, False)
        if kind.kind == "poll":
            return PollRequest(session, transport, self._overlap, request.headers.get("Origin"))
        length = int(request.headers.get("Content-Length", "0"))
        if length > self.max_size:
            why = f"a POST of {length} bytes (maxPayload {self.max_size})"
            session.close("transport error", why)
            self._refused(conn, path, 413, "payload too large")
            return text_response(413, "Payload too large.")
        if transport.posting:
            session.close("transport error", "overlapping POST requests")
            return poll_response(b"", 400)
        return SendRequest(session, transport, length, request.headers.get("Origin"))

    def _engine_error(
        self, conn: ClientConnection, path: str, code: int, upgrade: bool
    ) -> Response:
        """The Node server's answer to a bad Engine.IO request (logged as a refusal)."""
        status = error_status(code)
        body = error_body(code)
        self._refused(conn, path, status, body.decode())
        if upgrade:  # the Node server answers a refused upgrade in text/html
            return body_response(400, ERROR_MESSAGES[code].encode(), "text/html")
        return body_response(status, body, "application/json")

    def _refused(self, conn: ClientConnection, path: str, status: int, reason: str) -> None:
        self.counters.refused["request"] += 1
        self.log.emit("refused", remote=_remote(conn), path=path, status=status, reason=reason)

    def _overlap(self, session: EngineSession) -> None:
        session.close("transport error", "overlapping long-polling GET requests")

    # WebSocket connections

    def opened(self, conn: ClientConnection, admitted: SocketIOAdmit) -> None:
        """The 101 of an Engine.IO WebSocket is sent: a new session, or a probe."""
        _, conn.key = self.hub.new_key()  # counted by the budget like any client
        conn.room = admitted.room
        link = WebSocketLink(conn, self.close_timeout)
        self.links[conn] = link
        if admitted.sid is None:
            link.session = self._new_session(link, admitted.authenticated, admitted.nick, conn)
            return
        session = self.sessions.get(admitted.sid)
        why = "session closed" if session is None else session.attach_probe(link)
        if why is not None or session is None:
            link.close("")
            return
        link.session = session
        self._arm(link, UPGRADE_TIMEOUT, lambda: self._upgrade_timed_out(session, link))

    def receive(self, conn: ClientConnection, data: bytes, text: bool) -> bool:
        """A message from a connection: True when it was Engine.IO's (and handled)."""
        link = self.links.get(conn)
        if link is None:
            return False
        session = link.session
        if session is not None:
            session.receive(data.decode("utf-8") if text else data, link)
        return True

    def connection_lost(self, conn: ClientConnection) -> bool:
        """A connection ended: True when it was an Engine.IO WebSocket (its end is logged
        as its sockets' disconnects, not as a raw client's)."""
        self.upgrades.pop(conn, None)  # admitted, but its 101 never went out
        link = self.links.pop(conn, None)
        if link is None:
            return False
        self._disarm(link)
        if link.session is not None:
            link.session.transport_lost(link)
        return True

    def _upgrade_timed_out(self, session: EngineSession, link: WebSocketLink) -> None:
        self._timers.pop(link, None)
        if session.probe is link:
            session.drop_probe()

    # Sessions

    def _new_session(
        self, transport: Transport, authenticated: bool, nick: str | None, conn: ClientConnection
    ) -> EngineSession:
        session = EngineSession(new_id(), transport, self)
        session.upper = SocketIOClient(
            session,
            self,
            authenticated=authenticated,
            nick=nick,
            remote=_remote(conn),
            peer_host=peer_host(conn.peer),
        )
        self.sessions[session.sid] = session
        self.counters.opened += 1  # one client, whatever its transports
        upgrades = ["websocket"] if transport.name == "polling" else []
        session.send_packets(
            [
                open_packet(
                    session.sid, upgrades, self.ping_interval, self.ping_timeout, self.max_size
                )
            ]
        )
        self._arm(session, self.connect_timeout, lambda: self._connect_timed_out(session))
        return session

    def _connect_timed_out(self, session: EngineSession) -> None:
        self._timers.pop(session, None)
        upper = session.upper
        if isinstance(upper, SocketIOClient) and not upper.sockets:
            session.close(
                "forced server close",
                f"no namespace joined within {self.connect_timeout:g} s",
            )

    # engine.Host

    def pong(self, session: EngineSession) -> None:
        self.keepalive.pong(session)

    def upgraded(self, session: EngineSession) -> None:
        self.polling -= 1
        if isinstance(session.transport, WebSocketLink):
            self._disarm(session.transport)

    def session_closed(self, session: EngineSession, reason: str, detail: str) -> None:
        self.sessions.pop(session.sid, None)
        self.counters.close(CLOSE_CODES.get(reason, 1000))
        self.keepalive.forget(session)
        self._disarm(session)
        upper = session.upper
        remote = upper.remote if isinstance(upper, SocketIOClient) else None
        transport = session.transport
        if isinstance(transport, PollingTransport):
            self.polling -= 1
            if isinstance(transport.backlog, PollingBacklog):
                self.budget.drained(transport.backlog)
            keep = len(self.ending) < self.max_polling and not session.upgraded
            if keep and not transport.drained and transport.waiter is None:
                # Its last packets (the close) go to the next GET, as the Node server does.
                self.ending[session.sid] = transport
                self._arm(transport, self.close_timeout, lambda: self._forget(session.sid))
        if detail:
            self.log.emit(
                "error", remote=remote, message=f"socket.io session closed: {reason}: {detail}"
            )

    def _forget(self, sid: str) -> None:
        transport = self.ending.pop(sid, None)
        if transport is not None:
            self._timers.pop(transport, None)

    # sockets.Host

    def authorize(self, client: SocketIOClient, auth: Any) -> str | None:
        """The token check of a namespace CONNECT, as an upgrade's: an address that sent
        too many wrong tokens is refused before the comparison (see wscli.serve.tokenguard),
        a wrong token counts there, a missing one is logged."""
        if self.token is None or client.authenticated:
            return None
        token = auth.get("token") if isinstance(auth, dict) else None
        if token is not None and self.tokens.throttled(client.peer_host):
            self.counters.refused["token"] += 1
            return "too many wrong tokens: try again later"
        if isinstance(token, str) and access.token_matches(token, self.token):
            return None
        self.counters.refused["token"] += 1
        if token is not None:
            self.tokens.failed(client.peer_host, "upgrade")  # logged once a second
            return "invalid token"
        self.log.emit(
            "refused",
            remote=client.remote,
            path="(socket.io auth)",
            status=401,
            reason="token required",
        )
        return "token required"

    def form(self, namespace: str) -> NamespaceForm:
        """One form per namespace, so the hub encodes each message once for all of its
        clients; at most :data:`MAX_FORMS` kept (a namespace's sockets keep theirs)."""
        form = self._forms.get(namespace)
        if form is None:
            if len(self._forms) >= MAX_FORMS:
                del self._forms[next(iter(self._forms))]
            form = self._forms[namespace] = NamespaceForm(namespace)
        return form

    def new_key(self) -> tuple[int, str]:
        return self.hub.new_key()

    def join(self, socket: NamespaceSocket) -> None:
        self.sockets[socket.key] = socket
        session = socket.client.session
        self._disarm(session)  # the connect timeout is met
        transport = session.transport
        if isinstance(transport, PollingTransport) and isinstance(
            transport.backlog, PollingBacklog
        ):
            transport.backlog.client_id = transport.backlog.client_id or socket.client_id
        if socket.nick is not None:
            # Unique in the room, as a raw client's: a second "alice" is "alice (2)".
            socket.nick, _ = self.hub.claim_nick(socket.room, socket.nick, None)
            socket.author = socket.nick
        self.log.emit(
            "connect",
            id=socket.client_id,
            remote=socket.client.remote,
            room=socket.room,
            subprotocol=None,
            compression=False,
            nick=socket.nick,
            socketio=socket.transport_name,
        )
        self.hub.join(socket)

    def leave(self, socket: NamespaceSocket, reason: str) -> None:
        self.sockets.pop(socket.key, None)
        self.hub.leave(socket)
        self.log.emit(
            "disconnect",
            id=socket.client_id,
            remote=socket.client.remote,
            room=socket.room,
            code=None,
            reason=reason,
            by=BY.get(reason, "server"),
        )

    def publish(self, socket: NamespaceSocket, message: RoomMessage) -> None:
        size = message.event.size if message.event is not None else len(message.data)
        self.counters.messages_in += 1
        self.counters.bytes_in += size
        if self.log.verbose:
            self.log.emit(
                "message",
                id=socket.client_id,
                room=socket.room,
                type="text" if message.text else "binary",
                size=size,
            )
        self.hub.publish(socket.room, message, socket.key)

    def delivered(self, sender: str, message: RoomMessage, count: int) -> None:
        """The hub delivered an event that asked for an acknowledgement: acknowledge it with
        its message id and how many clients of the room here it was handed to."""
        socket = self.sockets.get(sender)
        event: RelayedEvent | None = message.event
        if socket is not None and event is not None and event.ack is not None:
            socket.acknowledge(event.ack, [{"id": message.id, "recipients": count}])

    # Shutdown

    def shutdown(self) -> None:
        """Close every session ("server shutting down"): WebSockets with 1001, long-polls
        with a close packet."""
        self.keepalive.stop()
        for session in list(self.sessions.values()):
            session.close("server shutting down", "")
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    # Timers

    def _arm(self, owner: object, delay: float, callback: Any) -> None:
        self._disarm(owner)
        self._timers[owner] = asyncio.get_running_loop().call_later(delay, callback)

    def _disarm(self, owner: object) -> None:
        timer = self._timers.pop(owner, None)
        if timer is not None:
            timer.cancel()


def _remote(conn: ClientConnection) -> str:
    return format_address(conn.peer)
