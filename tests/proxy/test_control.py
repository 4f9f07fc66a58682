"""The control API of `wscli proxy`: a real proxy process, real WebSocket clients, and HTTP
requests as curl sends them. A change applies before its answer: the very next frame a real
client sends after the answer follows it."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from tests.support import run_wscli, scaled
from tests.support.proxy_process import ProxyProcess

CONTROL = re.compile(r"control API on (http://127\.0\.0\.1:\d+/)")
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Echo:
    """An upstream that echoes and remembers what reached it."""

    def __init__(self) -> None:
        self.received: list[str | bytes] = []
        self.url = ""

    async def handler(self, ws: ServerConnection) -> None:
        try:
            async for message in ws:
                self.received.append(message)
                await ws.send(message)
        except ConnectionClosed:
            pass


@pytest.fixture
async def echo() -> AsyncIterator[Echo]:
    up = Echo()
    async with serve(up.handler, "127.0.0.1", 0) as server:
        up.url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        yield up


def control_url(proxy: ProxyProcess) -> str:
    found = proxy.wait_for(CONTROL, stream="stderr")
    assert found is not None, proxy.stderr
    return found[1]


def call(
    base: str,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """One request as `curl -X METHOD -H 'Content-Type: application/json' -d BODY`."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base.rstrip("/") + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with _OPENER.open(request, timeout=scaled(10)) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def acall(*args: Any, **kwargs: Any) -> tuple[int, Any]:
    return await asyncio.to_thread(call, *args, **kwargs)


async def no_message(ws: Any, wait: float = 0.5) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ws.recv(), wait)


async def test_faults_changed_while_running_apply_to_the_next_frame(echo: Echo) -> None:
    async with ProxyProcess(echo.url, "--control", "0", "--json") as proxy:
        api = control_url(proxy)
        async with connect(proxy.ws_url("/chat"), proxy=None, open_timeout=scaled(10)) as ws:
            await ws.send("a")
            assert await asyncio.wait_for(ws.recv(), scaled(5)) == "a"

            status, added = await acall(
                api, "POST", "/faults", {"fault": "drop", "rate": 1, "direction": "down"}
            )
            assert status == 201
            rule = added["fault"]
            assert rule == {"id": 1, "fault": "drop", "direction": "down", "path": "*", "rate": 1.0}
            await ws.send("b")  # the first frame after the answer: its echo is dropped
            await no_message(ws)
            assert "b" in echo.received  # the other direction is untouched

            status, changed = await acall(api, "PATCH", "/faults/1", {"path": "/other*"})
            assert status == 200 and changed["fault"]["path"] == "/other*"
            await ws.send("c")  # the rule no longer matches this connection's path
            assert await asyncio.wait_for(ws.recv(), scaled(5)) == "c"

            assert (await acall(api, "DELETE", "/faults/1"))[0] == 200
            assert await acall(api, "GET", "/faults") == (200, {"faults": []})

            status, listed = await acall(api, "GET", "/connections")
            assert status == 200
            (conn,) = listed["connections"]
            assert conn["id"] == 1 and conn["path"] == "/chat" and conn["paused"] == []

            status, paused = await acall(api, "POST", "/connections/1/pause", {"direction": "down"})
            assert status == 200 and paused["connection"]["paused"] == ["down"]
            await ws.send("d")
            await no_message(ws)  # held by the proxy
            await acall(api, "POST", "/connections/1/resume", {"direction": "down"})
            assert await asyncio.wait_for(ws.recv(), scaled(5)) == "d"  # then sent, in order

            status, _ = await acall(
                api, "POST", "/connections/1/disconnect", {"close_code": 4000, "reason": "bye"}
            )
            assert status == 200
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), scaled(5))
            assert ws.close_code == 4000 and ws.close_reason == "bye"
        assert await asyncio.to_thread(proxy.wait_for_event, lambda e: e["event"] == "close")
        events = proxy.events()
    actions = [e["action"] for e in events if e["event"] == "control"]
    assert actions == [
        "fault-added",
        "fault-changed",
        "fault-removed",
        "pause",
        "resume",
        "disconnect",
    ]
    dropped = [e for e in events if e["event"] == "fault" and e["fault"] == "drop"]
    assert [(e["from"], e["rule"]) for e in dropped] == [("server", 1)]


async def test_rules_for_new_connections_and_connection_faults(echo: Echo) -> None:
    async with ProxyProcess(echo.url, "--control", "0") as proxy:
        api = control_url(proxy)
        status, _ = await acall(
            api, "POST", "/faults", {"fault": "refuse", "rate": 1, "path": "/closed"}
        )
        assert status == 201
        status, _ = await acall(
            api,
            "POST",
            "/faults",
            {"fault": "disconnect-after", "messages": 2, "close_code": 4001},
        )
        assert status == 201
        refused = run_wscli("connect", proxy.ws_url("/closed"), input="x\n")
        assert refused.returncode == 4 and b"503" in refused.stderr
        async with connect(proxy.ws_url("/open"), proxy=None, open_timeout=scaled(10)) as ws:
            await ws.send("one")  # and its echo: two messages, then the 4001
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), scaled(5))
                await asyncio.wait_for(ws.recv(), scaled(5))
            assert ws.close_code == 4001
        assert await asyncio.to_thread(proxy.wait_for, r"! disconnect-after after=2 messages")


async def test_who_may_call_and_bad_requests(echo: Echo) -> None:
    async with ProxyProcess(echo.url, "--control", "0") as proxy:
        api = control_url(proxy)
        port = int(api.rsplit(":", 1)[1].strip("/"))
        cases: list[tuple[bytes, int]] = [
            (b"GET /faults HTTP/1.1\r\nHost: evil.example\r\n\r\n", 403),  # DNS rebinding
            (b"GET /faults HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://a.example\r\n\r\n", 403),
            (  # what a web page can post without a preflight
                b"POST /faults HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\n"
                b'Content-Length: 16\r\n\r\n{"fault":"drop"}',
                415,
            ),
            (b"GET /nothing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 404),
            (b"PUT /faults HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 405),
            (b"\x16\x03\x01garbage\r\n\r\n", 400),
            (b"POST /faults HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 99999999\r\n\r\n", 413),
            (
                b"POST /faults HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: 20\r\n\r\n" + b'{"fault": "delay"}  ',
                400,
            ),
        ]
        for raw, status in cases:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(raw)
            answer = await asyncio.wait_for(reader.read(), scaled(5))
            writer.close()
            assert answer.startswith(f"HTTP/1.1 {status} ".encode()), (raw, answer)
            assert b"Content-Type: application/json" in answer
        assert await acall(api, "GET", "/faults") == (200, {"faults": []})  # still serving


def test_a_token_is_needed_off_loopback_and_checked_when_set(echo_url: str) -> None:
    off = run_wscli("proxy", echo_url, "--port", "0", "--control", "0.0.0.0:0")
    assert off.returncode == 2
    assert b"needs a token" in off.stderr
    with ProxyProcess(echo_url, "--control", "0", env={"WSCLI_CONTROL_TOKEN": "s3cret"}) as proxy:
        api = control_url(proxy)
        assert call(api, "GET", "/faults")[0] == 401
        assert call(api, "GET", "/faults", headers={"Authorization": "Bearer nope"})[0] == 403
        good = call(api, "GET", "/faults", headers={"Authorization": "Bearer s3cret"})
        assert good == (200, {"faults": []})
        assert "s3cret" not in proxy.stdout + proxy.stderr


@pytest.fixture
def echo_url() -> str:
    return "ws://127.0.0.1:9"  # never reached: these tests open no WebSocket
