"""Pipe mode end to end: the installed `wscli connect` in a subprocess against real servers."""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import os
import re
import signal
import subprocess
import time
import warnings

import pytest
from websockets.asyncio.server import ServerConnection

from tests.support import (
    clean_env,
    concurrently,
    has_ansi,
    lines,
    read_until,
    run_wscli,
    scaled,
    wscli_command,
)
from tests.support.connect_servers import (
    close_after_first,
    echo,
    greet_then_echo,
    running,
    silent,
    start_killable,
)
from wscli.connect.pipe import StdinReader


def test_stdin_reader_outliving_its_loop_leaves_no_unawaited_coroutine() -> None:
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"a\nb\n")
    os.close(write_fd)

    async def make() -> StdinReader:
        return StdinReader(read_fd, stream=False)

    reader = asyncio.run(make())  # the session ended: its loop is closed
    gc.collect()  # earlier tests' garbage must not report its warnings in here
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            reader._run()  # what the thread does, here so its warnings are caught
            gc.collect()
    finally:
        os.close(read_fd)
    assert [str(w.message) for w in caught if w.category is RuntimeWarning] == []


def test_two_lines_get_both_replies() -> None:
    with running(echo) as server:
        result = run_wscli("connect", server.url, "-n", "2", "--idle", "10", input="a\nb\n")
    assert result.returncode == 0, result.stderr
    assert lines(result.stdout) == ["a", "b"]
    assert result.stderr == b""


def test_echo_hi_prints_reply_with_defaults_and_no_terminal_junk() -> None:
    with running(greet_then_echo) as server:
        result = run_wscli("connect", server.url, input="hi\n")
    assert result.returncode == 0
    # Pipe data is written as received: the greeting's bytes, then the reply.
    assert lines(result.stdout) == ["hello \x1b[31mred\x1b[0m\x07", "hi"]
    assert b"> " not in result.stdout
    assert result.stderr == b""


def test_stdout_has_no_ansi_or_prompt_when_piped() -> None:
    with running(echo) as server:
        result = run_wscli(
            "connect",
            server.url,
            "-n",
            "1",
            input="plain\n",
            env={"FORCE_COLOR": "1", "TERM": "xterm"},
        )
    assert result.stdout == b"plain\n"
    assert not has_ansi(result.stdout)


def test_execute_with_count_ends_as_soon_as_counted() -> None:
    with running(echo) as server:
        result = run_wscli("connect", server.url, "-x", "one", "-x", "two", "--count", "2")
        since_accepted = time.monotonic() - server.accepted[0]  # not wscli's own start
    assert result.returncode == 0
    assert lines(result.stdout) == ["one", "two"]
    assert since_accepted < scaled(5)


def test_idle_before_count_is_reached_is_not_a_clean_end() -> None:
    # -n 3 asked for three replies; the echo server sends one and falls silent, so --idle
    # ends the session short of them: exit 8 (no reply) with what was missing, never 0.
    # (The default --idle, 1 s: the echo must come within it, and 0.3 s was a race at load.)
    with running(echo) as server:
        result = run_wscli("connect", server.url, "-n", "3", input="one\n")
    assert result.returncode == 8
    assert lines(result.stdout) == ["one"]
    assert result.stderr == (
        b"wscli: error: received 1 of 3 messages (-n): 1 s of silence (--idle)"
        b" (hint: raise --idle, or give --timeout for a deadline)\n"
    )


def test_count_ends_before_stdin_does() -> None:
    with running(echo) as server:
        proc = subprocess.Popen(
            [*wscli_command(), "connect", server.url, "-x", "ping", "-n", "1"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=clean_env(),
        )
        try:
            out, err = proc.communicate(timeout=scaled(10))
        finally:
            proc.kill()
            assert proc.stdin is not None
            proc.stdin.close()
    assert proc.returncode == 0, err
    assert out == b"ping\n"


def test_idle_ends_after_silence() -> None:
    # What ended the run is read from its own account (-v), not from the wall clock: a
    # bound of 3 s failed at 3.7 s beside another copy of the suite (load 12). The default
    # --idle (1 s): the echo must come within it, and 0.3 s was a race at load.
    with running(echo) as server:
        result = run_wscli("connect", "-v", server.url, input="x\n")
    assert result.returncode == 0
    assert result.stdout == b"x\n"
    assert b"closing (1000): stdin ended and 1 s of silence (--idle)" in result.stderr


def test_wait_keeps_connection_open_for_late_messages() -> None:
    async def late(ws: ServerConnection) -> None:
        await ws.recv()
        await asyncio.sleep(0.5)  # later than the --idle given (0.2 s), which --wait replaces
        await ws.send("late")

    with running(late) as server:
        result = run_wscli("connect", server.url, "-x", "go", "--idle", "0.2", "--wait", "1.5")
    assert result.returncode == 0
    assert result.stdout == b"late\n"


def test_lines_written_before_open_are_not_lost() -> None:
    async def slow_open(ws: ServerConnection) -> None:
        await echo(ws)

    def delay(connection: object, request: object) -> None:
        time.sleep(0.5)  # the handshake answer comes late; stdin is already at EOF

    count = 50
    data = "".join(f"line {i}\n" for i in range(count))
    with running(slow_open, process_request=delay) as server:
        result = run_wscli("connect", server.url, "--count", str(count), input=data)
    assert result.returncode == 0, result.stderr
    assert lines(result.stdout) == [f"line {i}" for i in range(count)]


def test_json_events_parse_and_carry_stable_keys() -> None:
    with running(echo) as server:
        result = run_wscli(
            "connect", server.url, "--json", "-x", "hi", "--count", "1", "-s", "chat"
        )
    events = [json.loads(line) for line in lines(result.stdout)]
    assert [e["event"] for e in events] == ["open", "message", "message", "close"]
    opened, sent, received, closed = events
    assert opened["url"] == server.url
    assert "Sec-WebSocket-Accept" in opened["headers"]
    assert opened["extensions"] == ["permessage-deflate"]
    assert sent == {**sent, "direction": "out", "type": "text", "text": "hi", "length": 2}
    assert received["direction"] == "in" and received["text"] == "hi"
    assert closed == {**closed, "code": 1000, "by": "client"}
    assert all(e["time"].endswith("Z") for e in events)
    assert result.returncode == 0


def test_binary_lines_and_binary_format() -> None:
    with running(echo) as server:
        b64, hexed, as_json = concurrently(
            lambda: run_wscli("connect", server.url, "--binary", "-n", "1", input="\x01AB\n"),
            lambda: run_wscli(
                "connect", server.url, "--binary", "--binary-format", "hex", "-n", "1", input="AB\n"
            ),
            lambda: run_wscli("connect", server.url, "--binary", "--json", "-n", "1", input="AB\n"),
        )
    assert b64.stdout == base64.b64encode(b"\x01AB") + b"\n"
    assert hexed.stdout == b"4142\n"
    received = [json.loads(x) for x in lines(as_json.stdout) if '"in"' in x]
    assert received[0]["type"] == "binary" and received[0]["base64"] == "QUI="


def test_stream_sends_chunks_as_binary() -> None:
    with running(echo) as server:
        result = run_wscli(
            "connect", server.url, "--stream", "--binary-format", "hex", "-n", "1", input="abc"
        )
    assert result.stdout == b"616263\n"


def test_timestamps_prefix_each_line() -> None:
    with running(echo) as server:
        result = run_wscli("connect", server.url, "--timestamps", "-n", "1", input="t\n")
    stamp, text = result.stdout.decode().rstrip("\n").split(" ", 1)
    assert text == "t"
    assert stamp.endswith("Z") and "T" in stamp


def test_verbose_status_goes_to_stderr_only() -> None:
    with running(echo) as server:
        result = run_wscli("connect", server.url, "-v", "-n", "1", input="v\n")
    assert result.stdout == b"v\n"
    assert b"connected to" in result.stderr
    assert b"closed by the client: 1000" in result.stderr


def test_timeout_is_a_deadline_exit_6() -> None:
    with running(silent) as server:
        result = run_wscli(
            "connect", server.url, "-x", "anyone?", "--count", "1", "--timeout", "0.5"
        )
    assert result.returncode == 6
    assert b"--timeout" in result.stderr
    assert result.stdout == b""


def test_broken_stdout_pipe_ends_quietly() -> None:
    async def flood(ws: ServerConnection) -> None:
        while True:
            await ws.send("x" * 100)

    with running(flood) as server:
        read_fd, write_fd = os.pipe()
        proc = subprocess.Popen(
            [*wscli_command(), "connect", server.url],
            stdin=subprocess.PIPE,
            stdout=write_fd,
            stderr=subprocess.PIPE,
            env=clean_env(),
        )
        os.close(write_fd)
        os.read(read_fd, 100)
        os.close(read_fd)
        try:
            _, err = proc.communicate(timeout=scaled(10))
        finally:
            proc.kill()
    assert proc.returncode == 0
    assert err == b""


def test_reconnect_resends_execute_after_server_is_killed_and_restarted() -> None:
    server, port = start_killable(0)
    proc = subprocess.Popen(
        [
            *wscli_command(),
            "connect",
            f"ws://127.0.0.1:{port}/",
            "-x",
            "again",
            "--reconnect",
            "--count",
            "4",
            "--timeout",
            str(scaled(20)),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
    )
    restarted = None
    try:
        assert proc.stdout is not None
        first = {proc.stdout.readline(), proc.stdout.readline()}
        assert first == {b"welcome\n", b"again\n"}
        server.kill()  # no close frame: an abnormal end, so wscli reconnects
        server.wait()
        time.sleep(0.3)  # at least one attempt is refused while the server is down
        restarted, _ = start_killable(port)
        out, err = proc.communicate(timeout=scaled(15))
    finally:
        proc.kill()
        server.kill()
        if restarted is not None:
            restarted.kill()
            restarted.wait()
    assert proc.returncode == 0, err
    assert sorted(out.decode().splitlines()) == ["again", "welcome"]
    assert b"reconnecting in" in err
    assert b"connection refused" in err or b"closed abnormally" in err


def test_sigint_exits_130_after_saying_goodbye() -> None:
    closes: list[int | None] = []

    async def watch(ws: ServerConnection) -> None:
        await ws.send("ready")
        await ws.wait_closed()
        closes.append(ws.close_code)

    with running(watch) as server:
        proc = subprocess.Popen(
            [*wscli_command(), "connect", server.url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=clean_env(),
        )
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline() == b"ready\n"
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=scaled(10))
        finally:
            proc.kill()
        deadline = time.monotonic() + scaled(5)
        while not closes and time.monotonic() < deadline:
            time.sleep(0.02)
    assert proc.returncode == 130, err
    assert err.strip() == b"wscli: interrupted"  # click adds a newline after ^C
    assert closes == [1001]


def test_show_ping_pong_on_stderr_and_in_json() -> None:
    # stdin stays open until the pong is shown, then ends the run (-w 0): a fixed --wait
    # raced the first round trip at load.
    def start(*args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [*wscli_command(), "connect", server.url, "--ping-interval", "0.1", "-w", "0", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=clean_env(),
        )

    with running(echo) as server:
        procs = [start("--show-ping-pong"), start("--json")]
        try:
            assert procs[0].stderr is not None and procs[1].stdout is not None
            said = [
                read_until(procs[0].stderr, b"round trip"),
                read_until(procs[1].stdout, b'"event":"pong"'),
            ]
            outputs = [proc.communicate(timeout=scaled(10)) for proc in procs]
        finally:
            for proc in procs:
                proc.kill()
    (plain_out, plain_err), (json_out, _) = outputs
    plain_err = said[0] + plain_err
    assert procs[0].returncode == 0 and plain_out == b""
    # Every line is one of the two (each ping's payload is random), and both are there.
    shown = re.compile(
        rb"wscli: (ping sent|pong received) \(([0-9a-f]{8})\)(, round trip \d+\.\d ms)?"
    )
    found = [shown.fullmatch(line) for line in plain_err.splitlines()]
    assert all(found), plain_err
    assert {(m[1], m[3] is not None) for m in found if m} == {
        (b"ping sent", False),
        (b"pong received", True),
    }
    assert procs[1].returncode == 0
    kinds = [json.loads(line)["event"] for line in lines(said[1] + json_out)]
    assert "ping" in kinds and "pong" in kinds


@pytest.mark.parametrize("idle", [[], ["--idle", "0.2"]])  # 0.2 s: shorter than any backoff
def test_reconnect_after_server_goes_away_with_1001(idle: list[str]) -> None:
    connections = 0

    async def restart_once(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        if connections == 1:  # the first connection sees the server "restart"
            await ws.recv()
            await ws.close(1001, "server shutting down")
            return
        await echo(ws)

    # Without --reconnect (the second run, side by side), 1001 is a normal end: exit 0 at
    # once, no second connection.
    with running(restart_once) as server, running(close_after_first(1001, "bye")) as other:
        result, plain = concurrently(
            lambda: run_wscli(
                "connect", server.url, "--reconnect", "-x", "hi", "--count", "1", *idle, input=b""
            ),
            lambda: run_wscli("connect", other.url, "-x", "hi"),
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"hi\n"  # the reply of the second connection
    assert connections == 2
    assert b"wscli: reconnecting in" in result.stderr
    assert plain.returncode == 0 and plain.stdout == b""


def test_reconnect_gives_up_after_max_retries_with_json_events() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_wscli(
        "connect", f"ws://127.0.0.1:{port}/", "--reconnect", "--max-retries", "2", "--json"
    )
    assert result.returncode == 3
    events = [json.loads(line) for line in lines(result.stdout)]
    # Retried failures are reconnect events with their reason; only the last is an error.
    assert [e["event"] for e in events] == ["reconnect", "reconnect", "error"]
    assert [e["attempt"] for e in events[:2]] == [1, 2]
    assert all(e["max_retries"] == 2 for e in events[:2])
    assert all("connection refused" in e["reason"] for e in events[:2])
    assert events[2]["exit_code"] == 3
    assert 0.25 <= events[0]["delay"] <= 0.5
    assert result.stderr.count(b"wscli: error: cannot connect") == 1
    assert result.stderr.count(b"wscli: reconnecting in") == 2


def test_many_lines_arrive_complete_and_in_order() -> None:
    count = 3000
    data = "".join(f"{i}\n" for i in range(count))
    with running(echo) as server:
        # --idle 10: a failure bound (-n ends the run); at load the echo server's thread
        # once answered nothing for the default 1 s after the last line was sent.
        result = run_wscli("connect", server.url, "-n", str(count), "--idle", "10", input=data)
    assert result.returncode == 0, result.stderr
    assert lines(result.stdout) == [str(i) for i in range(count)]
