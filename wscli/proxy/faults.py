"""Fault decisions of `wscli proxy`: which message to drop, how long each one waits, which
upgrade to refuse, when a connection ends.

Pure and repeatable: every connection and direction draws from its own random generator,
seeded from ``--seed``, the connection number and the direction, so the same seed gives the
same faults to the same conversation however the connections interleave.
"""

from __future__ import annotations

import random
from typing import Literal

from wscli.proxy.config import FaultConfig

Way = Literal["up", "down"]
"""``up``: client → server; ``down``: server → client."""


def _rng(seed: int, *parts: object) -> random.Random:
    return random.Random(":".join(str(part) for part in (seed, *parts)))


class Faults:
    """The fault plan of one proxy run."""

    def __init__(self, config: FaultConfig, seed: int | None = None) -> None:
        self.config = config
        chosen = seed if seed is not None else config.seed
        if chosen is None:
            chosen = random.SystemRandom().randrange(2**31)
        self.seed: int = chosen

    def refuse(self, connection: int) -> bool:
        """True when this connection's upgrade is answered 503 (``--refuse``)."""
        rate = self.config.refuse
        return rate > 0 and _rng(self.seed, connection, "refuse").random() < rate

    def direction(self, connection: int, way: Way) -> DirectionFaults:
        """The message faults of one direction of one connection."""
        return DirectionFaults(self.config, _rng(self.seed, connection, way))


class DirectionFaults:
    """Drop, delay and throttle decisions for the messages of one direction, in order."""

    def __init__(self, config: FaultConfig, rng: random.Random) -> None:
        self.config = config
        self.rng = rng
        self.link_free_at = 0.0  # when the throttled link has sent what it was given

    def drop(self) -> bool:
        """True when the next message is dropped (``--drop``)."""
        rate = self.config.drop
        return rate > 0 and self.rng.random() < rate

    def delay(self) -> float:
        """Seconds the next message waits: ``--delay`` ± up to ``--jitter``, never < 0."""
        delay, jitter = self.config.delay, self.config.jitter
        if jitter > 0:
            delay += self.rng.uniform(-jitter, jitter)
        return max(0.0, delay)

    def send_time(self, now: float, size: int) -> float:
        """When a ``size``-byte message may leave a link throttled to ``--throttle`` B/s.

        The link sends one message after another: each occupies it for size/rate seconds.
        """
        rate = self.config.throttle
        if rate is None:
            return now
        start = max(now, self.link_free_at)
        self.link_free_at = start + size / rate
        return start
