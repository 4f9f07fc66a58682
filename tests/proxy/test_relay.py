"""`wscli proxy` end to end: a real proxy process between real upstream servers (websockets
in this process, Node `ws`, `wscli serve`) and real clients (websockets, `wscli connect`,
wscat): bytes, subprotocols, headers, close codes and refusals pass through as they came."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.http11 import Request, Response

from tests.support import concurrently, requires, run_wscli, scaled
from tests.support.npm_clients import wscat
from tests.support.peers import peer
from tests.support.proxy_process import ProxyProcess


class Upstream:
    """A websockets server in this process that records what reaches it."""

    def __init__(self) -> None:
        self.received: list[str | bytes] = []
        self.requests: list[Request] = []
        self.closes: list[tuple[int | None, str | None]] = []
        self.connections: list[ServerConnection] = []
        self.server: Server | None = None

    async def handler(self, ws: ServerConnection) -> None:
        self.connections.append(ws)
        assert ws.request is not None
        self.requests.append(ws.request)
        try:
            async for message in ws:
                self.received.append(message)
                if message == "close-me":
                    await ws.close(4002, "server says bye")
                else:
                    await ws.send(message)
        except ConnectionClosed:
            pass
        self.closes.append((ws.close_code, ws.close_reason))

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}"


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    up = Upstream()

    def choose(conn: ServerConnection, offers: Any) -> Any:
        # The server's preference order, not the client's: the proxy must pass this on.
        for name in ("v2", "v1"):
            if name in offers:
                return name
        return None

    async with serve(up.handler, "127.0.0.1", 0, select_subprotocol=choose) as server:
        up.server = server
        yield up


def ws_connect(url: str, **kwargs: Any) -> Any:
    return connect(url, proxy=None, open_timeout=scaled(10), **kwargs)


async def test_messages_are_relayed_byte_for_byte_both_ways(upstream: Upstream) -> None:
    text = "héllo \x1b[31m ✓ \u202e"
    blob = bytes(range(256)) * 3
    async with ProxyProcess(upstream.url, "--json") as proxy:
        async with ws_connect(proxy.ws_url("/room?x=1")) as ws:
            await ws.send(text)
            assert await ws.recv() == text
            await ws.send(blob)
            assert await ws.recv() == blob
            await ws.send(["frag", "mented"])  # one message in two frames
            assert await ws.recv() == "fragmented"
        assert upstream.received == [text, blob, "fragmented"]
        assert upstream.requests[0].path == "/room?x=1"
        event = await asyncio.to_thread(proxy.wait_for_event, lambda e: e["event"] == "close")
        assert event is not None and event["code"] == 1000 and event["by"] == "client"


async def test_upstream_choice_of_subprotocol_and_client_headers_pass_through(
    upstream: Upstream,
) -> None:
    async with ProxyProcess(upstream.url, "-H", "X-Added: 1", "-H", "User-Agent: proxied") as proxy:
        async with ws_connect(
            proxy.ws_url("/"),
            subprotocols=["v1", "v2"],
            origin="https://app.example",
            additional_headers={"Authorization": "Bearer t0k", "Cookie": "a=b"},
        ) as ws:
            assert ws.subprotocol == "v2"
        headers = upstream.requests[0].headers
        assert headers["Origin"] == "https://app.example"
        assert headers["Authorization"] == "Bearer t0k"
        assert headers["Cookie"] == "a=b"
        assert headers["X-Added"] == "1"
        assert headers.get_all("User-Agent") == ["proxied"]
        assert headers["Sec-WebSocket-Protocol"] == "v1, v2"
        assert ws.request is not None
        assert headers["Sec-WebSocket-Key"] != ws.request.headers["Sec-WebSocket-Key"]


async def test_close_codes_and_reasons_pass_through_both_ways(upstream: Upstream) -> None:
    async with ProxyProcess(upstream.url) as proxy:
        async with ws_connect(proxy.ws_url()) as ws:
            await ws.close(4001, "client says bye")
        for _ in range(100):
            if upstream.closes:
                break
            await asyncio.sleep(0.05)
        assert upstream.closes == [(4001, "client says bye")]
        async with ws_connect(proxy.ws_url()) as ws:
            await ws.send("close-me")
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), scaled(5))
            assert (ws.close_code, ws.close_reason) == (4002, "server says bye")
        assert await asyncio.to_thread(
            proxy.wait_for, r"#2 close 4002 \(private use\) 'server says bye' by server"
        )


async def test_an_upstream_refusal_reaches_the_client_as_it_came() -> None:
    def refuse(conn: ServerConnection, request: Request) -> Response:
        response = conn.respond(403, "no entry for you\n")
        response.headers["X-Why"] = "teapot policy"
        return response

    async def never(ws: ServerConnection) -> None:
        raise AssertionError("not reached")

    async with serve(never, "127.0.0.1", 0, process_request=refuse) as server:
        port = server.sockets[0].getsockname()[1]
        async with ProxyProcess(f"ws://127.0.0.1:{port}/") as proxy:
            with pytest.raises(InvalidStatus) as info:
                async with ws_connect(proxy.ws_url("/x")):
                    pass
            response = info.value.response
            assert response.status_code == 403
            assert response.headers["X-Why"] == "teapot policy"
            assert response.body == b"no entry for you\n"
            result = await asyncio.to_thread(run_wscli, "connect", proxy.ws_url("/x"), input="")
            assert result.returncode == 4
            assert b"HTTP 403" in result.stderr
            assert await asyncio.to_thread(proxy.wait_for, "refused by server: HTTP 403 Forbidden")


async def test_an_unreachable_upstream_is_a_502_and_the_proxy_keeps_running() -> None:
    from tests.support.serve_process import free_port

    async with ProxyProcess(f"ws://127.0.0.1:{free_port()}/") as proxy:
        with pytest.raises(InvalidStatus) as info:
            async with ws_connect(proxy.ws_url()):
                pass
        assert info.value.response.status_code == 502
        assert b"connection refused" in info.value.response.body
        assert proxy.proc.poll() is None


async def test_sigterm_closes_both_sides_with_1001_and_exits_0(upstream: Upstream) -> None:
    proxy = ProxyProcess(upstream.url)
    try:
        async with ws_connect(proxy.ws_url()) as ws:
            await ws.send("hi")
            assert await ws.recv() == "hi"
            proxy.proc.send_signal(signal.SIGINT)
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), scaled(5))
            assert ws.close_code == 1001
        assert await asyncio.to_thread(proxy.proc.wait, scaled(10)) == 0
        assert upstream.closes and upstream.closes[0][0] == 1001
    finally:
        proxy.stop()


async def test_terminal_lines_show_escaped_content_and_hex(upstream: Upstream) -> None:
    async with ProxyProcess(upstream.url, env={"COLUMNS": "80"}) as proxy:
        async with ws_connect(proxy.ws_url()) as ws:
            await ws.send("\x1b]0;owned\x07 " + "x" * 200)
            await ws.recv()
            await ws.send(bytes(range(40)))
            await ws.recv()
        assert await asyncio.to_thread(proxy.wait_for, r"#1 close")
        out = proxy.stdout
        assert "\x1b" not in out
        assert "→ text" in out and "← text" in out
        assert "\\e]0;owned\\x07 xxx" in out
        assert "binary      40 B  00 01 02 03 04 05 06 07 08 09 0a 0b 0c" in out
        messages = [line for line in out.splitlines() if " text " in line or " binary " in line]
        assert len(messages) == 4
        assert all(len(line) <= 80 and line.endswith("…") for line in messages)


def test_bad_usage_is_one_line_and_exit_2() -> None:
    url, close_code, drop = concurrently(
        lambda: run_wscli("proxy", "ftp://x"),
        lambda: run_wscli("proxy", "ws://127.0.0.1:1", "--close-code", "4000"),
        lambda: run_wscli("proxy", "ws://127.0.0.1:1", "--drop", "2"),
    )
    assert url.returncode == 2
    assert url.stderr.decode().startswith("wscli: error: invalid URL")
    assert close_code.returncode == 2
    assert b"--close-code needs --disconnect-every or --disconnect-after" in close_code.stderr
    assert drop.returncode == 2
    assert len(drop.stderr.splitlines()) == 1


def test_a_port_in_use_is_one_line_and_exit_1(upstream_port: int = 1) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = run_wscli("proxy", "ws://127.0.0.1:1", "--port", str(port))
        control = run_wscli("proxy", "ws://127.0.0.1:1", "--port", "0", "--control", str(port))
    assert result.returncode == 1
    assert result.stderr.decode() == (
        f"wscli: error: cannot listen on 127.0.0.1:{port}: address already in use "
        "(hint: pick another --port, or --port 0 for a free one)\n"
    )
    # The same words as `serve`, the fix named by the option that chose the port.
    assert control.returncode == 1
    assert control.stderr.decode() == (
        f"wscli: error: cannot listen on 127.0.0.1:{port} for --control: address already in "
        "use (hint: pick another --control, or --control 0 for a free one)\n"
    )


# Peers and clients nobody here wrote


@requires("node")
def test_node_ws_upstream_with_wscli_connect_through_the_proxy() -> None:
    with peer("node-ws") as port, ProxyProcess(f"ws://127.0.0.1:{port}/", "--json") as proxy:
        result = run_wscli(
            "connect", "--json", proxy.ws_url("/chat"), input="one\ntwo\n", timeout=30
        )
        assert result.returncode == 0, result.stderr
        client = [json.loads(line) for line in result.stdout.decode().splitlines()]
        assert proxy.wait_for_event(lambda e: e["event"] == "close") is not None
        seen = proxy.events()
    # What the client saw and what the proxy saw, in connect --json's schema.
    client_messages = [e for e in client if e["event"] == "message"]
    proxy_messages = [e for e in seen if e["event"] == "message"]
    strip = {"time", "connection", "from"}
    assert [{k: v for k, v in e.items() if k != "time"} for e in client_messages] == [
        {k: v for k, v in e.items() if k not in strip} for e in proxy_messages
    ]
    assert [e["text"] for e in client_messages if e["direction"] == "in"] == ["one", "two"]
    for event in seen:
        if event["event"] in ("message", "open", "close"):
            assert list(event)[:3] == ["event", "time", "connection"]
    opened = next(e for e in seen if e["event"] == "open")
    # Compression is negotiated per side: the client got it, Node's ws (deflate off) did not.
    assert opened["extensions"] == ["permessage-deflate"]
    assert opened["server_extensions"] == []
    close = next(e for e in seen if e["event"] == "close")
    client_close = next(e for e in client if e["event"] == "close")
    assert set(close) - {"connection"} == set(client_close)


@requires("npm", "node")
def test_wscat_through_the_proxy_to_wscli_serve() -> None:
    from tests.support.serve_process import ServeProcess

    wscat_bin = wscat()
    with ServeProcess() as server, ProxyProcess(server.ws_url("/lobby")) as proxy:
        client = subprocess.Popen(
            [wscat_bin, "-c", proxy.ws_url("/lobby"), "-x", "hello from wscat", "-w", "1"],
            stdin=subprocess.PIPE,  # kept open: wscat quits at EOF on stdin
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            client.wait(timeout=scaled(20))
        finally:
            client.kill()
        assert client.stdout is not None and client.stdin is not None
        client.stdin.close()
        out = client.stdout.read()
        assert "hello from wscat" in out.decode()  # serve echoes to the sender
        assert proxy.wait_for(r"#1 → text .*hello from wscat")
        assert proxy.wait_for(r"#1 ← text .*hello from wscat")


def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def test_a_client_that_stops_reading_stalls_the_upstream_not_the_proxys_memory() -> None:
    sent = 0
    total = 1600  # 100 MiB offered by the upstream

    async def flood(ws: ServerConnection) -> None:
        nonlocal sent
        blob = b"x" * 65536
        try:
            for _ in range(total):
                await ws.send(blob)
                sent += 1
        except ConnectionClosed:
            pass

    async with serve(flood, "127.0.0.1", 0, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        async with ProxyProcess(f"ws://127.0.0.1:{port}", "--max-queue", "256K") as proxy:
            before = _rss_mib(proxy.proc.pid)
            async with ws_connect(proxy.ws_url(), max_queue=1, compression=None) as ws:
                await asyncio.sleep(scaled(1))
                stalled_at = sent
                grown = _rss_mib(proxy.proc.pid) - before
                # Only the sockets' kernel buffers and --max-queue hold data: the upstream
                # is blocked long before its 100 MiB, and the proxy did not keep them.
                assert stalled_at < total // 4
                assert grown < 16
                for _ in range(total):  # then everything arrives, in order and complete
                    assert len(await asyncio.wait_for(ws.recv(), scaled(10))) == 65536
            assert sent == total


async def test_pings_are_answered_passed_on_and_their_pongs_not_doubled() -> None:
    pinged = asyncio.Event()

    async def pinger(ws: ServerConnection) -> None:
        # The upstream pings the client through the proxy and measures the answer.
        waiter = await ws.ping(b"from-server")
        await asyncio.wait_for(waiter, scaled(5))
        pinged.set()
        try:
            async for message in ws:
                await ws.send(message)
        except ConnectionClosed:
            pass

    async with serve(pinger, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with ProxyProcess(f"ws://127.0.0.1:{port}", "--json") as proxy:
            async with ws_connect(proxy.ws_url()) as ws:
                latency = await asyncio.wait_for(await ws.ping(b"from-client"), scaled(5))
                assert latency >= 0
                await asyncio.wait_for(pinged.wait(), scaled(5))
                await ws.send("done")
                assert await ws.recv() == "done"
            await asyncio.to_thread(proxy.wait_for_event, lambda e: e["event"] == "close")
            frames = [
                (e["event"], e["from"], e["base64"])
                for e in proxy.events()
                if e["event"] in ("ping", "pong")
            ]
    client_ping = ("ping", "client", "ZnJvbS1jbGllbnQ=")  # b"from-client"
    server_ping = ("ping", "server", "ZnJvbS1zZXJ2ZXI=")  # b"from-server"
    assert client_ping in frames and server_ping in frames
    # Each ping's pong from the far side is seen once (and shown, not passed on twice).
    assert frames.count(("pong", "server", "ZnJvbS1jbGllbnQ=")) == 1
    assert frames.count(("pong", "client", "ZnJvbS1zZXJ2ZXI=")) == 1


async def test_verbose_shows_the_four_handshake_heads(upstream: Upstream) -> None:
    async with ProxyProcess(upstream.url, "-v") as proxy:
        async with ws_connect(proxy.ws_url("/v"), subprotocols=["v1"]):
            pass
        assert await asyncio.to_thread(proxy.wait_for, r"#1 close")
        out = proxy.stdout
    assert re.search(r"#1 C> GET /v HTTP/1.1", out)
    assert re.search(r"#1 >S GET /v HTTP/1.1", out)
    assert re.search(r"#1 <S HTTP/1.1 101 Switching Protocols", out)
    assert re.search(r"#1 C< Sec-WebSocket-Protocol: v1", out)
    assert re.search(r"#1 >S Sec-WebSocket-Protocol: v1", out)


async def test_verbose_heads_carry_no_client_secrets(upstream: Upstream) -> None:
    secret_headers = {"Authorization": "Bearer s3cret-a", "Cookie": "sid=s3cret-c"}
    for display in ("-v", "--json"):
        async with ProxyProcess(
            upstream.url, "-v", *(["--json"] if display == "--json" else [])
        ) as p:
            async with ws_connect(p.ws_url("/v?token=s3cret-t"), additional_headers=secret_headers):
                pass
            assert await asyncio.to_thread(p.wait_for, r'#1 close|"event":"close"')
            out = p.stdout
        assert "s3cret" not in out, display
        assert "Authorization: [redacted]" in out and "Cookie: [redacted]" in out, display
        assert "token=[redacted]" in out, display


async def test_common_secret_carriers_stay_out_of_saved_traffic(upstream: Upstream) -> None:
    # Five of six carriers showed in clear with --json -v: query tokens and keys, X-Api-Key,
    # X-Auth-Token and a Kubernetes-style bearer subprotocol offer.
    bearer = "base64url.bearer.authorization.k8s.io.s3cret-k8s"
    headers = {"X-Api-Key": "s3cret-xk", "X-Auth-Token": "s3cret-xa", "X-Session-Id": "s3cret-xs"}
    path = "/v?access_token=s3cret-q1&API_KEY=s3cret-q2&X-Amz-Signature=s3cret-q3&room=ok"
    for display in ("-v", "--json"):
        upstream.requests.clear()
        async with ProxyProcess(
            upstream.url, "-v", *(["--json"] if display == "--json" else [])
        ) as p:
            async with ws_connect(
                p.ws_url(path), additional_headers=headers, subprotocols=[bearer, "v1"]
            ) as ws:
                assert ws.subprotocol == "v1"
            assert await asyncio.to_thread(p.wait_for, r'#1 close|"event":"close"')
            out = p.stdout
        assert "s3cret" not in out, (
            display,
            [line for line in out.splitlines() if "s3cret" in line],
        )
        assert "room=ok" in out and "X-Api-Key: [redacted]" in out, display
        assert "base64url.bearer.authorization.k8s.io.[redacted]" in out, display
        # What is relayed stays exact.
        (request,) = upstream.requests
        assert request.path == path
        assert request.headers["X-Api-Key"] == "s3cret-xk"
        assert bearer in request.headers["Sec-WebSocket-Protocol"]


async def test_a_session_cookie_the_upstream_sets_stays_out_of_the_view() -> None:
    def set_cookie(conn: ServerConnection, request: Request, response: Response) -> Response:
        response.headers["Set-Cookie"] = "sid=s3cret-s; HttpOnly"
        return response

    async def quiet(ws: ServerConnection) -> None:
        await ws.wait_closed()

    async with serve(quiet, "127.0.0.1", 0, process_response=set_cookie) as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        for display in ("-v", "--json"):
            async with ProxyProcess(url, "-v", *(["--json"] if display == "--json" else [])) as p:
                async with ws_connect(p.ws_url("/c")) as ws:
                    assert ws.response.headers["Set-Cookie"] == "sid=s3cret-s; HttpOnly"
                assert await asyncio.to_thread(p.wait_for, r'#1 close|"event":"close"')
                out = p.stdout
            assert "s3cret" not in out, display
            assert "Set-Cookie: [redacted]" in out or '"Set-Cookie":"[redacted]"' in out


async def test_the_upstream_is_reached_through_an_http_connect_proxy(upstream: Upstream) -> None:
    tunnels: list[bytes] = []

    async def connect_proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        tunnels.append(head.split(b"\r\n", 1)[0])
        host, port = head.split()[1].decode().rsplit(":", 1)
        far_reader, far_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except ConnectionError:
                pass
            dst.close()

        await asyncio.gather(pipe(reader, far_writer), pipe(far_reader, writer))

    server = await asyncio.start_server(connect_proxy, "127.0.0.1", 0)
    proxy_url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with (
        server,
        ProxyProcess(upstream.url, "--proxy", proxy_url) as proxy,
        ws_connect(proxy.ws_url("/tunnelled")) as ws,
    ):
        await ws.send("through two proxies")
        assert await ws.recv() == "through two proxies"
    port = upstream.url.rsplit(":", 1)[1]
    assert tunnels == [f"CONNECT 127.0.0.1:{port} HTTP/1.1".encode()]
    assert upstream.requests[0].path == "/tunnelled"


async def test_several_clients_are_shown_interleaved_with_their_ids(upstream: Upstream) -> None:
    async with ProxyProcess(upstream.url) as proxy:
        async with ws_connect(proxy.ws_url("/a")) as one, ws_connect(proxy.ws_url("/b")) as two:
            for n in range(3):
                await one.send(f"one-{n}")
                await two.send(f"two-{n}")
                assert await one.recv() == f"one-{n}"
                assert await two.recv() == f"two-{n}"
        assert await asyncio.to_thread(proxy.wait_for, r"#2 close")
        assert await asyncio.to_thread(proxy.wait_for, r"#1 close")
        lines = [line for line in proxy.stdout.splitlines() if " text " in line]
    ids = [re.search(r" (#\d) ", line)[1] for line in lines]  # type: ignore[index]
    assert sorted(ids) == ["#1"] * 6 + ["#2"] * 6
    assert ids != sorted(ids)  # interleaved as they happened, not grouped
    for line in lines:
        assert ("one-" in line) == (line.split()[1] == ids[0])


async def test_a_closed_stdout_stops_the_proxy_quietly_with_exit_0(upstream: Upstream) -> None:
    import subprocess as sp

    from tests.support import clean_env, wscli_command

    proc = sp.Popen(
        [*wscli_command(), "proxy", upstream.url, "--port", "0"],
        stdin=sp.DEVNULL,
        stdout=sp.PIPE,
        stderr=sp.PIPE,
        env=clean_env(),
    )
    try:
        assert proc.stderr is not None and proc.stdout is not None
        banner = (await asyncio.to_thread(proc.stderr.readline)).decode()
        port = int(re.search(r"127\.0\.0\.1:(\d+)", banner)[1])  # type: ignore[index]
        async with ws_connect(f"ws://127.0.0.1:{port}/") as ws:
            await ws.send("first")
            await ws.recv()
            assert b"open" in await asyncio.to_thread(proc.stdout.readline)
            proc.stdout.close()  # the reader goes away, as `| head -1` would
            for n in range(5):
                await ws.send(f"more {n}")
            with pytest.raises(ConnectionClosed):
                while True:
                    await asyncio.wait_for(ws.recv(), scaled(5))
            assert ws.close_code == 1001  # closed properly, like on SIGTERM
        assert await asyncio.to_thread(proc.wait, scaled(10)) == 0
        assert b"Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_a_second_signal_drops_everything_at_once_and_exits_130() -> None:
    from websockets.server import ServerProtocol

    handlers: list[asyncio.Task[None]] = []

    async def deaf(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Accepts the upgrade, then never reads again: a close is never answered.
        task = asyncio.current_task()
        assert task is not None
        handlers.append(task)
        protocol = ServerProtocol()
        protocol.receive_data(await reader.readuntil(b"\r\n\r\n"))
        request = protocol.events_received()[0]
        assert isinstance(request, Request)
        protocol.send_response(protocol.accept(request))
        writer.write(b"".join(protocol.data_to_send()))
        await asyncio.sleep(scaled(30))

    server = await asyncio.start_server(deaf, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    proxy = ProxyProcess(f"ws://127.0.0.1:{port}")
    try:
        async with ws_connect(proxy.ws_url(), close_timeout=0.5) as ws:
            proxy.proc.send_signal(signal.SIGTERM)  # 1001 sent; the upstream never answers
            await asyncio.sleep(0.3)
            assert proxy.proc.poll() is None
            proxy.proc.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(proxy.proc.wait, scaled(5)) == 130
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), scaled(5))
    finally:
        proxy.stop()
        for task in handlers:
            task.cancel()
        server.close()
    assert "wscli: interrupted" in proxy.stderr
