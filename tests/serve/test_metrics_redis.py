"""/metrics and /healthz of `wscli serve --redis` with a real redis-server: the Redis metrics
move, and a private room's name no longer leaks through /healthz (the finding: its
``backplane.lag`` named the rooms with messages waiting for Redis)."""

from __future__ import annotations

import asyncio
import signal
import socket
import time

from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from tests.support import OPEN_TIMEOUT, requires, scaled
from tests.support.redis_process import RedisServer
from tests.support.serve_process import ServeProcess

SECRET = "/private-7f3a9c"


def get(port: int, path: str, headers: str = "") -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=scaled(5)) as sock:
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Connection: close\r\n\r\n".encode()
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def metrics(port: int, headers: str = "") -> dict[str, float]:
    status, body = get(port, "/metrics", headers)
    assert status == 200, body
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
        if not sample.labels
    }


@requires("redis-server")
async def test_private_room_name_never_in_unauthenticated_health_while_redis_lags() -> None:
    redis = RedisServer()
    auth = "Authorization: Bearer t\r\n"
    try:
        with ServeProcess("--redis", redis.url, "--token", "t") as server:
            url = server.ws_url(f"{SECRET}?token=t")
            async with connect(url, proxy=None, open_timeout=scaled(OPEN_TIMEOUT)) as ws:
                await ws.send("first")
                assert await asyncio.wait_for(ws.recv(), scaled(10)) == "first"
                redis.proc.send_signal(signal.SIGSTOP)  # appends wait: the room lags
                try:
                    await ws.send("waits for redis")
                    deadline = time.monotonic() + scaled(5)
                    while SECRET.encode() not in get(server.port, "/healthz?verbose", auth)[1]:
                        assert time.monotonic() < deadline, "the room never showed as lagging"
                        await asyncio.sleep(0.02)
                    for _ in range(100):
                        for path in ("/healthz", "/healthz?verbose", "/metrics", "/log"):
                            status, body = get(server.port, path)
                            assert SECRET.encode() not in body, (path, body)
                            assert b"wscli:chat" not in body, (path, body)  # the key prefix
                    status, body = get(server.port, "/healthz")
                    assert status == 200 and b'"clients": 1' in body
                    lagging = metrics(server.port, auth)
                    assert lagging["wscli_redis_backlog_bytes"] > 0
                    assert lagging["wscli_redis_lag_seconds"] > 0
                finally:
                    redis.proc.send_signal(signal.SIGCONT)
                assert await asyncio.wait_for(ws.recv(), scaled(10)) == "waits for redis"
    finally:
        redis.stop()


@requires("redis-server")
async def test_redis_metrics_move() -> None:
    redis = RedisServer()
    try:
        with ServeProcess("--redis", redis.url) as server:
            before = metrics(server.port)
            assert before["wscli_redis_connected"] == 1
            async with connect(
                server.ws_url("/r"), proxy=None, open_timeout=scaled(OPEN_TIMEOUT)
            ) as ws:
                for n in range(5):
                    await ws.send(f"m{n}")
                    assert await asyncio.wait_for(ws.recv(), scaled(10)) == f"m{n}"
            after = metrics(server.port)
            assert after["wscli_redis_appends_total"] - before["wscli_redis_appends_total"] >= 1
            assert after["wscli_redis_reads_total"] - before["wscli_redis_reads_total"] >= 1
            assert after["wscli_redis_backlog_bytes"] == 0
            assert after["wscli_redis_backlog_batches"] == 0
            assert after["wscli_redis_lag_seconds"] == 0
            assert after["wscli_redis_errors_total"] == 0
            redis.stop()
            deadline = time.monotonic() + scaled(15)
            while metrics(server.port)["wscli_redis_connected"] != 0:
                assert time.monotonic() < deadline, "the loss was never seen"
                await asyncio.sleep(0.05)
            assert metrics(server.port)["wscli_redis_errors_total"] == 1
    finally:
        redis.stop()
