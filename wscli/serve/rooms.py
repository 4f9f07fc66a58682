"""The rooms of one `wscli serve` instance and the history they keep, within two bounds:
the bytes of all rooms' history together (``--history-bytes``: the least recently written
room loses its oldest messages first) and the number of empty rooms kept for their history
(the oldest dropped), so clients cannot grow memory by visiting many paths (pure: no I/O).
"""

from __future__ import annotations

import collections

from wscli.serve.room import Room
from wscli.serve.room_message import RoomMessage

# Rooms that are empty but keep a history are retained up to this many (oldest dropped),
# so clients cannot grow memory without bound by visiting many paths.
MAX_IDLE_ROOMS = 1024
DEFAULT_HISTORY_LIMIT = 64 * 2**20  # bytes, all rooms together (--history-bytes)


class Rooms:
    """The rooms by name (``by_name``), and ``held``: the bytes of history all of them hold.

    ``history`` is how many messages each room keeps; ``limit`` bounds ``held``.
    """

    def __init__(self, history: int, limit: int) -> None:
        self.history = history
        self.limit = limit
        self.held = 0
        self.by_name: dict[str, Room] = {}
        # Rooms holding history, least recently written first (the budget's eviction order).
        self._kept: collections.OrderedDict[str, Room] = collections.OrderedDict()
        self._idle: collections.OrderedDict[str, None] = collections.OrderedDict()

    @property
    def active(self) -> int:
        """Rooms with at least one client."""
        return sum(1 for room in self.by_name.values() if room.members)

    @property
    def kept(self) -> int:
        """Rooms without clients kept for their history."""
        return sum(1 for room in self.by_name.values() if not room.members and room.history)

    def open(self, name: str) -> Room:
        """The room ``name``, made when there is none; no longer idle."""
        room = self.by_name.get(name)
        if room is None:
            room = self.by_name[name] = Room(name, self.history)
        self._idle.pop(name, None)
        return room

    def remember(self, room: Room, message: RoomMessage, max_bytes: int) -> None:
        """Keep ``message`` in ``room``'s history within both byte bounds: the room's frames
        at most ``max_bytes``, all rooms' history at most ``limit``."""
        self.held += room.remember(message, max_bytes)
        self._kept[room.name] = room
        self._kept.move_to_end(room.name)
        self.trim()

    def built(self, size: int) -> None:
        """``size`` bytes of envelopes were built and kept in a room's history (see
        :meth:`Room.envelopes`): count them, and trim."""
        self.held += size
        self.trim()

    def trim(self) -> None:
        """Drop the oldest kept messages of the least recently written rooms until the
        history of all rooms is within ``limit``."""
        while self.held > self.limit and self._kept:
            name, oldest = next(iter(self._kept.items()))
            if oldest.history:
                self.held -= oldest.forget_oldest()
            if not oldest.history:
                del self._kept[name]
                idle = not oldest.members and not oldest.batch and not oldest.waiting
                if idle and self.by_name.get(name) is oldest:
                    del self.by_name[name]
                    self._idle.pop(name, None)

    def forget_history(self, room: Room) -> None:
        """Drop all of ``room``'s history (the backplane supplies the shared one instead)."""
        if room.history:
            room.history.clear()
            self.held -= room.history_held
            room.history_held = room.frame_bytes = 0
            self._kept.pop(room.name, None)

    def emptied(self, room: Room) -> None:
        """``room`` has no client now: forget it, or keep it idle for its history (the
        oldest idle rooms beyond ``MAX_IDLE_ROOMS`` are forgotten)."""
        rooms = self.by_name
        if rooms.get(room.name) is not room or room.members or room.waiting:
            return  # already forgotten (e.g. its last client was dropped during a flush)
        if not room.history:
            if not room.batch:
                del rooms[room.name]
                self._kept.pop(room.name, None)
            return
        self._idle[room.name] = None
        while len(self._idle) > MAX_IDLE_ROOMS:
            oldest, _ = self._idle.popitem(last=False)
            gone = rooms.get(oldest)
            if gone is not None and not gone.members and not gone.batch and not gone.waiting:
                del rooms[oldest]
                self.held -= gone.history_held
                self._kept.pop(oldest, None)
