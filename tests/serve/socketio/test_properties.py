"""Property tests of what `wscli serve --socketio` parses from clients, beyond the core codec:
the Socket.IO layer (any packets raise only ProtocolViolation and publish at most what they
carried), the Engine.IO session (any packet: never an exception), request sorting, the POST
body framing and ``--static`` paths — bounded output, linear time."""

from __future__ import annotations

import contextlib

from hypothesis import given
from hypothesis import strategies as st

from tests.serve.socketio.test_engine import Socket
from tests.serve.socketio.test_sockets import make
from tests.support import growth
from wscli.core.httphead import MAX_BODY_DIGITS, HeadError, parse_request_head
from wscli.core.socketio import ProtocolViolation
from wscli.serve.files import safe_parts
from wscli.serve.socketio.engine import EngineSession
from wscli.serve.socketio.polling import EngineRequest, classify

socketio_packets = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "0",
                "0/chat,",
                '0{"token":1}',
                '2["message","x"]',
                '21["message",{"a":1}]',
                '51-["message",{"_placeholder":true,"num":0}]',
                '52-["m",{"_placeholder":true,"num":1}]',
                "1",
                "3[]",
                '61-0[{"_placeholder":true,"num":0}]',
                "4{}",
            ]
        ),
        st.text(max_size=30),
        st.binary(max_size=30),
    ),
    max_size=12,
)


@given(socketio_packets)
def test_socketio_layer_raises_only_protocol_violation(packets: list[str | bytes]) -> None:
    client, _, host = make()
    carried = 0
    try:
        for packet in packets:
            carried += len(packet)
            if isinstance(packet, bytes):
                client.receive_binary(packet)
            else:
                client.receive_text(packet)
    except ProtocolViolation:
        pass
    published = sum(len(m.data) + (m.event.size if m.event else 0) for _, m in host.published)
    assert published <= 2 * carried + 64 * len(host.published)  # re-encoding adds little


@given(st.lists(st.one_of(st.text(max_size=20), st.binary(max_size=20)), max_size=10))
def test_an_engine_session_never_raises(packets: list[str | bytes]) -> None:
    client, transport, _ = make()
    session: EngineSession = client.session
    for packet in packets:
        session.receive(packet, transport)  # bad input closes the session, never raises
    assert isinstance(transport, Socket)


@given(
    st.sampled_from(["GET", "POST", "PUT", "HEAD"]),
    st.dictionaries(st.sampled_from(["EIO", "transport", "sid", "t"]), st.text(max_size=8)),
    st.booleans(),
)
def test_classify_answers_a_request_or_an_error_code(
    method: str, params: dict[str, str], upgrade: bool
) -> None:
    result = classify(method, params, upgrade)
    assert isinstance(result, EngineRequest) or result in range(6)


heads = st.builds(
    lambda lines: "\r\n".join(["POST /socket.io/ HTTP/1.1", *lines, "", ""]).encode("latin-1"),
    st.lists(
        st.one_of(
            st.sampled_from(
                [
                    "Content-Length: 12",
                    "content-length:3",
                    "Content-Length: 1e3",
                    "Content-Length: -1",
                    "Content-Length:",
                    "Transfer-Encoding: chunked",
                    "Host: x",
                    "Content-Length: 99999999999999999999",
                ]
            ),
            st.text(alphabet=st.characters(max_codepoint=255), max_size=30),
        ),
        max_size=6,
    ),
)


@given(heads)
def test_body_framing_raises_only_its_error(head: bytes) -> None:
    try:
        parsed = parse_request_head(head, body=True)
    except HeadError as exc:
        assert exc.status in (400, 411, 431)
        return
    lengths = [v for n, v in parsed.headers if n.lower() == "content-length"]
    assert len(lengths) <= 1
    assert parsed.content_length == (int(lengths[0]) if lengths else 0)
    assert 0 <= parsed.content_length < 10**MAX_BODY_DIGITS


@given(st.text(max_size=60))
def test_static_paths_never_climb_out(path: str) -> None:
    parts = safe_parts(path)
    if parts is None:
        return
    assert parts and all(p and p not in (".", "..") and "/" not in p for p in parts)
    assert not any(p.startswith(".") or "\\" in p or "\x00" in p for p in parts)


def test_these_parsers_are_linear() -> None:
    def framing(n: int) -> None:
        head = b"POST / HTTP/1.1\r\n" + b"X-A: b\r\n" * n + b"Content-Length: 3\r\n\r\n"
        with contextlib.suppress(HeadError):  # over MAX_HEADERS: refused after the same scan
            parse_request_head(head, body=True)

    def paths(n: int) -> None:
        safe_parts("/a%20b" * n)
        safe_parts("/" * n + "..")

    def packets(n: int) -> None:
        client, _, _ = make()
        client.receive_text("0")
        with contextlib.suppress(ProtocolViolation):
            client.receive_text('2["m",' + '"x",' * n + "1]")

    assert growth(framing, 2000) < 24  # 8 when linear; 64 when quadratic
    assert growth(paths, 2000) < 24
    assert growth(packets, 2000) < 24
