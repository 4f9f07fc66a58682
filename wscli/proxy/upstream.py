"""The upstream half of a relayed connection: which request headers travel, and how the
TCP (HTTP CONNECT proxy, TLS) connection is opened (which URL is asked for:
:mod:`wscli.proxy.gate`).

Forwarded: every request header of the client except the hop-by-hop ones (RFC 9110 §7.6.1:
the fixed ones and those its ``Connection`` header names) and the handshake's own (key,
version, extensions: each side negotiates its own); ``Origin`` and the subprotocol offers
travel as the client sent them. ``-H`` adds or replaces headers. The answer of an upstream
that refuses is passed back as it came, minus hop-by-hop headers.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import ssl
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet

from websockets.datastructures import Headers
from websockets.uri import WebSocketURI

from wscli.core.errors import ConnectFailed, WscliError
from wscli.core.headers import connection_options
from wscli.net.neterrors import describe_connect_error, hostport
from wscli.proxy.config import is_direct

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
"""Headers that describe one hop, never forwarded."""

OWN_HANDSHAKE = frozenset(
    {
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-websocket-accept",
        "sec-websocket-protocol",
        "origin",
    }
)
"""Headers each side's handshake makes itself (Origin and subprotocols are passed on by it)."""

MAX_PROXY_ANSWER = 16 * 1024  # bytes of an HTTP CONNECT answer read at most


def hop_by_hop(headers: Headers) -> AbstractSet[str]:
    """The names (lower case) of ``headers`` that describe one hop: the fixed ones and
    those its ``Connection`` header lists (RFC 9110 §7.6.1)."""
    return HOP_BY_HOP | connection_options(headers.get_all("Connection"))


def forwarded_headers(request: Headers, extra: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The client's end-to-end request headers, then ``extra`` (-H) replacing same names."""
    dropped = hop_by_hop(request) | OWN_HANDSHAKE | {name.lower() for name, _ in extra}
    kept = [(name, value) for name, value in request.raw_items() if name.lower() not in dropped]
    return kept + list(extra)


def passed_back(headers: Headers, skip: Iterable[str] = ()) -> list[tuple[str, str]]:
    """Response headers to pass to the client, without hop-by-hop ones (and ``skip``)."""
    dropped = hop_by_hop(headers) | {name.lower() for name in skip}
    return [(name, value) for name, value in headers.raw_items() if name.lower() not in dropped]


async def open_transport(
    factory: Callable[[], asyncio.Protocol],
    uri: WebSocketURI,
    tls: ssl.SSLContext | None,
    proxy: str | None,
    timeout: float,
) -> asyncio.BaseTransport:
    """Connect to the upstream (through ``proxy`` when given), TLS when ``tls``.

    Raises :class:`~wscli.core.errors.WscliError` (connect failed, timed out).
    """
    loop = asyncio.get_running_loop()
    server_hostname = uri.host if tls is not None else None

    async def connect() -> asyncio.BaseTransport:
        if is_direct(proxy):
            transport, _ = await loop.create_connection(
                factory, uri.host, uri.port, ssl=tls, server_hostname=server_hostname
            )
        else:
            assert proxy is not None
            sock = await _tunnel(proxy, uri.host, uri.port)
            transport, _ = await loop.create_connection(
                factory, sock=sock, ssl=tls, server_hostname=server_hostname
            )
        return transport

    try:
        transport = await asyncio.wait_for(connect(), timeout)
    except WscliError:
        raise
    except (OSError, TimeoutError, asyncio.TimeoutError) as exc:
        raise describe_connect_error(exc, uri.host, uri.port, uri.secure) from None
    return transport


async def _tunnel(proxy: str, host: str, port: int) -> socket.socket:
    """A socket to host:port through the HTTP CONNECT proxy ``proxy``."""
    loop = asyncio.get_running_loop()
    parts = urllib.parse.urlsplit(proxy)
    proxy_host, proxy_port = parts.hostname or "", parts.port or 8080
    infos = await loop.getaddrinfo(proxy_host, proxy_port, type=socket.SOCK_STREAM)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, address)
        target = hostport(host, port)
        lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
        if parts.username is not None:
            user = urllib.parse.unquote(parts.username)
            password = urllib.parse.unquote(parts.password or "")
            token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
            lines.append(f"Proxy-Authorization: Basic {token}")
        await loop.sock_sendall(sock, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = await loop.sock_recv(sock, 4096)
            if not chunk or len(answer) > MAX_PROXY_ANSWER:
                raise ConnectFailed("the proxy connection failed", "no valid answer to CONNECT")
            answer += chunk
        status_line = answer.split(b"\r\n", 1)[0].decode("latin-1")
        fields = status_line.split(" ", 2)
        if len(fields) < 2 or fields[1] != "200":
            raise ConnectFailed("the proxy refused the connection", status_line[:80])
    except BaseException:
        sock.close()
        raise
    return sock
