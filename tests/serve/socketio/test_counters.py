"""Socket.IO clients count in the server's own counters (/metrics), as raw clients do:
opened and closed sessions, refusals, events received, messages sent, clients in rooms."""

from __future__ import annotations

from tests.serve.serve_helpers import client, recv, running
from tests.serve.socketio.sio_helpers import connected_session_for, get, http, post
from tests.serve.test_metrics import scrape, value


async def test_socketio_clients_count_in_the_same_counters() -> None:
    async with running(socketio=True, token="t") as srv:
        port = srv.port
        sid = await connected_session_for(port, "&token=t")
        status, _, _ = await http(port, get(port, "/socket.io/?EIO=4&transport=polling&token=x"))
        assert status == 403
        found = await scrape(port, "Authorization: Bearer t\r\n")
        assert value(found, "wscli_connections_opened_total") == 1
        assert value(found, "wscli_clients") == 1
        assert value(found, "wscli_connections_refused_total", reason="token") == 1
        async with client(srv, "/?token=t") as raw:
            target = f"/socket.io/?EIO=4&transport=polling&sid={sid}"
            await http(port, post(port, target, b'42["message","hi"]'))
            assert await recv(raw) == "hi"
            found = await scrape(port, "Authorization: Bearer t\r\n")
            assert value(found, "wscli_messages_received_total") == 1
            assert value(found, "wscli_received_bytes_total") == len('["message","hi"]')
            assert value(found, "wscli_messages_sent_total") == 2  # to both clients
            assert value(found, "wscli_clients") == 2
        await http(port, post(port, target, b"1"))  # the client closes its session
        found = await scrape(port, "Authorization: Bearer t\r\n")
        assert value(found, "wscli_connections_closed_total", code="1000") == 2
