"""The bounded HTTP request parser of the control API: each rule by example, then any input
(Hypothesis): only BadRequest, bounded output, time linear in the input."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wscli.core.httprequest import (
    MAX_HEAD,
    MAX_HEADERS,
    BadRequest,
    HttpRequest,
    RequestReader,
    json_body,
)

POST = (
    b"POST /faults?x=1 HTTP/1.1\r\nHost: 127.0.0.1:9001\r\n"
    b"Content-Type: application/json\r\nContent-Length: 16\r\n\r\n"
    b'{"fault":"drop"}'
)


def read(data: bytes, max_body: int = 1024) -> HttpRequest | None:
    return RequestReader(max_body).feed(data)


def test_a_request_in_one_read_or_byte_by_byte() -> None:
    whole = read(POST)
    assert whole == HttpRequest(
        "POST",
        "/faults?x=1",
        (
            ("host", "127.0.0.1:9001"),
            ("content-type", "application/json"),
            ("content-length", "16"),
        ),
        b'{"fault":"drop"}',
    )
    assert whole.path == "/faults"
    reader = RequestReader()
    results = [reader.feed(POST[i : i + 1]) for i in range(len(POST))]
    assert results[:-1] == [None] * (len(POST) - 1)
    assert results[-1] == whole
    assert json_body(whole) == {"fault": "drop"}


def test_what_follows_the_request_is_not_kept() -> None:
    request = read(POST + b"GET / HTTP/1.1\r\n\r\n" * 100)
    assert request is not None and request.body == b'{"fault":"drop"}'
    no_body = read(b"GET / HTTP/1.1\r\nHost: h\r\n\r\nmore")
    assert no_body is not None and no_body.body == b""


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"GET /\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\n\r\n", 505),
        (b"GET / FTP/1.0\r\n\r\n", 400),
        (b"GET  / HTTP/1.1\r\n\r\n", 400),
        (b"G\x00T / HTTP/1.1\r\n\r\n", 400),
        (b"GET /\x7f HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nNo colon\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nBad name: x\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400),  # obs-fold
        (b"GET / HTTP/1.1\r\nA: b\nC: d\r\n\r\n", 400),  # a bare LF
        (b"GET / HTTP/1.1\r\nA: b\x00\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
        (b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: \xd9\xa3\r\n\r\n", 400),  # not ASCII digits
        (b"POST / HTTP/1.1\r\nContent-Length: 1025\r\n\r\n", 413),
        (b"GET / HTTP/1.1\r\n" + b"A: b\r\n" * (MAX_HEADERS + 1) + b"\r\n", 431),
        (b"GET / HTTP/1.1\r\nA: " + b"x" * MAX_HEAD + b"\r\n\r\n", 431),
        (b"GET /" + b"x" * (MAX_HEAD + 10), 431),  # no end of head in sight
    ],
)
def test_bad_requests_say_which_status(data: bytes, status: int) -> None:
    with pytest.raises(BadRequest) as info:
        read(data)
    assert info.value.status == status


def test_the_same_content_length_twice_is_one() -> None:
    request = read(b"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok")
    assert request is not None and request.body == b"ok"


def test_json_bodies() -> None:
    def with_body(body: bytes, kind: str = "application/json; charset=utf-8") -> HttpRequest:
        return HttpRequest("POST", "/", (("content-type", kind),), body)

    assert json_body(HttpRequest("POST", "/", ())) is None
    assert json_body(with_body(b"[1]")) == [1]
    for bad in (b"{", b"\xff", b"[" * 100_000 + b"]" * 100_000):
        with pytest.raises(BadRequest) as info:
            json_body(with_body(bad))
        assert info.value.status == 400
    with pytest.raises(BadRequest) as info:
        json_body(with_body(b"{}", "text/plain"))  # what a web page may post without asking
    assert info.value.status == 415
    with pytest.raises(BadRequest):
        HttpRequest("GET", "/", (("a", "1"), ("a", "2"))).header("a")


def _requestish() -> st.SearchStrategy[bytes]:
    """Bytes near a request: real pieces, shuffled and cut, and noise."""
    pieces = st.sampled_from(
        [
            b"GET ",
            b"POST ",
            b"/faults ",
            b"HTTP/1.1",
            b"\r\n",
            b"\r\n\r\n",
            b"Content-Length: ",
            b"7",
            b"99999999999999",
            b"Transfer-Encoding: chunked",
            b": ",
            b"\n",
            b" ",
            b"\x00",
            b"\xff",
            b'{"a":1}',
        ]
    )
    return st.one_of(st.binary(max_size=2000), st.lists(pieces, max_size=60).map(b"".join))


@given(data=_requestish(), cuts=st.lists(st.integers(1, 64), max_size=20))
def test_any_input_gives_a_request_none_or_bad_request(data: bytes, cuts: list[int]) -> None:
    reader = RequestReader(max_body=256)
    chunks, at = [], 0
    for cut in cuts:
        chunks.append(data[at : at + cut])
        at += cut
    chunks.append(data[at:])
    result = None
    try:
        for chunk in chunks:
            result = reader.feed(chunk)
            assert len(reader.buffer) <= MAX_HEAD + 4 + 256  # what is kept is bounded
            if result is not None:
                break
    except BadRequest as exc:
        assert 400 <= exc.status < 600
        return
    if result is not None:
        assert len(result.body) <= 256
        assert len(result.headers) <= MAX_HEADERS
        assert len(result.target) <= 2048


def _cpu_time(data: bytes) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        reader = RequestReader()
        for i in range(len(data)):  # the worst case: one byte per read
            reader.feed(data[i : i + 1])
        best = min(best, time.process_time() - start)
    return best


def test_time_is_linear_in_the_input() -> None:
    # A head that never ends (one byte per read): each byte is scanned once, so 8 times the
    # input costs about 8 times the time, not 64 (a rescan per read would be quadratic).
    small = b"GET / HTTP/1.1\r\n" + b"a: b\r\n" * 150
    large = b"GET / HTTP/1.1\r\n" + b"a: b\r\n" * 1200
    assert len(large) < MAX_HEAD
    ratios = []
    for _ in range(3):  # interleaved, best of three: the machine is shared
        ratios.append(_cpu_time(large) / max(_cpu_time(small), 1e-6))
    assert min(ratios) < 20
