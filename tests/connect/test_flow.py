"""`wscli connect` on the connection engine, end to end: a pipe that reads every one of
100,000 replies, back-pressure from a stdout nobody reads, and every way a connection ends
(who closed, code, reason; 1006 without a close frame) as the --json close event says it."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from tests.support import clean_env, lines, run_wscli, scaled, wscli_command
from tests.support.connect_servers import ServerThread, echo, running
from tests.support.serve_process import ServeProcess

COUNT = 100_000


@pytest.mark.slow
def test_a_pipe_reads_all_100000_replies_in_order() -> None:
    data = "".join(f"line {i}\n" for i in range(COUNT)).encode()
    with ServeProcess("--ping-interval", "0") as serve:
        # --idle: a loaded machine can leave the server silent for more than the default
        # half second while the replies are still coming.
        idle = str(scaled(10))
        result = run_wscli(
            "connect", serve.ws_url(), "-n", str(COUNT), "--idle", idle, input=data, timeout=120
        )
    assert result.returncode == 0, result.stderr
    replies = lines(result.stdout)
    assert len(replies) == COUNT
    assert replies[0] == "line 0" and replies[-1] == f"line {COUNT - 1}"
    assert replies == [f"line {i}" for i in range(COUNT)]


def _rss_kib(pid: int) -> int:
    match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) if match else 0


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_a_stdout_nobody_reads_slows_the_server_not_wscli_memory() -> None:
    """`wscli connect URL | sleep`: the server's sends back up; wscli holds a bounded queue."""
    sent = 0
    blob = b"x" * 65536

    async def flood(ws: ServerConnection) -> None:
        nonlocal sent
        try:
            for _ in range(2000):  # 125 MiB if nothing pushed back
                await ws.send(blob)
                sent += len(blob)
        except ConnectionClosed:
            pass

    with running(flood, compression=None) as server:
        proc = subprocess.Popen(
            [*wscli_command(), "connect", server.url, "--binary", "--no-compression"],
            stdin=subprocess.PIPE,  # held open: only the server could end this
            stdout=subprocess.PIPE,  # never read: the pipe fills, wscli's writes block
            stderr=subprocess.DEVNULL,
            env=clean_env(),
        )
        try:
            # Until the server's sends stall (no more sent for half a second; the pipe,
            # wscli's queue and the sockets are full) and a second more adds nearly nothing.
            # A quiet half second can also be wscli starved of CPU (beside another suite at
            # load 14): then the sends go on, and the stall is looked for again. Without
            # back-pressure all 125 MiB go at once, which the total below refuses. (A fixed
            # 3 s wait before; the stall came within a second here.)
            deadline = time.monotonic() + scaled(20)
            peak = 0
            while True:
                quiet_since, seen = time.monotonic(), sent
                while time.monotonic() - quiet_since < scaled(0.5):
                    assert time.monotonic() < deadline, "the server's sends never stalled"
                    time.sleep(0.05)
                    if sent != seen:
                        quiet_since, seen = time.monotonic(), sent
                stalled_at = sent
                peak = max(peak, _rss_kib(proc.pid))
                time.sleep(scaled(1))
                peak = max(peak, _rss_kib(proc.pid))
                if sent - stalled_at <= 4 * 2**20:
                    break
                assert time.monotonic() < deadline, "the server kept sending: no back-pressure"
        finally:
            proc.kill()
            proc.wait()
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.close()
            proc.stdout.close()
    assert sent < 2000 * len(blob) // 4
    assert peak < 100_000, f"peak RSS {peak} KiB"


async def _close_first(ws: ServerConnection) -> None:
    await ws.recv()
    await ws.close(4001, "server says bye")


async def _drop_first(ws: ServerConnection) -> None:
    await ws.recv()
    ws.transport.abort()  # no close frame: 1006


async def _never_answer_close(ws: ServerConnection) -> None:
    await ws.recv()
    ws.transport.pause_reading()  # our close frame is never read, never answered
    await ws.wait_closed()  # until the test lets it read again: see _read_again


def _read_again(server: ServerThread) -> None:
    """Let every connection of ``server`` read again once wscli has ended: a transport left
    paused would hold the server's own close for its close timeout (10 s), and its handler
    with it."""

    def resume() -> None:
        for ws in server.connections:
            ws.transport.resume_reading()

    server.loop.call_soon_threadsafe(resume)


@pytest.mark.parametrize(
    ("handler", "args", "close", "exit_code"),
    [
        (_close_first, (), {"code": 4001, "reason": "server says bye", "by": "server"}, 5),
        (echo, ("--close-code", "4002", "--close-reason", "done"), None, 0),
        (_drop_first, (), {"code": None, "reason": "", "by": None}, 5),
        (_never_answer_close, ("--wait", "0.2"), {"code": 1000, "reason": "", "by": "client"}, 0),
    ],
    ids=["server-closes", "client-closes", "dropped-1006", "close-unanswered"],
)
def test_every_way_a_connection_ends_is_told(
    handler: object, args: tuple[str, ...], close: dict[str, object] | None, exit_code: int
) -> None:
    with running(handler) as server:  # type: ignore[arg-type]
        started = time.monotonic()
        result = run_wscli("connect", server.url, "--json", "-x", "hi", *args, input=b"")
        elapsed = time.monotonic() - started
        _read_again(server)
    events = [json.loads(line) for line in lines(result.stdout)]
    closes = [e for e in events if e["event"] == "close"]
    assert len(closes) == 1, result.stdout
    said = {k: closes[0][k] for k in ("code", "reason", "by")}
    if close is None:  # wscli closed with its --close-code; the echo server answered it
        close = {"code": 4002, "reason": "done", "by": "client"}
    assert said == close
    assert result.returncode == exit_code, result.stderr
    assert elapsed < scaled(10)  # an unanswered close ends at the close timeout (2 s)
