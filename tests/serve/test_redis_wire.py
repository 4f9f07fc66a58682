"""What the Redis backplane writes into Redis and how it keeps its books (pure code):
wscli/serve/redis_wire.py and wscli/serve/redis_outbox.py."""

from __future__ import annotations

import struct

import pytest

from wscli.core.socketio import RelayedEvent
from wscli.core.url import redact_url
from wscli.serve.hub import RoomMessage
from wscli.serve.redis_outbox import BATCH_BYTES, Batch, Outbox, SeenBatches, Subscribe
from wscli.serve.redis_wire import (
    format_id,
    make_header,
    pack_message,
    packed_size,
    parse_header,
    parse_id,
    stream_key,
    unpack_messages,
)


@pytest.mark.parametrize(
    ("room", "data", "text", "notice", "sender"),
    [
        ("/chat", "héllo ✓".encode(), True, False, "abc:1"),
        ("/bin", bytes(range(256)), False, False, "abc:2"),
        ("/chat", b"* zoe joined", True, True, None),
        ("/caf%C3%A9/x y", b"", True, False, ""),
        ("/", b"\xff\xfe not utf-8", False, False, "k"),
    ],
)
def test_pack_unpack_round_trip(
    room: str, data: bytes, text: bool, notice: bool, sender: str | None
) -> None:
    packed = pack_message(room, RoomMessage(data, text, notice), sender)
    [(got_room, message, got_sender)] = unpack_messages(packed)
    assert (got_room, got_sender) == (room, sender)
    assert (message.data, message.text, message.notice) == (data, text, notice)
    assert packed.endswith(data)  # the payload travels as is
    assert packed_size(room, RoomMessage(data, text, notice), sender) == len(packed)


def test_a_batch_carries_several_messages_in_order() -> None:
    sent = [
        ("/a", RoomMessage(b"one", True), "k:1"),
        ("/b", RoomMessage(b"\x00two", False), None),
        ("/a", RoomMessage(b"* x left", True, True), None),
    ]
    got = unpack_messages(b"".join(pack_message(*m) for m in sent))
    assert [(r, m.data, m.text, m.notice, s) for r, m, s in got] == [
        (r, m.data, m.text, m.notice, s) for r, m, s in sent
    ]


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (b"", "too short"),
        (b"hello world, a foreign publisher", "unknown version"),
        (bytes([1, 0x80]) + bytes(12), "unknown flags"),
        (bytes([1, 1, 0, 0, 0, 9]) + bytes(8) + b"/x", "lengths past the end"),
        (bytes([1, 1, 0, 0, 0, 1, 0, 0, 0, 1]) + bytes(4) + b"/s", "sender bytes without a"),
        (pack_message("/ok", RoomMessage(b"fine", True), None) + b"\x01", "too short"),
    ],
)
def test_unpack_rejects_foreign_payloads(payload: bytes, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        unpack_messages(payload)


def test_redact_url_hides_the_password() -> None:
    assert redact_url("redis://:s3cret@db:6380/1") == "redis://:***@db:6380/1"
    assert redact_url("rediss://u:p@[::1]/0") == "rediss://u:***@[::1]/0"
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_redact_url_survives_a_bad_port() -> None:
    assert "s3cret" not in redact_url("redis://:s3cret@db:99999/0")


def test_keys_carry_the_room_as_cluster_hash_tag() -> None:
    assert stream_key("wscli:chat", "/lobby") == b"wscli:chat:{/lobby}"
    assert stream_key("p", "/caf\u00e9") == "p:{/caf\u00e9}".encode()


def test_stream_ids_compare_in_stream_order() -> None:
    assert parse_id(b"1700000000000-3") == (1700000000000, 3)
    assert parse_id(b"9-10") > parse_id(b"9-9") > parse_id(b"8-99")
    assert format_id((5, 2**64 - 1)) == b"5-18446744073709551615"
    with pytest.raises(ValueError):
        parse_id(b"nope")


def test_batch_headers_round_trip_and_reject_foreign_ones() -> None:
    assert make_header("ab12", 7, False) == b"ab12:7"
    assert parse_header(make_header("ab12", 7, True)) == ("ab12", 7, True)
    assert parse_header(b"ab12:7") == ("ab12", 7, False)
    for bad in (b"", b"x", b":1", b"a:b", b"a:1:x", b"a:1:l:2", b"\xff:1"):
        with pytest.raises(ValueError):
            parse_header(bad)


def test_outbox_batches_per_room_until_taken_and_keeps_the_order() -> None:
    box = Outbox()
    box.add("/a", RoomMessage(b"1", True), "k:1", False)
    box.add("/b", RoomMessage(b"2", True), "k:2", False)
    box.add("/a", RoomMessage(b"3", True), "k:1", False)
    ops = box.take(BATCH_BYTES)
    assert [(op.room, [m.data for m, _ in op.messages]) for op in ops if isinstance(op, Batch)] == [
        ("/a", [b"1", b"3"]),
        ("/b", [b"2"]),
    ]
    box.add("/a", RoomMessage(b"4", True), "k:1", False)  # after the take: a new batch
    assert [b.seq for b in box.mine.values()] == [1, 2, 3]
    assert box.bytes == sum(b.size for b in box.mine.values())
    assert box.by_sender["k:1"] > box.by_sender["k:2"]
    box.requeue(ops)  # the pipeline failed: back at the front, in order
    assert [op.seq for op in box.queue if isinstance(op, Batch)] == [1, 2, 3]
    for batch in list(box.mine.values()):
        box.done(batch)
    assert box.bytes == 0 and not box.by_sender and not box.mine


def test_outbox_subscription_cuts_the_room_batch() -> None:
    """Messages sent after a (re)join go in a batch after the Subscribe, never before it."""
    box = Outbox()
    box.add("/a", RoomMessage(b"* zoe left", True, True), None, False)
    box.subscribe("/a", 123)
    box.add("/a", RoomMessage(b"hi", True), "k:1", False)
    kinds = [(type(op).__name__, op.room) for op in box.queue]
    assert kinds == [("Batch", "/a"), ("Subscribe", "/a"), ("Batch", "/a")]
    assert isinstance(box.queue[1], Subscribe) and box.queue[1].since_ms == 123


def test_outbox_keeps_locally_delivered_messages_apart() -> None:
    box = Outbox()
    box.add("/a", RoomMessage(b"1", True), "k", False)
    box.add("/a", RoomMessage(b"2", True), "k", True)  # Redis lost: delivered here already
    assert [b.local for b in box.mine.values()] == [False, True]
    assert [b.seq for b in box.undelivered()] == [1]


def test_seen_batches_skip_retried_appends() -> None:
    seen = SeenBatches()
    assert [seen.first_time("/r", "i1", n) for n in (1, 2, 3, 1, 2, 3, 4)] == [
        True,
        True,
        True,
        False,
        False,
        False,
        True,
    ]
    assert seen.first_time("/r", "i2", 1)  # another instance counts on its own
    assert seen.first_time("/other", "i1", 1)  # and so does another room
    seen.forget("/r")
    assert seen.first_time("/r", "i1", 1)


def test_the_author_travels_with_the_message() -> None:
    # Issue 9: the page's envelope names the sender's verified nick (or #id) on every instance.
    for author, sender in [("alice", "k:1"), ("#3", None), (None, "k:2"), ("ж" * 32, "k:3")]:
        message = RoomMessage(b"hi", True, False, author)
        packed = pack_message("/r", message, sender)
        assert len(packed) == packed_size("/r", message, sender)
        ((room, back, who),) = unpack_messages(packed)
        assert (room, back.data, back.author, who) == ("/r", b"hi", author, sender)


def test_a_socketio_event_travels_with_its_message() -> None:
    event = RelayedEvent('["message",{"_placeholder":true,"num":0},"x"]', (b"\x00\xff",), 7)
    sent = [
        RoomMessage(b"\x00\xff", False, author="al", event=event),
        RoomMessage(b"", True, event=RelayedEvent('["typing",true]'), raw=False),
        RoomMessage(b"plain", True),
    ]
    packed = b"".join(pack_message("/r", m, "k:1") for m in sent)
    assert len(packed) == sum(packed_size("/r", m, "k:1") for m in sent)
    got = [m for _, m, _ in unpack_messages(packed)]
    assert [(m.data, m.text, m.raw, m.event) for m in got] == [
        (m.data, m.text, m.raw, m.event) for m in sent
    ]


@pytest.mark.parametrize(
    "tail",
    [
        b"\x00\x00\x00\x09",  # an event longer than the message
        b"\x00\x00",  # no room for its length
        b"junk\x00\x00\x00\x04",  # not an event
    ],
)
def test_a_foreign_event_is_refused(tail: bytes) -> None:
    data = b"x" + tail
    header = struct.pack("!BBIII", 1, 0x1 | 0x10, 2, 0, len(data))
    with pytest.raises(ValueError):
        unpack_messages(header + b"/r" + data)
