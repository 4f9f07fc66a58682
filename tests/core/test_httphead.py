"""wscli.core.httphead: a parser of peer bytes (serve's request heads): examples for each
rule, websockets' parser as the reference for what is accepted, then properties."""

from __future__ import annotations

import contextlib
import math
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.http11 import Request
from websockets.server import ServerProtocol

from wscli.core.httphead import (
    MAX_HEADER_LINE,
    MAX_HEADERS,
    MAX_REQUEST_LINE,
    HeadError,
    RequestHead,
    parse_request_head,
)

UPGRADE = (
    b"GET /chat?nick=ann HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n"
)


def test_an_upgrade_request_is_parsed_in_order() -> None:
    head = parse_request_head(UPGRADE)
    assert head == RequestHead(
        "GET",
        "/chat?nick=ann",
        "HTTP/1.1",
        [
            ("Host", "127.0.0.1:8080"),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "13"),
        ],
    )


def test_values_lose_surrounding_whitespace_and_keep_obs_text_as_latin1() -> None:
    head = parse_request_head(
        b"GET / HTTP/1.0\r\nX-A: \t spaced \t\r\nX-B: caf\xe9\r\nX-C:\r\n\r\n"
    )
    assert head.version == "HTTP/1.0"
    assert head.headers == [("X-A", "spaced"), ("X-B", "café"), ("X-C", "")]


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GET /\r\n\r\n", 400),  # two parts
        (b"GET  / HTTP/1.1\r\n\r\n", 400),  # two spaces
        (b"GET / HTTP/1.1 \r\n\r\n", 400),  # trailing space
        (b"GET / HTTP/2.0\r\n\r\n", 400),
        (b"GET / http/1.1\r\n\r\n", 400),
        (b"G(T / HTTP/1.1\r\n\r\n", 400),  # not a token
        (b"GET /a\x7fb HTTP/1.1\r\n\r\n", 400),  # control character in the target
        (b"GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n", 400),  # non-ASCII target
        (b"GET / HTTP/1.1\r\nHost x\r\n\r\n", 400),  # no colon
        (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),  # space before the colon
        (b"GET / HTTP/1.1\r\nHo\x01st: x\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400),  # obsolete line folding
        (b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400),  # a bare CR is no line break
        (b"GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 400),  # nor a bare LF
        (b"GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\n", 400),  # a body
        (b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\n", 400),  # not the end of a head
        (b"GET /" + b"a" * MAX_REQUEST_LINE + b" HTTP/1.1\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nX: " + b"a" * MAX_HEADER_LINE + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * (MAX_HEADERS + 1) + b"\r\n", 431),
    ],
)
def test_malformed_heads_are_refused_with_their_status(head: bytes, status: int) -> None:
    with pytest.raises(HeadError) as caught:
        parse_request_head(head)
    assert caught.value.status == status
    assert "\n" not in caught.value.reason and "\r" not in caught.value.reason


def test_a_content_length_of_zero_is_no_body() -> None:
    head = parse_request_head(b"GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
    assert head.headers == [("Content-Length", "0")]


def test_the_limits_themselves_are_accepted() -> None:
    target = b"/" + b"a" * (MAX_REQUEST_LINE - len(b"GET  HTTP/1.1") - 1)
    line = b"GET " + target + b" HTTP/1.1"
    assert len(line) == MAX_REQUEST_LINE
    header = b"X: " + b"a" * (MAX_HEADER_LINE - 3)
    head = parse_request_head(line + b"\r\n" + header + b"\r\n" * 2)
    assert len(head.target) == len(target) and len(head.headers[0][1]) == MAX_HEADER_LINE - 3
    many = parse_request_head(b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * MAX_HEADERS + b"\r\n")
    assert len(many.headers) == MAX_HEADERS


def test_a_secret_in_a_malformed_header_is_not_in_the_reason() -> None:
    with pytest.raises(HeadError) as caught:
        parse_request_head(b"GET / HTTP/1.1\r\nAuthorization: Bearer s3cret\x01\r\n\r\n")
    assert "s3cret" not in caught.value.reason


def _websockets_parse(head: bytes) -> tuple[str, str, list[tuple[str, str]]] | None:
    """What websockets' own parser makes of a GET head (None: refused)."""
    protocol = ServerProtocol()
    protocol.receive_data(head)
    events = protocol.events_received()
    if not events:
        return None
    request = events[0]
    assert isinstance(request, Request)
    return request.path, request.protocol, list(request.headers.raw_items())


_NAMES = st.sampled_from(["Host", "Upgrade", "X-A", "Sec-WebSocket-Key", "Content-Length"])
_VALUES = st.one_of(
    st.from_regex(rb"[\t -~\x80-\xff]{0,20}", fullmatch=True),
    st.binary(max_size=20).filter(lambda v: b"\r\n" not in v),
)
_TARGETS = st.one_of(
    st.from_regex(rb"/[!-~]{0,20}", fullmatch=True),
    st.binary(min_size=1, max_size=30).filter(lambda t: b"\r\n" not in t),
)


@given(
    target=_TARGETS,
    headers=st.lists(st.tuples(_NAMES, _VALUES), max_size=6),
)
def test_whatever_we_accept_websockets_reads_the_same(
    target: bytes, headers: list[tuple[str, bytes]]
) -> None:
    head = b"GET " + target + b" HTTP/1.1\r\n"
    head += b"".join(name.encode() + b": " + value + b"\r\n" for name, value in headers)
    head += b"\r\n"
    try:
        ours = parse_request_head(head)
    except HeadError:
        # Stricter than websockets only where it lets control characters through, or a
        # body it refuses too.
        theirs = _websockets_parse(head)
        assert (
            theirs is None
            or any(b < 0x21 or b > 0x7E for b in target)
            or any(name == "Content-Length" for name, _ in headers)
        )
        return
    theirs = _websockets_parse(head)
    assert theirs == (ours.target, ours.version, ours.headers)


@given(st.binary(max_size=2000))
def test_any_bytes_give_a_head_or_head_error_only(data: bytes) -> None:
    with contextlib.suppress(HeadError):
        head = parse_request_head(data + b"\r\n\r\n")
        assert len(head.headers) <= MAX_HEADERS
        assert all(len(n) + len(v) <= MAX_HEADER_LINE for n, v in head.headers)


@given(
    st.lists(
        st.sampled_from(
            [b"GET", b" ", b"/", b"HTTP/1.1", b"\r\n", b"\r", b"\n", b":", b"X", b"\t", b"\x80"]
        ),
        max_size=60,
    )
)
def test_near_misses_give_a_head_or_head_error_only(parts: list[bytes]) -> None:
    with contextlib.suppress(HeadError):
        head = parse_request_head(b"".join(parts) + b"\r\n\r\n")
        assert head.method and head.target and head.version in ("HTTP/1.1", "HTTP/1.0")


@pytest.mark.parametrize(
    "unit",
    [
        b"X-Header: value\r\n",  # valid lines
        b"X-Header: va\x01ue\r\n",  # a bad value (found by the diagnosis after the match)
        b"X-Header value\r\n",  # no colon
        b"X: " + b"\t " * 20 + b"\r\n",  # whitespace to strip
        b"X:\r",  # bare CRs
    ],
)
def test_parse_time_is_linear_in_the_input(unit: bytes) -> None:
    def head(n: int) -> bytes:
        return b"GET / HTTP/1.1\r\n" + unit * n + b"\r\n\r\n"

    # Under the header-count limit for the lines that parse, over it for the others.
    small_head, large_head = head(15), head(120)
    small = large = math.inf
    for _ in range(7):  # interleaved, the best of each: a busy machine slows both alike
        for data in (small_head, large_head):
            started = time.process_time()  # CPU time: waiting for a core does not count
            for _ in range(200):
                with contextlib.suppress(HeadError):
                    parse_request_head(data)
            took = time.process_time() - started
            if data is small_head:
                small = min(small, took)
            else:
                large = min(large, took)
    assert large < small * 8 * 3, (small, large)  # linear, with room for noise
