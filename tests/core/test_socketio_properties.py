"""Property tests of the Socket.IO / Engine.IO codec (core/socketio), as `wscli serve` uses it
on what clients send: any input raises only ProtocolViolation, the output is bounded by the
input, and the time is linear in it."""

from __future__ import annotations

import contextlib
import json

from hypothesis import given
from hypothesis import strategies as st

from tests.support import growth
from wscli.core.socketio import (
    MAX_PACKETS_PER_BODY,
    PacketType,
    ProtocolViolation,
    RelayedEvent,
    check_placeholders,
    decode_packet,
    decode_payload,
    encode_payload,
    loads_bounded,
    pack_event,
    packed_event_size,
    packet_json,
    unpack_event,
)

# Packets that look like Socket.IO: a type digit, attachments, a namespace, an id, JSON.
packet_text = st.builds(
    lambda kind, att, ns, ack, body: f"{kind}{att}{ns}{ack}{body}",
    st.sampled_from("0123456789x"),
    st.sampled_from(["", "1-", "2-", "99999-", "-", "01-"]),
    st.sampled_from(["", "/", "/chat,", "/a,b", "/x"]),
    st.sampled_from(["", "0", "12", "9" * 20]),
    st.one_of(
        st.text(max_size=40),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=5),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(st.text(max_size=4), inner, max_size=4)
            ),
            max_leaves=12,
        ).map(json.dumps),
    ),
)


@given(st.one_of(packet_text, st.text(max_size=200)))
def test_decode_packet_raises_only_protocol_violation(text: str) -> None:
    try:
        packet = decode_packet(text)
    except ProtocolViolation as exc:
        assert exc.code in (1002, 1007, 1009)
        return
    assert isinstance(packet.type, PacketType)
    assert len(packet.namespace) <= len(text)
    if packet.attachments:
        with contextlib.suppress(ProtocolViolation):
            check_placeholders(packet.data, packet.attachments)


@given(st.binary(max_size=400))
def test_decode_payload_raises_only_protocol_violation(body: bytes) -> None:
    try:
        packets = decode_payload(body)
    except ProtocolViolation:
        return
    assert len(packets) <= MAX_PACKETS_PER_BODY
    assert sum(len(p) for p in packets) <= len(body)


@given(
    st.lists(
        st.one_of(
            st.text(min_size=1, max_size=30).filter(
                lambda t: "\x1e" not in t and not t.startswith("b")
            ),
            st.binary(max_size=30),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_payload_round_trip(packets: list[str | bytes]) -> None:
    assert decode_payload(encode_payload(packets)) == packets


def test_decoding_is_linear_in_the_input() -> None:
    def payload(n: int) -> None:
        with contextlib.suppress(ProtocolViolation):
            decode_payload(b"b" + b"QUJD" * n)
        decode_payload(b"\x1e".join([b'42["m","x"]'] * min(n, MAX_PACKETS_PER_BODY - 1)))

    def packet(n: int) -> None:
        for text in ("2" + "[" * n, '2["m",' + '"x",' * n + "1]", "5" + "1" * n + "-[]"):
            with contextlib.suppress(ProtocolViolation):
                decode_packet(text)

    def placeholders(n: int) -> None:
        data = ["m", *[{"_placeholder": True, "num": i} for i in range(n)]]
        check_placeholders(data, n)
        with contextlib.suppress(ProtocolViolation):  # one attachment named n times
            check_placeholders(["m", *[{"_placeholder": True, "num": 0}] * n], 1)

    assert growth(payload, 1000) < 24  # 8 when linear; 64 when quadratic
    assert growth(packet, 2000) < 24
    assert growth(placeholders, 2000) < 24


def test_nesting_is_bounded_before_placeholders_are_walked() -> None:
    deep = "[" * 5000 + "]" * 5000
    try:
        loads_bounded(deep)
    except ValueError:
        pass
    else:
        raise AssertionError("nesting beyond MAX_DEPTH was accepted")


@given(
    st.lists(st.text(max_size=8), max_size=3),
    st.lists(st.binary(max_size=20), max_size=3),
    st.one_of(st.none(), st.integers(0, 2**53)),
)
def test_pack_event_round_trip(args: list[str], attachments: list[bytes], ack: int | None) -> None:
    placeholders = [{"_placeholder": True, "num": i} for i in range(len(attachments))]
    data = json.dumps(["message", *args, *placeholders], ensure_ascii=False)
    event = RelayedEvent(data, tuple(attachments), ack)
    packed = pack_event(event)
    assert len(packed) == packed_event_size(event)
    assert unpack_event(packed) == event


@given(st.binary(max_size=200))
def test_unpack_event_raises_only_value_error(blob: bytes) -> None:
    try:
        event = unpack_event(blob)
    except ValueError:
        return
    assert event.size <= len(blob)


def test_packet_json_is_the_clients_text_when_written_the_usual_way() -> None:
    for text, expected in [
        ('2["m", 1]', '["m", 1]'),  # the client's own spelling, kept
        ('27["m"]', '["m"]'),
        ('2/chat,7["m"]', '["m"]'),
        ('51-/c,["m",{"_placeholder":true,"num":0}]', '["m",{"_placeholder":true,"num":0}]'),
        ('2/,["m", 1]', '["m",1]'),  # an unusual header: encoded again
        ('2007["m"]', '["m"]'),
        ('501-["m",{"_placeholder":true,"num":0}]', '["m",{"_placeholder":true,"num":0}]'),
        ('2 ["m"]', '["m"]'),
    ]:
        assert packet_json(text, decode_packet(text)) == expected, text


@given(packet_text)
def test_packet_json_always_decodes_to_the_packets_data(text: str) -> None:
    try:
        packet = decode_packet(text)
    except ProtocolViolation:
        return
    if packet.data is not None:
        assert loads_bounded(packet_json(text, packet)) == packet.data
