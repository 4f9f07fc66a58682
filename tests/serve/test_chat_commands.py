"""The commands of ``wscli.chat.v1`` (wscli/serve/chat_commands.py): heartbeat, sends with
client ids relayed once, unique nicknames and the welcome. The parser is fed hostile bytes
(examples and Hypothesis); the rest runs against a real in-process server and real clients."""

from __future__ import annotations

import asyncio
import json
import tracemalloc
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from tests.serve.serve_helpers import client, nothing_before_sentinel, recv, recv_n, running
from tests.support import growth, scaled
from wscli.serve.chat_commands import (
    MAX_TOKEN,
    Ping,
    Send,
    SentIds,
    clean_token,
    parse_command,
)
from wscli.serve.envelope import ack_envelope, pong_envelope, welcome_envelope

CHAT = ["wscli.chat.v1"]
CID = "c0ffee0123456789"

# ---- the parser ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "command"),
    [
        (b'{"type":"ping","n":7}', Ping(7)),
        (b'{"type":"ping"}', Ping(0)),
        (b'{ "type" : "ping", "n": 9007199254740991}', Ping(2**53 - 1)),
        (b'{"type":"send","cid":"%s","text":"alice: hi"}' % CID.encode(), Send(CID, "alice: hi")),
        (b'{"type":"send","cid":"%s","text":""}' % CID.encode(), Send(CID, "")),
        (
            '{"type":"send","cid":"abcdefgh","text":"زينب \\n"}'.encode(),
            Send("abcdefgh", "زينب \n"),
        ),
    ],
)
def test_commands_are_recognised(data: bytes, command: object) -> None:
    assert parse_command(data) == command


@pytest.mark.parametrize(
    "data",
    [
        b"alice: hi",
        b"",
        b"{",
        b'{"type":"ping","n":-1}',
        b'{"type":"ping","n":9007199254740992}',  # past JavaScript's safe integers
        b'{"type":"ping","n":1.5}',
        b'{"type":"ping","n":true}',
        b'{"type":"ping","n":"7"}',
        b'{"type":"ping","n":1,"x":2}',  # unknown fields: not a command, just text
        b'{"type":"pong","n":1}',
        b'{"type":"send","cid":"short","text":"x"}',
        b'{"type":"send","cid":"has space ok","text":"x"}',
        b'{"type":"send","cid":"' + b"a" * (MAX_TOKEN + 1) + b'","text":"x"}',
        b'{"type":"send","cid":"abcdefgh","text":1}',
        b'{"type":"send","cid":"abcdefgh"}',
        b'{"type":"send","cid":"abcdefgh","text":"\\ud800"}',  # a lone surrogate
        b'{"type":"send","cid":"abcdefgh","text":"x"} trailing',
        b'{"type":"ping","n":' + b"[" * 100_000 + b"]" * 100_000 + b"}",  # deep nesting
        b'["type","ping"]',
        b'{"type":"ping","type":"send"}',
    ],
)
def test_anything_else_is_chat_text(data: bytes) -> None:
    assert parse_command(data) is None


def test_tokens_are_checked() -> None:
    assert clean_token("abcdefgh") == "abcdefgh"
    assert clean_token("A-z_0-9" + "x" * 57) is not None
    for bad in (None, 7, "", "abcdefg", "a" * 65, "abc/defgh", "abcdefgh\n", "ábcdefgh"):
        assert clean_token(bad) is None


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=12,
)


@given(
    st.one_of(
        st.binary(max_size=300),
        st.builds(
            lambda kind, extra: json.dumps({"type": kind, **extra}).encode(),
            st.sampled_from(["ping", "send", "pong"]),
            st.dictionaries(st.sampled_from(["n", "cid", "text", "x"]), JSON, max_size=3),
        ),
    )
)
def test_any_bytes_give_text_or_a_bounded_command(data: bytes) -> None:
    command = parse_command(data)
    assert command is None or isinstance(command, (Ping, Send))
    if isinstance(command, Ping):
        assert 0 <= command.n < 2**53
    if isinstance(command, Send):
        assert clean_token(command.cid) == command.cid
        assert len(command.text.encode()) <= len(data)


def test_parse_time_is_linear_in_the_message() -> None:
    def parse(n: int) -> None:
        heavy = ("\\u202e" * n).encode()
        for data in (
            b'{"type":"send","cid":"abcdefgh","text":"' + heavy + b'"}',
            b'{"type":"ping","n":' + b"[" * n + b"]" * n + b"}",
            b'{"type":"send","cid":"abcdefgh","text":"' + b"x" * n,  # never closed
        ):
            parse_command(data)

    assert growth(parse, 20_000) < 8 * 4  # linear (8x), with room for noise


def test_sent_ids_are_bounded_and_counted() -> None:
    ids = SentIds(limit=100)
    assert ids.first_time("/r", "a" * 8) and not ids.first_time("/r", "a" * 8)
    assert ids.first_time("/other", "a" * 8)  # per room
    for n in range(1000):  # a flood of fresh ids
        assert ids.first_time("/r", f"flood{n:08}")
    assert len(ids) == 100 and ids.forgotten == 902
    assert ids.first_time("/r", "a" * 8)  # forgotten: a window, not a promise


def test_sent_ids_memory_is_bounded_whatever_the_rooms() -> None:
    # An attacker sending in thousands of rooms with 16 KB paths: ids must not keep the
    # paths alive (8,192 x 16 KB would be 128 MB).
    ids = SentIds()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for n in range(2 * ids.limit):  # every id of the first full set forgotten
            room = f"/{n:08}" + "r" * 16_000
            ids.first_time(room, f"{n:016}" + "c" * 48)  # the longest ids
        del room
        held = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(before, "filename"))
    finally:
        tracemalloc.stop()
    assert len(ids) == ids.limit
    assert held < 3 * 2**20, held  # about 2.7 MB: the bound the module states


# ---- against a real server ----------------------------------------------------------------


async def envelope(ws: Any) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(await recv(ws))
    return found


async def next_of(ws: Any, kind: str) -> dict[str, Any]:
    """The next envelope of type ``kind`` (notices and the like on the way are passed)."""
    while True:
        found = await envelope(ws)
        if found["type"] == kind:
            return found


async def test_heartbeat_is_answered_to_its_sender_alone() -> None:
    async with running() as srv, client(srv, "/r", subprotocols=CHAT) as page:
        assert (await envelope(page))["type"] == "welcome"
        async with client(srv, "/r") as raw, client(srv, "/r", subprotocols=CHAT) as other:
            await envelope(other)  # its welcome
            await page.send('{"type":"ping","n":41}')
            assert await envelope(page) == {"type": "pong", "n": 41}
            await page.send('{"type":"ping"}')
            assert await envelope(page) == {"type": "pong", "n": 0}
            await nothing_before_sentinel(raw, raw, other, page)  # the pongs: to page alone
            # A raw client's ping-shaped text is chat text, byte for byte, as always.
            await raw.send('{"type":"ping","n":1}')
            assert await recv(raw) == '{"type":"ping","n":1}'
            assert (await envelope(page))["text"] == '{"type":"ping","n":1}'


async def test_a_send_is_relayed_once_whatever_its_sender_retries() -> None:
    # The page sent, its link died before the echo came back, it reconnects and sends the
    # same message again with the same client id: the room sees it once.
    async with running() as srv, client(srv, "/r") as raw:
        send = json.dumps({"type": "send", "cid": CID, "text": "pat: hello"})
        async with client(srv, "/r?nick=pat", subprotocols=CHAT) as page:
            await envelope(page)  # welcome
            await recv(raw)  # * pat joined
            await envelope(page)  # its own join notice
            await page.send(send)
            assert await envelope(page) == {"type": "ack", "cid": CID}
            echo = await envelope(page)
            assert (echo["from"], echo["text"], echo["cid"]) == ("pat", "pat: hello", CID)
            assert await recv(raw) == "pat: hello"  # raw clients: exactly the text
        async with client(srv, "/r?nick=pat", subprotocols=CHAT) as again:
            await envelope(again)
            await again.send(send)
            assert await next_of(again, "ack") == {"type": "ack", "cid": CID}  # known
            await again.send(json.dumps({"type": "send", "cid": "another1", "text": "pat: 2"}))
            assert await next_of(again, "ack") == {"type": "ack", "cid": "another1"}
            seen = await recv_n(raw, 3)
        assert seen == ["* pat left", "* pat joined", "pat: 2"]  # "hello" not twice
        assert await recv(raw) == "* pat left"
        # Sent as text, not a command: relayed as it came (a command never eats text).
        async with client(srv, "/r", subprotocols=CHAT) as page:
            await envelope(page)
            await page.send('{"type":"send","cid":"bad id","text":"x"}')
            assert await recv(raw) == '{"type":"send","cid":"bad id","text":"x"}'


async def test_history_keeps_the_client_id() -> None:
    async with running(history=5) as srv:
        async with client(srv, "/r", subprotocols=CHAT) as page:
            await envelope(page)
            await page.send(json.dumps({"type": "send", "cid": CID, "text": "kept"}))
            await envelope(page)  # ack
            live = await envelope(page)
        async with client(srv, "/r", subprotocols=CHAT) as later:
            replayed = await envelope(later)
        assert replayed == live and replayed["cid"] == CID


async def test_welcome_ends_the_replay_before_live_messages() -> None:
    async with running(history=5) as srv:
        async with client(srv, "/r") as raw:
            await raw.send("kept")
            await recv(raw)
            async with client(srv, "/r?nick=ann", subprotocols=CHAT) as page:
                order = [await envelope(page) for _ in range(3)]
        assert [e["type"] for e in order] == ["message", "welcome", "notice"]
        assert order[1] == {"type": "welcome", "nick": "ann", "from": "ann", "renamed": False}


async def test_nicknames_are_unique_in_a_room() -> None:
    long = "x" * 32
    async with (
        running() as srv,
        client(srv, "/r?nick=alice", subprotocols=CHAT) as first,
        client(srv, "/r?nick=alice", subprotocols=CHAT) as second,
        client(srv, "/r?nick=alice") as third,
        client(srv, f"/r?nick={long}", subprotocols=CHAT) as fourth,
        client(srv, f"/r?nick={long}", subprotocols=CHAT) as fifth,
        client(srv, "/elsewhere?nick=alice", subprotocols=CHAT) as elsewhere,
    ):
        assert (await envelope(first))["nick"] == "alice"
        assert await envelope(second) == welcome(b"alice (2)", True)
        assert (await envelope(fourth))["nick"] == long
        assert (await envelope(fifth))["nick"] == "x" * 28 + " (2)"  # at most 32
        assert (await envelope(elsewhere))["nick"] == "alice"  # per room
        joined = [e for e in [await envelope(first) for _ in range(5)] if e["type"] == "notice"]
        assert [e["text"] for e in joined] == [
            "* alice joined",
            "* alice (2) joined",
            "* alice (3) joined",  # the raw client too: its name is unique as well
            f"* {long} joined",
            f"* {'x' * 28} (2) joined",
        ]
        await third.send("hi")
        message = await envelope(first)
        assert (message["from"], message["text"]) == ("alice (3)", "hi")
    async with running() as srv:
        # A name is free again once its holder left.
        async with client(srv, "/r?nick=bob", subprotocols=CHAT) as bob:
            await envelope(bob)
        async with client(srv, "/r?nick=bob", subprotocols=CHAT) as bob:
            assert (await envelope(bob))["nick"] == "bob"


def welcome(nick: bytes, renamed: bool) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(welcome_envelope(nick.decode(), nick.decode(), renamed))
    return found


async def test_a_page_reconnecting_replaces_its_stale_connection() -> None:
    session = "s3ss10n-0123456789abcdef"
    async with running() as srv, client(srv, "/r?nick=obs", subprotocols=CHAT) as observer:
        await envelope(observer)
        await envelope(observer)  # * obs joined
        stale = await client(srv, f"/r?nick=pat&session={session}", subprotocols=CHAT)
        await envelope(stale)
        assert (await envelope(observer))["text"] == "* pat joined"
        # The page's link died silently; it comes back with the same session.
        async with client(srv, f"/r?nick=pat&session={session}", subprotocols=CHAT) as back:
            assert await envelope(back) == welcome(b"pat", False)
            with pytest.raises(ConnectionClosed):
                while True:  # its own join notice, then the close
                    await asyncio.wait_for(stale.recv(), scaled(5))
            assert stale.close_code == 4001
            assert stale.close_reason == "replaced by a new connection"
            await srv.wait_event("disconnect", code=4001)  # the stale one's end, logged
            await nothing_before_sentinel(observer)  # no "left", no second "joined"
            # Someone else with another (or no) session still gets a name of its own.
            async with client(
                srv, "/r?nick=pat&session=another-session-id", subprotocols=CHAT
            ) as other:
                assert (await envelope(other))["nick"] == "pat (2)"
            async with client(srv, "/r?nick=pat", subprotocols=CHAT) as other:
                assert (await envelope(other))["nick"] == "pat (2)"
        assert srv.chat.hub.rooms["/r"].nicks.keys() == {"obs"}
        # The session never reaches the log.
        assert session not in srv.out.getvalue() + srv.human.getvalue()


def test_control_envelopes() -> None:
    assert json.loads(pong_envelope(2**53 - 1)) == {"type": "pong", "n": 2**53 - 1}
    assert json.loads(ack_envelope(CID)) == {"type": "ack", "cid": CID}
    assert json.loads(welcome_envelope(None, "#3", False)) == {
        "type": "welcome",
        "nick": None,
        "from": "#3",
        "renamed": False,
    }
