"""Running `wscli serve` as a process: event loop choice, signals, graceful shutdown.

:func:`run` serves a :class:`~wscli.serve.server.ChatServer` until SIGINT or SIGTERM, then closes
every client with 1001 (bounded in time); a second signal aborts every connection at once
and surfaces as KeyboardInterrupt (the CLI exits 130).
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable
from typing import cast

from wscli.core.errors import UsageProblem
from wscli.serve import fdlimit
from wscli.serve.config import ServeConfig
from wscli.serve.hub import Backplane
from wscli.serve.log import EventLog
from wscli.serve.server import ChatServer

ReadyCallback = Callable[[ChatServer], None]


def run(
    config: ServeConfig,
    log: EventLog,
    *,
    backplane: Backplane | None = None,
    ready: ReadyCallback | None = None,
    loop: str = "auto",
) -> None:
    """Serve until SIGINT/SIGTERM (graceful: 1001 to every client); a second one is at once.

    ``loop``: ``auto`` uses uvloop when installed (the ``speed`` extra), ``uvloop`` requires
    it, ``asyncio`` never uses it. Raises KeyboardInterrupt after a second signal. The
    soft file-descriptor limit is raised to the hard one first (or set to
    ``config.max_fds``): see :func:`wscli.serve.fdlimit.raise_limit`.
    """
    factory = _loop_factory(loop)
    fd_limit = fdlimit.raise_limit(config.max_fds)  # soft to hard (issue 14)

    async def main() -> None:
        running = asyncio.get_running_loop()
        stop = asyncio.Event()
        task = asyncio.current_task()
        assert task is not None
        chat = ChatServer(config, log, backplane, fd_limit)
        signals = 0

        def on_signal() -> None:
            nonlocal signals
            signals += 1
            if signals == 1:
                stop.set()
            else:
                chat.abort_all()
                task.cancel()

        for signum in (signal.SIGINT, signal.SIGTERM):
            running.add_signal_handler(signum, on_signal)
        try:
            await chat.start()
            try:
                if ready is not None:
                    ready(chat)
                await stop.wait()
            finally:
                await chat.shutdown()
        except asyncio.CancelledError:
            if signals > 1:
                raise KeyboardInterrupt from None
            raise

    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(main())
    else:  # pragma: no cover - Python 3.10
        if factory is not None:
            asyncio.set_event_loop_policy(_uvloop_policy())
        asyncio.run(main())


def _loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise UsageProblem(
                "--loop uvloop: uvloop is not installed",
                hint="pip install 'wscli-toolkit[speed]'",
            ) from None
        return None
    return cast(Callable[[], asyncio.AbstractEventLoop], uvloop.new_event_loop)


def _uvloop_policy() -> asyncio.AbstractEventLoopPolicy:  # pragma: no cover - Python 3.10
    import uvloop

    return cast(asyncio.AbstractEventLoopPolicy, uvloop.EventLoopPolicy())
