"""The connection engine on its own: two engines over in-memory transports (tests/wire/fake).

Each test drives the real sans-I/O protocols through the engine and checks what the owner
hears and what goes on the wire; real sockets are in the command tests.
"""

from __future__ import annotations

import asyncio

from websockets.frames import Opcode
from websockets.server import ServerProtocol

from tests.support import until
from tests.wire.fake import Pipe, Recorder, client_engine, open_pair
from wscli.wire.engine import DISCARD, DONE, OPEN, Engine
from wscli.wire.keepalive import Keepalive
from wscli.wire.owner import Settings
from wscli.wire.server import ServerEngine
from wscli.wire.stream import HOLD_CONSUMER, HOLD_PEER

FAST_CLOSE = Settings(close_timeout=0.05)


async def test_messages_flow_both_ways_whole_and_checked() -> None:
    client, client_owner, server, server_owner, pipe = await open_pair()
    assert client_owner.named("opened") == [("opened",)]
    assert server_owner.events[:2] == [("request", "/"), ("opened",)]
    client.send_text("héllo")
    client.send_binary(b"\x00\x01")
    await pipe.pump()
    assert server_owner.named("message") == [
        ("message", "héllo".encode(), True),
        ("message", b"\x00\x01", False),
    ]
    assert (server.messages_in, client.messages_out) == (2, 2)
    assert server.bytes_in == client.bytes_out + 2 * 6  # payloads plus masked headers


async def test_fragments_are_joined_into_one_message() -> None:
    client, _, _, server_owner, pipe = await open_pair()
    client.send_frame(Opcode.TEXT, b"ab", fin=False)
    client.send_frame(Opcode.CONT, b"cd", fin=False)
    client.send_frame(Opcode.CONT, b"ef", fin=True)
    await pipe.pump()
    assert server_owner.named("message") == [("message", b"abcdef", True)]


async def test_invalid_utf8_fails_the_connection_with_1007() -> None:
    client, client_owner, _server, server_owner, pipe = await open_pair(FAST_CLOSE, FAST_CLOSE)
    client.send_frame(Opcode.TEXT, b"\xff\xfe")
    client.send_text("after")  # never delivered: the connection failed first
    await pipe.pump()
    await asyncio.sleep(0.1)
    await pipe.pump()
    assert server_owner.named("message") == []
    assert server_owner.ending is not None and client_owner.ending is not None
    assert (server_owner.ending.code, server_owner.ending.by) == (1007, "local")
    assert server_owner.ending.reason.startswith("invalid UTF-8")
    assert (client_owner.ending.code, client_owner.ending.by) == (1007, "peer")


async def test_everything_sent_in_one_iteration_goes_out_in_one_write() -> None:
    client, _, _, server_owner, pipe = await open_pair()
    writes = len(pipe.a.writes)
    for i in range(500):
        client.send_text(f"line {i}")
    assert len(pipe.a.writes) == writes  # nothing written yet: coalesced
    await asyncio.sleep(0)
    assert len(pipe.a.writes) == writes + 1
    await pipe.pump()
    assert len(server_owner.named("message")) == 500
    assert server_owner.named("message")[-1] == ("message", b"line 499", True)


async def test_close_by_this_side_reports_code_reason_and_who() -> None:
    client, client_owner, _, server_owner, pipe = await open_pair()
    client.close(4001, "bye now")
    assert client.phase == DONE
    await pipe.pump()
    assert server_owner.named("closing") == [("closing",)]
    await asyncio.sleep(0)
    await pipe.pump()
    assert client_owner.ending is not None and server_owner.ending is not None
    assert (client_owner.ending.code, client_owner.ending.reason) == (4001, "bye now")
    assert client_owner.ending.by == "local"
    assert server_owner.ending.by == "peer"
    assert (server_owner.ending.code, server_owner.ending.reason) == (4001, "bye now")
    assert pipe.b.eof_written  # the server ends TCP first (RFC 6455 §7.1.1)


async def test_close_without_a_code_is_1005() -> None:
    client, _client_owner, _, server_owner, pipe = await open_pair()
    client.close(None)
    await pipe.pump()
    await asyncio.sleep(0)
    await pipe.pump()
    assert server_owner.ending is not None and server_owner.ending.code == 1005


async def test_a_peer_that_vanishes_is_1006_by_nobody() -> None:
    client, _client_owner, server, server_owner, pipe = await open_pair()
    pipe.a.abort()
    await pipe.pump()
    await asyncio.sleep(0)
    assert server_owner.ending is not None
    assert (server_owner.ending.code, server_owner.ending.by) == (1006, None)
    assert server.lost and client.lost


async def test_a_protocol_error_from_the_peer_is_1002_by_this_side() -> None:
    _client, _client_owner, server, server_owner, pipe = await open_pair(FAST_CLOSE, FAST_CLOSE)
    server.data_received(b"\x83\x80\x00\x00\x00\x00")  # a reserved opcode, masked
    assert server_owner.named("closing") == [("closing",)]
    await pipe.pump()
    await asyncio.sleep(0.1)
    await pipe.pump()
    assert server_owner.ending is not None
    assert (server_owner.ending.code, server_owner.ending.by) == (1002, "local")


async def test_drop_without_timeout_aborts_at_once_and_records_the_code() -> None:
    _client, _client_owner, server, server_owner, pipe = await open_pair()
    server.drop(1013, "too slow")
    assert pipe.b.aborted
    await asyncio.sleep(0)
    assert server_owner.ending is not None
    assert (server_owner.ending.code, server_owner.ending.by) == (1013, "local")
    assert server_owner.ending.sent is None  # no frame went out


async def test_an_unanswered_close_is_aborted_after_the_close_timeout() -> None:
    client, client_owner, _server, _server_owner, pipe = await open_pair(FAST_CLOSE, FAST_CLOSE)
    pipe.b.pause_reading()  # the server reads nothing more: the close is never answered
    client.close(1000)
    await pipe.pump()
    assert client_owner.ending is None
    await until(lambda: pipe.a.aborted, "aborted at the close timeout (0.05 s)")
    assert client_owner.ending is not None
    assert (client_owner.ending.code, client_owner.ending.by) == (1000, "local")


async def test_pings_are_answered_observed_and_timed_by_our_own_record() -> None:
    client, client_owner, server, server_owner, pipe = await open_pair()
    payload = client.ping()
    assert client_owner.named("ping") == [("ping", payload, True)]
    await pipe.pump()
    assert server_owner.named("ping") == [("ping", payload, False)]
    ((_, data, rtt),) = client_owner.named("pong")
    assert data == payload and rtt is not None and 0 <= rtt < 1
    server.ping(b"unknown-to-the-client")
    await pipe.pump()
    assert server_owner.named("pong")[-1][2] is not None
    # A pong nobody asked for has no round trip.
    client.send_frame(Opcode.PONG, b"stray")
    await pipe.pump()
    assert server_owner.named("pong")[-1] == ("pong", b"stray", None)


async def test_a_ping_flood_past_the_budget_pauses_reading_then_drops_the_peer() -> None:
    settings = Settings(limit=64 * 1024, stall_timeout=0.2, high_water=64 * 1024)
    client, _client_owner, server, server_owner, pipe = await open_pair(server_settings=settings)
    # The client floods pings and never reads its pongs.
    pipe.a.pause_reading()
    for _ in range(2000):
        client.send_frame(Opcode.PING, b"p" * 100)
    client.flush()
    await pipe.pump()
    queued = server.queued()
    assert server_owner.named("over_budget"), "the budget was not noticed"
    assert not pipe.b.reading  # the server stopped reading the flood
    assert queued <= settings.limit + 65536 + 128  # at most one read of pongs past it
    unread_pings = len(pipe.a.buffer)
    assert unread_pings > 0  # the rest of the flood waits in the client's buffer
    await until(lambda: pipe.b.aborted, "dropped at the stall timeout (0.2 s)")
    assert server.stalled
    await asyncio.sleep(0)
    assert server_owner.ending is not None and server_owner.ending.stalled


async def test_a_peer_that_drains_in_time_is_read_again() -> None:
    settings = Settings(limit=64 * 1024, stall_timeout=5, high_water=64 * 1024)
    client, _, server, server_owner, pipe = await open_pair(server_settings=settings)
    pipe.a.pause_reading()
    for _ in range(2000):
        client.send_frame(Opcode.PING, b"p" * 100)
    client.flush()
    await pipe.pump()
    assert not pipe.b.reading
    pipe.a.resume_reading()  # the client reads its pongs at last
    await pipe.pump(200)
    assert pipe.b.reading and not server.stalled
    assert server.queued() == 0
    assert server_owner.named("writable")[-1] == ("writable", True)


async def test_holds_pause_reading_until_every_reason_is_released() -> None:
    _client, _, server, _, pipe = await open_pair()
    server.hold(HOLD_PEER)
    server.hold(HOLD_CONSUMER)
    assert not pipe.b.reading
    server.release(HOLD_PEER)
    assert not pipe.b.reading
    server.release(HOLD_CONSUMER)
    assert pipe.b.reading


async def test_reserved_bytes_count_in_the_budget_but_do_not_stall_the_peer() -> None:
    settings = Settings(limit=1000, stall_timeout=None)
    _, _, server, server_owner, pipe = await open_pair(server_settings=settings)
    server.reserve(1500)  # a relay delays 1500 bytes for this peer
    assert server.queued() == 1500
    assert server_owner.named("over_budget") == [("over_budget", 1500)]
    assert pipe.b.reading  # the peer reads all it is given: it is not the one to stop
    server.reserve(10)
    assert len(server_owner.named("over_budget")) == 1  # told once
    server.unreserve(1510)
    server.reserve(1200)
    assert server_owner.named("over_budget")[-1] == ("over_budget", 1200)


async def test_keepalive_fails_a_silent_peer_with_1011() -> None:
    owner = Recorder()
    engines: list[Engine] = []
    keepalive = Keepalive(0.05, 0.05, lambda: engines, lambda exc: None)
    settings = Settings(keepalive=keepalive, close_timeout=0.05)
    client = client_engine(owner, settings)
    engines.append(client)
    server_owner = Recorder()
    server = ServerEngine(server_owner, Settings(), ServerProtocol())
    pipe = Pipe(client, server)
    client.flush()
    await pipe.pump()
    keepalive.start()
    try:
        await until(lambda: owner.named("ping"), "the first keepalive ping")
        await pipe.pump()  # the first ping is answered
        assert owner.named("pong") and client.is_open
        pipe.b.pause_reading()  # the server stops answering
        await until(lambda: owner.ending is not None, "the silent peer failed")
    finally:
        keepalive.stop()
    assert owner.ending is not None
    assert (owner.ending.code, owner.ending.reason) == (1011, "keepalive ping timeout")
    assert owner.ending.by == "local"


async def test_the_generic_server_handshake_holds_early_frames_until_the_answer() -> None:
    owner = Recorder()
    server = ServerEngine(owner, Settings(), ServerProtocol())
    client_owner = Recorder()
    client = client_engine(client_owner, Settings())
    pipe = Pipe(client, server)
    client.flush()
    # A client that talks before the answer: its frame follows the request head.
    early = b"\x81\x82\x00\x00\x00\x00hi"
    pipe.a.buffer += early
    await pipe.pump()
    assert owner.events[:3] == [("request", "/"), ("opened",), ("message", b"hi", True)]


async def test_a_refused_upgrade_is_answered_and_the_rest_discarded() -> None:
    owner = Recorder()
    owner.accept = False
    server = ServerEngine(owner, Settings(), ServerProtocol())
    client_owner = Recorder()
    client = client_engine(client_owner, Settings())
    pipe = Pipe(client, server)
    client.flush()
    await pipe.pump()
    assert pipe.b.writes[0].startswith(b"HTTP/1.1 403 Forbidden\r\n")
    assert owner.named("opened") == []
    assert client_owner.named("rejected") == [("rejected", 403)]
    assert client.phase == DONE and client.protocol is not None
    assert client.protocol.handshake_exc is not None


async def test_garbage_instead_of_a_request_gets_400_at_its_first_line() -> None:
    owner = Recorder()
    server = ServerEngine(owner, Settings(), ServerProtocol())
    pipe = Pipe(server, silent_peer())
    server.data_received(b"\x16\x03\x01 not HTTP\r\n")  # no end of head: not waited for
    assert [kind for kind, *_ in owner.events] == ["invalid"]
    assert "\x16\x03\x01 not HTTP" in owner.events[0][1]  # the parser says why
    assert server.phase == DISCARD
    assert len(pipe.a.writes) == 1 and pipe.a.writes[0].startswith(b"HTTP/1.1 400 Bad Request")
    assert pipe.a.eof_written


async def test_a_request_head_split_anywhere_is_found_and_frames_wait_for_the_answer() -> None:
    head = (
        b"GET /x HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    frame = b"\x81\x82\x00\x00\x00\x00hi"
    for split in range(len(head) - 4, len(head) + 2):
        owner = Recorder()
        server = ServerEngine(owner, Settings(), ServerProtocol())
        Pipe(server, silent_peer())
        data = head + frame
        server.data_received(data[:split])
        server.data_received(data[split:])
        assert owner.events == [("request", "/x"), ("opened",), ("message", b"hi", True)], split


async def test_frames_mode_delivers_control_frames_and_counts_messages() -> None:
    settings = Settings(frames=True)
    client, _, server, server_owner, pipe = await open_pair(server_settings=settings)
    client.send_frame(Opcode.BINARY, b"a", fin=False)
    client.send_frame(Opcode.CONT, b"b", fin=True)
    client.send_frame(Opcode.PING, b"x")
    await pipe.pump()
    assert server_owner.named("frame") == [
        ("frame", Opcode.BINARY, b"a", False),
        ("frame", Opcode.CONT, b"b", True),
        ("frame", Opcode.PING, b"x", True),
    ]
    assert server.messages_in == 1
    assert server.phase == OPEN


def silent_peer() -> asyncio.Protocol:
    """A protocol that ignores what it receives (the far end of a one-sided test)."""
    return asyncio.Protocol()
