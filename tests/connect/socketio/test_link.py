"""Socket.IO: the pure codec, a scripted Engine.IO server, and the real Socket.io chat peer."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.server import ServerConnection

from tests.support import lines, requires, run_wscli
from tests.support.connect_servers import running
from tests.support.peers import PEERS, peer
from wscli.core.socketio import (
    Packet,
    PacketType,
    ProtocolViolation,
    decode_packet,
    encode_packet,
    event_packet,
    fill_placeholders,
    socketio_url,
)


def test_url_gets_default_path_and_engine_query() -> None:
    assert socketio_url("http://h:3000") == "ws://h:3000/socket.io/?EIO=4&transport=websocket"
    assert socketio_url("https://h/") == "wss://h/socket.io/?EIO=4&transport=websocket"
    assert socketio_url("ws://h/custom/?token=x") == (
        "ws://h/custom/?token=x&EIO=4&transport=websocket"
    )


@pytest.mark.parametrize(
    ("packet", "text"),
    [
        (Packet(PacketType.CONNECT), "0"),
        (Packet(PacketType.CONNECT, "/admin"), "0/admin,"),
        (Packet(PacketType.EVENT, data=["message", "hi"]), '2["message","hi"]'),
        (Packet(PacketType.EVENT, "/a", ["x", {"k": 1}], id=12), '2/a,12["x",{"k":1}]'),
        (Packet(PacketType.ACK, data=[], id=3), "33[]"),
        (
            Packet(
                PacketType.BINARY_EVENT, data=["b", {"_placeholder": True, "num": 0}], attachments=1
            ),
            '51-["b",{"_placeholder":true,"num":0}]',
        ),
    ],
)
def test_encode_and_decode_round_trip(packet: Packet, text: str) -> None:
    assert encode_packet(packet) == text
    assert decode_packet(text) == packet


def test_decode_connect_answer_and_errors() -> None:
    assert decode_packet('0{"sid":"abc"}').data == {"sid": "abc"}
    assert decode_packet('4/x,{"message":"no"}') == Packet(
        PacketType.CONNECT_ERROR, "/x", {"message": "no"}
    )
    for bad in ("", "x", "9", "2[", "51[]"):
        with pytest.raises(ProtocolViolation):
            decode_packet(bad)


def test_binary_attachments_become_base64_objects() -> None:
    data = ["b", {"_placeholder": True, "num": 0}, [{"_placeholder": True, "num": 1}]]
    assert fill_placeholders(data, [b"\x00", b"AB"]) == [
        "b",
        {"base64": "AA=="},
        [{"base64": "QUI="}],
    ]
    assert event_packet("up", b"\x01") == ('451-["up",{"_placeholder":true,"num":0}]', b"\x01")
    assert event_packet("chat", "hi", "/r") == ('42/r,["chat","hi"]', None)


async def scripted(ws: ServerConnection) -> None:
    """A minimal Engine.IO v4 server: open, ping first, then echo events back as 'echo'."""
    assert ws.request is not None and "EIO=4" in ws.request.path
    await ws.send('0{"sid":"e1","pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}')
    await ws.send("2")
    frames = {await ws.recv(), await ws.recv()}
    assert "3" in frames  # the client answered the ping (before or after CONNECT)
    connect = (frames - {"3"}).pop()
    if connect == "40/private,":
        await ws.send('44/private,{"message":"not\\u001b[2J allowed","data":{"why":"banned"}}')
        await ws.wait_closed()
        return
    assert connect == "40/chat,"
    await ws.send('40/chat,{"sid":"s1"}')
    await ws.send('42/other,["ignored",1]')
    async for frame in ws:
        packet = decode_packet(str(frame)[1:])
        await ws.send(
            "4" + encode_packet(Packet(PacketType.EVENT, "/chat", ["echo", *packet.data[1:]]))
        )
        await ws.send("2")
        assert await ws.recv() == "3"


def test_scripted_server_namespace_event_and_pings() -> None:
    with running(scripted) as server:
        result = run_wscli(
            "connect",
            "--socketio",
            "--namespace",
            "chat",
            "--event",
            "say",
            server.url,
            "-x",
            "hi",
            "-n",
            "1",
        )
    assert result.returncode == 0, result.stderr
    assert lines(result.stdout) == ['echo: ["hi"]']


def test_scripted_server_connect_error_is_handshake_rejected() -> None:
    with running(scripted) as server:
        result = run_wscli("connect", "--socketio", "--namespace", "/private", server.url)
    assert result.returncode == 4
    # connect_error's data is shown too (escaped: the server chose it).
    assert result.stderr.endswith(
        b"""namespace '/private' refused: not\\e[2J allowed (data: {"why":"banned"})\n"""
    )


def test_an_empty_execute_is_one_empty_string_argument() -> None:
    with running(scripted) as server:
        args = ["--socketio", "--namespace", "chat", "-x", ""]
        result = run_wscli("connect", *args, server.url, "-n", "1")
    assert result.returncode == 0, result.stderr
    assert lines(result.stdout) == ['echo: [""]']


def test_plain_websocket_server_is_not_socketio() -> None:
    async def hello(ws: ServerConnection) -> None:
        await ws.send("hello")
        await ws.wait_closed()

    with running(hello) as server:
        result = run_wscli("connect", "--socketio", server.url)
    assert result.returncode == 4
    assert b"not a Socket.IO server" in result.stderr


def test_silent_plain_server_times_out_with_a_hint() -> None:
    async def silent(ws: ServerConnection) -> None:
        await ws.wait_closed()

    with running(silent) as server:
        result = run_wscli("connect", "--socketio", "--open-timeout", "0.5", server.url)
    assert result.returncode == 6
    assert result.stderr.decode() == (
        "wscli: error: Socket.IO handshake timed out: no Engine.IO open packet within 0.5 s "
        "(hint: is it a Socket.IO server? (drop --socketio))\n"
    )


def test_engine_open_without_connect_answer_times_out_without_the_hint() -> None:
    async def half(ws: ServerConnection) -> None:
        await ws.send('0{"sid":"e1","pingInterval":25000,"pingTimeout":20000}')
        await ws.wait_closed()

    with running(half) as server:
        result = run_wscli("connect", "--socketio", "--open-timeout", "0.5", server.url)
    assert result.returncode == 6
    assert result.stderr.decode() == (
        "wscli: error: Socket.IO handshake timed out: no CONNECT answer\n"
    )


def test_bad_engine_open_packet_is_not_socketio() -> None:
    async def garbled(ws: ServerConnection) -> None:
        await ws.send("0{not json")
        await ws.wait_closed()

    with running(garbled) as server:
        result = run_wscli("connect", "--socketio", server.url)
    assert result.returncode == 4
    assert b"not a Socket.IO server: bad Engine.IO open" in result.stderr


@requires("node")
def test_seed_socketio_chat_peer_broadcasts_back() -> None:
    assert (PEERS / "seed-socketio" / "server.js").exists()
    with peer("seed-socketio") as port:
        piped = run_wscli("connect", "--socketio", f"http://127.0.0.1:{port}", input="hello\n")
        as_json = run_wscli(
            "connect",
            "--socketio",
            f"http://127.0.0.1:{port}/",
            "--json",
            "-x",
            "hi there",
            "-n",
            "1",
        )
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == b'message: ["hello"]\n'
    events = [json.loads(line) for line in lines(as_json.stdout)]
    received = [e for e in events if e["event"] == "message" and e["direction"] == "in"]
    assert received[0]["name"] == "message" and received[0]["args"] == ["hi there"]
    assert events[0]["url"].endswith("/socket.io/?EIO=4&transport=websocket")


def test_asyncio_is_not_needed_by_pure_codec() -> None:
    # The codec half is pure: encode/decode need no event loop.
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()
    assert (
        decode_packet(encode_packet(Packet(PacketType.DISCONNECT, "/n"))).type
        is PacketType.DISCONNECT
    )


def test_server_closing_during_socketio_handshake_is_rejected_not_a_traceback() -> None:
    async def slam(ws: ServerConnection) -> None:
        await ws.send('0{"sid":"x"}')
        await ws.recv()
        await ws.close(1008, "go away")

    with running(slam) as server:
        result = run_wscli("connect", "--socketio", server.url)
    assert result.returncode == 4
    assert result.stderr == (
        b"wscli: error: the server closed the connection during the Socket.IO handshake:"
        b" close code 1008\n"
    )
