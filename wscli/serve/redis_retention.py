"""What one `wscli serve` instance keeps in Redis, and its bounds (pure, no I/O).

Every room stream this instance appends to is written down here, least recently written
first, with an estimate of the bytes it holds there (the bytes appended, scaled down once
the stream cap trims it). Each append also sets the stream's expiry (``--redis-stream-ttl``
after its last message), so nothing stays in Redis for good; within that time the bounds
of local mode apply to what one instance writes:

- at most :data:`MAX_IDLE_STREAMS` streams of rooms that have no client here (like
  ``MAX_IDLE_ROOMS`` of local mode); past it, the least recently written one is deleted;
- at most ``max_bytes`` (``--history-bytes``) in all of them together; past it, the least
  recently written streams are deleted (rooms with no client here) or trimmed to their
  ``--history`` (rooms with clients here), oldest first.

:meth:`StreamBook.evictions` says what to do; the writer does it and the backplane reports
it (log and ``/healthz``). The book also numbers this instance's messages per room (POS,
see :mod:`wscli.serve.redis_wire`).
"""

from __future__ import annotations

import collections
import dataclasses
import time

MAX_IDLE_STREAMS = 1024


class Written:
    """One room stream this instance appended to."""

    __slots__ = ("bytes", "entries", "last", "next_pos")

    def __init__(self) -> None:
        self.entries = 0  # appended by this instance (the cap trims them to at most the cap)
        self.bytes = 0
        self.last = 0.0
        self.next_pos = 0  # messages this instance appended to the room so far

    def held(self, cap: int) -> int:
        """The estimated bytes of this instance's entries still in the stream."""
        if self.entries <= cap:
            return self.bytes
        return self.bytes * cap // self.entries


@dataclasses.dataclass(frozen=True)
class Eviction:
    """Delete the stream of ``room`` (``keep`` 0), or trim it to its newest ``keep`` entries."""

    room: str
    keep: int


class StreamBook:
    """The streams this instance wrote within their expiry (see the module doc)."""

    def __init__(self, *, max_bytes: int, ttl: float, cap: int, keep: int) -> None:
        self.max_bytes = max_bytes
        self.max_idle = MAX_IDLE_STREAMS
        self.ttl = ttl
        self.cap = cap
        self.keep = keep  # entries a trimmed active room keeps (its history)
        self.streams: collections.OrderedDict[str, Written] = collections.OrderedDict()
        self.bytes = 0  # estimated, over all streams written
        self.read: set[str] = set()  # rooms with clients here (never deleted)
        self.idle = 0  # streams written here of rooms that have no client here
        self.deleted = 0  # streams deleted to stay within the bounds, ever
        self.trimmed = 0  # streams trimmed to stay within the bytes bound, ever

    def reading(self, room: str, read: bool) -> None:
        """``room`` got its first local client (``read``) or lost its last one."""
        if read == (room in self.read):
            return
        if read:
            self.read.add(room)
        else:
            self.read.discard(room)
        if room in self.streams:
            self.idle += -1 if read else 1

    def number(self, room: str, count: int) -> int:
        """POS for a batch of ``count`` messages about to be appended to ``room``."""
        written = self._written(room)
        pos = written.next_pos
        written.next_pos += count
        return pos

    def _written(self, room: str) -> Written:
        written = self.streams.get(room)
        if written is None:
            written = self.streams[room] = Written()
            written.last = time.monotonic()
            if room not in self.read:
                self.idle += 1
        return written

    def _drop(self, room: str) -> Written:
        written = self.streams.pop(room)
        self.bytes -= written.held(self.cap)
        if room not in self.read:
            self.idle -= 1
        return written

    def appended(self, room: str, size: int, now: float | None = None) -> None:
        """An entry of ``size`` bytes reached ``room``'s stream (its expiry starts again)."""
        written = self._written(room)
        before = written.held(self.cap)
        written.entries += 1
        written.bytes += size
        written.last = time.monotonic() if now is None else now
        self.streams.move_to_end(room)
        self.bytes += written.held(self.cap) - before

    def evictions(self, now: float | None = None) -> list[Eviction]:
        """What to delete or trim now, least recently written first; the book counts it as
        done (expired streams are simply forgotten: Redis dropped them itself)."""
        now = time.monotonic() if now is None else now
        self._forget_expired(now)
        found: list[Eviction] = []
        if self.bytes <= self.max_bytes and self.idle <= self.max_idle:
            return found
        for room in list(self.streams):
            over_bytes = self.bytes > self.max_bytes
            if not over_bytes and self.idle <= self.max_idle:
                break
            written = self.streams[room]
            if room not in self.read:
                self._drop(room)
                self.deleted += 1
                found.append(Eviction(room, 0))
            elif over_bytes and written.entries > self.keep:
                held = written.held(self.cap)
                written.bytes = held * self.keep // min(written.entries, self.cap)
                written.entries = self.keep
                self.bytes += written.held(self.cap) - held
                self.trimmed += 1
                found.append(Eviction(room, self.keep))
        return found

    def _forget_expired(self, now: float) -> None:
        while self.streams:
            room, written = next(iter(self.streams.items()))
            if now - written.last < self.ttl:
                return
            self._drop(room)

    def describe(self) -> dict[str, int]:
        """Counts for ``/healthz`` (never room names)."""
        return {
            "streams": len(self.streams),
            "idle_streams": self.idle,
            "bytes": self.bytes,
            "deleted": self.deleted,
            "trimmed": self.trimmed,
        }
