"""The sans-I/O handshake: request bytes, header order and overrides, verdict, errors."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from websockets.client import ClientProtocol
from websockets.uri import WebSocketURI, parse_uri

from tests.handshake.handshake_example import ACCEPT, KEY, SENT_REQUEST
from tests.support.linear import assert_linear, timing
from wscli.core.clientrequest import USER_AGENT
from wscli.core.clientrequest import build_client as build_request
from wscli.core.errors import HandshakeRejected, UsageProblem, WscliError
from wscli.handshake.request import (
    Verdict,
    handshake_error,
    judge,
    parse_head,
    parsed_response,
    split_head,
)


def build_client(uri: WebSocketURI, **options: object) -> tuple[ClientProtocol, bytes]:
    """The protocol and the exact bytes of its request, as `wscli handshake` sends them."""
    protocol, request = build_request(uri, **options)  # type: ignore[arg-type]
    protocol.send_request(request)
    return protocol, b"".join(protocol.data_to_send())


def _client(**kwargs: object) -> tuple[ClientProtocol, bytes]:
    options: dict[str, object] = {"key": KEY, "compression": False}
    options.update(kwargs)
    return build_client(parse_uri("ws://127.0.0.1:8765/chat"), **options)  # type: ignore[arg-type]


def test_issue_example_request_bytes() -> None:
    _, request = _client(
        headers=[("Host", "server.example.com")], subprotocols=["chat", "superchat"]
    )
    assert request == SENT_REQUEST


def test_order_origin_compression_and_extra_headers() -> None:
    _, request = build_client(
        parse_uri("wss://user:pw@example.com/x?y=1"),
        headers=[("X-Trace", "1"), ("Sec-WebSocket-Version", "8"), ("X-Trace", "2")],
        origin="https://example.com",
        key=KEY,
    )
    assert request == (
        b"GET /x?y=1 HTTP/1.1\r\n"
        b"Host: example.com\r\n"
        b"Authorization: Basic dXNlcjpwdw==\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n"
        b"Origin: https://example.com\r\n"
        b"Sec-WebSocket-Version: 8\r\n"
        b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
        b"X-Trace: 1\r\n"
        b"X-Trace: 2\r\n" + f"User-Agent: {USER_AGENT}\r\n".encode() + b"\r\n"
    )


def test_header_key_and_protocol_overrides_change_what_is_checked() -> None:
    other = "dGhlIHNhbXBsZSBub25jZQ=="
    protocol, request = _client(
        headers=[("Sec-WebSocket-Key", other), ("Sec-WebSocket-Protocol", "a, b")],
        subprotocols=["ignored"],
    )
    assert f"Sec-WebSocket-Key: {other}\r\n".encode() in request
    assert b"Sec-WebSocket-Protocol: a, b\r\n" in request
    assert protocol.key == other
    assert protocol.available_subprotocols == ["a", "b"]


def test_random_key_when_none_given() -> None:
    first, _ = build_client(parse_uri("ws://h/"))
    second, _ = build_client(parse_uri("ws://h/"))
    assert first.key != second.key


def test_subprotocol_must_be_a_token() -> None:
    with pytest.raises(UsageProblem, match="invalid subprotocol 'a b'"):
        _client(subprotocols=["a b"])


def test_split_and_parse_head() -> None:
    assert split_head(b"HTTP/1.1 101 OK\r\nA: b") is None
    head, rest = split_head(b"HTTP/1.1 404 Not Found\r\nA: b\r\n\r\nbody") or (b"", b"")
    assert (head, rest) == (b"HTTP/1.1 404 Not Found\r\nA: b\r\n\r\n", b"body")
    parsed = parse_head(head)
    assert (parsed.status_code, parsed.reason, parsed.headers) == (404, "Not Found", [("A", "b")])
    assert parse_head(b"garbage\r\n\r\n").status_code is None


def _respond(
    client: tuple[ClientProtocol, bytes], response: bytes
) -> tuple[Verdict, WscliError | None]:
    protocol, request = client
    protocol.receive_data(response)
    head = split_head(response)
    assert head is not None
    verdict = judge(request, protocol.handshake_exc, parse_head(head[0]))
    return verdict, handshake_error(protocol, verdict, "h:1", len(response))


def _head(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _upgrade(*extra: str, accept: str = ACCEPT, upgrade: bool = True) -> bytes:
    """A 101 head with the usual headers (``upgrade=False`` leaves Upgrade out), then ``extra``."""
    lines = ["HTTP/1.1 101 Switching Protocols"]
    lines += ["Upgrade: websocket"] if upgrade else []
    lines += ["Connection: Upgrade", f"Sec-WebSocket-Accept: {accept}", *extra]
    return _head(*lines)


def test_valid_101_with_subprotocol() -> None:
    client = _client(subprotocols=["chat", "superchat"])
    verdict, error = _respond(
        client,
        _upgrade("Sec-WebSocket-Protocol: chat"),
    )
    assert error is None
    assert verdict.ok
    assert verdict.subprotocols_received == ["chat"]


def test_wrong_accept() -> None:
    client = _client()
    verdict, error = _respond(
        client,
        _upgrade(accept="AAAA"),
    )
    assert isinstance(error, HandshakeRejected)
    assert str(error) == (
        f"handshake with h:1 failed: wrong Sec-WebSocket-Accept: expected {ACCEPT}, received AAAA"
    )
    assert not verdict.accept_ok


def test_unoffered_subprotocol() -> None:
    client = _client(subprotocols=["chat"])
    _, error = _respond(
        client,
        _upgrade("Sec-WebSocket-Protocol: evil"),
    )
    assert str(error) == (
        "handshake with h:1 failed: server chose subprotocol 'evil', which was not offered "
        "(offered: chat)"
    )


def test_missing_upgrade_header() -> None:
    client = _client()
    _, error = _respond(
        client,
        _upgrade(upgrade=False),
    )
    assert str(error) == "handshake with h:1 failed: missing Upgrade header"


def test_unrequested_extension() -> None:
    client = _client()
    verdict, error = _respond(
        client,
        _upgrade("Sec-WebSocket-Extensions: x-custom; a=1"),
    )
    assert str(error) == "handshake with h:1 failed: no extensions supported"
    assert verdict.extensions_received == [("x-custom", [("a", "1")])]
    assert not verdict.extensions_ok


def test_non_101_is_rejected_with_status() -> None:
    client = _client()
    verdict, error = _respond(client, _head("HTTP/1.1 403 Forbidden", "Content-Length: 0"))
    assert not verdict.ok
    assert isinstance(error, HandshakeRejected)
    assert error.status == 403
    assert str(error) == "server at h:1 rejected the upgrade: HTTP 403 Forbidden"


def test_malformed_and_cut_off_responses() -> None:
    protocol, _ = _client()
    protocol.receive_data(b"\x1b]0;pwned\x07 nonsense\r\n")
    assert not parsed_response(protocol)
    error = handshake_error(protocol, None, "h:1", 20)
    assert str(error) == (
        "handshake with h:1 failed: malformed response: "
        "invalid HTTP status line: \\e]0;pwned\\x07 nonsense"
    )

    protocol, _ = _client()
    protocol.receive_eof()
    error = handshake_error(protocol, None, "h:1", 0)
    assert str(error) == (
        "handshake with h:1 failed: the server closed the connection without answering "
        "(hint: is it a TLS port (try wss://), or the wrong path?)"
    )

    protocol, _ = _client()
    protocol.receive_data(b"HTTP/1.1 101 Swi")
    protocol.receive_eof()
    error = handshake_error(protocol, None, "h:1", 16)
    assert str(error) == (
        "handshake with h:1 failed: the server closed the connection mid-response "
        "(16 bytes received)"
    )


def test_oversized_head() -> None:
    protocol, _ = _client()
    protocol.receive_data(b"HTTP/1.1 101 Switching Protocols\r\nX: " + b"a" * 9000)
    error = handshake_error(protocol, None, "h:1", 9037)
    assert str(error).startswith("handshake with h:1 failed: response head too large: ")
    assert str(error).endswith("(limits: 8192-byte lines, 128 headers)")


def test_too_many_headers() -> None:
    protocol, _ = _client()
    lines = [f"X-{i}: y" for i in range(200)]
    protocol.receive_data(_head("HTTP/1.1 101 Switching Protocols", *lines))
    assert not parsed_response(protocol)
    error = handshake_error(protocol, None, "h:1", 2000)
    assert str(error) == (
        "handshake with h:1 failed: response head too large: expected no more than "
        "128 headers (limits: 8192-byte lines, 128 headers)"
    )


# -- properties: the lenient response-head reader, for any bytes ----------------------------


@given(
    st.binary(max_size=2048) | st.builds(b"HTTP/1.1 %b OK\r\n\r\n".__mod__, st.binary(max_size=4))
)
@example(b"HTTP/1.1 \xb201 OK\r\n\r\n")  # a latin-1 superscript two: isdigit() says yes
def test_any_head_is_read_without_an_exception_and_bounded(head: bytes) -> None:
    """Bound: no more header pairs than lines, a status only of three ASCII digits."""
    parsed = parse_head(head)
    assert parsed.status_code is None or 100 <= parsed.status_code <= 999
    assert len(parsed.headers) <= head.count(b"\r\n")
    assert len(parsed.reason) + len(parsed.status_text) <= len(head)


@timing
@given(st.binary(min_size=1, max_size=64))
def test_reading_a_head_takes_time_linear_in_its_size(line: bytes) -> None:
    assert_linear(parse_head, lambda k: b"HTTP/1.1 200 OK\r\n" + (line + b"\r\n") * k, 256)
