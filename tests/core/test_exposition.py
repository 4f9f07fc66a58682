"""wscli.core.exposition: the text format written (checked by prometheus-client's parsers of
both formats) and read back (a parser of peer bytes: examples, then properties)."""

from __future__ import annotations

import contextlib
import math
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from wscli.core.exposition import (
    ExpositionError,
    Histogram,
    counter,
    gauge,
    parse,
    render,
    wants_openmetrics,
)

FAMILIES = [
    counter("x_requests", "Requests.\nSecond line \\ with a backslash.", 7),
    counter("x_refused", "By reason.", {(("reason", "host"),): 1, (("reason", 'a"b\\c\nd'),): 2}),
    gauge("x_clients", "Clients.", 3),
    gauge("x_ratio", "A float.", 0.25),
    gauge("x_nan", "Not a number.", math.nan),
]


def _histogram() -> Histogram:
    histogram = Histogram((0.001, 0.01, 0.1))
    for value in (0.0005, 0.001, 0.002, 0.5):
        histogram.observe(value)
    histogram.observe(0.05, weight=3)
    return histogram


def test_classic_text_is_read_back_by_prometheus_client() -> None:
    text = render([*FAMILIES, _histogram().family("x_delay_seconds", "Delay.")]).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["x_requests"].type == "counter"
    assert families["x_requests"].documentation == "Requests.\nSecond line \\ with a backslash."
    assert families["x_requests"].samples[0].value == 7
    refused = {s.labels["reason"]: s.value for s in families["x_refused"].samples}
    assert refused == {"host": 1, 'a"b\\c\nd': 2}
    assert math.isnan(families["x_nan"].samples[0].value)
    buckets = {
        s.labels["le"]: s.value
        for s in families["x_delay_seconds"].samples
        if s.name.endswith("_bucket")
    }
    assert buckets == {"0.001": 2, "0.01": 3, "0.1": 6, "+Inf": 7}
    by_name = {s.name: s.value for s in families["x_delay_seconds"].samples}
    assert by_name["x_delay_seconds_count"] == 7
    assert by_name["x_delay_seconds_sum"] == pytest.approx(0.0005 + 0.001 + 0.002 + 0.5 + 0.15)


def test_openmetrics_is_read_back_by_its_own_parser() -> None:
    text = render([*FAMILIES, _histogram().family("x_delay_seconds", "Delay.")], True).decode()
    assert text.endswith("# EOF\n")
    assert "# TYPE x_requests counter" in text and "x_requests_total 7" in text
    families = {f.name: f for f in openmetrics_families(text)}
    assert families["x_requests"].samples[0].value == 7
    assert families["x_delay_seconds"].type == "histogram"


def test_invalid_names_are_refused_when_written() -> None:
    with pytest.raises(ValueError):
        render([gauge("bad name", "x", 1)])
    with pytest.raises(ValueError):
        render([gauge("ok", "x", {(("bad-label", "v"),): 1})])


@pytest.mark.parametrize(
    ("accept", "wanted"),
    [
        (None, False),
        ("", False),
        ("text/plain", False),
        ("application/openmetrics-text", True),
        ("application/openmetrics-text; version=1.0.0; charset=utf-8", True),
        ("application/openmetrics-text;version=0.0.1", False),
        ("application/openmetrics-text;q=0", False),
        ("application/openmetrics-text;q=x", False),
        ("text/plain;q=0.5, Application/OpenMetrics-Text;version=1.0.0;q=0.9", True),
    ],
)
def test_accept_chooses_openmetrics_only_when_asked(accept: str | None, wanted: bool) -> None:
    assert wants_openmetrics(accept) is wanted


def test_parse_reads_what_render_writes() -> None:
    text = render([*FAMILIES, _histogram().family("x_delay_seconds", "Delay.")]).decode()
    types, samples = parse(text)
    assert types["x_requests_total"] == "counter" and types["x_delay_seconds"] == "histogram"
    values = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in samples}
    assert values[("x_requests_total", ())] == 7
    assert values[("x_refused_total", (("reason", 'a"b\\c\nd'),))] == 2
    assert values[("x_delay_seconds_bucket", (("le", "+Inf"),))] == 7


@pytest.mark.parametrize(
    "text",
    [
        "x",
        "x{",
        'x{a="1"',
        "x{a=1} 2",
        "x abc",
        "x 1 2 3",
        "1x 2",
        'x{a="1"}',
        '{a="1"} 2',
        'x{a="1" b="2"} 3',
    ],
)
def test_parse_refuses_what_is_not_the_format(text: str) -> None:
    with pytest.raises(ExpositionError):
        parse(text)


def test_parse_takes_timestamps_comments_and_blank_lines() -> None:
    types, samples = parse('# HELP x y\n\n# TYPE x gauge\nx{a="}"} 1.5 1700000000\n')
    assert types == {"x": "gauge"}
    assert samples[0].labels == {"a": "}"} and samples[0].value == 1.5


@given(st.text(max_size=2000))
def test_parse_raises_only_its_error_and_its_output_is_bounded(text: str) -> None:
    try:
        types, samples = parse(text)
    except ExpositionError:
        return
    lines = text.count("\n") + 1
    assert len(samples) <= lines and len(types) <= lines


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True),
            st.text(max_size=30),
            st.floats(allow_nan=False),
        ),
        max_size=20,
    )
)
def test_any_label_value_survives_the_round_trip(entries: list[tuple[str, str, float]]) -> None:
    values = {(("label", text),): number for _, text, number in entries}
    text = render([gauge("x_any", "Any.", values)]).decode()
    _, samples = parse(text)
    assert {s.labels["label"]: s.value for s in samples} == {
        labels[0][1]: number for labels, number in values.items()
    }
    # prometheus-client agrees.
    parsed = {
        s.labels["label"]: s.value for f in text_string_to_metric_families(text) for s in f.samples
    }
    assert parsed == {labels[0][1]: number for labels, number in values.items()}


@pytest.mark.parametrize(
    "unit",
    [
        'x{a="' + "\\" * 50 + '"} 1\n',  # escapes
        "x{" + "}" * 50 + " 1\n",  # braces for the closing-brace search
        'x{a="1",' * 20 + "\n",  # malformed labels
        "# " + "#" * 50 + "\n",  # comments
        "x " + "1" * 50 + "\n",  # long numbers
    ],
)
def test_parse_time_is_linear_in_the_input(unit: str) -> None:
    small_text, large_text = unit * 400, unit * 3200
    small = large = math.inf
    for _ in range(5):  # interleaved, the best of each: a busy machine slows both alike
        for text in (small_text, large_text):
            started = time.process_time()  # CPU time: waiting for a core does not count
            with contextlib.suppress(ExpositionError):
                parse(text)
            took = time.process_time() - started
            if text is small_text:
                small = min(small, took)
            else:
                large = min(large, took)
    assert large < small * 8 * 3, (small, large)  # linear, with room for noise


@given(st.text(max_size=500))
def test_accept_parse_never_raises(accept: str) -> None:
    assert wants_openmetrics(accept) in (True, False)


def test_accept_parse_time_is_linear() -> None:
    def cost(n: int) -> float:
        header = "text/plain;q=0.1;a=b," * n
        best = math.inf
        for _ in range(5):
            started = time.process_time()  # CPU time: waiting for a core does not count
            for _ in range(20):
                wants_openmetrics(header)
            best = min(best, time.process_time() - started)
        return best

    # The work is bounded (64 media ranges of 16 parameters): 8x the input costs no more
    # than the split of the longer string.
    assert cost(800) < cost(100) * 8 * 3
