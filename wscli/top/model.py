"""What `wscli top` shows, computed from successive readings of ``/metrics`` (pure: no I/O).

A :class:`Snapshot` is one reading in a shape easy to ask (plain values, labelled values,
histograms); :class:`Watch` keeps the last minute of them and answers in rates (per second
between the two newest), totals over the last minute, quantiles of a histogram over the
last few seconds and the series behind the sparklines.
"""

from __future__ import annotations

import collections
import dataclasses
import math
from collections.abc import Iterable, Sequence
from typing import Any

from wscli.core.exposition import Scraped

WINDOW = 60.0
"""Seconds of history kept (the sparklines, the refusals of the last minute)."""

QUANTILE_WINDOW = 10.0
"""Seconds over which the fan-out and handshake quantiles are computed."""

MAX_ROOMS = 1000
MAX_LOG_LINES = 50


@dataclasses.dataclass
class Snapshot:
    """One reading of /metrics at ``at`` (seconds, monotonic)."""

    at: float
    plain: dict[str, float] = dataclasses.field(default_factory=dict)
    labelled: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    """For the families with one label: sample name -> label value -> value."""
    info: dict[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def of(cls, at: float, samples: Iterable[Scraped]) -> Snapshot:
        snapshot = cls(at)
        for sample in samples:
            if not sample.labels:
                snapshot.plain[sample.name] = sample.value
            elif sample.name == "wscli_build_info":
                snapshot.info = dict(sample.labels)
            elif len(sample.labels) == 1:
                (value,) = sample.labels.values()
                family = snapshot.labelled.setdefault(sample.name, {})
                if len(family) < MAX_ROOMS or value in family:
                    family[value] = sample.value
        return snapshot

    def get(self, name: str, default: float = 0.0) -> float:
        return self.plain.get(name, default)

    def has(self, name: str) -> bool:
        return name in self.plain or name in self.labelled


@dataclasses.dataclass(frozen=True)
class Room:
    """One of the busiest rooms (when the server names them: --metrics-rooms)."""

    name: str
    clients: int
    messages_per_s: float
    bytes_per_s: float


class Watch:
    """The last minute of snapshots, the health document and the log lines."""

    def __init__(self) -> None:
        self.snapshots: collections.deque[Snapshot] = collections.deque()
        self.health: dict[str, Any] = {}
        self.log: collections.deque[str] = collections.deque(maxlen=MAX_LOG_LINES)
        self.error: str | None = None  # the last read failed: why (the view says so)

    def add(self, snapshot: Snapshot, health: dict[str, Any], lines: Sequence[str]) -> None:
        self.snapshots.append(snapshot)
        while self.snapshots and snapshot.at - self.snapshots[0].at > WINDOW + 1:
            self.snapshots.popleft()
        self.health = health
        self.log.extend(lines)
        self.error = None

    @property
    def now(self) -> Snapshot | None:
        return self.snapshots[-1] if self.snapshots else None

    def _ago(self, seconds: float) -> Snapshot | None:
        """The oldest snapshot at most ``seconds`` older than the newest."""
        now = self.now
        if now is None:
            return None
        for snapshot in self.snapshots:
            if now.at - snapshot.at <= seconds:
                return snapshot
        return now

    def rate(self, name: str) -> float:
        """Per second between the two newest snapshots (0 with fewer, or after a reset)."""
        if len(self.snapshots) < 2:
            return 0.0
        return _rate(self.snapshots[-2], self.snapshots[-1], name)

    def series(self, name: str) -> list[float]:
        """The rate of ``name`` between each pair of snapshots of the last minute."""
        pairs = zip(list(self.snapshots)[:-1], list(self.snapshots)[1:], strict=True)
        return [_rate(a, b, name) for a, b in pairs]

    def last_minute(self, name: str, label: str | None = None) -> float:
        """How much counter ``name`` (its ``label`` value) grew over the last minute."""
        then, now = self._ago(WINDOW), self.now
        if then is None or now is None:
            return 0.0
        if label is None:
            grown = now.get(name) - then.get(name)
        else:
            grown = now.labelled.get(name, {}).get(label, 0.0) - then.labelled.get(name, {}).get(
                label, 0.0
            )
        return max(grown, 0.0)

    def quantile(self, name: str, q: float) -> float | None:
        """The ``q`` quantile of histogram ``name`` over the last few seconds (None: no
        observation), interpolated within a bucket as Prometheus' histogram_quantile."""
        then, now = self._ago(QUANTILE_WINDOW), self.now
        if then is None or now is None:
            return None
        buckets = now.labelled.get(f"{name}_bucket", {})
        before = then.labelled.get(f"{name}_bucket", {}) if then is not now else {}
        counts = []
        for le, value in buckets.items():
            try:
                bound = float(le)
            except ValueError:
                continue
            counts.append((bound, value - before.get(le, 0.0)))
        counts.sort()
        return _quantile(counts, q)

    def rooms(self, limit: int) -> list[Room]:
        """The busiest rooms by messages per second (then by clients)."""
        now = self.now
        if now is None or "wscli_room_messages_total" not in now.labelled:
            return []
        previous = self.snapshots[-2] if len(self.snapshots) >= 2 else now
        elapsed = now.at - previous.at or 1.0
        messages = now.labelled["wscli_room_messages_total"]
        sizes = now.labelled.get("wscli_room_bytes_total", {})
        clients = now.labelled.get("wscli_room_clients", {})
        before = previous.labelled.get("wscli_room_messages_total", {})
        before_sizes = previous.labelled.get("wscli_room_bytes_total", {})
        found = [
            Room(
                name,
                int(clients.get(name, 0)),
                max(count - before.get(name, count), 0.0) / elapsed,
                max(sizes.get(name, 0.0) - before_sizes.get(name, 0.0), 0.0) / elapsed,
            )
            for name, count in messages.items()
        ]
        found.sort(key=lambda room: (-room.messages_per_s, -room.clients, room.name))
        return found[:limit]


def _rate(a: Snapshot, b: Snapshot, name: str) -> float:
    elapsed = b.at - a.at
    grown = b.get(name) - a.get(name)
    if elapsed <= 0 or grown < 0:  # a restarted server starts its counters again
        return 0.0
    return grown / elapsed


def _quantile(buckets: Sequence[tuple[float, float]], q: float) -> float | None:
    """``q`` quantile from cumulative ``(upper bound, count)`` pairs, sorted by bound."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    total = buckets[-1][1]
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower  # above every bound: the highest finite one is all we know
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower
