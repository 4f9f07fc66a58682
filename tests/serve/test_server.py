"""wscli.serve.server: a real ChatServer on 127.0.0.1 (port 0) and real clients."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import re
import socket
import ssl
from typing import Any

import pytest
import trustme
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.protocol import State

from tests.serve.serve_helpers import (
    Running,
    client,
    http_get,
    masked_frame,
    nothing_before_sentinel,
    raw_request,
    raw_upgrade,
    recv,
    recv_n,
    running,
    upgrade_request,
)
from tests.support import scaled, until

# Broadcast, rooms, order, bytes


async def test_broadcast_reaches_every_client_of_the_room_sender_included() -> None:
    async with running() as srv, client(srv) as a, client(srv) as b, client(srv) as c:
        await b.send("hello")
        for ws in (a, b, c):
            assert await recv(ws) == "hello"


async def test_rooms_are_isolated_and_the_query_is_not_part_of_the_room() -> None:
    async with (
        running() as srv,
        client(srv, "/lobby") as lobby,
        client(srv, "/lobby?x=1") as lobby2,
        client(srv, "/other") as other,
    ):
        await lobby.send("in lobby")
        assert await recv(lobby2) == "in lobby"
        await other.send("in other")
        assert await recv(other) == "in other"
        assert await recv(lobby) == "in lobby"
        await nothing_before_sentinel(lobby, lobby, lobby2)


async def test_root_path_is_a_room_for_websocket_clients() -> None:
    async with running() as srv, client(srv, "/") as a, client(srv, "/") as b:
        await a.send("root")
        assert await recv(b) == "root"


async def test_no_echo_excludes_only_the_sender() -> None:
    async with running(echo=False) as srv, client(srv) as a, client(srv) as b:
        await a.send("from a")
        await b.send("from b")
        assert await recv(b) == "from a"
        assert await recv(a) == "from b"
        await nothing_before_sentinel(b, a)  # not its own "from a"
        await nothing_before_sentinel(a, b)


async def test_every_client_receives_the_same_order() -> None:
    async with running() as srv:
        clients = [await client(srv).__aenter__() for _ in range(4)]
        try:

            async def talk(i: int) -> None:
                for n in range(50):
                    await clients[i].send(f"{i}-{n}")

            await asyncio.gather(*(talk(i) for i in range(4)))
            seen = [await recv_n(ws, 200) for ws in clients]
            assert all(s == seen[0] for s in seen)
            for i in range(4):  # each sender's own order is kept
                mine = [m for m in seen[0] if isinstance(m, str) and m.startswith(f"{i}-")]
                assert mine == [f"{i}-{n}" for n in range(50)]
        finally:
            for ws in clients:
                await ws.close()


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 300_000, 2**20])
async def test_binary_messages_arrive_byte_for_byte(size: int) -> None:
    payload = os.urandom(size)
    async with (
        running() as srv,
        client(srv, max_size=None) as a,
        client(srv, max_size=None) as b,
    ):
        await a.send(payload)
        got = await recv(b)
        assert isinstance(got, bytes) and got == payload


async def test_text_stays_text_and_empty_text_is_relayed() -> None:
    async with running() as srv, client(srv) as a, client(srv) as b:
        await a.send("")
        await a.send("héllo ✓ \x00 [b]markup[/b]")
        assert await recv(b) == ""
        assert await recv(b) == "héllo ✓ \x00 [b]markup[/b]"


async def test_fragmented_message_is_reassembled() -> None:
    async with running() as srv, client(srv) as a, client(srv) as b:
        await a.send(["frag", "mented ", "text"])
        await a.send([b"\x01", b"\x02\x03"])
        assert await recv(b) == "fragmented text"
        assert await recv(b) == b"\x01\x02\x03"


async def test_history_replays_the_last_messages_without_notices() -> None:
    async with running(history=3) as srv:
        async with client(srv, "/chat?nick=ann") as a:
            for n in range(5):
                await a.send(f"m{n}")
            await recv_n(a, 6)  # own notice + 5 messages
        async with client(srv) as late:
            assert await recv_n(late, 3) == ["m2", "m3", "m4"]
            await nothing_before_sentinel(late)
        async with client(srv, "/other") as elsewhere:
            await nothing_before_sentinel(elsewhere)


# Nicknames and notices


async def test_nick_join_and_leave_notices_go_to_everyone_in_the_room() -> None:
    async with running() as srv, client(srv) as raw:
        async with client(srv, "/chat?nick=alice") as alice:
            assert await recv(raw) == "* alice joined"
            assert await recv(alice) == "* alice joined"
            await alice.send("alice: hi")
            assert await recv(raw) == "alice: hi"
        assert await recv(raw) == "* alice left"


async def test_anonymous_clients_cause_no_notices() -> None:
    async with running() as srv, client(srv) as a:
        async with client(srv):
            pass
        await srv.wait_event("disconnect")  # it left, on the server's side too
        await nothing_before_sentinel(a)  # neither joined nor left


async def test_nick_is_cleaned_of_control_characters_and_bounded() -> None:
    async with running() as srv, client(srv) as watcher:
        async with client(srv, "/chat?nick=%1B%5B31mbob%07"):
            assert await recv(watcher) == "* [31mbob joined"
        await recv(watcher)
        async with client(srv, "/chat?nick=" + "x" * 100):
            assert await recv(watcher) == "* " + "x" * 32 + " joined"


# Subprotocols


async def test_subprotocol_first_supported_offer_is_chosen() -> None:
    async with running(subprotocols=["chat", "superchat"]) as srv:
        async with client(srv, subprotocols=["chat", "superchat"]) as ws:
            assert ws.subprotocol == "chat"
        async with client(srv, subprotocols=["other", "superchat", "chat"]) as ws:
            assert ws.subprotocol == "superchat"
        async with client(srv) as ws:
            assert ws.subprotocol is None
        await srv.wait_event("connect", subprotocol="superchat")


async def test_require_subprotocol_refuses_clients_without_one() -> None:
    async with running(subprotocols=["chat"], require_subprotocol=True) as srv:
        with pytest.raises(InvalidStatus) as caught:
            async with client(srv):
                pass
        assert caught.value.response.status_code == 400
        with pytest.raises(InvalidStatus):
            async with client(srv, subprotocols=["nope"]):
                pass
        async with client(srv, subprotocols=["chat"]) as ws:
            assert ws.subprotocol == "chat"


# Access control


async def status_of(srv_url: str, **kwargs: object) -> int:
    try:
        async with connect(srv_url, proxy=None, open_timeout=scaled(5), **kwargs):  # type: ignore[arg-type]
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


async def test_origin_default_accepts_no_origin_and_same_origin_only() -> None:
    async with running() as srv:
        url = srv.url()
        assert await status_of(url) == 101
        assert await status_of(url, origin=f"http://127.0.0.1:{srv.port}") == 101
        assert await status_of(url, origin="https://evil.example") == 403
        assert await status_of(url, origin="null") == 403
        await srv.wait_event("refused", status=403)


async def test_origin_allow_list_and_wildcard() -> None:
    async with running(origins=["https://good.example"]) as srv:
        assert await status_of(srv.url(), origin="https://good.example") == 101
        assert await status_of(srv.url(), origin="https://good.example:443") == 101
        assert await status_of(srv.url(), origin="https://evil.example") == 403
    async with running(origins=["*"]) as srv:
        assert await status_of(srv.url(), origin="https://any.example") == 101


async def test_token_missing_401_wrong_403_header_or_query_ok() -> None:
    async with running(token="s3cret") as srv:
        assert await status_of(srv.url()) == 401
        assert (
            await status_of(srv.url(), additional_headers={"Authorization": "Bearer nope"}) == 403
        )
        assert await status_of(srv.url("/chat?token=nope")) == 403
        assert (
            await status_of(srv.url(), additional_headers={"Authorization": "Bearer s3cret"}) == 101
        )
        assert await status_of(srv.url("/chat?token=s3cret")) == 101
        # The page itself stays reachable; it carries no secret.
        answer = await raw_request(srv.port, http_get("/", srv.port))
        assert answer.startswith(b"HTTP/1.1 200")
        refused = srv.events("refused")
        assert [e["status"] for e in refused] == [401]
        assert {e["path"] for e in refused} == {"/chat"}  # the room: no query, no token
        await srv.stop()
        (wrong,) = srv.events("tokens")  # wrong tokens: one line a second, or at shutdown
        assert (wrong["failed"], wrong["upgrade"]) == (2, 2)
        assert "s3cret" not in srv.out.getvalue()


async def test_max_clients_refuses_with_503_and_frees_slots() -> None:
    async with running(max_clients=2) as srv, client(srv) as a:
        async with client(srv):
            assert await status_of(srv.url()) == 503
        await srv.wait_event("disconnect")  # its slot freed on the server's side
        async with client(srv) as c:
            await c.send("ok")
            assert await recv(a) == "ok"


# Limits


async def test_oversized_message_closes_the_sender_with_1009_only() -> None:
    async with running(max_size=1000) as srv, client(srv) as big, client(srv) as other:
        await big.send("x" * 1000)
        assert await recv(other) == "x" * 1000
        await big.send("y" * 1001)
        with pytest.raises(ConnectionClosed) as caught:
            await recv(big)
            await recv(big)
        assert caught.value.rcvd is not None and caught.value.rcvd.code == 1009
        await other.send("still here")
        assert await recv(other) == "still here"
        await srv.wait_event("disconnect", code=1009)


def tls_settings(tmp_path: os.PathLike[str]) -> tuple[dict[str, str], ssl.SSLContext]:
    """Server settings and a client context for TLS with a throwaway CA."""
    ca = trustme.CA()
    certfile = os.path.join(tmp_path, "cert.pem")
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(certfile)
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return {"certfile": certfile}, context


@pytest.mark.parametrize("tls", [False, True])
async def test_slow_consumer_is_dropped_while_the_others_get_everything(
    tls: bool, tmp_path: os.PathLike[str]
) -> None:
    chunk = os.urandom(32 * 1024)
    window, rounds = 8, 80  # 20 MiB: more than the kernel buffers plus the queue limit
    settings, context = tls_settings(tmp_path) if tls else ({}, None)
    scheme = {"scheme": "wss"} if tls else {}

    def to(srv: Running, **kwargs: object) -> Any:
        return connect(srv.url(**scheme), proxy=None, ssl=context, compression=None, **kwargs)  # type: ignore[arg-type]

    async with (
        running(max_queue=2**20, close_timeout=0.5, **settings) as srv,
        to(srv, max_queue=1) as slow,  # reads a frame or two, then stops reading
        to(srv, max_size=None) as reader,
        to(srv, max_size=None) as publisher,
    ):
        for _ in range(rounds):  # the publisher keeps a window in flight to the reader
            for _ in range(window):
                await publisher.send(chunk)
            for _ in range(window):
                assert await recv(reader) == chunk
                assert await recv(publisher) == chunk
        event = await srv.wait_event("slow")
        assert event["buffered"] > 0
        await srv.wait_event("disconnect", code=1013)
        with pytest.raises(ConnectionClosed):  # reading again, it finds the end
            while True:
                await recv(slow)
        assert srv.chat.hub.clients == 2
        assert not [e for e in srv.events("slow") if e["id"] != event["id"]]


async def test_total_unsent_bytes_are_bounded_across_slow_clients() -> None:
    """--max-total-queue: stalled clients, each under --max-queue, together over the total,
    are dropped (largest backlog first) while a reading client gets everything."""
    chunk = os.urandom(64 * 1024)
    stalled = []
    async with (
        running(max_queue=2**30, max_total_queue=2**20, close_timeout=0.5) as srv,
        client(srv, max_size=None) as reader,
        client(srv, max_size=None) as publisher,
    ):
        for _ in range(3):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # small kernel buffer
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", srv.port))
            r, w = await asyncio.open_connection(sock=sock)
            w.write(upgrade_request("/chat", srv.port))
            await r.readuntil(b"\r\n\r\n")
            w.transport.pause_reading()  # type: ignore[attr-defined]
            stalled.append(w)
        await srv.wait_events("connect", 5)
        for _ in range(40):  # 2.5 MiB, in windows the reader keeps up with
            for _ in range(4):
                await publisher.send(chunk)
            for _ in range(4):
                assert await recv(reader) == chunk
                assert await recv(publisher) == chunk
        slow = await srv.wait_events("slow", 1)
        assert all(0 < e["buffered"] < 2**30 for e in slow)
        deadline = asyncio.get_running_loop().time() + scaled(5)
        while srv.chat.hub.clients > 2:
            assert asyncio.get_running_loop().time() < deadline, srv.events("slow")
            await asyncio.sleep(0.02)
        for w in stalled:
            w.close()


async def test_hundreds_of_clients_connecting_at_once_in_many_rooms() -> None:
    """A burst of handshakes is served (a 2,000-client burst was checked by hand: 1.3 s)."""
    async with running(max_clients=400) as srv:
        clients = [client(srv, f"/room{i % 30}", open_timeout=scaled(20)) for i in range(300)]
        connections = await asyncio.gather(*(c.__aenter__() for c in clients))
        try:
            assert srv.chat.health()["clients"] == 300
            assert srv.chat.health()["rooms"] == 30
            await connections[7].send("to room7")
            for ws in connections[7::30]:
                assert await recv(ws) == "to room7"
            await nothing_before_sentinel(connections[8])
        finally:
            await asyncio.gather(*(ws.close() for ws in connections))
        await srv.wait_events("disconnect", 300, timeout=20)
        assert srv.chat.hub.clients == 0 and srv.chat.hub.rooms == {}


async def test_message_and_close_in_one_packet_echo_before_the_close_frame() -> None:
    async with running() as srv, client(srv) as other:
        reader, writer = await raw_upgrade(srv.port)
        close = masked_frame(0x8, (1000).to_bytes(2, "big"))
        writer.write(masked_frame(0x1, b"bye") + masked_frame(0x2, b"\x00") + close)
        data = await asyncio.wait_for(reader.read(), scaled(5))
        assert data == b"\x81\x03bye" + b"\x82\x01\x00" + b"\x88\x02\x03\xe8"
        writer.close()
        assert await recv(other) == "bye"
        assert await recv(other) == b"\x00"
        await srv.wait_event("disconnect", code=1000, by="client")


async def test_invalid_utf8_closes_that_client_with_1007() -> None:
    async with running() as srv, client(srv) as other:
        reader, writer = await raw_upgrade(srv.port)
        writer.write(masked_frame(0x1, b"ok \xff\xfe") + masked_frame(0x1, b"after"))
        data = await asyncio.wait_for(reader.read(), scaled(5))
        assert data[0] == 0x88 and data[2:4] == (1007).to_bytes(2, "big")
        writer.close()
        await other.send("fine")
        assert await recv(other) == "fine"  # neither the bad message nor what came after
        await srv.wait_event("disconnect", code=1007)


async def test_peer_vanishing_without_close_frame_is_one_log_line() -> None:
    async with running() as srv, client(srv) as other:
        _reader, writer = await raw_upgrade(srv.port)
        writer.transport.abort()
        event = await srv.wait_event("disconnect", code=1006)
        assert event["by"] is None
        await other.send("fine")
        assert await recv(other) == "fine"
        assert "Traceback" not in srv.out.getvalue() + srv.human.getvalue()


async def test_malformed_handshakes_are_refused_with_one_line_each() -> None:
    async with running() as srv, client(srv) as other:
        answer = await raw_request(srv.port, b"NONSENSE\r\n\r\n")
        assert answer == b""  # not HTTP: the library just closes the connection
        bad_key = upgrade_request("/chat", srv.port).replace(b"dGhlIHNhbXBsZSBub25jZQ==", b"x")
        answer = await raw_request(srv.port, bad_key)
        assert answer.startswith(b"HTTP/1.1 400")
        errors = await srv.wait_events("error", 2)
        assert all(e["message"].startswith("bad handshake: ") for e in errors)
        assert all("\n" not in e["message"] for e in errors)
        await other.send("fine")
        assert await recv(other) == "fine"


@pytest.mark.parametrize("verbose", [False, True])
async def test_a_tcp_probe_is_logged_only_with_verbose(verbose: bool) -> None:
    # Found by QA: every load-balancer TCP check logged a long "bad handshake" error line.
    async with running(verbose=verbose) as srv:
        _, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.close()
        _, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(b"GET / HT")  # a request begun is still worth a line
        chat = srv.chat
        await until(lambda: any(c.bytes_in for c in chat.connections), "the 8 bytes read")
        writer.close()
        errors = await srv.wait_events("error", 2 if verbose else 1)
        # Both ends handled (each logs its line, if any, as it leaves the set): none to come.
        await until(lambda: not chat.connections, "both connections ended")
        messages = [e["message"] for e in srv.events("error")]
        assert messages[-1].startswith("bad handshake: ") and "8 bytes" in messages[-1]
        probe = ["closed without sending a request"] if verbose else []
        assert messages[:-1] == probe, errors


async def test_repeated_event_loop_errors_are_counted_not_repeated() -> None:
    # Found by QA: out of file descriptors, asyncio logged each failed accept (~200 lines).
    async with running() as srv:
        loop = asyncio.get_running_loop()
        error = OSError(24, "Too many open files")
        for _ in range(200):
            loop.call_exception_handler({"message": "accept failed", "exception": error})
        loop.call_exception_handler({"message": "something else"})
        messages = [e["message"] for e in srv.events("error")]
        assert messages == [
            "accept failed: OSError: [Errno 24] Too many open files",
            "(the last error repeated 199x)",
            "something else",
        ]


async def test_slowloris_handshake_is_dropped() -> None:
    async with running(handshake_timeout=0.1) as srv:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(b"GET /chat HTTP/1.1\r\nHost: x\r\n")  # never finished
        started = asyncio.get_running_loop().time()
        assert await asyncio.wait_for(reader.read(), scaled(5)) == b""
        assert asyncio.get_running_loop().time() - started < scaled(3)
        writer.close()
        await srv.wait_event("error", message="handshake timed out after 0.1 s")


async def test_tls_slowloris_is_dropped_within_the_handshake_timeout(
    tmp_path: os.PathLike[str],
) -> None:
    # --handshake-timeout promises "(TLS and) WebSocket handshake": a TCP client that never
    # starts TLS is dropped too (websockets passes it on as ssl_handshake_timeout).
    settings, _ = tls_settings(tmp_path)
    async with running(handshake_timeout=0.1, **settings) as srv:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        started = asyncio.get_running_loop().time()
        assert await asyncio.wait_for(reader.read(), scaled(5)) == b""
        assert asyncio.get_running_loop().time() - started < scaled(3)
        writer.close()


async def test_plain_http_on_the_tls_port_gets_nginx_s_400(tmp_path: os.PathLike[str]) -> None:
    # It got silence: the TLS handshake failed on "GET / HTTP/1.1" and the socket closed.
    settings, context = tls_settings(tmp_path)
    async with running(**settings) as srv:
        answer = await raw_request(srv.port, http_get("/healthz", srv.port))
        assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer
        assert answer.endswith(b"\r\n\r\nplain HTTP request sent to HTTPS port\n")
        await srv.wait_event("error", message="plain HTTP request sent to HTTPS port")
        async with connect(srv.url(scheme="wss"), ssl=context, proxy=None) as ws:
            await ws.send("TLS still served")
            assert await recv(ws) == "TLS still served"


async def test_pings_are_answered_and_silent_peers_are_closed() -> None:
    async with running(ping_interval=0.1, ping_timeout=0.2) as srv, client(srv) as ws:
        latency = await asyncio.wait_for(await ws.ping(), scaled(5))
        assert latency >= 0
        reader, writer = await raw_upgrade(srv.port)  # never answers the server's pings
        started = asyncio.get_running_loop().time()
        data = await asyncio.wait_for(reader.read(), scaled(5))
        # pinged within interval + half a period, failed within timeout + half a period
        assert asyncio.get_running_loop().time() - started < scaled(0.15 + 0.25 + 0.3)
        assert data.startswith(b"\x89\x05wscli")  # the keepalive ping
        assert b"\x88" in data  # then the close frame (1011)
        writer.close()
        await srv.wait_event("disconnect", code=1011)
        await ws.send("alive")
        assert await recv(ws) == "alive"


# HTTP endpoints


async def test_healthz_reports_clients_rooms_and_uptime() -> None:
    async with running() as srv, client(srv, "/a"), client(srv, "/a"), client(srv, "/b"):
        answer = await raw_request(srv.port, http_get("/healthz", srv.port))
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        assert b"Content-Type: application/json" in head
        health = json.loads(body)
        assert health["status"] == "ok"
        assert health["clients"] == 3
        assert health["rooms"] == 2
        assert isinstance(health["uptime"], float) and health["uptime"] >= 0
        # Public: counts and bounds only; the rest is in the verbose document.
        assert set(health) == {"status", "clients", "rooms", "uptime", "fds", "limits"}
        assert health["limits"] == {
            "max_size": 2**20,
            "max_queue": 4 * 2**20,
            "max_total_queue": 2**30,
            "max_clients": None,
            "history": 0,
            "history_bytes": 64 * 2**20,
            "idle_rooms": 1024,
            "room_path_bytes": 1024,
        }
        answer = await raw_request(srv.port, http_get("/healthz?verbose", srv.port))
        detail = json.loads(answer.partition(b"\r\n\r\n")[2])
        assert detail["backplane"] == {"kind": "local"}
        assert detail["clients"] == 3 and detail["rooms_kept"] == 0


async def test_page_is_served_at_root_as_html() -> None:
    async with running() as srv:
        answer = await raw_request(srv.port, http_get("/?x=1", srv.port))
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        assert head.count(b"Content-Type:") == 1
        assert b"Content-Type: text/html; charset=utf-8" in head
        assert b"<html" in body.lower()
        # The header pins the page's one inline script by its hash (a proxy rewriting the
        # page cannot add any), and tells browsers not to sniff or send referrers.
        script = re.search(rb"<script>(.*?)</script>", body, re.S)
        assert script is not None
        digest = base64.b64encode(hashlib.sha256(script.group(1)).digest())
        [csp] = re.findall(rb"Content-Security-Policy: ([^\r]*)", head)
        assert b"script-src 'sha256-" + digest + b"';" in csp
        assert b"unsafe-inline" not in csp.split(b"script-src")[1].split(b";")[0]
        meta = re.search(rb'http-equiv="Content-Security-Policy" content="([^"]*)"', body)
        assert meta is not None and b"script-src 'sha256-" + digest + b"'" in meta.group(1)
        assert b"frame-ancestors 'none'" in csp
        for path in ("/", "/healthz", "/admission", "/nope"):
            answer = await raw_request(srv.port, http_get(path, srv.port))
            head = answer.partition(b"\r\n\r\n")[0] + b"\r\n"
            assert b"\r\nReferrer-Policy: no-referrer\r\n" in head, path
            assert b"\r\nX-Content-Type-Options: nosniff\r\n" in head, path


async def test_unknown_plain_http_paths_are_404() -> None:
    async with running() as srv:
        for path in ("/nope", "/chat", "/healthz/x"):
            answer = await raw_request(srv.port, http_get(path, srv.port))
            assert answer.startswith(b"HTTP/1.1 404"), path


async def test_head_gets_the_get_headers_without_a_body() -> None:
    async with running(verbose=True) as srv:
        for path, status in (("/", b"200"), ("/healthz", b"200"), ("/nope", b"404")):
            get = await raw_request(srv.port, http_get(path, srv.port))
            head = await raw_request(srv.port, http_get(path, srv.port).replace(b"GET", b"HEAD"))
            get_head, _, get_body = get.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 " + status), path
            assert head.endswith(b"\r\n\r\n"), head  # no body
            length = f"Content-Length: {len(get_body)}".encode()
            assert length in get_head, path
            if path == "/healthz":
                # The document changes between the two requests (uptime, fds.open): its
                # length may differ by a digit or two.
                found = re.search(rb"\r\nContent-Length: (\d+)\r\n", head)
                assert found is not None and abs(int(found[1]) - len(get_body)) <= 4, head
            else:
                assert length in head, path
        await srv.wait_event("http", method="HEAD", path="/healthz", status=200)
        assert not srv.events("error")


async def test_other_methods_get_405_with_allow() -> None:
    async with running() as srv:
        for method in ("POST", "OPTIONS", "DELETE", "PUT"):
            for path in ("/", "/healthz", "/chat"):
                request = http_get(path, srv.port).replace(b"GET", method.encode(), 1)
                answer = await raw_request(srv.port, request)
                assert answer.startswith(b"HTTP/1.1 405"), (method, path, answer)
                assert b"\r\nAllow: GET, HEAD\r\n" in answer
        assert not srv.events("error")


# Shutdown, TLS, compression


async def test_shutdown_closes_every_client_with_1001_after_pending_messages() -> None:
    async with running() as srv, client(srv) as a, client(srv, "/other") as b:
        await a.send("last words")
        await asyncio.sleep(0.05)
        await srv.chat.shutdown()
        assert await recv(a) == "last words"
        for ws in (a, b):
            with pytest.raises(ConnectionClosed) as caught:
                await recv(ws)
            assert caught.value.rcvd is not None and caught.value.rcvd.code == 1001


async def test_tls_serves_wss_and_https(tmp_path: os.PathLike[str]) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    certfile = os.path.join(tmp_path, "cert.pem")
    cert.private_key_and_cert_chain_pem.write_to_path(certfile)
    context = ssl.create_default_context()
    ca.configure_trust(context)
    async with running(certfile=certfile) as srv:
        assert srv.chat.url.startswith("https://")
        assert srv.chat.ws_url.startswith("wss://")
        async with (
            connect(srv.url(scheme="wss"), ssl=context, proxy=None) as a,
            connect(srv.url(scheme="wss"), ssl=context, proxy=None) as b,
        ):
            await a.send("secret")
            assert await recv(b) == "secret"
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", srv.port, ssl=context, server_hostname="127.0.0.1"
        )
        writer.write(http_get("/healthz", srv.port))
        answer = await asyncio.wait_for(reader.read(), scaled(5))
        writer.close()
        assert answer.startswith(b"HTTP/1.1 200") and b'"status": "ok"' in answer


async def test_compression_on_mixes_deflate_and_plain_clients() -> None:
    async with (
        running(compression=True) as srv,
        client(srv, compression="deflate") as deflated,
        client(srv) as plain,
    ):
        assert deflated.protocol.extensions and not plain.protocol.extensions
        await plain.send("a" * 1000)
        await deflated.send(b"\x00" * 500)
        for ws in (deflated, plain):
            assert await recv(ws) == "a" * 1000
            assert await recv(ws) == b"\x00" * 500
        await srv.wait_event("connect", compression=True)
    async with running() as srv, client(srv, compression="deflate") as ws:
        assert not ws.protocol.extensions  # off by default


async def test_verbose_logs_messages_and_http_requests() -> None:
    async with running(verbose=True) as srv, client(srv) as ws:
        await ws.send(b"1234")
        await recv(ws)
        await raw_request(srv.port, http_get("/healthz", srv.port))
        event = await srv.wait_event("message")
        assert event == {**event, "type": "binary", "size": 4, "room": "/chat"}
        await srv.wait_event("http", path="/healthz", status=200)


async def test_idle_connection_state_stays_compact() -> None:
    """Memory per idle client: a connection has fixed slots (no instance dict), and while
    idle no ServerProtocol at all: none after our own 101, none kept for the keepalive's
    pings and their pongs; one is made for the first message, in state OPEN."""
    async with running(ping_interval=0.05) as srv, client(srv, "/r?nick=ann") as ws:
        await recv(ws)  # its own join notice
        await asyncio.sleep(0.15)  # a keepalive ping or two went by, and their pongs
        (conn,) = srv.chat.admitted
        assert conn.nick == "ann" and conn.room == "/r" and conn.joined
        assert not hasattr(conn, "__dict__")
        assert conn.protocol is None
        await ws.send("hello")
        assert await recv(ws) == "hello"
        assert conn.protocol is not None and conn.protocol.state is State.OPEN
        assert conn.protocol.handshake_exc is None
