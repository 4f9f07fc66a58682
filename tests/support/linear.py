"""Helpers for the property-based tests of the parsers of peer bytes (Hypothesis).

Every such parser is checked three ways: for any input it raises only its declared error,
its output is bounded by a stated function of its input, and its time is linear in the
input. Time is checked by the ratio of two sizes within one test (n and 8n, best of a few
runs each), never against a wall-clock limit: a quadratic parser takes ~64 times as long
for 8 times the input. The time is this thread's CPU time, not the wall clock: on a
machine shared by other test runs (load 12 on 2 cores) the wall clock measured the
neighbours (8x the text: 23x the wall time, 7x the CPU time).
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable
from typing import TypeVar

from hypothesis import HealthCheck, settings

T = TypeVar("T")

SIZE_RATIO = 8
LINEAR_SLACK = 3.0
"""How much worse than exactly linear the big input may be: 8n may take up to 24 times as
long as n (a quadratic parser takes 64 times)."""
RESOLUTION = 200e-6
"""Below this the timer measures the machine, not the parser: the small input's time is
taken as at least this."""
RUNS = 3

# Timing examples build inputs of hundreds of KB: few examples (more in the nightly-style
# profile, see conftest.py), no per-example deadline.
timing = settings(
    max_examples=100 if os.environ.get("WSCLI_HYPOTHESIS_PROFILE") == "nightly" else 8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def best_time(run: Callable[[T], object], value: T) -> float:
    """The fastest of :data:`RUNS` runs of ``run(value)``, in seconds of CPU time.

    The cyclic garbage collector is off while the runs are timed: a full collection walks
    the whole test process's heap (Hypothesis's included), so one falling into the big run
    measured the heap, not the parser (fold of '0' * 32 Ki at width 4: 271 ms once, 67 ms
    alone). Nor is the heap collected before the runs: with the collector off none can fall
    into them, and in a worker that imported the whole suite a full collection costs 70-150
    ms of CPU, two an example: 2.7 s of the 3 s of the frame cutter's linearity test.
    """
    best = float("inf")
    gc.disable()
    try:
        for _ in range(RUNS):
            started = time.thread_time()
            run(value)
            best = min(best, time.thread_time() - started)
    finally:
        gc.enable()
    return best


def assert_linear(run: Callable[[T], object], make: Callable[[int], T], n: int) -> None:
    """``run(make(8n))`` takes at most :data:`LINEAR_SLACK` × 8 × ``run(make(n))``.

    ``make(k)`` builds an input of size proportional to ``k``; ``run`` may raise the
    parser's declared error (callers wrap it), which is timed like a result.
    """
    small, big = make(n), make(SIZE_RATIO * n)
    run(small)  # warm caches (rich's cell widths, regex compilation) before timing
    small_time = max(best_time(run, small), RESOLUTION)
    big_time = best_time(run, big)
    ratio = big_time / small_time
    assert ratio <= LINEAR_SLACK * SIZE_RATIO, (
        f"{SIZE_RATIO}x the input took {ratio:.1f}x the time "
        f"({small_time * 1e3:.2f} ms -> {big_time * 1e3:.2f} ms)"
    )


def quietly(run: Callable[[T], object], *errors: type[BaseException]) -> Callable[[T], object]:
    """``run`` with its declared ``errors`` swallowed (for timing either outcome)."""

    def wrapped(value: T) -> object:
        try:
            return run(value)
        except errors:
            return None

    return wrapped
