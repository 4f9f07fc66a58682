"""Lines for a stream that may stop being read (a paused terminal, ``| less`` left open, a
full pipe): written by a background thread from a queue bounded in bytes, so the writer of
the lines — the proxy's relay — never waits for the reader.

Past the bound, lines are dropped and counted; when the reader catches up, a line made by
the caller's ``gap`` function says how many were lost, in the stream itself, so a reader of
the stream knows there is a hole. A stream that is closed (EPIPE) is reported once to
``on_broken`` (from the writer thread: the callback must be thread-safe).

A stream without a file descriptor (a ``StringIO`` in tests) is written at once, as before.
"""

from __future__ import annotations

import collections
import os
import threading
from collections.abc import Callable
from typing import TextIO

QUEUE_BYTES = 16 * 1024 * 1024
"""Default bound of what waits for the reader."""


class LineWriter:
    """A write-only text stream over ``stream`` that never blocks its caller."""

    def __init__(
        self,
        stream: TextIO,
        gap: Callable[[int], str],
        on_broken: Callable[[], None] | None = None,
        max_bytes: int = QUEUE_BYTES,
    ) -> None:
        self.stream = stream
        self.gap = gap
        self.on_broken = on_broken
        self.max_bytes = max_bytes
        self.dropped = 0
        """Lines dropped so far (all of them, for the final count)."""
        self.broken = False
        # Lines, and where lines were dropped: the count, said in the stream at its place.
        self._pending: collections.deque[str | int] = collections.deque()
        self._bytes = 0
        self._lock = threading.Condition()
        self._closing = False
        self._fd: int | None
        try:
            self._fd = stream.fileno()
        except (OSError, ValueError, AttributeError):
            self._fd = None
        self._encoding = getattr(stream, "encoding", None) or "utf-8"
        self._thread: threading.Thread | None = None
        if self._fd is not None:
            self._thread = threading.Thread(target=self._run, name="wscli-lines", daemon=True)
            self._thread.start()

    def write(self, text: str) -> int:
        """Queue ``text`` (whole lines); dropped and counted when the queue is full."""
        if self.broken:
            return len(text)
        if self._thread is None:
            try:
                self.stream.write(text)
            except BrokenPipeError:
                self._broke()
            return len(text)
        with self._lock:
            if self._bytes + len(text) > self.max_bytes:
                lines = text.count("\n") or 1
                self.dropped += lines
                pending = self._pending
                if pending and isinstance(pending[-1], int):
                    pending[-1] += lines
                else:
                    pending.append(lines)
                self._lock.notify()
                return len(text)
            self._pending.append(text)
            self._bytes += len(text)
            self._lock.notify()
        return len(text)

    def flush(self) -> None:
        """Nothing to wait for: the thread writes as soon as lines come (a stream without
        a descriptor is flushed now)."""
        if self._thread is None and not self.broken:
            try:
                self.stream.flush()
            except BrokenPipeError:
                self._broke()

    def close(self, timeout: float = 2.0) -> None:
        """Write what is queued, waiting at most ``timeout`` seconds for the reader."""
        if self._thread is None:
            self.flush()
            return
        with self._lock:
            self._closing = True
            self._lock.notify()
        self._thread.join(timeout)

    def _broke(self) -> None:
        if not self.broken:
            self.broken = True
            if self.on_broken is not None:
                self.on_broken()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._closing:
                    self._lock.wait()
                if not self._pending:
                    return  # closing, and all written
                items = list(self._pending)
                self._pending.clear()
                self._bytes = 0
            chunk = "".join(self.gap(item) if isinstance(item, int) else item for item in items)
            if not self._write(chunk.encode(self._encoding, "backslashreplace")):
                self._broke()
                return

    def _write(self, data: bytes) -> bool:
        assert self._fd is not None
        try:
            while data:
                data = data[os.write(self._fd, data) :]
        except BrokenPipeError:
            return False
        except OSError:
            return False
        return True
