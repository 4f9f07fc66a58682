"""One timer for many deadlines of the same length: the handshake timeout of every
connection of a server.

A timer per connection (``loop.call_later``) costs a handle, a heap entry and a cancel for
every handshake, and an object per connection in flight; here a connection is one entry in
an insertion-ordered dict, and with one length for all, the first entry is always the first
to expire. One loop timer is armed for it; when it fires, every expired entry is handed to
``expired`` and the timer is armed again for the new first. Removing an entry (the
handshake ended) is one dict deletion; the timer may then fire early and find nothing due.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

Item = TypeVar("Item", bound=Hashable)


class Deadlines(Generic[Item]):
    """Calls ``expired(item)`` for each item still here ``delay`` seconds after its
    :meth:`add`."""

    def __init__(self, delay: float, expired: Callable[[Item], None]) -> None:
        self.delay = delay
        self._expired = expired
        self._due: dict[Item, float] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __len__(self) -> int:
        return len(self._due)

    def __contains__(self, item: object) -> bool:
        return item in self._due

    def add(self, item: Item) -> None:
        """Start ``item``'s deadline (again, if it had one)."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        due = self._due
        due.pop(item, None)
        due[item] = loop.time() + self.delay
        if self._timer is None:
            self._timer = loop.call_at(due[item], self._fire)

    def discard(self, item: Item) -> None:
        """``item`` met its deadline (or is gone): forget it."""
        self._due.pop(item, None)

    def close(self) -> None:
        """Forget every deadline and stop the timer."""
        self._due.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self) -> None:
        self._timer = None
        loop = self._loop
        assert loop is not None
        now = loop.time()
        due = self._due
        late: list[Item] = []
        for item, when in due.items():
            if when > now:
                break
            late.append(item)
        for item in late:
            del due[item]
        if due:
            self._timer = loop.call_at(next(iter(due.values())), self._fire)
        for item in late:
            try:
                self._expired(item)
            except Exception as exc:  # one that raises stops no other deadline
                loop.call_exception_handler({"message": "deadline expiry failed", "exception": exc})
