"""Reading a --record file back: each rule by example, then any input (Hypothesis): only
RecordingError, bounded output, time linear in the input."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wscli.core.recording import (
    MAX_LINE,
    RecordingError,
    Step,
    read_recording,
)


def lines(*events: dict[str, object]) -> list[bytes]:
    return [json.dumps(event).encode() + b"\n" for event in events]


OPEN = {"event": "open", "t": 1.0, "connection": 1, "path": "/chat", "subprotocol": "v1"}


def test_a_conversation_with_its_steps() -> None:
    found = read_recording(
        lines(
            {"event": "listening", "t": 0.0},
            OPEN,
            {
                "event": "message",
                "t": 1.5,
                "connection": 1,
                "from": "client",
                "type": "text",
                "text": "hi",
            },
            {"event": "fault", "t": 1.6, "connection": 1, "fault": "drop"},
            {
                "event": "message",
                "t": 1.6,
                "connection": 1,
                "from": "server",
                "type": "text",
                "text": "lost",
                "forwarded": False,
            },
            {
                "event": "message",
                "t": 2.0,
                "connection": 1,
                "from": "server",
                "type": "binary",
                "base64": "AP8=",
            },
            {
                "event": "message",
                "t": 2.1,
                "connection": 1,
                "from": "server",
                "type": "text",
                "base64": "/w==",
            },
            {
                "event": "close",
                "t": 3.0,
                "connection": 1,
                "code": 4001,
                "reason": "bye",
                "by": "server",
            },
            {
                "event": "message",
                "t": 4.0,
                "connection": 1,
                "from": "client",
                "type": "text",
                "text": "after the end",
            },
            {
                "event": "message",
                "t": 4.0,
                "connection": 9,
                "from": "client",
                "type": "text",
                "text": "opened before the recording",
            },
        )
    )
    assert len(found) == 1
    (chat,) = found
    assert (chat.connection, chat.path, chat.subprotocol) == (1, "/chat", "v1")
    assert chat.steps == [
        Step(0.5, "client", "text", "hi"),
        Step(1.0, "server", "binary", b"\x00\xff"),
        Step(1.1, "server", "text", b"\xff"),  # not UTF-8: its bytes, sent as text
        Step(2.0, "server", "close", "bye", 4001),
    ]
    assert chat.duration == 2.0
    dropped = read_recording(
        lines(
            OPEN,
            {"event": "close", "t": 2, "connection": 1, "code": None, "reason": "", "by": None},
        )
    )
    assert dropped[0].steps == [Step(1.0, "server", "drop")]


@pytest.mark.parametrize(
    ("line", "why"),
    [
        (b"{", "line 1: not JSON"),
        (b"[1]", "line 1: not a JSON object"),
        (b'{"event":"open","t":1,"connection":"1","path":"/"}', "valid 'connection'"),
        (b'{"event":"open","t":-1,"connection":1,"path":"/"}', "t must be a time"),
        (b'{"event":"open","t":1e999,"connection":1,"path":"/"}', "t must be a time"),
        (b'{"event":"open","t":true,"connection":1,"path":"/"}', "valid 't'"),
        (b'{"event":"open","t":1,"connection":1}', "valid 'path'"),
        (b"[" * 100_000 + b"]" * 100_000, "line 1: not JSON"),
        (b" " * (MAX_LINE + 1), "longer than"),
    ],
)
def test_bad_lines_name_the_line(line: bytes, why: str) -> None:
    with pytest.raises(RecordingError, match=why):
        read_recording([line])


def test_bad_messages() -> None:
    for message, why in (
        ({"from": "both", "type": "text", "text": "x"}, "from must be"),
        ({"from": "client", "type": "ping", "base64": ""}, "type must be"),
        ({"from": "client", "type": "binary", "base64": "!!"}, "base64 is not valid"),
        ({"from": "client", "type": "binary"}, "base64 is not valid"),
    ):
        event = {"event": "message", "t": 1, "connection": 1, **message}
        with pytest.raises(RecordingError, match=why):
            read_recording(lines(OPEN, event))


_EVENTS = st.fixed_dictionaries(
    {
        "event": st.sampled_from(["open", "message", "close", "fault", "gap"]),
        "t": st.one_of(st.floats(allow_nan=True), st.integers(), st.text(max_size=3)),
        "connection": st.one_of(st.integers(-2, 3), st.none(), st.text(max_size=2)),
    },
    optional={
        "path": st.one_of(st.text(max_size=20), st.integers()),
        "from": st.sampled_from(["client", "server", "x"]),
        "type": st.sampled_from(["text", "binary", "close"]),
        "text": st.one_of(st.text(max_size=20), st.integers()),
        "base64": st.one_of(st.text(max_size=20), st.just("AP8=")),
        "code": st.one_of(st.none(), st.integers(0, 5000), st.text(max_size=3)),
        "reason": st.one_of(st.text(max_size=10), st.integers()),
        "by": st.sampled_from(["client", "server", None, 3]),
        "forwarded": st.booleans(),
        "subprotocol": st.one_of(st.none(), st.text(max_size=5), st.integers()),
    },
)


@given(
    st.lists(
        st.one_of(
            _EVENTS.map(lambda e: json.dumps(e).encode()),
            st.binary(max_size=60),
        ),
        max_size=30,
    )
)
def test_any_input_gives_conversations_or_recording_error(raw: list[bytes]) -> None:
    try:
        found = read_recording(raw)
    except RecordingError as exc:
        assert str(exc).startswith("line ")
        return
    assert len(found) <= len(raw)
    assert sum(len(c.steps) for c in found) <= len(raw)
    for conversation in found:
        for step in conversation.steps:
            assert step.t >= 0 and step.side in ("client", "server")


def _cpu(raw: list[bytes]) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        read_recording(raw)
        best = min(best, time.process_time() - start)
    return best


def test_time_is_linear_in_the_input() -> None:
    step = json.dumps(
        {
            "event": "message",
            "t": 2,
            "connection": 1,
            "from": "client",
            "type": "text",
            "text": "x" * 50,
        }
    ).encode()
    opening = json.dumps(OPEN).encode()
    small = [opening] + [step] * 2_000
    large = [opening] + [step] * 16_000
    ratios = [_cpu(large) / max(_cpu(small), 1e-6) for _ in range(3)]
    assert min(ratios) < 16  # 8 times the input: about 8 times the time
