"""The asyncio server of `wscli serve`: lifecycle and wiring.

Each client is a :class:`~wscli.serve.connection.ClientConnection` (an ``asyncio.Protocol``
over websockets' public sans-I/O ``ServerProtocol``), fanned out to by the
:class:`~wscli.serve.hub.Hub`. This module binds the sockets (accepting is
:mod:`~wscli.serve.acceptor`'s, which refuses with 503 near the file-descriptor limit: see
:mod:`~wscli.serve.fdlimit`), has each connection's protocol made with the server's settings
(:mod:`~wscli.serve.protocols`), turns
:func:`~wscli.serve.admission.admit`'s decisions into answers, logs the life of each
connection, and shuts down gracefully (1001 to every client, bounded in time). The
keepalive (:mod:`~wscli.wire.keepalive`) and the total backlog budget
(:mod:`~wscli.serve.budget`) are parts of their own; plain HTTP answers come from
:mod:`wscli.serve.http`. :mod:`wscli.serve.run` runs it as a process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from websockets.http11 import Request, Response
from websockets.server import ServerProtocol

from wscli.net.hostnames import allowed_hosts
from wscli.net.neterrors import format_address, hostport, listen_error, peer_host
from wscli.net.tls import server_context
from wscli.serve import acceptor, access, fdlimit, metrics
from wscli.serve import http as serverhttp
from wscli.serve.admission import (
    MAX_ROOM_BYTES,
    Admit,
    Plain,
    Policy,
    Refuse,
    admit,
    policy_verdict,
)
from wscli.serve.budget import BacklogBudget, Backlogged
from wscli.serve.chat_commands import Ping, SentIds, parse_command
from wscli.serve.config import ServeConfig
from wscli.serve.connection import HEAD, ClientConnection, Deferred, close_details
from wscli.serve.envelope import ack_envelope, pong_envelope, welcome_envelope
from wscli.serve.files import StaticFiles
from wscli.serve.hub import MAX_IDLE_ROOMS, Backplane, Hub, RoomMessage, Subscriber
from wscli.serve.log import EventLog, RepeatFilter
from wscli.serve.protocols import ServerProtocols
from wscli.serve.socketio.service import SocketIOAdmit, SocketIOService
from wscli.serve.tokenguard import TokenGuard
from wscli.wire.deadlines import Deadlines
from wscli.wire.keepalive import Keepalive
from wscli.wire.owner import Ending, Owner, Settings
from wscli.wire.stream import HOLD_CONSUMER, HOLD_OWNER

__all__ = ["ChatServer", "ServeConfig", "format_address"]

DRAIN_TIMEOUT = 5.0  # seconds a graceful shutdown waits for the backplane to deliver
REPLACED_CODE = 4001
"""Close code for a connection replaced by a newer one of the same page (``?session=``)."""


class ChatServer(Owner[ClientConnection]):
    """One `wscli serve` instance: the listening socket, the hub, the connections (and
    their owner: see wscli.wire.owner and wscli.serve.connection.ServeOwner)."""

    def __init__(
        self,
        config: ServeConfig,
        log: EventLog,
        backplane: Backplane | None = None,
        fd_limit: fdlimit.Limit | None = None,
    ) -> None:
        self.config = config
        self.log = log
        # Descriptor headroom, so a client near the limit gets a 503, not a dropped accept,
        # and refusal reports: see wscli.serve.fdlimit.
        self.fd_limit = fd_limit or fdlimit.current_limit()
        self.fds = fdlimit.FdGuard(fdlimit.FdBudget(self.fd_limit.soft), self._report_fds)
        self.hub = Hub(
            echo=config.echo,
            history=config.history,
            history_limit=config.history_bytes,
            max_queue=config.max_queue,
            backplane=backplane,
            on_slow_client=self._on_slow_client,
        )
        self.handshakes = Deadlines(config.handshake_timeout, ClientConnection.handshake_timed_out)
        self.compression = config.compression
        self.started = time.monotonic()
        self.born = time.time()
        self.counters = metrics.Counters()
        self.metrics_token = config.metrics_token or config.token
        self.connections: set[ClientConnection] = set()
        self.admitted: set[ClientConnection] = set()
        # The page session (``?session=``) of an admitted client until its 101 is sent:
        # only then is its nickname claimed (kept here, not on every connection).
        self._sessions: dict[ClientConnection, str] = {}
        self.acceptor: acceptor.Acceptor | None = None
        self.port = 0
        self.policy: Policy | None = None
        self.budget = BacklogBudget(config.max_total_queue, self._drop_over_budget)
        self.sent_ids = SentIds()  # client ids of sends relayed lately: never relayed twice
        self.keepalive: Keepalive | None = None
        if config.ping_interval is not None:
            self.keepalive = Keepalive(
                config.ping_interval,
                config.ping_timeout,
                lambda: self.admitted,
                lambda exc: self.log.emit("error", remote=None, message=f"keepalive: {exc!r}"),
            )
        # Shared by every connection. A client over --max-queue is dropped at once (the
        # owner's over_budget), so no stall deadline: serve holds no timer per client.
        self.settings = Settings(
            limit=config.max_queue,
            stall_timeout=None,
            close_timeout=config.close_timeout,
            track_pings=False,
            keepalive=self.keepalive,
        )
        self._page: bytes | None = None
        self._shutting_down = False
        self._all_closed: asyncio.Event | None = None
        self._errors = RepeatFilter(log)
        self.tokens = TokenGuard(lambda fields: self.log.emit("tokens", **fields))
        self.protocols = ServerProtocols(config, log)
        # --socketio: Engine.IO / Socket.IO clients, members of the same rooms (see
        # wscli.serve.socketio.service); --static: a directory served at / (wscli.serve.files).
        self.socketio = SocketIOService(self) if config.socketio else None
        if self.socketio is not None:
            self.hub.on_delivered = self.socketio.delivered
        self.static = StaticFiles(config.static_dir) if config.static_dir else None

    # Life cycle

    async def start(self) -> None:
        """Bind the socket and start serving (``self.port`` is the real port after this)."""
        config = self.config
        ssl_context = None
        if config.certfile is not None:
            ssl_context = server_context(config.certfile, config.keyfile)
        self._page = serverhttp.load_page()
        await self.hub.start()
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(self._errors.loop_exception)
        try:
            listening = acceptor.listen(config.host, config.port)
        except OSError as exc:
            await self.hub.close()
            raise listen_error(config.host, config.port, exc) from None
        self.port = listening[0].getsockname()[1]
        self.policy = Policy(
            allowed_hosts=allowed_hosts(config.host, listening, config.allowed_hosts),
            origins=tuple(config.origins),
            token=config.token,
            max_clients=config.max_clients,
            port=self.port,
            tls=config.tls,
        )
        # Our own accept loop decides at accept time who fits in the descriptors (the event
        # loops' own accept fails at the limit, each differently: see wscli.serve.acceptor);
        # every connection it accepts is counted there and ends in closed().
        self.acceptor = acceptor.Acceptor(
            listening,
            lambda: ClientConnection(self, self.settings),
            self.fds,
            self.health,
            ssl_context=ssl_context,
            ssl_handshake_timeout=config.handshake_timeout,
            on_plain_http=self._on_plain_http,
            allowed_hosts=self.policy.allowed_hosts,
        )
        self.acceptor.start()
        if self.keepalive is not None:
            self.keepalive.start()
        if self.socketio is not None:
            self.socketio.start(self.policy)

    @property
    def url(self) -> str:
        scheme = "https" if self.config.tls else "http"
        return f"{scheme}://{hostport(self.config.host, self.port)}/"

    @property
    def ws_url(self) -> str:
        scheme = "wss" if self.config.tls else "ws"
        return f"{scheme}://{hostport(self.config.host, self.port)}/chat"

    async def shutdown(self) -> None:
        """Stop accepting, close every client with 1001, and wait (bounded) for them."""
        if self.acceptor is None or self._shutting_down:
            return
        self._shutting_down = True
        if self.keepalive is not None:
            self.keepalive.stop()
        self.budget.stop()
        timeout = self.config.shutdown_timeout
        self.acceptor.close()
        self.handshakes.close()
        self.fds.close()
        self.tokens.close()
        # What was published is delivered before the close frame (through the backplane:
        # bounded, see Backplane.drain); nothing new is read meanwhile.
        for connection in self.admitted:
            connection.hold(HOLD_OWNER)
        await self.hub.drain(DRAIN_TIMEOUT)
        if self.socketio is not None:
            self.socketio.shutdown()
        clients = [c for c in self.admitted if c.is_open]
        self.log.emit("shutdown", clients=len(clients))
        self._all_closed = asyncio.Event()
        for connection in list(self.connections):
            self.hub.leave(connection)  # what it sends from now on is not relayed
            connection.release(HOLD_OWNER)  # to read the client's close frame
            connection.drop(1001, "server shutting down", timeout)
        if self.connections:
            try:
                await asyncio.wait_for(self._all_closed.wait(), timeout + 1)
            except asyncio.TimeoutError:
                self.abort_all()
        await self.hub.close()

    def slow_client(self, key: str, slow: bool) -> None:
        """Stop (``slow``) or resume reading from the client ``key``: the backplane's
        backpressure when Redis falls behind (its messages wait in the socket, not here)."""
        for conn in self.admitted:
            if conn.key == key and conn.is_open:
                if slow:
                    conn.hold(HOLD_CONSUMER)
                else:
                    conn.release(HOLD_CONSUMER)
                return

    def admission(self, request: Request, host: str) -> dict[str, Any]:
        """``GET /admission``: the verdict an upgrade from this page would get, as JSON.

        A same-origin ``fetch`` carries no ``Origin`` header, so the page names its origin
        in ``?origin=`` (a header, when present, wins). The same rules as the upgrade's
        (:func:`~wscli.serve.admission.policy_verdict`); still only advice: the upgrade is
        checked by itself. A wrong token counts against ``host`` as on the upgrade.
        """
        assert self.policy is not None
        policy = self.policy
        _, params = access.split_path(request.path)
        token = None
        if policy.token is not None:
            token = access.presented_token(request.headers, params)
        verdict = policy_verdict(
            policy,
            request.headers.get("Origin") or params.get("origin"),
            request.headers.get("Host"),
            token,
            self.client_count,
        )
        if verdict is not None and verdict.kind == "token" and token is not None:
            self.tokens.failed(host, "admission")
        return access.admission_document(verdict)

    @property
    def client_count(self) -> int:
        """Clients for --max-clients: admitted WebSockets and long-polling sessions."""
        return len(self.admitted) + (self.socketio.clients if self.socketio is not None else 0)

    def abort_all(self) -> None:
        """Drop every connection at once (a second Ctrl-C: no close handshake)."""
        for connection in list(self.connections):
            connection.abort()

    def health(self) -> dict[str, Any]:
        """The public /healthz document: ``status`` ("degraded" while a backplane is lost or
        late, a command overdue, or clients are refused for lack of file descriptors),
        counts and the bounds in use, never a name."""
        return self._health(self.hub.backplane.describe())

    def detail(self) -> dict[str, Any]:
        """``/healthz?verbose`` (behind the metrics token): the public document and the
        rest: history, backlog, the backplane's description (its prefix, lag per room)."""
        backplane = self.hub.backplane.describe()
        return {
            **self._health(backplane),
            "rooms_kept": self.hub.kept_rooms,
            "history_bytes": self.hub.history_held,
            "unsent_bytes": self.budget.held,
            "backplane": backplane,
        }

    def _health(self, backplane: dict[str, Any]) -> dict[str, Any]:
        overdue = backplane.get("overdue")
        degraded = (
            backplane.get("connected") is False
            or (isinstance(overdue, float) and overdue > 0)
            or self.fds.degraded
        )
        return {
            "status": "degraded" if degraded else "ok",
            "clients": self.hub.clients,
            "rooms": self.hub.active_rooms,
            "uptime": round(time.monotonic() - self.started, 3),
            "fds": self.fds.budget.snapshot(),
            "limits": self.limits(backplane),
        }

    def limits(self, backplane: dict[str, Any]) -> dict[str, Any]:
        """The bounds in use, for /healthz (with the backplane's own, when it has some)."""
        config = self.config
        bounds: dict[str, Any] = {
            "max_size": config.max_size,
            "max_queue": config.max_queue,
            "max_total_queue": config.max_total_queue,
            "max_clients": config.max_clients,
            "history": config.history,
            "history_bytes": config.history_bytes,
            "idle_rooms": MAX_IDLE_ROOMS,
            "room_path_bytes": MAX_ROOM_BYTES,
        }
        if "bounds" in backplane:
            bounds["backplane"] = backplane["bounds"]
        return bounds

    # What connections ask for (see wscli.serve.connection.ServeOwner)

    def protocol_for_handshake(self) -> ServerProtocol:
        return self.protocols.for_handshake()

    def protocol_when_open(self) -> ServerProtocol:
        return self.protocols.when_open()

    def select_subprotocol(self, offered: Sequence[str]) -> str | None:
        return self.protocols.select_subprotocol(offered)

    def on_connection_made(self, conn: ClientConnection) -> None:
        """A TCP (or TLS) connection arrived: its handshake starts now."""
        if self._shutting_down:
            conn.transport.abort()
            return
        conn.started = time.monotonic()
        self.connections.add(conn)

    def on_request(self, conn: ClientConnection, request: Request) -> Response | Admit | Deferred:
        """Decide on a parsed request head: an answer to send, or admission."""
        assert self.policy is not None
        remote = format_address(conn.peer)
        host = peer_host(conn.peer)
        tokens = self.policy.token is not None or self.metrics_token is not None
        socketio = self.socketio
        if socketio is not None and socketio.handles(request.path):
            # Throttled before a session is made for it (its token is checked there).
            if tokens and _presents_token(request) and self.tokens.throttled(host):
                return _too_many_wrong_tokens(self.tokens.retry_after(host))
            decision = socketio.on_request(conn, request, self.client_count)
        else:
            decision = admit(request, self.policy, self.client_count)
            if tokens and _checks_token(decision, request) and self.tokens.throttled(host):
                return _too_many_wrong_tokens(self.tokens.retry_after(host))
        if isinstance(decision, Admit):
            self.admitted.add(conn)
            conn.room, conn.nick = decision.room, decision.nick
            conn.since = decision.since
            if isinstance(decision, SocketIOAdmit) and socketio is not None:
                socketio.upgrades[conn] = decision  # until opened() (or closed())
            if decision.session is not None:
                self._sessions[conn] = decision.session
            return decision
        if isinstance(decision, Plain):
            static = self.static
            watched = metrics.answer(self, request, decision.method, decision.room)
            if watched is not None and watched.status_code == 403:
                self.tokens.failed(host, "metrics")  # a wrong metrics token
            response = watched or serverhttp.answer(
                decision.method,
                decision.room,
                self._page,
                self.health,
                lambda: self.admission(request, host),
                None if static is None else lambda path: static.answer(path, request.headers),
            )
            if self.log.verbose:
                self.log.emit(
                    "http",
                    remote=remote,
                    method=decision.method,
                    path=decision.room,
                    status=response.status_code,
                )
            return response
        if not isinstance(decision, Refuse):
            return decision  # Socket.IO's own answer, now or later (long-polling)
        self.counters.refused[decision.kind] += 1
        if decision.kind == "token" and decision.status == 403:
            self.tokens.failed(host, "upgrade")  # logged once a second, with /admission's
        else:
            self.log.emit(
                "refused",
                remote=remote,
                path=decision.room,
                status=decision.status,
                reason=decision.reason,
            )
        response = serverhttp.text_response(decision.status, decision.reason)
        for name, value in decision.headers:
            response.headers[name] = value
        return response

    def on_bad_request(self, conn: ClientConnection, why: str, response: Response | None) -> None:
        """A head the server cannot take: one log line, the answer if any, and close."""
        self.admitted.discard(conn)
        self._sessions.pop(conn, None)
        self.counters.refused["request"] += 1
        remote = format_address(conn.peer)
        if why:
            self.log.emit("error", remote=remote, message=f"bad handshake: {why}")
        elif response is not None and self.log.verbose:
            self.log.emit("http", remote=remote, method="?", path="?", status=response.status_code)
        if response is not None:
            conn.answer(response)
        else:
            conn.end()  # not HTTP: nothing to answer

    def takes_body(self, target: str) -> bool:
        """Only Socket.IO's long-polling takes a POST."""
        return self.socketio is not None and self.socketio.handles(target)

    # The engine's events (see wscli.wire.owner.Owner)

    def opened(self, conn: ClientConnection) -> None:
        """The 101 is sent: join the room under a nickname unique in it (or replacing this
        page's own stale connection), then tell a ``wscli.chat.v1`` client who it is."""
        socketio = self.socketio
        upgrade = socketio.upgrades.pop(conn, None) if socketio is not None else None
        if upgrade is not None:
            assert socketio is not None
            if upgrade.sid is None:  # a new session over WebSocket (not an upgrade's probe)
                self.counters.handshake.observe(time.monotonic() - conn.started)
            socketio.opened(conn, upgrade)
            return
        _, conn.key = self.hub.new_key()
        session = self._sessions.pop(conn, None)
        asked, replaced = conn.nick, None
        if asked is not None:
            conn.nick, replaced = self.hub.claim_nick(conn.room, asked, session)
        if replaced is not None:
            # Its page reconnected before the old link was found dead: the name passes on
            # without a "left"/"joined" pair, and the old connection goes.
            stale: ClientConnection = replaced  # type: ignore[assignment]
            self.hub.leave(stale, announce=False)
            stale.drop(REPLACED_CODE, "replaced by a new connection", self.settings.close_timeout)
        counters = self.counters
        counters.opened += 1
        counters.handshake.observe(time.monotonic() - conn.started)
        self.log.emit(
            "connect",
            id=conn.client_id,
            remote=format_address(conn.peer),
            room=conn.room,
            subprotocol=conn.subprotocol,
            compression=not conn.shared_frames,
            nick=conn.nick,
        )
        self.hub.join(conn, session, announce=replaced is None)
        if conn.enveloped and conn.is_open:
            renamed = conn.nick != asked
            self.hub.tell(conn, welcome_envelope(conn.nick, conn.author, renamed))

    def message_received(self, conn: ClientConnection, data: bytes, text: bool) -> None:
        """A complete message from ``conn``: relay it to its room (a ``wscli.chat.v1``
        client's commands are answered instead: see :mod:`wscli.serve.chat_commands`)."""
        if self.socketio is not None and self.socketio.receive(conn, data, text):
            return  # counted as the Socket.IO events it carries
        counters = self.counters
        counters.messages_in += 1
        counters.bytes_in += len(data)
        cid = None
        if conn.enveloped and text:
            command = parse_command(data)
            if isinstance(command, Ping):
                self.hub.tell(conn, pong_envelope(command.n))
                return
            if command is not None:
                self.hub.tell(conn, ack_envelope(command.cid))
                if not self.sent_ids.first_time(conn.room, command.cid):
                    return  # re-sent after a reconnect: relayed once already
                cid, data = command.cid, command.text.encode()
        if self.log.verbose:
            self.log.emit(
                "message",
                id=conn.client_id,
                room=conn.room,
                type="text" if text else "binary",
                size=len(data),
            )
        self.hub.publish(conn.room, RoomMessage(data, text, False, conn.author, cid), conn.key)

    def closing(self, conn: ClientConnection) -> None:
        """The client closes: messages that came with its close frame are relayed — to
        it too — before the answer goes out, as if they had come alone."""
        if conn.joined:
            self.hub.flush()

    def writable(self, conn: ClientConnection, writable: bool) -> None:
        """``conn``'s unsent bytes passed the write limit (False) or drained (True)."""
        if not writable and conn.joined and not self._shutting_down:
            self.budget.backlogged(conn, conn.buffered())
        else:
            self.budget.drained(conn)

    def on_wrote_backlogged(self, conn: ClientConnection, size: int) -> None:
        self.budget.wrote(size)

    def over_budget(self, conn: ClientConnection, queued: int) -> None:
        """The protocol's own output (pongs, close) passed --max-queue: drop the client."""
        self.hub.drop_slow(conn, queued)
        conn.drop(1013, "too slow: outgoing queue full")  # also if it had not joined

    def on_handshake_timeout(self, conn: ClientConnection) -> None:
        timeout = self.config.handshake_timeout
        self.counters.refused["timeout"] += 1
        self.log.emit(
            "error",
            remote=format_address(conn.peer),
            message=f"handshake timed out after {timeout} s",
        )

    def closed(self, conn: ClientConnection, ending: Ending) -> None:
        """Leave the room and log the end of the connection (one line, no traceback)."""
        self.fds.closed()  # counted by the acceptor when accepted; ends exactly once here
        self.connections.discard(conn)
        self.admitted.discard(conn)
        self._sessions.pop(conn, None)
        self.budget.drained(conn)
        if self._all_closed is not None and not self.connections:
            self._all_closed.set()
        remote = format_address(conn.peer)
        if self.socketio is not None and self.socketio.connection_lost(conn):
            pass  # logged as its Socket.IO sockets' disconnects
        elif conn.joined:
            self.hub.leave(conn)
            code, reason, by = close_details(ending)
            self.counters.close(code)
            self.log.emit(
                "disconnect",
                id=conn.client_id,
                remote=remote,
                room=conn.room,
                code=code,
                reason=reason,
                by=by,
            )
        elif conn.phase == HEAD and conn.deferred is None and not self._shutting_down:
            if conn.bytes_in:
                self.log.emit(
                    "error",
                    remote=remote,
                    message=f"bad handshake: connection closed after {conn.bytes_in} bytes, "
                    "before the end of the request head",
                )
            elif self.log.verbose:
                # A TCP probe (load balancer, port check): routine, so only logged with -v.
                self.log.emit("error", remote=remote, message="closed without sending a request")

    def _on_plain_http(self, peer: Any) -> None:
        message = acceptor.PLAIN_HTTP_TEXT  # answered 400, as nginx does
        self.log.emit("error", remote=format_address(peer), message=message)

    def _report_fds(self, open_fds: int, limit: int | None, refused: int) -> None:
        self.log.emit("fds", open=open_fds, limit=limit, refused=refused)

    def _on_slow_client(self, client: Subscriber, buffered: int) -> None:
        conn: ClientConnection = client  # type: ignore[assignment]
        self.counters.slow += 1
        self.log.emit("slow", id=conn.client_id, room=conn.room, buffered=buffered)

    def _drop_over_budget(self, client: Backlogged, buffered: int) -> None:
        conn: ClientConnection = client  # type: ignore[assignment]
        if conn.joined:
            self.hub.drop_slow(conn, buffered)
        else:
            conn.drop(1013, "too slow: outgoing queue full")


def _checks_token(decision: Admit | Plain | Refuse, request: Request) -> bool:
    """Whether answering ``decision`` tells a client something about a token: an upgrade,
    ``/admission``, and a plain request presenting one (``/metrics``, ``/log``...)."""
    if isinstance(decision, Plain):
        return decision.room == serverhttp.ADMISSION_PATH or _presents_token(request)
    return isinstance(decision, Admit) or decision.kind == "token"


def _presents_token(request: Request) -> bool:
    """Whether ``request`` carries a token (``Authorization`` or ``?token=``)."""
    _, params = access.split_path(request.path)
    return access.presented_token(request.headers, params) is not None


def _too_many_wrong_tokens(retry_after: int) -> Response:
    """429: this address presented too many wrong tokens (see wscli.serve.tokenguard)."""
    response = serverhttp.text_response(429, "Too many wrong tokens: try again later.")
    response.headers["Retry-After"] = str(retry_after)
    return response
