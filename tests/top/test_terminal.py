"""`wscli top` in a real pseudo-terminal (pexpect runs the installed command, pyte renders
what it writes) against a real `wscli serve` under load: 80x24 and 40x12, colour and
NO_COLOR, a terminal that stops reading, Ctrl-C."""

from __future__ import annotations

import asyncio
import fcntl
import functools
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pexpect
import pyte
import pytest
from websockets.asyncio.client import connect

from tests.support import clean_env, scaled, wscli_command
from tests.support.ptyscreen import PtyScreen
from tests.support.serve_process import ServeProcess


class Load:
    """Clients in a few rooms sending all the time, from their own thread and event loop."""

    def __init__(self, url: Callable[[str], str], rooms: int = 3, per_room: int = 2) -> None:
        self._url = url
        self._rooms, self._per_room = rooms, per_room
        self._stop = threading.Event()
        self.sent = 0
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()

    async def _run(self) -> None:
        conns = [
            await connect(self._url(f"/load-{room}"), proxy=None, open_timeout=scaled(10))
            for room in range(self._rooms)
            for _ in range(self._per_room)
        ]
        readers = [asyncio.create_task(self._drain(ws)) for ws in conns]
        try:
            while not self._stop.is_set():
                for n, ws in enumerate(conns):
                    if n % self._per_room == 0:  # one sender per room, more in /load-0
                        for _ in range(1 + 4 * (n == 0)):
                            await ws.send("x" * 64)
                            self.sent += 1
                await asyncio.sleep(0.005)
        finally:
            for task in readers:
                task.cancel()
            for ws in conns:
                await ws.close()

    async def _drain(self, ws: object) -> None:
        async for _ in ws:  # type: ignore[attr-defined]
            pass

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=scaled(10))


class Terminal(PtyScreen):
    """`wscli top URL` in a pty of ``rows`` x ``cols``, mirrored on a pyte screen."""

    WAIT = 15.0

    def __init__(self, url: str, rows: int, cols: int, env: dict[str, str], *args: str) -> None:
        child = pexpect.spawn(
            wscli_command()[0],
            [*wscli_command()[1:], "top", url, *args],
            env=clean_env({"TERM": "xterm", "COLUMNS": str(cols), "LINES": str(rows), **env}),
            dimensions=(rows, cols),
            timeout=scaled(10),
        )
        super().__init__(child, pyte.Screen(cols, rows))

    def quit(self) -> int | None:
        self.child.kill(signal.SIGINT)
        end = time.monotonic() + scaled(10)
        while self.child.isalive() and time.monotonic() < end:
            self.pump(0.05)
        self.child.close()
        return self.child.exitstatus


@pytest.fixture(scope="module")
def server() -> Iterator[ServeProcess]:
    with ServeProcess("--metrics-rooms", "5") as serving:
        yield serving


@pytest.fixture
def load(server: ServeProcess) -> Iterator[Load]:
    running = Load(server.ws_url)
    try:
        yield running
    finally:
        running.stop()


def busy(text: str) -> bool:
    """The screen shows traffic both ways and the busiest room first."""
    rate = re.search(r"in +([\d.]+)k? msg/s", text)
    out = re.search(r"out +([\d.]+)k? msg/s", text)
    return bool(rate and out and float(rate[1]) > 0 and float(out[1]) > 0)


def test_80x24_under_load(server: ServeProcess, load: Load) -> None:
    term = Terminal(server.http_url, 24, 80, {"NO_COLOR": "1"})
    try:
        text = term.wait_for(lambda t: busy(t) and "/load-0" in t and "connected from" in t)
        for needle in (
            "wscli top",
            "clients 6",
            "rooms 3",
            "fds",
            "fan-out p50/p99",
            "slow: behind 0",
            "refused/min:",
            "redis not used",
            "busiest rooms",
            "log",
        ):
            assert needle in text, (needle, text)
        rooms = [line for line in text.splitlines() if line.startswith("/load-")]
        assert rooms[0].startswith("/load-0"), text  # five times the others' traffic
        assert "\x1b[3" not in term.raw.decode("utf-8", "replace")  # NO_COLOR: no colours
        assert all(
            char.fg == "default" for line in term.screen.buffer.values() for char in line.values()
        )
    finally:
        assert term.quit() == 0
    assert term.raw.endswith(b"\x1b[?25h\x1b[?1049l")  # the screen is given back


def test_40x12_under_load_in_colour(server: ServeProcess, load: Load) -> None:
    term = Terminal(server.http_url, 12, 40, {})
    try:
        text = term.wait_for(busy)
        for needle in ("wscli top", "clients", "rooms", "msg/s"):
            assert needle in text, (needle, text)
        colours = {c.fg for line in term.screen.buffer.values() for c in line.values()}
        assert colours - {"default"}, "no colour without NO_COLOR on a colour terminal"
    finally:
        assert term.quit() == 0


def test_a_terminal_that_stops_reading_is_not_waited_for() -> None:
    """The pty is not read for a while: top's frames pile up in it and its writer blocks,
    but top goes on reading the server (the server's -v log shows its GETs), then shows
    the newest frame when the terminal reads again."""
    with ServeProcess("-v") as server:
        load = Load(server.ws_url)
        try:
            stalled_terminal(server)
        finally:
            load.stop()


def stalled_terminal(server: ServeProcess) -> None:
    # Ten frames a second, in colour: the pty's buffer (64 KiB) is full within seconds.
    term = Terminal(server.http_url, 60, 200, {}, "--interval", "0.1")
    scrapes = re.compile(r"GET /metrics -> 200")

    def count() -> int:
        return sum(1 for line in server.stderr_lines if scrapes.search(line))

    def until(done: Callable[[], bool], what: str) -> None:
        end = time.monotonic() + scaled(10)
        while not done():
            assert time.monotonic() < end, what
            time.sleep(0.02)

    try:
        term.wait_for(busy)
        pid = term.child.pid
        until(lambda: writing_to_terminal(pid), "top's writer never blocked on the pty")
        before = count()
        until(lambda: count() - before >= 5, "top stopped reading the server with its terminal")
        assert writing_to_terminal(pid), "the pty was never read: top's writer is still stuck"
        assert term.child.isalive()
        term.screen.reset()
        term.wait_for(busy)  # it draws again
    finally:
        assert term.quit() == 0


@functools.cache
def write_syscall() -> str:
    """This kernel's number of the write system call, as ``/proc/*/syscall`` shows it: read
    off a thread of ours blocked writing to a full pipe (the number differs by CPU)."""
    read_end, write_end = os.pipe()
    try:
        size = fcntl.fcntl(write_end, fcntl.F_GETPIPE_SZ)
        os.write(write_end, b"x" * size)  # full: the next write blocks
        writer = threading.Thread(target=os.write, args=(write_end, b"x"), daemon=True)
        writer.start()
        task = Path(f"/proc/self/task/{writer.native_id}/syscall")
        end = time.monotonic() + scaled(10)
        while (fields := task.read_text().split())[1:2] != [hex(write_end)]:
            assert time.monotonic() < end, f"no blocked write seen: {fields}"
            time.sleep(0.01)
        os.read(read_end, size)
        writer.join()
        return fields[0]
    finally:
        os.close(read_end)
        os.close(write_end)


def writing_to_terminal(pid: int) -> bool:
    """Whether a thread of process ``pid`` is inside a write to its stdout (the pty) now: a
    frame's write that the terminal does not take blocks there."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "syscall").read_text().split()
        except OSError:  # the thread ended meanwhile
            continue
        if fields[:2] == [write_syscall(), "0x1"]:
            return True
    return False
