"""A program in a pty mirrored on a pyte screen: what the prompt and `wscli top` tests read."""

from __future__ import annotations

import time
from collections.abc import Callable

import pexpect
import pyte

from tests.support import scaled


class PtyScreen:
    """``child``'s output fed to ``screen``; ``raw`` keeps every byte it wrote."""

    WAIT = 10.0  # default seconds for wait_for (scaled)

    def __init__(self, child: pexpect.spawn, screen: pyte.Screen) -> None:
        self.child = child
        self.screen = screen
        self.stream = pyte.ByteStream(screen)
        self.raw = b""

    def pump(self, seconds: float = 0.1) -> None:
        """Read what the child writes for ``seconds`` (until it exits)."""
        end = time.monotonic() + seconds
        while True:
            try:
                data = self.child.read_nonblocking(65536, timeout=0.05)
                self.raw += data
                self.stream.feed(data)
            except pexpect.TIMEOUT:
                pass
            except pexpect.EOF:
                return
            if time.monotonic() >= end:
                return

    def skim_until(self, needle: bytes, seconds: float | None = None, keep: int = 1 << 16) -> None:
        """Read what the child writes until ``needle`` is in it, then draw only the last
        ``keep`` bytes read (on a cleared screen). For bulk output whose end is what the test
        looks at: pyte draws about 150 KB a second (1 MiB of text: 6.8 s), so drawing it all
        timed pyte, not the program."""
        end = time.monotonic() + scaled(self.WAIT if seconds is None else seconds)
        start = searched = len(self.raw)
        while self.raw.find(needle, max(start, searched - len(needle))) < 0:
            searched = len(self.raw)
            if time.monotonic() >= end:
                raise AssertionError(f"{needle!r} never came; the last bytes: {self.raw[-500:]!r}")
            try:
                self.raw += self.child.read_nonblocking(65536, timeout=0.05)
            except pexpect.TIMEOUT:
                pass
            except pexpect.EOF:
                raise AssertionError(f"the program ended before {needle!r}") from None
        self.screen.reset()
        self.stream.feed(self.raw[max(start, len(self.raw) - keep) :])

    @property
    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.screen.display)

    def wait_for(self, predicate: Callable[[str], bool], seconds: float | None = None) -> str:
        end = time.monotonic() + scaled(self.WAIT if seconds is None else seconds)
        while time.monotonic() < end:
            self.pump(0.05)
            if predicate(self.text):
                return self.text
        raise AssertionError(f"the screen never matched; it shows:\n{self.text}")
