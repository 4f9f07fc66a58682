"""Helpers for the `wscli serve --socketio` tests: the real socket.io-client under Node,
driven line by line (tests/peers/socketio-client/client.js), and raw Engine.IO requests."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from tests.support import clean_env, scaled
from tests.support.peers import install_project_peer


def binary(data: bytes) -> dict[str, str]:
    """A binary argument as client.js takes and prints it."""
    return {"$binary": base64.b64encode(data).decode("ascii")}


class NodeClients:
    """One Node process holding any number of named socket.io-client sockets."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.seen: list[dict[str, Any]] = []

    def send(self, **command: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(command) + "\n").encode())

    def connect(self, name: str, url: str, **opts: Any) -> None:
        self.send(op="connect", name=name, url=url, opts=opts)

    def emit(self, name: str, event: str, *args: Any, ack: bool = False) -> None:
        self.send(op="emit", name=name, event=event, args=list(args), ack=ack)

    def disconnect(self, name: str) -> None:
        self.send(op="disconnect", name=name)

    async def next(self, name: str, kind: str, timeout: float = 10) -> dict[str, Any]:
        """The next event of ``kind`` for socket ``name`` (earlier ones of other kinds are
        kept in :attr:`seen`)."""
        for index, event in enumerate(self.seen):
            if event.get("name") == name and event["type"] == kind:
                return self.seen.pop(index)
        assert self.proc.stdout is not None
        deadline = asyncio.get_running_loop().time() + scaled(timeout)
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(f"no {kind} for {name}; seen {self.seen}")
            try:
                line = await asyncio.wait_for(self.proc.stdout.readline(), left)
            except asyncio.TimeoutError:
                raise AssertionError(f"no {kind} for {name}; seen {self.seen}") from None
            if not line:
                raise AssertionError(f"client.js ended; seen {self.seen}")
            event = json.loads(line)
            if event.get("name") == name and event["type"] == kind:
                return event
            self.seen.append(event)

    async def events(self, name: str, count: int, timeout: float = 10) -> list[Any]:
        """The next ``count`` events (``[event, args]``) received by ``name``."""
        found = []
        for _ in range(count):
            event = await self.next(name, "event", timeout)
            found.append([event["event"], event["args"]])
        return found

    async def quiet(self, name: str, seconds: float = 0.3) -> None:
        """No event arrives for ``name`` within ``seconds``."""
        try:
            event = await self.next(name, "event", seconds / scaled(1))
        except AssertionError:
            return
        raise AssertionError(f"unexpected {event}")


@contextlib.asynccontextmanager
async def node_clients() -> AsyncIterator[NodeClients]:
    """Start client.js (npm packages from tests/peers/socketio-client's lock file)."""
    cache = await asyncio.to_thread(install_project_peer, "socketio-client")
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(cache / "client.js"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env=clean_env(),
    )
    clients = NodeClients(proc)
    try:
        assert proc.stdout is not None
        ready = await asyncio.wait_for(proc.stdout.readline(), scaled(20))
        assert json.loads(ready)["type"] == "ready", ready
        yield clients
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), scaled(5))
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()


async def http(port: int, request: bytes, timeout: float = 5) -> tuple[int, dict[str, str], bytes]:
    """Send one raw HTTP request; (status, headers with lower-case names, body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        data = await asyncio.wait_for(reader.read(), scaled(timeout))
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = dechunk(body)
    return int(lines[0].split()[1]), headers, body


def dechunk(data: bytes) -> bytes:
    """A chunked body's content (the Node server chunks its answers)."""
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return out


def get(port: int, target: str, extra: str = "") -> bytes:
    return f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}\r\n".encode()


def post(port: int, target: str, body: bytes, extra: str = "") -> bytes:
    return (
        f"POST {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


async def handshake(port: int, query: str = "", path: str = "/socket.io/") -> dict[str, Any]:
    """A long-polling handshake; the open packet's JSON."""
    status, _, body = await http(port, get(port, f"{path}?EIO=4&transport=polling{query}"))
    assert status == 200, body
    assert body.startswith(b"0"), body
    return dict(json.loads(body[1:]))


async def connected_session_for(port: int, query: str = "") -> str:
    """A long-polling session (by hand) that joined namespace ``/``; its sid."""
    sid = (await handshake(port, query))["sid"]
    target = f"/socket.io/?EIO=4&transport=polling&sid={sid}"
    status, _, body = await http(port, post(port, target, b"40"))
    assert (status, body) == (200, b"ok")
    status, _, body = await http(port, get(port, target))
    assert status == 200 and body.startswith(b"40{"), body
    return str(sid)
