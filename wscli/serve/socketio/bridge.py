"""Room messages as Socket.IO events, and Socket.IO events as room messages (pure).

Socket.IO clients and raw WebSocket clients share rooms:

- a raw message reaches Socket.IO clients as a ``message`` event with one argument: text as
  a string, binary as a binary attachment;
- a Socket.IO event reaches Socket.IO clients as it was emitted (name, arguments,
  attachments), and raw clients get the first argument of a ``message`` event: a string as
  text, binary as binary, any other JSON value as its JSON text (binary inside it as
  ``{"base64": ...}``). Raw clients get nothing of other events.

Each message is encoded once per namespace and flush (:class:`NamespaceForm` is the hub's
:class:`~wscli.serve.subscriber.Form`), so a broadcast to a thousand Socket.IO clients costs the
same as one to a thousand raw clients: the same bytes handed to each.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from wscli.core.socketio import (
    RelayedEvent,
    event_header,
    fill_placeholders,
    placeholder_index,
)
from wscli.serve.hub import RoomMessage, encode_frame

MESSAGE_EVENT = "message"
"""The event that bridges to raw clients, as in the classic chat (``io.emit('message', x)``)."""

_BINARY_MESSAGE = '["message",{"_placeholder":true,"num":0}]'
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
"""One encoder for every event (json.dumps with options builds a new one per call)."""


def event_of(message: RoomMessage) -> RelayedEvent:
    """The Socket.IO event ``message`` stands for (its own, or a raw message's)."""
    event = message.event
    if event is not None:
        return event
    if message.text:
        return RelayedEvent(f'["message",{_JSON.encode(message.data.decode("utf-8"))}]')
    return RelayedEvent(_BINARY_MESSAGE, (message.data,))


def packets_of(event: RelayedEvent, namespace: str) -> list[str | bytes]:
    """The Engine.IO packets that deliver ``event`` in ``namespace`` (no ack id: a broadcast)."""
    header = event_header(namespace, len(event.attachments))
    return [header + event.data, *event.attachments]


def frames_of(event: RelayedEvent, namespace: str) -> bytes:
    """:func:`packets_of` as WebSocket frames, one per packet."""
    header = event_header(namespace, len(event.attachments))
    text = encode_frame((header + event.data).encode("utf-8"), True)
    if not event.attachments:
        return text
    return b"".join([text, *(encode_frame(a, False) for a in event.attachments)])


class NamespaceForm:
    """The hub's :class:`~wscli.serve.subscriber.Form` of the Socket.IO clients of one namespace."""

    __slots__ = ("namespace",)

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace

    def frames(self, message: RoomMessage) -> bytes:
        return frames_of(event_of(message), self.namespace)

    def packets(self, message: RoomMessage) -> list[str | bytes]:
        return packets_of(event_of(message), self.namespace)


def raw_form(data: list[Any], attachments: Sequence[bytes]) -> tuple[bytes, bool] | None:
    """What raw clients get of the event ``data`` (``[name, *args]``): ``(payload, text)``,
    or None when it is not a ``message`` event with an argument."""
    if data[0] != MESSAGE_EVENT or len(data) < 2:
        return None
    first = data[1]
    if attachments:
        num = placeholder_index(first)
        if num is not None:
            return attachments[num], False
        first = fill_placeholders(first, list(attachments))
    if isinstance(first, str):
        return first.encode("utf-8"), True
    return _JSON.encode(first).encode("utf-8"), True


def event_message(
    data: list[Any],
    attachments: Sequence[bytes],
    ack: int | None,
    author: str | None,
    text: str | None = None,
) -> RoomMessage:
    """The room message for an event a Socket.IO client emitted (validated: ``data`` is
    ``[name, *args]``, placeholders name existing attachments); ``text`` is ``data`` as the
    client wrote it, when at hand (:func:`~wscli.core.socketio.packet_json`)."""
    event = RelayedEvent(_JSON.encode(data) if text is None else text, tuple(attachments), ack)
    raw = raw_form(data, attachments)
    if raw is None:
        return RoomMessage(b"", True, author=author, event=event, raw=False)
    payload, is_text = raw
    return RoomMessage(payload, is_text, author=author, event=event)
