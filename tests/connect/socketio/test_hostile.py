"""Hostile Socket.IO servers: each malformed packet is a protocol
error — wscli closes with 1002/1007/1009, prints one line and exits 5 — never a traceback,
never unbounded memory. The servers send exactly the bytes of the reports."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from tests.support import run_wscli
from tests.support.connect_servers import running
from tests.support.measured import run_measured

OPEN = '0{"sid":"e1","pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}'
MIB = 2**20


def hostile(
    *frames: str | bytes, connect_answer: str = '40{"sid":"s1"}'
) -> Callable[[ServerConnection], Awaitable[None]]:
    """An Engine.IO server that opens, answers CONNECT with ``connect_answer``, sends
    ``frames`` and records the close code wscli sent."""

    async def handler(ws: ServerConnection) -> None:
        await ws.send(OPEN)
        assert await ws.recv() == "40"
        await ws.send(connect_answer)
        try:
            for frame in frames:
                await ws.send(frame)
        except ConnectionClosed:
            pass
        await ws.wait_closed()
        codes.append(ws.close_code)

    codes: list[int | None] = []
    handler.codes = codes  # type: ignore[attr-defined]
    return handler


def run_against(
    handler: Callable[[ServerConnection], Awaitable[None]], *args: str
) -> tuple[int, str, list[int | None]]:
    # --idle 0: stdin is empty, but only the server's packets may end these sessions.
    with running(handler, max_size=None, compression=None) as server:
        result = run_wscli(
            "connect", "--socketio", "--idle", "0", server.url, *args, input="", timeout=30
        )
    codes: list[int | None] = handler.codes  # type: ignore[attr-defined]
    return result.returncode, result.stderr.decode(), codes


def _one_error_line(stderr: str) -> str:
    assert stderr.count("\n") == 1, stderr
    assert "Traceback" not in stderr
    assert stderr.startswith("wscli: error: the server sent a malformed Socket.IO packet: ")
    return stderr


@pytest.mark.parametrize(
    ("frame", "code", "why"),
    [
        ('42²["ev","x"]', 1002, "bad JSON"),  # isdigit() accepts ², int() refuses it
        ("42" + "7" * 5000 + '["ev","x"]', 1002, "ack id longer than 15 digits"),
        ("42" + "[" * 100_000, 1002, "nested deeper than 32 levels"),
        ('42["ev","a\\ud800b"]', 1007, "lone surrogate"),
        ('451000000-["ev",{"_placeholder":true,"num":0}]', 1009, "more than 1000 binary"),
        ('42{"not":"an array"}', 1002, "an event without a [name, ...] array"),
        ('43["no id"]', 1002, "an acknowledgement without an id"),
    ],
    ids=[
        "superscript-digit",
        "5000-digit-ack-id",
        "deep-nesting",
        "lone-surrogate",
        "million-attachments",
        "event-not-array",
        "ack-without-id",
    ],
)
@pytest.mark.parametrize("output", ["pipe", "json"])
def test_malformed_packet_is_a_protocol_error(frame: str, code: int, why: str, output: str) -> None:
    handler = hostile(frame)
    rc, stderr, codes = run_against(handler, *(["--json"] if output == "json" else []))
    assert rc == 5, stderr
    assert why in _one_error_line(stderr)
    assert f"closed with {code}" in stderr
    assert codes == [code]


def test_malformed_connect_answer_during_the_handshake_is_a_protocol_error() -> None:
    rc, stderr, codes = run_against(hostile(connect_answer='40²{"sid":"s1"}'))
    assert rc == 5
    assert "bad JSON" in _one_error_line(stderr)
    assert codes == [1002]


def test_attachment_bytes_are_bounded_by_max_size() -> None:
    """A packet announcing 1000 attachments, then 200 frames of 1 MiB: wscli stops at
    --max-size (1 MiB) — it never holds more — and closes with 1009."""
    frames: list[str | bytes] = ['451000-["ev",{"_placeholder":true,"num":0}]']
    frames += [b"\x00" * MIB] * 200
    rc, stderr, codes = run_against(hostile(*frames), "--max-size", "1M")
    assert rc == 5
    assert "binary attachments over 1048576 bytes (--max-size)" in _one_error_line(stderr)
    assert codes == [1009]


def test_attachments_within_the_limit_are_delivered() -> None:
    frames: list[str | bytes] = [
        '452-["blob",{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]',
        b"\x01\x02",
        b"\xff",
    ]
    with running(hostile(*frames)) as server:
        result = run_wscli("connect", "--socketio", server.url, "-n", "1", input="")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b'blob: [{"base64":"/w=="},{"base64":"AQI="}]\n'


def test_placeholder_for_a_missing_attachment_is_a_protocol_error() -> None:
    frames: list[str | bytes] = ['451-["blob",{"_placeholder":true,"num":3}]', b"\x01"]
    rc, stderr, codes = run_against(hostile(*frames))
    assert rc == 5 and "missing attachment 3" in _one_error_line(stderr)
    assert codes == [1002]


def test_memory_stays_bounded_against_the_attachment_flood() -> None:
    """The peak RSS of the wscli process (VmHWM from /proc: wait4's ru_maxrss can be the
    test process's own, from before exec) stays far below the 100 MiB the server sends:
    attachments beyond --max-size are never held."""
    frames: list[str | bytes] = ['451000-["ev",{"_placeholder":true,"num":0}]']
    frames += [b"\x00" * (MIB // 2)] * 200  # each frame within --max-size on its own
    handler = hostile(*frames)
    with running(handler, max_size=None, compression=None) as server:
        args = ["connect", "--socketio", "--idle", "0", "--max-size", "4M", server.url]
        run = run_measured(args, discard_stdout=True, timeout=60)
    assert run.returncode == 5 and b"over 4194304 bytes" in run.stderr
    assert run.peak_rss_kib < 100 * 1024
