"""A last-resort guard for `connect --timeout` when the event loop itself is stuck.

The pipe writes received messages to stdout with blocking writes (flushed per message, as
a pipe tool should). When the reader of stdout stops reading (``| sleep 12``), a write
blocks the event loop, and with it every timer: ``--timeout 4`` once ran 13 s.
This thread, started with the deadline, checks after it whether the loop still answers;
when it does not (blocked in a write) it calls ``expire`` with the TimedOut error: the CLI
layer's :func:`wscli.cli.exit_now` prints the usual line and exits 6, as the deadline
promises. A responsive loop ends the session itself (closing politely); if even that takes
longer than ``grace`` seconds, ``expire`` is called all the same.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from wscli.core.errors import TimedOut, WscliError

Expire = Callable[[WscliError], None]
"""Ends the process with the error's line and exit code (from a thread)."""

PROBE = 0.25
"""Seconds the loop has to answer a probe before it counts as blocked."""


class DeadlineWatchdog:
    """Ends the process with ``error``'s exit code once ``deadline`` (loop time) has passed
    and the loop is blocked, or ``grace`` seconds after it in any case."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, timeout: float, grace: float, expire: Expire
    ) -> None:
        self.loop = loop
        self.expire = expire
        self.timeout = timeout
        self.grace = grace
        self.error = TimedOut(f"timed out after {timeout:g} s (--timeout)")
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wscli-deadline", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """The session has ended on its own: stand down."""
        self._done.set()

    def _responsive(self) -> bool:
        answered = threading.Event()
        try:
            self.loop.call_soon_threadsafe(answered.set)
        except RuntimeError:  # the loop is closed: the session is over
            return True
        return answered.wait(PROBE)

    def _run(self) -> None:
        if self._done.wait(self.timeout):
            return
        waited = 0.0
        while waited < self.grace:
            if self._done.is_set():
                return
            if not self._responsive() and not self._done.is_set():
                break  # blocked (in a stdout write): the loop cannot keep the deadline
            waited += PROBE
            if self._done.wait(PROBE):
                return
        self.expire(self.error)
