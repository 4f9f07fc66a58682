"""A real `wscli proxy` in a subprocess, for the proxy's end-to-end tests.

The proxy says where it listens in its banner on stderr: ``Proxying ws://HOST:PORT to
URL``; :class:`ProxyProcess` waits for it and drains stdout and stderr in threads (a chatty
proxy never blocks on a full pipe), so tests can read both afterwards.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from typing import Any

from tests.support import clean_env, scaled, wscli_command

BANNER = re.compile(r"Proxying (?P<url>wss?://127\.0\.0\.1:(?P<port>\d+)) to ")


class ProxyProcess:
    """``wscli proxy UPSTREAM --port 0 ARGS...``; use as a context manager."""

    def __init__(self, upstream: str, *args: str, env: Mapping[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [*wscli_command(), "proxy", upstream, "--port", "0", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=clean_env(env),
        )
        self._stdout: list[str] = []
        self._stderr: list[str] = []
        self._threads = [
            threading.Thread(target=self._drain, args=(stream, into), daemon=True)
            for stream, into in ((self.proc.stdout, self._stdout), (self.proc.stderr, self._stderr))
        ]
        for thread in self._threads:
            thread.start()
        match = self.wait_for(BANNER, stream="stderr", timeout=15)
        if match is None:
            self.stop()
            raise AssertionError(f"no banner from wscli proxy; stderr: {self.stderr}")
        self.url = match["url"]
        self.port = int(match["port"])

    @staticmethod
    def _drain(stream: Any, into: list[str]) -> None:
        for raw in stream:
            into.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def wait_for(
        self, pattern: re.Pattern[str] | str, stream: str = "stdout", timeout: float = 10
    ) -> re.Match[str] | None:
        """The first line of ``stream`` (so far or soon) matching ``pattern``, or None."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        lines = self._stdout if stream == "stdout" else self._stderr
        deadline = time.monotonic() + scaled(timeout)
        while time.monotonic() < deadline:
            for line in list(lines):
                found = regex.search(line)
                if found:
                    return found
            if self.proc.poll() is not None and not any(t.is_alive() for t in self._threads):
                return None
            time.sleep(0.02)
        return None

    def events(self) -> list[dict[str, Any]]:
        """The NDJSON events written so far (with --json)."""
        return [json.loads(line) for line in list(self._stdout) if line.startswith("{")]

    def wait_for_event(self, predicate: Any, timeout: float = 10) -> dict[str, Any] | None:
        """The first event for which ``predicate(event)`` is true, or None after ``timeout``."""
        deadline = time.monotonic() + scaled(timeout)
        while time.monotonic() < deadline:
            for event in self.events():
                if predicate(event):
                    return event
            time.sleep(0.02)
        return None

    def ws_url(self, path: str = "/") -> str:
        return f"{self.url}{path}"

    @property
    def stdout(self) -> str:
        return "\n".join(self._stdout)

    @property
    def stderr(self) -> str:
        return "\n".join(self._stderr)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Send ``sig`` (graceful), SIGKILL if it lingers; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=scaled(10))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=scaled(10))
        for thread in self._threads:
            thread.join(timeout=scaled(5))
        return self.proc.returncode

    def __enter__(self) -> ProxyProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> ProxyProcess:
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Stops the proxy from a thread, so that the test's event loop goes on running what
        the test serves on it: an upstream there answers the proxy's closing handshake at
        once. (Stopped from the loop itself, each such test waited out the proxy's 2 s close
        timeout.)"""
        await asyncio.to_thread(self.stop)
