"""A small HTTP/1.1 client for Engine.IO long-polling: GET and POST on a kept-alive
connection, with the TLS context, proxy, headers and timeouts of `wscli connect`.

Why our own: the standard library's clients block (a thread stuck in a 25 s long-poll
keeps the process from exiting) and websockets has no HTTP client. Engine.IO needs little:
no redirects, one request at a time per connection. The framing (what RFC 9112 allows a
server to send, bounded) is h11's, in :mod:`wscli.connect.socketio.framing`; this module
keeps the asyncio socket, TLS and the proxy tunnel around it. Every wait has a timeout.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import ssl
import urllib.parse
from collections.abc import Sequence

from wscli.connect.socketio.framing import HttpProblem, HttpResponse, ResponseReader
from wscli.core.errors import HandshakeRejected, UsageProblem, WscliError
from wscli.net.neterrors import describe_connect_error, hostport
from wscli.net.tls import certificate_names, name_mismatch
from wscli.net.tunnel import http_connect

MAX_COOKIES = 32
MAX_COOKIE = 4096
READ_SIZE = 65536


@dataclasses.dataclass
class HttpTarget:
    """Where requests go and how: host, port, TLS, proxy, extra headers."""

    host: str
    port: int
    ssl_context: ssl.SSLContext | None
    proxy: str | None
    headers: Sequence[tuple[str, str]] = ()
    max_body: int | None = 2**20
    cafile: str | None = None  # --cacert, to name a certificate's names on a mismatch
    # Cookies the server set (a load balancer's sticky-session cookie): sent back on every
    # later request, as browsers do, or the next poll may reach another instance.
    cookies: dict[str, str] = dataclasses.field(default_factory=dict)

    def keep_cookies(self, set_cookies: Sequence[str]) -> None:
        """Remember ``NAME=VALUE`` of each Set-Cookie (attributes ignored), bounded."""
        for header in set_cookies:
            name, eq, value = header.split(";", 1)[0].strip().partition("=")
            if not eq or not name or len(name) + len(value) > MAX_COOKIE:
                continue
            if name in self.cookies or len(self.cookies) < MAX_COOKIES:
                self.cookies[name] = value


class HttpChannel:
    """One kept-alive connection, opened on first use and again after the server closes it."""

    def __init__(self, target: HttpTarget) -> None:
        self.target = target
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.framing: ResponseReader | None = None  # h11's state of this connection

    async def _open(self) -> None:
        target = self.target
        where = hostport(target.host, target.port)
        tls = target.ssl_context
        try:
            if target.proxy is None:
                reader, writer = await asyncio.open_connection(
                    target.host, target.port, ssl=tls, server_hostname=target.host if tls else None
                )
            else:
                sock = await self._tunnel(target.proxy, where)
                reader, writer = await asyncio.open_connection(
                    sock=sock, ssl=tls, server_hostname=target.host if tls else None
                )
        except OSError as exc:
            names: list[str] = []
            if name_mismatch(exc) and target.proxy is None:  # say which names it has
                names = await certificate_names(target.host, target.port, cafile=target.cafile)
            error = describe_connect_error(exc, target.host, target.port, tls is not None, names)
            raise error from None
        self.reader, self.writer = reader, writer
        self.framing = ResponseReader(target.max_body)

    async def _tunnel(self, proxy: str, where: str) -> socket.socket:
        """A socket tunnelled to ``where`` through the HTTP proxy (``CONNECT``)."""
        parts = urllib.parse.urlsplit(proxy)
        if parts.scheme not in ("http", ""):
            raise UsageProblem(
                "long-polling goes through HTTP proxies only",
                f"{parts.scheme}:// proxy given",
                hint="--transport websocket for SOCKS proxies",
            )
        url = proxy if parts.scheme else f"http://{proxy}"
        return await http_connect(url, self.target.host, self.target.port)

    async def request(
        self, method: str, target: str, body: bytes | None = None, content_type: str = ""
    ) -> HttpResponse:
        """Send one request and read its response.

        A kept-alive connection the server closed meanwhile is replaced before a request
        goes out on it. Only a GET is ever sent again, and only when its answer had not
        begun (RFC 9110 §9.2.2): a POST the server processed before the connection dropped
        was sent twice (the server saw one emit two times).
        """
        for attempt in (0, 1):
            if self.writer is not None and (self.reader is None or self.reader.at_eof()):
                self.close()  # closed by the server while idle: not reused
            fresh = self.writer is None
            if fresh:
                await self._open()
            assert self.reader is not None and self.writer is not None and self.framing
            framing = self.framing
            self.writer.write(framing.request(method, target, self._headers(content_type), body))
            try:
                response = await self._read(self.reader, framing)
            except (HttpProblem, OSError) as exc:
                self.close()
                if fresh or attempt or method != "GET" or framing.received_any:
                    raise HttpProblem(str(exc) or "the connection dropped") from None
                continue
            self.target.keep_cookies(response.set_cookies)
            if not framing.reusable:
                self.close()
            return response
        raise AssertionError("unreachable")

    @staticmethod
    async def _read(reader: asyncio.StreamReader, framing: ResponseReader) -> HttpResponse:
        while True:
            response = framing.receive(await reader.read(READ_SIZE))
            if response is not None:
                return response

    def _headers(self, content_type: str) -> list[tuple[str, str]]:
        headers = [("Host", hostport(self.target.host, self.target.port)), ("Accept", "*/*")]
        if content_type:
            headers.append(("Content-Type", content_type))
        headers += self.target.headers
        if self.target.cookies:
            cookies = "; ".join(f"{k}={v}" for k, v in self.target.cookies.items())
            headers.append(("Cookie", cookies))
        return headers

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None
        self.framing = None


def rejected(response: HttpResponse, where: str) -> WscliError:
    """The error for a non-200 answer to a long-polling request."""
    return HandshakeRejected(
        f"{where} rejected the long-polling request",
        f"HTTP {response.status} {response.reason}".strip(),
        status=response.status,
    )
