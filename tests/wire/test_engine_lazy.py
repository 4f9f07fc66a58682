"""An engine opened without a protocol object (`serve`'s own 101): the protocol is made for
the first bytes or the first message, and one that read only pings and pongs is let go."""

from __future__ import annotations

import asyncio

from websockets.client import ClientProtocol
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from tests.wire.fake import FakeTransport, Recorder
from wscli.wire.engine import KEEPALIVE_PING, OPEN, Engine
from wscli.wire.owner import Settings


class LazyServer(Engine):
    """A server engine past its handshake that makes its protocol only when needed."""

    __slots__ = ()

    def new_protocol(self) -> ServerProtocol:
        return ServerProtocol(state=State.OPEN, max_size=2**20)


def _opened(settings: Settings | None = None) -> tuple[LazyServer, Recorder, FakeTransport]:
    owner = Recorder()
    server = LazyServer(owner, settings or Settings(track_pings=False))
    transport = FakeTransport(server)
    server.connection_made(transport)
    server.open(None)
    assert server.phase == OPEN and server.is_open and server.protocol is None
    return server, owner, transport


def _client_frames(*calls: tuple[str, bytes]) -> bytes:
    """Masked frames as a client writes them."""
    client = ClientProtocol(parse_uri("ws://127.0.0.1/"), state=State.OPEN)
    for method, payload in calls:
        getattr(client, method)(payload)
    return b"".join(client.data_to_send())


async def test_the_first_message_makes_the_protocol_and_is_delivered() -> None:
    server, owner, _ = _opened()
    server.data_received(_client_frames(("send_text", b"hello")))
    assert owner.named("message") == [("message", b"hello", True)]
    assert server.protocol is not None and server.protocol.state is State.OPEN


async def test_a_keepalive_ping_needs_no_protocol_and_its_pong_leaves_none() -> None:
    server, owner, transport = _opened()
    assert server.keepalive_ping()
    assert transport.writes == [KEEPALIVE_PING] and server.protocol is None
    assert owner.named("ping") == [("ping", b"wscli", True)]
    server.data_received(_client_frames(("send_pong", b"wscli")))
    assert owner.named("pong") == [("pong", b"wscli", None)]
    assert server.protocol is None  # made for the pong, then let go
    # A client's ping is answered, then the protocol goes too.
    server.data_received(_client_frames(("send_ping", b"are you there")))
    assert transport.writes[-1] == b"\x8a\x0dare you there"
    assert server.protocol is None


async def test_a_read_that_holds_more_than_control_frames_keeps_the_protocol() -> None:
    server, owner, _ = _opened()
    data = _client_frames(("send_pong", b"wscli"), ("send_text", b"hello"))
    server.data_received(data[:-3])  # the pong and the start of a message
    assert server.protocol is not None  # it holds the partial frame
    server.data_received(data[-3:])
    assert owner.named("message") == [("message", b"hello", True)]
    # A fragmented message in progress keeps it too.
    client = ClientProtocol(parse_uri("ws://127.0.0.1/"), state=State.OPEN)
    client.send_text(b"frag", fin=False)
    client.send_ping(b"p")
    server.data_received(b"".join(client.data_to_send()))
    client.send_continuation(b"ment", fin=True)
    server.data_received(b"".join(client.data_to_send()))
    assert owner.named("message")[-1] == ("message", b"fragment", True)


async def test_sending_or_closing_without_a_protocol_makes_one() -> None:
    server, _owner, transport = _opened()
    server.send_text("hi")
    server.flush()
    assert transport.writes[-1] == b"\x81\x02hi" and server.protocol is not None
    server2, _owner2, transport2 = _opened()
    server2.close(1001, "bye")
    assert transport2.writes[-1] == b"\x88\x05\x03\xe9bye"
    assert server2.close_frames()[1] is not None and not server2.is_open


async def test_eof_without_a_protocol_ends_as_1006() -> None:
    server, owner, transport = _opened()
    server.eof_received()
    transport.abort()
    await _settle()
    assert owner.ending is not None and owner.ending.code == 1006
    assert owner.named("closing") == [("closing",)]


async def test_a_frame_of_the_wrong_shape_still_fails_the_connection() -> None:
    server, _owner, transport = _opened()
    server.data_received(b"\x89\x05wscli")  # unmasked: a protocol error from a client
    assert transport.writes[-1].startswith(b"\x88")  # 1002
    assert server.protocol is not None and server.protocol.state is not State.OPEN
    sent = server.ending().sent
    assert sent is not None and sent.code == 1002


async def _settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)
