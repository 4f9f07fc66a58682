"""Hostile Socket.IO servers, over WebSocket and long-polling: forged pipe lines, memory
amplification by binary placeholders, numbers JSON cannot carry, a huge pingInterval, a
disconnect over long-polling, and event names kept for completion. Exit code, stdout and
stderr are asserted separately; memory from the process's own peak RSS."""

from __future__ import annotations

import json

from connect.socketio.test_hostile import hostile
from connect_servers import running
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
