"""wscli.core.upgrade: the server's RFC 6455 opening-handshake rules and its 101, checked
against websockets' own ServerProtocol.accept (the answers must be the same) and by
properties (header values are peer bytes)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from wscli.core.upgrade import (
    UpgradeError,
    check_upgrade,
    offered_subprotocols,
    switching_protocols,
)

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 §1.3's example


def _check(**values: list[str]) -> str:
    return check_upgrade(
        values.get("connection", ["Upgrade"]),
        values.get("upgrade", ["websocket"]),
        values.get("keys", [KEY]),
        values.get("versions", ["13"]),
    )


def test_a_valid_upgrade_gets_rfc_6455s_accept_value() -> None:
    assert _check() == ACCEPT
    assert _check(connection=["keep-alive, Upgrade"], upgrade=["WebSocket"]) == ACCEPT
    assert _check(connection=["keep-alive", "upgrade"]) == ACCEPT


@pytest.mark.parametrize(
    ("values", "status", "header"),
    [
        ({"connection": ["keep-alive"]}, 426, ("Upgrade", "websocket")),
        ({"connection": []}, 426, ("Upgrade", "websocket")),
        ({"connection": ["Up grade"]}, 400, None),
        ({"upgrade": ["websocket, h2c"]}, 426, ("Upgrade", "websocket")),
        ({"upgrade": ["websocket/2"]}, 426, ("Upgrade", "websocket")),
        ({"upgrade": ["web socket"]}, 400, None),
        ({"keys": []}, 400, None),
        ({"keys": [KEY, KEY]}, 400, None),
        ({"keys": ["x"]}, 400, None),
        ({"keys": ["dGhlIHNhbXBsZSBub25jZQ"]}, 400, None),  # no padding
        ({"keys": ["YWJj"]}, 400, None),  # 3 bytes
        ({"keys": ["dGhlIHNhbXBsZSBub25jZQ==é"]}, 400, None),
        ({"versions": []}, 400, None),
        ({"versions": ["13", "13"]}, 400, None),
        ({"versions": ["8"]}, 426, ("Sec-WebSocket-Version", "13")),
        ({"versions": ["13 "]}, 426, ("Sec-WebSocket-Version", "13")),
    ],
)
def test_each_rule_has_its_answer(
    values: dict[str, list[str]], status: int, header: tuple[str, str] | None
) -> None:
    with pytest.raises(UpgradeError) as caught:
        _check(**values)
    assert caught.value.status == status
    assert caught.value.headers == ((header,) if header else ())


def _websockets_status(values: dict[str, list[str]]) -> int:
    pairs = [("Host", "x")]
    for name, key in (
        ("Connection", "connection"),
        ("Upgrade", "upgrade"),
        ("Sec-WebSocket-Key", "keys"),
        ("Sec-WebSocket-Version", "versions"),
    ):
        pairs += [(name, value) for value in values.get(key, [])]
    return ServerProtocol().accept(Request("/", Headers(pairs))).status_code


@given(
    connection=st.lists(st.sampled_from(["Upgrade", "keep-alive", "upgrade, x", "", "a b"])),
    upgrade=st.lists(st.sampled_from(["websocket", "WebSocket", "h2c", "websocket/13", "a b"])),
    keys=st.lists(st.sampled_from([KEY, "x", "YWJj", "AAAAAAAAAAAAAAAAAAAAAA=="]), max_size=2),
    versions=st.lists(st.sampled_from(["13", "8", "", "13,8"]), max_size=2),
)
def test_accepted_exactly_when_websockets_accepts(
    connection: list[str], upgrade: list[str], keys: list[str], versions: list[str]
) -> None:
    values = {"connection": connection, "upgrade": upgrade, "keys": keys, "versions": versions}
    theirs = _websockets_status(values)
    try:
        _check(**values)
    except UpgradeError as exc:
        assert theirs != 101
        # The same family of answer; a wrong version is 426 here (RFC 6455 §4.4), 400 there.
        assert exc.status == theirs or (exc.status == 426 and theirs == 400)
    else:
        assert theirs == 101


@given(st.lists(st.text(max_size=40), max_size=6))
def test_any_header_values_give_an_answer_or_upgrade_error_only(values: list[str]) -> None:
    with contextlib.suppress(UpgradeError):
        assert (
            len(_check(connection=values, upgrade=values, keys=values[:1], versions=values[:1]))
            == 28
        )
    with contextlib.suppress(UpgradeError):
        offered = offered_subprotocols(values)
        assert len(offered) <= sum(len(v) for v in values)


def test_subprotocol_offers_are_tokens() -> None:
    assert offered_subprotocols(["chat, wscli.chat.v1", "x"]) == ["chat", "wscli.chat.v1", "x"]
    assert offered_subprotocols(["", " , "]) == []
    with pytest.raises(UpgradeError) as caught:
        offered_subprotocols(["chat v1"])
    assert caught.value.status == 400


def test_the_101_is_what_websockets_client_accepts() -> None:
    assert switching_protocols(ACCEPT, None) == (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    )
    assert b"\r\nSec-WebSocket-Protocol: chat\r\n\r\n" in switching_protocols(ACCEPT, "chat")
    # websockets' client opens on it, the subprotocol included.
    client = ClientProtocol(parse_uri("ws://127.0.0.1/chat"), subprotocols=[Subprotocol("chat")])
    request = client.connect()
    client.send_request(request)
    accept = _check(keys=[request.headers["Sec-WebSocket-Key"]])
    client.receive_data(switching_protocols(accept, "chat"))
    assert client.handshake_exc is None
    assert client.state is State.OPEN and client.subprotocol == "chat"
