"""Message ids of the page's subprotocol: stable and comparable within a room (pure).

A page that reconnects sends the last id it saw (``?since=ID``) and is replayed only what
came after it ("resume"). That needs ids every instance agrees on:

- with the Redis backplane, an id is the room stream's entry id plus the message's index
  within that entry (``1764480000000-0.3``): every instance reading the stream gives the
  same message the same id, and ids survive a restart of any instance;
- without it, an id is this server's epoch (random, new at each start) plus a sequence
  (``5f3a9c01d2e4.17``): comparable only within one epoch, so a resume against another
  epoch (a restart) replays the normal history and says so.

Ids of different kinds or epochs are not comparable (:func:`position` keys them by origin).
A ``since`` from the network is hostile: anything that does not parse is simply unknown.
"""

from __future__ import annotations

import re

MAX_ID_LENGTH = 64
_STREAM = re.compile(r"([0-9]{1,20})-([0-9]{1,20})\.([0-9]{1,9})")
_LOCAL = re.compile(r"([0-9a-f]{1,32})\.([0-9]{1,20})")

Position = tuple[str, tuple[int, ...]]
"""(origin, place): ids compare by place only when their origins are equal."""


def local_id(epoch: str, seq: int) -> str:
    """The id of the ``seq``-th message relayed by a server started as ``epoch``."""
    return f"{epoch}.{seq}"


def stream_id(entry: tuple[int, int], index: int) -> str:
    """The id of the ``index``-th message of the stream entry ``entry`` (ms, seq)."""
    return f"{entry[0]}-{entry[1]}.{index}"


def position(message_id: str | None) -> Position | None:
    """Where ``message_id`` stands, or None when it is not an id this server makes."""
    if not message_id or len(message_id) > MAX_ID_LENGTH:
        return None
    match = _STREAM.fullmatch(message_id)
    if match:
        return "stream", tuple(int(part) for part in match.groups())
    match = _LOCAL.fullmatch(message_id)
    if match:
        return match[1], (int(match[2]),)
    return None


def is_after(message_id: str, since: Position) -> bool | None:
    """True when ``message_id`` comes after ``since``; None when they do not compare."""
    here = position(message_id)
    if here is None or here[0] != since[0]:
        return None
    return here[1] > since[1]


def clean_since(raw: str | None) -> str | None:
    """The ``?since=`` value a client sent: None when absent, "" when it is not a well-formed
    id (the client resumes from an unknown point: the normal history, "some may be missing");
    never the hostile text itself, which the server would otherwise echo."""
    if raw is None:
        return None
    return raw if position(raw) is not None else ""


def resume_from(
    ids: list[str], since: str, origins: tuple[str, ...], evicted: bool
) -> tuple[int, bool]:
    """Where a replay of a room's history ``ids`` (oldest first) starts for a client that
    saw ``since`` last, and whether that replay is known to hold the whole gap.

    ``origins`` are the id origins this server makes now (its epoch, "stream" with Redis);
    ``evicted`` says the history dropped messages. An unknown, foreign or incomparable
    ``since`` (another epoch: the server restarted) replays everything, not complete.
    """
    since_at = position(since)
    if since_at is None or since_at[0] not in origins:
        return 0, False
    start = len(ids)
    for index, message_id in enumerate(ids):
        after = is_after(message_id, since_at)
        if after is None:
            return 0, False
        if after:
            start = index
            break
    complete = start > 0 or not ids or (not evicted and since_at[0] != "stream")
    return start, complete
