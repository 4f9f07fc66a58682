"""wscli.connect.output: what each writer puts on stdout and stderr, event by event."""

from __future__ import annotations

import asyncio
import io
import json
import os

from wscli.connect.output import JsonOutput, PlainOutput, TerminalOutput
from wscli.core.errors import ConnectFailed
from wscli.core.events import Message
from wscli.net.terminal import make_console


def test_plain_output_stdout_is_data_and_status_needs_verbose() -> None:
    out, err = io.BytesIO(), io.StringIO()
    quiet = PlainOutput(out, err, show_ping_pong=True)
    quiet.message(Message("out", "sent"))  # only received messages are data
    quiet.message(Message("in", "got"))
    quiet.status("hidden without -v")
    quiet.closed(1000, "", "server")
    quiet.frame("pong", "in", b"", 0.0012)  # asked for with --show-ping-pong
    quiet.reconnecting(1, 0.5, 5, "closed: 1011 '\x1b[31m'")  # always said, with why
    quiet.error(ConnectFailed("final", "printed by the CLI"), final=True)
    assert out.getvalue() == b"got\n"
    assert err.getvalue() == (
        "wscli: pong received, round trip 1.2 ms\n"
        "wscli: reconnecting in 0.5 s (attempt 1/5): closed: 1011 '\\e[31m'\n"
    )
    err = io.StringIO()
    verbose = PlainOutput(io.BytesIO(), err, verbose=True)
    verbose.closed(4000, "bye", "client")
    verbose.frame("ping", "in", b"", None)  # not without --show-ping-pong
    assert err.getvalue() == "wscli: closed by the client: 4000 (private use) 'bye'\n"


def test_json_output_emits_every_event_and_reconnects_on_stderr_too() -> None:
    out, err = io.BytesIO(), io.StringIO()
    output = JsonOutput(out, err)
    output.message(Message("out", "x"))
    output.closed(1000, "", "client")
    output.reconnecting(2, 1.0, None, "refused")
    output.error(ConnectFailed("cannot connect", "refused \u202egnp.exe"), final=True)
    raw = out.getvalue()
    events = [json.loads(line) for line in raw.splitlines()]
    assert [e["event"] for e in events] == ["message", "close", "reconnect", "error"]
    assert events[2]["reason"] == "refused"
    # The error's text is kept as received in JSON, and its bidi override is escaped.
    assert events[3]["message"] == "cannot connect: refused \u202egnp.exe"
    assert b"\\u202e" in raw and "\u202e".encode() not in raw
    assert err.getvalue() == "wscli: reconnecting in 1.0 s (attempt 2): refused\n"


def test_terminal_output_marks_status_lines() -> None:
    screen = io.StringIO()
    output = TerminalOutput(make_console(screen, color=False), show_ping_pong=True)
    output.message(Message("in", "hi"))
    output.frame("ping", "out", b"\x01", None)
    output.closed(None, "", None)
    assert screen.getvalue() == (
        "< hi\n* ping sent (01)\n* closed: no close frame (connection dropped)\n"
    )


async def test_plain_output_flushes_each_burst_before_the_loop_waits_again() -> None:
    """Writes are buffered, but one flush runs as soon as the loop is free: a reader sees
    every message while the connection is still open, not at the end."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    with open(write_fd, "wb") as stdout, open(read_fd, "rb", buffering=0) as reader:
        output = PlainOutput(stdout, io.StringIO())
        output.message(Message("in", "one"))
        output.message(Message("in", "two"))
        await asyncio.sleep(0)  # the loop runs its ready callbacks: the flush
        assert reader.read() == b"one\ntwo\n"
