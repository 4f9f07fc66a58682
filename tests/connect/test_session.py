"""wscli.connect.session: the glue shared by the pipe and the prompt."""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.server import ServerConnection

from tests.support import scaled
from tests.support.connect_servers import echo, reject, running
from wscli.connect.config import SessionOptions
from wscli.connect.link import Link, WebSocketLink
from wscli.connect.session import cancel_and_wait, finish_closed, run_session
from wscli.core.clientoptions import ConnectOptions
from wscli.core.errors import ClosedAbnormally, HandshakeRejected, WscliError
from wscli.core.exitcodes import ExitCode


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


class _Recorder:
    """An Output that keeps the reconnects and errors it is told about."""

    def __init__(self) -> None:
        self.reconnects: list[tuple[int, str]] = []
        self.errors: list[tuple[str, bool]] = []

    def opened(self, link: object) -> None:
        pass

    def message(self, message: object) -> None:
        pass

    def frame(self, *args: object) -> None:
        pass

    def closed(self, *args: object) -> None:
        pass

    def error(self, error: WscliError, final: bool) -> None:
        self.errors.append((str(error), final))

    def reconnecting(
        self, attempt: int, delay: float, max_retries: int | None, reason: str = ""
    ) -> None:
        self.reconnects.append((attempt, reason))

    def redirected(self, *args: object) -> None:
        pass

    def status(self, line: str) -> None:
        pass


async def test_retry_count_restarts_only_after_a_connection_stayed_up() -> None:
    # Each connection lives `lifetimes[i]` seconds, then the server closes it with 1011.
    # Stable after 0.6 s (scaled): a quick drop must stay well under it on a busy machine
    # (with 0.15 s, a quick drop took longer beside another copy of the suite).
    stable_after = scaled(0.6)
    lifetimes = iter([0.0, 0.0, stable_after + scaled(0.3), 0.0, 0.0])

    async def short_lived(ws: ServerConnection) -> None:
        await asyncio.sleep(next(lifetimes, 0.0))
        await ws.close(1011, "going")

    async def body(link: Link) -> ExitCode:
        assert isinstance(link, WebSocketLink)
        await link.channel.wait_closed()
        return await finish_closed(link, output)

    output = _Recorder()
    with running(short_lived) as server:
        options = SessionOptions(
            connect=ConnectOptions(url=server.url),
            reconnect=True,
            max_retries=2,
            stable_after=stable_after,
        )
        with pytest.raises(ClosedAbnormally):
            await run_session(options, output, body, delays=iter([0.01] * 10))
    # 1, 2 for the two quick drops; the third connection stayed up longer than stable_after,
    # so the count restarts: 1, 2 again, then the fifth failure is final.
    assert [attempt for attempt, _ in output.reconnects] == [1, 2, 1, 2]
    assert all("1011" in reason for _, reason in output.reconnects)
    assert [final for _, final in output.errors] == [True]


async def test_not_retryable_failure_is_one_final_error() -> None:
    output = _Recorder()

    async def body(link: Link) -> ExitCode:
        raise AssertionError("never opened")

    with running(echo, process_request=reject(403)) as server:
        options = SessionOptions(connect=ConnectOptions(url=server.url), reconnect=True)
        with pytest.raises(HandshakeRejected):  # a 403 is not worth retrying
            await run_session(options, output, body, delays=iter([0.01] * 10))
    assert output.reconnects == [] and [final for _, final in output.errors] == [True]
