"""`wscli serve --socketio` against the real socket.io-client under Node: both transports and
the upgrade, acknowledgements, binary attachments, namespaces as rooms, the token in
``auth`` or the query, and rooms shared with raw WebSocket clients."""

from __future__ import annotations

from typing import Any

import pytest
from websockets.exceptions import InvalidStatus

from tests.serve.serve_helpers import assert_silent, client, recv, running
from tests.serve.socketio.sio_helpers import binary, node_clients
from tests.support import requires

pytestmark = requires("node", "npm")

TRANSPORTS: list[dict[str, Any]] = [
    {"transports": ["polling"]},
    {"transports": ["websocket"]},
    {},  # the default: polling, then the upgrade to a WebSocket
]


@pytest.mark.parametrize(
    ("opts", "compression"),
    [*((t, False) for t in TRANSPORTS), ({"transports": ["websocket"]}, True)],
    ids=["polling", "websocket", "upgrade", "websocket-deflate"],
)
async def test_each_transport_chats_with_a_raw_client(
    opts: dict[str, Any], compression: bool
) -> None:
    async with running(socketio=True, compression=compression) as srv, node_clients() as node:
        node.connect("a", f"http://127.0.0.1:{srv.port}/", **opts)
        connected = await node.next("a", "connect")
        if opts:
            assert connected["transport"] == opts["transports"][0]
        else:  # the upgrade may be done before the namespace's CONNECT is answered
            assert (await node.next("a", "upgrade"))["transport"] == "websocket"
        async with client(srv, "/") as raw:
            await srv.wait_events("connect", 2)
            node.emit("a", "message", "hello from node")
            assert await node.events("a", 1) == [["message", ["hello from node"]]]
            assert await recv(raw) == "hello from node"
            await raw.send("hello from raw")
            assert await node.events("a", 1) == [["message", ["hello from raw"]]]
        connects = [e for e in srv.events("connect") if e.get("socketio")]
        assert len(connects) == 1
        if opts:
            assert connects[0]["socketio"] == opts["transports"][0]
        if compression:  # negotiated: frames encoded for this connection, not shared
            links = list(srv.chat.socketio.links.values())  # type: ignore[union-attr]
            assert links and not any(link.conn.shared_frames for link in links)
        polling = 1 if opts.get("transports") == ["polling"] else 0  # upgraded, or never
        assert srv.chat.socketio.polling == polling  # type: ignore[union-attr]


async def test_acknowledgement_carries_the_message_id_and_recipients() -> None:
    async with running(socketio=True) as srv, node_clients() as node:
        for name in ("a", "b"):
            node.connect(name, f"http://127.0.0.1:{srv.port}/", transports=["websocket"])
            await node.next(name, "connect")
        async with client(srv, "/") as raw:
            await srv.wait_events("connect", 3)
            node.emit("a", "message", "hi", ack=True)
            ack = await node.next("a", "ack")
            assert ack["args"] == [{"id": ack["args"][0]["id"], "recipients": 3}]
            node.emit("a", "typing", True, ack=True)  # raw clients get nothing of it
            assert (await node.next("a", "ack"))["args"][0]["recipients"] == 2
            assert await node.events("b", 2) == [["message", ["hi"]], ["typing", [True]]]
            assert await recv(raw) == "hi"
            await assert_silent(raw)


async def test_binary_attachments_reach_both_kinds_of_clients() -> None:
    async with running(socketio=True) as srv, node_clients() as node:
        for name, transports in (("a", ["polling"]), ("b", ["websocket"])):
            node.connect(name, f"http://127.0.0.1:{srv.port}/", transports=transports)
            await node.next(name, "connect")
        async with client(srv, "/") as raw:
            await srv.wait_events("connect", 3)
            payload = bytes(range(256)) * 3
            node.emit("a", "message", binary(payload), "second", {"nested": binary(b"\x00\x01")})
            expected = ["message", [binary(payload), "second", {"nested": binary(b"\x00\x01")}]]
            assert await node.events("b", 1) == [expected]
            assert await node.events("a", 1) == [expected]
            assert await recv(raw) == payload
            await raw.send(b"\xff\x00raw")
            assert await recv(raw) == b"\xff\x00raw"  # its own echo
            for name in ("a", "b"):
                assert await node.events(name, 1) == [["message", [binary(b"\xff\x00raw")]]]
            node.emit("b", "message", {"file": binary(b"\x07")})  # binary inside JSON
            assert await recv(raw) == '{"file":{"base64":"Bw=="}}'


async def test_namespaces_are_rooms_and_share_one_session() -> None:
    async with running(socketio=True) as srv, node_clients() as node:
        url = f"http://127.0.0.1:{srv.port}"
        node.connect("root", f"{url}/", forceNew=False, transports=["websocket"])
        node.connect("chat", f"{url}/chat", forceNew=False, transports=["websocket"])
        await node.next("root", "connect")
        await node.next("chat", "connect")
        async with client(srv, "/chat") as raw_chat, client(srv, "/") as raw_root:
            await srv.wait_events("connect", 4)
            node.emit("chat", "message", "in chat")
            assert await recv(raw_chat) == "in chat"
            assert await node.events("chat", 1) == [["message", ["in chat"]]]
            await assert_silent(raw_root)
            await node.quiet("root")
            await raw_root.send("in root")
            assert await node.events("root", 1) == [["message", ["in root"]]]
            await node.quiet("chat")
        # One Engine.IO session carried both namespaces: one WebSocket, two members.
        assert len(srv.chat.socketio.sessions) == 1  # type: ignore[union-attr]
        rooms = sorted(e["room"] for e in srv.events("connect") if e.get("socketio"))
        assert rooms == ["/", "/chat"]


async def test_token_in_auth_or_query() -> None:
    async with running(socketio=True, token="s3cret") as srv, node_clients() as node:
        url = f"http://127.0.0.1:{srv.port}/"
        node.connect("none", url)
        assert (await node.next("none", "connect_error"))["message"] == "token required"
        node.connect("wrong", url, auth={"token": "nope"}, transports=["websocket"])
        assert (await node.next("wrong", "connect_error"))["message"] == "invalid token"
        node.connect("auth", url, auth={"token": "s3cret"})
        await node.next("auth", "connect")
        node.connect("query", url, query={"token": "s3cret"}, transports=["websocket"])
        await node.next("query", "connect")
        node.connect("badquery", url, query={"token": "x"}, transports=["polling"])
        await node.next("badquery", "connect_error")  # 403 before anything is read
        assert any(e["reason"] == "token required" for e in srv.events("refused"))
        # Wrong tokens (in auth and in the query) are counted by the token guard: one event
        # a second, never the tokens themselves.
        tokens = await srv.wait_event("tokens")
        assert "nope" not in srv.out.getvalue() and "s3cret" not in srv.out.getvalue()
        assert tokens


async def test_no_echo_and_history_apply_to_socketio_clients() -> None:
    settings = {"socketio": True, "echo": False, "history": 5}
    async with running(**settings) as srv, node_clients() as node, client(srv, "/") as raw:
        if True:
            await raw.send("before")
            await srv.wait_events("connect", 1)
            url = f"http://127.0.0.1:{srv.port}/"
            node.connect("a", url, transports=["websocket"])
            node.connect("b", url, transports=["polling"])
            await node.next("a", "connect")
            await node.next("b", "connect")
            # The history replay, as a message event.
            assert await node.events("a", 1) == [["message", ["before"]]]
            assert await node.events("b", 1) == [["message", ["before"]]]
            node.emit("a", "message", "from a")
            assert await node.events("b", 1) == [["message", ["from a"]]]
            assert await recv(raw) == "from a"
            await node.quiet("a")  # --no-echo: not back to its sender
            node.connect("c", url, transports=["websocket"])
            await node.next("c", "connect")
            assert await node.events("c", 2) == [["message", ["before"]], ["message", ["from a"]]]


async def test_disconnect_reasons_are_logged_and_seen() -> None:
    async with node_clients() as node:
        async with running(socketio=True) as srv:
            url = f"http://127.0.0.1:{srv.port}/"
            node.connect("a", url, transports=["websocket"])
            node.connect("b", url, transports=["polling"])
            await node.next("a", "connect")
            await node.next("b", "connect")
            node.disconnect("a")
            event = await srv.wait_event("disconnect", reason="client namespace disconnect")
            assert event["by"] == "client" and event["code"] is None
        # The server shut down: the client's transport closed (it would reconnect). "transport
        # error" when it was between two polls: its next GET found the port closed.
        reason = (await node.next("b", "disconnect"))["reason"]
        assert reason in ("transport close", "transport error")
        assert srv.events("disconnect")[-1]["reason"] == "server shutting down"


async def test_polling_sessions_count_as_clients() -> None:
    async with running(socketio=True, max_clients=1) as srv, node_clients() as node:
        url = f"http://127.0.0.1:{srv.port}/"
        node.connect("a", url, transports=["polling"])
        await node.next("a", "connect")
        assert srv.chat.health()["clients"] == 1
        with pytest.raises(InvalidStatus) as refused:
            async with client(srv, "/"):
                pass
        assert refused.value.response.status_code == 503
        node.connect("b", url, transports=["polling"])
        await node.next("b", "connect_error")
