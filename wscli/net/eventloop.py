"""The event loop a command runs on: uvloop when installed (the ``speed`` extra), else asyncio.

uvloop roughly halves the per-message cost of the loop's own work (socket reads, writes,
callbacks): for `wscli connect` in a pipe that is a large part of the time per line, and
the proxy relays about twice as many messages with it. It is imported only by the command
that runs, so `--help` and the prompt do not pay for it.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, cast

from wscli.core.errors import UsageProblem

T = TypeVar("T")


def loop_factory(choice: str = "auto") -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory as ``choice`` (``--loop``) asks; None for asyncio's own loop.

    ``auto``: uvloop when installed; ``uvloop``: required; ``asyncio``: never uvloop.

    Raises UsageProblem when ``choice`` is ``uvloop`` and it is not installed.
    """
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


def run_fast(main: Coroutine[Any, Any, T], choice: str = "auto") -> T:
    """``asyncio.run(main)`` on the loop ``choice`` asks for (uvloop when installed)."""
    factory = loop_factory(choice)
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(main)
    else:  # pragma: no cover - Python 3.10: uvloop through its policy
        if factory is not None:
            import uvloop

            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        return asyncio.run(main)
