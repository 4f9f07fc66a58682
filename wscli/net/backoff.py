"""Capped exponential backoff with equal jitter: the one reconnection delay of every command.

Delay n is uniform in [d/2, d], with d = initial·factorⁿ capped at ``cap``: half of each
delay is fixed (so retries never hammer a server that just came back), half is random (so
many clients that lost the same server do not come back in lockstep). This is what AWS's
"Exponential Backoff And Jitter" calls *equal* jitter; *full* jitter would draw from
[0, d] and can retry at once.

Used by `wscli connect --reconnect` and by the Redis backplane of `wscli serve`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator


def backoff_delays(
    initial: float = 0.5,
    factor: float = 2.0,
    cap: float = 30.0,
    rng: Callable[[], float] = random.random,
) -> Iterator[float]:
    """Endless delays in seconds: equal jitter, n-th uniform in [d/2, d], d = initial·factorⁿ."""
    delay = min(initial, cap)
    while True:
        yield delay / 2 + rng() * delay / 2
        delay = min(delay * factor, cap)
