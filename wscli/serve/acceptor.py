"""`wscli serve`'s own accept loop: admission decided when a connection is accepted.

The event loops' ``create_server`` accept whatever the kernel queued and fail only at the
limit, each in its own way (see :mod:`wscli.serve.fdlimit`): a burst of clients then fills
the process before a single request is read, and the clients beyond it wait unanswered
(asyncio pauses accepting for a second at a time) or are closed unanswered (uvloop). So the
server accepts by itself, with the loop's public API (``add_reader`` on the listening
socket, ``connect_accepted_socket`` for each client), and decides for each connection as
it is accepted, in arrival order:

- room to spare (:meth:`FdGuard.admits`): the connection goes to the server's protocol;
- no room, but a descriptor left to say so: :class:`Refusal` reads the request head
  (bounded in size and time), answers ``503`` with ``Retry-After`` and closes — within
  milliseconds; ``/healthz`` gets the health document with that 503 (when its ``Host``
  names this server, as on every request), so monitoring sees "degraded";
- not even that (refusals in flight hold the last descriptors): accepting pauses for
  :data:`PAUSE` seconds, and so does an ``accept()`` failing with EMFILE/ENFILE (another
  part of the process, or the system, took them). Clients wait in the kernel's queue only
  that long, and accepting resumes by itself.

Every connection accepted is counted in the guard's budget here; the server reports its end
(:meth:`FdGuard.closed`) from its protocol's ``connection_lost``, refusals from their own.
"""

from __future__ import annotations

import asyncio
import errno
import json
import re
import socket
import ssl
import sys
from collections.abc import Callable, Coroutine, Iterable
from collections.abc import Set as AbstractSet
from typing import Any, cast

from wscli.core.hosts import host_refusal
from wscli.serve.fdlimit import REFUSAL_TEXT, RETRY_AFTER, FdGuard

BACKLOG = 1024
"""Connections the kernel queues for accept (capped by ``net.core.somaxconn``)."""

BATCH = 64
"""Connections accepted per wake-up, so one busy port cannot starve the event loop."""

RESERVE = 4
"""Descriptors never used for clients, not even to refuse them (logs, a recount)."""

PAUSE = 0.02
"""Seconds accepting pauses when no descriptor is left."""

MAX_HEAD = 8192
"""Bytes of request head a refusal reads before answering anyway."""

REFUSAL_TIMEOUT = 1.0
"""Seconds a refusal waits for the request head before answering anyway."""

LINGER = 1.0
"""Seconds an answered refusal waits for the client to close before closing itself."""

DISCARD_LIMIT = 64 * 1024
"""Bytes an answered refusal reads and drops before it resets the connection."""

ProtocolFactory = Callable[[], asyncio.BaseProtocol]


def listen(host: str, port: int, backlog: int = BACKLOG) -> list[socket.socket]:
    """Non-blocking sockets listening on every address ``host`` names, at ``port``.

    As ``loop.create_server`` does it (``localhost`` may be 127.0.0.1 and ::1; IPv6 sockets
    are IPv6 only). Raises ``OSError`` (``socket.gaierror`` for an unknown name).
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            if sys.platform != "win32":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(backlog)
            sock.setblocking(False)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def refusal_response(status_line: bytes, body: bytes, content_type: bytes) -> bytes:
    """The bytes of a refusal: ``status_line``, ``Retry-After``, ``Connection: close``."""
    return (
        b"HTTP/1.1 " + status_line + b"\r\n"
        b"Retry-After: " + str(RETRY_AFTER).encode() + b"\r\n"
        b"Content-Type: " + content_type + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n"
        b"Cache-Control: no-store\r\n"
        b"Connection: close\r\n\r\n" + body
    )


_HOST_LINE = re.compile(rb"\r\nhost:[ \t]*([^\r\n]*)", re.IGNORECASE)


def request_host(head: bytes) -> str | None:
    """The ``Host`` of a request head: the value of its one ``Host`` header (None when
    there is none, or more than one)."""
    found = _HOST_LINE.findall(head)
    return found[0].strip().decode("latin-1") if len(found) == 1 else None


def wants_health(head: bytes) -> bool:
    """True when the request line of ``head`` asks for ``/healthz`` (GET or HEAD)."""
    parts = head.split(b"\r\n", 1)[0].split(b" ")
    return (
        len(parts) == 3
        and parts[0] in (b"GET", b"HEAD")
        and parts[1].partition(b"?")[0] == b"/healthz"
    )


PLAIN_HTTP_TEXT = "plain HTTP request sent to HTTPS port"
"""What a client speaking plain HTTP to the TLS port is told (nginx's words)."""


def plain_http_response() -> bytes:
    """The 400 for plain HTTP on the TLS port: in plain HTTP, so the client can read it."""
    body = (PLAIN_HTTP_TEXT + "\n").encode()
    return (
        b"HTTP/1.1 400 Bad Request\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n"
        b"Connection: close\r\n\r\n" + body
    )


def looks_like_plain_http(first: bytes) -> bool:
    """True when the first byte a client sent to the TLS port starts an HTTP method (a TLS
    record starts with 0x16, a handshake)."""
    return first[:1].isalpha() and first[:1].isupper()


class Refusal(asyncio.Protocol):
    """One connection the server has no room for: 503 with ``Retry-After``, then closed.

    It reads the request head first (at most :data:`MAX_HEAD` bytes, at most
    :data:`REFUSAL_TIMEOUT` seconds): closing a socket with unread data sends a reset,
    which can destroy the answer before the client reads it. For the same reason, when it
    answered before the head ended, it shuts its side (FIN) and drops what still comes (at
    most :data:`DISCARD_LIMIT` bytes, at most :data:`LINGER` seconds) until the client
    closes. A complete head is answered and closed at once: refusals must free their
    descriptor quickly, whatever the client does after the answer.
    """

    def __init__(
        self,
        guard: FdGuard,
        health: Callable[[], dict[str, Any]],
        answer: Callable[[bytes], bytes] | None = None,
        allowed_hosts: AbstractSet[str] | None = frozenset(),
    ) -> None:
        self._guard = guard
        self._health = health
        self._allowed_hosts = allowed_hosts
        self._answer_for = answer  # another answer than the 503 (plain HTTP on the TLS port)
        self._head = b""
        self._discarded = -1  # bytes dropped after the answer; -1: not answered yet
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        self._timer = asyncio.get_running_loop().call_later(REFUSAL_TIMEOUT, self._answer)

    def data_received(self, data: bytes) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if self._discarded >= 0:
            self._discarded += len(data)
            if self._discarded > DISCARD_LIMIT:
                transport.abort()
            return
        self._head += data[: MAX_HEAD - len(self._head)]
        if b"\r\n\r\n" in self._head or len(self._head) >= MAX_HEAD:
            self._answer()

    def eof_received(self) -> bool:
        self._answer()
        return False  # the transport closes once the answer is written

    def _answer(self) -> None:
        transport = self._transport
        if transport is None or transport.is_closing() or self._discarded >= 0:
            return
        self._discarded = 0
        if self._answer_for is not None:
            response = self._answer_for(self._head)
        elif wants_health(self._head) and self._for_this_server():
            body = json.dumps(self._health()).encode()
            response = refusal_response(b"503 Service Unavailable", body, b"application/json")
            if self._head.startswith(b"HEAD "):
                response = response[: len(response) - len(body)]
        else:
            response = refusal_response(
                b"503 Service Unavailable", REFUSAL_TEXT.encode(), b"text/plain; charset=utf-8"
            )
        transport.write(response)
        if self._timer is not None:
            self._timer.cancel()
        if b"\r\n\r\n" in self._head or not transport.can_write_eof():
            # The whole head was read (an upgrade or GET has no body): nothing more is
            # expected, and the descriptor is needed. (TLS cannot half-close anyway.)
            transport.close()
        else:
            # Answered before the head ended: more may come; let the client close first.
            transport.write_eof()
            self._timer = asyncio.get_running_loop().call_later(LINGER, transport.close)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._transport = None
        self._guard.closed()

    def _for_this_server(self) -> bool:
        """The Host check of every request (DNS rebinding: :mod:`wscli.core.hosts`), before
        the health document is given; others get the plain refusal."""
        return host_refusal(request_host(self._head), self._allowed_hosts) is None


class Acceptor:
    """Accepts clients on ``sockets`` and hands each to ``factory`` or to a :class:`Refusal`.

    ``health`` gives the ``/healthz`` document for refused health checks whose ``Host`` is
    in ``allowed_hosts`` (:mod:`wscli.core.hosts`: loopback names always; None: any);
    ``ssl`` and the timeouts are passed to ``loop.connect_accepted_socket``. With ``ssl``, a
    client whose first byte starts an HTTP method instead of a TLS handshake gets nginx's
    400 "plain HTTP request sent to HTTPS port" in plain HTTP, and ``on_plain_http`` is told
    its address (else the TLS handshake would fail in silence).
    """

    def __init__(
        self,
        sockets: Iterable[socket.socket],
        factory: ProtocolFactory,
        guard: FdGuard,
        health: Callable[[], dict[str, Any]],
        *,
        ssl_context: ssl.SSLContext | None = None,
        ssl_handshake_timeout: float | None = None,
        on_plain_http: Callable[[Any], None] | None = None,
        allowed_hosts: AbstractSet[str] | None = frozenset(),
    ) -> None:
        self.sockets = list(sockets)
        self._factory = factory
        self._guard = guard
        self._health = health
        self._ssl = ssl_context
        self._ssl_handshake_timeout = ssl_handshake_timeout if ssl_context else None
        self._on_plain_http = on_plain_http
        self._allowed_hosts = allowed_hosts
        self._loop = asyncio.get_running_loop()
        self._tasks: set[asyncio.Task[None]] = set()
        self._serving = False
        self._paused: asyncio.TimerHandle | None = None
        self._starved = False  # accept() failed for lack of descriptors, not since succeeded

    def start(self) -> None:
        """Start accepting (readers on the listening sockets)."""
        self._serving = True
        for sock in self.sockets:
            self._loop.add_reader(sock.fileno(), self._accept, sock)

    def close(self) -> None:
        """Stop accepting and close the listening sockets (clients already in stay)."""
        self._serving = False
        if self._paused is not None:
            self._paused.cancel()
            self._paused = None
        for sock in self.sockets:
            if sock.fileno() >= 0:
                self._loop.remove_reader(sock.fileno())
                sock.close()

    def _accept(self, sock: socket.socket) -> None:
        accepted: list[tuple[socket.socket, ProtocolFactory]] = []
        try:
            self._accept_some(sock, accepted)
        finally:
            if accepted:
                self._hand_over(accepted)

    def _accept_some(
        self, sock: socket.socket, accepted: list[tuple[socket.socket, ProtocolFactory]]
    ) -> None:
        """Accept up to :data:`BATCH` clients into ``accepted``, each with its protocol."""
        guard = self._guard
        budget = guard.budget
        for _ in range(BATCH):
            if budget.limit is not None and budget.open + RESERVE >= budget.limit:
                self._pause()  # refusals in flight hold the last descriptors
                return
            try:
                client, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    if not self._starved:  # once per episode: retries are the same clients
                        self._starved = True
                        guard.refused()
                    self._pause()
                    return
                raise
            self._starved = False
            client.setblocking(False)
            budget.opened()
            if guard.admits():
                factory: ProtocolFactory = self._factory
            else:
                guard.refused()
                factory = self._refusal
            accepted.append((client, factory))

    def _hand_over(self, accepted: list[tuple[socket.socket, ProtocolFactory]]) -> None:
        """Give the accepted sockets to the loop (``connect_accepted_socket``)."""
        if self._ssl is None:
            # Without TLS this waits for nothing but the loop: one task per batch. (A task
            # per connection left ~1.4 KB more RSS per idle client on uvloop, measured.)
            self._spawn(self._connect_all(accepted))
        else:
            # Each TLS handshake takes its own time (up to the handshake timeout).
            for client, factory in accepted:
                self._spawn(self._connect(client, factory))

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = self._loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect_all(self, accepted: list[tuple[socket.socket, ProtocolFactory]]) -> None:
        for client, factory in accepted:
            await self._connect(client, factory)

    def _refusal(self) -> Refusal:
        return Refusal(self._guard, self._health, allowed_hosts=self._allowed_hosts)

    def _plain_http_refusal(self) -> Refusal:
        return Refusal(self._guard, self._health, lambda head: plain_http_response())

    async def _first_byte(self, client: socket.socket) -> bytes:
        """The first byte ``client`` sent, left unread (``MSG_PEEK``); waits at most the
        TLS handshake timeout (TimeoutError), b"" when it closed first."""
        ready: asyncio.Future[None] = self._loop.create_future()

        def readable() -> None:
            if not ready.done():
                ready.set_result(None)

        fd = client.fileno()
        self._loop.add_reader(fd, readable)
        try:
            await asyncio.wait_for(ready, self._ssl_handshake_timeout)
        finally:
            self._loop.remove_reader(fd)
        return client.recv(1, socket.MSG_PEEK)

    async def _connect(self, client: socket.socket, factory: ProtocolFactory) -> None:
        tls = self._ssl
        try:
            if tls is not None and looks_like_plain_http(await self._first_byte(client)):
                if self._on_plain_http is not None:
                    self._on_plain_http(client.getpeername())
                tls, factory = None, self._plain_http_refusal
            await self._loop.connect_accepted_socket(
                factory,
                client,
                ssl=tls,
                ssl_handshake_timeout=self._ssl_handshake_timeout if tls is not None else None,
            )
        except (OSError, asyncio.TimeoutError, ssl.SSLError, EOFError):
            # The TLS handshake failed or the client left first: the protocol never saw
            # the connection, so its end is counted here. (The loop closed the socket.)
            self._guard.closed()
            client.close()

    def _pause(self) -> None:
        """Stop reading the listening sockets for :data:`PAUSE` seconds."""
        if self._paused is not None or not self._serving:
            return
        for sock in self.sockets:
            self._loop.remove_reader(sock.fileno())
        self._paused = self._loop.call_later(PAUSE, self._resume)

    def _resume(self) -> None:
        self._paused = None
        if self._serving:
            self.start()
