"""The header rules of a relayed connection: which request headers travel upstream, which
answer headers come back, and the origin --rewrite-origin gives (which URL is asked for:
:mod:`wscli.proxy.gate`; the opening itself: :mod:`wscli.proxy.handshake`).

Forwarded: every request header of the client except the hop-by-hop ones (RFC 9110 §7.6.1:
the fixed ones and those its ``Connection`` header names) and the handshake's own (key,
version, extensions: each side negotiates its own); ``Origin`` and the subprotocol offers
travel as the client sent them. ``-H`` adds or replaces headers. The answer of an upstream
that refuses is passed back as it came, minus hop-by-hop headers.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet

from websockets.datastructures import Headers
from websockets.uri import WebSocketURI

from wscli.core.headers import connection_options
from wscli.core.hosts import is_loopback

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


def upstream_origin(upstream: WebSocketURI) -> str:
    """The origin of the upstream's own pages: ``http(s)://host[:port]``."""
    scheme, default = ("https", 443) if upstream.secure else ("http", 80)
    host = f"[{upstream.host}]" if ":" in upstream.host else upstream.host
    return f"{scheme}://{host}" + ("" if upstream.port == default else f":{upstream.port}")


def is_own_origin(origin: str, host: str, port: int, tls: bool) -> bool:
    """True when ``origin`` is this proxy's (listening on host:port): a page it served."""
    try:
        parts = urllib.parse.urlsplit(origin)
        origin_port = parts.port
    except ValueError:
        return False
    scheme, default = ("https", 443) if tls else ("http", 80)
    name = (parts.hostname or "").rstrip(".").lower()
    return (
        parts.scheme == scheme
        and (origin_port or default) == port
        and (is_loopback(name) or name == host.strip("[]").lower())
    )
