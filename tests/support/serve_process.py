"""A real `wscli serve` in a subprocess, for the tests that need whole servers (page, Redis).

The server says where it listens in its banner on stderr:
``Serving chat on http://HOST:PORT/ (WebSocket ws://HOST:PORT/chat)``; :class:`ServeProcess`
waits for that line and keeps draining stderr in a thread (so a chatty server never blocks
on a full pipe) for assertions and failure messages.
"""

from __future__ import annotations

import queue
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Mapping

from tests.support import STARTUP_TIMEOUT, clean_env, scaled, wscli_command

BANNER = re.compile(
    r"Serving chat on (?P<http>(?P<scheme>https?)://(?P<host>[^/]+):(?P<port>\d+)/) "
    r"\(WebSocket wss?://(?P=host):(?P=port)/chat\)"
)


def free_port() -> int:
    """A port nothing listens on now (for "nothing there" tests and fixed-port servers)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServeProcess:
    """One `wscli serve ...` subprocess; use as a context manager or call :meth:`stop`.

    ``port=None`` leaves ``--port`` off (for tests of its default and WSCLI_PORT).
    ``nofile=(soft, hard)`` starts it under that ``RLIMIT_NOFILE`` (``ulimit -Sn -Hn``).
    """

    def __init__(
        self,
        *args: str,
        port: int | None = 0,
        env: Mapping[str, str] | None = None,
        nofile: tuple[int, int] | None = None,
    ) -> None:
        def limit() -> None:
            if nofile is not None:
                import resource

                resource.setrlimit(resource.RLIMIT_NOFILE, nofile)

        self.proc = subprocess.Popen(
            [*wscli_command(), "serve", *([] if port is None else ["--port", str(port)]), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=clean_env(env),
            preexec_fn=limit if nofile is not None else None,
        )
        self.stderr_lines: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        self._stdout = b""
        self._out_reader = threading.Thread(target=self._drain_stdout, daemon=True)
        self._out_reader.start()
        self.http_url = ""
        self.port = 0
        self.match: re.Match[str] | None = None
        self._wait_banner()

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.stderr_lines.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def _drain_stdout(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self._stdout += raw

    def _wait_banner(self) -> None:
        match = self.wait_for_stderr(BANNER, timeout=STARTUP_TIMEOUT)
        if match is None:
            self.stop()
            raise AssertionError(f"no banner from wscli serve; stderr: {self.stderr}")
        self.match = match
        self.http_url = match["http"]
        self.port = int(match["port"])

    def wait_for_stderr(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str] | None:
        """The first new stderr line matching ``pattern``, or None (timeout or process end)."""
        deadline = time.monotonic() + scaled(timeout)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                return None
            if line is None:
                self._lines.put(None)  # stay at end-of-stream for later calls
                return None
            match = pattern.search(line)
            if match:
                return match

    def ws_url(self, path: str = "/chat") -> str:
        """The WebSocket URL of room ``path`` on this server."""
        return f"ws://127.0.0.1:{self.port}{path}"

    @property
    def stderr(self) -> str:
        return "\n".join(self.stderr_lines)

    @property
    def stdout(self) -> bytes:
        return self._stdout

    def wait(self, timeout: float = 10) -> int:
        """Wait for the process to end (by itself or a signal sent); its exit code."""
        code = self.proc.wait(timeout=scaled(timeout))
        self._reader.join(timeout=scaled(5))
        self._out_reader.join(timeout=scaled(5))
        return code

    def stop(self) -> int:
        """SIGTERM (graceful), then SIGKILL if it lingers; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=scaled(10))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=scaled(10))
        self._reader.join(timeout=scaled(5))
        self._out_reader.join(timeout=scaled(5))
        return self.proc.returncode

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
