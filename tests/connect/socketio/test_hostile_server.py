"""Hostile Socket.IO servers, over WebSocket and long-polling: forged pipe lines, memory
amplification by binary placeholders, numbers JSON cannot carry, a huge pingInterval, a
disconnect over long-polling, and event names kept for completion. Exit code, stdout and
stderr are asserted separately; memory from the process's own peak RSS."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from tests.connect.socketio.test_hostile import hostile
from tests.support import concurrently, lines, requires, run_wscli
from tests.support.connect_servers import running
from tests.support.measured import Measured, run_measured
from tests.support.peers import project_peer
from tests.support.polling_server import PollingScript, ok_body, opened
from tests.support.rawserver import RawServer
from wscli.connect.socketio.link import MAX_EVENT_NAME, completable
from wscli.connect.socketio.transport import poll_timeout


def test_an_event_name_with_newlines_is_one_quoted_pipe_line() -> None:
    """The name was written raw: one event became three lines, one of them a forged
    acknowledgement."""
    name = 'news: []\nack 0: ["approved"]\nx'
    frame = "42" + json.dumps([name])
    frames = (frame, '42["ack 0","forged"]', '42["plain:name",1]')
    with running(hostile(*frames)) as server:
        result = run_wscli("connect", "--socketio", server.url, "-n", "3", input="")
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    assert lines(result.stdout) == [
        '"news: []\\nack 0: [\\"approved\\"]\\nx": []',
        '"ack 0": ["forged"]',
        "plain:name: [1]",
    ]


def test_a_reused_placeholder_is_a_protocol_error_and_memory_stays_bounded() -> None:
    """One packet naming a 100 KB attachment a thousand times made a thousand base64
    copies (the report: RSS past 1 GB in 1-2 s with 5,000 of 150 KB)."""
    placeholders = ",".join(['{"_placeholder":true,"num":0}'] * 1000)
    frames: list[str | bytes] = [f'451-["ev",{placeholders}]', b"\x07" * 100_000]
    handler = hostile(*frames)
    with running(handler, max_size=None, compression=None) as server:
        run = run_measured(["connect", "--socketio", "--idle", "0", server.url, "--max-size", "4M"])
    assert run.returncode == 5, run.stderr
    assert run.stdout == b""
    assert run.stderr == (
        b"wscli: error: the server sent a malformed Socket.IO packet: placeholder for"
        b" attachment 0 used twice; closed with 1002\n"
    )
    assert handler.codes == [1002]  # type: ignore[attr-defined]
    assert run.peak_rss_kib < 100 * 1024, f"peak RSS {run.peak_rss_kib} KiB"


def test_attachments_count_against_max_size_as_delivered_in_base64() -> None:
    """900 KB of attachment is 1.2 MB once filled in as base64: over a 1 MiB --max-size."""
    frames: list[str | bytes] = ['451-["ev",{"_placeholder":true,"num":0}]', b"\x00" * 900_000]
    handler = hostile(*frames)
    with running(handler, max_size=None, compression=None) as server:
        run = run_measured(["connect", "--socketio", "--idle", "0", server.url, "--max-size", "1M"])
    assert run.returncode == 5, run.stderr
    assert run.stdout == b""
    assert b"binary attachments over 1048576 bytes (--max-size); closed with 1009" in run.stderr
    assert handler.codes == [1009]  # type: ignore[attr-defined]


def _both_transports(frames: Sequence[str], *args: str) -> dict[str, Measured]:
    """The same packets from a WebSocket and from a long-polling server (each after the
    open and the namespace's CONNECT answer): how `wscli connect --socketio` ended."""
    bodies = [opened(), ok_body(b'40{"sid":"s1"}')]
    bodies += [ok_body(frame.encode()) for frame in frames]
    script = PollingScript(bodies)
    with running(hostile(*frames)) as server, RawServer(script.handler) as polling:
        websocket, long_polling = concurrently(  # side by side: each is mostly its start
            lambda: run_measured(
                ["connect", "--socketio", "--transport", "websocket", server.url, *args]
            ),
            lambda: run_measured(
                ["connect", "--socketio", "--transport", "polling", polling.url(), *args]
            ),
        )
    return {"websocket": websocket, "polling": long_polling}


@pytest.mark.parametrize(
    ("packet", "code", "stderr"),
    [
        ("41", 0, b""),  # Socket.IO DISCONNECT of our namespace
        ("1", 0, b""),  # Engine.IO close
        (
            "b!!!",
            5,
            b"wscli: error: the server sent a malformed Socket.IO packet: bad base64 in a"
            b" binary packet; closed with 1002\n",
        ),
    ],
)
def test_a_disconnect_ends_long_polling_as_it_ends_a_websocket(
    packet: str, code: int, stderr: bytes
) -> None:
    """Over long-polling these raised an AssertionError traceback (exit 1)."""
    runs = _both_transports(['42["hi",1]', packet], "--idle", "0")
    for transport, run in runs.items():
        assert (run.returncode, run.stdout, run.stderr) == (code, b"hi: [1]\n", stderr), transport


@requires("node", "npm")
@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_a_real_socketio_server_disconnecting_the_client_ends_it_cleanly(transport: str) -> None:
    """socket.io 4.8's socket.disconnect(true) over long-polling: a traceback, exit 1."""
    with project_peer("socketio-acks") as port:
        run = run_measured(
            [
                *("connect", "--socketio", f"http://127.0.0.1:{port}"),
                *("--transport", transport, "--event", "kick", "--idle", "0", "-x", ""),
            ]
        )
    assert run.returncode == 0, run.stderr
    assert run.stdout == b'welcome: [{"transport":"' + transport.encode() + b'"}]\n'
    assert run.stderr == b""


@pytest.mark.parametrize("output", ["pipe", "json"])
@pytest.mark.parametrize("number", ["1e999", "-1e999", "1E400"])
def test_a_number_that_overflows_is_refused_never_written_as_infinity(
    number: str, output: str
) -> None:
    """1e999 was accepted as inf and written out as Infinity: not JSON (Node's JSON.parse
    throws on it), in the pipe and in --json."""
    handler = hostile('42["before",1]', f'42["ev",{number}]')
    json_flag = ["--json"] if output == "json" else []
    with running(handler) as server:
        run = run_measured(["connect", "--socketio", "--idle", "0", server.url, *json_flag])
    assert run.returncode == 5, run.stderr
    assert b"Infinity" not in run.stdout
    for line in run.stdout.splitlines():
        json.loads(line.partition(b": ")[2] if output == "pipe" else line)  # all valid JSON
    assert run.stderr == (
        b"wscli: error: the server sent a malformed Socket.IO packet: bad JSON in Socket.IO"
        b" packet: number " + number.encode() + b" is out of range; closed with 1002\n"
    )
    assert handler.codes == [1002]  # type: ignore[attr-defined]


def test_a_401_digit_ping_interval_is_clamped_not_a_traceback() -> None:
    """(interval + timeout) / 1000 of a 401-digit int raised OverflowError (exit 1)."""
    huge = "9" * 401
    open_packet = b'0{"sid":"e1","upgrades":[],"pingInterval":%s,"pingTimeout":20000}' % (
        huge.encode()
    )
    script = PollingScript([opened(open_packet), ok_body(b'40{"sid":"s1"}'), ok_body(b'42["a"]')])
    with RawServer(script.handler) as server:
        run = run_measured(["connect", "--socketio", "--transport", "polling", server.url()])
    assert (run.returncode, run.stdout, run.stderr) == (0, b"a: []\n", b"")
    assert poll_timeout({"pingInterval": int(huge), "pingTimeout": 20000}, 60) == 600
    assert poll_timeout({"pingInterval": -5, "pingTimeout": 1e308}, 60) == 600
    assert poll_timeout({"pingInterval": 25000, "pingTimeout": 20000}, 60) == 50
    assert poll_timeout({"pingInterval": True, "pingTimeout": 1}, 60) == 60
    assert poll_timeout({"pingInterval": 0, "pingTimeout": 0}, 60) == 5


def test_event_names_are_not_kept_in_a_pipe() -> None:
    """Every new name was kept for the prompt's completion, up to 256 of up to --max-size
    each: +232 MB RSS, in a pipe too (where nothing is completed)."""
    names = [f"n{i:03d}" + "x" * (512 * 1024) for i in range(200)]  # 100 MiB of names
    frames = ["42" + json.dumps([name]) for name in names]
    with running(hostile(*frames), compression=None) as server:
        run = run_measured(
            ["connect", "--socketio", server.url, "-n", "200"], discard_stdout=True, timeout=90
        )
    assert run.returncode == 0, run.stderr
    assert run.stderr == b""
    assert run.peak_rss_kib < 100 * 1024, f"peak RSS {run.peak_rss_kib} KiB"


def test_only_short_names_are_remembered_for_completion() -> None:
    assert completable("chat:message") and completable("é" * MAX_EVENT_NAME)
    for name in ("x" * (MAX_EVENT_NAME + 1), "two words", "new\nline", "\x1b[2J"):
        assert not completable(name)
