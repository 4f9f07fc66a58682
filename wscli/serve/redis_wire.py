"""What the Redis backplane writes into Redis, and how it names things (pure, no I/O).

One Redis Stream per room, keyed ``PREFIX:{ROOM}``: the braces are Redis Cluster's hash tag,
so a room's key lives on one shard and rooms spread over the shards. An entry of a room's
stream is one *batch*: the chat messages an instance accepted for that room during one
event-loop tick, in order. It has two fields:

- ``h``: ``INSTANCE:SEQ`` or ``INSTANCE:SEQ:l``. SEQ grows by one per batch of the instance,
  so a batch appended twice (retried after a connection loss whose XADD had in fact
  succeeded) is recognised and skipped by every reader. ``:l`` marks a batch the instance
  has already delivered to its own clients while Redis was unreachable.
- ``d``: the messages, each a fixed header, then room, sender and the payload bytes
  unchanged (see :func:`pack_message`).

Nothing read from Redis is trusted: :func:`unpack_messages` and :func:`parse_header` raise
ValueError for anything this module did not produce.
"""

from __future__ import annotations

import asyncio
import re
import struct
from typing import Any

from wscli.core.socketio import RelayedEvent, pack_event, packed_event_size, unpack_event
from wscli.serve.hub import RoomMessage

DEFAULT_PREFIX = "wscli:chat"

# One chat message inside a batch: a fixed header, then room, sender, payload.
_HEADER = struct.Struct("!BBIII")  # version, flags, room length, sender length, data length
_VERSION = 1
_TEXT = 0x1
_NOTICE = 0x2
_HAS_SENDER = 0x4
_HAS_AUTHOR = 0x8  # the author (nick or #id) and its length (one byte) follow the sender
_EVENT = 0x10  # a Socket.IO event (core.socketio.pack_event) ends the payload, then its length
_NOT_RAW = 0x20  # raw clients get nothing of it (an event other than ``message``)
_EVENT_LENGTH = struct.Struct("!I")

StreamId = tuple[int, int]
"""A stream entry id ``MS-SEQ`` as numbers, so ids compare in stream order."""


def stream_key(prefix: str, room: str) -> bytes:
    """The key of ``room``'s stream: ``PREFIX:{ROOM}`` (the room is the cluster hash tag)."""
    return f"{prefix}:{{{room}}}".encode("utf-8", "surrogateescape")


def parse_id(raw: bytes | str) -> StreamId:
    """``b"1700000000000-3"`` as ``(1700000000000, 3)``; ValueError otherwise."""
    text = raw.decode("ascii") if isinstance(raw, bytes) else raw
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def format_id(entry: StreamId) -> bytes:
    """The inverse of :func:`parse_id`."""
    return b"%d-%d" % entry


def make_header(instance: str, seq: int, delivered: bool) -> bytes:
    """The ``h`` field of a batch (see the module doc)."""
    return f"{instance}:{seq}{':l' if delivered else ''}".encode("ascii")


def parse_header(raw: bytes) -> tuple[str, int, bool]:
    """``(instance, seq, delivered_at_origin)`` from an ``h`` field; ValueError otherwise."""
    parts = raw.decode("ascii").split(":")
    if len(parts) not in (2, 3) or not parts[0] or (len(parts) == 3 and parts[2] != "l"):
        raise ValueError("bad batch header")
    return parts[0], int(parts[1]), len(parts) == 3


def pack_message(room: str, message: RoomMessage, sender: str | None) -> bytes:
    """The bytes of ``message`` inside a batch (payload kept byte for byte)."""
    flags = (_TEXT if message.text else 0) | (_NOTICE if message.notice else 0)
    flags |= 0 if message.raw else _NOT_RAW
    room_bytes = room.encode("utf-8", "surrogateescape")
    sender_bytes = b""
    if sender is not None:
        flags |= _HAS_SENDER
        sender_bytes = sender.encode("utf-8", "surrogateescape")
    if message.author is not None:
        flags |= _HAS_AUTHOR
        sender_bytes += _author_bytes(message.author)
    data = message.data
    if message.event is not None:
        flags |= _EVENT
        blob = pack_event(message.event)
        data = b"".join((data, blob, _EVENT_LENGTH.pack(len(blob))))
    header = _HEADER.pack(_VERSION, flags, len(room_bytes), len(sender_bytes), len(data))
    return b"".join((header, room_bytes, sender_bytes, data))


def _author_bytes(author: str) -> bytes:
    """The author field: UTF-8 (at most 255 bytes), then its length in one byte."""
    raw = author.encode("utf-8", "surrogateescape")[:255]
    return raw + bytes((len(raw),))


def packed_size(room: str, message: RoomMessage, sender: str | None) -> int:
    """``len(pack_message(room, message, sender))`` without building it."""
    room_len = len(room.encode("utf-8", "surrogateescape"))
    sender_len = len(sender.encode("utf-8", "surrogateescape")) if sender is not None else 0
    if message.author is not None:
        sender_len += len(_author_bytes(message.author))
    event = message.event
    extra = 0 if event is None else packed_event_size(event) + _EVENT_LENGTH.size
    return _HEADER.size + room_len + sender_len + len(message.data) + extra


def unpack_messages(payload: bytes) -> list[tuple[str, RoomMessage, str | None]]:
    """The chat messages of one batch (inverse of joined :func:`pack_message`).

    ValueError for anything this module did not produce; then none of them is delivered.
    """
    found: list[tuple[str, RoomMessage, str | None]] = []
    start, end = 0, len(payload)
    if not payload:
        raise ValueError("too short")
    while start < end:
        if end - start < _HEADER.size:
            raise ValueError("too short")
        version, flags, room_len, sender_len, data_len = _HEADER.unpack_from(payload, start)
        if version != _VERSION:
            raise ValueError(f"unknown version {version}")
        if flags & ~(_TEXT | _NOTICE | _HAS_SENDER | _HAS_AUTHOR | _EVENT | _NOT_RAW):
            raise ValueError(f"unknown flags {flags:#x}")
        start += _HEADER.size
        stop = start + room_len + sender_len + data_len
        if stop > end:
            raise ValueError("lengths past the end")
        room = payload[start : start + room_len].decode("utf-8", "surrogateescape")
        start += room_len
        sender, author = None, None
        field = payload[start : start + sender_len]
        if flags & _HAS_AUTHOR:
            if not field or field[-1] + 1 > len(field):
                raise ValueError("author flag without an author")
            cut = len(field) - 1 - field[-1]
            author = field[cut:-1].decode("utf-8", "surrogateescape")
            field = field[:cut]
        if flags & _HAS_SENDER:
            sender = field.decode("utf-8", "surrogateescape")
        elif field:
            raise ValueError("sender bytes without a sender")
        start += sender_len
        data, event = payload[start:stop], None
        if flags & _EVENT:
            data, event = _split_event(data)
        message = RoomMessage(
            data,
            bool(flags & _TEXT),
            bool(flags & _NOTICE),
            author,
            event=event,
            raw=not flags & _NOT_RAW,
        )
        found.append((room, message, sender))
        start = stop
    return found


def _split_event(data: bytes) -> tuple[bytes, RelayedEvent]:
    """A payload with a Socket.IO event at its end: (raw payload, event); ValueError."""
    if len(data) < _EVENT_LENGTH.size:
        raise ValueError("event flag without an event")
    (length,) = _EVENT_LENGTH.unpack_from(data, len(data) - _EVENT_LENGTH.size)
    cut = len(data) - _EVENT_LENGTH.size - length
    if cut < 0:
        raise ValueError("event longer than its message")
    return data[:cut], unpack_event(data[cut : len(data) - _EVENT_LENGTH.size])


def describe_error(exc: BaseException, redis: Any) -> str:
    """A short lower-case cause: the socket error when there is one, else redis-py's text."""
    if isinstance(exc, (asyncio.TimeoutError, redis.TimeoutError)):
        return "timed out"
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror.lower()
        cause = cause.__cause__ or cause.__context__
    text = " ".join(str(exc).split()).rstrip(".")
    # redis-py says "Error 111 connecting to HOST:PORT. Connection refused."
    text = re.sub(r"^Error \d+ (?:connecting to|while reading from) \S+?\.? (?=\S)", "", text)
    return (text[:1].lower() + text[1:]) or type(exc).__name__


def error_hint(exc: BaseException, redis: Any) -> str:
    """What to check for a failed connection to Redis."""
    text = str(exc).lower()
    if isinstance(exc, redis.AuthenticationError) or "auth" in text or "noperm" in text:
        return "put the password in the URL, redis://:PASSWORD@HOST:PORT/0, via WSCLI_REDIS_URL"
    if isinstance(exc, (asyncio.TimeoutError, redis.TimeoutError)):
        return "is that address a Redis server, and reachable?"
    return "is redis-server running there? check --redis"
