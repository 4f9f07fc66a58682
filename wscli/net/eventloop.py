"""The event loop a command runs on: uvloop when installed (the ``speed`` extra), else asyncio.

uvloop roughly halves the per-message cost of the loop's own work (socket reads, writes,
callbacks); for `wscli connect` in a pipe, that is a large part of the time per line
(issue 11: pipe throughput). It is imported only by the command that runs, so `--help`
and the prompt do not pay for it.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, cast

T = TypeVar("T")


def fast_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory when uvloop is installed; None (asyncio's default) otherwise."""
    try:
        import uvloop
    except ImportError:
        return None
    return cast(Callable[[], asyncio.AbstractEventLoop], uvloop.new_event_loop)


def run_fast(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on uvloop when it is installed."""
    factory = fast_loop_factory()
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(main)
    else:  # pragma: no cover - Python 3.10: asyncio's own loop
        return asyncio.run(main)
