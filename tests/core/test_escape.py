from __future__ import annotations

from wscli.core.escape import escape_control


def test_plain_text_unchanged() -> None:
    assert escape_control("hello, wörld 👋\ttab") == "hello, wörld 👋\ttab"


def test_escape_sequences_are_neutralised() -> None:
    assert escape_control("\x1b[2J\x1b]0;pwned\x07") == "\\e[2J\\e]0;pwned\\x07"
    assert escape_control("a\rb\x00c\x7fd\x9be") == "a\\rb\\0c\\x7fd\\x9be"


def test_bidi_controls_are_shown_escaped() -> None:
    assert escape_control("abc\u202edcba\u2066x\u2069\u200f") == (
        "abc\\u202edcba\\u2066x\\u2069\\u200f"
    )
    assert escape_control("שלום عربي") == "שלום عربي"  # right-to-left text itself is fine


def test_newlines() -> None:
    assert escape_control("a\nb") == "a\nb"
    assert escape_control("a\nb", keep_newlines=False) == "a\\nb"
