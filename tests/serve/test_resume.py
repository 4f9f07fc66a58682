"""Resume: a ``wscli.chat.v1`` client that reconnects with ``?since=ID`` is
replayed exactly what it missed, bounded by the history. Real server, real clients."""

from __future__ import annotations

import json
from typing import Any

from tests.serve.serve_helpers import client, recv, recv_n, running

CHAT = ["wscli.chat.v1"]


async def envelopes(ws: Any, n: int) -> list[dict[str, Any]]:
    """The next ``n`` envelopes, leaving out the welcome that ends a join's replay (see
    test_chat_commands.py for where it comes)."""
    found: list[dict[str, Any]] = []
    while len(found) < n:
        envelope = json.loads(await recv(ws))
        if envelope["type"] != "welcome":
            found.append(envelope)
    return found


async def test_reconnect_gets_exactly_the_gap_once() -> None:
    async with running(history=50) as srv:
        async with client(srv, "/r", subprotocols=CHAT) as page, client(srv, "/r") as raw:
            for n in range(3):
                await raw.send(f"before {n}")
            seen = await envelopes(page, 3)
        last = seen[-1]["id"]
        async with client(srv, "/r") as raw:
            for n in range(12):
                await raw.send(f"missed {n}")
            await recv_n(raw, 12)
            async with client(srv, f"/r?since={last}", subprotocols=CHAT) as back:
                replay = await envelopes(back, 13)
                await raw.send("live")
                (live,) = await envelopes(back, 1)
        assert [e.get("text") for e in replay[:12]] == [f"missed {n}" for n in range(12)]
        assert replay[12] == {"type": "resume", "since": last, "restored": 12, "complete": True}
        assert live["text"] == "live"  # after the replay: nothing twice
        ids = [e["id"] for e in replay[:12]]
        assert len(set(ids)) == 12 and last not in ids


async def test_resume_after_a_notice_id_and_with_nothing_missed() -> None:
    async with running(history=50) as srv:
        async with client(srv, "/r") as raw:
            await raw.send("kept")
            await recv(raw)
            async with client(srv, "/r?nick=ann", subprotocols=CHAT) as page:
                history, joined = await envelopes(page, 2)
            assert joined["type"] == "notice"
            async with client(srv, f"/r?since={joined['id']}", subprotocols=CHAT) as back:
                (done,) = await envelopes(back, 1)
        assert history["text"] == "kept"
        assert done == {"type": "resume", "since": joined["id"], "restored": 0, "complete": True}


async def test_unknown_or_too_old_since_replays_the_normal_history() -> None:
    async with running(history=3) as srv:
        async with client(srv, "/r", subprotocols=CHAT) as page, client(srv, "/r") as raw:
            await raw.send("first")
            (first,) = await envelopes(page, 1)
            for n in range(5):
                await raw.send(f"next {n}")
            await envelopes(page, 5)
        # Older than the 3 kept: the 3 kept are replayed, and the page is told some are lost.
        async with client(srv, f"/r?since={first['id']}", subprotocols=CHAT) as back:
            old = await envelopes(back, 4)
        assert [e.get("text") for e in old[:3]] == ["next 2", "next 3", "next 4"]
        assert old[3]["restored"] == 3 and old[3]["complete"] is False
        # Another epoch (as after a restart without Redis), or garbage: normal history.
        for since in ("0123456789ab.2", "%3Cscript%3E", "9" * 80):
            async with client(srv, f"/r?since={since}", subprotocols=CHAT) as back:
                again = await envelopes(back, 4)
            assert [e.get("text") for e in again[:3]] == ["next 2", "next 3", "next 4"]
            assert again[3]["type"] == "resume" and again[3]["complete"] is False
            assert again[3]["since"] in (since, "")  # a malformed id is not echoed


async def test_raw_clients_ignore_since() -> None:
    async with running(history=5) as srv:
        async with client(srv, "/r") as raw:
            await raw.send("one")
            await recv(raw)
        async with client(srv, "/r?since=0123456789ab.1") as again:
            assert await recv(again) == "one"  # history as always, no JSON resume line
