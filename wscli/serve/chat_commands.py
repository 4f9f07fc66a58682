"""What a ``wscli.chat.v1`` client may send besides chat text, and the memory of client ids.

A browser cannot send WebSocket pings, and a page that lost its link cannot know whether
what it sent arrived. So a client that negotiated the page's subprotocol
(:mod:`wscli.serve.envelope`) may send two commands, each one JSON text message of exactly
this shape:

- ``{"type":"ping","n":7}``: the server answers ``{"type":"pong","n":7}`` to that client
  alone (an application heartbeat: a silent dead link is noticed by the page itself);
- ``{"type":"send","cid":"…","text":"alice: hi"}``: the server relays ``text`` as if the
  client had sent it raw (raw clients get exactly those bytes), answers the sender
  ``{"type":"ack","cid":"…"}``, and puts ``cid`` in the message's envelope. A ``cid``
  relayed before in the same room is acknowledged again but not relayed twice
  (:class:`SentIds`), so a page re-sending after a reconnect never delivers a message twice.

Anything else, malformed or not, is chat text and is relayed unchanged, as it always was:
a command never swallows what a client meant to say. Raw clients (no subprotocol) are never
parsed. Pure (no I/O); the bytes are hostile: :func:`parse_command` raises nothing, costs
linear time in the message (one C-speed ``json.loads``, only for messages that start like
a command) and returns only bounded fields.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import re

MAX_TOKEN = 64
"""Longest client id (``cid``) or page session id (``?session=``) taken."""
_TOKEN = re.compile(r"[A-Za-z0-9_-]{8,64}")
MAX_PING = 2**53 - 1
"""Largest heartbeat number echoed (JavaScript's largest safe integer)."""
_PREFIX = re.compile(rb'\{\s*"type"\s*:\s*"(?:ping|send)"')

SENT_IDS = 8192
"""Client ids remembered (all rooms together), least recently sent forgotten first: about
2.7 MB at most (measured in tests/serve/test_chat_commands.py). A page re-sends within
seconds of a reconnect; 8,192 ids cover that for a busy server, and a flood of ids only
shortens the window (a duplicate, never a loss)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Ping:
    """A heartbeat; ``n`` is echoed in the pong."""

    n: int


@dataclasses.dataclass(frozen=True, slots=True)
class Send:
    """A chat text with the client's id for it."""

    cid: str
    text: str


def clean_token(raw: object) -> str | None:
    """``raw`` when it is a well-formed client or session id (8-64 of ``A-Z a-z 0-9 _ -``),
    else None: nothing else from the network is kept or echoed."""
    if isinstance(raw, str) and len(raw) <= MAX_TOKEN and _TOKEN.fullmatch(raw):
        return raw
    return None


def parse_command(data: bytes) -> Ping | Send | None:
    """The command in a text message from a ``wscli.chat.v1`` client, or None when it is
    chat text (relayed unchanged). Never raises."""
    if not data.startswith(b"{") or _PREFIX.match(data) is None:
        return None
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    if not isinstance(doc, dict):
        return None
    kind = doc.get("type")
    if kind == "ping" and doc.keys() <= {"type", "n"}:
        n = doc.get("n", 0)
        if type(n) is int and 0 <= n <= MAX_PING:
            return Ping(n)
    elif kind == "send" and doc.keys() == {"type", "cid", "text"}:
        cid, text = clean_token(doc["cid"]), doc["text"]
        if cid is not None and isinstance(text, str):
            try:
                text.encode()
            except UnicodeEncodeError:  # a lone surrogate (\ud800): not valid UTF-8 text
                return None
            return Send(cid, text)
    return None


class SentIds:
    """The client ids relayed lately, per room: at most ``limit`` (least recently used
    forgotten first, counted in ``forgotten``).

    A room is kept as its hash, not its name: a path can be kilobytes long, and ids must
    not keep long-gone rooms' names alive. Two rooms sharing a 64-bit hash would have to
    share a random client id too before anything was mistaken.
    """

    def __init__(self, limit: int = SENT_IDS) -> None:
        self.limit = limit
        self.forgotten = 0
        self._ids: collections.OrderedDict[tuple[int, str], None] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._ids)

    def first_time(self, room: str, cid: str) -> bool:
        """True (and remembered) when ``cid`` was not relayed in ``room`` lately."""
        key = (hash(room), cid)
        if key in self._ids:
            self._ids.move_to_end(key)
            return False
        self._ids[key] = None
        if len(self._ids) > self.limit:
            self._ids.popitem(last=False)
            self.forgotten += 1
        return True
