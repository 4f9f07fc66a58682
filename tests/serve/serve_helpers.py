"""Helpers for the `wscli serve` tests: an in-process server, clients, raw sockets, events.

A whole `wscli serve` subprocess is tests/support/serve_process.py's ServeProcess.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import struct
from collections.abc import AsyncIterator, Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from tests.support import scaled
from wscli.serve.config import ServeConfig
from wscli.serve.envelope import SUBPROTOCOL
from wscli.serve.log import EventLog
from wscli.serve.server import ChatServer


class Running:
    """A started ChatServer and its NDJSON event log."""

    def __init__(self, chat: ChatServer, out: io.StringIO, human: io.StringIO) -> None:
        self.chat = chat
        self.out = out
        self.human = human

    @property
    def port(self) -> int:
        return self.chat.port

    def url(self, path: str = "/chat", scheme: str = "ws") -> str:
        return f"{scheme}://127.0.0.1:{self.chat.port}{path}"

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        found = [json.loads(line) for line in self.out.getvalue().splitlines()]
        return [e for e in found if kind is None or e["event"] == kind]

    async def wait_events(self, kind: str, count: int, timeout: float = 5) -> list[dict[str, Any]]:
        """Wait until at least ``count`` events of ``kind`` were logged; return them all."""
        deadline = asyncio.get_running_loop().time() + scaled(timeout)
        while len(self.events(kind)) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"fewer than {count} {kind} events: {self.events()}")
            await asyncio.sleep(0.02)
        return self.events(kind)

    async def stop(self) -> None:
        """Shut the server down now. The per-second summaries (wrong tokens, descriptor
        refusals) are reported at shutdown, so a test reads them here instead of waiting out
        their one-second window."""
        await self.chat.shutdown()

    async def wait_event(self, kind: str, timeout: float = 5, **match: Any) -> dict[str, Any]:
        """The first logged event of ``kind`` whose fields include ``match``."""
        deadline = asyncio.get_running_loop().time() + scaled(timeout)
        while True:
            for event in self.events(kind):
                if all(event.get(k) == v for k, v in match.items()):
                    return event
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no {kind} event like {match}: {self.events()}")
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running(verbose: bool = False, **settings: Any) -> AsyncIterator[Running]:
    """A ChatServer on 127.0.0.1, port 0, logging NDJSON into a buffer."""
    out, human = io.StringIO(), io.StringIO()
    log = EventLog(human, json_stream=out, verbose=verbose)
    settings.setdefault("host", "127.0.0.1")
    settings.setdefault("port", 0)
    chat = ChatServer(ServeConfig(**settings), log)
    await chat.start()
    try:
        yield Running(chat, out, human)
    finally:
        await chat.shutdown()


def client(server: Running, path: str = "/chat", **kwargs: Any) -> Any:
    """``websockets`` client to ``path`` (no proxy; compression off unless asked)."""
    kwargs.setdefault("compression", None)
    kwargs.setdefault("open_timeout", scaled(5))
    return connect(server.url(path), proxy=None, **kwargs)


async def recv(
    ws: ClientConnection, timeout: float = 5, logs: Callable[[], str] | None = None
) -> str | bytes:
    """The next message; past ``timeout`` (scaled), a TimeoutError, or with ``logs`` an
    AssertionError that carries them (a server's stderr: why nothing came)."""
    try:
        return await asyncio.wait_for(ws.recv(), scaled(timeout))
    except asyncio.TimeoutError:
        if logs is None:
            raise
        waited = scaled(timeout)
        raise AssertionError(f"nothing received in {waited:g} s; logs:\n{logs()}") from None


async def recv_n(ws: ClientConnection, n: int, timeout: float = 10) -> list[str | bytes]:
    return [await recv(ws, timeout) for _ in range(n)]


SENTINEL = "sentinel: the next thing to arrive"


async def nothing_before_sentinel(sender: ClientConnection, *watchers: ClientConnection) -> None:
    """Nothing reached the ``watchers`` (default: ``sender``) since the test's last action,
    proved by order instead of by waiting out a silence: ``sender`` sends :data:`SENTINEL`
    to its room and it must be the next message each watcher gets (as the text itself, or as
    the text of a ``wscli.chat.v1`` envelope). The server reads each connection's bytes in
    order on one event loop and queues a room's messages to each client in the order it
    relays them, so whatever the earlier action sent a watcher is queued ahead of the
    sentinel. The earlier action must be over on the server's side (an answer read, the
    connection closed, an event logged) before this is called; with --no-echo the sender
    is no watcher of its own."""
    await sender.send(SENTINEL)
    for ws in watchers or (sender,):
        got = await recv(ws)
        if ws.subprotocol == SUBPROTOCOL and isinstance(got, str):
            got = json.loads(got).get("text")
        assert got == SENTINEL, f"{got!r} came before the sentinel"


async def assert_silent(ws: ClientConnection, seconds: float = 0.2) -> None:
    """Nothing arrives on ``ws`` within ``seconds`` (where no order can prove it:
    :func:`nothing_before_sentinel` does without the wait)."""
    try:
        message = await asyncio.wait_for(ws.recv(), seconds)
    except asyncio.TimeoutError:
        return
    raise AssertionError(f"unexpected message {message!r}")


async def raw_request(
    port: int, request: bytes, timeout: float = 5, source: str | None = None
) -> bytes:
    """Send raw bytes, return everything the server answers until it closes (from the
    loopback address ``source`` when given: another client as far as the server knows)."""
    local = (source, 0) if source is not None else None
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=local)
    try:
        writer.write(request)
        return await asyncio.wait_for(reader.read(), scaled(timeout))
    finally:
        writer.close()


def http_get(path: str, port: int, headers: str = "") -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}Connection: close\r\n\r\n"
    ).encode()


def upgrade_request(path: str, port: int, extra: str = "") -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        f"Sec-WebSocket-Version: 13\r\n{extra}\r\n"
    ).encode()


def masked_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A client-to-server frame, built by hand (to send what a library would refuse to)."""
    mask = os.urandom(4)
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", first, 0x80 | n)
    elif n < 65536:
        header = struct.pack("!BBH", first, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, n)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + masked


async def raw_upgrade(port: int, path: str = "/chat") -> tuple[Any, Any]:
    """Open a WebSocket by hand; returns (reader, writer) after the 101."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(upgrade_request(path, port))
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), scaled(5))
    assert head.startswith(b"HTTP/1.1 101"), head
    return reader, writer
