"""The one NDJSON writer: compact, ordered, and safe to show on a terminal."""

from __future__ import annotations

import datetime
import json
import re
import time
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.linear import assert_linear, timing
from wscli.core import ndjson
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


def test_the_current_time_is_formatted_like_any_other(monkeypatch: pytest.MonkeyPatch) -> None:
    def check() -> None:
        before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        now = timestamp()
        after = datetime.datetime.now(datetime.timezone.utc)
        parsed = datetime.datetime.strptime(now, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=datetime.timezone.utc
        )
        assert before <= parsed <= after and len(now) == 24

    check()
    check()  # within the same second, most often: the second's text is formatted once
    # As just past the next second, without waiting for it: the second cached is an older
    # one, with its text; the current second's is formatted afresh.
    older = int(time.time()) - 1
    text = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(older))
    monkeypatch.setattr(ndjson, "_last_second", [older, text])
    check()


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


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


# -- properties: the NDJSON escaper, for any text a peer sends ---------------------------------

_UNSAFE_RAW = re.compile("[\x00-\x1f\x7f-\x9f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")


@given(st.text())
def test_any_text_is_one_inert_json_line_that_reads_back_the_same(text: str) -> None:
    """Bound: at most six characters per character (``\\u0085``) and the two quotes."""
    line = to_json(text)
    assert not _UNSAFE_RAW.search(line)
    assert json.loads(line) == text
    assert len(line) <= 6 * len(text) + 2
    line.encode("utf-8")  # always encodable: lone surrogates are escaped


@timing
@given(st.text(min_size=1, max_size=32))
def test_writing_json_takes_time_linear_in_the_text(text: str) -> None:
    assert_linear(to_json, lambda k: text * (k // len(text) + 1), 16_384)
