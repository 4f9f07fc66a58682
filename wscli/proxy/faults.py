"""Fault decisions of `wscli proxy`: which message to drop, how long each one waits, which
upgrade to refuse, from the rules in force (:mod:`wscli.proxy.rules`).

Repeatable: every connection and direction draws from its own random generator, seeded from
``--seed``, the connection number and the direction, so the same seed gives the same faults
to the same conversation however the connections interleave (as long as the rules are the
command line's: a rule added while it runs draws from the same generators from then on).
"""

from __future__ import annotations

import dataclasses
import random
from typing import Literal

from wscli.proxy.rules import Rule, Rules

Way = Literal["up", "down"]
"""``up``: client → server; ``down``: server → client."""


def _rng(seed: int, *parts: object) -> random.Random:
    return random.Random(":".join(str(part) for part in (seed, *parts)))


class Faults:
    """The fault plan of one proxy run: its rules and its seed."""

    def __init__(self, rules: Rules, seed: int | None = None) -> None:
        self.rules = rules
        if seed is None:
            seed = random.SystemRandom().randrange(2**31)
        self.seed: int = seed

    def refuse(self, connection: int, path: str) -> Rule | None:
        """The refuse rule that answers this upgrade (None: not refused)."""
        found = self.rules.for_path("refuse", path)
        if not found:
            return None
        rule = max(found, key=lambda r: r.rate)
        drawn = _rng(self.seed, connection, "refuse").random()
        return rule if rule.rate > 0 and drawn < rule.rate else None

    def direction(self, connection: int, way: Way, path: str) -> DirectionFaults:
        """The message faults of one direction of one connection."""
        return DirectionFaults(self.rules, way, path, _rng(self.seed, connection, way))


@dataclasses.dataclass(frozen=True)
class Plan:
    """What happens to one message: dropped (by which rule), or its delay (None: none)."""

    dropped_by: Rule | None = None
    delay: float | None = None


_NO_FAULT = Plan()


class DirectionFaults:
    """Drop, delay and throttle decisions for the messages of one direction, in order,
    from the rules in force when each message starts."""

    def __init__(self, rules: Rules, way: Way, path: str, rng: random.Random) -> None:
        self.rules = rules
        self.way = way
        self.path = path
        self.rng = rng
        self.link_free_at = 0.0  # when the throttled link has sent what it was given
        self.version = -1
        self.drops: tuple[Rule, ...] = ()
        self.delays: tuple[Rule, ...] = ()
        self.throttle: int | None = None

    def _refresh(self) -> None:
        rules = self.rules
        if rules.version == self.version:
            return
        self.version = rules.version
        matching = rules.matching(self.way, self.path)
        self.drops = tuple(r for r in matching if r.fault == "drop" and r.rate > 0)
        self.delays = tuple(r for r in matching if r.fault == "delay")
        rates = [r.bytes_per_second for r in matching if r.fault == "throttle"]
        self.throttle = min(rates) if rates else None

    @property
    def timed(self) -> bool:
        """True when messages wait before they are forwarded (a delay or throttle rule)."""
        self._refresh()
        return bool(self.delays) or self.throttle is not None

    def message(self) -> Plan:
        """The plan of the next message: drop rules draw first, then the delays."""
        self._refresh()
        if not self.drops and not self.delays:
            return _NO_FAULT
        for rule in self.drops:
            if self.rng.random() < rule.rate:
                return Plan(dropped_by=rule)
        if not self.delays:
            return _NO_FAULT
        delay = 0.0
        for rule in self.delays:
            delay += rule.delay
            if rule.jitter > 0:
                delay += self.rng.uniform(-rule.jitter, rule.jitter)
        return Plan(delay=max(0.0, delay))

    def send_time(self, now: float, size: int) -> float:
        """When a ``size``-byte message may leave a link throttled to the throttle rule's
        bytes per second: the link sends one message after another, each occupying it for
        size/rate seconds."""
        self._refresh()
        rate = self.throttle
        if rate is None:
            return now
        start = max(now, self.link_free_at)
        self.link_free_at = start + size / rate
        return start
