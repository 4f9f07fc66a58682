"""Each fault of `wscli proxy`, observed from the client side (and logged by the proxy)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.support import requires, run_wscli, scaled
from tests.support.peers import peer
from tests.support.proxy_process import ProxyProcess


@pytest.fixture
async def echo() -> AsyncIterator[str]:
    async def handler(ws: ServerConnection) -> None:
        try:
            async for message in ws:
                await ws.send(message)
        except ConnectionClosed:
            pass

    server: Server
    async with serve(handler, "127.0.0.1", 0) as server:
        yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"


def ws_connect(url: str, **kwargs: object) -> connect:
    return connect(url, proxy=None, open_timeout=scaled(10), **kwargs)  # type: ignore[arg-type]


async def test_drop_drops_messages_and_the_seed_repeats_the_same_drops(echo: str) -> None:
    runs = []
    for _ in range(2):
        async with ProxyProcess(echo, "--drop", "0.3", "--seed", "42", "--json") as proxy:
            async with ws_connect(proxy.ws_url()) as ws:
                for n in range(30):
                    await ws.send(f"m{n}")

                def settled(event: dict[str, object]) -> bool:
                    # Every message the client sent, and every echo of one that went
                    # through, has been seen (or dropped) by the proxy.
                    events = proxy.events()
                    up = [e for e in events if e["event"] == "message" and e["from"] == "client"]
                    down = [e for e in events if e["event"] == "message" and e["from"] == "server"]
                    passed = len(up) - sum(
                        1 for e in events if e["event"] == "fault" and e["from"] == "client"
                    )
                    return len(up) == 30 and len(down) == passed

                assert await asyncio.to_thread(proxy.wait_for_event, settled)
                # Every echo the proxy let through reaches us (however slow the machine);
                # then nothing more comes.
                events = proxy.events()
                forwarded = sum(
                    1 for e in events if e["event"] == "message" and e["from"] == "server"
                ) - sum(1 for e in events if e["event"] == "fault" and e["from"] == "server")
                got = [await asyncio.wait_for(ws.recv(), scaled(5)) for _ in range(forwarded)]
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(ws.recv(), 0.3)
            drops = [e for e in proxy.events() if e["event"] == "fault"]
        assert drops and all(e["fault"] == "drop" for e in drops)
        # Each direction draws from its own generator: the drops of each repeat exactly;
        # how the two directions interleave in the log is timing.
        by_direction = sorted(((e["from"], e["length"]) for e in drops), key=lambda d: d[0])
        runs.append((got, by_direction))
    assert 0 < len(runs[0][0]) < 30
    assert runs[0] == runs[1]


async def test_delay_and_jitter_delay_each_direction_in_order(echo: str) -> None:
    async with ProxyProcess(echo, "--delay", "150ms", "--jitter", "50ms", "--json") as proxy:
        async with ws_connect(proxy.ws_url()) as ws:
            start = time.monotonic()
            for n in range(5):
                await ws.send(f"m{n}")
            got = [await asyncio.wait_for(ws.recv(), scaled(5)) for _ in range(5)]
            elapsed = time.monotonic() - start
        assert got == [f"m{n}" for n in range(5)]  # order kept despite jitter
        assert elapsed >= 0.2  # two directions of at least 100 ms each
        assert await asyncio.to_thread(proxy.wait_for_event, lambda e: e["event"] == "close")
        delays = [e["delay_ms"] for e in proxy.events() if e["event"] == "message"]
        assert len(delays) == 10 and all(100 <= d <= 200 for d in delays)


async def test_throttle_limits_bytes_per_second(echo: str) -> None:
    async with ProxyProcess(echo, "--throttle", "20K") as proxy:
        async with ws_connect(proxy.ws_url(), compression=None) as ws:
            start = time.monotonic()
            for _ in range(5):
                await ws.send(b"x" * 4096)
            for _ in range(5):
                await asyncio.wait_for(ws.recv(), scaled(10))
            elapsed = time.monotonic() - start
        # 20 KiB at 20 KiB/s: the last message leaves after ~0.8 s each way (pipelined).
        assert elapsed >= 0.7


async def test_disconnect_after_drops_tcp_and_the_client_sees_1006(echo: str) -> None:
    async with ProxyProcess(echo, "--disconnect-after", "3") as proxy:
        async with ws_connect(proxy.ws_url()) as ws:
            await ws.send("a")
            assert await ws.recv() == "a"
            await ws.send("b")  # the third message (the echo of b) ends the connection
            with pytest.raises(ConnectionClosed):
                while True:
                    await asyncio.wait_for(ws.recv(), scaled(5))
            assert ws.close_code == 1006
        assert await asyncio.to_thread(proxy.wait_for, r"#1 ! disconnect-after after=3 messages")


async def test_close_code_makes_disconnects_proper_closes(echo: str) -> None:
    async with ProxyProcess(echo, "--disconnect-every", "0.5s", "--close-code", "4000") as proxy:
        async with ws_connect(proxy.ws_url()) as ws:
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), scaled(5))
            assert ws.close_code == 4000
        assert await asyncio.to_thread(
            proxy.wait_for, r"#1 ! disconnect-every after=0.5s close_code=4000"
        )


async def test_refuse_answers_503(echo: str) -> None:
    async with ProxyProcess(echo, "--refuse", "1") as proxy:
        with pytest.raises(InvalidStatus) as info:
            async with ws_connect(proxy.ws_url()):
                pass
        assert info.value.response.status_code == 503
        assert await asyncio.to_thread(proxy.wait_for, r"#1 ! refuse status=503")


async def test_a_refused_client_that_stays_connected_gets_no_timeout_line(echo: str) -> None:
    async with ProxyProcess(echo, "--refuse", "1", "--open-timeout", "0.5") as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), scaled(5))
        assert answer.startswith(b"HTTP/1.1 503 ")
        await asyncio.sleep(1.5)  # past --open-timeout, the socket still open on our side
        writer.close()
        assert await asyncio.to_thread(proxy.wait_for, r"#1 refused by proxy: HTTP 503")
        assert "timed out" not in proxy.stdout  # it said so 10 s later before


def test_stall_triggers_the_clients_ping_timeout() -> None:
    with peer_or_echo() as url, ProxyProcess(url, "--stall") as proxy:
        start = time.monotonic()
        result = run_wscli(
            "connect",
            "--ping-interval",
            "0.5",
            "--ping-timeout",
            "0.5",
            "--wait",
            "20",
            proxy.ws_url(),
            input="",
            timeout=30,
        )
        elapsed = time.monotonic() - start
        assert result.returncode == 5, result.stderr
        assert b"keepalive ping timeout" in result.stderr or b"1011" in result.stderr
        assert elapsed < scaled(10)
        assert proxy.wait_for(r"#1 ! stall after=open")


@requires("node")
def test_wscli_connect_reconnect_recovers_through_disconnect_every() -> None:
    with (
        peer("node-ws") as port,
        ProxyProcess(f"ws://127.0.0.1:{port}/", "--disconnect-every", "1s") as proxy,
    ):
        result = run_wscli(
            "connect",
            "--json",
            "--reconnect",
            "-x",
            "hi",
            "-n",
            "3",  # the third echo: -x is sent again on each connection, echoed on each
            "--idle",
            str(scaled(10)),  # a failure bound only: a connection of 1 s and a backoff
            proxy.ws_url(),
            input="",
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
        events = [json.loads(line) for line in result.stdout.decode().splitlines()]
        opens = [e for e in events if e["event"] == "open"]
        assert len(opens) >= 3, result.stderr
        assert any(e["event"] == "reconnect" for e in events)
        # -x re-sent after each reconnect, echoed by the peer: every connection carries an
        # echo (the last one's ended the run).
        kinds = [
            "open" if e["event"] == "open" else "echo"
            for e in events
            if e["event"] == "open" or (e["event"] == "message" and e["direction"] == "in")
        ]
        connections = " ".join(kinds).split("open")[1:]
        assert all("echo" in one for one in connections), kinds
        assert proxy.wait_for(r"#2 ! disconnect-every after=1s")


class peer_or_echo:
    """A node-ws peer when node is installed, else a wscli serve (both echo)."""

    def __enter__(self) -> str:
        from tests.support.serve_process import ServeProcess

        self.server = ServeProcess()
        return self.server.ws_url("/room")

    def __exit__(self, *exc: object) -> None:
        self.server.stop()


async def test_stall_instead_of_disconnect_keeps_tcp_but_answers_nothing(echo: str) -> None:
    async with ProxyProcess(echo, "--disconnect-after", "2", "--stall") as proxy:
        async with ws_connect(proxy.ws_url(), ping_interval=None, close_timeout=0.5) as ws:
            await ws.send("a")
            assert await ws.recv() == "a"  # two messages: the connection stalls now
            await ws.send("b")
            pong = await ws.ping()
            echo_b = asyncio.ensure_future(ws.recv())
            # Nothing passes a stalled connection, so nothing can be sent after these to
            # show they were held: one wait of a second for both, no echo and no pong.
            done, _ = await asyncio.wait([echo_b, pong], timeout=1)
            echo_b.cancel()
            assert not done  # not even pings are answered
            assert ws.close_code is None  # and the connection is still there
        assert await asyncio.to_thread(proxy.wait_for, r"#1 ! stall after=disconnect-after 2")


async def test_messages_held_when_the_connection_ends_are_shown_as_not_forwarded() -> None:
    received: list[str | bytes] = []

    async def handler(ws: ServerConnection) -> None:
        try:
            async for message in ws:
                received.append(message)
        except ConnectionClosed:
            pass

    async with serve(handler, "127.0.0.1", 0) as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        async with ProxyProcess(
            url, "--delay", "300ms", "--disconnect-after", "2", "--json"
        ) as proxy:
            async with ws_connect(proxy.ws_url()) as ws:
                for n in range(1, 5):
                    await ws.send(f"m{n}")
                with pytest.raises(ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), scaled(5))
            assert await asyncio.to_thread(proxy.wait_for_event, lambda e: e["event"] == "close")
            events = proxy.events()
    # Before, the four were listed as relayed when they came in, the disconnect fired on
    # the second one received, and none of them reached the server.
    shown = [(e["text"], e.get("forwarded", True)) for e in events if e["event"] == "message"]
    assert shown == [("m1", True), ("m2", True), ("m3", False), ("m4", False)]
    assert received == ["m1", "m2"]
    kinds = [e["event"] for e in events]
    assert kinds.index("fault") < kinds.index("close")
