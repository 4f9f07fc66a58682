"""wscli.serve.budget: the unsent bytes of all backlogged clients under one limit."""

from __future__ import annotations

import asyncio

from wscli.serve.budget import BacklogBudget


class Client:
    def __init__(self, size: int) -> None:
        self.size = size
        self.joined = True

    def buffered(self) -> int:
        return self.size


async def test_a_burst_is_checked_right_after_the_callback_largest_dropped_first() -> None:
    dropped: list[tuple[Client, int]] = []
    budget = BacklogBudget(100, lambda c, n: dropped.append((c, n)))  # type: ignore[arg-type,misc]
    small, big = Client(30), Client(90)
    budget.backlogged(small, 30)
    budget.backlogged(big, 90)
    assert dropped == []  # not inside the caller (the hub's fan-out loop)
    await asyncio.sleep(0)
    assert dropped == [(big, 90)]
    assert budget.held == 30
    budget.stop()


async def test_under_the_limit_nothing_is_dropped_and_drained_clients_are_forgotten() -> None:
    dropped: list[object] = []
    budget = BacklogBudget(100, lambda c, n: dropped.append(c))
    a = Client(60)
    budget.backlogged(a, 60)  # type: ignore[arg-type]
    budget.drained(a)  # type: ignore[arg-type]
    budget.wrote(70)  # estimate 130: checked, but a drained and nothing backlogged
    await asyncio.sleep(0)
    assert dropped == [] and budget.held == 0
    budget.stop()
