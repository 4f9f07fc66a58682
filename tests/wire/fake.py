"""Two engines joined by in-memory transports built from asyncio's public ``Transport``.

Not a mock of the network: the transports keep what real ones keep (a write buffer that
grows while the peer does not read, watermarks, pause/resume, half-close, abort), so the
engine's own logic — budget, flow control, close paths — runs for real. Real sockets are
in the command tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from websockets.client import ClientProtocol
from websockets.frames import Frame
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from wscli.wire.client import ClientEngine
from wscli.wire.engine import Engine
from wscli.wire.owner import Ending, Owner, Settings
from wscli.wire.server import ServerEngine

READ_CHUNK = 65536


class FakeTransport(asyncio.Transport):
    """One direction of an in-memory stream: what is written waits in ``buffer`` until
    :meth:`Pipe.pump` hands it to the other side (if it reads)."""

    def __init__(self, protocol: asyncio.Protocol) -> None:
        super().__init__()
        self.protocol = protocol
        self.buffer = bytearray()
        self.writes: list[bytes] = []
        self.reading = True
        self.closed = False
        self.eof_written = False
        self.aborted = False
        self.high, self.low = 65536, 16384
        self.write_paused = False

    # WriteTransport
    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.eof_written, "write after write_eof"
        if self.closed:
            return
        self.writes.append(bytes(data))
        self.buffer += data
        if not self.write_paused and len(self.buffer) > self.high:
            self.write_paused = True
            self.protocol.pause_writing()

    def taken(self, size: int) -> bytes:
        """The peer read ``size`` bytes of the buffer."""
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        if self.write_paused and len(self.buffer) <= self.low:
            self.write_paused = False
            self.protocol.resume_writing()
        return data

    def get_write_buffer_size(self) -> int:
        return len(self.buffer)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.high = 65536 if high is None else high
        self.low = self.high // 4 if low is None else low

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self.low, self.high

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof_written = True

    def abort(self) -> None:
        self.aborted = True
        self.buffer.clear()
        self._lose()

    # ReadTransport
    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_reading(self) -> bool:
        return self.reading

    # BaseTransport
    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def _lose(self) -> None:
        if not getattr(self, "lost", False):
            self.lost = True
            asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)


class Pipe:
    """A connection between two protocols: ``a`` and ``b``, each with its transport."""

    def __init__(self, a: asyncio.Protocol, b: asyncio.Protocol) -> None:
        self.a, self.b = FakeTransport(a), FakeTransport(b)
        self.eof_delivered: set[int] = set()
        a.connection_made(self.a)
        b.connection_made(self.b)

    def _move(self, source: FakeTransport, dest: FakeTransport) -> bool:
        if getattr(dest, "lost", False):
            return False
        moved = False
        while source.buffer and dest.reading and not getattr(dest, "lost", False):
            dest.protocol.data_received(source.taken(READ_CHUNK))
            moved = True
        if (
            source.eof_written
            and not source.buffer
            and id(source) not in self.eof_delivered
            and dest.reading
        ):
            self.eof_delivered.add(id(source))
            if not dest.protocol.eof_received():
                dest.close()
            moved = True
        if (source.closed or source.aborted) and not source.buffer:
            source._lose()
            dest._lose()
        return moved

    async def pump(self, rounds: int = 20) -> None:
        """Let the loop run and bytes flow until nothing moves."""
        for _ in range(rounds):
            await asyncio.sleep(0)
            moved = self._move(self.a, self.b) | self._move(self.b, self.a)
            if not moved:
                await asyncio.sleep(0)
                if not (self._move(self.a, self.b) | self._move(self.b, self.a)):
                    return


class Recorder(Owner):
    """An owner that writes down every event (and accepts every upgrade)."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.ending: Ending | None = None
        self.accept = True

    def upgrade_requested(self, conn: Engine, request: Request) -> None:
        self.events.append(("request", request.path))
        protocol = conn.protocol
        assert isinstance(protocol, ServerProtocol) and isinstance(conn, ServerEngine)
        if self.accept:
            conn.accept(protocol.accept(request))
        else:
            conn.accept(protocol.reject(403, "no\n"))

    def invalid_request(self, conn: Engine, exc: Exception) -> None:
        self.events.append(("invalid", str(exc.__cause__)))

    def rejected(self, conn: Engine, response: Response | None) -> None:
        self.events.append(("rejected", response.status_code if response else None))

    def opened(self, conn: Engine) -> None:
        self.events.append(("opened",))

    def message_received(self, conn: Engine, data: bytes, text: bool) -> None:
        self.events.append(("message", data, text))

    def frames_received(self, conn: Engine, frames: Sequence[Frame]) -> None:
        for frame in frames:
            self.events.append(("frame", frame.opcode, bytes(frame.data), frame.fin))

    def ping_observed(self, conn: Engine, data: bytes, sent: bool) -> None:
        self.events.append(("ping", data, sent))

    def pong_observed(self, conn: Engine, data: bytes, rtt: float | None) -> None:
        self.events.append(("pong", data, rtt))

    def closing(self, conn: Engine) -> None:
        self.events.append(("closing",))

    def closed(self, conn: Engine, ending: Ending) -> None:
        self.events.append(("closed",))
        self.ending = ending

    def over_budget(self, conn: Engine, queued: int) -> None:
        self.events.append(("over_budget", queued))

    def writable(self, conn: Engine, writable: bool) -> None:
        self.events.append(("writable", writable))

    def named(self, name: str) -> list[tuple[Any, ...]]:
        return [event for event in self.events if event[0] == name]


def client_engine(owner: Owner, settings: Settings, path: str = "/") -> ClientEngine:
    """A client engine whose upgrade request waits to be flushed."""
    protocol = ClientProtocol(parse_uri(f"ws://127.0.0.1:1{path}"), max_size=2**20)
    engine = ClientEngine(owner, settings, protocol)
    protocol.send_request(protocol.connect())
    return engine


async def open_pair(
    client_settings: Settings | None = None,
    server_settings: Settings | None = None,
) -> tuple[Engine, Recorder, Engine, Recorder, Pipe]:
    """A client and a server engine, open, over a :class:`Pipe`."""
    client_owner, server_owner = Recorder(), Recorder()
    client = client_engine(client_owner, client_settings or Settings())
    server = ServerEngine(
        server_owner, server_settings or Settings(), ServerProtocol(max_size=2**20)
    )
    pipe = Pipe(client, server)
    client.flush()
    await pipe.pump()
    assert client.is_open and server.is_open
    return client, client_owner, server, server_owner, pipe
