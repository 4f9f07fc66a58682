"""The HTTP/1.1 framing of long-polling answers (h11 inside our bounds): the framings RFC
9112 allows, the bounds a hostile server meets, and properties for any bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.linear import assert_linear, quietly, timing
from wscli.connect.socketio.framing import (
    MAX_HEAD,
    HttpProblem,
    ResponseReader,
    parse_response,
)

OK = b"HTTP/1.1 200 OK\r\n"


def chunked(*chunks: bytes, trailers: bytes = b"", extension: bytes = b"") -> bytes:
    body = b"".join(f"{len(c):x}".encode() + extension + b"\r\n" + c + b"\r\n" for c in chunks)
    return OK + b"Transfer-Encoding: chunked\r\n\r\n" + body + b"0\r\n" + trailers + b"\r\n"


@pytest.mark.parametrize(
    ("wire", "body"),
    [
        (OK + b"Content-Length: 5\r\n\r\nhello", b"hello"),
        (b"HTTP/1.1 100 Continue\r\n\r\n" + OK + b"Content-Length: 2\r\n\r\nok", b"ok"),
        (
            b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n" + OK + b"Content-Length: 0\r\n\r\n",
            b"",
        ),
        (OK + b"\r\nuntil the server closes", b"until the server closes"),  # RFC 9112 §6.3
        (b"HTTP/1.0 200 OK\r\n\r\nold", b"old"),
        (chunked(b"ab", b"c", trailers=b"X-Sum: 3\r\n"), b"abc"),  # §7.1.2 trailers
        (chunked(b"abc", extension=b';name="v"'), b"abc"),  # §7.1.1 extensions
    ],
    ids=["length", "100-continue", "103", "close-delimited", "http-1.0", "trailers", "ext"],
)
def test_framings_rfc_9112_allows_are_read(wire: bytes, body: bytes) -> None:
    for split in (len(wire), 1):  # all at once, and one byte per read
        chunks = [wire[i : i + split] for i in range(0, len(wire), split)]
        assert parse_response(chunks).body == body


def test_a_kept_alive_connection_reads_each_answer_after_its_trailers() -> None:
    reader = ResponseReader(2**20)
    first = chunked(b"one", trailers=b"X-A: 1\r\n")
    second = OK + b"Content-Length: 3\r\n\r\ntwo"
    reader.request("GET", "/a", [("Host", "h")])
    response = reader.receive(first + second)  # the server sent ahead: kept for later
    assert response is not None and response.body == b"one" and reader.reusable
    reader.request("GET", "/b", [("Host", "h")])
    response = reader.receive(b"")
    assert response is not None and response.body == b"two"


def test_what_a_hostile_answer_meets() -> None:
    with pytest.raises(HttpProblem, match="over 65536 bytes"):
        parse_response([OK + b"Content-Length: 999999\r\n\r\n"], max_body=65536)
    with pytest.raises(HttpProblem, match="over 10 bytes"):
        parse_response([chunked(b"x" * 6, b"y" * 6)], max_body=10)
    with pytest.raises(HttpProblem, match="bytes of HTTP framing around 2 bytes"):
        parse_response([chunked(b"a", b"b", extension=b";" + b"e" * 60000 * 2)])
    with pytest.raises(HttpProblem, match="HTTP framing"):
        parse_response([b"HTTP/1.1 100 Continue\r\nX: " + b"y" * 1000 + b"\r\n\r\n"] * 200)
    with pytest.raises(HttpProblem, match="malformed"):
        parse_response([OK + b"X: " + b"y" * (MAX_HEAD + 1)])
    with pytest.raises(HttpProblem, match="too large"):
        parse_response([OK + b"".join(b"X-%d: 1\r\n" % i for i in range(101)) + b"\r\n"])
    with pytest.raises(HttpProblem, match="closed the connection mid-response"):
        parse_response([OK + b"Content-Length: 10\r\n\r\nshort"])
    with pytest.raises(HttpProblem, match=r"closed the connection$"):
        parse_response([])


def test_only_a_response_whose_answer_never_began_may_be_asked_again() -> None:
    reader = ResponseReader(None)
    reader.request("GET", "/", [("Host", "h")])
    assert not reader.received_any
    assert reader.receive(b"HTTP/1.1 2") is None
    assert reader.received_any


# -- properties: any bytes, only HttpProblem, bounded, linear --------------------------------

FRAGMENTS = st.sampled_from(
    [
        OK,
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"Content-Length: 3\r\n",
        b"Transfer-Encoding: chunked\r\n",
        b"Connection: close\r\n",
        b"\r\n",
        b"3\r\nabc\r\n",
        b"0\r\n\r\n",
        b"a;x=1\r\n",
        b"X-T: 1\r\n",
    ]
)
WIRES = st.one_of(st.binary(), st.lists(FRAGMENTS | st.binary(max_size=8)).map(b"".join))


@given(WIRES, st.integers(min_value=1, max_value=64), st.sampled_from([None, 16, 4096]))
def test_any_bytes_are_a_response_or_an_http_problem(
    wire: bytes, split: int, max_body: int | None
) -> None:
    """Bound: the body is no longer than ``max_body`` and than the bytes that came."""
    chunks = [wire[i : i + split] for i in range(0, len(wire), split)]
    try:
        response = parse_response(chunks, max_body)
    except HttpProblem:
        return
    assert len(response.body) <= len(wire)
    assert max_body is None or len(response.body) <= max_body
    assert 100 <= response.status <= 999 and len(response.headers) <= 100


@timing
@given(st.binary(min_size=1, max_size=64))
def test_reading_takes_time_linear_in_the_answer(data: bytes) -> None:
    run = quietly(parse_response, HttpProblem)
    assert_linear(run, lambda k: [chunked(*[data] * (k // len(data) + 1))], 1024)
    assert_linear(run, lambda k: [OK + b"\r\n" + data * (k // len(data) + 1)], 16384)
    assert_linear(run, lambda k: [data * (k // len(data) + 1)], 16384)
