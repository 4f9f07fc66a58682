"""One relayed connection: the client's upgrade request, the upstream opened for it, the
answer passed back, then two :class:`~wscli.proxy.lane.Lane` until both sides are closed.

The upstream is asked first, so its refusal (status, headers, body) reaches the client as it
came and its subprotocol choice is the one the client gets. Each side negotiates
compression on its own. A side that drops without a close frame is mirrored by dropping
the other (the client sees 1006, as it would without the proxy).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import ssl
from collections.abc import Callable, Sequence
from typing import cast

from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Close, Frame
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol
from websockets.uri import WebSocketURI

from wscli.core.errors import WscliError
from wscli.core.escape import escape_control
from wscli.core.exitcodes import ExitCode
from wscli.core.redact import redact
from wscli.core.url import uri_text
from wscli.net.neterrors import hostport
from wscli.proxy.config import ProxyConfig
from wscli.proxy.endpoint import Endpoint
from wscli.proxy.faults import Faults
from wscli.proxy.gate import Gate, Refused, decide
from wscli.proxy.lane import Lane
from wscli.proxy.output import Display, Opened
from wscli.proxy.upstream import OWN_HANDSHAKE, forwarded_headers, open_transport, passed_back


@dataclasses.dataclass
class Relay:
    """The running proxy, as every pair of it uses it: the config, the display, the faults,
    the gate (the fixed upstream and the names the proxy answers to) and the upstream's
    TLS context, and the pairs alive."""

    config: ProxyConfig
    display: Display
    faults: Faults
    gate: Gate
    upstream_tls: ssl.SSLContext | None
    pairs: set[Pair] = dataclasses.field(default_factory=set)
    count: int = 0


def _head(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[0]


class Pair:
    """A client connection and the upstream connection opened for it."""

    def __init__(self, relay: Relay) -> None:
        relay.count += 1
        self.id = relay.count
        self.relay = relay
        self.config = relay.config
        self.display = relay.display
        relay.pairs.add(self)
        compression = self.config.compression
        self.client = Endpoint(
            self,
            "client",
            ServerProtocol(
                extensions=[ServerPerMessageDeflateFactory()] if compression else None,
                select_subprotocol=self._subprotocol_selector(),
                max_size=self.config.max_size,
            ),
        )
        self.upstream: Endpoint | None = None
        self.lanes: list[Lane] = []
        self.chosen: Subprotocol | None = None
        self.response: asyncio.Future[None] | None = None
        self.upstream_response: Response | None = None
        self.close_timer: asyncio.TimerHandle | None = None
        self.early: list[Frame] = []  # frames the upstream sent before the client was open
        self.client_early: list[Frame] = []  # frames the client sent before its answer
        self.stalled = False
        self.opened = False
        self.first_close: tuple[int | None, str, str | None] | None = None
        self.messages = 0
        self.timers: list[asyncio.TimerHandle] = []
        self.task: asyncio.Task[None] | None = None
        self.finished = False

    def peer(self, endpoint: Endpoint) -> Endpoint:
        """The other endpoint (the client itself while there is no upstream)."""
        if endpoint is self.client:
            return self.upstream if self.upstream is not None else self.client
        return self.client

    def _subprotocol_selector(
        self,
    ) -> Callable[[ServerProtocol, Sequence[Subprotocol]], Subprotocol | None]:
        """The client gets the subprotocol the upstream chose (the protocol binds it)."""

        def select(protocol: ServerProtocol, offers: Sequence[Subprotocol]) -> Subprotocol | None:
            return self.chosen if self.chosen in offers else None

        return select

    # Events from the endpoints

    def connection_made(self, endpoint: Endpoint) -> None:
        if endpoint is self.client:
            loop = asyncio.get_running_loop()
            self.timers.append(loop.call_later(self.config.upstream.open_timeout, self._timeout))

    def received(self, endpoint: Endpoint) -> None:
        events = endpoint.protocol.events_received()
        if endpoint is self.client and not self.opened:
            self._client_handshake(events)
            return
        if endpoint is self.upstream and not self.opened:
            self._upstream_handshake(events)
            return
        if endpoint.lane is not None:  # after the handshake every event is a frame
            endpoint.lane.frames(cast(list[Frame], events))

    def connection_lost(self, endpoint: Endpoint) -> None:
        other = self.peer(endpoint)
        if self.response is not None and not self.response.done():
            self.response.set_result(None)
        if other is not endpoint and not other.lost:
            if not self.opened:
                if endpoint is self.client:
                    other.abort()  # the client is gone: nobody waits for the upstream
                # else the client gets (or got) an answer from _open: not dropped here.
            elif endpoint.protocol.close_rcvd is None:
                other.abort()  # mirror the drop: the other side sees no close frame
            else:
                self._arm_close_timer()
        upstream = self.upstream
        if self.client.lost and (upstream is None or upstream.lost or upstream.transport is None):
            self._finish()

    # Handshake

    def _client_handshake(self, events: Sequence[object]) -> None:
        requests = [event for event in events if isinstance(event, Request)]
        if not requests and self.task is not None:  # more of an early client
            self.client_early.extend(event for event in events if isinstance(event, Frame))
            return
        if not requests:
            self.client.flush()  # a bad request: the protocol answered 400 itself
            return
        self.client.hold("handshake")  # no frame may come before the answer
        # A client that sends frames before the answer is early (RFC 6455 §4.1): they wait.
        self.client_early.extend(event for event in events if isinstance(event, Frame))
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._open(requests[0]))

    def _upstream_handshake(self, events: Sequence[object]) -> None:
        assert self.upstream is not None
        for event in events:
            if isinstance(event, Response):
                self.upstream_response = event
            elif isinstance(event, Frame):
                self.early.append(event)
        if self.early:
            self.upstream.hold("handshake")
        answered = self.upstream_response is not None or self.upstream.protocol.handshake_exc
        if self.response is not None and not self.response.done() and answered:
            self.response.set_result(None)

    async def _open(self, request: Request) -> None:
        try:
            await self._open_upstream(request)
        except WscliError as exc:
            self.display.error(self.id, str(exc), int(exc.exit_code))
            status = 504 if exc.exit_code == ExitCode.TIMEOUT else 502
            self._reject(status, f"wscli proxy: {exc}\n", "proxy")
        except asyncio.CancelledError:
            if self.finished or self.client.lost:
                self.abort()
            raise
        except Exception as exc:  # a bug must cost one connection, not the proxy
            self.display.error(self.id, f"internal error: {exc!r}", int(ExitCode.ERROR))
            self._reject(500, "wscli proxy: internal error\n", "proxy")
            if os.environ.get("WSCLI_TRACEBACK"):
                raise

    async def _open_upstream(self, request: Request) -> None:
        relay = self.relay
        upgrade = "websocket" in request.headers.get("Upgrade", "").lower()
        uri = decide(relay.gate, request.path, request.headers.get_all("Host"), upgrade)
        if isinstance(uri, Refused):
            self._reject(uri.status, f"wscli proxy: {uri.reason}\n", "proxy", uri.reason)
            return
        if upgrade and relay.faults.refuse(self.id):
            self.display.fault(self.id, "refuse", None, status=503)
            self._reject(503, "wscli proxy: refused (--refuse)\n", "proxy")
            return
        offers = [Subprotocol(p.strip()) for p in _offers(request.headers)]
        protocol = ClientProtocol(
            uri,
            origin=request.headers.get("Origin"),  # type: ignore[arg-type]
            extensions=[ClientPerMessageDeflateFactory()] if self.config.compression else None,
            subprotocols=offers or None,
            max_size=self.config.max_size,
        )
        self.upstream = Endpoint(self, "server", protocol)
        headers = forwarded_headers(request.headers, self.config.upstream.headers)
        if upgrade:
            upstream_request = protocol.connect()
        else:  # a plain HTTP GET (e.g. the page of a chat server): passed on as is
            upstream_request = Request(uri.resource_name, Headers(Host=_host(uri)))
        for name in {name for name, _ in headers if name in upstream_request.headers}:
            del upstream_request.headers[name]
        for name, value in headers:
            upstream_request.headers[name] = value
        loop = asyncio.get_running_loop()
        self.response = loop.create_future()
        upstream = self.upstream
        await open_transport(
            lambda: upstream,
            uri,
            relay.upstream_tls,
            self.config.upstream.proxy,
            self.config.upstream.open_timeout,
        )
        protocol.send_request(upstream_request)
        upstream.flush()
        await self.response
        self._answer(request, upstream_request, upgrade)

    def _answer(self, request: Request, upstream_request: Request, upgrade: bool) -> None:
        """Answer the client from what the upstream said."""
        assert self.upstream is not None
        protocol = self.upstream.protocol
        assert isinstance(protocol, ClientProtocol)
        response = self.upstream_response
        heads = [
            ("request", _head(request.serialize())),
            ("upstream_request", _head(upstream_request.serialize())),
        ]
        if response is not None:
            heads.append(("upstream_response", _head(response.serialize())))
        if response is None or (
            protocol.handshake_exc is not None
            and not isinstance(protocol.handshake_exc, InvalidStatus)
        ):
            why = protocol.handshake_exc or "the upstream closed the connection"
            self.display.heads(self.id, heads)
            message = f"invalid answer from the upstream: {why}"
            self.display.error(self.id, escape_control(message), int(ExitCode.HANDSHAKE_REJECTED))
            self._reject(502, f"wscli proxy: {message}\n", "proxy")
            return
        if response.status_code != 101 or not upgrade:
            self._pass_back(response, heads, request if not upgrade else None)
            return
        self.chosen = protocol.subprotocol
        server = self.client.protocol
        assert isinstance(server, ServerProtocol)
        answer = server.accept(request)
        if answer.status_code == 101:
            skip = OWN_HANDSHAKE | {"date", "server"}
            for name, value in passed_back(response.headers, skip):
                answer.headers[name] = value
        heads.append(("response", _head(answer.serialize())))
        self.display.heads(self.id, heads)
        server.send_response(answer)
        self.client.flush()
        if answer.status_code != 101:
            self.display.refused(self.id, answer.status_code, answer.reason_phrase, "proxy")
            self.upstream.abort()
            return
        self._start(response)

    def _pass_back(
        self, response: Response, heads: list[tuple[str, bytes]], plain: Request | None
    ) -> None:
        """Give the client the upstream's answer as it came (``plain``: a plain HTTP GET)."""
        assert self.upstream is not None
        server = self.client.protocol
        assert isinstance(server, ServerProtocol)
        headers = Headers(passed_back(response.headers))
        headers["Content-Length"] = str(len(response.body))
        headers["Connection"] = "close"
        answer = Response(response.status_code, response.reason_phrase, headers, response.body)
        heads.append(("response", _head(answer.serialize())))
        self.display.heads(self.id, heads)
        server.send_response(answer)
        self.client.flush()
        self.upstream.abort()
        if plain is not None:
            path = escape_control(redact(plain.path), keep_newlines=False)
            reason = escape_control(response.reason_phrase, keep_newlines=False)
            self.display.note(self.id, f"GET {path}: HTTP {response.status_code} {reason}")
        else:
            self.display.refused(self.id, response.status_code, response.reason_phrase, "server")

    def _reject(self, status: int, text: str, by: str, why: str = "") -> None:
        server = self.client.protocol
        assert isinstance(server, ServerProtocol)
        answer = server.reject(status, text)
        server.send_response(answer)
        self.client.flush()
        if self.upstream is not None:
            self.upstream.abort()
        reason = f"{answer.reason_phrase}: {why}" if why else answer.reason_phrase
        self.display.refused(self.id, status, reason, by)

    def _start(self, response: Response) -> None:
        assert self.upstream is not None
        self.opened = True
        for timer in self.timers:
            timer.cancel()
        self.timers = []
        faults = self.relay.faults
        up = Lane(self, "up", self.client, self.upstream, faults.direction(self.id, "up"))
        down = Lane(self, "down", self.upstream, self.client, faults.direction(self.id, "down"))
        up.reverse, down.reverse = down, up
        self.lanes = [up, down]
        self.client.lane, self.upstream.lane = up, down
        transport = self.client.transport
        peer = transport.get_extra_info("peername") if transport is not None else None
        client = hostport(str(peer[0]), int(peer[1])) if peer else "?"
        self.display.opened(
            Opened(
                self.id,
                escape_control(response_path(self), keep_newlines=False),
                client,
                self.upstream_url,
                self.chosen,
                [ext.name for ext in self.client.protocol.extensions],
                [ext.name for ext in self.upstream.protocol.extensions],
                list(response.headers.raw_items()),
            )
        )
        self._arm_faults()
        if (
            self.config.faults.stall
            and self.config.faults.disconnect_every is None
            and (self.config.faults.disconnect_after is None)
        ):
            self.stall("open")
            return
        if self.early:
            down.frames(self.early)
            self.early = []
        if self.client_early:
            up.frames(self.client_early)
            self.client_early = []
        self.client.release("handshake")
        self.upstream.release("handshake")

    @property
    def upstream_url(self) -> str:
        protocol = self.upstream.protocol if self.upstream is not None else None
        return uri_text(protocol.uri) if isinstance(protocol, ClientProtocol) else ""

    # Faults

    def _arm_faults(self) -> None:
        every = self.config.faults.disconnect_every
        if every is not None:
            loop = asyncio.get_running_loop()
            self.timers.append(
                loop.call_later(every, self.disconnect, "disconnect-every", f"{every:g}s")
            )

    def message_relayed(self) -> None:
        """Count a forwarded message for ``--disconnect-after``."""
        self.messages += 1
        after = self.config.faults.disconnect_after
        if after is not None and self.messages == after:
            for lane in self.lanes:
                lane.dest.flush()
            self.disconnect("disconnect-after", f"{after} messages")

    def disconnect(self, fault: str, when: str) -> None:
        """End (or, with ``--stall``, freeze) the connection as a fault."""
        if self.config.faults.stall:
            self.stall(f"{fault} {when}")
            return
        code = self.config.faults.close_code
        self.display.fault(self.id, fault, None, after=when, close_code=code)
        if code is None:
            self.abort()
            return
        for endpoint in (self.client, self.upstream):
            if endpoint is not None and endpoint.is_open():
                endpoint.protocol.send_close(code, "wscli proxy fault")
                endpoint.flush()
        self.closing()

    def stall(self, when: str) -> None:
        """Stop reading, answering and forwarding on both sides; keep the TCP connections."""
        if self.stalled:
            return
        self.stalled = True
        self.display.fault(self.id, "stall", None, after=when)
        for endpoint in (self.client, self.upstream):
            if endpoint is not None:
                endpoint.discarding = True
                endpoint.holds.clear()
                if endpoint.transport is not None and not endpoint.lost:
                    endpoint.transport.resume_reading()  # read to notice a hang-up

    # Ending

    def close_seen(self, close: Close, by: str) -> None:
        """Remember the first close frame of the conversation (for the close line)."""
        if self.first_close is None:
            self.first_close = (close.code, close.reason, by)

    def closing(self) -> None:
        """A close frame was sent: bound the time the closing handshake may take."""
        self._arm_close_timer()

    def _arm_close_timer(self) -> None:
        if self.close_timer is None:
            loop = asyncio.get_running_loop()
            pending = max((lane.last_due - loop.time() for lane in self.lanes), default=0.0)
            delay = self.config.close_timeout + max(pending, 0.0)
            self.close_timer = loop.call_later(delay, self.abort)

    def _timeout(self) -> None:
        if self.opened or self.finished:
            return
        if self.task is not None and not self.task.done():
            # The client asked; the upstream did not answer in time: 504 to the client.
            self.display.error(
                self.id, "the upstream did not answer in time", int(ExitCode.TIMEOUT)
            )
            self.task.cancel()
            if self.upstream is not None:
                self.upstream.abort()
            self._reject(504, "wscli proxy: the upstream did not answer in time\n", "proxy")
            return
        # The client never finished its request (slowloris): drop it.
        self.display.error(self.id, "the opening handshake timed out", int(ExitCode.TIMEOUT))
        self.abort()

    def abort(self) -> None:
        """Drop both TCP connections now."""
        self.client.abort()
        if self.upstream is not None:
            self.upstream.abort()

    def close(self, code: int = 1001, reason: str = "proxy shutting down") -> None:
        """Close both sides properly (on SIGINT/SIGTERM)."""
        if not self.opened or self.stalled:
            self.abort()
            return
        for endpoint in (self.client, self.upstream):
            if endpoint is not None and endpoint.is_open():
                endpoint.protocol.send_close(code, reason)
                endpoint.flush()
        self._arm_close_timer()

    def _finish(self) -> None:
        if self.finished:
            return
        self.finished = True
        if self.task is not None and not self.task.done():
            self.task.cancel()  # still opening the upstream for a client that is gone
        for timer in self.timers:
            timer.cancel()
        if self.close_timer is not None:
            self.close_timer.cancel()
        for lane in self.lanes:
            if lane.pump is not None:
                lane.pump.cancel()
        self.relay.pairs.discard(self)
        if self.opened:
            code, reason, by = self.first_close or (None, "", None)
            self.display.closed(self.id, code, reason, by)


def response_path(pair: Pair) -> str:
    """The path the upstream was asked for."""
    protocol = pair.upstream.protocol if pair.upstream is not None else None
    return protocol.uri.resource_name if isinstance(protocol, ClientProtocol) else ""


def _offers(headers: Headers) -> list[str]:
    offers: list[str] = []
    for value in headers.get_all("Sec-WebSocket-Protocol"):
        offers.extend(part for part in value.split(",") if part.strip())
    return offers


def _host(uri: WebSocketURI) -> str:
    default = 443 if uri.secure else 80
    return uri.host if uri.port == default else hostport(uri.host, uri.port)
