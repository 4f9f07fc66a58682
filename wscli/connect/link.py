"""The link the pipe and the prompt talk through, whatever carries it: :class:`Link` (the
interface), :class:`WebSocketLink` (plain WebSocket messages over the one adapter,
:class:`~wscli.connect.websocket.WebSocketChannel`; Socket.IO's link sits on the same
adapter: :mod:`wscli.connect.socketio.link`), and the verdicts shared by both: how a close
ends the session, which failures are worth a reconnect (the backoff between attempts is
:mod:`wscli.net.backoff`, shared with serve's Redis backplane).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from wscli.connect.websocket import WebSocketChannel
from wscli.core.closecodes import close_description
from wscli.core.errors import (
    ClosedAbnormally,
    ConnectFailed,
    HandshakeRejected,
    TimedOut,
    WscliError,
)
from wscli.core.events import ClosedBy, Message, Messages
from wscli.core.exitcodes import ExitCode, exit_code_for_close


class Agreed(Protocol):
    """What the opening handshake settled: the subprotocol, the extensions and the
    server's answer (its headers)."""

    @property
    def subprotocol(self) -> str | None: ...

    @property
    def extensions(self) -> list[str]: ...

    @property
    def response_headers(self) -> list[tuple[str, str]]: ...


class Carrier(Agreed, Protocol):
    """What every carrier of an open session answers, a :class:`Link` or Socket.IO's
    Engine.IO transport under one: the handshake's facts, a ping, a close and how it ended."""

    async def ping(self, payload: bytes = b"") -> float:
        """A round trip to the server, in seconds."""

    async def close(self, code: int = 1000, reason: str = "") -> None: ...

    def closed_info(self) -> tuple[int | None, str, ClosedBy]:
        """Close code (None: no close frame), reason and who closed first."""

    @property
    def is_open(self) -> bool:
        """True while no close has begun (by either side) and the connection stands."""

    def check_stalled(self) -> None:
        """Raise :class:`ClosedAbnormally` if wscli dropped a server that read nothing."""


class Link(Carrier, Protocol):
    """One open session as the pipe and the prompt see it.

    :meth:`recv` returns the next :class:`Message` (or None for a protocol packet that
    needs no display); it raises :class:`websockets.exceptions.ConnectionClosed` at the end.
    """

    url: str

    async def start(self) -> None:
        """Called once the transport is open (Socket.IO does its handshake here)."""

    async def send(self, data: str | bytes) -> Message:
        """Send one text (str) or binary (bytes) message; return it as an ``out`` Message."""

    async def send_many(self, payloads: Sequence[str | bytes]) -> Sequence[Message]:
        """Send several messages in order (in one write); return them as ``out`` Messages."""

    async def recv(self) -> Message | None: ...

    async def recv_many(self) -> Sequence[Message]:
        """The messages received since the last call (at least one, or none for protocol
        packets that need no display); raises as :meth:`recv` does."""


class WebSocketLink:
    """Plain WebSocket messages: each line one message, each message one line."""

    def __init__(self, channel: WebSocketChannel, url: str) -> None:
        self.channel = channel
        self.url = url

    async def start(self) -> None:
        return None

    @property
    def subprotocol(self) -> str | None:
        return self.channel.subprotocol

    @property
    def extensions(self) -> list[str]:
        return self.channel.extensions

    @property
    def response_headers(self) -> list[tuple[str, str]]:
        return self.channel.response_headers

    async def send(self, data: str | bytes) -> Message:
        await self.channel.send(data)
        return Message("out", data)

    async def send_many(self, payloads: Sequence[str | bytes]) -> Sequence[Message]:
        await self.channel.send_all(payloads)
        return Messages("out", payloads)

    async def recv(self) -> Message | None:
        return Message("in", await self.channel.recv())

    async def recv_many(self) -> Sequence[Message]:
        return Messages("in", await self.channel.recv_many())

    async def ping(self, payload: bytes = b"") -> float:
        return await self.channel.ping(payload)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.channel.close(code, reason)

    def closed_info(self) -> tuple[int | None, str, ClosedBy]:
        return self.channel.closed_info()

    @property
    def is_open(self) -> bool:
        return self.channel.is_open

    def check_stalled(self) -> None:
        self.channel.check_stalled()


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


def is_retryable(error: WscliError) -> bool:
    """Failures to open a connection worth a reconnect: refused, dropped, timed out,
    abnormal close, HTTP 5xx."""
    if isinstance(error, HandshakeRejected):
        return error.status is not None and error.status >= 500
    return isinstance(error, ConnectFailed | ClosedAbnormally | TimedOut)


def connection_failed(error: WscliError) -> bool:
    """An open connection's end worth a reconnect: it was dropped or closed abnormally.

    Not a server that was slow to answer (too few replies after --idle, an overdue
    acknowledgement) nor the --timeout deadline: a new connection would not bring those
    replies (the lines sent are not sent again).
    """
    return isinstance(error, ClosedAbnormally)
