"""The upstream half of a relayed connection's opening: for one client request, connect to
the upstream (through an HTTP CONNECT or SOCKS proxy, TLS), send the request with the client's
end-to-end headers, wait for the answer, and say how to answer the client.

Which URL is asked for was decided before (:mod:`wscli.proxy.gate`: the upstream's origin is
fixed). The upstream is asked first, so its refusal (status, headers, body) reaches the client as it
came and its subprotocol choice is the one the client gets. A plain HTTP GET (a chat page)
is passed on as is. The result is one of :class:`Accepted`, :class:`PassedBack` or
:class:`Failed`; :class:`wscli.proxy.pair.Pair` turns it into the client's answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ssl

from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol
from websockets.uri import WebSocketURI

from wscli.core.errors import WscliError
from wscli.core.escape import escape_control
from wscli.core.exitcodes import ExitCode
from wscli.core.headers import extension_names
from wscli.core.url import uri_text
from wscli.net.neterrors import hostport
from wscli.net.tunnel import dial
from wscli.proxy.config import ProxyConfig
from wscli.proxy.upstream import forwarded_headers
from wscli.wire.client import ClientEngine
from wscli.wire.owner import Owner, Settings

Heads = list[tuple[str, bytes]]
"""The HTTP heads of a handshake, labelled (``request``, ``upstream_request``, ...)."""


@dataclasses.dataclass
class Accepted:
    """The upstream accepted the upgrade: ``upstream`` is open."""

    response: Response
    subprotocol: Subprotocol | None
    extensions: list[str]


@dataclasses.dataclass
class PassedBack:
    """The upstream answered something else (a refusal, a plain GET's page): pass it on."""

    response: Response


@dataclasses.dataclass
class Failed:
    """No usable answer: the client gets ``status`` and ``text`` from the proxy."""

    status: int
    text: str
    error: str
    exit_code: int


Outcome = Accepted | PassedBack | Failed


def head(raw: bytes) -> bytes:
    """An HTTP message's head (without the blank line and the body)."""
    return raw.split(b"\r\n\r\n", 1)[0]


class UpstreamHandshake:
    """Opens the upstream connection for one client ``request``.

    The engine's events during the handshake reach it through its owner (the pair) as
    :meth:`answered`; :meth:`run` returns the outcome once the upstream has answered.
    """

    def __init__(
        self,
        config: ProxyConfig,
        uri: WebSocketURI,
        tls: ssl.SSLContext | None,
        request: Request,
        upgrade: bool,
        owner: Owner[ClientEngine],
        settings: Settings,
        proxy: str | None = None,
        origin: str | None = None,
    ) -> None:
        """``uri``: what to ask the upstream for (:func:`wscli.proxy.gate.decide`);
        ``origin``: the Origin to send (None: the client's)."""
        self.config = config
        self.proxy = proxy
        self.request = request
        self.upgrade = upgrade
        self.uri = uri
        """The upstream URL asked for, as the gate decided (wscli.proxy.gate)."""
        self.tls = tls
        offers = [Subprotocol(p.strip()) for p in _offers(request.headers)]
        self.protocol = ClientProtocol(
            self.uri,
            origin=origin or request.headers.get("Origin"),  # type: ignore[arg-type]
            extensions=[ClientPerMessageDeflateFactory()] if config.compression else None,
            subprotocols=offers or None,
            max_size=config.max_size,
        )
        self.engine = ClientEngine(owner, settings, self.protocol)
        self.upstream_request = self._upstream_request()
        self.heads: Heads = [
            ("request", head(request.serialize())),
            ("upstream_request", head(self.upstream_request.serialize())),
        ]
        self._answer: asyncio.Future[Response | None] | None = None

    def _upstream_request(self) -> Request:
        headers = forwarded_headers(self.request.headers, self.config.upstream.headers)
        if self.upgrade:
            upstream_request = self.protocol.connect()
        else:  # a plain HTTP GET (e.g. the page of a chat server): passed on as is
            upstream_request = Request(self.uri.resource_name, Headers(Host=_host(self.uri)))
        for name in {name for name, _ in headers if name in upstream_request.headers}:
            del upstream_request.headers[name]
        for name, value in headers:
            upstream_request.headers[name] = value
        return upstream_request

    @property
    def url(self) -> str:
        """The upstream URL asked for (without credentials)."""
        return uri_text(self.uri)

    def answered(self, response: Response | None) -> None:
        """The upstream answered (``response``), or went away without a valid answer."""
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(response)

    async def run(self) -> Outcome:
        """Connect, send the request, wait for the answer (the pair bounds the time)."""
        self._answer = asyncio.get_running_loop().create_future()
        try:
            await dial(
                lambda: self.engine,
                self.uri.host,
                self.uri.port,
                tls=self.tls,
                proxy=self.proxy,
                timeout=self.config.upstream.open_timeout,
            )
        except WscliError as exc:
            status = 504 if exc.exit_code == ExitCode.TIMEOUT else 502
            return Failed(status, f"wscli proxy: {exc}\n", str(exc), int(exc.exit_code))
        self.engine.send_request(self.upstream_request)
        response = await self._answer
        if response is not None:
            self.heads.append(("upstream_response", head(response.serialize())))
        failure = self.protocol.handshake_exc
        if response is None or (failure is not None and not isinstance(failure, InvalidStatus)):
            why = failure or "the upstream closed the connection"
            message = f"invalid answer from the upstream: {why}"
            return Failed(
                502,
                f"wscli proxy: {message}\n",
                escape_control(message),
                ExitCode.HANDSHAKE_REJECTED,
            )
        if response.status_code != 101 or not self.upgrade:
            return PassedBack(response)
        return Accepted(
            response,
            response.headers.get("Sec-WebSocket-Protocol"),  # type: ignore[arg-type]
            extension_names(response.headers.get_all("Sec-WebSocket-Extensions")),
        )


def _offers(headers: Headers) -> list[str]:
    offers: list[str] = []
    for value in headers.get_all("Sec-WebSocket-Protocol"):
        offers.extend(part for part in value.split(",") if part.strip())
    return offers


def _host(uri: WebSocketURI) -> str:
    default = 443 if uri.secure else 80
    return uri.host if uri.port == default else hostport(uri.host, uri.port)
