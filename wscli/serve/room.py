"""One room of `wscli serve`: its clients, the frames of this tick, its kept history, and the
clients waiting for the shared history or their gap (pure: no I/O)."""

from __future__ import annotations

import collections
from collections.abc import Sequence
from typing import TYPE_CHECKING

from wscli.core.ndjson import timestamp
from wscli.serve.replay import WaitingClients, kept_envelope
from wscli.serve.room_message import RoomMessage

if TYPE_CHECKING:
    from wscli.serve.subscriber import Subscriber


class Room:
    """The clients of one URL path, the frames waiting for this tick's flush, the history.

    History keeps each message once, as its encoded frame (what a newcomer is sent), and
    its ``wscli.chat.v1`` envelope once one was built (for the members taking envelopes
    when it came, or for the first such newcomer): a replay never builds one twice.
    ``frame_bytes`` (the frames: at most ``--max-queue``, what a raw replay sends) and
    ``history_held`` (everything held, envelopes too: what the server's history budget
    counts) say how much.

    ``loading``: the backplane is reading the shared history, and every client that joins
    meanwhile waits (in ``waiting``) for it; clients resuming from an id the kept history
    does not hold wait there too, for the backplane's read of the gap.
    """

    __slots__ = (
        "batch",
        "bytes",
        "enveloped",
        "evicted",
        "frame_bytes",
        "history",
        "history_held",
        "loading",
        "members",
        "messages",
        "name",
        "nicks",
        "reordered",
        "shared",
        "suffixes",
        "waiting",
    )

    def __init__(self, name: str, history: int) -> None:
        self.name = name
        # A dict keeps insertion order and O(1) removal; values unused.
        self.members: dict[Subscriber, None] = {}
        # Who holds each nickname here, with the page session it came from (unique names).
        self.nicks: dict[str, tuple[Subscriber, str | None]] = {}
        # The last suffix handed out per name ("alice (3)"): a hint, so a crowd of one name
        # costs one probe per join, not one per namesake.
        self.suffixes: dict[str, int] = {}
        self.enveloped = 0  # members that take wscli.chat.v1 envelopes
        self.batch: list[tuple[RoomMessage, str | None]] = []
        self.history: collections.deque[RoomMessage] | None = (
            collections.deque(maxlen=history) if history > 0 else None
        )
        self.frame_bytes = 0
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
        the last N messages, their frames at most ``max_bytes``; returns the change in
        bytes held."""
        history = self.history
        assert history is not None
        kept = RoomMessage(
            b"", message.text, author=message.author, cid=message.cid, raw=message.raw
        )
        kept.frame, kept.id, kept.event = message.frame, message.id, message.event
        kept.when = message.when or timestamp()
        message.when = kept.when
        if self.enveloped:
            # This tick's flush needs it for those members anyway: built once, kept.
            kept.enveloped = message.envelope_frame()
        before = self.history_held
        if len(history) == history.maxlen:
            self.forget_oldest()
        history.append(kept)
        size = kept.kept_size()
        self.frame_bytes += size
        self.history_held += size + len(kept.enveloped)
        while self.frame_bytes > max_bytes:
            self.forget_oldest()
        return self.history_held - before

    def forget_oldest(self) -> int:
        """Drop the oldest kept message (and its envelope); the bytes freed."""
        assert self.history
        oldest = self.history.popleft()
        size = oldest.kept_size() + len(oldest.enveloped)
        self.frame_bytes -= oldest.kept_size()
        self.history_held -= size
        self.evicted = True
        return size

    def envelopes(self, kept: Sequence[RoomMessage], budget: int) -> tuple[list[bytes], int]:
        """The envelope frames of the newest of ``kept`` (messages of this history, oldest
        first) that fit in ``budget`` bytes, oldest first, and the bytes of envelopes built
        (and now held) for it: each is built once, when first needed, and kept."""
        chosen: list[bytes] = []
        size = built = 0
        for message in reversed(kept):
            if not message.enveloped:
                message.enveloped = kept_envelope(message)
                built += len(message.enveloped)
            size += len(message.enveloped)
            if size > budget:
                break
            chosen.append(message.enveloped)
        chosen.reverse()
        self.history_held += built
        return chosen, built
