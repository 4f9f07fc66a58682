"""What `wscli handshake` is told: each of its options declared once (see
:mod:`wscli.core.options`); the request's options (TLS, --auth, --proxy, -L, headers,
origin, subprotocols) are `wscli connect`'s own, from :mod:`wscli.core.clientoptions`."""

from __future__ import annotations

from wscli.core.clientoptions import JsonOption, RequestOptions
from wscli.core.options import FLAG, Seconds, argument, declared, option


@declared
class HandshakeConfig(JsonOption, RequestOptions):
    """Everything `wscli handshake` can be told."""

    url: str | None = argument(urls=True, default=None)
    ws_key: str | None = option(
        "--ws-key",
        metavar="KEY",
        default=None,
        help="Send this Sec-WebSocket-Key (base64 of 16 bytes) instead of a random one.",
    )
    timeout: float = option(
        "--timeout",
        kind=Seconds(positive=True),
        default=10.0,
        help="Bound for each phase: DNS, connect, TLS, upgrade, close.",
    )
    debug: bool = option(
        "--debug",
        kind=FLAG,
        default=False,
        help="Also show addresses, timings, TLS and certificate, hex dumps and close frames "
        "(on stderr; on a terminal in time order, as curl -v).",
    )
    offline: bool = option(
        "--offline",
        kind=FLAG,
        default=False,
        help="Print the request that would be sent; do not connect.",
    )
    accept_for: str | None = option(
        "--accept-for",
        metavar="KEY",
        default=None,
        help="Print the Sec-WebSocket-Accept a server must answer to KEY, and exit (no URL).",
    )
