"""Open a WebSocket client connection from wscli's options; map every failure to wscli errors.

:class:`~wscli.core.clientoptions.ConnectOptions` holds what the command line says;
:func:`build_connect_kwargs`
turns it into the keyword arguments of :func:`websockets.asyncio.client.connect` (pure,
tested without a network); :func:`open_link` opens the connection and raises the typed
errors of :mod:`wscli.core.errors`. :class:`WebSocketLink` is the small interface the pipe and
the prompt use to talk, so Socket.IO (:mod:`wscli.connect.socketio`) can slot in beneath them.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import os
import random
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidProxy,
    InvalidProxyMessage,
    InvalidProxyStatus,
    InvalidStatus,
    ProxyError,
)
from websockets.protocol import State
from websockets.typing import Subprotocol
from websockets.uri import WebSocketURI

from wscli.connect.connection import (
    OUTGOING_LIMIT,
    FrameObserver,
    ObservedConnection,
)
from wscli.core.clientoptions import ConnectOptions
from wscli.core.closecodes import close_description
from wscli.core.errors import (
    NO_ANSWER_HINT,
    ClosedAbnormally,
    ConnectFailed,
    HandshakeRejected,
    TimedOut,
    UsageProblem,
    WscliError,
)
from wscli.core.events import ClosedBy, Message
from wscli.core.exitcodes import ExitCode, exit_code_for_close
from wscli.core.headers import check_header_values, check_subprotocols
from wscli.core.url import normalize_url, parse_ws_url, redact_in
from wscli.net.neterrors import describe_connect_error, hostport
from wscli.net.tls import client_context

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def basic_auth_header(auth: str) -> tuple[str, str]:
    """``user:pass`` as an ``Authorization: Basic`` header."""
    if ":" not in auth:
        raise UsageProblem("invalid --auth value", "expected USER:PASSWORD")
    token = base64.b64encode(auth.encode("utf-8")).decode("ascii")
    return "Authorization", f"Basic {token}"


def is_loopback(host: str) -> bool:
    """True for localhost names and loopback addresses (never sent through a proxy)."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_proxy(
    option: str | None, uri: WebSocketURI, environ: Mapping[str, str]
) -> str | Literal[True] | None:
    """The ``proxy`` argument for connect(): explicit --proxy, none, or the environment's.

    ``--proxy none`` (or an empty value) disables proxies; loopback hosts never use an
    environment proxy (websockets would otherwise send them through it).
    """
    if option is not None:
        if option.strip().lower() in {"", "none", "direct"}:
            return None
        return option
    if is_loopback(uri.host):
        return None
    names = {k.lower() for k, v in environ.items() if v}
    if names & {"http_proxy", "https_proxy", "all_proxy", "socks_proxy"}:
        return True
    return None


def build_connect_kwargs(
    options: ConnectOptions, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The keyword arguments of websockets' connect() for ``options`` (no I/O but files).

    Raises :class:`UsageProblem` for a bad URL, header, auth value or TLS file.
    """
    env = os.environ if environ is None else environ
    uri = parse_ws_url(options.url)
    headers = list(options.headers)
    check_header_values([*headers, *([("Origin", options.origin)] if options.origin else [])])
    check_subprotocols(options.subprotocols)
    if options.auth is not None:
        headers.append(basic_auth_header(options.auth))
    kwargs: dict[str, Any] = {
        "uri": normalize_url(options.url),
        "additional_headers": headers,
        "subprotocols": [Subprotocol(s) for s in options.subprotocols] or None,
        "origin": options.origin,
        "compression": "deflate" if options.compression else None,
        "max_size": options.max_size,
        "ping_interval": options.ping_interval,
        "ping_timeout": options.ping_timeout,
        "open_timeout": options.open_timeout,
        "close_timeout": options.close_timeout,
        "proxy": resolve_proxy(options.proxy, uri, env),
        "create_connection": ObservedConnection,
    }
    if uri.secure:
        kwargs["ssl"] = client_context(
            insecure=options.insecure,
            cafile=options.cacert,
            certfile=options.cert,
            keyfile=options.key,
        )
    elif options.cert or options.cacert:
        raise UsageProblem("--cert/--cacert need a wss:// URL", f"{options.url!r} is not TLS")
    return kwargs


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
    """The typed error for a failed connect() (refused, TLS, proxy, HTTP status, timeout)."""
    uri = parse_ws_url(options.url)
    where = hostport(uri.host, uri.port)
    if isinstance(exc, InvalidProxyStatus):
        status = exc.response.status_code
        return ConnectFailed(
            "the proxy refused the connection",
            f"HTTP {status} {exc.response.reason_phrase}".strip(),
            hint="check --proxy and the proxy's credentials" if status == 407 else None,
        )
    if isinstance(exc, InvalidProxyMessage | ProxyError):
        return ConnectFailed("the proxy connection failed", str(exc))
    if isinstance(exc, InvalidProxy):
        return UsageProblem("invalid proxy", str(exc))
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        hint = None
        if status in (401, 403):
            hint = "check -H/--header, --auth and --origin"
        elif status == 404:
            hint = "check the URL path"
        elif status == 400 and not options.subprotocols:
            hint = "the server may require a subprotocol (-s)"
        return HandshakeRejected(
            f"{where} rejected the WebSocket handshake",
            f"HTTP {status} {exc.response.reason_phrase}".strip(),
            hint=hint,
            status=status,
        )
    if isinstance(exc, InvalidHandshake) and isinstance(exc.__cause__, OSError):
        # e.g. TLS 1.3 refuses our client certificate only after the handshake "succeeded".
        return describe_handshake_error(exc.__cause__, options)
    if isinstance(exc, InvalidHandshake) and uri.secure and isinstance(exc.__cause__, EOFError):
        # The TLS server hung up before any HTTP answer: typically a client certificate
        # it requires (TLS 1.3 reports that only after the handshake) or did not accept.
        return ConnectFailed(
            f"TLS connection to {where} closed by the server",
            "no HTTP response",
            hint="does it require a client certificate (--cert/--key)?",
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
    if isinstance(exc, InvalidHandshake) and exc.__cause__ is not None:
        return HandshakeRejected(
            f"invalid WebSocket handshake from {where}", f"{exc}: {exc.__cause__}"
        )
    if isinstance(exc, InvalidHandshake):
        return HandshakeRejected(f"invalid WebSocket handshake from {where}", str(exc))
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return TimedOut(f"opening the connection to {where} timed out")
    if isinstance(exc, ImportError):  # SOCKS proxy without python-socks
        return UsageProblem(
            "SOCKS proxies need python-socks",
            hint="pip install 'wscli-toolkit[socks]'",
        )
    if isinstance(exc, OSError):
        error = describe_connect_error(exc, uri.host, uri.port, uri.secure)
        if options.proxy:
            error.what += f" (via proxy {options.proxy})"
        return error
    return ConnectFailed(f"cannot connect to {where}", str(exc) or type(exc).__name__)


class WebSocketLink:
    """One open WebSocket connection as the pipe and the prompt see it.

    :meth:`recv` returns the next :class:`Message` (or None for a protocol packet that
    needs no display); it raises :class:`websockets.exceptions.ConnectionClosed` at the end.
    """

    def __init__(self, connection: ClientConnection, url: str) -> None:
        self.connection = connection
        self.url = url

    async def start(self) -> None:
        """Called once the WebSocket is open (Socket.IO does its handshake here)."""

    @property
    def subprotocol(self) -> str | None:
        return self.connection.subprotocol

    @property
    def extensions(self) -> list[str]:
        return [ext.name for ext in self.connection.protocol.extensions]

    @property
    def response_headers(self) -> list[tuple[str, str]]:
        response = self.connection.response
        return list(response.headers.raw_items()) if response is not None else []

    async def send(self, data: str | bytes) -> Message:
        """Send one text (str) or binary (bytes) message; return it as an ``out`` Message."""
        await self.connection.send(data)
        return Message("out", data)

    async def send_many(self, payloads: Sequence[str | bytes]) -> list[Message]:
        """Send several messages in order; return them as ``out`` Messages.

        Through the library's public ``send()``, one message at a time: batching frames into
        one socket write would need its undocumented send path (the project's rule: public API
        only), so the pipe gives up that speed-up until it has its own sans-I/O client.
        """
        send = self.connection.send
        for payload in payloads:
            await send(payload)
        return [Message("out", payload) for payload in payloads]

    async def recv(self) -> Message | None:
        data = await self.connection.recv()
        return Message("in", data)

    async def ping(self, payload: bytes = b"") -> float:
        """Send a ping and return the round-trip time in seconds."""
        waiter = await self.connection.ping(payload or None)
        return float(await waiter)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.connection.close(code, reason)

    def closed_info(self) -> tuple[int | None, str, ClosedBy]:
        """Close code (None: no close frame), reason and who closed first."""
        return closed_info(self.connection)

    @property
    def is_open(self) -> bool:
        """True while no close has begun (by either side) and the connection stands."""
        return self.connection.state is State.OPEN

    def check_stalled(self) -> None:
        """Raise :class:`ClosedAbnormally` if wscli dropped the connection because the
        server stopped reading what wscli sent (e.g. flooding pings, reading no pongs)."""
        if isinstance(self.connection, ObservedConnection) and self.connection.stalled:
            raise ClosedAbnormally(
                "wscli dropped the connection",
                f"the server read none of our last {OUTGOING_LIMIT // 1024} KiB "
                f"(pongs and messages) within --ping-timeout",
                hint="a server flooding pings without reading the pongs?",
            )


def closed_info(
    connection: ClientConnection,
) -> tuple[int | None, str, ClosedBy]:
    """What ended ``connection``: close code (None without close frame), reason, who."""
    protocol = connection.protocol
    rcvd, sent = protocol.close_rcvd, protocol.close_sent
    by: ClosedBy = None
    if rcvd is not None and (sent is None or protocol.close_rcvd_then_sent):
        by = "server"
    elif sent is not None:
        by = "client"
    if rcvd is not None:
        return rcvd.code, rcvd.reason, by
    if sent is not None:  # we closed (e.g. 1009 for a message over --max-size); no answer
        return sent.code, sent.reason, "client"
    return None, "", None


def close_result(code: int | None, reason: str, by: ClosedBy) -> ExitCode:
    """ExitCode.OK for a normal close; raise :class:`ClosedAbnormally` otherwise."""
    exit_code = exit_code_for_close(code)
    if exit_code == ExitCode.OK:
        return exit_code
    if by == "client" and code == 1009:
        # websockets closed for us: a received message was over our own --max-size.
        raise ClosedAbnormally(
            "wscli closed the connection with 1009 (message too big)",
            f"a received message was over our --max-size limit ({reason or 'too big'})",
            hint="raise --max-size (0: no limit)",
            code=code,
            reason=reason,
        )
    who = "the server" if by == "server" else "the connection"
    raise ClosedAbnormally(
        f"{who} closed abnormally", close_description(code, reason), code=code, reason=reason
    )


async def open_link(
    options: ConnectOptions,
    observer: FrameObserver | None = None,
    environ: Mapping[str, str] | None = None,
) -> ClientConnection:
    """Open the WebSocket connection, raising wscli's typed errors on failure."""
    kwargs = build_connect_kwargs(options, environ)
    uri = kwargs.pop("uri")
    try:
        connection = await connect(uri, **kwargs)
    except (
        OSError,
        InvalidHandshake,
        InvalidProxy,
        TimeoutError,
        asyncio.TimeoutError,
        ImportError,
    ) as exc:
        raise redact_error(describe_handshake_error(exc, options), options) from None
    except ConnectionClosed as exc:  # closed during the handshake
        raise HandshakeRejected("the connection closed during the handshake", str(exc)) from None
    if isinstance(connection, ObservedConnection):
        connection.frame_observer = observer
        connection.stall_timeout = options.ping_timeout
    return connection


def backoff_delays(
    initial: float = 0.5,
    factor: float = 2.0,
    cap: float = 30.0,
    rng: Callable[[], float] = random.random,
) -> Iterator[float]:
    """Exponential backoff with full jitter: delay n is uniform in [d/2, d], d = initial·factorⁿ."""
    delay = initial
    while True:
        yield delay / 2 + rng() * delay / 2
        delay = min(delay * factor, cap)


def is_retryable(error: WscliError) -> bool:
    """Errors worth a reconnect: refused, dropped, timed out, abnormal close, HTTP 5xx."""
    if isinstance(error, HandshakeRejected):
        return error.status is not None and error.status >= 500
    return isinstance(error, ConnectFailed | ClosedAbnormally | TimedOut)
