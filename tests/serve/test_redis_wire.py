"""What the Redis backplane writes into Redis and how it keeps its books (pure code):
wscli/serve/redis_wire.py, redis_outbox.py and redis_retention.py. What is read from Redis
is parsed like any peer's bytes: example tests, then properties (Hypothesis)."""

from __future__ import annotations

import contextlib
import struct
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wscli.core.socketio import RelayedEvent
from wscli.core.url import redact_url
from wscli.serve.redis_outbox import BATCH_BYTES, Batch, Ledger, Outbox, Subscribe
from wscli.serve.redis_retention import MAX_IDLE_STREAMS, Eviction, StreamBook
from wscli.serve.redis_wire import (
    format_id,
    make_header,
    pack_batch,
    pack_message,
    parse_header,
    parse_id,
    stream_key,
    unpack_messages,
)
from wscli.serve.room_message import RoomMessage


def chat(data: bytes, ident: str, text: bool = True, notice: bool = False) -> RoomMessage:
    message = RoomMessage(data, text, notice)
    message.id = ident
    return message


@pytest.mark.parametrize(
    ("data", "text", "notice", "sender"),
    [
        ("héllo ✓".encode(), True, False, "abc:1"),
        (bytes(range(256)), False, False, "abc:2"),
        (b"* zoe joined", True, True, None),
        (b"", True, False, ""),
        (b"\xff\xfe not utf-8", False, False, "k"),
    ],
)
def test_pack_unpack_round_trip(data: bytes, text: bool, notice: bool, sender: str | None) -> None:
    packed = pack_message(chat(data, "5f3a9c01d2e4.7", text, notice), sender)
    [(message, got_sender)] = unpack_messages(pack_batch([packed]))
    assert got_sender == sender
    assert (message.data, message.text, message.notice) == (data, text, notice)
    assert message.id == "5f3a9c01d2e4.7"  # the origin's id, the same on every instance
    assert packed.endswith(data)  # the payload travels as is


def test_a_batch_carries_several_messages_in_order() -> None:
    sent = [
        (chat(b"one", "a.1"), "k:1"),
        (chat(b"\x00two", "a.2", text=False), None),
        (chat(b"* x left", "a.3", notice=True), None),
    ]
    got = unpack_messages(pack_batch([pack_message(m, s) for m, s in sent]))
    assert [(m.data, m.text, m.notice, m.id, s) for m, s in got] == [
        (m.data, m.text, m.notice, m.id, s) for m, s in sent
    ]


def test_author_and_client_id_travel_with_the_message() -> None:
    sent = RoomMessage(b"pat: hi", True, author="pat (2)", cid="c0ffee0123456789")
    sent.id = "a.1"
    packed = pack_message(sent, "abc:1")
    [(got, sender)] = unpack_messages(pack_batch([packed]))
    assert (got.author, got.cid, sender) == ("pat (2)", "c0ffee0123456789", "abc:1")
    assert got.data == b"pat: hi"
    [(bare, _)] = unpack_messages(pack_batch([pack_message(chat(b"x", "a.2"), None)]))
    assert (bare.author, bare.cid) == (None, None)


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (b"", "unknown batch version"),
        (b"\x02", "an empty batch"),
        (b"hello world, a foreign publisher", "unknown batch version"),
        (b"\x02\x80" + bytes(8), "unknown flags"),
        (b"\x02\x01\x01\x00\x00\x00\x00\x00\x00\x09", "lengths past the end"),
        (b"\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00", "bad message id"),
        (b"\x02\x01\x01\x00\x00\x01\x00\x00\x00\x00a.", "sender bytes without a"),
        (b"\x02\x01\x01\x01\x00\x00\x00\x00\x00\x00a.", "author bytes without an"),
        (pack_batch([pack_message(chat(b"ok", "a.1"), None)]) + b"\x01", "too short"),
        (b"\x02\x11\x01\x00\x00\x00\x00\x00\x00\x00a", "client id flag without"),
        (b"\x02\x11\x01\x00\x00\x00\x00\x00\x00\x01a\x05", "client id flag without"),
        (b"\x02\x11\x01\x00\x00\x00\x00\x00\x00\x02a\x01!", "client id flag without"),
    ],
)
def test_unpack_rejects_foreign_payloads(payload: bytes, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        unpack_messages(payload)


def test_redact_url_hides_the_password() -> None:
    assert redact_url("redis://:s3cret@db:6380/1") == "redis://:***@db:6380/1"
    assert redact_url("rediss://u:p@[::1]/0") == "rediss://u:***@[::1]/0"


def test_keys_are_a_fixed_length_hash_of_the_room_in_the_hash_tag() -> None:
    key = stream_key("wscli:chat", "/lobby")
    assert key.startswith(b"wscli:chat:{") and key.endswith(b"}")
    assert len(key) == len("wscli:chat:{}") + 32
    assert len(stream_key("wscli:chat", "/" + "x" * 8000)) == len(key)  # any path length
    assert stream_key("p", "/café") != stream_key("p", "/cafe")
    # A "}" in the room cannot end the hash tag early (it would share /a's slot).
    assert stream_key("p", "/a}x")[:5] != stream_key("p", "/a")[:5] or (
        stream_key("p", "/a}x") != stream_key("p", "/a")
    )
    assert b"/a" not in stream_key("p", "/a}x")


def test_stream_ids_compare_in_stream_order() -> None:
    assert parse_id(b"1700000000000-3") == (1700000000000, 3)
    assert parse_id(b"9-10") > parse_id(b"9-9") > parse_id(b"8-99")
    assert format_id((5, 2**64 - 1)) == b"5-18446744073709551615"
    for bad in (b"nope", b"1", b"1-", b"-1", b"1-2-3", b"1 -2", "9" * 30 + "-1"):
        with pytest.raises(ValueError):
            parse_id(bad)


def test_batch_headers_round_trip_and_reject_foreign_ones() -> None:
    assert make_header("ab12", 7, 40, False) == b"ab12:7:40"
    assert parse_header(make_header("ab12", 7, 40, True)) == ("ab12", 7, 40, True)
    assert parse_header(b"ab12:7:0") == ("ab12", 7, 0, False)
    for bad in (b"", b"x", b":1:1", b"a:b:1", b"a:1", b"a:1:2:x", b"a:1:2:l:2", b"\xff:1:2"):
        with pytest.raises(ValueError):
            parse_header(bad)


# Properties: whatever Redis hands back, only ValueError, bounded output, linear time.


@given(st.binary(max_size=512))
def test_any_payload_unpacks_or_raises_value_error(payload: bytes) -> None:
    try:
        found = unpack_messages(payload)
    except ValueError:
        return
    assert len(found) <= len(payload) // 10  # each message costs at least its header and id
    assert sum(len(m.data) for m, _ in found) <= len(payload)


@given(st.binary(max_size=80))
def test_any_header_or_id_parses_or_raises_value_error(raw: bytes) -> None:
    for parse in (parse_header, parse_id):
        with contextlib.suppress(ValueError):
            parse(raw)


@settings(max_examples=50)
@given(
    st.lists(
        st.tuples(st.binary(max_size=64), st.booleans(), st.one_of(st.none(), st.text())),
        min_size=1,
        max_size=20,
    )
)
def test_packed_batches_round_trip(messages: list[tuple[bytes, bool, str | None]]) -> None:
    sent = [(chat(d, f"ab.{n}", t), s) for n, (d, t, s) in enumerate(messages)]
    got = unpack_messages(pack_batch([pack_message(m, s) for m, s in sent]))
    assert [(m.data, m.text, m.id) for m, _ in got] == [(m.data, m.text, m.id) for m, _ in sent]
    assert [s.encode("utf-8", "surrogatepass") if s else s for _, s in got] == [
        s.encode("utf-8", "surrogatepass") if s else s for _, s in sent
    ]


def test_unpacking_takes_time_linear_in_the_batch() -> None:
    """n and 8n messages: the second costs about 8 times the first, not 64. CPU time, best
    of interleaved runs (a loaded machine's wall clock is noise)."""

    def batch(count: int) -> bytes:
        return pack_batch([pack_message(chat(b"x" * 20, f"ab.{n}"), "k:1") for n in range(count)])

    payloads = {2000: batch(2000), 16000: batch(16000)}
    best = dict.fromkeys(payloads, float("inf"))
    for _ in range(7):
        for count, payload in payloads.items():
            started = time.process_time()
            unpack_messages(payload)
            best[count] = min(best[count], time.process_time() - started)
    assert best[16000] < best[2000] * 8 * 3


# The outbox


def test_outbox_batches_per_room_until_taken_and_keeps_the_order() -> None:
    box = Outbox()
    box.add("/a", chat(b"1", "i.1"), "k:1", False)
    box.add("/b", chat(b"2", "i.2"), "k:2", False)
    box.add("/a", chat(b"3", "i.3"), "k:1", False)
    ops = box.take(BATCH_BYTES)
    assert [(op.room, [m.data for m, _ in op.messages]) for op in ops if isinstance(op, Batch)] == [
        ("/a", [b"1", b"3"]),
        ("/b", [b"2"]),
    ]
    box.add("/a", chat(b"4", "i.4"), "k:1", False)  # after the take: a new batch
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
    box.add("/a", chat(b"* zoe left", "i.1", notice=True), None, False)
    box.subscribe(Subscribe("/a", 1, 123))
    box.add("/a", chat(b"hi", "i.2"), "k:1", False)
    kinds = [(type(op).__name__, op.room) for op in box.queue]
    assert kinds == [("Batch", "/a"), ("Subscribe", "/a"), ("Batch", "/a")]


def test_outbox_keeps_locally_delivered_messages_apart() -> None:
    box = Outbox()
    box.add("/a", chat(b"1", "i.1"), "k", False)
    box.add("/a", chat(b"2", "i.2"), "k", True)  # Redis lost: delivered here already
    assert [b.local for b in box.mine.values()] == [False, True]
    assert [b.seq for b in box.undelivered()] == [1]


def test_the_ledger_skips_retried_appends_and_counts_lost_messages() -> None:
    ledger = Ledger()
    assert ledger.check("/r", "i1", 1, 0, 3) == 0
    assert ledger.check("/r", "i1", 1, 0, 3) is None  # the retried append
    assert ledger.check("/r", "i1", 2, 3, 1) == 0
    assert ledger.check("/r", "i1", 4, 9, 2) == 5  # batches of 5 messages never arrived
    assert ledger.check("/r", "i1", 3, 4, 5) is None  # older than the last: a repeat
    assert ledger.check("/r", "i1", 5, 0, 1) == 0  # counting afresh: not a loss
    assert ledger.check("/r", "i2", 1, 7, 1) == 0  # the first heard of: nothing to compare
    assert ledger.check("/other", "i1", 1, 0, 1) == 0  # rooms count apart
    ledger.forget("/r")
    assert ledger.check("/r", "i1", 1, 0, 1) == 0


def test_the_author_travels_with_the_message() -> None:
    for author, sender in [("alice", "k:1"), ("#3", None), (None, "k:2"), ("ж" * 32, "k:3")]:
        message = RoomMessage(b"hi", True, False, author)
        message.id = "ab.1"
        ((back, who),) = unpack_messages(pack_batch([pack_message(message, sender)]))
        assert (back.data, back.author, who) == (b"hi", author, sender)


def test_a_socketio_event_travels_with_its_message() -> None:
    event = RelayedEvent('["message",{"_placeholder":true,"num":0},"x"]', (b"\x00\xff",), 7)
    sent = [
        RoomMessage(b"\x00\xff", False, author="al", event=event),
        RoomMessage(b"", True, event=RelayedEvent('["typing",true]'), raw=False),
        RoomMessage(b"plain", True, cid="c-1", event=RelayedEvent('["message","plain"]')),
        RoomMessage(b"plain", True),
    ]
    for n, message in enumerate(sent):
        message.id = f"ab.{n}"
    got = [m for m, _ in unpack_messages(pack_batch([pack_message(m, "k:1") for m in sent]))]
    assert [(m.data, m.text, m.raw, m.event, m.cid) for m in got] == [
        (m.data, m.text, m.raw, m.event, m.cid) for m in sent
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
    header = struct.pack("!BBBHI", 0x1 | 0x20, 4, 0, 0, len(data))
    with pytest.raises(ValueError):
        unpack_messages(b"\x02" + header + b"ab.1" + data)


@given(st.data())
def test_a_batch_with_events_changed_anywhere_unpacks_or_raises_value_error(
    data: st.DataObject,
) -> None:
    event = RelayedEvent('["message",{"_placeholder":true,"num":0},"x"]', (b"\x00\xff",), 7)
    message = RoomMessage(b"\x00\xff", False, author="al", cid="c-1", event=event)
    message.id = "ab.1"
    other = RoomMessage(b"", True, event=RelayedEvent('["typing",true]'), raw=False)
    other.id = "ab.2"
    batch = bytearray(pack_batch([pack_message(message, "k:1"), pack_message(other, None)]))
    at = data.draw(st.integers(0, len(batch) - 1))
    batch[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(batch)))
    try:
        found = unpack_messages(bytes(batch[:cut]))
    except ValueError:
        return
    held = sum(len(m.data) + (m.event.size if m.event else 0) for m, _ in found)
    assert len(found) <= 2 and held <= len(batch)


# What one instance keeps in Redis


def test_idle_streams_are_bounded_oldest_first() -> None:
    book = StreamBook(max_bytes=2**30, ttl=3600, cap=1000, keep=16)
    for n in range(MAX_IDLE_STREAMS + 3):
        book.appended(f"/r{n}", 100, now=1000.0 + n)
    drops = book.evictions(now=2000.0)
    assert drops == [Eviction("/r0", 0), Eviction("/r1", 0), Eviction("/r2", 0)]
    assert book.idle == MAX_IDLE_STREAMS and book.deleted == 3
    assert book.evictions(now=2000.0) == []


def test_rooms_read_here_are_trimmed_not_deleted_past_the_bytes_bound() -> None:
    book = StreamBook(max_bytes=10_000, ttl=3600, cap=1000, keep=16)
    book.reading("/live", True)
    for _ in range(100):
        book.appended("/live", 100, now=1.0)  # 10,000 bytes: at the bound
    book.appended("/idle", 500, now=2.0)
    assert book.evictions(now=3.0) == [Eviction("/live", 16)]
    assert book.bytes == 16 * 100 + 500 and book.trimmed == 1
    book.reading("/live", False)
    for _ in range(80):
        book.appended("/idle", 100, now=4.0)
    assert book.evictions(now=5.0) == [Eviction("/live", 0)]


def test_expired_streams_are_forgotten_and_the_cap_bounds_the_estimate() -> None:
    book = StreamBook(max_bytes=2**30, ttl=60, cap=10, keep=4)
    for _ in range(40):
        book.appended("/busy", 1000, now=1.0)
    assert book.bytes == 10 * 1000  # the cap (MAXLEN ~ 10) keeps 10 of the 40 entries
    assert book.number("/busy", 3) == 0 and book.number("/busy", 1) == 3
    assert book.evictions(now=62.0) == []
    assert book.streams == {} and book.bytes == 0 and book.idle == 0
