"""Engine.IO transports: one WebSocket (the one adapter,
:class:`~wscli.connect.websocket.WebSocketChannel`: a packet per message), or HTTP
long-polling (:class:`PollingTransport`) when the upgrade is refused.

Both carry Engine.IO packets — ``str`` for text, ``bytes`` for binary attachments — behind
one small interface (:class:`Transport`), so :mod:`wscli.connect.socketio.link` speaks
Socket.IO the same way over either. The end of a transport is signalled as websockets
signals it (:class:`websockets.exceptions.ConnectionClosed`), which the pipe and the prompt
already handle.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
import urllib.parse
from collections.abc import Sequence
from typing import Any, Protocol

from websockets.exceptions import ConnectionClosed
from websockets.frames import Close

from wscli.connect.link import Carrier
from wscli.connect.socketio.framing import HttpProblem
from wscli.connect.socketio.http import HttpChannel, HttpTarget, rejected
from wscli.core.clientoptions import ConnectOptions
from wscli.core.clientrequest import USER_AGENT, basic_auth_header, extra_headers
from wscli.core.errors import TimedOut, WscliError
from wscli.core.events import ClosedBy
from wscli.core.socketio import (
    ENGINE_CLOSE,
    ENGINE_NOOP,
    ProtocolViolation,
    decode_payload,
    encode_payload,
    engine_open,
)
from wscli.core.url import is_direct, parse_ws_url
from wscli.net.client import tls_context
from wscli.net.neterrors import describe_connect_error, hostport
from wscli.net.tunnel import environment_proxy


class Transport(Carrier, Protocol):
    """What the Socket.IO link needs from an Engine.IO transport."""

    name: str

    async def recv(self) -> str | bytes:
        """The next Engine.IO packet; raises ConnectionClosed at the end."""

    async def send_all(self, payloads: Sequence[str | bytes]) -> None:
        """Send Engine.IO packets in order."""


def split_payloads(packets: Sequence[str | bytes], max_payload: int) -> list[list[str | bytes]]:
    """Packets grouped into bodies of at most ``max_payload`` bytes once encoded (a server
    answers a bigger POST with 413 and drops the session); a packet too big alone goes alone.
    """
    batches: list[list[str | bytes]] = []
    batch: list[str | bytes] = []
    size = 0
    for packet in packets:
        if isinstance(packet, bytes):
            cost = 1 + (len(packet) + 2) // 3 * 4
        else:
            cost = len(packet.encode("utf-8", "surrogatepass"))
        if batch and size + 1 + cost > max_payload:
            batches.append(batch)
            batch, size = [], 0
        size += cost + (1 if batch else 0)
        batch.append(packet)
    if batch:
        batches.append(batch)
    return batches


MIN_POLL_TIMEOUT = 5.0
MAX_POLL_TIMEOUT = 600.0


def poll_timeout(info: dict[str, Any], default: float) -> float:
    """How long a long poll may wait for its answer: the open packet's ``pingInterval`` +
    ``pingTimeout`` (the server must ping that often) and 5 s, within 5–600 s; ``default``
    when they are not numbers.

    Each is clamped before any arithmetic: a 401-digit ``pingInterval`` is an int too big
    for a float, and dividing it raised OverflowError (a traceback).
    """
    interval, timeout = info.get("pingInterval"), info.get("pingTimeout")
    numbers = [
        value
        for value in (interval, timeout)
        if isinstance(value, int | float) and not isinstance(value, bool)
    ]
    if len(numbers) < 2:
        return default
    limit = MAX_POLL_TIMEOUT * 1000
    total = sum(min(max(value, 0), limit) for value in numbers) / 1000 + 5
    return float(min(max(total, MIN_POLL_TIMEOUT), MAX_POLL_TIMEOUT))


def connection_closed(closed: tuple[int | None, str, ClosedBy]) -> ConnectionClosed:
    """The ConnectionClosed a long-polling session raises once it ended as ``closed``.

    There are no close frames over HTTP: both "frames" carry the code and reason, and the
    side that ended it is said by which of them came first.
    """
    code, reason, by = closed
    if code is None:
        return ConnectionClosed(None, None)
    close = Close(code, reason)
    return ConnectionClosed(close, close, rcvd_then_sent=by == "server")


class PollingTransport:
    """Engine.IO over HTTP long-polling: a GET that waits for packets, a POST per send.

    A background task keeps one GET outstanding (Engine.IO allows one at a time) and queues
    what it brings; it waits for the consumer when :data:`MAX_QUEUED` packets are waiting,
    so a fast server cannot fill memory. Each GET has a timeout of the server's
    ``pingInterval + pingTimeout`` (it must ping us that often); POSTs use --open-timeout.
    """

    name = "polling"
    MAX_QUEUED = 1024

    def __init__(self, url: str, options: ConnectOptions) -> None:
        uri = parse_ws_url(options.url)
        headers = extra_headers(
            options.headers, auth=options.auth, origin=options.origin, subprotocols=()
        )
        if options.origin:
            headers.append(("Origin", options.origin))
        if uri.user_info and not any(n.lower() == "authorization" for n, _ in headers):
            # As websockets does for the WebSocket transport: the URL's user:password@
            # is Basic auth (unless -H or --auth gave an Authorization of their own).
            headers.append(basic_auth_header(":".join(uri.user_info)))
        if not any(name.lower() == "user-agent" for name, _ in headers):
            headers.append(("User-Agent", USER_AGENT))
        if options.proxy is not None:
            proxy = None if is_direct(options.proxy) else options.proxy
        else:
            proxy = environment_proxy(uri.host, uri.port, uri.secure, websocket=False)
        self.target = HttpTarget(
            uri.host,
            uri.port,
            tls_context(options, uri, options.url),
            proxy,
            headers,
            options.max_size,
            cafile=options.cacert,
        )
        self.where = hostport(uri.host, uri.port)
        parts = urllib.parse.urlsplit(url)
        self.path = parts.path
        self.query = parts.query
        self.url = url
        self.timeout = options.open_timeout or 10.0
        self.poll_timeout = 60.0
        self.max_payload = 1_000_000  # the server's limit per POST body (its open packet says)
        self.sid = ""
        self.open_packet = ""
        self.headers: list[tuple[str, str]] = []
        self._poll_channel = HttpChannel(self.target)
        self._post_channel = HttpChannel(self.target)
        self._post_lock = asyncio.Lock()
        self._queue: collections.deque[str | bytes] = collections.deque()
        self._arrived = asyncio.Event()
        self._room = asyncio.Event()
        self._poller: asyncio.Task[None] | None = None
        self._closed: tuple[int | None, str, ClosedBy] | None = None
        self._told = False  # how the session ended was raised to the consumer
        self._violation: ProtocolViolation | None = None

    def _target(self) -> str:
        query = self.query + (f"&sid={urllib.parse.quote(self.sid)}" if self.sid else "")
        query += f"&t={time.time_ns() % 10**12:x}"  # defeats caches, as Engine.IO clients do
        return f"{self.path}?{query}"

    async def open(self) -> str:
        """The handshake GET; returns the Engine.IO open packet and starts polling."""
        try:
            response = await asyncio.wait_for(
                self._poll_channel.request("GET", self._target()), self.timeout
            )
        except (TimeoutError, asyncio.TimeoutError):
            raise TimedOut(
                f"opening the long-polling session with {self.where} timed out"
            ) from None
        except HttpProblem as exc:
            raise ProtocolViolation(f"long-polling handshake: {exc}") from None
        except OSError as exc:  # reset or TLS failure while reading the answer
            host, port = self.target.host, self.target.port
            tls = self.target.ssl_context is not None
            raise describe_connect_error(exc, host, port, tls) from None
        if response.status != 200:
            raise rejected(response, self.where)
        self.headers = list(response.headers.items())
        packets = decode_payload(response.body)
        first = packets[0] if packets else ""
        if not isinstance(first, str):
            raise ProtocolViolation("no Engine.IO open packet")
        info = engine_open(first)
        sid = info.get("sid")
        if not isinstance(sid, str) or not sid:
            raise ProtocolViolation("no session id in the Engine.IO open packet")
        self.sid = sid
        self.poll_timeout = poll_timeout(info, self.poll_timeout)
        max_payload = info.get("maxPayload")
        if isinstance(max_payload, int) and max_payload > 0:
            self.max_payload = max_payload
        self.open_packet = first
        self._queue.extend(packets[1:])
        self._poller = asyncio.ensure_future(self._poll())
        return first

    async def _poll(self) -> None:
        while self._closed is None:
            try:
                response = await asyncio.wait_for(
                    self._poll_channel.request("GET", self._target()), self.poll_timeout
                )
            except (TimeoutError, asyncio.TimeoutError):
                self._end(None, f"no long-polling answer within {self.poll_timeout:g} s")
                return
            except HttpProblem as exc:
                self._end(None, f"long-polling request failed: {exc}")
                return
            except Exception as exc:  # connect errors: the session is over either way
                self._end(None, f"long-polling request failed: {exc}")
                return
            if response.status != 200:
                self._end(None, f"long-polling answered HTTP {response.status}")
                return
            try:
                packets = decode_payload(response.body)
            except ProtocolViolation as exc:  # for the link to close with, as over WebSocket
                self._violation = exc
                self._arrived.set()
                return
            for packet in packets:
                if packet == ENGINE_CLOSE:
                    self._end(1000, "", by="server")
                    return
                self._queue.append(packet)
                self._arrived.set()
            while len(self._queue) >= self.MAX_QUEUED and self._closed is None:
                self._room.clear()
                await self._room.wait()

    def _end(self, code: int | None, reason: str, by: ClosedBy = None) -> None:
        if self._closed is None:
            self._closed = (code, reason, by)
        self._arrived.set()

    async def recv(self) -> str | bytes:
        """The next packet; a body that broke the protocol raises its ProtocolViolation
        (once the packets before it are read), as a malformed frame does over WebSocket."""
        while not self._queue:
            if self._violation is not None:
                violation, self._violation = self._violation, None
                raise violation
            if self._closed is not None:
                self._told = True  # once told, it stands
                raise connection_closed(self._closed)
            self._arrived.clear()
            await self._arrived.wait()
        packet = self._queue.popleft()
        self._room.set()
        return packet

    async def send_all(self, payloads: Sequence[str | bytes]) -> None:
        """POST the packets, in as few bodies as the server's ``maxPayload`` allows."""
        for batch in split_payloads(payloads, self.max_payload):
            await self._post(batch)

    async def _post(self, packets: Sequence[str | bytes]) -> None:
        # A failed send raises to its sender, which decides what it means (lost data, or a
        # pong nobody waits for); the session's end is told by recv, after what came first.
        if self._closed is not None:
            raise connection_closed(self._closed)
        async with self._post_lock:  # Engine.IO refuses overlapping POSTs
            try:
                response = await asyncio.wait_for(
                    self._post_channel.request(
                        "POST",
                        self._target(),
                        encode_payload(packets),
                        "text/plain;charset=UTF-8",
                    ),
                    self.timeout,
                )
            except (TimeoutError, asyncio.TimeoutError, HttpProblem, OSError, WscliError) as exc:
                self._end(None, f"long-polling send failed: {exc or 'timed out'}")
                raise ConnectionClosed(None, None) from None
            if response.status != 200:
                self._end(None, f"long-polling send answered HTTP {response.status}")
                raise ConnectionClosed(None, None)

    async def ping(self, payload: bytes = b"") -> float:
        """The round trip of an Engine.IO noop POST (polling has no ping of its own)."""
        started = time.monotonic()
        await self.send_all([ENGINE_NOOP])
        return time.monotonic() - started

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self._closed is None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.send_all([ENGINE_CLOSE]), 2)
        if not self._told:
            # The session ends by this close unless the consumer was already told another
            # end: what the requests met after the packets it acts on comes later. A server
            # that ended the session (41) answers the next long poll 400, which the poller
            # can meet before the 41 is read, or while the close is sent (exit 5 for a clean
            # disconnect, seen against socket.io 4.8 at load 14).
            self._closed = None
            self._end(code, reason, by="client")
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
        self._poll_channel.close()
        self._post_channel.close()

    def closed_info(self) -> tuple[int | None, str, ClosedBy]:
        return self._closed or (None, "", None)

    def check_stalled(self) -> None:
        return None  # every request has its own timeout: nothing can stall unnoticed

    @property
    def is_open(self) -> bool:
        return self._closed is None

    @property
    def subprotocol(self) -> str | None:
        return None

    @property
    def extensions(self) -> list[str]:
        return []

    @property
    def response_headers(self) -> list[tuple[str, str]]:
        return self.headers
