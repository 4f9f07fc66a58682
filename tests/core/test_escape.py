"""The escaper every string from the network goes through before a terminal shows it."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from tests.support.linear import assert_linear, timing
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


# -- properties: any text, only escapes out, bounded, linear ---------------------------------

_DRIVES_A_TERMINAL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028-\u202e\u2066-\u2069\ud800-\udfff]"
)


@given(st.text())
def test_any_text_comes_out_inert_and_at_most_six_times_as_long(text: str) -> None:
    """Bound: each character becomes at most six (``\\u202e``); nothing that can drive a
    terminal is left, newlines only where asked for."""
    for keep in (True, False):
        escaped = escape_control(text, keep_newlines=keep)
        assert not _DRIVES_A_TERMINAL.search(escaped)
        assert len(escaped) <= 6 * len(text)
        assert ("\n" in escaped) == (keep and "\n" in text)


@timing
@given(st.text(min_size=1, max_size=64))
def test_escaping_takes_time_linear_in_the_text(text: str) -> None:
    assert_linear(escape_control, lambda k: text * (k // len(text) + 1), 16_384)
