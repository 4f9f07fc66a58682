"""Real WebSocket servers for the `wscli connect` tests, each in its own thread and loop.

A thread (not the test's event loop) so blocking `subprocess.run` calls of the real
`wscli` can talk to them. Each behaviour is one handler: echo, close with a code, drop the
TCP connection, stay silent, reject the handshake with a status.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

Handler = Callable[[ServerConnection], Awaitable[None]]


class ServerThread:
    """Run ``serve(handler, ...)`` on 127.0.0.1 in a background thread."""

    def __init__(self, handler: Handler, port: int = 0, **kwargs: Any) -> None:
        self.handler = handler
        self.kwargs = kwargs
        self.requested_port = port
        self.port = 0
        self.requests: list[Request] = []
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Future[None] | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._server: Server | None = None

    async def _main(self) -> None:
        self._stop = self.loop.create_future()
        process_request = self.kwargs.pop("process_request", None)

        def record(connection: ServerConnection, request: Request) -> Response | None:
            self.requests.append(request)
            if process_request is not None:
                return process_request(connection, request)  # type: ignore[no-any-return]
            return None

        async with serve(
            self._guard,
            "127.0.0.1",
            self.requested_port,
            process_request=record,
            **self.kwargs,
        ) as server:
            self._server = server
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stop

    async def _guard(self, ws: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self.handler(ws)

    def _run(self) -> None:
        try:
            self.loop.run_until_complete(self._main())
        finally:
            self._ready.set()

    def start(self) -> ServerThread:
        self._thread.start()
        if not self._ready.wait(10) or not self.port:
            raise RuntimeError("test server did not start")
        return self

    def stop(self) -> None:
        if self._stop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._stop.set_result, None)
        self._thread.join(10)

    @property
    def connections(self) -> set[ServerConnection]:
        """The server's open connections; read them on :attr:`loop` (its thread)."""
        assert self._server is not None
        return self._server.connections

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"


@contextlib.contextmanager
def running(handler: Handler, **kwargs: Any) -> Iterator[ServerThread]:
    server = ServerThread(handler, **kwargs).start()
    try:
        yield server
    finally:
        server.stop()


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


def echo_recording_closes() -> tuple[Handler, list[tuple[int | None, str | None]]]:
    """:func:`echo`, and the list it fills with each connection's close code and reason
    (as the server saw them) when the connection ends."""
    seen: list[tuple[int | None, str | None]] = []

    async def record(ws: ServerConnection) -> None:
        try:
            await echo(ws)
        finally:
            seen.append((ws.close_code, ws.close_reason))

    return record, seen


def close_after_first(code: int, reason: str = "") -> Handler:
    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.close(code, reason)

    return handler


async def drop_after_first(ws: ServerConnection) -> None:
    """Read one message, then vanish without a close frame."""
    await ws.recv()
    assert ws.transport is not None
    ws.transport.abort()


async def silent(ws: ServerConnection) -> None:
    """Never sends a message; ends when the client closes."""
    await ws.wait_closed()


async def greet_then_echo(ws: ServerConnection) -> None:
    """Sends a message with terminal control characters first, then echoes."""
    await ws.send("hello \x1b[31mred\x1b[0m\x07")
    await echo(ws)


def reject(status: int) -> Callable[[ServerConnection, Request], Response]:
    def process_request(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(status, f"no: {status}\n")

    return process_request


def tls_server_context(cert: Any) -> ssl.SSLContext:
    """A server context from a trustme leaf certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(context)
    return context


def start_killable(port: int) -> tuple[subprocess.Popen[bytes], int]:
    """Run :func:`main` in a child process on ``port`` (0: any); return it and its port."""
    proc = subprocess.Popen(
        [sys.executable, __file__, str(port)], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"killable server did not start: {line!r}")
    return proc, int(line.split()[-1])


def main() -> None:
    """``python connect_servers.py PORT``: a welcome-then-echo server in this process.

    Prints ``listening on PORT`` once ready; killed by the test to drop connections
    without a close frame.
    """

    async def welcome(ws: ServerConnection) -> None:
        await ws.send("welcome")
        await echo(ws)

    async def run(port: int) -> None:
        async with serve(welcome, "127.0.0.1", port) as server:
            print(f"listening on {server.sockets[0].getsockname()[1]}", flush=True)
            await asyncio.Future()

    asyncio.run(run(int(sys.argv[1])))


if __name__ == "__main__":
    main()
