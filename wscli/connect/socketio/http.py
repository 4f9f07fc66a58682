"""A small HTTP/1.1 client for Engine.IO long-polling: GET and POST on a kept-alive
connection, with the TLS context, proxy, headers and timeouts of `wscli connect`.

Why our own: the standard library's clients block (a thread stuck in a 25 s long-poll
keeps the process from exiting) and websockets has no HTTP client. Engine.IO needs little:
``Content-Length`` or chunked bodies, no redirects, one request at a time per connection.
Every response is hostile until read: the head and the body are bounded
(:data:`MAX_HEAD`, ``max_body``) and every wait has a timeout.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import ssl
import urllib.parse
from collections.abc import Sequence

from wscli.core.errors import HandshakeRejected, UsageProblem, WscliError
from wscli.net.neterrors import describe_connect_error, hostport
from wscli.net.tunnel import http_connect

MAX_HEAD = 65536
"""Most bytes of a status line plus headers."""
MAX_HEADERS = 100
MAX_COOKIES = 32
MAX_COOKIE = 4096


class HttpProblem(Exception):
    """The server's answer broke HTTP (too big, malformed) or the connection dropped."""


@dataclasses.dataclass
class HttpResponse:
    """Status, headers (lower-case names) and body of one response."""

    status: int
    reason: str
    headers: dict[str, str]
    body: bytes
    set_cookies: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class HttpTarget:
    """Where requests go and how: host, port, TLS, proxy, extra headers."""

    host: str
    port: int
    ssl_context: ssl.SSLContext | None
    proxy: str | None
    headers: Sequence[tuple[str, str]] = ()
    max_body: int | None = 2**20
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
            raise describe_connect_error(exc, target.host, target.port, tls is not None) from None
        self.reader, self.writer = reader, writer

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
        """Send one request and read its response (reconnecting once if the kept-alive
        connection was closed by the server meanwhile)."""
        for attempt in (0, 1):
            fresh = self.writer is None
            if fresh:
                await self._open()
            assert self.reader is not None and self.writer is not None
            self.writer.write(self._head(method, target, body, content_type) + (body or b""))
            try:
                response = await _read_response(self.reader, self.target.max_body)
            except (HttpProblem, ConnectionError) as exc:
                self.close()
                if fresh or attempt:
                    raise HttpProblem(str(exc) or "the connection dropped") from None
                continue
            self.target.keep_cookies(response.set_cookies)
            if response.headers.get("connection", "").lower() == "close":
                self.close()
            return response
        raise AssertionError("unreachable")

    def _head(self, method: str, target: str, body: bytes | None, content_type: str) -> bytes:
        host = hostport(self.target.host, self.target.port)
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Accept: */*"]
        if body is not None:
            lines += [f"Content-Length: {len(body)}"]
            if content_type:
                lines.append(f"Content-Type: {content_type}")
        lines += [f"{name}: {value}" for name, value in self.target.headers]
        if self.target.cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.target.cookies.items()))
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _read_response(
    reader: asyncio.StreamReader, max_body: int | None, head_only: bool = False
) -> HttpResponse:
    """Read one response; raise HttpProblem for anything malformed or over the limits."""
    budget = MAX_HEAD
    lines: list[bytes] = []
    while True:
        try:
            line = await reader.readuntil(b"\n")
        except asyncio.IncompleteReadError:
            raise HttpProblem("the server closed the connection") from None
        except asyncio.LimitOverrunError:
            raise HttpProblem("a response header line is too long") from None
        budget -= len(line)
        if budget < 0 or len(lines) > MAX_HEADERS:
            raise HttpProblem("the response head is too large")
        if line in (b"\r\n", b"\n"):
            break
        lines.append(line.rstrip(b"\r\n"))
    if not lines:
        raise HttpProblem("an empty response")
    status_line = lines[0].decode("latin-1").split(" ", 2)
    if len(status_line) < 2 or not status_line[0].startswith("HTTP/"):
        raise HttpProblem("not an HTTP response")
    try:
        status = int(status_line[1]) if len(status_line[1]) == 3 else -1
    except ValueError:
        status = -1
    if not 100 <= status <= 599:
        raise HttpProblem("not an HTTP status code")
    headers: dict[str, str] = {}
    set_cookies: list[str] = []
    for raw in lines[1:]:
        name, colon, value = raw.decode("latin-1").partition(":")
        if not colon:
            raise HttpProblem("a malformed response header")
        headers[name.strip().lower()] = value.strip()
        if name.strip().lower() == "set-cookie":
            set_cookies.append(value.strip())
    reason = status_line[2] if len(status_line) > 2 else ""
    if head_only:
        return HttpResponse(status, reason, headers, b"", set_cookies)
    body = await _read_body(reader, headers, max_body)
    return HttpResponse(status, reason, headers, body, set_cookies)


def _too_big(size: int, max_body: int | None) -> bool:
    return max_body is not None and size > max_body


async def _read_body(
    reader: asyncio.StreamReader, headers: dict[str, str], max_body: int | None
) -> bytes:
    try:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                size_line = (await reader.readuntil(b"\n")).split(b";")[0].strip()
                try:
                    size = int(size_line, 16) if len(size_line) <= 8 else -1
                except ValueError:
                    size = -1
                if size < 0:
                    raise HttpProblem("a malformed chunk size")
                total += size
                if _too_big(total, max_body):
                    raise HttpProblem(f"a response body over {max_body} bytes (--max-size)")
                if size == 0:
                    await reader.readuntil(b"\n")
                    return b"".join(chunks)
                chunks.append(await reader.readexactly(size))
                await reader.readexactly(2)
        length_text = headers.get("content-length", "0")
        if not length_text.isascii() or not length_text.isdigit() or len(length_text) > 12:
            raise HttpProblem("a malformed Content-Length")
        length = int(length_text)
        if _too_big(length, max_body):
            raise HttpProblem(f"a response body over {max_body} bytes (--max-size)")
        return await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        raise HttpProblem("the server closed the connection mid-body") from None
    except asyncio.LimitOverrunError:
        raise HttpProblem("a malformed chunked body") from None


def rejected(response: HttpResponse, where: str) -> WscliError:
    """The error for a non-200 answer to a long-polling request."""
    return HandshakeRejected(
        f"{where} rejected the long-polling request",
        f"HTTP {response.status} {response.reason}".strip(),
        status=response.status,
    )
