"""Message rendering: plain pipe lines, hex dumps, marked and escaped terminal lines."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.text import Text

from tests.support.linear import assert_linear, timing
from wscli.connect.render import (
    CONTINUATION,
    PREVIEW_CHARS,
    PREVIEW_TEXT_LINES,
    encode_binary,
    event_data_text,
    fold,
    hexdump,
    pipe_event_name,
    pipe_line,
    screen_cuts,
    status_text,
    terminal_message,
    terminal_pieces,
)
from wscli.core.escape import escape_control
from wscli.core.events import Message
from wscli.core.ndjson import to_json

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


def test_fold_cuts_at_word_boundaries_and_keeps_every_space() -> None:
    message = terminal_message(Message("in", "cannot connect: is the server running?"))
    lines = fold(message, 20).plain.splitlines()
    assert lines == ["< cannot connect: ", "  is the server ", "  running?"]
    assert "".join(line.removeprefix("  ") for line in lines[1:]) == "is the server running?"
    # A word longer than the line is still cut where it must be.
    long = fold(terminal_message(Message("in", "x " + "y" * 30)), 12).plain.splitlines()
    assert long == ["< x ", "  yyyyyyyyyy", "  yyyyyyyyyy", "  yyyyyyyyyy"]
    assert fold(status_text("ab cd ef gh"), 6).plain.splitlines() == ["ab cd ", "  ef ", "  gh"]


def test_binary_preview_says_how_many_bytes_are_left() -> None:
    text = terminal_message(Message("in", bytes(3072)), preview=128, show_id=3).plain
    lines = text.splitlines()
    assert lines[0] == "< [binary, 3,072 bytes]" and len(lines) == 10
    assert lines[-1] == "  … 2,944 more bytes (/show 3 for all)"
    short = terminal_message(Message("in", bytes(128)), preview=128).plain
    assert "more bytes" not in short and len(short.splitlines()) == 9


def test_long_text_is_previewed_with_the_count_of_what_is_left() -> None:
    body = "x" * 5000
    text = terminal_message(Message("in", body), show_id=2, text_preview=True).plain
    first, note = text.splitlines()
    assert first == "< " + "x" * PREVIEW_CHARS
    assert note == "  … 904 more characters (/show 2 for all)"
    lines = "\n".join(str(n) for n in range(100))
    shown = terminal_message(Message("in", lines), text_preview=True).plain.splitlines()
    assert len(shown) == PREVIEW_TEXT_LINES + 1 and shown[-2] == "  63"
    assert shown[-1].startswith("  … ") and "/show" not in shown[-1]
    event = Message("in", "", name="big", args=("y" * 5000,))
    assert "more characters" in terminal_message(event, text_preview=True).plain
    assert terminal_message(Message("in", body)).plain == "< " + body  # no preview asked


def test_show_pieces_hold_the_whole_message_a_screenful_each() -> None:
    body = "ab\x1b" * 3000
    pieces = [p.plain for p in terminal_pieces(Message("in", body))]
    assert len(pieces) == 3 and pieces[0].startswith("< ab\\e")
    assert all(p.startswith("  ") for p in pieces[1:])
    assert "".join(p[2:] for p in pieces) == body.replace("\x1b", "\\e")
    blob = bytes(range(256)) * 8
    dump = [p.plain for p in terminal_pieces(Message("in", blob))]
    assert dump[0] == "< [binary, 2,048 bytes]" and len(dump) == 3
    assert dump[2].startswith("  00000400  00 01")


def test_screen_cuts_are_found_in_one_pass() -> None:
    assert screen_cuts("a" * 25, 10, 8) == [10, 18]
    assert screen_cuts("a" * 10, 10, 8) == []
    assert screen_cuts("界" * 10, 10, 8) == [5, 9]
    assert screen_cuts("a界", 2, 2) == [1]


def test_event_names_that_would_not_read_as_one_name_are_quoted_in_the_pipe() -> None:
    for plain in ("chat", "chat:message", "a b", "ünïcode", "x:y"):
        assert pipe_event_name(plain) == plain
    for odd in ("a\nb", "ack 0", "ack\t1", "x: y", " lead", "trail ", '"q"', "", "\u202e"):
        assert pipe_event_name(odd) == to_json(odd)
    line = pipe_line(Message("in", "", name="n\nack 0: []", args=(1,)))
    assert line == '"n\\nack 0: []": [1]\n'


# -- properties of fold: any text, bounded output, linear time -------------------------------

WIDTHS = st.integers(min_value=4, max_value=200)


@given(st.text(), WIDTHS)
def test_fold_keeps_every_character_and_fits_every_line(text: str, width: int) -> None:
    """Bound: each screen line fits ``width`` (a lone wide character aside) and the fold
    adds at most 3 characters (a newline and the indent) per cut, each cut at least
    ``width - 2`` cells further."""
    plain = escape_control(text).replace("\n", "\n" + CONTINUATION)  # as messages come
    folded = fold(Text(plain), width).plain
    assert folded.replace("\n" + CONTINUATION, "") == plain.replace("\n" + CONTINUATION, "")
    for line in folded.split("\n"):
        assert cell_len(line) <= width or len(line) <= len(CONTINUATION) + 1
    assert len(folded) <= len(plain) + 3 * (len(plain) // (width - 2) + 1)


@timing
@given(st.text(min_size=1, max_size=32), WIDTHS)
def test_fold_takes_time_linear_in_the_text(text: str, width: int) -> None:
    plain = escape_control(text)
    assert_linear(lambda t: fold(t, width), lambda k: Text(plain * (k // len(plain) + 1)), 4096)
