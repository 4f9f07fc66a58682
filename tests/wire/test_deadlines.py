"""wscli.wire.deadlines: one timer for many same-length deadlines (the handshake timeout)."""

from __future__ import annotations

import asyncio

from tests.support import scaled
from wscli.wire.deadlines import Deadlines


async def test_each_item_expires_once_in_order_never_early_unless_discarded() -> None:
    loop = asyncio.get_running_loop()
    added: dict[str, float] = {}
    expired: list[tuple[str, float]] = []
    # 0.25 s (scaled) against a 0.02 s pause: a loaded machine may oversleep the pause several
    # times over (0.05 s was overslept in CI-like runs) without "a" expiring before it is
    # re-added.
    length = scaled(0.25)
    deadlines: Deadlines[str] = Deadlines(length, lambda item: expired.append((item, loop.time())))

    def add(item: str) -> None:
        added[item] = loop.time()
        deadlines.add(item)

    add("a")
    add("b")
    add("c")
    deadlines.discard("b")  # its handshake ended in time
    assert len(deadlines) == 2 and "a" in deadlines and "b" not in deadlines
    await asyncio.sleep(0.02)
    add("d")
    add("a")  # again: its deadline starts over, after d's
    while len(deadlines):
        await asyncio.sleep(0.01)
    assert [item for item, _ in expired] == ["c", "d", "a"]
    assert all(when >= added[item] + length for item, when in expired)


async def test_close_forgets_every_deadline() -> None:
    expired: list[int] = []
    deadlines: Deadlines[int] = Deadlines(0.02, expired.append)
    for item in range(1000):
        deadlines.add(item)
    deadlines.close()
    await asyncio.sleep(0.05)
    assert len(deadlines) == 0 and expired == []


async def test_a_callback_that_raises_stops_no_other_deadline() -> None:
    loop = asyncio.get_running_loop()
    errors: list[object] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    expired: list[str] = []

    def on_expired(item: str) -> None:
        expired.append(item)
        if item == "a":
            raise RuntimeError("boom")

    deadlines: Deadlines[str] = Deadlines(0.02, on_expired)
    deadlines.add("a")
    deadlines.add("b")  # both due in the same round
    await asyncio.sleep(0.005)
    deadlines.add("c")  # due in a later one
    while len(deadlines):
        await asyncio.sleep(0.01)
    assert expired == ["a", "b", "c"] and len(errors) == 1
