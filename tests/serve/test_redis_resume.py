"""Resume (``?since=``) with the Redis backplane: the first client of a room on an instance,
gaps longer than --history, outages, trimmed streams, and /healthz while Redis is late.
Real redis-server, real `wscli serve` instances, real clients."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.typing import Subprotocol

from tests.serve.serve_helpers import recv, recv_n
from tests.support import requires, scaled
from tests.support.redis_process import RedisServer, client, healthz
from tests.support.serve_process import ServeProcess

CHAT = [Subprotocol("wscli.chat.v1")]


async def page(url: str) -> ClientConnection:
    """A client speaking the page's subprotocol (JSON envelopes with ids)."""
    return await client(url, subprotocols=CHAT)


async def envelope(
    conn: ClientConnection, timeout: float = 10, logs: Callable[[], str] | None = None
) -> dict[str, Any]:
    """The next envelope but the welcome that tells a joining client its name (see
    test_chat_commands.py): these tests follow the messages."""
    while True:
        found: dict[str, Any] = json.loads(await recv(conn, timeout, logs))
        if found["type"] != "welcome":
            return found


async def envelopes(conn: ClientConnection, n: int, timeout: float = 10) -> list[dict[str, Any]]:
    return [await envelope(conn, timeout) for _ in range(n)]


async def until_resume(conn: ClientConnection, timeout: float = 20) -> list[dict[str, Any]]:
    """Envelopes up to and including the resume line."""
    seen: list[dict[str, Any]] = []
    while not seen or seen[-1]["type"] != "resume":
        seen.append(await envelope(conn, timeout))
    return seen


@contextlib.contextmanager
def instances(*options: str) -> Iterator[tuple[RedisServer, ServeProcess, ServeProcess]]:
    """A Redis of its own and two instances on it, with ``options``; Redis is let go on
    (SIGCONT) and stopped at the end, whatever the test did to it."""
    redis = RedisServer()
    try:
        with (
            ServeProcess("--redis", redis.url, *options) as a,
            ServeProcess("--redis", redis.url, *options) as b,
        ):
            yield redis, a, b
    finally:
        redis.proc.send_signal(signal.SIGCONT)
        redis.stop()


async def nobody_reads(server: ServeProcess) -> None:
    """Wait until ``server`` reads no room from Redis: the client that left it is gone there
    too, so the next one to join is the room's first (the path these tests take). A fixed
    0.2 s once was too short at load 20: the leaver was still in, and the instance, behind
    the stream, answered from its own history."""
    deadline = time.monotonic() + scaled(10)
    while (body := healthz(server))["backplane"].get("rooms_read", 0):
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.02)


async def last_id(url: str, sender: ClientConnection, text: str) -> str:
    """Join ``url`` with the subprotocol, see ``text`` sent, leave: the id it saw last."""
    watcher = await page(url)
    await sender.send(text)
    (seen,) = await envelopes(watcher, 1)
    assert seen["text"] == text
    await watcher.close()
    return str(seen["id"])


@requires("redis-server")
async def test_the_first_client_of_a_room_here_gets_exactly_its_gap() -> None:
    """Before: the first client of a room on an instance got the stream's history
    unfiltered, without the resume line."""
    with instances("--history", "50") as (_, a, b):
        raw = await client(b.ws_url("/r"))
        since = await last_id(a.ws_url("/r"), raw, "before")
        await recv(raw)
        await nobody_reads(a)
        missed = [f"missed {n}" for n in range(12)]
        for text in missed:
            await raw.send(text)
        await recv_n(raw, 12)
        back = await page(a.ws_url(f"/r?since={since}"))
        replay = await until_resume(back)
        # Entries appended around the join are read before the client is let in: the
        # whole gap comes before the resume line (before: 2 restored, 10 live, once).
        assert [e.get("text") for e in replay[:-1]] == missed
        assert replay[-1] == {
            "type": "resume",
            "since": since,
            "restored": 12,
            "complete": True,
        }
        await raw.send("live")
        assert (await envelope(back))["text"] == "live"  # nothing twice
        await back.close()
        await raw.close()


@requires("redis-server")
async def test_resume_reads_a_gap_longer_than_the_history_from_the_stream() -> None:
    """--history 5, 40 missed: the gap comes from the room's stream (up to the stream cap,
    within --max-queue), on the instance that still has clients in the room and on the
    one where the client is the room's first. Before: 5 restored, complete false."""
    with instances("--history", "5") as (_, a, b):
        raw = await client(b.ws_url("/g"))
        since = await last_id(a.ws_url("/g"), raw, "before")
        await recv(raw)
        missed = [f"missed {n}" for n in range(40)]
        for text in missed:
            await raw.send(text)
        await recv_n(raw, 40)
        await nobody_reads(a)
        for server in (b, a):  # B has a client in /g; A has none
            back = await page(server.ws_url(f"/g?since={since}"))
            replay = await until_resume(back)
            assert [e.get("text") for e in replay[:-1]] == missed
            assert replay[-1]["restored"] == 40 and replay[-1]["complete"] is True
            await back.close()
        await raw.close()


@requires("redis-server")
async def test_no_false_complete_while_redis_is_stopped() -> None:
    """Resuming on an instance that cannot read the room's stream (Redis SIGSTOPped): the
    answer waits for the read, and without it says complete:false. Before: an immediate
    {"restored":0,"complete":true}, and the 5 missed messages were never sent."""
    with instances("--history", "50") as (redis, a, b):
        raw = await client(b.ws_url("/s"))
        since = await last_id(a.ws_url("/s"), raw, "before")
        await recv(raw)
        for n in range(5):
            await raw.send(f"missed {n}")
        await recv_n(raw, 5)
        await nobody_reads(a)
        redis.proc.send_signal(signal.SIGSTOP)
        try:
            back = await page(a.ws_url(f"/s?since={since}"))
            replay = await until_resume(back, timeout=20)
        finally:
            redis.proc.send_signal(signal.SIGCONT)
        resume = replay[-1]
        texts = [e.get("text") for e in replay[:-1]]
        if resume["complete"]:
            assert texts == [f"missed {n}" for n in range(5)]
        else:
            assert resume["restored"] == len(texts)
        await back.close()
        await raw.close()


@requires("redis-server")
async def test_one_id_per_message_on_every_instance_across_an_outage() -> None:
    """Messages sent while Redis is down are delivered at once on their instance and later
    on the others: under the same ids. Before: a local id on one, the stream's on the
    other (a page coming back through the other instance showed them twice)."""
    redis = RedisServer()
    try:
        with ServeProcess("--redis", redis.url) as a, ServeProcess("--redis", redis.url) as b:
            on_a, on_b = await page(a.ws_url("/o")), await page(b.ws_url("/o"))
            sender = await client(a.ws_url("/o"))
            await sender.send("before")
            first_a, first_b = await envelopes(on_a, 1), await envelopes(on_b, 1)
            assert first_a[0]["id"] == first_b[0]["id"]
            port = redis.port
            redis.stop()
            assert a.wait_for_stderr(re.compile(r"redis backplane lost"), timeout=15)
            sent = [f"during {n}" for n in range(5)]
            for text in sent:
                await sender.send(text)
            during_a = await envelopes(on_a, 5)  # delivered here at once
            redis = RedisServer(port)
            during_b = []  # appended when Redis is back (after a line saying Redis lost data)
            while len(during_b) < 5:
                (seen,) = await envelopes(on_b, 1, timeout=30)
                if seen["type"] == "message":
                    during_b.append(seen)
            assert [e["text"] for e in during_a] == [e["text"] for e in during_b] == sent
            assert [e["id"] for e in during_a] == [e["id"] for e in during_b]
            for conn in (on_a, on_b, sender):
                await conn.close()
    finally:
        redis.stop()


@requires("redis-server")
async def test_entries_trimmed_while_an_instance_was_away_are_detected() -> None:
    """B is stopped while A appends far more than the stream cap: the entries B had not
    read are trimmed. B notices when it comes back (the instance's message count jumps),
    logs it, counts it in /healthz and tells the page some may be missing."""
    with instances("--redis-stream-cap", "16") as (_, a, b):
        watcher = await page(b.ws_url("/t"))
        writer = await client(a.ws_url("/t"))
        await writer.send("seen")
        assert await recv(writer) == "seen"
        shown = await envelope(watcher, 10, lambda: f"A:\n{a.stderr}\nB:\n{b.stderr}")
        assert shown["text"] == "seen"
        b.proc.send_signal(signal.SIGSTOP)
        try:
            for n in range(400):  # one entry each; Redis keeps at most 16 + 100
                await writer.send(f"n{n}")
                assert await recv(writer) == f"n{n}"
        finally:
            b.proc.send_signal(signal.SIGCONT)
        seen = await until_resume(watcher, timeout=20)
        assert seen[-1]["complete"] is False and seen[-1]["restored"] == 0
        assert b.wait_for_stderr(re.compile(r"some messages may be missing"), timeout=10)
        assert healthz(b)["backplane"]["gaps"] >= 1
        assert healthz(b)["backplane"]["lost_messages"] > 0
        await writer.send("after")
        while (await envelope(watcher)).get("text") != "after":
            pass  # what survived the trim (and any notice: no text), then the live message
        await watcher.close()
        await writer.close()


@requires("redis-server")
async def test_healthz_is_degraded_as_soon_as_a_command_is_overdue() -> None:
    """Redis SIGSTOPped: /healthz says degraded once a command is a second past due, well
    before the 5 s timeout declares Redis lost. Before: "ok" until the loss."""
    redis = RedisServer()
    try:
        with ServeProcess("--redis", redis.url) as a:
            conn = await client(a.ws_url("/h"))
            await conn.send("read")
            assert await recv(conn) == "read"  # the room is read (a blocking XREAD waits)
            assert healthz(a)["status"] == "ok"
            redis.proc.send_signal(signal.SIGSTOP)
            try:
                started = time.monotonic()
                while (health := healthz(a))["status"] == "ok":
                    assert time.monotonic() - started < scaled(10)
                    await asyncio.sleep(0.1)
                assert health["backplane"]["connected"] is True  # not lost (yet)
                assert health["backplane"]["overdue"] > 0
            finally:
                redis.proc.send_signal(signal.SIGCONT)
            while healthz(a)["status"] != "ok":
                assert time.monotonic() - started < scaled(20)
                await asyncio.sleep(0.1)
            await conn.close()
    finally:
        redis.proc.send_signal(signal.SIGCONT)
        redis.stop()
