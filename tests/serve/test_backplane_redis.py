"""The Redis backplane (wscli/serve/backplane_redis.py): the wire format, then real `wscli serve
--redis` instances sharing rooms through a real redis-server, with real clients."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis_process import RedisServer
from serve_helpers import recv
from serve_process import ServeProcess, free_port
from support import requires, run_wscli, scaled
from websockets.asyncio.client import ClientConnection, connect

from wscli.core.exitcodes import ExitCode
from wscli.serve.backplane_redis import RedisBackplane, pack_message, redact_url, unpack_messages
from wscli.serve.hub import Message

# ---- the wire format (pure) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("room", "data", "text", "notice", "sender"),
    [
        ("/chat", "héllo ✓".encode(), True, False, "abc:1"),
        ("/bin", bytes(range(256)), False, False, "abc:2"),
        ("/chat", b"* zoe joined", True, True, None),
        ("/caf%C3%A9/x y", b"", True, False, ""),
        ("/", b"\xff\xfe not utf-8", False, False, "k"),
    ],
)
def test_pack_unpack_round_trip(
    room: str, data: bytes, text: bool, notice: bool, sender: str | None
) -> None:
    packed = pack_message(room, Message(data, text, notice), sender)
    [(got_room, message, got_sender)] = unpack_messages(packed)
    assert (got_room, got_sender) == (room, sender)
    assert (message.data, message.text, message.notice) == (data, text, notice)
    assert packed.endswith(data)  # the payload travels as is


def test_a_batch_carries_several_messages_in_order() -> None:
    sent = [
        ("/a", Message(b"one", True), "k:1"),
        ("/b", Message(b"\x00two", False), None),
        ("/a", Message(b"* x left", True, True), None),
    ]
    got = unpack_messages(b"".join(pack_message(*m) for m in sent))
    assert [(r, m.data, m.text, m.notice, s) for r, m, s in got] == [
        (r, m.data, m.text, m.notice, s) for r, m, s in sent
    ]


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (b"", "too short"),
        (b"hello world, a foreign publisher", "unknown version"),
        (bytes([1, 0x80]) + bytes(12), "unknown flags"),
        (bytes([1, 1, 0, 0, 0, 9]) + bytes(8) + b"/x", "lengths past the end"),
        (bytes([1, 1, 0, 0, 0, 1, 0, 0, 0, 1]) + bytes(4) + b"/s", "sender bytes without a"),
        (pack_message("/ok", Message(b"fine", True), None) + b"\x01", "too short"),
    ],
)
def test_unpack_rejects_foreign_payloads(payload: bytes, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        unpack_messages(payload)


def test_redact_url_hides_the_password() -> None:
    assert redact_url("redis://:s3cret@db:6380/1") == "redis://:***@db:6380/1"
    assert redact_url("rediss://u:p@[::1]/0") == "rediss://u:***@[::1]/0"
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


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


async def client(url: str) -> ClientConnection:
    return await connect(url, proxy=None, open_timeout=scaled(10), compression=None)


def healthz(server: ServeProcess) -> dict[str, Any]:
    """``status`` and ``backplane`` of the server's /healthz document."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=scaled(5)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    health = json.loads(answer.partition(b"\r\n\r\n")[2])
    return {"status": health["status"], "backplane": health["backplane"]}


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

            assert healthz(b) == {
                "status": "ok",
                "backplane": {"kind": "redis", "connected": True, "channel": "wscli:chat"},
            }
            redis.stop()
            assert b.wait_for_stderr(LOST, timeout=10), b.stderr
            assert healthz(b)["status"] == "degraded"
            assert healthz(b)["backplane"]["connected"] is False
            await a1.send("local only")  # A may not have noticed yet: either way it arrives
            assert await recv(a1) == "via redis"
            assert await recv(a2) == "via redis"
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
            # b1's next message: "local only" never reached B.
            assert await recv(b1) == "back via redis"
            assert await recv(a2) == "back via redis"
            for conn in (a1, a2, b1):
                await conn.close()
        events = [json.loads(line) for line in a.stdout.decode().splitlines()]
        states = [e["state"] for e in events if e["event"] == "backplane"]
        assert states == ["lost", "restored"]
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
async def test_pending_messages_are_bounded_while_redis_is_slow(
    redis_server: RedisServer,
) -> None:
    """In process: while a publish is stuck, at most max_pending_bytes wait; the rest are
    dropped with one ``overflow`` event, and what was kept arrives in order afterwards."""
    events: list[dict[str, str]] = []
    got: list[bytes] = []
    backplane = RedisBackplane(
        redis_server.url,
        "wscli:test-overflow",
        on_event=lambda kind, **fields: events.append(fields),
        max_pending_bytes=200,
    )
    await backplane.start(lambda room, message, sender: got.append(message.data))
    try:
        redis_server.proc.send_signal(signal.SIGSTOP)
        backplane.publish("/r", Message(b"first", True), None)
        await asyncio.sleep(0.1)  # "first" is now in flight, stuck
        for i in range(10):
            backplane.publish("/r", Message(b"m%d-" % i + b"x" * 40, True), None)
        assert [e["state"] for e in events] == ["overflow"]
        redis_server.proc.send_signal(signal.SIGCONT)
        deadline = time.monotonic() + scaled(5)
        while len(got) < 4 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert got == [b"first"] + [b"m%d-" % i + b"x" * 40 for i in range(3)]
        assert backplane.connected
    finally:
        redis_server.proc.send_signal(signal.SIGCONT)
        await backplane.close()


@requires("redis-server")
async def test_foreign_messages_on_the_channel_are_ignored(
    redis_server: RedisServer, pair: tuple[ServeProcess, ServeProcess]
) -> None:
    a, b = pair
    a1 = await client(a.ws_url("/chat"))
    b1 = await client(b.ws_url("/chat"))
    for payload in ("garbage", "more garbage"):
        subprocess.run(
            ["redis-cli", "-p", str(redis_server.port), "publish", "wscli:chat", payload],
            capture_output=True,
            timeout=scaled(5),
            check=True,
        )
    malformed = re.compile(r"redis backplane malformed: ignoring a foreign message")
    assert a.wait_for_stderr(malformed, timeout=5), a.stderr
    await a1.send("still fine")
    assert await recv(b1) == "still fine"  # and nothing of the garbage before it
    assert sum(bool(malformed.search(line)) for line in a.stderr_lines) == 1  # logged once
    assert "Traceback" not in a.stderr
    await a1.close()
    await b1.close()
