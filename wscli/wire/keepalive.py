"""Keepalive: one task pings every open connection of a command; silent ones are failed
(1011 "keepalive ping timeout").

One task for all connections instead of a timer per connection: `serve` holds tens of
thousands of idle clients, and memory per idle client is what bounds it. The task wakes up
twice per min(interval, timeout), so a silent peer is failed at most that half-period after
its timeout. Only the pings in flight are remembered (connection → when sent).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from typing import Protocol

KEEPALIVE_TIMEOUT_REASON = "keepalive ping timeout"


class Pinged(Protocol):
    """A connection that can be pinged and failed (an :class:`~wscli.wire.engine.Engine`)."""

    def keepalive_ping(self) -> bool: ...

    def fail(self, code: int, reason: str) -> None: ...


class Keepalive:
    """Pings ``clients()`` every ``interval``; fails those silent past ``timeout``."""

    def __init__(
        self,
        interval: float,
        timeout: float | None,
        clients: Callable[[], Collection[Pinged]],
        on_error: Callable[[Exception], None],
    ) -> None:
        self.interval = interval
        self.timeout = timeout
        self._clients = clients
        self._on_error = on_error
        self._pings: dict[Pinged, float] = {}  # pings awaiting their pong: when sent
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def pong(self, client: Pinged) -> None:
        """``client`` answered (any pong proves it alive, as in websockets)."""
        self._pings.pop(client, None)

    def forget(self, client: Pinged) -> None:
        """``client`` is gone."""
        self._pings.pop(client, None)

    async def _run(self) -> None:
        timeout = self.timeout
        loop = asyncio.get_running_loop()
        pings = self._pings
        period = min(self.interval, timeout) / 2 if timeout is not None else self.interval
        next_round = loop.time() + self.interval
        while True:
            await asyncio.sleep(period)
            now = loop.time()
            ping_round = now >= next_round
            if ping_round:
                next_round = now + self.interval
            for client in list(self._clients()):
                try:
                    sent = pings.get(client)
                    if sent is None:
                        if ping_round and client.keepalive_ping():
                            pings[client] = now
                    elif timeout is not None and now - sent >= timeout:
                        del pings[client]
                        client.fail(1011, KEEPALIVE_TIMEOUT_REASON)
                except Exception as exc:  # never let one connection stop the keepalive
                    self._on_error(exc)
