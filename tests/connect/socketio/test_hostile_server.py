"""Hostile Socket.IO servers, over WebSocket and long-polling: forged pipe lines, memory
amplification by binary placeholders, numbers JSON cannot carry, a huge pingInterval, a
disconnect over long-polling, and event names kept for completion. Exit code, stdout and
stderr are asserted separately; memory from the process's own peak RSS."""

from __future__ import annotations

import json

from connect.socketio.test_hostile import hostile
from connect_servers import running
from measured import run_measured
from support import lines, run_wscli


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
