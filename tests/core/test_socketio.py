"""The pure Socket.IO codec (core/socketio): arguments from lines, /emit argument lists,
bounded decoding, binary frames, long-polling payloads and URLs."""

from __future__ import annotations

import pytest

from wscli.connect.socketio.transport import decode_payload, encode_payload, split_payloads
from wscli.core.socketio import (
    MAX_DEPTH,
    REFUSAL_DATA_SHOWN,
    Packet,
    PacketType,
    ProtocolViolation,
    ack_frames,
    connect_error_text,
    decode_packet,
    emit_frames,
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


def test_connect_error_text_keeps_the_data_bounded() -> None:
    assert connect_error_text({"message": "not authorized"}) == "not authorized"
    assert connect_error_text({"message": "no", "data": {"reason": "expired", "retry": 5}}) == (
        'no (data: {"reason":"expired","retry":5})'
    )
    assert connect_error_text({"code": 7}) == '{"code":7}'
    assert connect_error_text("plain") == "plain"
    long = connect_error_text({"message": "m", "data": "x" * 10_000})
    assert len(long) == len("m (data: )") + REFUSAL_DATA_SHOWN and long.endswith("…)")
