"""A raw TCP server on 127.0.0.1 that answers exactly the bytes a test scripts, right or wrong.

For testing how wscli copes with servers that misbehave: a 404 with a body, a wrong
Sec-WebSocket-Accept, garbage, silence, an early close, an oversized head, an unoffered
subprotocol, a bad close... It runs its own event loop in a background thread, so a test can
use it around a blocking call (such as ``support.run_wscli``) as well as from async code::

    with RawServer(answer(upgrade_response(subprotocol="chat"), after="websocket")) as server:
        result = run_wscli("handshake", server.url("/chat"))
    assert server.requests[0].startswith(b"GET /chat ")

A handler is ``async def handler(conn: RawConnection) -> None``; ready-made ones:
:func:`answer`, :func:`silent`, :func:`close_early`. Response builders:
:func:`upgrade_response` (a 101 whose accept is computed from the request, unless told
otherwise) and :func:`http_response`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import ssl
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Literal

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
HEAD_LIMIT = 65536
WAIT = 10.0
"""Upper bound of every wait of the server itself, so a broken test cannot hang it."""


def accept_value(key: str) -> str:
    """Sec-WebSocket-Accept for ``key`` (written out here so tests don't trust wscli's)."""
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def request_key(request: bytes) -> str:
    """The Sec-WebSocket-Key of a request head ('' when there is none)."""
    for line in request.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-key":
            return value.strip().decode("latin-1")
    return ""


class RawConnection:
    """One accepted connection: the streams, and the request head once read."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        requests: list[bytes] | None = None,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.request = b""
        self._requests = requests

    async def read_request(self) -> bytes:
        """Read up to the blank line ending the request head (b"" if the client went away)."""
        try:
            self.request = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), WAIT)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            self.request = b""
        if self.request and self._requests is not None:
            self._requests.append(self.request)  # before answering: the client sees it after
        return self.request

    async def read_chunk(self) -> bytes:
        """Read whatever arrives first (b"" if the client went away)."""
        try:
            self.request = await asyncio.wait_for(self.reader.read(65536), WAIT)
        except (ConnectionError, asyncio.TimeoutError):
            self.request = b""
        if self.request and self._requests is not None:
            self._requests.append(self.request)
        return self.request

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read_frame(self) -> tuple[int, bytes] | None:
        """Read one (masked, client-to-server) frame: (opcode, payload), None at EOF."""
        try:
            first, second = await asyncio.wait_for(self.reader.readexactly(2), WAIT)
            length = second & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
            mask = await self.reader.readexactly(4) if second & 0x80 else b"\0\0\0\0"
            payload = await self.reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.TimeoutError):
            return None
        return first & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(payload))

    async def hold(self) -> None:
        """Keep the connection open until the client closes it (or WAIT runs out)."""
        try:
            while await asyncio.wait_for(self.reader.read(65536), WAIT):
                pass
        except (asyncio.TimeoutError, ConnectionError):
            pass

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError, asyncio.TimeoutError, ssl.SSLError):
            await asyncio.wait_for(self.writer.wait_closed(), WAIT)


def close_frame(code: int | None, reason: str = "") -> bytes:
    """An unmasked (server-to-client) close frame; ``code=None`` makes an empty one."""
    payload = b"" if code is None else struct.pack("!H", code) + reason.encode()
    return bytes([0x88, len(payload)]) + payload


Handler = Callable[[RawConnection], Awaitable[None]]
Response = bytes | Callable[[bytes], bytes]
"""Fixed bytes, or a function of the request head returning them."""
After = Literal["close", "hold", "websocket", "no-close-frame", "ignore-close"]


def http_response(
    status: int,
    reason: str,
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    content_length: bool = True,
) -> bytes:
    """An HTTP/1.1 response; Content-Length is added for a body unless told not to."""
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{n}: {v}" for n, v in headers)]
    if body and content_length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def upgrade_response(
    *,
    accept: str | None = None,
    subprotocol: str | None = None,
    extensions: str | None = None,
    headers: Sequence[tuple[str, str]] = (),
) -> Callable[[bytes], bytes]:
    """A 101 for the request: the right accept (or ``accept``), then the optional headers."""

    def build(request: bytes) -> bytes:
        lines = [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            (
                "Sec-WebSocket-Accept",
                accept if accept is not None else accept_value(request_key(request)),
            ),
        ]
        if subprotocol is not None:
            lines.append(("Sec-WebSocket-Protocol", subprotocol))
        if extensions is not None:
            lines.append(("Sec-WebSocket-Extensions", extensions))
        return http_response(101, "Switching Protocols", [*lines, *headers])

    return build


def answer(
    response: Response,
    *,
    after: After = "close",
    close_code: int | None = 1000,
    close_reason: str = "",
    whole_head: bool = True,
) -> Handler:
    """Read the request, send ``response``, then:

    - ``close``: close TCP at once;
    - ``hold``: keep the connection open until the client goes away;
    - ``websocket``: wait for the client's close frame, answer with a close frame of
      ``close_code`` and ``close_reason`` (None: an empty close frame), then close TCP;
    - ``no-close-frame``: wait for the client's close frame, close TCP without answering;
    - ``ignore-close``: read the client's close frame and never answer (hold).

    With ``whole_head=False`` the first chunk received counts as the request, as a plain
    HTTP server answers a TLS ClientHello (which holds no blank line) with a 400.
    """

    async def handle(conn: RawConnection) -> None:
        request = await (conn.read_request() if whole_head else conn.read_chunk())
        if not request:
            return
        await conn.send(response(request) if callable(response) else response)
        if after == "hold" or after == "ignore-close":
            await conn.hold()
        elif after in ("websocket", "no-close-frame"):
            while (frame := await conn.read_frame()) is not None and frame[0] != 0x8:
                pass
            if after == "websocket" and frame is not None:
                await conn.send(close_frame(close_code, close_reason))
        await conn.close()

    return handle


def silent() -> Handler:
    """Read the request and never answer (until the client goes away)."""

    async def handle(conn: RawConnection) -> None:
        await conn.read_request()
        await conn.hold()
        await conn.close()

    return handle


def close_early(partial: bytes = b"") -> Handler:
    """Read the request, send ``partial`` (maybe nothing), and close the connection."""

    async def handle(conn: RawConnection) -> None:
        await conn.read_request()
        if partial:
            await conn.send(partial)
        await conn.close()

    return handle


class RawServer:
    """A TCP (or TLS, with ``ssl``) server on 127.0.0.1, port 0, in its own thread.

    ``requests`` holds every request head read, in order; ``accepted`` the time
    (time.monotonic()) each connection came, for bounds that must not count a client's own
    start-up (a Python process takes seconds to start at load 20).
    """

    def __init__(self, handler: Handler, ssl_context: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.ssl_context = ssl_context
        self.requests: list[bytes] = []
        self.accepted: list[float] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def url(self, path: str = "/", scheme: str | None = None) -> str:
        scheme = scheme or ("wss" if self.ssl_context else "ws")
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.accepted.append(time.monotonic())
        conn = RawConnection(reader, writer, self.requests)
        try:
            await self.handler(conn)
        except (ConnectionError, asyncio.CancelledError, ssl.SSLError):
            pass
        finally:
            writer.close()
            self._tasks.discard(task)

    async def _start(self) -> None:
        self._server = await asyncio.start_server(
            self._connected, "127.0.0.1", 0, ssl=self.ssl_context, limit=HEAD_LIMIT
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def __enter__(self) -> RawServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(WAIT)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(WAIT)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(WAIT)
        self._loop.close()
