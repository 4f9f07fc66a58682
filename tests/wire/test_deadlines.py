"""wscli.wire.deadlines: one timer for many same-length deadlines (the handshake timeout)."""

from __future__ import annotations

import asyncio

from wscli.wire.deadlines import Deadlines


async def test_each_item_expires_once_in_order_unless_discarded() -> None:
    expired: list[str] = []
    deadlines: Deadlines[str] = Deadlines(0.05, expired.append)
    deadlines.add("a")
    deadlines.add("b")
    deadlines.add("c")
    deadlines.discard("b")  # its handshake ended in time
    assert len(deadlines) == 2 and "a" in deadlines and "b" not in deadlines
    await asyncio.sleep(0.02)
    deadlines.add("d")  # later: expires after the others
    await asyncio.sleep(0.045)
    assert expired == ["a", "c"]
    await asyncio.sleep(0.05)
    assert expired == ["a", "c", "d"] and len(deadlines) == 0


async def test_adding_again_restarts_the_deadline() -> None:
    expired: list[str] = []
    deadlines: Deadlines[str] = Deadlines(0.05, expired.append)
    deadlines.add("a")
    deadlines.add("b")
    await asyncio.sleep(0.03)
    deadlines.add("a")
    await asyncio.sleep(0.04)
    assert expired == ["b"]
    await asyncio.sleep(0.04)
    assert expired == ["b", "a"]


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
    await asyncio.sleep(0.005)
    deadlines.add("b")
    await asyncio.sleep(0.1)
    assert expired == ["a", "b"] and len(errors) == 1
