"""Nicknames in a room of `wscli serve`: unique among its clients on this instance, a
page's reconnection takes its own name back, anyone else gets ``nick (2)``, ``nick (3)``...
(pure: no I/O)."""

from __future__ import annotations

import hmac

from wscli.serve.access import MAX_NICK
from wscli.serve.room import Room
from wscli.serve.subscriber import Subscriber

# Suffixes tried from 2 before going on from the last one given in the room: the lowest
# free one in a normal room, one probe per join in a crowd sharing one name.
NEAR_SUFFIXES = 8


def claim_nick(room: Room | None, nick: str, session: str | None) -> tuple[str, Subscriber | None]:
    """The nickname ``nick`` gets in ``room`` (unique among its clients here) and the
    client it replaces, if any.

    The holder of ``nick`` connected from the same page session (``?session=``: a page
    reconnecting before the server noticed its old link died) is replaced; anyone else's
    ``nick`` becomes ``nick (2)``, ``nick (3)``... (at most ``MAX_NICK`` characters).
    """
    if room is None or nick not in room.nicks:
        return nick, None
    holder, held_by = room.nicks[nick]
    if session is not None and held_by is not None and hmac.compare_digest(held_by, session):
        return nick, holder
    for number in range(2, NEAR_SUFFIXES + 2):  # the lowest free number, usually
        candidate = suffixed(nick, number)
        if candidate not in room.nicks:
            return candidate, None
    if len(room.suffixes) > 2 * len(room.nicks) + 16:
        room.suffixes.clear()  # only hints: names long gone need not be remembered
    number = max(room.suffixes.get(nick, 0), NEAR_SUFFIXES + 1)
    while True:  # a crowd of one name: on from the last number given
        number += 1
        candidate = suffixed(nick, number)
        if candidate not in room.nicks:
            room.suffixes[nick] = number
            return candidate, None


def suffixed(nick: str, number: int) -> str:
    """``nick (number)``, the nickname cut so that the whole is at most ``MAX_NICK``."""
    tail = f" ({number})"
    return nick[: MAX_NICK - len(tail)].rstrip() + tail
