"""The options of the commands that open client connections (`connect`, `handshake`, the
proxy's upstream side), declared once here and stacked by each command's config.

Each small class is one set of options; a config takes it by inheriting it, so the code
keeps reading flat fields (``options.insecure``). A dataclass lists inherited fields from
the last base to the first, so bases are written in the reverse of the order ``--help``
shows them. :class:`RequestOptions` is every option of a client's opening handshake (the
one set `connect` and `handshake` share); :class:`ConnectOptions` adds what a connection
that stays open needs.
"""

from __future__ import annotations

from collections.abc import Sequence

from wscli.core.headers import parse_header_args
from wscli.core.options import (
    FILE,
    FLAG,
    Seconds,
    Size,
    argument,
    declared,
    fixed,
    option,
    zero_is_none,
)


def parse_headers(args: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """Every ``-H`` argument expanded (``Name: value``, ``@FILE``, ``env:VAR``), in order."""
    return tuple(parse_header_args(args))


@declared
class HeaderOptions:
    """``-H``: extra request headers."""

    headers: Sequence[tuple[str, str]] = option(
        "-H",
        "--header",
        multiple=True,
        metavar="'NAME: VALUE'",
        default=(),
        convert=parse_headers,
        help="Extra request header (repeatable). '@FILE' reads header lines from FILE, "
        "'env:VAR' from the environment variable VAR, so secrets stay out of ps.",
    )


@declared
class OfferOptions:
    """What the upgrade request offers: subprotocols and an Origin."""

    subprotocols: Sequence[str] = option(
        "-s",
        "--subprotocol",
        multiple=True,
        metavar="NAME",
        default=(),
        help="Offer this subprotocol (repeatable, offered in order).",
    )
    origin: str | None = option(
        "--origin",
        metavar="ORIGIN",
        default=None,
        help="Send this Origin header (e.g. https://example.com).",
    )
    require_subprotocol: bool = option(
        "--require-subprotocol",
        kind=FLAG,
        default=False,
        help="Fail (exit 4) when the server accepts the upgrade but chooses none of the -s "
        "subprotocols (by default a warning).",
    )


@declared
class ClientTLSOptions:
    """How the server's certificate is checked."""

    insecure: bool = option(
        "-k",
        "--insecure",
        kind=FLAG,
        default=False,
        help="Do not verify the server's TLS certificate or host name.",
    )
    cacert: str | None = option(
        "--cacert",
        kind=FILE,
        default=None,
        help="Trust the CA certificates in FILE (PEM) as well as the system ones.",
    )


@declared
class CompressionOption:
    """``--compression/--no-compression`` on the client side."""

    compression: bool = option(
        "--compression/--no-compression",
        kind=FLAG,
        default=True,
        help="Offer permessage-deflate compression.",
    )


@declared
class JsonOption:
    """``--json``: NDJSON on stdout."""

    json_output: bool = option(
        "--json", kind=FLAG, default=False, help="Write machine-readable JSON to stdout."
    )


@declared
class ClientCertOptions:
    """``--cert/--key``: the certificate a client presents."""

    cert: str | None = option(
        "--cert", kind=FILE, default=None, help="Client certificate (PEM; may hold the key too)."
    )
    key: str | None = option(
        "--key", kind=FILE, default=None, help="Private key of the client certificate (PEM)."
    )


@declared
class ProxyOption:
    """``--proxy``: how to reach the server."""

    proxy: str | None = option(
        "--proxy",
        metavar="URL",
        default=None,
        help="HTTP CONNECT proxy (http://host:port), or socks5:// with python-socks; "
        "'none' disables. Default: the *_proxy environment variables, never for loopback.",
    )


@declared
class RequestOptions(
    ProxyOption, CompressionOption, ClientCertOptions, ClientTLSOptions, OfferOptions, HeaderOptions
):
    """Everything that shapes a client's opening handshake and how it reaches the server:
    the one set `connect` and `handshake` share, so both send the same request."""

    auth: str | None = option(
        "--auth",
        metavar="USER:PASS",
        envvar="WSCLI_AUTH",
        default=None,
        help="HTTP basic authentication (prefer the variable: it stays out of ps).",
    )
    location: bool = option(
        "-L",
        "--location",
        kind=FLAG,
        default=False,
        help="Follow redirects (3xx, up to 10), each reported; never wss:// to ws://. "
        "-H headers and --auth are not sent on to another host.",
    )

    @property
    def authorizes(self) -> bool:
        """The request carries credentials (--auth, or an -H Authorization)."""
        return self.auth is not None or any(n.lower() == "authorization" for n, _ in self.headers)


@declared
class ConnectOptions(RequestOptions):
    """Everything about the WebSocket connection of a client that stays open."""

    url: str = argument(urls=True)
    max_size: int | None = option(
        "--max-size",
        kind=Size(minimum=0),
        metavar="BYTES",
        default=2**20,
        convert=zero_is_none,
        help="Largest message accepted (1048576, 64K, 1M); 0: no limit.",
    )
    ping_interval: float | None = option(
        "--ping-interval",
        kind=Seconds(),
        default=20.0,
        convert=zero_is_none,
        help="Send a keepalive ping this often; 0: never.",
    )
    ping_timeout: float | None = option(
        "--ping-timeout",
        kind=Seconds(),
        default=20.0,
        convert=zero_is_none,
        help="Drop the connection when a ping gets no pong this long; 0: never.",
    )
    open_timeout: float | None = option(
        "--open-timeout",
        kind=Seconds(positive=True),
        default=10.0,
        help="Limit for connecting and the opening handshake (exit 6).",
    )
    close_timeout: float = fixed(2.0)
