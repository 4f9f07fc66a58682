"""The total-backlog budget of `wscli serve` (``--max-total-queue``).

``--max-queue`` bounds each client's unsent bytes; without a total, many clients that stop
reading at once could still hold ``max_queue`` each. The transport says when a client's
unsent bytes pass its write limit (``pause_writing``): only those clients are watched.

The budget keeps an estimate of what they hold — their buffers at the last check plus
everything written to them since — so a burst (a history replay to hundreds of newcomers,
a broadcast to clients already behind) is checked at once, when it happens, not at the next
periodic check. The exact check sums the real buffers and drops the clients with the
largest backlogs first; it also runs every :data:`CHECK_PERIOD` seconds while any client
is behind, because buffers also shrink as clients read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

CHECK_PERIOD = 0.05  # seconds between checks while some client is backlogged


class Backlogged(Protocol):
    """A client whose unsent bytes can be measured."""

    @property
    def joined(self) -> bool: ...

    def buffered(self) -> int: ...


class BacklogBudget:
    """Keeps the unsent bytes of all backlogged clients under ``limit`` by dropping some."""

    def __init__(self, limit: int, drop: Callable[[Backlogged, int], None]) -> None:
        self.limit = limit
        self._drop = drop
        self._backlogged: set[Backlogged] = set()
        self._estimate = 0
        self._timer: asyncio.TimerHandle | None = None
        self._check_soon = False
        self.stopped = False

    @property
    def behind(self) -> int:
        """How many clients are past their write limit now (for /metrics)."""
        return len(self._backlogged)

    @property
    def held(self) -> int:
        """The unsent bytes of the backlogged clients, as last estimated (for /healthz)."""
        return self._estimate

    def backlogged(self, client: Backlogged, size: int) -> None:
        """``client`` passed its write limit with ``size`` bytes unsent."""
        self._backlogged.add(client)
        self.wrote(size)
        if self._timer is None and not self.stopped:
            self._timer = asyncio.get_running_loop().call_later(CHECK_PERIOD, self._periodic)

    def wrote(self, size: int) -> None:
        """``size`` more bytes were queued for a backlogged client.

        Over the limit, the exact check runs as soon as the current callback returns (not
        inside it: this is called from the middle of the hub's fan-out loop).
        """
        self._estimate += size
        if self._estimate > self.limit and not self._check_soon and not self.stopped:
            self._check_soon = True
            asyncio.get_running_loop().call_soon(self.check)

    def drained(self, client: Backlogged) -> None:
        """``client`` is below its write limit again, or gone."""
        self._backlogged.discard(client)

    def check(self) -> None:
        """Measure the backlogged clients; over the limit, drop the largest first."""
        self._check_soon = False
        backlog = [(c.buffered(), c) for c in self._backlogged if c.joined]
        total = sum(size for size, _ in backlog)
        if total > self.limit:
            backlog.sort(key=lambda entry: entry[0], reverse=True)
            for size, client in backlog:
                if total <= self.limit:
                    break
                self._backlogged.discard(client)
                self._drop(client, size)
                total -= size
        self._estimate = total

    def stop(self) -> None:
        """No more periodic checks (shutdown)."""
        self.stopped = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _periodic(self) -> None:
        self._timer = None
        self.check()
        if self._backlogged and not self.stopped:
            self._timer = asyncio.get_running_loop().call_later(CHECK_PERIOD, self._periodic)
