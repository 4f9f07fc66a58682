"""The asyncio server of `wscli serve`: handshakes, connections, keepalive, shutdown.

Built on ``websockets.asyncio.server``; each client is a
:class:`~wscli.serve.connection.HubConnection`, fanned out to by the :class:`~wscli.serve.hub.Hub`.
This module decides who gets in (origin, token, capacity, subprotocol), hands plain HTTP to
:mod:`wscli.serve.http` (the page, ``/healthz``, 404/405), logs the life of each connection,
pings every client from one task, keeps the unsent bytes of all clients under one budget,
and shuts down gracefully (1001 to every client, bounded in time). WebSocket upgrades on any
path join the room named by the path. :mod:`wscli.serve.run` runs it as a process.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import logging
import os
import socket
import time
from collections.abc import Sequence
from typing import Any, cast

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import NegotiationError
from websockets.http11 import Request, Response
from websockets.protocol import OPEN
from websockets.typing import Subprotocol

from wscli.core.errors import WscliError, os_reason
from wscli.net.neterrors import hostport
from wscli.net.tls import server_context
from wscli.serve import access
from wscli.serve import http as serverhttp
from wscli.serve.connection import HubConnection, close_details
from wscli.serve.hub import Backplane, Hub, Message, Subscriber
from wscli.serve.log import EventLog

BACKLOG_CHECK = 0.05  # seconds between checks of the total unsent bytes (while any)


@dataclasses.dataclass(frozen=True)
class ServeConfig:
    """Everything `wscli serve` can be told (defaults are the CLI's defaults)."""

    host: str = "127.0.0.1"
    port: int = 3000
    subprotocols: Sequence[str] = ()
    require_subprotocol: bool = False
    history: int = 0
    echo: bool = True
    origins: Sequence[str] = ()
    token: str | None = None
    max_clients: int | None = None
    max_size: int = 2**20
    max_queue: int = 4 * 2**20
    max_total_queue: int = 2**30
    ping_interval: float | None = 20.0
    ping_timeout: float | None = 20.0
    handshake_timeout: float = 10.0
    close_timeout: float = 5.0
    shutdown_timeout: float = 2.0
    compression: bool = False
    certfile: str | None = None
    keyfile: str | None = None

    @property
    def tls(self) -> bool:
        return self.certfile is not None


def format_address(address: Any) -> str:
    """``host:port`` (``[v6]:port``) from a socket address, or ``?``."""
    if isinstance(address, tuple) and len(address) >= 2:
        return hostport(str(address[0]), address[1])
    return "?"


def listen_error(host: str, port: int, exc: OSError) -> WscliError:
    """One line saying why ``host:port`` cannot be listened on, with the likely fix."""
    where = f"cannot listen on {_url_host(host)}:{port}"
    if isinstance(exc, socket.gaierror):
        return WscliError(
            where, os_reason(exc), "--host takes an address or a name of this machine"
        )
    # asyncio wraps the bind error in a long sentence; the errno says it shortly.
    why = os.strerror(exc.errno).lower() if exc.errno else str(exc)
    hint = {
        errno.EADDRINUSE: "pick another --port, or --port 0 for a free one",
        errno.EACCES: "ports below 1024 need privileges: pick a --port above 1023",
        errno.EADDRNOTAVAIL: "--host must be an address of this machine, e.g. 127.0.0.1 "
        "or 0.0.0.0 for all",
    }.get(exc.errno or 0)
    return WscliError(where, why, hint)


def _url_host(host: str) -> str:
    """``host`` bracketed if IPv6 (and not already: ``--host [::1]`` reaches listen_error)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


DRAIN_TIMEOUT = 5.0  # seconds a graceful shutdown waits for the backplane to deliver


class _OneLineLogHandler(logging.Handler):
    """Routes the websockets library's warnings/errors to the event log: one line each."""

    def __init__(self, log: EventLog) -> None:
        super().__init__(logging.WARNING)
        self.log = log

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            text = f"{text}: {type(exc).__name__}: {exc}"
        self.log.emit("error", remote=None, message=text)


class ChatServer:
    """One `wscli serve` instance: the websockets server, the hub and the HTTP endpoints."""

    def __init__(
        self, config: ServeConfig, log: EventLog, backplane: Backplane | None = None
    ) -> None:
        self.config = config
        self.log = log
        self.hub = Hub(
            echo=config.echo,
            history=config.history,
            max_queue=config.max_queue,
            backplane=backplane,
            on_slow_client=self._on_slow_client,
        )
        self.started = time.monotonic()
        self.admitted: set[HubConnection] = set()
        self.server: Server | None = None
        self.port = 0
        self._page: bytes | None = None
        self._shutting_down = False
        self._keepalive_task: asyncio.Task[None] | None = None
        # Kept here, not on each connection (memory per idle client): when each handshake
        # began (until it ends), and the keepalive pings awaiting their pong.
        self._handshakes: dict[HubConnection, float] = {}
        self._pings: dict[HubConnection, float] = {}
        # Connections whose unsent bytes passed the write limit (see _check_backlog).
        self._backlogged: set[HubConnection] = set()
        self._backlog_timer: asyncio.TimerHandle | None = None
        self._last_loop_error: tuple[str, float, int] = ("", 0.0, 0)  # message, when, repeats
        self._logger = logging.getLogger(f"wscli.serve.{id(self)}")
        self._logger.propagate = False
        self._logger.setLevel(logging.WARNING)
        self._logger.addHandler(_OneLineLogHandler(log))

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
        loop.set_exception_handler(self._loop_exception)
        connection_class = type("HubConnection", (HubConnection,), {"chat": self})
        try:
            self.server = await serve(
                self._handler,
                config.host,
                config.port,
                process_request=self._process_request,
                # Only when needed: it costs a closure per connection.
                select_subprotocol=self._select_subprotocol if config.subprotocols else None,
                compression="deflate" if config.compression else None,
                open_timeout=config.handshake_timeout,
                ping_interval=None,  # one keepalive task for all: see _keepalive
                ping_timeout=None,
                close_timeout=config.close_timeout,
                max_size=config.max_size,
                max_queue=1,
                write_limit=2**16,
                logger=self._logger,
                create_connection=connection_class,
                ssl=ssl_context,
                server_header=None,
            )
        except OSError as exc:
            await self.hub.close()
            raise listen_error(config.host, config.port, exc) from None
        self.port = self.server.sockets[0].getsockname()[1]
        if config.ping_interval is not None:
            self._keepalive_task = loop.create_task(self._keepalive(config.ping_interval))

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
        if self.server is None or self._shutting_down:
            return
        self._shutting_down = True
        server = self.server
        if self._keepalive_task is not None:
            self._keepalive_task.cancel()
        if self._backlog_timer is not None:
            self._backlog_timer.cancel()
        timeout = self.config.shutdown_timeout
        server.close(close_connections=False)  # handshakes in progress get 503
        # What was published is delivered before the close frame (through the backplane:
        # bounded, see Backplane.drain); nothing new is accepted meanwhile.
        for connection in self.admitted:
            connection.transport.pause_reading()
        await self.hub.drain(DRAIN_TIMEOUT)
        clients = [c for c in self.admitted if c.protocol.state is OPEN]
        self.log.emit("shutdown", clients=len(clients))
        for connection in list(self.admitted):
            self.hub.leave(connection)  # what it sends from now on is not relayed
            if not connection.transport.is_closing():
                connection.transport.resume_reading()  # to read the client's close frame
            connection.drop(1001, "server shutting down", timeout)
        try:
            await asyncio.wait_for(server.wait_closed(), timeout + 1)
        except asyncio.TimeoutError:
            for open_connection in list(server.connections):
                open_connection.transport.abort()
        await self.hub.close()

    async def _keepalive(self, interval: float) -> None:
        """Ping every client each ``interval``; fail (1011) those silent past ``ping_timeout``.

        One task for all connections instead of one per connection (memory per idle client).
        It wakes up twice per min(interval, timeout), so a silent peer is closed at most
        that half-period after its timeout.
        """
        timeout = self.config.ping_timeout
        loop = asyncio.get_running_loop()
        pings = self._pings
        period = min(interval, timeout) / 2 if timeout is not None else interval
        next_round = loop.time() + interval
        while True:
            await asyncio.sleep(period)
            now = loop.time()
            ping_round = now >= next_round
            if ping_round:
                next_round = now + interval
            for connection in list(self.admitted):
                try:
                    sent = pings.get(connection)
                    if sent is None:
                        if ping_round and connection.send_keepalive_ping():
                            pings[connection] = now
                    elif timeout is not None and now - sent >= timeout:
                        del pings[connection]
                        connection.fail(1011, "keepalive ping timeout")
                except Exception as exc:  # never let one connection stop the keepalive
                    self.log.emit("error", remote=None, message=f"keepalive: {exc!r}")

    def on_keepalive_pong(self, conn: HubConnection) -> None:
        """``conn`` answered the keepalive ping."""
        self._pings.pop(conn, None)

    def on_backlog(self, conn: HubConnection, backlogged: bool) -> None:
        """``conn``'s unsent bytes passed the write limit (True) or drained (False)."""
        if not backlogged:
            self._backlogged.discard(conn)
            return
        self._backlogged.add(conn)
        if self._backlog_timer is None:
            self._backlog_timer = conn.loop.call_later(BACKLOG_CHECK, self._check_backlog)

    def _check_backlog(self) -> None:
        """Keep the unsent bytes of all clients together under ``--max-total-queue``.

        ``--max-queue`` bounds each client; without this, many clients that stop reading
        at once could still hold max_queue each. Checked every :data:`BACKLOG_CHECK`
        seconds while some client is backlogged (nothing on the fan-out path); over the
        budget, the clients with the largest backlogs are dropped (1013) first.
        """
        self._backlog_timer = None
        backlog = [
            (conn.transport.get_write_buffer_size(), conn)
            for conn in self._backlogged
            if conn.joined and not conn.left
        ]
        total = sum(size for size, _ in backlog)
        if total > self.config.max_total_queue:
            backlog.sort(key=lambda entry: entry[0], reverse=True)
            for size, conn in backlog:
                if total <= self.config.max_total_queue:
                    break
                self.hub.drop_slow(conn, size)
                total -= size
        if self._backlogged and not self._shutting_down:
            loop = asyncio.get_running_loop()
            self._backlog_timer = loop.call_later(BACKLOG_CHECK, self._check_backlog)

    def slow_client(self, key: str, slow: bool) -> None:
        """Stop (``slow``) or resume reading from the client ``key``: the backplane's
        backpressure when Redis falls behind (its messages wait in the socket, not here)."""
        for conn in self.admitted:
            if conn.key == key and conn.joined and not conn.left:
                if slow:
                    conn.transport.pause_reading()
                else:
                    conn.transport.resume_reading()
                return

    def on_connection_made(self, conn: HubConnection) -> None:
        """A TCP (or TLS) connection arrived: its handshake starts now."""
        self._handshakes[conn] = conn.loop.time()

    def abort_all(self) -> None:
        """Drop every connection at once (a second Ctrl-C: no close handshake)."""
        connections: set[ServerConnection] = set(self.admitted)
        if self.server is not None:
            connections |= self.server.connections
        for connection in connections:
            connection.transport.abort()

    # Handshake

    def _select_subprotocol(
        self, connection: ServerConnection, offered: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        supported = self.config.subprotocols
        for name in offered:
            if name in supported:
                return name
        if self.config.require_subprotocol:
            raise NegotiationError(
                "no supported subprotocol offered (supported: " + ", ".join(supported) + ")"
            )
        return None

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        conn = cast(HubConnection, connection)
        room, params = access.split_path(request.path)
        upgrade = request.headers.get("Upgrade", "").lower()
        if "websocket" not in upgrade:
            return self._http(conn, request, room)
        verdict = self._admission(request, request.headers.get("Origin"), params)
        if verdict is not None:
            response = self._refuse(conn, room, verdict.status, verdict.reason)
            if verdict.status == 401:
                response.headers["WWW-Authenticate"] = 'Bearer realm="wscli"'
            return response
        conn.ident = ("", room, access.clean_nick(params.get("nick")))
        self.admitted.add(conn)
        return None

    def _admission(
        self, request: Request, origin: str | None, params: dict[str, str]
    ) -> access.Refusal | None:
        """Why an upgrade like ``request`` would be refused (None: it gets in)."""
        config = self.config
        # Read only when a token is required: an odd Authorization header must not fail an
        # upgrade to a server without --token.
        token = None
        if config.token is not None:
            token = access.presented_token(request.headers, params)
        return access.refusal(
            origin=origin,
            origins=config.origins,
            host_header=request.headers.get("Host"),
            tls=config.tls,
            token=token,
            expected_token=config.token,
            clients=len(self.admitted),
            max_clients=config.max_clients,
        )

    def admission(self, request: Request) -> dict[str, Any]:
        """``GET /admission``: the verdict an upgrade from this page would get, as JSON.

        A same-origin ``fetch`` carries no ``Origin`` header, so the page names its origin
        in ``?origin=`` (a header, when present, wins). Only advice: the upgrade is still
        checked by itself.
        """
        _, params = access.split_path(request.path)
        origin = request.headers.get("Origin") or params.get("origin")
        return access.admission_document(self._admission(request, origin, params))

    def _refuse(self, conn: HubConnection, room: str, status: int, reason: str) -> Response:
        self.log.emit(
            "refused",
            remote=format_address(conn.remote_address),
            path=room,
            status=status,
            reason=reason,
        )
        return conn.respond(status, reason + "\n")

    def _http(self, conn: HubConnection, request: Request, room: str) -> Response:
        response = serverhttp.answer(
            conn, request, room, self._page, self.health, lambda: self.admission(request)
        )
        if self.log.verbose:
            self.log.emit(
                "http",
                remote=format_address(conn.remote_address),
                method=request.method,
                path=room,
                status=response.status_code,
            )
        return response

    def health(self) -> dict[str, Any]:
        """The /healthz document; ``status`` is "degraded" while a backplane is lost."""
        backplane = self.hub.backplane.describe()
        return {
            "status": "degraded" if backplane.get("connected") is False else "ok",
            "clients": self.hub.clients,
            "rooms": self.hub.active_rooms,
            "uptime": round(time.monotonic() - self.started, 3),
            "backplane": backplane,
        }

    # Connections

    async def _handler(self, connection: ServerConnection) -> None:
        conn = cast(HubConnection, connection)
        if conn.protocol.state is not OPEN or conn.left:
            return
        self._handshakes.pop(conn, None)
        _, key = self.hub.new_key()
        conn.ident = (key, conn.room, conn.nick)
        if conn.protocol.extensions:
            conn.shared_frames = False  # compressed: frames encoded per connection
        self.log.emit(
            "connect",
            id=conn.client_id,
            remote=format_address(conn.remote_address),
            room=conn.room,
            subprotocol=conn.subprotocol,
            compression=not conn.shared_frames,
            nick=conn.nick,
        )
        conn.opened()
        self.hub.join(conn)
        await conn.wait_closed()

    def on_message(self, conn: HubConnection, data: bytes, text: bool) -> None:
        """A complete message from ``conn``: relay it to its room."""
        if self.log.verbose:
            self.log.emit(
                "message",
                id=conn.client_id,
                room=conn.room,
                type="text" if text else "binary",
                size=len(data),
            )
        self.hub.publish(conn.room, Message(data, text), conn.key)

    def on_connection_lost(self, conn: HubConnection, exc: Exception | None) -> None:
        """Leave the room and log the end of the connection (one line, no traceback)."""
        self.admitted.discard(conn)
        self._pings.pop(conn, None)
        self._backlogged.discard(conn)
        started = self._handshakes.pop(conn, None)
        if conn.joined:
            self.hub.leave(conn)
            code, reason, by = close_details(conn)
            self.log.emit(
                "disconnect",
                id=conn.client_id,
                remote=format_address(conn.remote_address),
                room=conn.room,
                code=code,
                reason=reason,
                by=by,
            )
            return
        failure = conn.protocol.handshake_exc
        remote = format_address(conn.remote_address)
        timeout = self.config.handshake_timeout
        # uvloop's timers and clock are whole milliseconds: the timeout may fire a little
        # before ``timeout`` has passed by loop.time(), so allow a few milliseconds.
        timed_out = started is not None and conn.loop.time() - started >= timeout - 0.005
        if conn.response is None and timed_out:
            self.log.emit("error", remote=remote, message=f"handshake timed out after {timeout} s")
        elif _sent_nothing(conn):
            # A TCP probe (load balancer, port check): routine, so only logged with -v.
            if self.log.verbose:
                self.log.emit("error", remote=remote, message="closed without sending a request")
        elif failure is not None:
            self.log.emit("error", remote=remote, message=f"bad handshake: {_one_line(failure)}")
        elif conn.request is None:
            self.log.emit("error", remote=remote, message="closed before completing the handshake")

    def _on_slow_client(self, client: Subscriber, buffered: int) -> None:
        conn = cast(HubConnection, client)
        self.log.emit("slow", id=conn.client_id, room=conn.room, buffered=buffered)

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """One line per event-loop error; the same line again within a second is counted.

        (Out of file descriptors, asyncio reports every failed accept: hundreds a second.)
        """
        exc = context.get("exception")
        message = str(context.get("message", "error"))
        if exc is not None:
            message = f"{message}: {type(exc).__name__}: {exc}"
        now = loop.time()
        last, since, repeats = self._last_loop_error
        if message == last and now - since < 1.0:
            self._last_loop_error = (last, since, repeats + 1)
            return
        if repeats:
            self.log.emit("error", remote=None, message=f"(the last error repeated {repeats}x)")
        self._last_loop_error = (message, now, 0)
        self.log.emit("error", remote=None, message=message)


def _sent_nothing(conn: HubConnection) -> bool:
    """True when the peer closed before sending a single byte of its request.

    websockets says so only in words: "did not receive a valid HTTP request" caused by
    "connection closed while reading HTTP request line" caused by "stream ends after 0
    bytes" (test_server.py notices if that changes).
    """
    failure = conn.protocol.handshake_exc
    cause = failure.__cause__ if failure is not None else None
    return (
        conn.request is None
        and isinstance(cause, EOFError)
        and "request line" in str(cause)
        and "after 0 bytes" in str(cause.__cause__)
    )


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    cause = exc.__cause__
    while cause is not None:
        text += f"; {cause}"
        cause = cause.__cause__
    return " ".join(text.split())
