"""wscli.serve.socketio.sockets: namespaces, the auth check, events and their attachments,
and every packet the reference parser refuses closing the session (ProtocolViolation)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.serve.socketio.test_engine import Socket
from wscli.core.socketio import ProtocolViolation
from wscli.serve.hub import RoomMessage
from wscli.serve.socketio.bridge import NamespaceForm
from wscli.serve.socketio.engine import EngineSession
from wscli.serve.socketio.sockets import (
    MAX_NAMESPACES,
    MAX_REFUSALS,
    NamespaceSocket,
    SocketIOClient,
)


class Host:
    """The service, in memory: records joins, leaves and publications."""

    max_size = 1000
    max_queue = 10_000

    def __init__(self, token: str | None = None) -> None:
        self.token = token
        self.joined: list[str] = []
        self.left: list[tuple[str, str]] = []
        self.published: list[tuple[str, RoomMessage]] = []
        self.keys = 0

    def authorize(self, client: SocketIOClient, auth: Any) -> str | None:
        if self.token is None:
            return None
        if isinstance(auth, dict) and auth.get("token") == self.token:
            return None
        return "invalid token"

    def form(self, namespace: str) -> NamespaceForm:
        return NamespaceForm(namespace)

    def new_key(self) -> tuple[int, str]:
        self.keys += 1
        return self.keys, f"k:{self.keys}"

    def join(self, socket: NamespaceSocket) -> None:
        self.joined.append(socket.room)

    def leave(self, socket: NamespaceSocket, reason: str) -> None:
        self.left.append((socket.room, reason))

    def publish(self, socket: NamespaceSocket, message: RoomMessage) -> None:
        self.published.append((socket.room, message))

    # engine.Host
    def pong(self, session: EngineSession) -> None: ...

    def upgraded(self, session: EngineSession) -> None: ...

    def session_closed(self, session: EngineSession, reason: str, detail: str) -> None: ...


def make(token: str | None = None, nick: str | None = None) -> tuple[SocketIOClient, Socket, Host]:
    host = Host(token)
    transport = Socket()
    session = EngineSession("sid", transport, host)  # type: ignore[arg-type]
    client = SocketIOClient(session, host, authenticated=False, nick=nick, remote="r")  # type: ignore[arg-type]
    session.upper = client
    return client, transport, host


def test_connect_answers_the_socket_id_and_joins_the_room() -> None:
    client, transport, host = make()
    client.receive_text("0")
    client.receive_text('0/chat,{"nick":"al\\u0000ice"}')
    assert host.joined == ["/", "/chat"]
    sids = [json.loads(p.split(",", 1)[1] if "/" in p else p[2:])["sid"] for p in transport.sent]
    assert transport.sent[0].startswith("40{") and transport.sent[1].startswith("40/chat,{")
    assert len(set(sids)) == 2 and all(len(s) == 20 for s in sids)
    assert client.sockets["/chat"].nick == "alice" and client.sockets["/"].author == "#1"
    client.receive_text("1/chat,")
    assert host.left == [("/chat", "client namespace disconnect")]
    client.receive_text("1/nowhere,")  # not joined: nothing to leave
    client.closed("transport close")
    assert host.left[-1] == ("/", "transport close")


def test_auth_refusals_then_the_session_ends() -> None:
    client, transport, host = make(token="t")
    client.receive_text('0{"token":"t"}')
    assert host.joined == ["/"]
    for attempt in range(MAX_REFUSALS):
        assert not client.session.closed
        client.receive_text(f'0/r{attempt},{{"token":"x"}}')
    assert (
        transport.sent[-1].startswith("44/r") and '"message":"invalid token"' in transport.sent[-1]
    )
    assert client.session.closed and host.joined == ["/"]


def test_too_many_namespaces_are_refused() -> None:
    client, transport, host = make()
    for n in range(MAX_NAMESPACES + 1):
        client.receive_text(f"0/n{n},")
    assert len(host.joined) == MAX_NAMESPACES
    assert transport.sent[-1].startswith(f"44/n{MAX_NAMESPACES},")


def test_events_are_published_with_their_raw_form() -> None:
    client, _, host = make()
    client.receive_text("0")
    client.receive_text('27["message","hi",{"x":1}]')
    client.receive_text('2["other",1]')
    client.receive_text('51-["message",{"_placeholder":true,"num":0}]')
    client.receive_binary(b"\x00\xff")
    (_, hi), (_, other), (_, blob) = host.published
    assert hi.data == b"hi" and hi.text and hi.raw and hi.event is not None
    assert hi.event.data == '["message","hi",{"x":1}]' and hi.event.ack == 7
    assert not other.raw and other.data == b""
    assert blob.data == b"\x00\xff" and not blob.text
    assert blob.event is not None and blob.event.attachments == (b"\x00\xff",)


@pytest.mark.parametrize(
    ("packets", "why"),
    [
        (['2["message","x"]'], "not joined"),
        (["0", '2["disconnect"]'], "reserved"),
        (["0", '2["connect_error",1]'], "reserved"),
        (["0", "0"], "second CONNECT"),
        (["0[1]"], "not an object"),
        (["0", '4{"message":"x"}'], "CONNECT_ERROR"),
        (["0", '51-["m",{"_placeholder":true,"num":1}]', b"x"], "missing attachment"),
        (
            ["0", '51-["m",{"_placeholder":true,"num":0},{"_placeholder":true,"num":0}]', b"x"],
            "twice",
        ),
        (["0", '51-["m",{"_placeholder":true,"num":0}]', "2[]"], "attachments are due"),
        (["0", b"stray"], "nobody announced"),
        (["0", '2"not an array"'], "event"),
    ],
)
def test_what_the_reference_parser_refuses_raises(packets: list[str | bytes], why: str) -> None:
    client, _, host = make()
    with pytest.raises(ProtocolViolation, match=why):
        for packet in packets:
            if isinstance(packet, bytes):
                client.receive_binary(packet)
            else:
                client.receive_text(packet)
    assert host.published == []


def test_attachments_are_bounded_by_max_size() -> None:
    client, _, host = make()
    client.receive_text("0")
    client.receive_text('52-["m",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]')
    client.receive_binary(b"x" * 500)
    with pytest.raises(ProtocolViolation) as caught:
        client.receive_binary(b"y" * 500)
    assert caught.value.code == 1009 and host.published == []


def test_acks_from_the_client_are_ignored_but_their_attachments_read() -> None:
    client, _, host = make()
    client.receive_text("0")
    client.receive_text("31[1]")
    client.receive_text('61-3[{"_placeholder":true,"num":0}]')
    client.receive_binary(b"z")
    client.receive_text('2["after"]')
    assert [m.event.data for _, m in host.published if m.event] == ['["after"]']
