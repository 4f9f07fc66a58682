"""wscli.serve.socketio.bridge: raw messages as ``message`` events, events as raw messages,
and the frames Socket.IO clients of one namespace share."""

from __future__ import annotations

import json

from tests.serve.test_hub import parse_frames
from wscli.core.socketio import RelayedEvent
from wscli.serve.hub import RoomMessage
from wscli.serve.socketio.bridge import (
    NamespaceForm,
    event_message,
    event_of,
    frames_of,
    packets_of,
    raw_form,
)


def test_raw_messages_become_message_events() -> None:
    assert event_of(RoomMessage('héllo "q"'.encode(), True)) == RelayedEvent(
        '["message","héllo \\"q\\""]'
    )
    assert event_of(RoomMessage(b"\x00\x01", False)) == RelayedEvent(
        '["message",{"_placeholder":true,"num":0}]', (b"\x00\x01",)
    )
    text = RoomMessage(b"* bob joined", True, notice=True)
    assert packets_of(event_of(text), "/chat") == ['42/chat,["message","* bob joined"]']


def test_first_argument_of_a_message_event_is_what_raw_clients_get() -> None:
    assert raw_form(["message", "hi", 2], []) == (b"hi", True)
    assert raw_form(["message", {"a": [1, None]}], []) == (b'{"a":[1,null]}', True)
    assert raw_form(["message", 3.5], []) == (b"3.5", True)
    assert raw_form(["message", {"_placeholder": True, "num": 0}], [b"\x01"]) == (b"\x01", False)
    nested = ["message", {"f": {"_placeholder": True, "num": 0}}]
    assert raw_form(nested, [b"\x01"]) == (b'{"f":{"base64":"AQ=="}}', True)
    assert raw_form(["message"], []) is None
    assert raw_form(["typing", "x"], []) is None


def test_event_messages_keep_name_arguments_and_ack() -> None:
    message = event_message(["typing", True], [], 4, "al")
    assert not message.raw and message.data == b"" and message.author == "al"
    assert message.event == RelayedEvent('["typing",true]', (), 4)
    binary = event_message(["message", {"_placeholder": True, "num": 0}], [b"ab"], None, None)
    assert binary.raw and binary.data == b"ab" and not binary.text


def test_frames_are_the_packets_as_websocket_frames() -> None:
    event = RelayedEvent('["message",{"_placeholder":true,"num":0},"x"]', (b"\xff",))
    assert packets_of(event, "/") == ['451-["message",{"_placeholder":true,"num":0},"x"]', b"\xff"]
    assert parse_frames(frames_of(event, "/room")) == [
        '451-/room,["message",{"_placeholder":true,"num":0},"x"]',
        b"\xff",
    ]
    form = NamespaceForm("/")
    message = RoomMessage(b"hi", True)
    assert parse_frames(form.frames(message)) == ['42["message","hi"]']
    assert json.loads(form.packets(message)[0][2:]) == ["message", "hi"]
