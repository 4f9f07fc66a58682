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
