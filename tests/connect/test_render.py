"""Message rendering: plain pipe lines, hex dumps, marked and escaped terminal lines."""

from __future__ import annotations

from wscli.connect.render import (
    encode_binary,
    event_data_text,
    fold,
    hexdump,
    pipe_line,
    terminal_message,
)
from wscli.core.events import Message

WHEN = "2026-01-02T03:04:05.678Z"


def test_pipe_lines() -> None:
    assert pipe_line(Message("in", "hi")) == "hi\n"
    assert pipe_line(Message("in", b"AB")) == "QUI=\n"
    assert pipe_line(Message("in", b"AB"), "hex") == "4142\n"
    assert pipe_line(Message("in", "t"), timestamps=True, when=WHEN) == f"{WHEN} t\n"
    assert pipe_line(Message("in", "", name="chat", args=("hello",))) == 'chat: ["hello"]\n'
    assert pipe_line(Message("in", "", name="n", args=({"a": 1}, 2))) == 'n: [{"a":1},2]\n'
    assert pipe_line(Message("in", "", name="n")) == "n: []\n"
    ack = Message("in", "", args=("ok",), ack_id=4, is_ack=True)
    assert pipe_line(ack) == 'ack 4: ["ok"]\n'


def test_encode_binary_and_event_data() -> None:
    assert encode_binary(b"\x00\x01", "base64") == "AAE="
    assert encode_binary(b"\x00\x01", "hex") == "0001"
    assert event_data_text(()) == ""
    assert event_data_text(({"k": "✓"},)) == '{"k":"✓"}'
    assert event_data_text(("1", 1)) == '"1", 1'


def test_hexdump_layout() -> None:
    dump = hexdump(bytes(range(0x3E, 0x3E + 18)))
    first, second = dump.splitlines()
    assert first.startswith("00000000  3e 3f 40 41")
    assert first.endswith("|>?@ABCDEFGHIJKLM|")
    assert second.startswith("00000010  4e 4f")
    assert second.endswith("|NO|")
    assert hexdump(b"") == ""
    assert hexdump(b"\x00\x7f")[-4:] == "|..|"


def test_terminal_lines_are_marked_and_escaped() -> None:
    received = terminal_message(Message("in", "\x1b[31mred\x07"))
    assert received.plain == "< \\e[31mred\\x07"
    sent = terminal_message(Message("out", "hi"), timestamps=True, when=WHEN)
    assert sent.plain == f"{WHEN} > hi"
    assert {span.style for span in received.spans} != {span.style for span in sent.spans}
    binary = terminal_message(Message("in", b"\x01A"))
    assert binary.plain.splitlines()[0] == "< [binary, 2 bytes]"
    assert "|.A|" in binary.plain
    event = terminal_message(Message("in", "", name="chat\x1b", args=("x\x1b",)))
    assert event.plain == '< chat\\e: "x\\u001b"'
    asked = terminal_message(Message("in", "", name="q", args=(), ack_id=2))
    assert asked.plain == "< q:   (acknowledged, ack 2)"


def test_multi_line_messages_are_indented_under_their_marker() -> None:
    spoof = terminal_message(Message("in", "hi\n> typed by you?\n* closed"))
    assert spoof.plain == "< hi\n  > typed by you?\n  * closed"
    binary = terminal_message(Message("out", bytes(range(20))))
    assert [line[:12] for line in binary.plain.splitlines()[1:]] == [
        "  00000000  ",
        "  00000010  ",
    ]


def test_pipe_line_escapes_only_for_a_terminal() -> None:
    hostile = Message("in", "\x1b]0;title\x07ok")
    assert pipe_line(hostile) == "\x1b]0;title\x07ok\n"
    assert pipe_line(hostile, escape=True) == "\\e]0;title\\x07ok\n"


def test_fold_indents_every_screen_line_after_the_first() -> None:
    spoof = terminal_message(Message("in", "ok" + " " * 56 + "> transfer approved"))
    assert fold(spoof, 60).plain.splitlines() == ["< ok" + " " * 56, "  > transfer approved"]
    lines = fold(terminal_message(Message("in", "a" * 25 + "\n" + "b" * 25)), 10).plain
    assert all(len(line) <= 10 for line in lines.splitlines())
    assert all(line.startswith("  ") for line in lines.splitlines()[1:])
    assert lines.replace("\n  ", "") == "< " + "a" * 25 + "b" * 25
    wide = fold(terminal_message(Message("in", "界" * 10)), 10).plain.splitlines()
    assert wide == ["< 界界界界", "  界界界界", "  界界"]


def test_binary_preview_says_how_many_bytes_are_left() -> None:
    text = terminal_message(Message("in", bytes(3072)), preview=128, show_id=3).plain
    lines = text.splitlines()
    assert lines[0] == "< [binary, 3,072 bytes]" and len(lines) == 10
    assert lines[-1] == "  … 2,944 more bytes (/show 3 for all)"
    short = terminal_message(Message("in", bytes(128)), preview=128).plain
    assert "more bytes" not in short and len(short.splitlines()) == 9
