"""The one NDJSON writer: compact, ordered, and safe to show on a terminal."""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from wscli.core.ndjson import timestamp, to_ascii_json, to_json, to_ndjson


def test_timestamp_is_utc_milliseconds() -> None:
    when = datetime.datetime(2026, 1, 2, 3, 4, 5, 678_901, tzinfo=datetime.timezone.utc)
    assert timestamp(when) == "2026-01-02T03:04:05.678Z"
    east = when.astimezone(datetime.timezone(datetime.timedelta(hours=5)))
    assert timestamp(east) == "2026-01-02T03:04:05.678Z"


def test_ndjson_is_one_compact_line_with_keys_in_order() -> None:
    assert to_ndjson({"b": 1, "a": "é"}) == '{"b":1,"a":"é"}\n'


def test_terminal_controlling_characters_are_escaped() -> None:
    hostile = "a\x1b]0;x\x07\x9b31m\u202eexe.txt\u2028\ud800b"
    line = to_ndjson({"data": hostile})
    assert line == '{"data":"a\\u001b]0;x\\u0007\\u009b31m\\u202eexe.txt\\u2028\\ud800b"}\n'
    assert line.encode("utf-8")  # a lone surrogate no longer makes invalid UTF-8
    assert json.loads(line)["data"] == hostile  # and every parser reads the same string


def test_to_json_has_no_newline() -> None:
    assert to_json(["x", None]) == '["x",null]'


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(JSON_VALUES)
def test_ascii_json_reads_back_the_same_and_is_safe_on_a_terminal(value: object) -> None:
    text = to_ascii_json(value)
    assert json.loads(text) == json.loads(to_json(value)) == value
    assert text.isascii() and text.isprintable()  # no control character, no DEL


def test_ascii_json_escapes_at_c_speed_whatever_the_text_holds() -> None:
    def cost(text: str) -> float:
        return min(_cpu(lambda: to_ascii_json({"text": text})) for _ in range(3))

    plain = cost("a" * 2**20)
    hostile = cost("\u202e" * (2**20 // 3)) + cost("\x01\x7f" * 2**19)
    assert hostile < 20 * max(plain, 1e-3)  # a Python call per character: about 70 times


def _cpu(run: Callable[[], object]) -> float:
    start = time.thread_time()
    run()
    return time.thread_time() - start
