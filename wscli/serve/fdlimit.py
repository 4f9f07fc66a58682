"""`wscli serve` at the file-descriptor limit: use what the system allows, and say so when it
runs out, rather than fail at accept time in a way each event loop reports differently.

Every client costs the server one descriptor. Left alone, the process stops at the soft
``RLIMIT_NOFILE`` (often 1,024) while the hard limit allows far more, and once it is reached
``accept()`` fails: clients wait in the kernel's queue with no answer, and nothing is logged.
This module holds what the server needs to do better, apart from the server itself:

- :func:`raise_limit` raises the soft limit to the hard one (or to ``--max-fds N``) at
  start, as Go does since 1.19; where the platform has no such limit it does nothing.
- :class:`FdBudget` knows, cheaply, how many descriptors are open: each connection is
  counted when accepted and when it ends, and the directory of open descriptors is listed
  only now and then, near the limit, to correct for everything else (logs, Redis, TLS).
  :meth:`FdBudget.has_room` keeps a margin free, so the server can still accept a connection
  and answer it ``503`` with ``Retry-After`` instead of letting ``accept()`` fail.
- :class:`FdGuard` counts the connections refused for lack of descriptors (those 503s, and
  failed accepts) and writes one line per burst through a callback, and says whether the
  server is degraded (for ``/healthz``).

:mod:`wscli.serve.acceptor` applies them as each connection is accepted.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import os
import time
from collections.abc import Callable

from wscli.core.errors import UsageProblem

MARGIN = 24
"""Descriptors kept free near the limit: logs, Redis, TLS files, and the refusals themselves
(each refused client holds one until its 503 is written)."""

RECOUNT_INTERVAL = 1.0
"""Seconds between two listings of the open descriptors (only near the limit)."""

NEAR = 4
"""Within ``NEAR * margin`` of the limit, the estimate is corrected by a listing."""

RETRY_AFTER = 5
"""Seconds a refused client is told to wait (``Retry-After``)."""

REFUSAL_TEXT = "server out of file descriptors: try again later\n"

WINDOW = 1.0
"""Seconds over which refusals are counted into one log line."""

_FD_DIRS = ("/proc/self/fd", "/dev/fd")


@dataclasses.dataclass(frozen=True)
class Limit:
    """The descriptor limit the server runs with; ``soft`` None: no limit known."""

    soft: int | None
    hard: int | None = None
    raised_from: int | None = None
    """The soft limit before :func:`raise_limit` changed it (None: unchanged)."""

    def describe(self) -> str:
        """For the ``-v`` banner: ``file descriptors: limit 4,096 (raised from 1,024)``."""
        if self.soft is None:
            return "file descriptors: no limit"
        text = f"file descriptors: limit {self.soft:,}"
        if self.raised_from is not None:
            verb = "raised" if self.raised_from < self.soft else "lowered"
            text += f" ({verb} from {self.raised_from:,})"
        return text


def _finite(value: int, infinity: int) -> int | None:
    return None if value == infinity or value < 0 else value


def current_limit() -> Limit:
    """The soft and hard ``RLIMIT_NOFILE`` now (``Limit(None)`` where there is none)."""
    try:
        import resource
    except ImportError:  # Windows: no such limit
        return Limit(None)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    infinity = resource.RLIM_INFINITY
    return Limit(_finite(soft, infinity), _finite(hard, infinity))


def raise_limit(wanted: int | None = None) -> Limit:
    """Set the soft ``RLIMIT_NOFILE`` to ``wanted``, or else to the hard limit.

    An unlimited hard limit is left alone unless ``wanted`` says a number (macOS reports
    one but refuses it as a soft limit). ``wanted`` above the hard limit is a usage
    error: only root can raise the hard limit. A refusal by the system keeps the limit
    as it was (the server runs; the banner says the figure).
    """
    try:
        import resource
    except ImportError:
        if wanted is not None:
            raise UsageProblem("--max-fds: this platform has no descriptor limit") from None
        return Limit(None)
    now = current_limit()
    if wanted is not None and now.hard is not None and wanted > now.hard:
        raise UsageProblem(
            f"--max-fds {wanted} is above the hard limit ({now.hard})",
            hint="raise the hard limit first (ulimit -Hn, LimitNOFILE= in systemd)",
        )
    target = wanted if wanted is not None else now.hard
    if target is None or target == now.soft:
        return now
    hard = resource.RLIM_INFINITY if now.hard is None else now.hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        return now
    return Limit(target, now.hard, now.soft)


def count_open() -> int | None:
    """How many descriptors this process has open, or None when it cannot tell.

    Lists ``/proc/self/fd`` (Linux) or ``/dev/fd`` (BSD, macOS); costs about a microsecond
    per descriptor, so it is called now and then, never per connection. The listing opens
    a descriptor of its own, which it also lists: not counted. Out of descriptors, the
    listing itself fails: None.
    """
    for directory in _FD_DIRS:
        try:
            return len(os.listdir(directory)) - 1
        except OSError:
            continue
    return None


class FdBudget:
    """An estimate of the open descriptors, and whether a new client still fits.

    The estimate is ``base + connections``: :meth:`opened` when a connection is accepted,
    :meth:`closed` when it ends (two additions, no system call), and ``base`` —
    everything else — is measured by :func:`count_open` at start and again at most every
    :data:`RECOUNT_INTERVAL` seconds while near the limit. ``clock`` and ``counter`` are
    parameters so that tests can drive it.
    """

    def __init__(
        self,
        limit: int | None,
        *,
        margin: int = MARGIN,
        clock: Callable[[], float] = time.monotonic,
        counter: Callable[[], int | None] = count_open,
    ) -> None:
        self.limit = limit
        # A small limit (--max-fds 64) keeps most of it for clients.
        self.margin = margin if limit is None else min(margin, limit // 4)
        self.connections = 0
        self._clock = clock
        self._counter = counter
        self._base = counter() or 0
        self._counted_at = clock()

    @property
    def open(self) -> int:
        """Descriptors open (the estimate)."""
        return self._base + self.connections

    def opened(self) -> None:
        """A connection was accepted: it holds a descriptor."""
        self.connections += 1

    def closed(self) -> None:
        """A connection ended: its descriptor is (about to be) released."""
        self.connections -= 1

    def has_room(self) -> bool:
        """True while more than the margin stays free: the server may take one more client."""
        limit = self.limit
        if limit is None:
            return True
        if self.open + NEAR * self.margin >= limit:
            self.recount()
        return self.open + self.margin < limit

    def recount(self, force: bool = False) -> None:
        """Correct the estimate by listing the open descriptors (at most once a second)."""
        now = self._clock()
        if not force and now - self._counted_at < RECOUNT_INTERVAL:
            return
        counted = self._counter()
        if counted is not None:
            self._base = counted - self.connections
            self._counted_at = now

    def snapshot(self) -> dict[str, int | None]:
        """``{"open": N, "limit": L}`` for ``/healthz``."""
        return {"open": self.open, "limit": self.limit}


def report_line(open_fds: int, limit: int | None, refused: int) -> str:
    """The one log line of a burst of refusals (pure)."""
    connections = "connection" if refused == 1 else "connections"
    limit_text = f"{limit:,}" if limit is not None else "none"
    return (
        f"out of file descriptors: {open_fds:,} open, limit {limit_text}; {refused:,} "
        f"{connections} refused in the last second — raise ulimit -n or --max-clients"
    )


Report = Callable[[int, "int | None", int], None]
"""Called with (open, limit, refused) once per burst; open: the most at a refusal."""


class FdGuard:
    """The server's side of the limit: refusals counted and reported once per burst.

    :meth:`refused` is called for each client turned away for lack of descriptors; the
    first of a burst schedules a report :data:`WINDOW` later, which calls ``report`` with
    the count, so a thousand refusals make one line, not a thousand. While refusals go on,
    one line per window follows.
    """

    def __init__(self, budget: FdBudget, report: Report, *, window: float = WINDOW) -> None:
        self.budget = budget
        self._report = report
        self._window = window
        self._refused = 0
        self.refused_total = 0  # since the start (for /metrics)
        self._peak = 0  # most descriptors open at a refusal of this window
        self._timer: asyncio.TimerHandle | None = None
        self._last_refusal = -math.inf

    def admits(self) -> bool:
        """Whether a new client fits (see :meth:`FdBudget.has_room`)."""
        return self.budget.has_room()

    def closed(self) -> None:
        """A connection counted by the acceptor ended."""
        self.budget.closed()

    def refused(self) -> None:
        """One client turned away (a 503, or a failed accept())."""
        self._refused += 1
        self.refused_total += 1
        self._peak = max(self._peak, self.budget.open)
        loop = asyncio.get_running_loop()
        self._last_refusal = loop.time()
        if self._timer is None:
            self._timer = loop.call_later(self._window, self._flush)

    @property
    def degraded(self) -> bool:
        """True while the server refuses clients for lack of descriptors."""
        if self._timer is not None:
            return True
        if self.budget.limit is None:
            return False
        recent = asyncio.get_running_loop().time() - self._last_refusal < self._window
        return recent or not self.budget.has_room()

    def close(self) -> None:
        """Report what is counted now (at shutdown) and stop the timer."""
        if self._timer is not None:
            self._timer.cancel()
            self._flush()

    def _flush(self) -> None:
        self._timer = None
        refused, self._refused = self._refused, 0
        peak, self._peak = self._peak, 0
        if refused:
            self._report(peak, self.budget.limit, refused)
