"""The pure Socket.IO codec (core/socketio): arguments from lines, /emit argument lists,
bounded decoding, binary frames, long-polling payloads and URLs."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.support.linear import assert_linear, quietly, timing
from wscli.connect.socketio.transport import split_payloads
from wscli.core.ndjson import to_json
from wscli.core.socketio import (
    MAX_ATTACHMENTS,
    MAX_DEPTH,
    MAX_PACKETS_PER_BODY,
    REFUSAL_DATA_SHOWN,
    Packet,
    PacketType,
    ProtocolViolation,
    ack_frames,
    connect_error_text,
    decode_packet,
    decode_payload,
    emit_frames,
    encode_payload,
    engine_open,
    expanded_size,
    fill_placeholders,
    json_sequence,
    line_arguments,
    loads_bounded,
    polling_url,
)


def test_line_arguments_json_or_string() -> None:
    assert line_arguments('{"x":1}') == [{"x": 1}]
    assert line_arguments("42") == [42]
    assert line_arguments('"hi"') == ["hi"]
    assert line_arguments("hello world") == ["hello world"]
    assert line_arguments("") == [""]
    assert line_arguments("NaN") == ["NaN"]  # not JSON: a string
    assert line_arguments('{"x":1}', raw_strings=True) == ['{"x":1}']
    assert line_arguments("[1,2]") == [[1, 2]]
    assert line_arguments("[1,2]", spread=True) == [1, 2]
    assert line_arguments("3", spread=True) == [3]
    deep = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    assert line_arguments(deep) == [deep]  # too deep for JSON here: sent as typed


def test_json_sequence_for_emit() -> None:
    assert json_sequence('"hi" {"x": 1} 3 [true]') == ["hi", {"x": 1}, 3, [True]]
    assert json_sequence("  7  ") == [7]
    assert json_sequence("hello there") == ["hello there"]
    assert json_sequence('1 "unterminated') == ['1 "unterminated']


def test_loads_bounded_raises_only_value_error() -> None:
    for bad in ("[" * 100_000, "NaN", '["\\ud800"]', '{"\\udfff": 1}', "{"):
        with pytest.raises(ValueError):
            loads_bounded(bad)
    assert loads_bounded('["\\ud83d\\ude00"]') == ["😀"]  # a valid surrogate pair


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("2²[]", 1002),
        ("2" + "1" * 16 + '["e"]', 1002),
        ("5" + "9" * 5 + '-["e"]', 1009),
        ('51001-["e"]', 1009),
        ('5-["e"]', 1002),
        ('2["e","\\udc00"]', 1007),
        ("2[1]", 1002),
        ("2[]", 1002),
        ("3[1]", 1002),
        ("31{}", 1002),
        ("2" + "[" * 40 + "]" * 40, 1002),
    ],
)
def test_decode_refuses_with_the_close_code_it_earns(text: str, code: int) -> None:
    with pytest.raises(ProtocolViolation) as caught:
        decode_packet(text)
    assert caught.value.code == code


def test_decode_accepts_bounded_values() -> None:
    assert decode_packet("2" + "9" * 15 + '["e"]').id == 10**15 - 1
    assert decode_packet('51000-["e"]').attachments == 1000
    nested = "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    assert decode_packet(f'2["e",{nested}]').type is PacketType.EVENT


def test_emit_and_ack_frames() -> None:
    assert emit_frames("chat", ["hi", {"x": 1}]) == ['42["chat","hi",{"x":1}]']
    assert emit_frames("up", [b"\x01", 2], "/ns", ack_id=3) == [
        '451-/ns,3["up",{"_placeholder":true,"num":0},2]',
        b"\x01",
    ]
    assert ack_frames(7, []) == ["437[]"]
    assert ack_frames(7, [b"\x00"], "/a") == ['461-/a,7[{"_placeholder":true,"num":0}]', b"\x00"]
    assert decode_packet("31[5]") == Packet(PacketType.ACK, data=[5], id=1)


def test_polling_payloads_and_url() -> None:
    body = encode_payload(["2", b"\x00\xff", '42["e"]'])
    assert body == b'2\x1ebAP8=\x1e42["e"]'
    assert decode_payload(body) == ["2", b"\x00\xff", '42["e"]']
    with pytest.raises(ProtocolViolation):
        decode_payload(b"b!!!")
    assert len(decode_payload(b"6\x1e" * 9999 + b"6")) == 10_000
    with pytest.raises(ProtocolViolation):
        decode_payload(b"6\x1e" * 10_000 + b"6")
    with pytest.raises(ProtocolViolation) as caught:
        decode_payload(b"\xff")
    assert caught.value.code == 1007
    assert polling_url("wss://h/socket.io/?x=1&EIO=4&transport=websocket") == (
        "https://h/socket.io/?x=1&EIO=4&transport=polling"
    )


def test_split_payloads_keeps_each_body_within_max_payload() -> None:
    packets: list[str | bytes] = ["a" * 4, "b" * 4, b"\x00\x01\x02", "c" * 20, "d"]
    batches = split_payloads(packets, 14)
    assert batches == [["a" * 4, "b" * 4], [b"\x00\x01\x02"], ["c" * 20], ["d"]]
    assert [p for batch in batches for p in batch] == packets
    for batch in batches:
        assert len(encode_payload(batch)) <= 14 or len(batch) == 1
    assert split_payloads(["é" * 5], 10) == [["é" * 5]]  # UTF-8 bytes, not characters
    assert split_payloads(["x", "é" * 5], 10) == [["x"], ["é" * 5]]


def test_each_attachment_fills_one_placeholder_only() -> None:
    data = ["ev", {"_placeholder": True, "num": 1}, [{"_placeholder": True, "num": 0}]]
    filled = fill_placeholders(data, [b"\x01", b"\xff"])
    assert filled == ["ev", {"base64": "/w=="}, [{"base64": "AQ=="}]]
    twice = ["ev", {"_placeholder": True, "num": 0}, {"_placeholder": True, "num": 0}]
    with pytest.raises(ProtocolViolation, match="attachment 0 used twice") as reused:
        fill_placeholders(twice, [b"x"])
    assert reused.value.code == 1002
    for num in (1, -1):
        with pytest.raises(ProtocolViolation, match="missing attachment"):
            fill_placeholders(["ev", {"_placeholder": True, "num": num}], [b"x"])
    for not_one in ({"_placeholder": True, "num": "0"}, {"_placeholder": True, "num": True}):
        assert fill_placeholders(["ev", not_one], [b"x"]) == ["ev", not_one]  # data, kept
    assert expanded_size(3) == len('{"base64":"AAAA"}')


def test_numbers_that_overflow_a_float_are_not_json() -> None:
    for text in ("1e999", "-1e999", "[1E400]", '{"x":2e308}'):
        with pytest.raises(ValueError, match="out of range"):
            loads_bounded(text)
    assert loads_bounded("1e308") == 1e308
    assert json_sequence("1 1e999") == ["1 1e999"]  # /emit: one string, as any non-JSON


# -- properties: any packet, only ProtocolViolation, bounded output, linear time -------------

HEADS = ["2", "3", "21", "2/chat,", "4", "51-", "61-7", "0", "1", "2/x,99"]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
PACKET_TEXT = st.one_of(
    st.text(),
    st.builds(lambda head, value: head + json.dumps(value), st.sampled_from(HEADS), JSON_VALUES),
)


@given(PACKET_TEXT)
@example('2["ev",1e999]')  # a float that overflows: was written back out as Infinity
@example('0{"Infinity":null}')  # a key that only reads like one
def test_any_packet_decodes_or_is_a_protocol_violation_and_stays_bounded(text: str) -> None:
    """Bound: the decoded data, written back as JSON, is at most 6 characters per
    character of the packet (a raw control character becomes ``\\u0085``) plus 8."""
    try:
        packet = decode_packet(text)
    except ProtocolViolation as exc:
        assert exc.code in (1002, 1007, 1009)
        return
    assert len(to_json(packet.data)) <= 6 * len(text) + 8
    assert len(packet.namespace) <= len(text) and packet.attachments <= MAX_ATTACHMENTS
    # No non-finite number is written back out (a key or string may say "Infinity").
    json.loads(to_json(packet.data), parse_constant=_no_constant)


def _no_constant(name: str) -> object:
    raise AssertionError(f"{name} written back out as a number")


@given(st.text())
def test_any_open_packet_is_a_dict_or_a_protocol_violation(text: str) -> None:
    with contextlib.suppress(ProtocolViolation):
        assert isinstance(engine_open(text), dict)


@given(st.binary(max_size=4096))
def test_any_polling_body_decodes_to_no_more_than_it_holds(body: bytes) -> None:
    """Bound: the packets hold at most the body's bytes (base64 only shrinks)."""
    try:
        packets = decode_payload(body)
    except ProtocolViolation:
        return
    assert len(packets) <= MAX_PACKETS_PER_BODY
    assert sum(len(p if isinstance(p, bytes) else p.encode()) for p in packets) <= len(body)


@given(JSON_VALUES, st.lists(st.integers(min_value=-2, max_value=6), max_size=8))
@example(None, [0, 0])  # one attachment named twice: two copies of it
def test_placeholders_fill_at_most_once_each(value: Any, nums: list[int]) -> None:
    """Bound: the filled data is the packet's plus :func:`expanded_size` per attachment."""
    data = ["ev", value, *({"_placeholder": True, "num": num} for num in nums)]
    attachments = [bytes(range(n)) for n in range(5)]
    try:
        filled = fill_placeholders(data, attachments)
    except ProtocolViolation as exc:
        assert exc.code == 1002
        assert len(set(nums)) < len(nums) or not all(0 <= n < 5 for n in nums)
        return
    extra = sum(expanded_size(len(a)) for a in attachments)
    assert len(to_json(filled)) <= len(to_json(data)) + extra


@timing
@given(JSON_VALUES)
def test_decoding_takes_time_linear_in_the_packet(value: Any) -> None:
    item = json.dumps(value)
    run = quietly(decode_packet, ProtocolViolation)
    assert_linear(run, lambda k: '2["ev",' + ",".join([item] * (k // len(item) + 1)) + "]", 8192)


@timing
@given(st.text(min_size=1, max_size=16))
def test_any_text_decodes_in_time_linear_in_its_length(text: str) -> None:
    run = quietly(decode_packet, ProtocolViolation)
    assert_linear(run, lambda k: text * (k // len(text) + 1), 8192)
    bodies = quietly(decode_payload, ProtocolViolation)
    packet = text.encode("utf-8", "surrogatepass") + b"\x1e"
    assert_linear(bodies, lambda k: packet * min(k // len(packet) + 1, 1200), 8192)


@timing
@given(st.integers(min_value=1, max_value=64))
def test_filling_placeholders_takes_time_linear_in_their_number(size: int) -> None:
    def make(count: int) -> tuple[list[Any], list[bytes]]:
        data = ["ev", *({"_placeholder": True, "num": n} for n in range(count))]
        return data, [bytes(size)] * count

    assert_linear(lambda made: fill_placeholders(*made), make, 256)


def test_connect_error_text_keeps_the_data_bounded() -> None:
    assert connect_error_text({"message": "not authorized"}) == "not authorized"
    assert connect_error_text({"message": "no", "data": {"reason": "expired", "retry": 5}}) == (
        'no (data: {"reason":"expired","retry":5})'
    )
    assert connect_error_text({"code": 7}) == '{"code":7}'
    assert connect_error_text("plain") == "plain"
    long = connect_error_text({"message": "m", "data": "x" * 10_000})
    assert len(long) == len("m (data: )") + REFUSAL_DATA_SHOWN and long.endswith("…)")
