"""The Redis backplane (wscli/serve/backplane_redis.py): the wire format, then real `wscli serve
--redis` instances sharing rooms through a real redis-server, with real clients."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests.serve.serve_helpers import assert_silent, nothing_before_sentinel, recv, recv_n
from tests.support import requires, run_wscli, scaled
from tests.support.redis_process import (
    Received,
    RedisCluster,
    RedisServer,
    chat,
    client,
    healthz,
    redis_cli,
)
from tests.support.serve_process import ServeProcess, free_port
from wscli.core.exitcodes import ExitCode
from wscli.serve.backplane_redis import RedisBackplane
from wscli.serve.redis_wire import make_header, pack_batch, pack_message, stream_key

# ---- real redis-server, real `wscli serve` instances --------------------------------------


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def pair(redis_server: RedisServer) -> Iterator[tuple[ServeProcess, ServeProcess]]:
    """Two instances on one Redis: A by option, B by environment variable."""
    a = ServeProcess("--redis", redis_server.url)
    b = ServeProcess(env={"WSCLI_REDIS_URL": redis_server.url})
    yield a, b
    for proc in (a, b):
        assert proc.stop() == 0, proc.stderr


async def recv_until(conn: ClientConnection, wanted: str | bytes) -> list[str | bytes]:
    """Everything ``conn`` receives up to and including ``wanted``."""
    seen: list[str | bytes] = []
    while True:
        try:
            message = await recv(conn)
        except asyncio.TimeoutError:
            raise AssertionError(f"never received {wanted!r}; got {seen!r}") from None
        seen.append(message)
        if message == wanted:
            return seen


@requires("redis-server")
async def test_messages_cross_instances_byte_exact_and_rooms_stay_apart(
    pair: tuple[ServeProcess, ServeProcess],
) -> None:
    a, b = pair
    a1 = await client(a.ws_url("/chat"))
    b1 = await client(b.ws_url("/chat"))
    b_lobby = await client(b.ws_url("/lobby"))
    text = "héllo from A \x00 with a NUL"
    blob = bytes(range(256)) * 3
    await a1.send(text)
    await a1.send(blob)
    await a1.send(b"")
    await a1.send("")
    for conn in (a1, b1):  # the sender too (echo), in the same order
        assert await recv(conn) == text
        got = await recv(conn)
        assert isinstance(got, bytes) and got == blob
        assert await recv(conn) == b""
        assert await recv(conn) == ""
    await b1.send("reply from B")
    assert await recv(a1) == "reply from B"
    assert await recv(b1) == "reply from B"
    # /lobby saw none of it: its first message is the one sent to /lobby on A.
    a_lobby = await client(a.ws_url("/lobby"))
    await a_lobby.send("lobby only")
    assert await recv(b_lobby) == "lobby only"
    for conn in (a1, b1, b_lobby, a_lobby):
        await conn.close()


@requires("redis-server")
async def test_join_and_leave_notices_cross_instances(
    pair: tuple[ServeProcess, ServeProcess],
) -> None:
    a, b = pair
    watcher = await client(b.ws_url("/notices"))
    zoe = await client(a.ws_url("/notices?nick=zoe"))
    assert await recv(watcher) == "* zoe joined"
    assert await recv(zoe) == "* zoe joined"
    await zoe.close()
    assert await recv(watcher) == "* zoe left"
    await watcher.close()


@requires("redis-server")
async def test_shutdown_announces_departures_to_other_instances(
    redis_server: RedisServer, pair: tuple[ServeProcess, ServeProcess]
) -> None:
    _, b = pair
    watcher = await client(b.ws_url("/bye"))
    with ServeProcess("--redis", redis_server.url) as leaving:
        yann = await client(leaving.ws_url("/bye?nick=yann"))
        assert await recv(watcher) == "* yann joined"
        assert await asyncio.to_thread(leaving.stop) == 0  # the loop keeps serving yann
    assert await recv(watcher) == "* yann left"  # published while shutting down
    await yann.wait_closed()
    assert yann.close_code == 1001
    await watcher.close()


@requires("redis-server")
async def test_every_instance_sees_the_same_order(
    pair: tuple[ServeProcess, ServeProcess],
) -> None:
    a, b = pair
    room = "/order"
    observers = [await client(a.ws_url(room)), await client(b.ws_url(room))]
    publishers = [await client(a.ws_url(room)), await client(b.ws_url(room))]
    count = 300

    async def publish(conn: ClientConnection, name: str) -> None:
        for i in range(count):
            await conn.send(f"{name}{i}")
            if i % 50 == 0:
                await asyncio.sleep(0)

    await asyncio.gather(publish(publishers[0], "a"), publish(publishers[1], "b"))

    async def collect(conn: ClientConnection) -> list[str | bytes]:
        return [await recv(conn) for _ in range(2 * count)]

    seen = await asyncio.gather(*(collect(c) for c in observers + publishers))
    assert seen[0] == seen[1] == seen[2] == seen[3]
    assert sorted(seen[0]) == sorted(
        [f"a{i}" for i in range(count)] + [f"b{i}" for i in range(count)]
    )
    # Each publisher's own messages keep their order.
    assert [m for m in seen[0] if m[0] == "a"] == [f"a{i}" for i in range(count)]
    for conn in observers + publishers:
        await conn.close()


@requires("redis-server")
async def test_the_publishing_instance_shows_its_messages_as_the_others_do(
    pair: tuple[ServeProcess, ServeProcess],
) -> None:
    """The instance a message was sent to delivers it from the messages it accepted; the
    others unpack the stream entry. A page must not tell them apart: the same id, author,
    client id, text or binary on every instance (only the time is each instance's own)."""
    a, b = pair
    chat_v1 = {"subprotocols": [Subprotocol("wscli.chat.v1")]}
    watchers = [
        await client(a.ws_url("/same"), **chat_v1),
        await client(b.ws_url("/same"), **chat_v1),
    ]
    page = await client(a.ws_url("/same?nick=pat"), **chat_v1)
    raw = await client(a.ws_url("/same"))
    await page.send(json.dumps({"type": "send", "cid": "c0ffee0123456789", "text": "pat: hi"}))
    await raw.send("plain text")
    await raw.send(b"\x00\xffbinary")

    async def messages(conn: ClientConnection) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while len(found) < 3:
            doc = json.loads(await recv(conn))
            if doc["type"] == "message":
                del doc["time"]
                found.append(doc)
        return found

    seen = [await messages(conn) for conn in [*watchers, page]]
    assert seen[0] == seen[1] == seen[2]
    # Two clients sent them: their order is the stream's, not the sending order.
    by_body = {doc.get("text", doc.get("binary")): doc for doc in seen[0]}
    assert by_body["pat: hi"]["cid"] == "c0ffee0123456789" and by_body["pat: hi"]["from"] == "pat"
    assert "cid" not in by_body["plain text"] and by_body["plain text"]["from"].startswith("#")
    assert by_body["AP9iaW5hcnk="]["from"] == by_body["plain text"]["from"]
    assert len({doc["id"] for doc in seen[0]}) == 3
    for conn in [*watchers, page, raw]:
        await conn.close()


@requires("redis-server")
async def test_no_echo_excludes_only_the_sender_across_instances(
    redis_server: RedisServer,
) -> None:
    channel = ("--redis-channel", "wscli:test-no-echo")
    with (
        ServeProcess("--redis", redis_server.url, "--no-echo", *channel) as a,
        ServeProcess("--redis", redis_server.url, "--no-echo", *channel) as b,
    ):
        a1 = await client(a.ws_url("/chat"))
        a2 = await client(a.ws_url("/chat"))
        b1 = await client(b.ws_url("/chat"))
        await a1.send("from a1")
        assert await recv(a2) == "from a1"
        assert await recv(b1) == "from a1"
        await b1.send("from b1")
        assert await recv(a1) == "from b1"  # not "from a1": the sender got no echo
        assert await recv(a2) == "from b1"
        await a2.send("from a2")
        assert await recv(b1) == "from a2"  # b1 had no echo of "from b1" either
        for conn in (a1, a2, b1):
            await conn.close()


@requires("redis-server")
async def test_channels_separate_deployments(
    redis_server: RedisServer, pair: tuple[ServeProcess, ServeProcess]
) -> None:
    a, _ = pair
    with (
        ServeProcess("--redis", redis_server.url, "--redis-channel", "other") as other,
        ServeProcess("--redis", redis_server.url, env={"WSCLI_REDIS_CHANNEL": "other"}) as env,
    ):
        mine = await client(a.ws_url("/chat"))
        theirs = await client(other.ws_url("/chat"))
        theirs_by_env = await client(env.ws_url("/chat"))
        await mine.send("for wscli:chat")
        await theirs.send("for other")
        assert await recv(theirs) == "for other"
        assert await recv(theirs_by_env) == "for other"  # WSCLI_REDIS_CHANNEL: same channel
        assert await recv(mine) == "for wscli:chat"
        for conn in (mine, theirs, theirs_by_env):
            await conn.close()


def test_unreachable_redis_at_start_is_one_line_and_exit_3() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    for args, env in (
        (("--redis", url), None),
        ((), {"WSCLI_REDIS_URL": url}),
    ):
        result = run_wscli("serve", "--port", "0", *args, env=env)
        assert result.returncode == ExitCode.CONNECT_FAILED
        assert result.stdout == b""
        err = result.stderr.decode()
        assert err.count("\n") == 1, err
        assert err.startswith(f"wscli: error: cannot connect to Redis at {url}: ")
        assert "refused" in err.lower()
        assert "Serving chat" not in err


def test_bad_redis_url_is_a_usage_error() -> None:
    result = run_wscli("serve", "--port", "0", "--redis", "http://127.0.0.1:1/")
    assert result.returncode == ExitCode.USAGE
    err = result.stderr.decode()
    assert err.startswith("wscli: error: bad --redis URL 'http://127.0.0.1:1/'")
    assert err.count("\n") == 1


def test_password_stays_out_of_the_error() -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    result = run_wscli("serve", "--port", "0", "--redis", url)
    assert result.returncode == ExitCode.CONNECT_FAILED
    assert b"hunter2" not in result.stderr
    assert b"redis://:***@127.0.0.1:" in result.stderr


@requires("redis-server")
def test_redis_password_from_the_url() -> None:
    redis = RedisServer(0, "--requirepass", "pa55")
    try:
        wrong = run_wscli(
            "serve", "--port", "0", "--redis", f"redis://:nope@127.0.0.1:{redis.port}"
        )
        assert wrong.returncode == ExitCode.CONNECT_FAILED
        err = wrong.stderr.decode()
        assert err.startswith(
            f"wscli: error: cannot connect to Redis at redis://:***@127.0.0.1:{redis.port}: "
        )
        assert "nope" not in err and err.count("\n") == 1
        # The right one: the variable keeps it out of ps.
        env = {"WSCLI_REDIS_URL": f"redis://:pa55@127.0.0.1:{redis.port}/0"}
        with ServeProcess(env=env) as ok:
            assert ok.port > 0
    finally:
        redis.stop()


LOST = re.compile(r"redis backplane lost: .+; serving this instance's clients only")
RESTORED = re.compile(r"redis backplane restored")


@requires("redis-server")
async def test_redis_lost_keeps_serving_locally_then_reconnects() -> None:
    """Decision: losing Redis degrades each instance to local delivery and reconnects."""
    redis = RedisServer()
    try:
        with (
            ServeProcess("--redis", redis.url, "--json-log") as a,
            ServeProcess("--redis", redis.url) as b,
        ):
            a1 = await client(a.ws_url("/chat"))
            a2 = await client(a.ws_url("/chat"))
            b1 = await client(b.ws_url("/chat"))
            await a1.send("via redis")
            assert await recv(b1) == "via redis"
            # A's clients get it once A has read it back from the stream: only then does A
            # know what the stream held, and can tell that the restarted Redis lost it
            # ("missing"). Stopped earlier, A would find its own batch lost instead
            # ("lost-messages", the failover tests' case).
            assert await recv(a1) == "via redis"
            assert await recv(a2) == "via redis"

            health = healthz(b)
            assert health["status"] == "ok"
            assert health["backplane"]["kind"] == "redis"
            assert health["backplane"]["connected"] is True
            assert health["backplane"]["cluster"] is False
            assert health["backplane"]["backlog"] == {"batches": 0, "bytes": 0}
            redis.stop()
            assert b.wait_for_stderr(LOST, timeout=10), b.stderr
            assert healthz(b)["status"] == "degraded"
            assert healthz(b)["backplane"]["connected"] is False
            await a1.send("local only")  # A may not have noticed yet: either way it arrives
            assert await recv(a2) == "local only"
            assert await recv(a1) == "local only"

            redis = RedisServer(redis.port)
            assert b.wait_for_stderr(RESTORED, timeout=15), b.stderr
            assert healthz(b)["status"] == "ok"
            deadline = time.monotonic() + scaled(15)
            while not any('"restored"' in line for line in a.stdout.decode().splitlines()):
                assert time.monotonic() < deadline, a.stdout
                await asyncio.sleep(0.05)
            await a1.send("back via redis")
            # "local only" was kept by A and appended when Redis returned: B gets it, in order.
            assert await recv(b1) == "local only"
            assert await recv(b1) == "back via redis"
            assert await recv(a2) == "back via redis"  # and A's clients get nothing twice
            for conn in (a1, a2, b1):
                await conn.close()
        events = [json.loads(line) for line in a.stdout.decode().splitlines()]
        states = [e["state"] for e in events if e["event"] == "backplane"]
        # The restarted Redis (no persistence) has lost the room's stream: that is said.
        assert states == ["lost", "missing", "restored"]
        assert "Traceback" not in a.stderr + b.stderr
    finally:
        redis.stop()


@requires("redis-server")
async def test_a_stalled_redis_is_noticed_by_timeout() -> None:
    """Redis that accepts but never answers (SIGSTOP): the publish times out (5 s), the
    message is delivered locally, and the instance reconnects once Redis answers again."""
    redis = RedisServer()
    try:
        with ServeProcess("--redis", redis.url) as a:
            a1 = await client(a.ws_url("/chat"))
            a2 = await client(a.ws_url("/chat"))
            redis.proc.send_signal(signal.SIGSTOP)
            started = time.monotonic()
            await a1.send("stalled")
            assert await recv(a2, timeout=10) == "stalled"
            assert 4 < time.monotonic() - started < scaled(9)
            assert a.wait_for_stderr(
                re.compile(r"redis backplane lost: timed out; serving"), timeout=1
            ), a.stderr
            redis.proc.send_signal(signal.SIGCONT)
            assert a.wait_for_stderr(RESTORED, timeout=15), a.stderr
            await a1.send("through redis again")
            assert await recv(a2) == "through redis again"
            await a1.close()
            await a2.close()
    finally:
        redis.proc.send_signal(signal.SIGCONT)
        redis.stop()


def test_plain_install_without_redis(tmp_path: Path) -> None:
    """redis is imported only when --redis is used; without it, one usage line (exit 2)."""
    blocker = tmp_path / "redis"
    blocker.mkdir()
    (blocker / "__init__.py").write_text("raise ImportError('no redis here')\n")
    env = {"PYTHONPATH": str(tmp_path)}
    result = run_wscli("serve", "--port", "0", "--redis", "redis://127.0.0.1:1/0", env=env)
    assert result.returncode == ExitCode.USAGE
    assert result.stderr.decode() == (
        "wscli: error: --redis needs the redis package: it is not installed "
        "(hint: pip install 'wscli-toolkit[redis]')\n"
    )
    assert run_wscli("serve", "--help", env=env).returncode == 0


@requires("redis-server")
async def test_foreign_entries_in_a_room_stream_are_ignored(
    redis_server: RedisServer, pair: tuple[ServeProcess, ServeProcess]
) -> None:
    a, b = pair
    a1 = await client(a.ws_url("/foreign"))
    b1 = await client(b.ws_url("/foreign"))
    await a1.send("before")
    assert await recv(b1) == "before"
    key = stream_key("wscli:chat", "/foreign").decode()
    for fields in (
        ["h", "x:1:0", "r", "/foreign", "d", "garbage"],
        ["d", "no header"],
        ["h", "bad"],
    ):
        redis_cli(redis_server.port, "xadd", key, "*", *fields)
    malformed = re.compile(r"redis backplane malformed: ignoring a foreign entry")
    assert a.wait_for_stderr(malformed, timeout=5), a.stderr
    await a1.send("still fine")
    assert await recv(b1) == "still fine"  # and nothing of the garbage before it
    assert sum(bool(malformed.search(line)) for line in a.stderr_lines) == 1  # logged once
    assert "Traceback" not in a.stderr
    await a1.close()
    await b1.close()


# ---- the loss-free guarantees ---------------------------------------------------------------


@requires("redis-server")
async def test_three_instances_share_one_order_byte_exact(redis_server: RedisServer) -> None:
    prefix = ("--redis-channel", "wscli:three")
    with (
        ServeProcess("--redis", redis_server.url, *prefix) as a,
        ServeProcess("--redis", redis_server.url, *prefix) as b,
        ServeProcess("--redis", redis_server.url, *prefix) as c,
    ):
        conns = [await client(s.ws_url("/three")) for s in (a, b, c)]
        count = 200

        async def publish(conn: ClientConnection, name: str) -> None:
            for i in range(count):
                await conn.send(f"{name}{i}" if i % 2 else f"{name}{i}".encode() + b"\xff\x00")

        await asyncio.gather(*(publish(conn, n) for conn, n in zip(conns, "abc", strict=True)))
        seen = await asyncio.gather(*(recv_n(conn, 3 * count, timeout=20) for conn in conns))
        assert seen[0] == seen[1] == seen[2]
        for name in "abc":
            mine = [
                m
                for m in seen[0]
                if (m[:1] == name if isinstance(m, str) else m[:1] == name.encode())
            ]
            assert mine == [
                f"{name}{i}" if i % 2 else f"{name}{i}".encode() + b"\xff\x00" for i in range(count)
            ]
        for conn in conns:
            await conn.close()


@requires("redis-server")
async def test_sigterm_with_redis_paused_loses_nothing(redis_server: RedisServer) -> None:
    """20 messages, Redis paused for writes 1.5 s, SIGTERM: every message reaches the sender's
    neighbours before their 1001, and the other instance, because it waited for Redis."""
    prefix = ("--redis-channel", "wscli:sigterm")
    with (
        ServeProcess("--redis", redis_server.url, *prefix) as a,
        ServeProcess("--redis", redis_server.url, *prefix) as b,
    ):
        sender = await client(a.ws_url("/term"), max_queue=None)  # answers the 1001 unread
        neighbour = await client(a.ws_url("/term"))
        remote = await client(b.ws_url("/term"))
        await sender.send("warm-up")
        for conn in (sender, neighbour, remote):
            assert await recv(conn) == "warm-up"
        redis_cli(redis_server.port, "client", "pause", "1500", "write")
        sent = [f"m{i}" for i in range(20)]
        for text in sent:
            await sender.send(text)
        await asyncio.sleep(0.2)  # accepted by the server (in its hands, not in Redis)
        started = time.monotonic()
        a.proc.send_signal(signal.SIGTERM)
        got = [await recv(neighbour, timeout=10) for _ in sent]
        assert got == sent
        with pytest.raises(ConnectionClosed):
            await recv(neighbour, timeout=10)
        assert neighbour.close_code == 1001
        assert 1.0 < time.monotonic() - started < scaled(6)  # it waited for Redis, bounded
        assert a.wait() == 0
        assert [await recv(remote, timeout=10) for _ in sent] == sent
        await remote.close()


@requires("redis-server")
async def test_redis_killed_and_restarted_mid_stream_loses_nothing(tmp_path: Path) -> None:
    """kill -9 of Redis (with its append-only file) while a client publishes: after it is
    back, the other instance has every message once, in the publisher's order."""
    redis = RedisServer(0, "--appendonly", "yes", "--appendfsync", "always", "--dir", str(tmp_path))
    try:
        with (
            ServeProcess("--redis", redis.url) as a,
            ServeProcess("--redis", redis.url) as b,
        ):
            # The publisher never reads its 300 echoes: it keeps them all (max_queue=None),
            # or it would stop reading its socket and wait out the 10 s close timeout.
            publisher = await client(a.ws_url("/crash"), max_queue=None)
            watcher = await client(b.ws_url("/crash"))
            local = await client(a.ws_url("/crash"))
            total = 300

            async def publish() -> None:
                for i in range(total):
                    await publisher.send(f"n{i}")
                    await asyncio.sleep(0.005)

            sending = asyncio.ensure_future(publish())
            await asyncio.sleep(0.4)
            redis.stop()  # SIGKILL
            await asyncio.sleep(0.6)
            redis = RedisServer(
                redis.port, "--appendonly", "yes", "--appendfsync", "always", "--dir", str(tmp_path)
            )
            await sending
            expected = [f"n{i}" for i in range(total)]
            assert await recv_n(watcher, total, timeout=30) == expected
            assert await recv_n(local, total, timeout=30) == expected
            # Nothing twice: the sentinel, appended after every earlier batch (retries too),
            # is the next thing both get.
            await nothing_before_sentinel(publisher, watcher, local)
            for conn in (publisher, watcher, local):
                await conn.close()
    finally:
        redis.stop()


@requires("redis-server")
async def test_history_is_the_same_on_every_instance(redis_server: RedisServer) -> None:
    prefix = ("--redis-channel", "wscli:history")
    with (
        ServeProcess("--redis", redis_server.url, "--history", "5", *prefix) as a,
        ServeProcess("--redis", redis_server.url, "--history", "5", *prefix) as b,
    ):
        writer = await client(a.ws_url("/hist"))
        other = await client(b.ws_url("/hist"))
        for i in range(8):
            await (writer if i % 2 else other).send(f"h{i}")
        order = await recv_n(writer, 8)  # the stream's order (two instances raced)
        assert await recv_n(other, 8) == order
        await writer.close()
        await other.close()
        await asyncio.sleep(0.2)  # both rooms empty now: no instance reads /hist
        late_a = await client(a.ws_url("/hist"))
        late_b = await client(b.ws_url("/hist"))
        expected = order[-5:]
        assert await recv_n(late_a, 5) == expected
        assert await recv_n(late_b, 5) == expected
        await late_a.send("live")
        assert await recv(late_b) == "live"  # no history message twice, nothing missed
        assert await recv(late_a) == "live"
        await late_a.close()
        await late_b.close()


def xread_readers(monitor_output: str, keys: dict[str, str]) -> dict[str, set[str]]:
    """Per room (keys: its stream key), the client addresses whose XREADs named that room."""
    readers: dict[str, set[str]] = {room: set() for room in keys}
    for line in monitor_output.splitlines():
        match = re.search(r"\[\d+ ([\d.:]+)\] \"(?i:xread)\"", line)
        if match:
            for room, seen in readers.items():
                if keys[room] in line:
                    seen.add(match[1])
    return readers


@contextlib.asynccontextmanager
async def redis_monitor(port: int) -> Any:
    """Run ``redis-cli monitor`` for the body; yields a list that then holds its output."""
    output: list[str] = []
    monitor = subprocess.Popen(
        ["redis-cli", "-p", str(port), "monitor"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        await asyncio.sleep(0.3)
        yield output
        await asyncio.sleep(0.3)
    finally:
        monitor.terminate()
        output.append(monitor.communicate(timeout=scaled(10))[0].decode("utf-8", "replace"))


@requires("redis-server")
async def test_rooms_on_demand(redis_server: RedisServer) -> None:
    """An instance with no client in a room never reads that room's stream (MONITOR), and
    stops reading a room when its last client there leaves."""
    prefix = ("--redis-channel", "wscli:demand")
    tags = {
        room: stream_key("wscli:demand", room).decode() for room in ("/busy", "/quiet", "/other")
    }
    with (
        ServeProcess("--redis", redis_server.url, *prefix) as a,
        ServeProcess("--redis", redis_server.url, *prefix) as b,
    ):
        busy = await client(a.ws_url("/busy"))
        quiet = await client(b.ws_url("/quiet"))
        async with redis_monitor(redis_server.port) as first:
            for i in range(100):
                await busy.send(f"busy{i}")
            await recv_n(busy, 100)
            await quiet.send("hush")
            assert await recv(quiet) == "hush"
        readers = xread_readers(first[0], tags)
        assert readers["/busy"] and readers["/quiet"], first[0][-2000:]
        assert not readers["/busy"] & readers["/quiet"]  # no connection reads both
        await assert_silent(quiet, 0.2)

        # The last client of /quiet on B leaves; B keeps a client in /other.
        other = await client(b.ws_url("/other"))
        await quiet.close()
        await asyncio.sleep(1.5)  # B's read built for the old set of rooms times out (1 s)
        a_quiet = await client(a.ws_url("/quiet"))
        async with redis_monitor(redis_server.port) as second:
            for i in range(50):
                await a_quiet.send(f"later{i}")
            await recv_n(a_quiet, 50)
            await other.send("still here")
            assert await recv(other) == "still here"
        readers = xread_readers(second[0], tags)
        assert readers["/other"], second[0][-2000:]  # B reads /other ...
        # ... and no longer /quiet (B reads its rooms together: /quiet would be in the same
        # XREAD as /other), which A reads.
        assert readers["/quiet"] and not readers["/quiet"] & readers["/other"]
        for conn in (busy, other, a_quiet):
            await conn.close()


@requires("redis-server")
async def test_a_flooder_costs_nobody_their_messages(redis_server: RedisServer) -> None:
    """Four clients each sending 1 MiB messages as fast as they can: the backplane stays
    connected, and a quiet user's messages all arrive, on both instances, in order."""
    prefix = ("--redis-channel", "wscli:flood", "--max-queue", "256M", "--max-total-queue", "2G")
    with (
        ServeProcess("--redis", redis_server.url, "--max-size", "2M", *prefix) as a,
        ServeProcess("--redis", redis_server.url, "--max-size", "2M", *prefix) as b,
    ):
        flooders = [await client(a.ws_url("/flood")) for _ in range(4)]
        # Alice and Bob stop reading after their 20 texts: they keep the blobs that follow
        # (max_queue=None), or they would stop reading their sockets and their closes would
        # wait out the 10 s close timeout.
        alice = await client(a.ws_url("/flood"), max_queue=None)
        bob = await client(b.ws_url("/flood"), max_queue=None)
        blob = b"x" * 2**20

        async def flood(conn: ClientConnection) -> None:
            for _ in range(15):
                await conn.send(blob)

        async def drain(conn: ClientConnection) -> list[str]:
            texts: list[str] = []
            while len(texts) < 20:
                message = await recv(conn, timeout=30)
                if isinstance(message, str):
                    texts.append(message)
            return texts

        async def talk() -> None:
            for i in range(20):
                await alice.send(f"alice{i}")
                await asyncio.sleep(0.02)

        readers = [asyncio.ensure_future(drain(c)) for c in (alice, bob)]
        sinks = [asyncio.ensure_future(_discard(c)) for c in flooders]
        await asyncio.gather(*(flood(c) for c in flooders), talk())
        expected = [f"alice{i}" for i in range(20)]
        assert await readers[0] == expected
        assert await readers[1] == expected
        assert "backplane lost" not in a.stderr + b.stderr
        for conn in (*flooders, alice, bob):  # the sinks read on until the close completes
            await conn.close()
        await asyncio.gather(*sinks)


async def _discard(conn: ClientConnection) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for _ in conn:
            pass


@requires("redis-server")
async def test_stopped_redis_keeps_local_chat_bounded_and_slows_the_producer(
    redis_server: RedisServer,
) -> None:
    """In process: Redis SIGSTOPped. Local delivery goes on; the biggest producer (and only
    it) is slowed once the backlog passes its budget; after SIGCONT every message is
    appended, in order, and read back once."""
    events: list[dict[str, str]] = []
    pressure: list[tuple[str, bool]] = []
    mine = Received()
    backplane = RedisBackplane(
        redis_server.url,
        "wscli:test-stop",
        on_event=lambda kind, **fields: events.append(fields),
        on_pressure=lambda key, slow: pressure.append((key, slow)),
        max_backlog_bytes=2000,
    )
    await backplane.start(mine)
    assert backplane.subscribe("/r")
    peer = RedisBackplane(redis_server.url, "wscli:test-stop")
    theirs = Received()
    await peer.start(theirs)
    peer.subscribe("/r")
    try:
        await asyncio.sleep(0.2)
        redis_server.proc.send_signal(signal.SIGSTOP)
        sent: list[bytes] = []
        for i in range(40):
            data = b"flood%d-" % i + b"x" * 100
            backplane.publish("/r", chat(data, f"f1.{i}"), "flooder")
            sent.append(data)
            if i % 10 == 0:
                alice = b"alice%d" % i
                backplane.publish("/r", chat(alice, f"a1.{i}"), "alice")
                sent.append(alice)
            await asyncio.sleep(0.01)
        assert pressure and pressure[0] == ("flooder", True)
        assert ("alice", True) not in pressure
        deadline = time.monotonic() + scaled(10)
        while backplane.connected and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert not backplane.connected  # the append timed out: lost, local delivery
        assert mine.data == sent  # every message delivered here, in order
        health = backplane.describe()
        assert health["backlog"]["bytes"] == backplane.backlog_bytes  # type: ignore[index]
        assert backplane.backlog_bytes > 2000
        assert "/r" in health["lag"]  # type: ignore[operator]
        redis_server.proc.send_signal(signal.SIGCONT)
        while (
            backplane.backlog_bytes or len(theirs.data) < len(sent)
        ) and time.monotonic() < deadline + scaled(10):
            await asyncio.sleep(0.05)
        assert theirs.data == sent
        assert mine.data == sent  # nothing twice here
        assert backplane.backlog_bytes == 0
        assert ("flooder", False) in pressure
        assert [e["state"] for e in events if e["state"] in ("lost", "restored")] == [
            "lost",
            "restored",
        ]
    finally:
        redis_server.proc.send_signal(signal.SIGCONT)
        await backplane.close()
        await peer.close()


@pytest.fixture(scope="module")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    cluster = RedisCluster(tmp_path_factory.mktemp("cluster"))
    yield cluster
    cluster.stop()


@requires("redis-server")
async def test_redis_cluster_spreads_rooms_and_keeps_the_guarantees(
    redis_cluster: RedisCluster,
) -> None:
    with (
        ServeProcess("--redis", redis_cluster.url, "--history", "3") as a,
        ServeProcess("--redis", redis_cluster.url, "--history", "3") as b,
    ):
        rooms = [f"/room{i}" for i in range(6)]
        pairs = [(await client(a.ws_url(r)), await client(b.ws_url(r))) for r in rooms]
        for room, (on_a, _) in zip(rooms, pairs, strict=True):
            for i in range(5):
                await on_a.send(f"{room}:{i}")
        for room, (on_a, on_b) in zip(rooms, pairs, strict=True):
            expected = [f"{room}:{i}" for i in range(5)]
            assert await recv_n(on_a, 5) == expected
            assert await recv_n(on_b, 5) == expected
        assert healthz(a)["backplane"]["cluster"] is True
        # The rooms live on more than one shard.
        used = [n for n in redis_cluster.nodes if redis_cli(n.port, "dbsize").strip() != "0"]
        assert len(used) >= 2
        late = await client(b.ws_url(rooms[0]))
        assert await recv_n(late, 3) == [f"{rooms[0]}:{i}" for i in range(2, 5)]
        for conns in pairs:
            for conn in conns:
                await conn.close()
        await late.close()


@requires("redis-server")
async def test_stopped_redis_slows_the_flooder_not_the_others(redis_server: RedisServer) -> None:
    """Redis SIGSTOPped, --redis-max-backlog 2M: the server stops reading from the client
    sending 1 MiB messages (its sends stall), a quiet client's messages still reach the room
    (locally, once Redis is declared lost), and after SIGCONT everything arrives in order."""
    args = ("--redis-channel", "wscli:slowed", "--redis-max-backlog", "2M", "--max-size", "2M")
    with ServeProcess("--redis", redis_server.url, "--max-queue", "256M", *args) as a:
        flooder = await client(a.ws_url("/slow"))
        alice = await client(a.ws_url("/slow"))
        # The observer reads only alice's texts: it keeps the 60 MiB it is sent (max_queue=None),
        # or it would stop reading its socket and wait out the 10 s close timeout.
        observer = await client(a.ws_url("/slow"), max_queue=None)
        blob = b"y" * 2**20
        sent = 0

        async def flood() -> None:
            nonlocal sent
            for _ in range(60):
                await flooder.send(blob)
                sent += 1

        sinks = [asyncio.ensure_future(_discard(c)) for c in (flooder, alice)]
        redis_server.proc.send_signal(signal.SIGSTOP)
        try:
            flooding = asyncio.ensure_future(flood())
            await asyncio.sleep(1.0)
            for i in range(5):
                await alice.send(f"alice{i}")
            await asyncio.sleep(scaled(2))
            assert a.wait_for_stderr(re.compile(r"redis backplane pressure: .*"), timeout=10)
            stalled_at = sent
            assert stalled_at < 40, stalled_at  # the socket buffers, not the server, hold it
            texts: list[str] = []
            while len(texts) < 5:  # local delivery once the append timed out (5 s)
                message = await recv(observer, timeout=15)
                if isinstance(message, str):
                    texts.append(message)
            assert texts == [f"alice{i}" for i in range(5)]
            assert sent <= stalled_at + 2
        finally:
            redis_server.proc.send_signal(signal.SIGCONT)
        await asyncio.wait_for(flooding, scaled(30))  # read again once Redis has it all
        assert sent == 60
        assert "Traceback" not in a.stderr
        # The sinks read on until the close completes (cancelled first, they left the
        # closing frames behind unread messages: each close waited out its 10 s timeout).
        for conn in (flooder, alice, observer):
            await conn.close()
        await asyncio.gather(*sinks)


@requires("redis-server")
async def test_sigterm_under_steady_traffic_delivers_what_it_accepted(
    redis_server: RedisServer,
) -> None:
    """A client sending without pause when SIGTERM comes: the server stops accepting, and
    what it accepted reaches both its own clients (before 1001) and the other instance —
    the same unbroken prefix of what was sent, everywhere."""
    prefix = ("--redis-channel", "wscli:steady")
    with (
        ServeProcess("--redis", redis_server.url, *prefix) as a,
        ServeProcess("--redis", redis_server.url, *prefix) as b,
    ):
        # The sender never reads its echoes: it keeps them (max_queue=None), or it would stop
        # reading its socket, never answer the server's closing frame, and the server would
        # wait out its close timeout before it exits.
        sender = await client(a.ws_url("/steady"), max_queue=None)
        neighbour = await client(a.ws_url("/steady"))
        remote = await client(b.ws_url("/steady"))
        stop = asyncio.Event()

        async def send() -> None:
            i = 0
            with contextlib.suppress(ConnectionClosed):
                while not stop.is_set():
                    await sender.send(f"s{i}")
                    i += 1
                    if i % 20 == 0:
                        await asyncio.sleep(0.001)

        async def collect(conn: ClientConnection) -> list[str | bytes]:
            seen: list[str | bytes] = []
            with contextlib.suppress(ConnectionClosed, asyncio.TimeoutError):
                while True:
                    seen.append(await recv(conn, timeout=3))
            return seen

        sending = asyncio.ensure_future(send())
        near = asyncio.ensure_future(collect(neighbour))
        await asyncio.sleep(0.5)
        a.proc.send_signal(signal.SIGTERM)
        got_near = await near
        stop.set()
        await sending
        assert neighbour.close_code == 1001
        assert a.wait() == 0
        assert len(got_near) > 20
        assert got_near == [f"s{i}" for i in range(len(got_near))]  # an unbroken prefix
        got_far = await recv_n(remote, len(got_near))
        assert got_far == got_near  # the other instance got exactly the same
        # and nothing more: A appended all it accepted before it exited, and B delivers its
        # own clients' messages in the stream's order too, so the sentinel comes next.
        await nothing_before_sentinel(remote)
        await remote.close()


@requires("redis-server")
async def test_room_streams_are_capped(redis_server: RedisServer) -> None:
    """--redis-stream-cap N: XADD MAXLEN ~ N (Redis trims whole nodes of 100 entries)."""
    with ServeProcess("--redis", redis_server.url, "--redis-stream-cap", "16") as a:
        conn = await client(a.ws_url("/capped"))
        for i in range(300):  # one at a time: one stream entry each
            await conn.send(f"c{i}")
            assert await recv(conn) == f"c{i}"
        key = stream_key("wscli:chat", "/capped").decode()
        length = int(redis_cli(redis_server.port, "xlen", key))
        assert 16 <= length <= 16 + 100
        await conn.close()
    bad = run_wscli("serve", "--port", "0", "--redis", redis_server.url, "--redis-stream-cap", "5")
    assert bad.returncode == ExitCode.USAGE
    assert b"--redis-stream-cap" in bad.stderr


@requires("redis-server")
async def test_a_batch_appended_twice_is_delivered_once(redis_server: RedisServer) -> None:
    """A retried append (the first XADD had landed, its reply was lost) repeats an
    INSTANCE:SEQ header: every reader skips the repeat, whatever it carries."""
    import redis as redis_py

    with ServeProcess("--redis", redis_server.url, "--redis-channel", "wscli:dup") as a:
        conn = await client(a.ws_url("/dup"))
        await conn.send("ready")
        assert await recv(conn) == "ready"
        writer = redis_py.Redis(port=redis_server.port)
        key = stream_key("wscli:dup", "/dup")
        try:
            for seq, pos, text in (
                (1, 0, b"first"),
                (1, 0, b"first again"),  # the retry
                (2, 1, b"second"),
                (1, 0, b"older retry"),
            ):
                data = pack_batch([pack_message(chat(text, f"0ther.{seq}"), "0ther:7")])
                header = make_header("0ther", seq, pos, False)
                writer.xadd(key, {b"h": header, b"r": b"/dup", b"d": data})
        finally:
            writer.close()
        assert await recv(conn) == "first"
        assert await recv(conn) == "second"
        await assert_silent(conn, 0.5)
        await conn.close()
