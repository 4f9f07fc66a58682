"""One room of `wscli serve`: its clients, the frames of this tick, its kept history, and the
clients waiting for the shared history or their gap (pure: no I/O)."""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING

from wscli.core.ndjson import timestamp
from wscli.serve.replay import WaitingClients
from wscli.serve.room_message import RoomMessage

if TYPE_CHECKING:
    from wscli.serve.hub import Subscriber


class Room:
    """The clients of one URL path, the frames waiting for this tick's flush, the history.

    History keeps each message once, as its encoded frame (what a newcomer is sent).
    ``loading``: the backplane is reading the shared history, and every client that joins
    meanwhile waits (in ``waiting``) for it; clients resuming from an id the kept history
    does not hold wait there too, for the backplane's read of the gap.
    """

    __slots__ = (
        "batch",
        "bytes",
        "evicted",
        "history",
        "history_held",
        "loading",
        "members",
        "messages",
        "name",
        "reordered",
        "shared",
        "waiting",
    )

    def __init__(self, name: str, history: int) -> None:
        self.name = name
        # A dict keeps insertion order and O(1) removal; values unused.
        self.members: dict[Subscriber, None] = {}
        self.batch: list[tuple[RoomMessage, str | None]] = []
        self.history: collections.deque[RoomMessage] | None = (
            collections.deque(maxlen=history) if history > 0 else None
        )
        self.history_held = 0
        self.evicted = False  # the history dropped messages (a resume may miss some)
        self.messages = 0  # delivered here (for the busiest rooms of --metrics-rooms)
        self.bytes = 0
        self.loading = False
        self.shared = False  # the history comes from the backplane (ids of many origins)
        self.reordered = False  # some messages came here out of the shared order
        self.waiting: WaitingClients[Subscriber] = WaitingClients()

    def remember(self, message: RoomMessage, max_bytes: int) -> int:
        """Keep ``message`` (its frame and who sent it, when: not the payload a second time):
        the last N messages, at most ``max_bytes``; returns the change in bytes."""
        history = self.history
        assert history is not None
        kept = RoomMessage(b"", message.text, author=message.author)
        kept.frame, kept.id = message.frame, message.id
        kept.when = message.when or timestamp()
        message.when = kept.when
        before = self.history_held
        if len(history) == history.maxlen:
            self.history_held -= len(history.popleft().frame)
            self.evicted = True
        history.append(kept)
        self.history_held += len(kept.frame)
        while self.history_held > max_bytes:
            self.history_held -= len(history.popleft().frame)
            self.evicted = True
        return self.history_held - before

    def forget_oldest(self) -> int:
        """Drop the oldest kept message; the bytes freed."""
        assert self.history
        size = len(self.history.popleft().frame)
        self.history_held -= size
        self.evicted = True
        return size
