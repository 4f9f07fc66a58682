"""The NDJSON event model: stable keys, base64 for binary, one timestamp format."""

from __future__ import annotations

import datetime
import json

from wscli.core.events import (
    Message,
    close_event,
    error_event,
    message_event,
    open_event,
    ping_event,
    reconnect_event,
)
from wscli.core.ndjson import timestamp, to_ndjson

WHEN = "2026-01-02T03:04:05.678Z"


def test_timestamp_is_utc_with_milliseconds() -> None:
    moment = datetime.datetime(
        2026, 1, 2, 4, 4, 5, 678901, tzinfo=datetime.timezone(datetime.timedelta(hours=1))
    )
    assert timestamp(moment) == WHEN
    assert len(timestamp()) == len(WHEN) and timestamp().endswith("Z")


def test_open_event_merges_repeated_headers() -> None:
    event = open_event(
        "ws://h/", "chat", ["permessage-deflate"], [("A", "1"), ("B", "2"), ("A", "3")], WHEN
    )
    assert event == {
        "event": "open",
        "time": WHEN,
        "url": "ws://h/",
        "subprotocol": "chat",
        "extensions": ["permessage-deflate"],
        "headers": {"A": "1, 3", "B": "2"},
    }


def test_message_events_text_binary_and_socketio() -> None:
    assert message_event(Message("in", "héllo"), WHEN) == {
        "event": "message",
        "time": WHEN,
        "direction": "in",
        "type": "text",
        "text": "héllo",
        "length": 6,
    }
    binary = message_event(Message("out", b"\x00\xff"), WHEN)
    assert (binary["type"], binary["base64"], binary["length"]) == ("binary", "AP8=", 2)
    assert "text" not in binary
    event = message_event(Message("in", '42["m","x"]', name="m", args=("x",)), WHEN)
    assert (event["socketio"], event["name"], event["args"]) == ("event", "m", ["x"])
    assert "ack_id" not in event
    several = message_event(Message("in", "", name="m", args=(1, 2), ack_id=7), WHEN)
    assert (several["args"], several["ack_id"]) == ([1, 2], 7)
    ack = message_event(Message("in", "431[true]", args=(True,), ack_id=1, is_ack=True), WHEN)
    assert (ack["socketio"], ack["ack_id"], ack["args"]) == ("ack", 1, [True])


def test_ping_close_error_reconnect_events() -> None:
    assert ping_event("pong", "in", b"\x01", 0.0123456, WHEN) == {
        "event": "pong",
        "time": WHEN,
        "direction": "in",
        "base64": "AQ==",
        "rtt_ms": 12.346,
    }
    assert "rtt_ms" not in ping_event("ping", "out", b"", None, WHEN)
    assert close_event(None, "", None, WHEN) == {
        "event": "close",
        "time": WHEN,
        "code": None,
        "reason": "",
        "by": None,
    }
    assert error_event("boom", 3, WHEN)["exit_code"] == 3
    assert reconnect_event(2, 1.23456, 5, "cannot connect: refused", WHEN) == {
        "event": "reconnect",
        "time": WHEN,
        "attempt": 2,
        "delay": 1.235,
        "max_retries": 5,
        "reason": "cannot connect: refused",
    }


def test_ndjson_is_one_line_and_keeps_unicode() -> None:
    line = to_ndjson(message_event(Message("in", "a\nb ✓"), WHEN))
    assert line.endswith("\n") and line.count("\n") == 1
    assert "✓" in line
    assert json.loads(line)["text"] == "a\nb ✓"
