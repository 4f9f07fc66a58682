"""wscli.serve.connection leans on websockets internals: catch a websockets upgrade that moves them.

HubConnection copies the library's ``data_received`` (with one change), overrides
``process_event``, ``connection_made``, ``connection_lost``, ``pause_writing`` and
``resume_writing``, and replaces per-connection attributes (``recv_messages``,
``drain_waiters``, ``request``, ``response``) to save memory. pyproject pins websockets
``>=17,<18``; within 17.x, these tests fail when the code we copy or extend changes, so the
change is read before it ships. The behaviour itself is covered by test_server.py.
"""

from __future__ import annotations

import hashlib
import inspect

import pytest
import websockets
from serve_helpers import client, recv, running
from websockets.asyncio.server import ServerConnection

from wscli.serve.connection import HubConnection

# sha256 (first 16 hex digits) of the library source each override was written against
# (websockets 17.4). On a mismatch: read the new library method, bring the HubConnection
# override in line with it, then update the digest here.
LIBRARY_SOURCES = {
    "data_received": "19c5a13dd8eb56f7",  # copied into HubConnection.data_received
    "process_event": "2d27302ec72ea200",  # called for the handshake request only
    "connection_made": "0d0a81e21d71bec6",  # then recv_messages/drain_waiters replaced
    "connection_lost": "ed34a9b75ab37cf2",
    "pause_writing": "2be970c6448a731b",  # the total-backlog budget's signal
    "resume_writing": "3b97076b60f807da",
    "send_data": "b01f84358ffee740",
}


def test_websockets_major_version_is_the_one_pinned() -> None:
    assert websockets.__version__.split(".")[0] == "17", (
        "hubconnection.py was written against websockets 17: re-check it, then the pin"
    )


@pytest.mark.parametrize("name", sorted(LIBRARY_SOURCES))
def test_library_methods_we_copy_or_extend_are_unchanged(name: str) -> None:
    source = inspect.getsource(getattr(ServerConnection, name))
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    assert digest == LIBRARY_SOURCES[name], (
        f"websockets changed {name}: compare HubConnection with it, then set {digest!r}"
    )


async def test_attributes_we_replace_or_read_still_exist() -> None:
    async with running() as srv, client(srv) as ws:
        await ws.send("x")
        assert await recv(ws) == "x"
        (conn,) = srv.chat.admitted
        assert isinstance(conn, HubConnection)
        state = vars(conn)
        for attribute in (
            "recv_messages",
            "drain_waiters",
            "request",
            "response",
            "close_deadline",
            "paused",
        ):
            assert attribute in state, attribute
        protocol = conn.protocol
        for attribute in (
            "close_rcvd",
            "close_sent",
            "close_rcvd_then_sent",
            "handshake_exc",
            "extensions",
        ):
            assert hasattr(protocol, attribute), attribute
        for method in ("close_expected", "send_close", "send_ping", "fail", "data_to_send"):
            assert callable(getattr(protocol, method)), method
