"""No silent loss of slow replies: the pipe's wait after stdin ends, its "no reply" verdict
(exit 8), what -v says about why wscli closed, and --reconnect keeping to failed
connections. The installed `wscli connect` in a subprocess against real servers."""

from __future__ import annotations

import asyncio
import json
import subprocess

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from tests.support import clean_env, concurrently, lines, run_wscli, scaled, wscli_command
from tests.support.connect_servers import Handler, echo, running
from wscli.core.exitcodes import ExitCode


def answer_after(delay: float) -> Handler:
    """A server that answers each message ``delay`` seconds after it came."""

    async def handler(ws: ServerConnection) -> None:
        async for message in ws:
            await asyncio.sleep(delay)
            await ws.send(f"re: {message}")

    return handler


def test_a_reply_slower_than_idle_is_no_reply_exit_7() -> None:
    with running(answer_after(1.5)) as server:
        result = run_wscli("connect", server.url, "--idle", "0.5", input="req\n")
    assert result.returncode == ExitCode.NO_REPLY == 8
    assert result.stdout == b""
    assert result.stderr == (
        b"wscli: error: ended after 0.5 s of silence (--idle): 0 replies to 1 message sent"
        b" (hint: use -n N or --idle S)\n"
    )


def test_the_default_idle_waits_for_a_reply_that_takes_half_a_second() -> None:
    # The old default (0.5 s, from stdin's end) lost it with exit 0.
    with running(answer_after(0.6)) as server:
        result = run_wscli("connect", server.url, input="req\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"re: req\n"


def test_replies_before_the_last_send_do_not_count_for_it() -> None:
    # The first line is answered at once, the second never: silence after the last send.
    async def first_only(ws: ServerConnection) -> None:
        await ws.send(f"re: {await ws.recv()}")
        await ws.wait_closed()

    with running(first_only) as server:
        proc = subprocess.Popen(
            [*wscli_command(), "connect", server.url, "--idle", "0.3"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=clean_env(),
        )
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(b"a\n")
            proc.stdin.flush()
            assert proc.stdout.readline() == b"re: a\n"  # answered before b is sent
            out, err = proc.communicate(b"b\n", timeout=scaled(10))
        finally:
            proc.kill()
    assert proc.returncode == 8
    assert out == b""
    assert err == (
        b"wscli: error: ended after 0.3 s of silence (--idle): 1 reply to 2 messages sent,"
        b" none after the last (hint: use -n N or --idle S)\n"
    )


def test_idle_counts_from_the_send_not_from_stdins_end() -> None:
    # stdin ends at once, the handshake takes 1.2 s: the reply comes right after the send.
    # Counted from stdin's end, --idle ran out before the request went out (exit 0, nothing
    # printed). --idle 1 s (not 0.5) leaves the echo room at load.
    async def slow_handshake(connection: ServerConnection, request: Request) -> Response | None:
        await asyncio.sleep(1.2)
        return None

    with running(echo, process_request=slow_handshake) as server:
        result = run_wscli("connect", server.url, "--idle", "1", input="req\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"req\n"


def test_nothing_sent_and_nothing_received_is_a_clean_end() -> None:
    # Listening with </dev/null: no message was sent, so none was owed.
    with running(echo) as server:
        result = run_wscli("connect", server.url, "--idle", "0.2")
    assert result.returncode == 0, result.stderr


def test_verbose_says_why_wscli_closed() -> None:
    with running(echo) as server:
        idle, count, wait = concurrently(
            lambda: run_wscli("connect", server.url, "-v", input="x\n"),  # the default --idle
            lambda: run_wscli("connect", server.url, "-v", "-n", "1", input="x\n"),
            lambda: run_wscli("connect", server.url, "-v", "-w", "0.2", "-x", "x"),
        )
    assert b"wscli: closing (1000): stdin ended and 1 s of silence (--idle)\n" in idle.stderr
    assert b"wscli: closing (1000): 1 of -n 1 messages received\n" in count.stderr
    assert b"wscli: closing (1000): --wait 0.2 s passed after stdin ended\n" in wait.stderr
    for result in (idle, count, wait):
        assert result.returncode == 0, result.stderr
        assert b"wscli: closed by the client: 1000" in result.stderr


def test_json_no_reply_is_an_error_event_with_exit_7() -> None:
    with running(answer_after(1.0)) as server:
        result = run_wscli("connect", server.url, "--json", "--idle", "0.3", input="req\n")
    assert result.returncode == 8
    events = [json.loads(line) for line in lines(result.stdout)]
    assert events[-1]["event"] == "error" and events[-1]["exit_code"] == 8
    assert "0 replies to 1 message sent" in events[-1]["message"]


def test_reconnect_does_not_retry_a_slow_server() -> None:
    # -n 3 against a server that answers once: a slow server, not a failed connection.
    # It was treated as one and reconnected 5 times (the lines sent were not re-sent).
    connections = 0

    async def counted(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        await echo(ws)

    with running(counted) as server:
        result = run_wscli("connect", server.url, "-n", "3", "--reconnect", input="one\n")
    assert result.returncode == 8, result.stderr
    assert connections == 1
    assert b"reconnecting" not in result.stderr
    assert result.stderr == (
        b"wscli: error: received 1 of 3 messages (-n): 1 s of silence (--idle)"
        b" (hint: raise --idle, or give --timeout for a deadline)\n"
    )


def test_reconnect_does_not_retry_the_timeout_deadline() -> None:
    connections = 0

    async def counted(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        await ws.wait_closed()

    with running(counted) as server:
        result = run_wscli("connect", server.url, "--timeout", "0.5", "--reconnect", "-x", "a")
    assert result.returncode == 6, result.stderr
    assert connections == 1
    assert b"reconnecting" not in result.stderr
