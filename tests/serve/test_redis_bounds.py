"""The Redis backplane against a hostile client: what one client can make Redis keep, read
or send is bounded. Real redis-server, real `wscli serve` instances, real clients."""

from __future__ import annotations

import asyncio
import re
import signal
import time

import pytest
from websockets.exceptions import InvalidStatus

from tests.serve.serve_helpers import recv
from tests.support import requires, scaled
from tests.support.redis_process import (
    Received,
    RedisServer,
    client,
    healthz,
    redis_cli,
    redis_info,
)
from tests.support.serve_process import ServeProcess
from wscli.serve.backplane_redis import RedisBackplane
from wscli.serve.redis_wire import stream_key


def keys(port: int, pattern: str) -> list[str]:
    return [k for k in redis_cli(port, "--scan", "--pattern", pattern).splitlines() if k]


async def visit(url: str, payload: bytes, rooms: list[str], at_once: int = 16) -> None:
    """One client's tour: into each room, one message, out again (``at_once`` in flight)."""
    gate = asyncio.Semaphore(at_once)

    async def one(room: str) -> None:
        async with gate:
            conn = await client(url + room)
            await conn.send(payload)
            assert await recv(conn, timeout=20) == payload
            await conn.close()

    await asyncio.gather(*(one(room) for room in rooms))


# 1. Streams expire, and what one instance keeps in Redis is bounded


@requires("redis-server")
async def test_a_room_stream_expires_after_its_last_message() -> None:
    redis = RedisServer()
    try:
        with ServeProcess("--redis", redis.url, "--redis-stream-ttl", "120") as a:
            conn = await client(a.ws_url("/ttl"))
            await conn.send("one")
            assert await recv(conn) == "one"
            key = stream_key("wscli:chat", "/ttl").decode()
            first = int(redis_cli(redis.port, "pttl", key))
            assert 100_000 < first <= 120_000  # PEXPIRE with the append
            redis_cli(redis.port, "pexpire", key, "50000")
            await conn.send("two")  # every append sets the expiry again
            assert await recv(conn) == "two"
            assert 100_000 < int(redis_cli(redis.port, "pttl", key)) <= 120_000
            await conn.close()
            bounds = healthz(a)["backplane"]["bounds"]
            assert bounds["stream_ttl"] == 120.0 and bounds["idle_streams"] == 1024
    finally:
        redis.stop()


@requires("redis-server")
async def test_one_client_visiting_many_rooms_cannot_fill_redis() -> None:
    """Redis at maxmemory 8 MB with noeviction (as the README advises); one client visits
    1,200 rooms with an 8 KB message each. Before: one stream per room stayed for good,
    Redis filled up, both instances lost it and cross-instance delivery stayed lost. Now
    one instance keeps at most --history-bytes (2 MiB here) and 1,024 idle streams, each
    with an expiry, and says so in its log and /healthz."""
    redis = RedisServer(0, "--maxmemory", "8mb", "--maxmemory-policy", "noeviction")
    options = ("--redis", redis.url, "--history-bytes", "2M", "--max-size", "16K")
    try:
        with ServeProcess(*options) as a, ServeProcess(*options) as b:
            payload = b"\x00" * 8192
            started = time.monotonic()
            await visit(a.ws_url(""), payload, [f"/visit/{n:05d}" for n in range(1200)])
            streams = keys(redis.port, "wscli:chat:*")
            assert len(streams) <= 2 * 2**20 // 8192 + 16, len(streams)
            # Every stream expires (-2: deleted meanwhile to stay within the bounds).
            assert all(int(redis_cli(redis.port, "pttl", k)) != -1 for k in streams[:50])
            used = int(redis_info(redis.port, "memory")["used_memory"])
            assert used < 8 * 2**20 * 0.8, used
            # Cross-instance delivery still works.
            on_a, on_b = await client(a.ws_url("/after")), await client(b.ws_url("/after"))
            await on_a.send("still through Redis")
            assert await recv(on_b) == "still through Redis"
            health = healthz(a, full=True)
            kept = health["backplane"]["kept"]
            assert kept["deleted"] >= 1200 - len(streams) - 1
            assert kept["bytes"] <= 2 * 2**20
            assert health["backplane"]["bounds"]["kept_bytes"] == 2 * 2**20
            assert health["status"] == "ok"
            assert a.wait_for_stderr(re.compile(r"redis backplane bounded: .* streams deleted"), 5)
            # At most one line per 10 s about it, not one per room.
            lines = sum("redis backplane bounded" in line for line in a.stderr_lines)
            assert lines <= 2 + (time.monotonic() - started) / 10
            assert "backplane lost" not in a.stderr + b.stderr
            await on_a.close()
            await on_b.close()
    finally:
        redis.stop()


# 2. A join reads at most --max-queue of history from Redis


@requires("redis-server")
async def test_joining_reads_at_most_the_queue_limit_of_history() -> None:
    """--history 10 with 36 messages of 1 MiB in the room: each join used to read
    XREVRANGE COUNT 2N+16 (37 MiB) from Redis and keep 10 MiB for a newcomer that never
    reads. Now the tail is read in pages and stops at --max-queue (4 MiB)."""
    redis = RedisServer()
    options = ("--redis", redis.url, "--history", "10", "--max-size", "2M", "--max-queue", "4M")
    try:
        with ServeProcess(*options) as a:
            writer = await client(a.ws_url("/big"), max_size=2**23)
            blob = b"z" * 2**20
            for _ in range(36):
                await writer.send(blob)
                assert await recv(writer, timeout=20) == blob  # one entry each
            await writer.close()
            await asyncio.sleep(0.2)
            sent_before = int(redis_info(redis.port, "stats")["total_net_output_bytes"])
            joins = 5
            for _ in range(joins):
                newcomer = await client(a.ws_url("/big"), max_size=2**23)
                got = 0
                while got < 3:  # the newest that fit 4 MiB: three of 1 MiB (frames are bigger)
                    assert await recv(newcomer, timeout=20) == blob
                    got += 1
                await newcomer.close()
                await asyncio.sleep(0.1)  # the room empties: the next join reads again
            sent = int(redis_info(redis.port, "stats")["total_net_output_bytes"]) - sent_before
            per_join = sent / joins
            assert per_join < 4 * 2**20 + 2 * 2**20, per_join  # was 37 MiB
            # A newcomer that never reads holds at most --max-queue unsent.
            idle = await client(a.ws_url("/big"), max_size=2**23)
            await asyncio.sleep(0.5)
            assert healthz(a, full=True)["unsent_bytes"] <= 4 * 2**20
            await idle.close()
    finally:
        redis.stop()


# 3. Room paths are bounded, keys are hashed, reads do not grow with rooms x path length


async def test_room_paths_longer_than_the_limit_get_414() -> None:
    with ServeProcess() as server:
        with pytest.raises(InvalidStatus) as refused:
            await client(server.ws_url("/" + "r" * 1024))
        assert refused.value.response.status_code == 414
        ok = await client(server.ws_url("/" + "r" * 1023))  # 1,024 bytes with the slash
        await ok.close()
        limits = healthz(server, full=True)["limits"]
        assert limits["room_path_bytes"] == 1024 and limits["idle_rooms"] == 1024


@requires("redis-server")
async def test_keys_are_hashes_and_a_brace_cannot_move_a_room() -> None:
    """``}`` in a room used to end the Cluster hash tag early: ``/a}x`` was stored in the
    slot of ``/a``. Keys are now a hash of the room; the room travels in the entry."""
    redis = RedisServer()
    try:
        with ServeProcess("--redis", redis.url) as a:
            for room in ("/a", "/a}x", "/a%7Dx{y}"):
                conn = await client(a.ws_url(room))
                await conn.send(room)
                assert await recv(conn) == room
                await conn.close()
            found = sorted(keys(redis.port, "wscli:chat:*"))
            assert len(found) == 3
            assert all(re.fullmatch(r"wscli:chat:\{[0-9a-f]{32}\}", k) for k in found), found
    finally:
        redis.stop()


@requires("redis-server")
async def test_a_message_costs_redis_input_independent_of_idle_rooms() -> None:
    """600 idle clients, each in its own room with a 1,000-byte path, on one instance: a
    chat message elsewhere used to rebuild one XREAD naming every key (rooms x path bytes
    of Redis input per message). Now keys have a fixed length and rooms are read in groups
    of 64: a message re-issues one group's read."""
    redis = RedisServer()
    try:
        with ServeProcess("--redis", redis.url) as a:
            idle = []
            for n in range(600):
                idle.append(await client(a.ws_url(f"/{n:04d}" + "p" * 995)))
            talker = await client(a.ws_url("/talk"))
            await talker.send("warm-up")
            assert await recv(talker) == "warm-up"
            await asyncio.sleep(scaled(0.5))
            received = int(redis_info(redis.port, "stats")["total_net_input_bytes"])
            for n in range(50):
                await talker.send(f"m{n}")
                assert await recv(talker) == f"m{n}"
            per_message = (
                int(redis_info(redis.port, "stats")["total_net_input_bytes"]) - received
            ) / 50
            assert per_message < 16 * 1024, per_message  # was 600 x 1,000 bytes and more
            assert healthz(a)["backplane"]["read_groups"] == 10  # 601 rooms, 64 a group
            for conn in (*idle, talker):
                await conn.close()
    finally:
        redis.stop()


@requires("redis-server")
async def test_gap_reads_under_way_are_bounded() -> None:
    """Each resuming client's gap costs up to --max-queue of reading: at most 64 are read at
    once; the others are answered from what the instance holds (not complete)."""
    redis = RedisServer()
    received = Received()
    backplane = RedisBackplane(redis.url, "wscli:gaps")
    try:
        await backplane.start(received)
        backplane.subscribe("/g")
        deadline = time.monotonic() + scaled(10)
        while not received.histories:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        redis.proc.send_signal(signal.SIGSTOP)  # the reads stay under way
        answers = [backplane.resume("/g", f"ab.{n}") for n in range(70)]
        assert answers.count(True) == 64 and answers[64:] == [False] * 6
        assert backplane.resume("/g", "ab.3")  # the same gap again: the same read
    finally:
        redis.proc.send_signal(signal.SIGCONT)
        await backplane.close()
        redis.stop()
