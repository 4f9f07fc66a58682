"""Reading a recording of `wscli proxy --record` back (pure: lines in, conversations out).

A recording is NDJSON: the proxy's ``--json -v`` events, each with ``t`` (seconds since the
proxy started). What a replay needs of it, per connection: the request path and the
subprotocol (``open``), the messages that were really forwarded (``message``: ``from``
client or server, ``type``, ``text`` or ``base64``; ``forwarded: false`` ones never
arrived and are left out) and the end (``close``: ``code``, ``reason``, ``by``; no code:
the connection dropped). Other events (faults, pings, heads, gaps) are skipped.

The file may come from anywhere, so it is read as hostile: each line at most
:data:`MAX_LINE` bytes, at most :data:`MAX_STEPS` steps and :data:`MAX_CONVERSATIONS`
connections; anything else is a :class:`RecordingError` naming the line.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import math
from collections.abc import Iterable
from typing import Any, Literal

MAX_LINE = 8 * 1024 * 1024
"""Bytes of one line: a message of 6 MiB in base64."""
MAX_STEPS = 1_000_000
MAX_CONVERSATIONS = 100_000

Side = Literal["client", "server"]
Kind = Literal["text", "binary", "close", "drop"]


class RecordingError(ValueError):
    """The recording cannot be read: which line, and why."""


@dataclasses.dataclass(frozen=True)
class Step:
    """One thing a side did: a message (``text`` or ``binary``), a close (``code`` and
    ``reason`` in ``data``), or a ``drop`` (the TCP connection ended without a close)."""

    t: float
    """Seconds after the connection opened."""
    side: Side
    kind: Kind
    data: str | bytes = ""
    code: int | None = None

    def describe(self) -> str:
        """``text 'hi'``, ``binary 3 bytes 00ff01``, ``close 1000 'bye'``, ``no close``."""
        return describe(self.kind, self.data, self.code)


@dataclasses.dataclass
class Conversation:
    """One recorded connection."""

    connection: int
    path: str
    subprotocol: str | None
    start: float
    steps: list[Step] = dataclasses.field(default_factory=list)
    ended: bool = False

    @property
    def duration(self) -> float:
        return self.steps[-1].t if self.steps else 0.0


def describe(kind: str, data: str | bytes, code: int | None = None) -> str:
    """A message or close in a few words, cut (escape it before printing)."""
    if kind == "text":
        text = data if isinstance(data, str) else data.decode("utf-8", "replace")
        return f"text {text[:80]!r}" + ("…" if len(text) > 80 else "")
    if kind == "binary":
        raw = data if isinstance(data, bytes) else data.encode()
        return f"binary {len(raw)} bytes {raw[:16].hex()}" + ("…" if len(raw) > 16 else "")
    if kind == "close":
        return f"close {code}" + (f" {data!r}" if data else "")
    return "no close frame (connection dropped)"


def _field(event: dict[str, Any], name: str, kinds: type | tuple[type, ...], line: int) -> Any:
    value = event.get(name)
    if not isinstance(value, kinds) or isinstance(value, bool):
        raise RecordingError(f"line {line}: {event.get('event')} without a valid {name!r}")
    return value


def _time(event: dict[str, Any], line: int) -> float:
    t = _field(event, "t", (int, float), line)
    if not math.isfinite(t) or t < 0:
        raise RecordingError(f"line {line}: t must be a time in seconds")
    return float(t)


def _payload(event: dict[str, Any], line: int) -> tuple[Kind, str | bytes]:
    kind = event.get("type")
    if "text" in event and kind == "text":
        return "text", _field(event, "text", str, line)
    if kind not in ("text", "binary"):
        raise RecordingError(f"line {line}: message type must be text or binary")
    try:
        data = base64.b64decode(_field(event, "base64", str, line), validate=True)
    except (binascii.Error, ValueError):
        raise RecordingError(f"line {line}: base64 is not valid") from None
    return ("binary", data) if kind == "binary" else ("text", data)


def read_recording(lines: Iterable[bytes]) -> list[Conversation]:
    """The conversations of a recording, in the order they opened."""
    found: dict[int, Conversation] = {}
    steps = 0
    for number, raw in enumerate(lines, 1):
        if len(raw) > MAX_LINE:
            raise RecordingError(f"line {number}: longer than {MAX_LINE} bytes")
        if not raw.strip():
            continue
        try:
            event = json.loads(raw)
        except (ValueError, RecursionError):
            raise RecordingError(f"line {number}: not JSON") from None
        if not isinstance(event, dict):
            raise RecordingError(f"line {number}: not a JSON object")
        kind = event.get("event")
        if kind not in ("open", "message", "close"):
            continue
        connection = _field(event, "connection", int, number)
        t = _time(event, number)
        if kind == "open":
            if len(found) >= MAX_CONVERSATIONS:
                raise RecordingError(f"line {number}: more than {MAX_CONVERSATIONS} connections")
            subprotocol = event.get("subprotocol")
            if subprotocol is not None and not isinstance(subprotocol, str):
                raise RecordingError(f"line {number}: subprotocol must be text or null")
            path = _field(event, "path", str, number)
            found[connection] = Conversation(connection, path, subprotocol, t)
            continue
        conversation = found.get(connection)
        if conversation is None or conversation.ended:
            continue  # a connection that opened before the recording, or after its end
        steps += 1
        if steps > MAX_STEPS:
            raise RecordingError(f"line {number}: more than {MAX_STEPS} steps")
        at = max(t - conversation.start, 0.0)
        if kind == "message":
            side = event.get("from")
            if side not in ("client", "server"):
                raise RecordingError(f"line {number}: message from must be client or server")
            if event.get("forwarded", True) is False:
                continue  # dropped by a fault, or left behind by the end: never arrived
            payload_kind, data = _payload(event, number)
            conversation.steps.append(Step(at, side, payload_kind, data))
            continue
        conversation.ended = True
        by: Side = "client" if event.get("by") == "client" else "server"
        code = event.get("code")
        if code is None:
            conversation.steps.append(Step(at, by, "drop"))
            continue
        code = _field(event, "code", int, number)
        reason = event.get("reason") or ""
        if not isinstance(reason, str):
            raise RecordingError(f"line {number}: reason must be text")
        conversation.steps.append(Step(at, by, "close", reason, code))
    return list(found.values())
