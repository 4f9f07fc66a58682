"""Message ids of the page's subprotocol: one id per message, the same on every instance (pure).

A page that reconnects sends the last id it saw (``?since=ID``) and is replayed only what
came after it ("resume"). An id is the *origin* server's epoch (random, new at each start)
plus a sequence, ``5f3a9c01d2e4.17``, given when the message is published and carried with
it through the Redis backplane: every instance, and every later replay from the shared
stream (after an outage included), shows the same message under the same id.

Within one origin, ids compare by their sequence; ids of different origins do not compare
(a room served by several instances interleaves them), so a gap is found by looking the
``since`` id up (:func:`resume_start`), falling back to comparison only where every kept
id is this server's own (one instance, no backplane). A ``since`` from the network is
hostile: anything that does not parse is simply unknown.
"""

from __future__ import annotations

import re

MAX_ID_LENGTH = 64
_ID = re.compile(r"([0-9a-f]{1,32})\.([0-9]{1,20})")

Position = tuple[str, int]
"""(origin, sequence): ids compare by sequence only when their origins are equal."""


def local_id(epoch: str, seq: int) -> str:
    """The id of the ``seq``-th message published by a server started as ``epoch``."""
    return f"{epoch}.{seq}"


def position(message_id: str | None) -> Position | None:
    """Where ``message_id`` stands, or None when it is not an id this server makes."""
    if not message_id or len(message_id) > MAX_ID_LENGTH:
        return None
    match = _ID.fullmatch(message_id)
    if match is None:
        return None
    return match[1], int(match[2])


def clean_since(raw: str | None) -> str | None:
    """The ``?since=`` value a client sent: None when absent, "" when it is not a well-formed
    id (the client resumes from an unknown point: the normal history, "some may be missing");
    never the hostile text itself, which the server would otherwise echo."""
    if raw is None:
        return None
    return raw if position(raw) is not None else ""


def resume_start(ids: list[str], since: str, epoch: str | None, evicted: bool) -> int | None:
    """Where the gap of a client that saw ``since`` last starts in a room's kept ``ids``
    (oldest first), or None when the kept ids do not hold the whole gap.

    ``since`` found: the gap is what follows it. Otherwise, when ``epoch`` is given (every
    kept id is this server's own, from that epoch) and ``since`` is of that epoch, ids
    compare: a ``since`` between kept ids (e.g. a join notice, not kept) or after all of
    them is placed exactly; one older than the oldest kept is complete only if nothing was
    ever ``evicted``. An unknown, foreign or incomparable ``since`` gives None.
    """
    for index in range(len(ids) - 1, -1, -1):
        if ids[index] == since:
            return index + 1
    since_at = position(since)
    if epoch is None or since_at is None or since_at[0] != epoch:
        return None
    for index, message_id in enumerate(ids):
        here = position(message_id)
        if here is None or here[0] != epoch:
            return None
        if here[1] > since_at[1]:
            return index if index > 0 or not evicted else None
    return len(ids)
