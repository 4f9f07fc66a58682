"""wscli.connect.session: the glue shared by the pipe and the prompt."""

from __future__ import annotations

import asyncio

import pytest

from wscli.connect.session import cancel_and_wait


async def test_cancel_and_wait_ends_the_tasks_whatever_they_raise() -> None:
    async def fails() -> None:
        raise ValueError("boom")

    failing = asyncio.ensure_future(fails())
    sleeping = asyncio.ensure_future(asyncio.sleep(60))
    await asyncio.sleep(0)
    await cancel_and_wait(failing, sleeping)
    assert sleeping.cancelled()
    assert isinstance(failing.exception(), ValueError)


async def test_cancel_and_wait_never_swallows_the_callers_own_cancellation() -> None:
    # A task that takes a moment to end after being cancelled keeps the caller waiting;
    # cancelling the caller then (Ctrl-C, a deadline) must cancel the caller.
    async def slow_to_end() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            await asyncio.shield(asyncio.sleep(0.2))

    async def caller() -> str:
        inner = asyncio.ensure_future(slow_to_end())
        await asyncio.sleep(0)
        await cancel_and_wait(inner)
        return "went on as if not cancelled"

    outer = asyncio.ensure_future(caller())
    await asyncio.sleep(0.05)
    outer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(outer, 5)
