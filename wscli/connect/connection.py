"""Open `wscli connect`'s WebSocket from its options on the connection engine: the request
(-H, --auth, --origin, -s, compression), the TCP connection (direct, HTTP CONNECT or SOCKS
proxy, TLS), the opening handshake; every failure mapped to wscli's typed errors.

A redirect answer becomes :class:`RedirectAnswer` for :mod:`wscli.connect.redirects` to
follow only with -L (websockets would follow it itself, silently, to any host, with every
-H header).
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Sequence

from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.exceptions import InvalidHandshake, InvalidStatus
from websockets.http11 import Request
from websockets.uri import WebSocketURI

from wscli.connect.websocket import FrameObserver, WebSocketChannel
from wscli.core.clientoptions import ConnectOptions
from wscli.core.clientrequest import request_for
from wscli.core.errors import (
    CLIENT_CERT_HINT,
    NO_ANSWER_HINT,
    ConnectFailed,
    HandshakeRejected,
    TimedOut,
    WscliError,
)
from wscli.core.refusal import Refusal, refusal_hint
from wscli.core.url import parse_ws_url, redact_in
from wscli.net.client import check_request, tls_context
from wscli.net.neterrors import describe_connect_error, hostport
from wscli.net.tunnel import dial, resolve_proxy

REDIRECT_STATUSES = frozenset({300, 301, 302, 303, 307, 308})


class RedirectAnswer(Exception):
    """The server answered the upgrade with a redirect (3xx and a Location header)."""

    def __init__(self, status: int, reason: str, location: str) -> None:
        super().__init__(f"HTTP {status} {reason}".strip())
        self.status = status
        self.reason = reason
        self.location = location


def check_options(options: ConnectOptions) -> None:
    """Raise :class:`UsageProblem` for a bad URL, header, --auth, TLS file or proxy, before
    anything starts."""
    check_request(options, options.url)


def build_request(options: ConnectOptions, uri: WebSocketURI) -> tuple[ClientProtocol, Request]:
    """The client protocol and its upgrade request for ``options`` (pure: no I/O)."""
    return request_for(options, uri, max_size=options.max_size)


async def open_websocket(
    options: ConnectOptions, observer: FrameObserver | None = None
) -> WebSocketChannel:
    """Open the WebSocket connection, raising wscli's typed errors on failure (and
    :class:`RedirectAnswer` for a redirect)."""
    uri = parse_ws_url(options.url)
    protocol, request = build_request(options, uri)
    tls = tls_context(options, uri, options.url)
    proxy = resolve_proxy(options.proxy, uri.host, uri.port, uri.secure)
    channel = WebSocketChannel(options, protocol, observer)

    async def connect() -> None:
        await dial(
            lambda: channel.engine,
            uri.host,
            uri.port,
            tls=tls,
            proxy=proxy,
            timeout=None,
            cafile=options.cacert,
        )
        channel.engine.send_request(request)
        await channel.handshake()

    try:
        await asyncio.wait_for(connect(), options.open_timeout)
    except WscliError as failure:
        raise redact_error(failure, options) from None
    except (TimeoutError, asyncio.TimeoutError):
        channel.engine.abort()
        where = hostport(uri.host, uri.port)
        raise TimedOut(f"opening the connection to {where} timed out") from None
    except InvalidStatus as exc:
        response = exc.response
        if response.status_code in REDIRECT_STATUSES and "Location" in response.headers:
            location = response.headers["Location"]
            raise RedirectAnswer(response.status_code, response.reason_phrase, location) from None
        raise redact_error(describe_handshake_error(exc, options), options) from None
    except InvalidHandshake as exc:
        raise redact_error(describe_handshake_error(exc, options), options) from None
    except OSError as exc:  # lost during the handshake (a TLS alert, a reset)
        raise redact_error(_lost_in_handshake(exc, uri), options) from None
    return channel


def _lost_in_handshake(exc: OSError, uri: WebSocketURI) -> WscliError:
    """The server hung up (or reset) after the TCP (and TLS) connection, before any answer."""
    where = hostport(uri.host, uri.port)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return describe_connect_error(exc, uri.host, uri.port, uri.secure)
    if uri.secure:
        # Typically a client certificate it requires (TLS 1.3 reports that only after the
        # handshake) or did not accept.
        return ConnectFailed(
            f"TLS connection to {where} closed by the server",
            "no HTTP response",
            hint=CLIENT_CERT_HINT,
        )
    return HandshakeRejected(
        f"handshake with {where} failed",
        "the server closed the connection without a complete HTTP response",
        hint=NO_ANSWER_HINT,
    )


_STATUS_LINE = re.compile(r"(HTTP/\d\.\d) (\d{3})(?: ([^\r\n]*))?")


def _status_line_in(exc: BaseException) -> tuple[str, int, str] | None:
    """The status line quoted by websockets when it refused a response (HTTP/1.0, ...).

    websockets only parses HTTP/1.1; its error message quotes the line it refused, and that
    message is all its public API gives of the response then.
    """
    if not isinstance(exc, InvalidHandshake) or not isinstance(exc.__cause__, ValueError):
        return None
    match = _STATUS_LINE.search(str(exc.__cause__))
    if match is None or match.group(2) == "101":
        return None
    return match.group(1), int(match.group(2)), match.group(3) or ""


def redact_error(error: WscliError, options: ConnectOptions) -> WscliError:
    """``error`` with the passwords of --proxy and of the URL replaced by ``***``."""
    for url in (options.proxy, options.url):
        error.what = redact_in(error.what, url)
        error.why = redact_in(error.why, url) if error.why else error.why
        error.hint = redact_in(error.hint, url) if error.hint else error.hint
    return error


def describe_handshake_error(exc: BaseException, options: ConnectOptions) -> WscliError:
    """The typed error for a refused or broken opening handshake."""
    uri = parse_ws_url(options.url)
    where = hostport(uri.host, uri.port)
    if isinstance(exc, InvalidStatus):
        response = exc.response
        refusal = Refusal.of(
            response.status_code,
            response.reason_phrase,
            list(response.headers.raw_items()),
            bytes(response.body),
        )
        return HandshakeRejected(
            f"{where} rejected the WebSocket handshake",
            f"HTTP {refusal.status} {refusal.reason}".strip(),
            hint=refusal_hint(
                refusal,
                options.url,
                subprotocols=options.subprotocols,
                auth=options.authorizes,
                origin=options.origin is not None,
            ),
            refusal=refusal,
        )
    if isinstance(exc, InvalidHandshake) and uri.secure and isinstance(exc.__cause__, EOFError):
        # The TLS server hung up before any HTTP answer: typically a client certificate
        # it requires (TLS 1.3 reports that only after the handshake) or did not accept.
        return ConnectFailed(
            f"TLS connection to {where} closed by the server",
            "no HTTP response",
            hint=CLIENT_CERT_HINT,
        )
    if isinstance(exc, InvalidHandshake) and isinstance(exc.__cause__, EOFError):
        return HandshakeRejected(
            f"handshake with {where} failed",
            "the server closed the connection without a complete HTTP response",
            hint=NO_ANSWER_HINT,
        )
    answered = _status_line_in(exc)
    if answered is not None:
        # e.g. `python3 -m http.server` answers "HTTP/1.0 200 OK", which websockets refuses
        # to parse: say what the server answered, as `wscli handshake` does.
        version, status, reason = answered
        return HandshakeRejected(
            f"{where} rejected the WebSocket handshake",
            f"{version} {status} {reason}".strip() + " (expected 101 Switching Protocols)",
            hint="is it a WebSocket endpoint? check the URL path",
            status=status,
        )
    if exc.__cause__ is not None:
        return HandshakeRejected(
            f"invalid WebSocket handshake from {where}", f"{exc}: {exc.__cause__}"
        )
    return HandshakeRejected(f"invalid WebSocket handshake from {where}", str(exc))


def header_items(headers: Headers | None) -> Sequence[tuple[str, str]]:
    """A response's headers as (name, value) pairs, in order (none without a response)."""
    return list(headers.raw_items()) if headers is not None else []
