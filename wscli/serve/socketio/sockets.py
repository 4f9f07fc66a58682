"""The Socket.IO v5 layer of a session, sans I/O: namespaces, events, attachments, acks.

A :class:`SocketIOClient` sits on one Engine.IO session and takes its Socket.IO packets.
Each namespace the client connects to is a :class:`NamespaceSocket`: a member of the room of
the same path in the hub (namespace ``/`` is room ``/``, ``/chat`` is ``/chat``), which is
how Socket.IO clients and raw WebSocket clients meet.

- ``CONNECT`` (with its ``auth`` payload) joins a namespace when the token check passes
  (:meth:`Host.authorize`), answered ``{"sid": ...}``; a refusal is a ``CONNECT_ERROR``,
  and after :data:`MAX_REFUSALS` of them the session is closed. ``auth.nick`` (else the
  URL's ``?nick=``) names the client in its room, as ``?nick=`` does for raw clients.
- ``EVENT`` / ``BINARY_EVENT`` (after its attachments) is published to the room, name and
  arguments unchanged; an ack id asks for the server's acknowledgement, sent once the
  event was handed to the room's clients on this instance (:meth:`NamespaceSocket.acknowledge`).
- ``DISCONNECT`` leaves the namespace; ``ACK`` packets are ignored (the server never asks
  for one).

Every packet is hostile: what the reference parser refuses — reserved event names, a
placeholder for a missing attachment, text while attachments are due, an event for a
namespace not joined, a second ``CONNECT`` — raises
:class:`~wscli.core.socketio.ProtocolViolation`, which closes the session ("parse error").
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any, Protocol

from wscli.core.socketio import (
    RESERVED_EVENTS,
    Packet,
    PacketType,
    ProtocolViolation,
    check_placeholders,
    decode_packet,
    packet_json,
    server_packet,
)
from wscli.serve.access import clean_nick
from wscli.serve.hub import RoomMessage
from wscli.serve.socketio.bridge import NamespaceForm, event_message
from wscli.serve.socketio.engine import EngineSession

MAX_NAMESPACES = 32
"""Namespaces one session may join (each is a room membership)."""
MAX_REFUSALS = 3
"""Refused namespace connections (wrong token) before the session is closed."""
MAX_NAMESPACE = 1024
"""Longest namespace name (a room path)."""


def new_id() -> str:
    """A random id (20 URL-safe characters, like the Node server's)."""
    return secrets.token_urlsafe(15)


class Host(Protocol):
    """What the Socket.IO layer asks of the server (the service)."""

    max_size: int

    def authorize(self, client: SocketIOClient, auth: Any) -> str | None:
        """None when ``client`` may join a namespace with ``auth``, else why not."""
        ...

    def form(self, namespace: str) -> NamespaceForm: ...

    def new_key(self) -> tuple[int, str]: ...

    def join(self, socket: NamespaceSocket) -> None: ...

    def leave(self, socket: NamespaceSocket, reason: str) -> None: ...

    def publish(self, socket: NamespaceSocket, message: RoomMessage) -> None: ...


class NamespaceSocket:
    """One client in one namespace: the hub's :class:`~wscli.serve.subscriber.Subscriber`."""

    __slots__ = ("author", "client", "client_id", "form", "key", "nick", "room", "sid")

    enveloped = False
    since = None

    def __init__(
        self, client: SocketIOClient, namespace: str, form: NamespaceForm, nick: str | None
    ) -> None:
        self.client = client
        self.room = namespace
        self.form = form
        self.client_id, self.key = client.host.new_key()
        self.nick = nick
        self.author = nick or f"#{self.client_id}"
        self.sid = new_id()

    @property
    def namespace(self) -> str:
        return self.room

    @property
    def shared_frames(self) -> bool:
        return self.client.session.transport.shared_frames

    @property
    def transport_name(self) -> str:
        return self.client.session.transport.name

    def send_frames(self, data: bytes, limit: int) -> int:
        session = self.client.session
        if session.closed:
            return 0
        return session.transport.send_frames(data, limit)

    def send_messages(self, messages: Sequence[RoomMessage], limit: int) -> int:
        session = self.client.session
        if session.closed:
            return 0
        packets = [packet for m in messages for packet in self.form.packets(m)]
        return session.transport.send_packets(packets, limit)

    def drop(self, code: int, reason: str) -> None:
        """The hub drops a client that stopped reading: the whole session goes."""
        self.client.session.drop(reason)

    def acknowledge(self, ack: int, args: list[Any]) -> None:
        """The server's acknowledgement of this socket's event ``ack``."""
        self.client.session.send_packets([server_packet(PacketType.ACK, self.room, args, ack)])


class SocketIOClient:
    """The Socket.IO layer of one session (see the module docstring)."""

    __slots__ = (
        "attachments",
        "authenticated",
        "host",
        "nick",
        "peer_host",
        "pending",
        "pending_size",
        "pending_text",
        "refusals",
        "remote",
        "session",
        "sockets",
    )

    def __init__(
        self,
        session: EngineSession,
        host: Host,
        *,
        authenticated: bool,
        nick: str | None,
        remote: str,
        peer_host: str = "?",
    ) -> None:
        self.session = session
        self.host = host
        self.authenticated = authenticated
        """The token came with the request (query or Authorization): no ``auth`` needed."""
        self.nick = nick
        self.remote = remote
        self.peer_host = peer_host
        """The peer's address (what wrong tokens are counted by)."""
        self.sockets: dict[str, NamespaceSocket] = {}
        self.pending: Packet | None = None  # a binary packet waiting for its attachments
        self.pending_text = ""  # its text
        self.attachments: list[bytes] = []
        self.pending_size = 0
        self.refusals = 0

    # Upper (what the Engine.IO session calls)

    def receive_text(self, text: str) -> None:
        if self.pending is not None:
            raise ProtocolViolation("a text packet while binary attachments are due")
        packet = decode_packet(text)
        if packet.attachments:
            self.pending = packet
            self.pending_text = text
            self.attachments = []
            self.pending_size = len(text)
            return
        self._dispatch(packet, [], text)

    def receive_binary(self, data: bytes) -> None:
        packet = self.pending
        if packet is None:
            raise ProtocolViolation("a binary attachment nobody announced")
        self.pending_size += len(data)
        if self.pending_size > self.host.max_size:
            raise ProtocolViolation(
                f"an event with its attachments over {self.host.max_size} bytes", 1009
            )
        self.attachments.append(data)
        if len(self.attachments) == packet.attachments:
            attachments, self.attachments, self.pending = self.attachments, [], None
            text, self.pending_text = self.pending_text, ""
            self._dispatch(packet, attachments, text)

    def closed(self, reason: str) -> None:
        sockets, self.sockets = self.sockets, {}
        for socket in sockets.values():
            self.host.leave(socket, reason)

    # Packets

    def _dispatch(self, packet: Packet, attachments: list[bytes], text: str) -> None:
        kind = packet.type
        if kind in (PacketType.EVENT, PacketType.BINARY_EVENT):
            self._event(packet, attachments, text)
        elif kind == PacketType.CONNECT:
            self._connect(packet)
        elif kind == PacketType.DISCONNECT:
            socket = self.sockets.pop(packet.namespace, None)
            if socket is not None:
                self.host.leave(socket, "client namespace disconnect")
        elif kind == PacketType.CONNECT_ERROR:
            raise ProtocolViolation("CONNECT_ERROR from a client")
        # ACK / BINARY_ACK: the server never asks for one; ignored, as the Node server does.

    def _event(self, packet: Packet, attachments: list[bytes], text: str) -> None:
        socket = self.sockets.get(packet.namespace)
        if socket is None:
            raise ProtocolViolation(f"an event for namespace {packet.namespace!r}, not joined")
        data = packet.data
        if data[0] in RESERVED_EVENTS:
            raise ProtocolViolation(f"the reserved event name {data[0]!r}")
        if attachments:
            check_placeholders(data, len(attachments))
        json_text = packet_json(text, packet)
        message = event_message(data, attachments, packet.id, socket.author, json_text)
        self.host.publish(socket, message)

    def _connect(self, packet: Packet) -> None:
        namespace = packet.namespace
        if namespace in self.sockets:
            raise ProtocolViolation(f"a second CONNECT to namespace {namespace!r}")
        auth = packet.data
        if auth is not None and not isinstance(auth, dict):
            raise ProtocolViolation("a CONNECT whose auth payload is not an object")
        refusal = None
        if len(namespace) > MAX_NAMESPACE:
            refusal = "Invalid namespace"
        elif len(self.sockets) >= MAX_NAMESPACES:
            refusal = f"Too many namespaces (at most {MAX_NAMESPACES})"
        else:
            refusal = self.host.authorize(self, auth)
        if refusal is not None:
            self.session.send_packets(
                [server_packet(PacketType.CONNECT_ERROR, namespace, {"message": refusal})]
            )
            self.refusals += 1
            if self.refusals >= MAX_REFUSALS and not self.session.closed:
                self.session.close("forced server close", f"{self.refusals} refused connections")
            return
        nick = self.nick
        if auth is not None and isinstance(auth.get("nick"), str):
            nick = clean_nick(auth["nick"])
        socket = NamespaceSocket(self, namespace, self.host.form(namespace), nick)
        self.sockets[namespace] = socket
        self.session.send_packets(
            [server_packet(PacketType.CONNECT, namespace, {"sid": socket.sid})]
        )
        if not self.session.closed:
            self.host.join(socket)
