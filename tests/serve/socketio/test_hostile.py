"""`wscli serve --socketio` against hostile clients, by hand-made Engine.IO requests and
packets: malformed packets close that client only, with one logged reason; oversized,
overlapping and slow requests; bounded sessions and queues; nothing read before admission;
and the Node server's own answers to bad requests, compared with the real one."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus

from tests.serve.serve_helpers import Running, client, recv, running
from tests.serve.socketio.sio_helpers import connected_session_for, get, handshake, http, post
from tests.support import requires, scaled, until
from tests.support.peers import peer
from wscli.serve.socketio.polling import PollingTransport


def polling(sid: str) -> str:
    return f"/socket.io/?EIO=4&transport=polling&sid={sid}"


async def ws_session(srv: Running, namespace_packet: str = "40") -> ClientConnection:
    """An Engine.IO WebSocket (by hand) that joined a namespace."""
    ws: ClientConnection = await client(srv, "/socket.io/?EIO=4&transport=websocket")
    opened = await recv(ws)
    assert isinstance(opened, str) and opened.startswith("0{")
    await ws.send(namespace_packet)
    assert str(await recv(ws)).startswith(namespace_packet)
    return ws


BAD_PACKETS: list[list[str | bytes]] = [
    ['42["disconnect"]'],  # a reserved event name
    ['451-["m",{"_placeholder":true,"num":3}]', b"\x00"],  # a missing attachment
    ["42["],  # bad JSON
    ['42/other,["message","x"]'],  # a namespace not joined
    ["40"],  # a second CONNECT
    ["9"],  # not Engine.IO
    ["2"],  # a ping from the client ("transport error" as the Node server says)
    ['42["x",' + "[" * 100 + "]" * 100 + "]"],  # nested deeper than MAX_DEPTH
    [b"\x00"],  # an attachment nobody announced
]


@pytest.mark.parametrize("packets", BAD_PACKETS)
async def test_a_malformed_packet_closes_that_client_only(packets: list[str | bytes]) -> None:
    async with running(socketio=True) as srv:
        bad = await ws_session(srv)
        good = await ws_session(srv)
        async with client(srv, "/") as raw:
            await srv.wait_events("connect", 3)
            for packet in packets:
                await bad.send(packet)
            await asyncio.wait_for(bad.wait_closed(), scaled(5))
            assert bad.close_code in (1002, 1009)
            error = await srv.wait_event("error")
            assert error["message"].startswith("socket.io session closed: ")
            assert "Traceback" not in srv.human.getvalue() + srv.out.getvalue()
            await raw.send("still here")
            assert await recv(good) == '42["message","still here"]'
        await good.close()


async def test_a_malformed_body_closes_a_polling_session() -> None:
    async with running(socketio=True) as srv:
        sid = await connected_session_for(srv.port)
        status, _, body = await http(srv.port, post(srv.port, polling(sid), b'42["x"\x1eb!!!'))
        assert (status, body) == (200, b"ok")  # as the Node server, then the session ends
        status, _, body = await http(srv.port, get(srv.port, polling(sid)))
        assert (status, body) == (200, b"1")  # its close packet
        status, _, body = await http(srv.port, get(srv.port, polling(sid)))
        assert (status, json.loads(body)) == (400, {"code": 1, "message": "Session ID unknown"})
        assert "parse error" in (await srv.wait_event("error"))["message"]


async def test_a_post_over_max_payload_gets_413_and_ends_the_session() -> None:
    async with running(socketio=True, max_size=1000) as srv:
        assert (await handshake(srv.port))["maxPayload"] == 1000
        sid = await connected_session_for(srv.port)
        # Announced, never sent: refused on the announcement, nothing read.
        request = (
            f"POST {polling(sid)} HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n"
            "Content-Length: 10000000\r\n\r\n"
        ).encode()
        status, _, _ = await http(srv.port, request)
        assert status == 413
        assert sid not in srv.chat.socketio.sessions  # type: ignore[union-attr]
        event = await srv.wait_event("refused", status=413)
        assert event["reason"] == "payload too large"


def polling_transport(srv: Running, sid: str) -> PollingTransport:
    """The long-polling transport of session ``sid``: what the server holds of it."""
    assert srv.chat.socketio is not None
    transport = srv.chat.socketio.sessions[sid].transport
    assert isinstance(transport, PollingTransport)
    return transport


async def test_overlapping_polls_end_the_session() -> None:
    async with running(socketio=True) as srv:
        sid = await connected_session_for(srv.port)
        first = asyncio.ensure_future(http(srv.port, get(srv.port, polling(sid))))
        transport = polling_transport(srv, sid)
        await until(lambda: transport.waiter is not None, "the first poll parked")
        status, _, _ = await http(srv.port, get(srv.port, polling(sid)))
        assert status == 400
        status, _, body = await first
        assert (status, body) == (200, b"1")  # the first poll gets the close packet
        assert "overlapping" in (await srv.wait_event("error"))["message"]


async def test_post_framing_is_strict() -> None:
    async with running(socketio=True) as srv:
        sid = await connected_session_for(srv.port)
        head = f"POST {polling(sid)} HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n"
        twice = (head + "Content-Length: 2\r\nContent-Length: 2\r\n\r\n40").encode()
        assert (await http(srv.port, twice))[0] == 400
        chunked = (head + "Transfer-Encoding: chunked\r\n\r\n2\r\n40\r\n0\r\n\r\n").encode()
        assert (await http(srv.port, chunked))[0] == 411
        # POST elsewhere is still 405, whatever its framing.
        other = f"POST /chat HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n\r\n".encode()
        assert (await http(srv.port, other))[0] == 405


async def test_a_slow_post_body_is_cut_at_the_handshake_timeout() -> None:
    # The timer under test, short (what any length does): scaled, since each request
    # of the test must still be read within it.
    async with running(socketio=True, handshake_timeout=scaled(0.2)) as srv:
        sid = (await handshake(srv.port))["sid"]
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        head = f"POST {polling(sid)} HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n"
        writer.write((head + "Content-Length: 100\r\n\r\n40").encode())
        assert await asyncio.wait_for(reader.read(), scaled(5)) == b""  # aborted
        writer.close()
        assert sid not in srv.chat.socketio.sessions  # type: ignore[union-attr]


async def test_polling_sessions_are_bounded() -> None:
    async with running(socketio=True, socketio_max_polling=3) as srv:
        for _ in range(3):
            await handshake(srv.port)
        status, _, body = await http(srv.port, get(srv.port, "/socket.io/?EIO=4&transport=polling"))
        assert status == 503 and b"too many long-polling sessions" in body


async def test_a_session_that_stops_polling_is_dropped_at_max_queue() -> None:
    async with running(socketio=True, max_queue=20_000) as srv:
        sid = await connected_session_for(srv.port)
        async with client(srv, "/") as raw:
            for _ in range(100):
                await raw.send("x" * 500)  # 50 KB for a session that never polls
                await recv(raw)
            slow = await srv.wait_event("slow")
            assert slow["buffered"] <= 20_000
        status, _, _ = await http(srv.port, get(srv.port, polling(sid)))
        assert status == 400
        event = await srv.wait_event("disconnect")
        assert event["reason"] == "too slow: outgoing queue full"


async def test_polling_queues_count_in_the_total_budget() -> None:
    async with running(socketio=True, max_total_queue=300_000) as srv:
        sids = [await connected_session_for(srv.port) for _ in range(2)]
        async with client(srv, "/") as raw:
            for _ in range(40):  # 200 KB for each of two sessions that never poll
                await raw.send("x" * 5000)
                await recv(raw)
            slow = await srv.wait_event("slow")
            assert slow["room"] == "/socket.io/" and slow["id"] > 0
        assert srv.chat.budget.held <= 300_000
        gone = [sid for sid in sids if sid not in srv.chat.socketio.sessions]  # type: ignore[union-attr]
        assert len(gone) >= 1


async def test_a_session_that_joins_no_namespace_is_closed() -> None:
    timeout = scaled(0.15)  # short, and long enough for the handshake's own request
    async with running(socketio=True, handshake_timeout=timeout) as srv:
        sid = (await handshake(srv.port))["sid"]
        event = await srv.wait_event("error")
        assert f"no namespace joined within {timeout:g} s" in event["message"]
        assert sid not in srv.chat.socketio.sessions  # type: ignore[union-attr]


async def test_a_silent_client_is_closed_by_the_heartbeat() -> None:
    async with running(socketio=True, ping_interval=0.2, ping_timeout=0.2) as srv:
        opened = await handshake(srv.port)
        assert (opened["pingInterval"], opened["pingTimeout"]) == (200, 200)
        sid = await connected_session_for(srv.port)
        event = await srv.wait_event("disconnect", reason="ping timeout")
        assert event["by"] == "server"
        assert sid not in srv.chat.socketio.sessions  # type: ignore[union-attr]


async def test_nothing_is_read_before_admission() -> None:
    async with running(socketio=True, token="t0k", origins=()) as srv:
        port = srv.port
        target = "/socket.io/?EIO=4&transport=polling"
        foreign = (
            f"POST {target}&sid=x HTTP/1.1\r\nHost: evil.example\r\nContent-Length: 2\r\n\r\n40"
        ).encode()
        assert (await http(port, foreign))[0] == 403  # the Host check comes first
        status, _, _ = await http(port, get(port, target, "Origin: https://evil.example\r\n"))
        assert status == 403
        status, _, _ = await http(port, get(port, target + "&token=wrong"))
        assert status == 403
        assert srv.chat.socketio.sessions == {}  # type: ignore[union-attr]
        # Without a token in the request: a session, but its CONNECT must carry auth.token.
        sid = (await handshake(port))["sid"]
        await http(port, post(port, polling(sid), b"40"))
        status, _, body = await http(port, get(port, polling(sid)))
        assert body == b'44{"message":"token required"}'
        await http(port, post(port, polling(sid), b'40{"token":"t0k"}'))
        status, _, body = await http(port, get(port, polling(sid)))
        assert body.startswith(b'40{"sid":')
        refused = srv.events("refused")
        assert [e["status"] for e in refused][:2] == [403, 403]  # Host, then origin
        await srv.stop()
        assert srv.events("tokens")  # the wrong token: counted by the token guard


async def test_a_bad_probe_leaves_polling_as_it_was() -> None:
    async with running(socketio=True) as srv:
        sid = await connected_session_for(srv.port)
        path = f"/socket.io/?EIO=4&transport=websocket&sid={sid}"
        async with client(srv, path) as probe:
            await probe.send("5")  # an upgrade before the probe ping
            await asyncio.wait_for(probe.wait_closed(), scaled(5))
        async with client(srv, "/") as raw:
            await raw.send("hello")
            _, _, body = await http(srv.port, get(srv.port, polling(sid)))
            assert body == b'42["message","hello"]'
        with pytest.raises(InvalidStatus) as refused:
            await client(srv, "/socket.io/?EIO=4&transport=websocket&sid=nope")
        assert refused.value.response.status_code == 400
        assert refused.value.response.body == b"Session ID unknown"  # as the Node server


# The Node server's answers to the same bad requests ------------------------------------


BAD_REQUESTS = [
    ("GET", "/socket.io/?EIO=4&transport=polling&sid=unknown"),
    ("POST", "/socket.io/?EIO=4&transport=polling&sid=unknown"),
    ("GET", "/socket.io/?EIO=3&transport=polling"),
    ("GET", "/socket.io/?EIO=4&transport=flash"),
    ("GET", "/socket.io/?EIO=4"),
    ("POST", "/socket.io/?EIO=4&transport=polling"),
    ("GET", "/socket.io/?EIO=4&transport=websocket"),
]


@pytest.fixture(scope="module")
def node_server() -> Iterator[int]:
    with peer("seed-socketio") as port:
        yield port


def request_for(method: str, target: str, port: int) -> bytes:
    if method == "POST":
        return post(port, target, b"40", "Connection: close\r\n")
    return get(port, target, "Connection: close\r\n")


@requires("node", "npm")
@pytest.mark.parametrize(("method", "target"), BAD_REQUESTS)
async def test_bad_requests_get_the_node_servers_answers(
    node_server: int, method: str, target: str
) -> None:
    async with running(socketio=True) as srv:
        ours = await http(srv.port, request_for(method, target, srv.port))
    theirs = await http(node_server, request_for(method, target, node_server))
    assert ours[0] == theirs[0]
    assert ours[2] == theirs[2], (ours[2], theirs[2])
    assert ours[1]["content-type"] == theirs[1]["content-type"] == "application/json"


async def test_the_namespace_encoders_are_bounded() -> None:
    from wscli.serve.socketio.service import MAX_FORMS

    async with running(socketio=True) as srv:
        service = srv.chat.socketio
        assert service is not None
        first = service.form("/n0")
        assert service.form("/n0") is first  # one per namespace: shared by its clients
        for n in range(MAX_FORMS + 100):
            service.form(f"/n{n}")
        assert len(service._forms) <= MAX_FORMS


async def test_overlapping_posts_end_the_session() -> None:
    async with running(socketio=True) as srv:
        sid = await connected_session_for(srv.port)
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        head = f"POST {polling(sid)} HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n"
        writer.write((head + "Content-Length: 10\r\n\r\n42").encode())  # the rest never comes
        transport = polling_transport(srv, sid)
        await until(lambda: transport.posting, "the first POST is being read")
        status, _, _ = await http(srv.port, post(srv.port, polling(sid), b"3"))
        assert status == 400
        assert "overlapping POST" in (await srv.wait_event("error"))["message"]
        assert sid not in srv.chat.socketio.sessions  # type: ignore[union-attr]
        writer.close()
        del reader


async def test_a_page_from_an_allowed_origin_may_read_the_polls() -> None:
    async with running(socketio=True, origins=("https://ok.example",)) as srv:
        port = srv.port
        origin = "Origin: https://ok.example\r\n"
        target = "/socket.io/?EIO=4&transport=polling"
        status, headers, body = await http(port, get(port, target, origin))
        assert status == 200 and headers["access-control-allow-origin"] == "https://ok.example"
        sid = json.loads(body[1:])["sid"]
        status, headers, _ = await http(port, post(port, polling(sid), b"40", origin))
        assert (status, headers["access-control-allow-origin"]) == (200, "https://ok.example")
        status, headers, _ = await http(port, get(port, polling(sid)))  # no Origin: no CORS
        assert status == 200 and "access-control-allow-origin" not in headers
        evil = "Origin: https://evil.example\r\n"
        assert (await http(port, get(port, polling(sid), evil)))[0] == 403


async def test_wrong_tokens_in_auth_are_throttled_like_an_upgrades() -> None:
    async with running(socketio=True, token="t0k") as srv:
        port = srv.port
        for _ in range(4):  # 3 wrong tokens a session (then it is closed): 12 in all
            sid = (await handshake(port))["sid"]
            for _ in range(3):
                await http(port, post(port, polling(sid), b'40{"token":"wrong"}'))
        sid = (await handshake(port))["sid"]
        await http(port, post(port, polling(sid), b'40{"token":"t0k"}'))  # right, but too late
        _, _, body = await http(port, get(port, polling(sid)))
        assert body == b'44{"message":"too many wrong tokens: try again later"}'
        status, headers, _ = await http(
            port, get(port, "/socket.io/?EIO=4&transport=polling&token=t0k")
        )
        assert status == 429 and int(headers["retry-after"]) > 0
        await srv.stop()
        (event,) = srv.events("tokens")
        assert "wrong" not in json.dumps(event) and "t0k" not in srv.out.getvalue()
