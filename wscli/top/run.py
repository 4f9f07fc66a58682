"""`wscli top`'s loop: read the server, draw a frame, wait, again.

On a terminal it draws full screen (the alternate screen, restored at the end) about twice a
second until Ctrl-C. Frames are written by :class:`FrameWriter`'s own thread: when the
terminal stops reading (a stopped ``ssh``, Ctrl-S), the newest frame replaces the one still
waiting and the loop goes on reading the server, so nothing waits for the terminal but the
writer. Off a terminal it prints one plain frame (rates from two readings) and ends.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TextIO

from wscli.core.errors import WscliError, format_error
from wscli.top.model import Snapshot, Watch
from wscli.top.scrape import Reading, Scraper
from wscli.top.view import render

ENTER = "\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J"  # alternate screen, cursor hidden, cleared
LEAVE = "\x1b[?25h\x1b[?1049l"
CLOSE_WAIT = 1.0  # seconds the end waits for the terminal to take the last bytes


class FrameWriter:
    """Writes frames to ``fd`` from a thread; never makes its caller wait."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._pending: str | None = None
        self._closing = False
        self.dropped = 0  # frames replaced before the terminal took them
        self._thread = threading.Thread(target=self._run, name="wscli-top-draw", daemon=True)
        self._thread.start()

    def show(self, data: str) -> None:
        """Write ``data`` soon; a frame still waiting is dropped for it."""
        with self._lock:
            if self._pending is not None:
                self.dropped += 1
            self._pending = data
            self._ready.set()

    def close(self, last: str = "", timeout: float = CLOSE_WAIT) -> None:
        """Write ``last`` after whatever is waiting (bounded by ``timeout``), then stop."""
        with self._lock:
            self._pending = (self._pending or "") + last
            self._closing = True
            self._ready.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            self._ready.wait()
            with self._lock:
                data, self._pending = self._pending, None
                self._ready.clear()
                closing = self._closing
            if data and not self._write(data.encode("utf-8", "replace")):
                return
            if closing:
                with self._lock:
                    if self._pending is None:
                        return

    def _write(self, data: bytes) -> bool:
        try:
            while data:
                data = data[os.write(self._fd, data) :]
        except OSError:
            return False  # the terminal went away: nothing more to show
        return True


def frame_bytes(frame: str) -> str:
    """A rendered frame as screen updates: from the top left, each line cleared to its end,
    nothing below it (no newline after the last line: a full screen must not scroll)."""
    return "\x1b[H" + frame.rstrip("\n").replace("\n", "\x1b[K\r\n") + "\x1b[K\x1b[J"


class _Stop(Exception):
    """SIGTERM or SIGHUP: end as after Ctrl-C."""


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def read_into(watch: Watch, scraper: Scraper) -> Reading:
    """One reading of the server, added to ``watch``."""
    reading = scraper.read()
    lines = [str(e.get("line", "")) for e in reading.events]
    watch.add(Snapshot.of(reading.at, reading.samples), reading.health, lines)
    return reading


def live(
    scraper: Scraper,
    out: TextIO,
    *,
    interval: float,
    color: bool,
    size: Callable[[], os.terminal_size] | None = None,
) -> None:
    """Draw on the terminal ``out`` every ``interval`` seconds until Ctrl-C (or SIGTERM)."""
    fd = out.fileno()
    measure = size or (lambda: os.get_terminal_size(fd))
    watch = Watch()
    read_into(watch, scraper)  # unreachable, refused: the error, before any drawing
    ends = [getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]
    previous = {s: signal.signal(s, _stop) for s in ends}
    writer = FrameWriter(fd)
    writer.show(ENTER)
    try:
        while True:
            started = time.monotonic()
            columns, lines = measure()
            writer.show(frame_bytes(render(watch, columns, lines, color, scraper.shown)))
            time.sleep(max(interval - (time.monotonic() - started), 0.05))
            try:
                read_into(watch, scraper)
            except WscliError as exc:
                watch.error = f"{format_error(exc, prefix='')} (retrying)"
    except (KeyboardInterrupt, _Stop):
        pass
    finally:
        writer.close(LEAVE)
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def snapshot(scraper: Scraper, out: TextIO, *, interval: float, width: int) -> None:
    """Print one plain frame (two readings ``interval`` apart, for the rates)."""
    watch = Watch()
    read_into(watch, scraper)
    time.sleep(interval)
    read_into(watch, scraper)
    out.write(render(watch, width, None, False, scraper.shown))
    out.flush()
