"""Engine.IO's HTTP long-polling on the server, sans I/O: requests classified, packets queued.

- :func:`classify` sorts a request to the Engine.IO path as the Node server does
  (``engine.io``'s ``verify``): a handshake (no ``sid``: GET only), a poll (GET with
  ``sid``), a send (POST with ``sid``) or an upgrade (a WebSocket with ``sid``), or one of
  the Node server's errors, answered with the same status and JSON body
  (:func:`error_body`): ``{"code":1,"message":"Session ID unknown"}`` and so on.
- :class:`PollingTransport` holds what waits for the client's next GET — bounded in bytes
  (``--max-queue``) and in packets (:data:`MAX_QUEUED_PACKETS`) — and the GET parked until
  there is something to send (a heartbeat ping comes every ping interval at the latest).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Protocol

from wscli.core.socketio import (
    ENGINE_CLOSE,
    ENGINE_NOOP,
    MAX_PACKETS_PER_BODY,
    encode_payload,
)

UNKNOWN_TRANSPORT = 0
UNKNOWN_SID = 1
BAD_HANDSHAKE_METHOD = 2
BAD_REQUEST = 3
FORBIDDEN = 4
UNSUPPORTED_PROTOCOL_VERSION = 5

ERROR_MESSAGES = {
    UNKNOWN_TRANSPORT: "Transport unknown",
    UNKNOWN_SID: "Session ID unknown",
    BAD_HANDSHAKE_METHOD: "Bad handshake method",
    BAD_REQUEST: "Bad request",
    FORBIDDEN: "Forbidden",
    UNSUPPORTED_PROTOCOL_VERSION: "Unsupported protocol version",
}
"""The Node server's error codes and messages (``engine.io``'s ``Server.errorMessages``)."""

HIGH_WATER = 64 * 1024
"""Queued bytes past which a session counts as behind (as a socket past asyncio's default
write high-water mark): the server's total budget (``--max-total-queue``) then watches it."""

MAX_QUEUED_PACKETS = MAX_PACKETS_PER_BODY
"""Packets that may wait for one session's next poll: one body's worth, the most a client
(ours included) takes in one response."""

TRANSPORTS = ("polling", "websocket")


def error_body(code: int, message: str | None = None) -> bytes:
    """The Node server's JSON error body: ``{"code":1,"message":"Session ID unknown"}``."""
    text = ERROR_MESSAGES[code] if message is None else message
    return json.dumps({"code": code, "message": text}, separators=(",", ":")).encode()


def error_status(code: int) -> int:
    """403 for Forbidden, 400 for the other errors (as the Node server answers)."""
    return 403 if code == FORBIDDEN else 400


@dataclasses.dataclass(frozen=True)
class EngineRequest:
    """A request to the Engine.IO path, classified: ``kind`` is ``handshake``, ``poll``,
    ``send`` or ``upgrade``; ``sid`` is None for a handshake."""

    kind: str
    transport: str
    sid: str | None


def classify(method: str, params: Mapping[str, str], upgrade: bool) -> EngineRequest | int:
    """What a request to the Engine.IO path is, or the Node server's error code for it (in
    its order: transport, then the session's checks, then the handshake's)."""
    transport = params.get("transport")
    if transport not in TRANSPORTS:
        return UNKNOWN_TRANSPORT
    sid = params.get("sid")
    if sid is not None:
        # The protocol version is checked against the session's (after the sid is known).
        if upgrade:
            if transport != "websocket":
                return BAD_REQUEST
            return EngineRequest("upgrade", transport, sid)
        if transport != "polling":
            return BAD_REQUEST
        if method == "GET":
            return EngineRequest("poll", transport, sid)
        if method == "POST":
            return EngineRequest("send", transport, sid)
        return BAD_REQUEST
    if method != "GET":
        return BAD_HANDSHAKE_METHOD
    if transport != ("websocket" if upgrade else "polling"):
        return BAD_REQUEST
    if params.get("EIO") != "4":
        return UNSUPPORTED_PROTOCOL_VERSION
    return EngineRequest("handshake", transport, None)


def packet_cost(packet: str | bytes) -> int:
    """What a packet costs in a long-polling body (binary as ``b`` + base64)."""
    if isinstance(packet, bytes):
        return 1 + (len(packet) + 2) // 3 * 4
    return len(packet)


class Waiter(Protocol):
    """A parked GET: answered (or dropped) once."""

    def answer(self, body: bytes) -> None: ...

    def abort(self) -> None: ...


class Backlog(Protocol):
    """Who watches sessions that fall behind (the server's total budget)."""

    def behind(self, transport: PollingTransport, behind: bool) -> None:
        """``transport`` queued more than :data:`HIGH_WATER` (True) or was emptied (False)."""
        ...

    def wrote(self, size: int) -> None:
        """``size`` more bytes were queued for a transport that is behind."""
        ...


class PollingTransport:
    """Engine.IO over HTTP long-polling, server side (see the module docstring)."""

    __slots__ = ("backlog", "behind", "closing", "posting", "queue", "queued", "waiter")

    name = "polling"
    shared_frames = False

    def __init__(self, backlog: Backlog | None = None) -> None:
        self.queue: list[str | bytes] = []
        self.queued = 0  # bytes of the queue in a body
        self.waiter: Waiter | None = None
        self.posting = False  # a POST is being read (Engine.IO allows one at a time)
        self.closing = False  # the session ended: the queue ends with a close packet
        self.backlog = backlog
        self.behind = False  # past HIGH_WATER: reported to ``backlog``

    def send_packets(self, packets: Sequence[str | bytes], limit: int) -> int:
        cost = sum(packet_cost(p) for p in packets)
        over_count = len(self.queue) + len(packets) > MAX_QUEUED_PACKETS
        if self.queue and (self.queued + cost > limit or over_count):
            return self.queued
        self.queue.extend(packets)
        self.queued += cost
        self._flush()
        backlog = self.backlog
        if self.queue and backlog is not None:
            if self.behind:
                backlog.wrote(cost)
            elif self.queued > HIGH_WATER:
                self.behind = True
                backlog.behind(self, True)
        return 0

    def send_frames(self, data: bytes, limit: int) -> int:
        raise TypeError("long-polling takes packets, not WebSocket frames")

    def take_queue(self) -> list[str | bytes]:
        queue, self.queue, self.queued = self.queue, [], 0
        if self.behind:
            self.behind = False
            if self.backlog is not None:
                self.backlog.behind(self, False)
        return queue

    def poll(self, waiter: Waiter) -> bool:
        """A GET: answered at once when packets wait, else parked. False: a GET is already
        parked (an overlap: the Node server fails the session)."""
        if self.waiter is not None:
            return False
        self.waiter = waiter
        self._flush()
        return True

    def waiter_lost(self, waiter: Waiter) -> bool:
        """The parked GET's connection ended before its answer: True when it was ours."""
        if waiter is self.waiter:
            self.waiter = None
            return True
        return False

    def close(self, reason: str) -> None:
        """The session ended (``reason``) or was upgraded (empty reason): a parked GET gets
        the rest of the queue and a close packet, or a noop once the WebSocket took over."""
        self.closing = True
        if reason:
            self.queue.append(ENGINE_CLOSE)
            self.queued += 1
        elif not self.queue:
            self.queue.append(ENGINE_NOOP)
            self.queued += 1
        self._flush()

    def abort(self) -> None:
        self.take_queue()
        waiter, self.waiter = self.waiter, None
        if waiter is not None:
            waiter.abort()

    @property
    def drained(self) -> bool:
        """Nothing waits for a GET."""
        return not self.queue

    def _flush(self) -> None:
        waiter = self.waiter
        if waiter is not None and self.queue:
            self.waiter = None
            waiter.answer(encode_payload(self.take_queue()))
