"""The frames the client engine encodes and cuts itself (wscli/wire/frames.py), checked
against websockets' own protocol: what the engine makes, websockets parses back exactly;
what a server sends, in any split and whatever it is, the engine with ``direct`` reports
exactly as the protocol alone does (messages, pings, pongs, the close, what it answers).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.client import ClientProtocol
from websockets.exceptions import ProtocolError
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from tests.support.linear import assert_linear, timing
from tests.wire.fake import FakeTransport, Pipe, Recorder
from wscli.wire.client import ClientEngine
from wscli.wire.frames import BINARY, DIRECT_MAX, FORWARD, TEXT, FrameCutter, masked_frames
from wscli.wire.owner import Settings
from wscli.wire.server import ServerEngine

# -- encoding: websockets reads back what the engine makes ------------------------------------


def server_reads(data: bytes) -> list[Frame]:
    """The frames a websockets server parses from ``data`` (a client's bytes)."""
    server = ServerProtocol(state=State.OPEN, max_size=None)
    server.receive_data(data)
    assert server.state is State.OPEN, server.close_exc
    return [e for e in server.events_received() if isinstance(e, Frame)]


payloads = st.lists(
    st.one_of(
        st.binary(max_size=300),
        st.integers(0, 70_000).map(lambda n: os.urandom(n)),
    ),
    max_size=20,
)


@given(payloads, st.booleans())
@settings(max_examples=60, deadline=None)
def test_masked_frames_are_what_websockets_reads(messages: list[bytes], text: bool) -> None:
    keys = os.urandom(4 * len(messages))
    data = masked_frames(messages, text, keys)
    frames = server_reads(data)
    assert [(f.opcode, f.fin, bytes(f.data)) for f in frames] == [
        (Opcode.TEXT if text else Opcode.BINARY, True, m) for m in messages
    ]
    # Each frame carries its own key, and the mask bit: a client's frames are all masked.
    pos = 0
    for index, message in enumerate(messages):
        second = data[pos + 1]
        assert second & 0x80
        head = 2 + {126: 2, 127: 8}.get(second & 0x7F, 0)
        assert data[pos + head : pos + head + 4] == keys[4 * index : 4 * index + 4]
        pos += head + 4 + len(message)
    assert pos == len(data)


def test_masked_frames_use_the_shortest_length_encoding() -> None:
    keys = bytes(12)
    data = masked_frames([b"x" * 125, b"x" * 126, b"x" * 65536], False, keys)
    assert data[:2] == b"\x82\xfd"
    assert data[2 + 4 + 125 : 2 + 4 + 125 + 4] == b"\x82\xfe\x00\x7e"
    third = 2 + 4 + 125 + 4 + 4 + 126
    assert data[third : third + 10] == b"\x82\xff" + struct.pack("!Q", 65536)


# -- cutting: the same as websockets, for any bytes in any split ------------------------------


def frame(first: int, payload: bytes, mask: bool = False) -> bytes:
    """A frame as a server (or a hostile one) writes it: ``first`` is FIN, RSV and opcode."""
    length = len(payload)
    if length < 126:
        head = bytes((first, length | (0x80 if mask else 0)))
    elif length < 65536:
        head = struct.pack("!BBH", first, 126 | (0x80 if mask else 0), length)
    else:
        head = struct.pack("!BBQ", first, 127 | (0x80 if mask else 0), length)
    if mask:
        return head + bytes(4) + payload  # a zero key: the payload as it is
    return head + payload


short = st.binary(max_size=140)
sized = st.sampled_from([0, 1, 125, 126, 127, 1000, 65535, 65536, DIRECT_MAX + 1, 70_000])
text_payload = st.one_of(st.text(max_size=60).map(str.encode), short)  # invalid UTF-8 too
server_frames = st.one_of(
    text_payload.map(lambda p: frame(0x81, p)),
    short.map(lambda p: frame(0x82, p)),
    sized.map(lambda n: frame(0x82, b"y" * n)),
    sized.map(lambda n: frame(0x81, b"t" * n)),
    st.lists(short, min_size=2, max_size=4).map(
        lambda parts: (
            frame(0x01, parts[0])
            + b"".join(frame(0x00, p) for p in parts[1:-1])
            + frame(0x80, parts[-1])
        )
    ),
    st.binary(max_size=125).map(lambda p: frame(0x89, p)),  # ping
    st.binary(max_size=125).map(lambda p: frame(0x8A, p)),  # pong
    st.sampled_from([b"", b"\x03\xe8", b"\x03\xe8bye", b"\x03\xf1", b"\x0b\xb8x"]).map(
        lambda p: frame(0x88, p)
    ),
    short.map(lambda p: frame(0x81, p, mask=True)),  # hostile: masked from a server
    short.map(lambda p: frame(0xC1, p)),  # hostile: RSV1 with nothing negotiated
    short.map(lambda p: frame(0x83, p)),  # hostile: a reserved opcode
    short.map(lambda p: frame(0x00, p) if p else b"\x80\x00"),  # hostile: a stray CONT
    short,  # hostile: anything
)


def run_client(chunks: list[bytes], direct: bool, max_size: int | None) -> dict[str, Any]:
    """Feed a client engine the server's answer, then ``chunks`` (each one read); what
    its owner heard, what it wrote back (as websockets reads it) and how it ended."""

    async def scenario() -> dict[str, Any]:
        owner = Recorder()
        protocol = ClientProtocol(parse_uri("ws://127.0.0.1:1/"), max_size=max_size)
        engine = ClientEngine(
            owner, Settings(close_timeout=60), protocol, direct=direct, max_size=max_size
        )
        transport = FakeTransport(engine)
        engine.connection_made(transport)
        engine.send_request(protocol.connect())
        request_protocol = ServerProtocol()
        request_protocol.receive_data(bytes(transport.buffer))
        request = request_protocol.events_received()[0]
        transport.buffer.clear()
        answer = request_protocol.accept(request).serialize()  # type: ignore[arg-type]
        reads = [answer + chunks[0], *chunks[1:]] if chunks else [answer]
        for read in reads:
            engine.data_received(read)
            await asyncio.sleep(0)  # scheduled flushes
        engine.eof_received()
        await asyncio.sleep(0)
        sent = ServerProtocol(state=State.OPEN, max_size=None)
        sent.receive_data(bytes(transport.buffer))
        written = [(f.opcode, bytes(f.data)) for f in sent.events_received()]
        engine.connection_lost(None)
        return {
            "events": owner.events,
            "written": written,
            "ending": owner.ending,
            "state": protocol.state,
            "messages_in": engine.messages_in,
            "bytes_in": engine.bytes_in,
        }

    return asyncio.run(scenario())


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a] or [b""]


@given(
    st.lists(server_frames, max_size=12),
    st.lists(st.integers(0, 1 << 20), max_size=6),
    st.sampled_from([None, 100, 1 << 20]),
)
@settings(max_examples=120, deadline=None)
def test_a_direct_client_hears_what_the_protocol_alone_hears(
    frames: list[bytes], cuts: list[int], max_size: int | None
) -> None:
    chunks = split(b"".join(frames), cuts)
    direct, alone = run_client(chunks, True, max_size), run_client(chunks, False, max_size)
    failed = direct["ending"].sent
    if failed is not None and failed.code == 1007:
        # A text message that is not UTF-8 fails the connection where it stands. The
        # protocol alone parsed the rest of that read first: it may have answered pings,
        # failed on a later bad frame (1002, 1009) or taken the server's close, and the
        # bad message was then dropped without a word. The messages before it are the same.
        assert messages(direct) == messages(alone)
        return
    assert direct == alone


def messages(result: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [event for event in result["events"] if event[0] == "message"]


def test_frames_after_the_answer_in_its_read_are_not_delivered_twice() -> None:
    frames = frame(0x81, b"one") + frame(0x81, b"tw")
    for chunks in ([frames, frame(0x81, b"three")], [frames[:-1], frames[-1:]]):
        got = run_client(chunks, True, 1 << 20)
        assert got == run_client(chunks, False, 1 << 20)
        assert [e[1] for e in got["events"] if e[0] == "message"][:2] == [b"one", b"tw"]


# -- the cutter alone: bounded, linear, only its declared items -------------------------------


@given(st.binary(max_size=4096), st.lists(st.integers(0, 4096), max_size=8))
@settings(max_examples=100, deadline=None)
def test_any_bytes_come_out_as_items_that_add_up(data: bytes, cuts: list[int]) -> None:
    cutter = FrameCutter(1000)
    out = bytearray()
    fed = 0
    for chunk in split(data, cuts):
        fed += len(chunk)
        for opcode, payload in cutter.cut(chunk):
            assert opcode in (FORWARD, TEXT, BINARY)
            if opcode == FORWARD:
                out += payload
            else:
                out += frame(0x80 | opcode, payload)
                assert len(payload) <= 1000
        assert fed - len(out) <= DIRECT_MAX + 14  # what it holds is bounded
    out += cutter.rest()
    assert bytes(out) == data  # nothing lost, nothing added, in order


@given(st.lists(server_frames, min_size=1, max_size=6))
@timing
def test_cutting_takes_time_linear_in_the_input(frames: list[bytes]) -> None:
    unit = b"".join(frames)

    def run(data: bytes) -> None:
        cutter = FrameCutter(1 << 20)
        for start in range(0, len(data), 65536):
            cutter.cut(data[start : start + 65536])

    # Whole units, 8 times as many in the big input: 4 KiB of the smallest frames (2 bytes)
    # is 2,048 frames, 1-2.5 ms here, well above the timer's resolution; 16 KiB took up to
    # 1 s an example.
    assert_linear(run, lambda k: unit * max(1, k // max(len(unit), 1)), 4096)


# -- sending: direct frames, the protocol's own and a fragmented message stay in order -------


async def test_a_direct_client_sends_in_order_with_the_protocols_own_frames() -> None:
    client_owner, server_owner = Recorder(), Recorder()
    protocol = ClientProtocol(parse_uri("ws://127.0.0.1:1/"), max_size=2**20)
    client = ClientEngine(client_owner, Settings(), protocol, direct=True, max_size=2**20)
    protocol.send_request(protocol.connect())
    server = ServerEngine(server_owner, Settings(), ServerProtocol(max_size=None))
    pipe = Pipe(client, server)
    client.flush()
    await pipe.pump()
    assert client.is_open
    big = os.urandom(DIRECT_MAX + 1)  # goes through the protocol, between direct ones
    client.send_text("first")  # queued in the protocol, not yet written
    client.send_messages([b"a", b"b"], True)
    client.ping(b"p")
    client.send_messages([b"\x00", big, b"\x01"], False)
    client.send_frame(Opcode.TEXT, b"frag", fin=False)
    with pytest.raises(ProtocolError):  # as websockets says: not inside a fragmented one
        client.send_messages([b"after"], True)
    client.send_frame(Opcode.CONT, b"ment", fin=True)
    client.send_messages([b"after"], True)
    await pipe.pump()
    assert server_owner.named("message") == [
        ("message", b"first", True),
        ("message", b"a", True),
        ("message", b"b", True),
        ("message", b"\x00", False),
        ("message", big, False),
        ("message", b"\x01", False),
        ("message", b"fragment", True),
        ("message", b"after", True),
    ]
    assert server_owner.named("ping") == [("ping", b"p", False)]
    assert client.messages_out == server.messages_in == 8
