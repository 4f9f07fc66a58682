"""The Redis backplane's link to Redis: a single Redis or a Redis Cluster, told apart at
connect time with ``INFO cluster``, and Redis's clock relative to ours.

A :class:`Session` holds a client for appends and one for blocking reads: on a single Redis
the reader is a connection of its own (so ``CLIENT UNBLOCK`` can restart its XREAD); on a
cluster both are the same :class:`redis.asyncio.cluster.RedisCluster`, whose per-node pools
give each blocking read its own connection. Failures surface at once (no retries inside
redis-py): the backplane decides when to reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from wscli.core.errors import UsageProblem
from wscli.core.url import redact_url

CONNECT_TIMEOUT = 5.0  # seconds to connect, learn whether it is a cluster, read the clock


def load_redis() -> Any:
    """The ``redis`` package (an optional dependency), or a one-line usage problem."""
    try:
        import redis.asyncio
        import redis.asyncio.cluster
    except ImportError:
        raise UsageProblem(
            "--redis needs the redis package",
            "it is not installed",
            "pip install 'wscli-toolkit[redis]'",
        ) from None
    return redis


class Session:
    """One live link to Redis: a client for appends, and one for blocking reads."""

    def __init__(self, writer: Any, reader: Any, reader_id: int | None, cluster: bool) -> None:
        self.writer = writer
        self.reader = reader
        self.reader_id = reader_id  # CLIENT ID of the reading connection (single Redis)
        self.cluster = cluster
        self.clock_offset_ms = 0.0  # Redis's TIME minus ours

    async def measure_clock(self) -> None:
        """Learn Redis's clock (stream ids are its milliseconds) relative to ours."""
        before = time.time()
        seconds, micros = await asyncio.wait_for(self.writer.time(), CONNECT_TIMEOUT)
        after = time.time()
        self.clock_offset_ms = (seconds + micros / 1e6 - (before + after) / 2) * 1000

    async def close(self) -> None:
        for client in {id(self.reader): self.reader, id(self.writer): self.writer}.values():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.aclose(), 1.0)


async def connect(url: str) -> Session:
    """A :class:`Session` to the Redis (or Redis Cluster) at ``url``.

    Raises UsageProblem for a malformed URL, else redis-py's errors, OSError or
    TimeoutError (bounded by :data:`CONNECT_TIMEOUT` per step).
    """
    redis = load_redis()
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    options: dict[str, Any] = {
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "socket_keepalive": True,
        "client_name": "wscli-serve",
        "retry": Retry(NoBackoff(), 0),
    }
    try:
        writer = redis.asyncio.Redis.from_url(url, **options)
    except ValueError as exc:
        raise UsageProblem(f"bad --redis URL {redact_url(url)!r}", str(exc)) from None
    probe = Session(writer, writer, None, False)
    try:
        info = await asyncio.wait_for(writer.info("cluster"), CONNECT_TIMEOUT)
    except BaseException:
        await probe.close()
        raise
    if info.get("cluster_enabled"):
        await probe.close()
        cluster = redis.asyncio.cluster.RedisCluster.from_url(url, **options)
        session = Session(cluster, cluster, None, True)
        try:
            await asyncio.wait_for(cluster.initialize(), CONNECT_TIMEOUT)
            await session.measure_clock()
        except BaseException:
            await session.close()
            raise
        return session
    reader = redis.asyncio.Redis.from_url(url, single_connection_client=True, **options)
    session = Session(writer, reader, None, False)
    try:
        session.reader_id = int(await asyncio.wait_for(reader.client_id(), CONNECT_TIMEOUT))
        await session.measure_clock()
    except BaseException:
        await session.close()
        raise
    return session
