"""Socket.IO (protocol v5) over Engine.IO v4, WebSocket transport only, for ``--socketio``.

Why our own small layer rather than python-socketio: wscli needs only the WebSocket
transport, one namespace and events in both directions — about 200 lines — and wants to
keep websockets' connection (its TLS, proxy, header, ping and exit-code handling) and
the same :class:`~wscli.connect.link.WebSocketLink` interface as plain WebSockets, which a
library with its own transports and event loop would hide. The codec below is pure.

Wire format (one WebSocket text frame each):

- Engine.IO: ``0{json}`` open (server → client), ``1`` close, ``2`` ping (server →
  client), ``3`` pong, ``4<socket.io packet>`` message.
- Socket.IO: ``<type>[<attachments>-][/<namespace>,][<ack id>][<json>]`` with types 0
  CONNECT, 1 DISCONNECT, 2 EVENT, 3 ACK, 4 CONNECT_ERROR, 5 BINARY_EVENT, 6 BINARY_ACK;
  binary attachments follow as binary frames, replaced by ``{"_placeholder": true, "num": i}``.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import enum
import json
import urllib.parse
from collections.abc import Sequence
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from wscli.connect.events import Message
from wscli.connect.link import WebSocketLink
from wscli.core.errors import HandshakeRejected, TimedOut
from wscli.core.url import normalize_url

ENGINE_OPEN = "0"
ENGINE_CLOSE = "1"
ENGINE_PING = "2"
ENGINE_PONG = "3"
ENGINE_MESSAGE = "4"


class PacketType(enum.IntEnum):
    """Socket.IO packet types (protocol v5)."""

    CONNECT = 0
    DISCONNECT = 1
    EVENT = 2
    ACK = 3
    CONNECT_ERROR = 4
    BINARY_EVENT = 5
    BINARY_ACK = 6


@dataclasses.dataclass
class Packet:
    """One Socket.IO packet (what follows Engine.IO's ``4``)."""

    type: PacketType
    namespace: str = "/"
    data: Any = None
    id: int | None = None
    attachments: int = 0


class ProtocolViolation(ValueError):
    """A frame that is not valid Engine.IO / Socket.IO."""


def socketio_url(url: str) -> str:
    """The WebSocket URL of a Socket.IO server: ``/socket.io/?EIO=4&transport=websocket``.

    A URL with no path (or ``/``) gets the default ``/socket.io/`` path; an explicit path
    (a custom server ``path`` option) is kept. Existing query parameters are kept.
    """
    parts = urllib.parse.urlsplit(normalize_url(url))
    path = parts.path if parts.path not in ("", "/") else "/socket.io/"
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    names = {name for name, _ in query}
    query += [(k, v) for k, v in (("EIO", "4"), ("transport", "websocket")) if k not in names]
    return urllib.parse.urlunsplit(
        (parts.scheme, parts.netloc, path, urllib.parse.urlencode(query), "")
    )


def encode_packet(packet: Packet) -> str:
    """The Socket.IO packet as text, without Engine.IO's ``4`` prefix."""
    text = str(int(packet.type))
    if packet.attachments:
        text += f"{packet.attachments}-"
    if packet.namespace != "/":
        text += packet.namespace + ","
    if packet.id is not None:
        text += str(packet.id)
    if packet.data is not None:
        text += json.dumps(packet.data, ensure_ascii=False, separators=(",", ":"))
    return text


def decode_packet(text: str) -> Packet:
    """Parse a Socket.IO packet (without Engine.IO's ``4``); raise ProtocolViolation."""
    if not text or not text[0].isdigit():
        raise ProtocolViolation(f"bad Socket.IO packet {text[:40]!r}")
    try:
        kind = PacketType(int(text[0]))
    except ValueError:
        raise ProtocolViolation(f"unknown Socket.IO packet type {text[0]!r}") from None
    pos = 1
    attachments = 0
    if kind in (PacketType.BINARY_EVENT, PacketType.BINARY_ACK):
        dash = text.find("-", pos)
        if dash < 0 or not text[pos:dash].isdigit():
            raise ProtocolViolation("binary packet without attachment count")
        attachments = int(text[pos:dash])
        pos = dash + 1
    namespace = "/"
    if text.startswith("/", pos):
        comma = text.find(",", pos)
        end = comma if comma >= 0 else len(text)
        namespace = text[pos:end]
        pos = end + 1 if comma >= 0 else end
    start = pos
    while pos < len(text) and text[pos].isdigit():
        pos += 1
    ack_id = int(text[start:pos]) if pos > start else None
    data = None
    if pos < len(text):
        try:
            data = json.loads(text[pos:])
        except ValueError:
            raise ProtocolViolation(f"bad JSON in Socket.IO packet {text[:40]!r}") from None
    return Packet(kind, namespace, data, ack_id, attachments)


def fill_placeholders(data: Any, attachments: list[bytes]) -> Any:
    """Replace binary placeholders with ``{"base64": ...}`` (JSON-friendly) objects."""
    if isinstance(data, list):
        return [fill_placeholders(item, attachments) for item in data]
    if isinstance(data, dict):
        if data.get("_placeholder") is True and isinstance(data.get("num"), int):
            num = data["num"]
            if 0 <= num < len(attachments):
                return {"base64": base64.b64encode(attachments[num]).decode("ascii")}
        return {k: fill_placeholders(v, attachments) for k, v in data.items()}
    return data


def event_packet(name: str, data: str | bytes, namespace: str = "/") -> tuple[str, bytes | None]:
    """The Engine.IO frame (and binary attachment) that emits ``name`` with ``data``."""
    if isinstance(data, bytes):
        placeholder = {"_placeholder": True, "num": 0}
        packet = Packet(PacketType.BINARY_EVENT, namespace, [name, placeholder], attachments=1)
        return ENGINE_MESSAGE + encode_packet(packet), data
    return ENGINE_MESSAGE + encode_packet(Packet(PacketType.EVENT, namespace, [name, data])), None


class SocketIOLink(WebSocketLink):
    """A WebSocketLink that speaks Socket.IO: joins a namespace, answers Engine.IO pings,
    emits sent lines as events and yields received events as Messages."""

    def __init__(
        self,
        connection: ClientConnection,
        url: str,
        namespace: str = "/",
        event: str = "message",
        open_timeout: float = 10.0,
    ) -> None:
        super().__init__(connection, url)
        self.namespace = namespace if namespace.startswith("/") else "/" + namespace
        self.event = event
        self.open_timeout = open_timeout
        self.engine_opened = False  # the Engine.IO open packet came: Socket.IO is there

    async def start(self) -> None:
        """Engine.IO open, then Socket.IO CONNECT to the namespace; wait for the answer."""
        try:
            await asyncio.wait_for(self._handshake(), self.open_timeout)
        except (TimeoutError, asyncio.TimeoutError):
            if not self.engine_opened:  # the server said nothing: likely no Socket.IO there
                raise TimedOut(
                    "Socket.IO handshake timed out",
                    f"no Engine.IO open packet within {self.open_timeout:g} s",
                    hint="is it a Socket.IO server? (drop --socketio)",
                ) from None
            raise TimedOut("Socket.IO handshake timed out", "no CONNECT answer") from None
        except ConnectionClosed as exc:
            raise HandshakeRejected(
                "the server closed the connection during the Socket.IO handshake",
                f"close code {exc.rcvd.code}" if exc.rcvd else "no close frame",
            ) from None
        except ProtocolViolation as exc:
            raise HandshakeRejected("not a Socket.IO server", str(exc)) from None

    async def _handshake(self) -> None:
        first = await self.connection.recv()
        if not isinstance(first, str) or not first.startswith(ENGINE_OPEN):
            raise HandshakeRejected(
                "not a Socket.IO server", "no Engine.IO open packet", hint="drop --socketio?"
            )
        try:
            json.loads(first[1:])
        except ValueError:
            raise HandshakeRejected("not a Socket.IO server", "bad Engine.IO open") from None
        self.engine_opened = True
        connect = Packet(PacketType.CONNECT, self.namespace)
        await self.connection.send(ENGINE_MESSAGE + encode_packet(connect))
        while True:
            frame = await self.connection.recv()
            if not isinstance(frame, str):
                continue
            if frame == ENGINE_PING:
                await self.connection.send(ENGINE_PONG)
                continue
            if not frame.startswith(ENGINE_MESSAGE):
                continue
            packet = decode_packet(frame[1:])
            if packet.namespace != self.namespace:
                continue
            if packet.type is PacketType.CONNECT:
                return
            if packet.type is PacketType.CONNECT_ERROR:
                why = packet.data.get("message") if isinstance(packet.data, dict) else None
                raise HandshakeRejected(
                    f"Socket.IO namespace {self.namespace!r} refused", str(why or packet.data)
                )

    async def send(self, data: str | bytes) -> Message:
        """Emit ``data`` as one event (``--event``, default ``message``)."""
        frame, attachment = event_packet(self.event, data, self.namespace)
        await self.connection.send(frame)
        if attachment is not None:
            await self.connection.send(attachment)
        return Message(
            "out",
            frame,
            name=self.event,
            args=(data,)
            if isinstance(data, str)
            else ({"base64": base64.b64encode(data).decode("ascii")},),
        )

    async def send_many(self, payloads: Sequence[str | bytes]) -> list[Message]:
        """Emit each payload as one event, in order."""
        return [await self.send(payload) for payload in payloads]

    async def recv(self) -> Message | None:
        """The next event for our namespace; None for frames handled here (pings ...)."""
        frame = await self.connection.recv()
        if isinstance(frame, bytes):
            return None  # a stray attachment
        if frame == ENGINE_PING:
            await self.connection.send(ENGINE_PONG)
            return None
        if frame == ENGINE_CLOSE:
            await self.connection.close(1000)
            await self.connection.recv()  # raises ConnectionClosed
        if not frame.startswith(ENGINE_MESSAGE):
            return None
        try:
            packet = decode_packet(frame[1:])
        except ProtocolViolation:
            return None
        if packet.namespace != self.namespace:
            return None
        if packet.type is PacketType.DISCONNECT:
            await self.connection.close(1000, "Socket.IO disconnect")
            await self.connection.recv()  # raises ConnectionClosed
        attachments = []
        for _ in range(packet.attachments):
            extra = await self.connection.recv()
            attachments.append(extra if isinstance(extra, bytes) else extra.encode())
        if (
            packet.type in (PacketType.EVENT, PacketType.BINARY_EVENT)
            and isinstance(packet.data, list)
            and packet.data
        ):
            args = fill_placeholders(packet.data, attachments)
            return Message("in", frame, name=str(args[0]), args=tuple(args[1:]))
        return None
