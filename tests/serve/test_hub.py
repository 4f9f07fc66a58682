"""wscli.serve.hub: frames, batching (one write per client per tick), echo, history, limits,
and the backplane seam. Subscribers here are in-memory recorders of what the hub writes;
the network path is covered by test_server.py."""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Sequence
from typing import Any

import pytest
from websockets.frames import Frame
from websockets.streams import StreamReader

from tests.support import growth
from wscli.core.socketio import RelayedEvent
from wscli.serve.hub import (
    MAX_IDLE_ROOMS,
    SLOW_CLIENT_CODE,
    Deliver,
    Hub,
    LocalBackplane,
    Receiver,
    RoomMessage,
    Subscriber,
    encode_frame,
)
from wscli.serve.replay import WaitingClients


class Recorder:
    """A Subscriber that records each write; ``unsent`` pretends bytes are stuck."""

    def __init__(self, key: str, room: str = "/chat", nick: str | None = None) -> None:
        self.key = key
        self.room = room
        self.nick = nick
        self.shared_frames = True
        self.enveloped = False
        self.form: Any = None
        self.since: str | None = None
        self.open = True
        self.unsent = 0
        self.writes: list[bytes] = []
        self.dropped: tuple[int, str] | None = None

    def send_frames(self, data: bytes, limit: int) -> int:
        if not self.open:
            return 0
        if self.unsent and self.unsent + len(data) > limit:
            return self.unsent
        self.writes.append(data)
        return 0

    def send_messages(self, messages: Sequence[RoomMessage], limit: int) -> int:
        return self.send_frames(b"".join(encode_frame(m.data, m.text) for m in messages), limit)

    def drop(self, code: int, reason: str) -> None:
        self.dropped = (code, reason)
        self.open = False

    def messages(self) -> list[str | bytes]:
        return parse_frames(b"".join(self.writes))


def parse_frames(data: bytes) -> list[str | bytes]:
    """Decode server frames with the websockets parser (an independent check of ours)."""
    reader = StreamReader()
    reader.feed_data(data)
    out: list[str | bytes] = []
    while reader.buffer:
        parser = Frame.parse(reader.read_exact, mask=False)
        try:
            next(parser)
        except StopIteration as done:
            frame = done.value
        else:
            raise AssertionError("incomplete frame")
        out.append(frame.data.decode() if frame.opcode == 1 else bytes(frame.data))
    return out


async def tick() -> None:
    """Let the hub's once-per-tick flush run."""
    await asyncio.sleep(0)
    await asyncio.sleep(0)


async def started(**kwargs: object) -> Hub:
    hub = Hub(**kwargs)  # type: ignore[arg-type]
    await hub.start()
    return hub


# Frames


@pytest.mark.parametrize(
    ("size", "header"),
    [
        (0, b"\x81\x00"),
        (125, b"\x81\x7d"),
        (126, b"\x81\x7e" + struct.pack("!H", 126)),
        (65535, b"\x81\x7e" + struct.pack("!H", 65535)),
        (65536, b"\x81\x7f" + struct.pack("!Q", 65536)),
    ],
)
def test_encode_frame_header_lengths(size: int, header: bytes) -> None:
    frame = encode_frame(b"a" * size, text=True)
    assert frame == header + b"a" * size
    assert parse_frames(frame) == ["a" * size]


def test_encode_frame_binary_opcode() -> None:
    assert encode_frame(b"\x00\xff", text=False) == b"\x82\x02\x00\xff"


# Fan-out


async def test_messages_of_one_tick_reach_each_client_in_one_write() -> None:
    hub = await started()
    a, b = Recorder("a"), Recorder("b")
    hub.join(a)
    hub.join(b)
    for n in range(10):
        hub.publish("/chat", RoomMessage(f"m{n}".encode(), True), "a")
    assert a.writes == []  # nothing written before the tick ends
    await tick()
    for client in (a, b):
        assert len(client.writes) == 1
        assert client.messages() == [f"m{n}" for n in range(10)]
    assert a.writes[0] is b.writes[0]  # encoded once, shared


async def test_rooms_are_isolated() -> None:
    hub = await started()
    a, b = Recorder("a", "/one"), Recorder("b", "/two")
    hub.join(a)
    hub.join(b)
    hub.publish("/one", RoomMessage(b"x", False), "a")
    await tick()
    assert a.messages() == [b"x"]
    assert b.writes == []
    assert hub.active_rooms == 2 and hub.clients == 2


async def test_no_echo_leaves_out_only_the_senders_own_messages() -> None:
    hub = await started(echo=False)
    a, b, c = Recorder("a"), Recorder("b"), Recorder("c")
    for client in (a, b, c):
        hub.join(client)
    hub.publish("/chat", RoomMessage(b"from a", True), "a")
    hub.publish("/chat", RoomMessage(b"from b", True), "b")
    await tick()
    assert a.messages() == ["from b"]
    assert b.messages() == ["from a"]
    assert c.messages() == ["from a", "from b"]


async def test_a_client_joining_mid_tick_gets_only_later_messages() -> None:
    hub = await started()
    a, late = Recorder("a"), Recorder("late")
    hub.join(a)
    hub.publish("/chat", RoomMessage(b"before", True), "a")
    hub.join(late)
    hub.publish("/chat", RoomMessage(b"after", True), "a")
    await tick()
    assert a.messages() == ["before", "after"]
    assert late.messages() == ["after"]


async def test_closed_clients_are_skipped() -> None:
    hub = await started()
    a, gone = Recorder("a"), Recorder("gone")
    hub.join(a)
    hub.join(gone)
    gone.open = False
    hub.publish("/chat", RoomMessage(b"x", True), "a")
    await tick()
    assert gone.writes == [] and gone.dropped is None
    assert a.messages() == ["x"]


# Notices and history


async def test_nick_notices_on_join_and_leave() -> None:
    hub = await started()
    watcher, ann = Recorder("w"), Recorder("ann", nick="ann")
    hub.join(watcher)
    hub.join(ann)
    assert hub.leave(ann) is True
    assert hub.leave(ann) is False  # idempotent
    await tick()
    assert watcher.messages() == ["* ann joined", "* ann left"]
    assert hub.clients == 1


async def test_history_keeps_the_last_n_messages_and_no_notices() -> None:
    hub = await started(history=2)
    ann = Recorder("ann", nick="ann")
    hub.join(ann)
    for n in range(4):
        hub.publish("/chat", RoomMessage(f"m{n}".encode(), True), "ann")
    hub.leave(ann)
    await tick()
    late = Recorder("late")
    hub.join(late)
    assert late.messages() == ["m2", "m3"]


async def test_history_is_bounded_in_bytes_by_the_queue_limit() -> None:
    # Found by QA: --history N kept N messages of up to --max-size each per room, and
    # replayed them past the newcomer's --max-queue.
    hub = await started(history=10, max_queue=100)
    for n in range(5):
        hub.publish("/chat", RoomMessage(bytes([65 + n]) * 40, True), None)
    hub.publish("/chat", RoomMessage(b"notice" * 50, True, notice=True), None)
    late = Recorder("late")
    hub.join(late)
    assert late.messages() == ["D" * 40, "E" * 40]
    hub.publish("/chat", RoomMessage(b"z" * 101, True), None)  # alone over the limit: not kept
    await tick()
    later = Recorder("later")
    hub.join(later)
    assert later.messages() == []


async def test_history_survives_an_empty_room_but_idle_rooms_are_bounded() -> None:
    hub = await started(history=1)
    for n in range(MAX_IDLE_ROOMS + 5):
        hub.publish(f"/r{n}", RoomMessage(b"x", True), None)
    assert len(hub.rooms) == MAX_IDLE_ROOMS
    assert "/r0" not in hub.rooms and f"/r{MAX_IDLE_ROOMS + 4}" in hub.rooms
    late = Recorder("late", f"/r{MAX_IDLE_ROOMS + 4}")
    hub.join(late)
    assert late.messages() == ["x"]


async def test_rooms_without_history_vanish_when_empty() -> None:
    hub = await started()
    a = Recorder("a", "/tmp")
    hub.join(a)
    hub.leave(a)
    await tick()
    assert hub.rooms == {}
    hub.publish("/nobody", RoomMessage(b"x", True), None)
    assert hub.rooms == {}


# Limits


async def test_slow_client_is_dropped_and_the_others_still_served() -> None:
    dropped: list[tuple[Subscriber, int]] = []
    hub = await started(max_queue=1000, on_slow_client=lambda c, n: dropped.append((c, n)))
    fast, slow = Recorder("fast"), Recorder("slow")
    hub.join(fast)
    hub.join(slow)
    slow.unsent = 990
    hub.publish("/chat", RoomMessage(b"x" * 20, True), "fast")
    await tick()
    assert fast.messages() == ["x" * 20]
    assert slow.dropped is not None and slow.dropped[0] == SLOW_CLIENT_CODE
    assert dropped == [(slow, 990)]
    assert hub.clients == 1
    hub.publish("/chat", RoomMessage(b"y", True), "fast")
    await tick()
    assert fast.messages() == ["x" * 20, "y"]


async def test_the_last_client_of_a_room_dropped_as_slow_empties_it_cleanly() -> None:
    # Found by QA: the drop emptied (and deleted) the room, then the flush deleted it again.
    errors: list[dict[str, object]] = []
    asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: errors.append(ctx))
    dropped: list[tuple[Subscriber, int]] = []
    hub = await started(max_queue=1000, on_slow_client=lambda c, n: dropped.append((c, n)))
    only = Recorder("only")
    hub.join(only)
    only.unsent = 990
    hub.publish("/chat", RoomMessage(b"x" * 20, True), "only")
    await tick()
    assert errors == []
    assert dropped == [(only, 990)]
    assert hub.rooms == {} and hub.clients == 0
    hub.join(Recorder("next"))
    assert hub.clients == 1


async def test_a_client_with_nothing_unsent_gets_a_batch_bigger_than_the_limit() -> None:
    hub = await started(max_queue=10)
    a = Recorder("a")
    hub.join(a)
    hub.publish("/chat", RoomMessage(b"z" * 100, True), None)
    await tick()
    assert a.messages() == ["z" * 100] and a.dropped is None


# Backplane seam


class LoopbackBroker:
    """A remote-style backplane: delivers on a later tick, in its own order."""

    def __init__(self, shared_history: bool = False, gaps: bool = False) -> None:
        self.deliver: Deliver | None = None
        self.published: list[tuple[str, RoomMessage, str | None]] = []
        self.shared_history = shared_history
        self.gaps = gaps  # answers resume() (the test calls hub.gap_loaded itself)
        self.rooms: list[str] = []  # subscribed, in order
        self.resumes: list[tuple[str, str]] = []

    async def start(self, receiver: Receiver) -> None:
        self.deliver = receiver.deliver_local

    def publish(self, room: str, message: RoomMessage, sender: str | None) -> None:
        self.published.append((room, message, sender))
        asyncio.get_running_loop().call_soon(self._bounce)

    def _bounce(self) -> None:
        assert self.deliver is not None
        while self.published:
            self.deliver(*self.published.pop(0))

    def subscribe(self, room: str) -> bool:
        self.rooms.append(room)
        return self.shared_history

    def unsubscribe(self, room: str) -> None:
        self.rooms.remove(room)

    def resume(self, room: str, since: str) -> bool:
        self.resumes.append((room, since))
        return self.gaps

    async def drain(self, timeout: float) -> bool:
        while self.published:
            await asyncio.sleep(0)
        return True

    async def close(self) -> None:
        self.deliver = None

    def describe(self) -> dict[str, object]:
        return {"kind": "loopback"}


async def test_remote_backplane_delivers_only_when_the_message_comes_back() -> None:
    broker = LoopbackBroker()
    hub = await started(backplane=broker, echo=False)
    a, b = Recorder("a"), Recorder("b")
    hub.join(a)
    hub.join(b)
    hub.publish("/chat", RoomMessage(b"hi", True), "a")
    assert broker.published and b.writes == []
    await tick()
    await tick()
    assert b.messages() == ["hi"]
    assert a.writes == []  # the sender key travels through the backplane
    # A message from another instance (unknown sender) reaches everyone here.
    hub.deliver_local("/chat", RoomMessage(b"remote", True), "other-instance:1")
    await tick()
    assert a.messages() == ["remote"]
    await hub.close()
    assert broker.deliver is None


async def test_rooms_are_subscribed_while_they_have_clients_here() -> None:
    """Rooms on demand: the backplane hears of a room's first join and last leave only."""
    broker = LoopbackBroker()
    hub = await started(backplane=broker)
    a, b = Recorder("a"), Recorder("b")
    hub.join(a)
    hub.join(b)
    assert broker.rooms == ["/chat"]
    hub.leave(a)
    assert broker.rooms == ["/chat"]
    hub.leave(b)
    assert broker.rooms == []
    await hub.close()


async def test_a_backplane_with_shared_history_replaces_the_local_copy() -> None:
    """When the backplane replays a room's history itself, a room that empties and fills
    again does not replay the hub's own (possibly stale) copy as well."""
    broker = LoopbackBroker(shared_history=True)
    hub = await started(backplane=broker, history=5)
    a = Recorder("a")
    hub.join(a)
    hub.publish("/chat", RoomMessage(b"old", True), "a")
    await tick()
    await tick()
    hub.leave(a)
    b = Recorder("b")
    hub.join(b)
    await tick()
    assert b.writes == []  # the backplane, not the hub, brings the history
    assert await hub.drain(1.0)
    await hub.close()


async def test_keys_are_unique_across_instances() -> None:
    one, two = await started(), await started()
    (id1, key1), (id2, key2) = one.new_key(), two.new_key()
    assert id1 == id2 == 1
    assert key1 != key2


async def test_local_backplane_requires_start() -> None:
    with pytest.raises(AssertionError):
        LocalBackplane().publish("/x", RoomMessage(b"", True), None)


# Clients waiting for the backplane (shared history, a gap read from the shared store)


def envelopes(client: Recorder) -> list[dict[str, object]]:
    return [json.loads(m) for m in client.messages()]


def shared(text: str, ident: str) -> RoomMessage:
    """A message as a backplane hands it back (with its origin's id)."""
    message = RoomMessage(text.encode(), True)
    message.id = ident
    return message


async def test_clients_joining_while_the_shared_history_loads_wait_for_it() -> None:
    broker = LoopbackBroker(shared_history=True)
    hub = await started(backplane=broker, history=4)
    plain, page = Recorder("plain"), Recorder("page")
    page.enveloped, page.since = True, "aa.2"
    hub.join(plain)
    hub.join(page)
    hub.deliver_local("/chat", shared("live", "bb.1"), None)  # arrives before the history
    await tick()
    assert plain.writes == [] and page.writes == []  # both wait
    hub.history_loaded("/chat", [shared(f"h{n}", f"aa.{n}") for n in range(1, 5)], True)
    await tick()
    # The plain client: the last 4 of the history, then what came while it waited, once.
    assert plain.messages() == ["h1", "h2", "h3", "h4", "live"]
    # The page: exactly what followed its last id, the resume line, then nothing twice.
    got = envelopes(page)
    assert [e.get("text") for e in got[:-1]] == ["h3", "h4", "live"]
    assert got[-1] == {"type": "resume", "since": "aa.2", "restored": 3, "complete": True}
    hub.deliver_local("/chat", shared("later", "bb.2"), None)
    await tick()
    assert plain.messages()[-1] == "later" and envelopes(page)[-1]["text"] == "later"


async def test_more_messages_held_than_the_history_keeps_still_come_in_order() -> None:
    """Three messages arrive while a newcomer waits for a history of 2: it gets the history,
    then the three in order (before: the newest two as its replay, then the oldest one)."""
    broker = LoopbackBroker(shared_history=True)
    hub = await started(backplane=broker, history=2)
    newcomer = Recorder("newcomer")
    hub.join(newcomer)
    for n in range(1, 4):
        hub.deliver_local("/chat", shared(f"l{n}", f"bb.{n}"), None)
    hub.history_loaded("/chat", [shared("h1", "aa.1"), shared("h2", "aa.2")], True)
    await tick()
    assert newcomer.messages() == ["h1", "h2", "l1", "l2", "l3"]
    late = Recorder("late")
    hub.join(late)  # the room's history now ends with what came meanwhile
    await tick()
    assert late.messages() == ["l2", "l3"]


async def test_a_gap_the_history_does_not_hold_is_read_from_the_shared_store() -> None:
    broker = LoopbackBroker(shared_history=True, gaps=True)
    hub = await started(backplane=broker, history=1)
    here = Recorder("here")
    hub.join(here)
    hub.history_loaded("/chat", [], True)
    back = Recorder("back")
    back.enveloped, back.since = True, "aa.1"
    hub.join(back)
    assert broker.resumes == [("/chat", "aa.1")]
    hub.deliver_local("/chat", shared("m3", "aa.3"), None)  # live while the gap is read
    await tick()
    assert back.writes == []
    hub.gap_loaded("/chat", "aa.1", [shared("m2", "aa.2"), shared("m3", "aa.3")])
    got = envelopes(back)
    assert [e.get("text") for e in got] == ["m2", "m3", None]  # m3 once
    assert got[-1] == {"type": "resume", "since": "aa.1", "restored": 2, "complete": True}


async def test_a_gap_not_found_replays_the_history_and_says_so() -> None:
    broker = LoopbackBroker(shared_history=True, gaps=True)
    hub = await started(backplane=broker, history=3)
    hub.join(Recorder("here"))
    hub.history_loaded("/chat", [shared("kept", "aa.9")], False)
    back = Recorder("back")
    back.enveloped, back.since = True, "ff.1"
    hub.join(back)
    hub.gap_loaded("/chat", "ff.1", None)
    got = envelopes(back)
    assert [e.get("text") for e in got[:-1]] == ["kept"]
    assert got[-1] == {"type": "resume", "since": "ff.1", "restored": 1, "complete": False}


async def test_a_waiting_client_is_held_to_its_queue_limit() -> None:
    dropped: list[Subscriber] = []
    broker = LoopbackBroker(shared_history=True)
    hub = await started(
        backplane=broker, max_queue=100, on_slow_client=lambda c, n: dropped.append(c)
    )
    waiting = Recorder("waiting")
    hub.join(waiting)
    for n in range(3):
        hub.deliver_local("/chat", shared("x" * 40, f"aa.{n}"), None)
    assert dropped == [waiting] and waiting.dropped is not None
    assert waiting.dropped[0] == SLOW_CLIENT_CODE
    assert hub.clients == 0 and broker.rooms == []


async def test_messages_lost_by_the_shared_store_are_announced_to_pages() -> None:
    broker = LoopbackBroker(shared_history=True)
    hub = await started(backplane=broker, history=5)
    page, raw = Recorder("page"), Recorder("raw")
    page.enveloped = True
    hub.join(page)
    hub.join(raw)
    hub.history_loaded("/chat", [shared("one", "aa.1")], True)
    hub.lost("/chat", 4)
    assert envelopes(page)[-1] == {
        "type": "resume",
        "since": "aa.1",
        "restored": 0,
        "complete": False,
    }
    assert raw.messages() == ["one"]  # raw clients have no way to be told


# The page's subprotocol: envelopes built once, kept with the history, replays within the queue


def enveloped_recorder(key: str, since: str | None = None) -> Recorder:
    client = Recorder(key)
    client.enveloped = True
    client.since = since  # type: ignore[attr-defined]
    return client


async def test_envelopes_are_built_once_and_counted_in_the_history() -> None:
    hub = await started(history=10)
    for n in range(3):
        hub.publish("/chat", RoomMessage(f"m{n}".encode(), True, author="ann"), None)
    frames_only = hub.history_held
    first = enveloped_recorder("first")
    hub.join(first)
    room = hub.rooms["/chat"]
    assert room.history is not None
    kept = [m.enveloped for m in room.history]
    assert all(kept) and hub.history_held == frames_only + sum(len(e) for e in kept)
    second = enveloped_recorder("second")
    hub.join(second)
    assert [m.enveloped for m in room.history] == kept
    assert all(a is b for a, b in zip(kept, (m.enveloped for m in room.history), strict=True))
    assert second.writes == first.writes
    # With an envelope member in the room, a new message is kept with its envelope at once.
    hub.publish("/chat", RoomMessage(b"m3", True, author="ann"), None)
    assert room.history[-1].enveloped
    await tick()
    assert json.loads(first.messages()[-1])["text"] == "m3"
    # And dropping old messages frees their envelopes too.
    held = hub.history_held
    room.forget_oldest()
    assert room.history_held < held - len(kept[0])


async def test_an_envelope_replay_past_the_queue_is_cut_oldest_first_and_said() -> None:
    hub = await started(history=10, max_queue=1000)
    for n in range(4):
        hub.publish("/chat", RoomMessage(b"\x01" * 100 + bytes([48 + n]), True), None)
    raw = Recorder("raw")
    hub.join(raw)
    assert len(raw.messages()) == 4  # 4 x 103 bytes of frames: within the queue
    newcomer = enveloped_recorder("newcomer")
    hub.join(newcomer)
    replay = [json.loads(m) for m in newcomer.messages()]  # type: ignore[arg-type]
    assert len(b"".join(newcomer.writes)) <= 1000
    assert [m["text"][-1] for m in replay[:-1]] == ["3"]  # 600+ bytes each escaped
    assert replay[-1] == {
        "type": "resume",
        "since": None,
        "restored": 1,
        "complete": False,
        "cut": 3,
    }


async def test_the_history_budget_counts_envelopes_and_keeps_the_joining_room() -> None:
    hub = await started(history=10, history_limit=3000, max_queue=10_000)
    for n in range(4):
        hub.publish("/chat", RoomMessage(b"\x01" * 300 + bytes([48 + n]), True), None)
    assert hub.history_held <= 3000
    newcomer = enveloped_recorder("newcomer")
    hub.join(newcomer)  # its envelopes (1,800 bytes each) push the total past the budget
    assert hub.history_held <= 3000
    assert hub.rooms.get("/chat") is not None and newcomer in hub.rooms["/chat"].members
    hub.publish("/chat", RoomMessage(b"after", True), None)
    await tick()
    assert json.loads(newcomer.messages()[-1])["text"] == "after"


# Unique nicknames (the page's subprotocol: wscli/serve/chat_commands.py)


async def test_a_crowd_sharing_one_name_costs_one_probe_per_join() -> None:
    # An attacker joining thousands of "alice"s to one room: each join must not scan all
    # the namesakes before it (quadratic), so n and 8n joins cost about n and 8n.
    def crowd(n: int) -> None:
        hub = Hub()
        for i in range(n):
            nick, replaced = hub.claim_nick("/crowd", "alice", None)
            assert replaced is None
            hub.join(Recorder(f"k{i}", "/crowd", nick), announce=False)
        assert len(hub.rooms["/crowd"].nicks) == n

    assert growth(crowd, 500, repeat=3) < 8 * 4  # linear (8x), with room for noise


async def test_names_are_unique_and_the_lowest_free_number_is_given() -> None:
    hub = Hub()
    await hub.start()
    names = []
    for i in range(4):
        nick, _ = hub.claim_nick("/r", "ann", None)
        names.append(nick)
        hub.join(Recorder(f"k{i}", "/r", nick))
    assert names == ["ann", "ann (2)", "ann (3)", "ann (4)"]
    second = next(c for c in hub.rooms["/r"].members if c.nick == "ann (2)")
    hub.leave(second)
    assert hub.claim_nick("/r", "ann", None) == ("ann (2)", None)
    await hub.close()


def test_clients_waiting_for_history_count_the_socketio_events_held_for_them() -> None:
    # An event that raw clients never get has no frame: its bytes are the event's, and
    # they count against --max-queue like any held message's.
    waiting: WaitingClients[str] = WaitingClients()
    waiting.add("c", None)
    event = RelayedEvent('["typing","' + "x" * 1000 + '"]')
    held = RoomMessage(b"", True, event=event, raw=False)
    held.encode()
    assert held.frame == b"" and held.kept_size() == event.size
    assert waiting.hold(held, None, 500) == ["c"]
