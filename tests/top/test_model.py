"""wscli.top.model: rates, resets, quantiles, the last minute and the busiest rooms."""

from __future__ import annotations

import pytest

from tests.top.top_helpers import busy_watch
from wscli.core.exposition import Scraped
from wscli.top.model import Snapshot, Watch, _quantile


def snap(at: float, **values: float) -> Snapshot:
    return Snapshot.of(at, [Scraped(name, {}, value) for name, value in values.items()])


def test_rate_is_per_second_between_the_two_newest() -> None:
    watch = Watch()
    watch.add(snap(0.0, x_total=10), {}, [])
    assert watch.rate("x_total") == 0  # one reading: no rate yet
    watch.add(snap(0.5, x_total=60), {}, [])
    assert watch.rate("x_total") == 100
    watch.add(snap(1.0, x_total=5), {}, [])  # the server restarted
    assert watch.rate("x_total") == 0
    assert watch.series("x_total") == [100, 0]


def test_only_the_last_minute_is_kept() -> None:
    watch = Watch()
    for n in range(200):
        watch.add(snap(n * 0.5, x_total=n), {}, [])
    assert len(watch.snapshots) <= 123
    assert watch.last_minute("x_total") == pytest.approx(120)


def test_quantiles_interpolate_within_buckets_over_the_recent_window() -> None:
    watch = busy_watch(readings=30)
    p50 = watch.quantile("wscli_fanout_delay_seconds", 0.5)
    p99 = watch.quantile("wscli_fanout_delay_seconds", 0.99)
    assert p50 is not None and p99 is not None
    assert 0.001 <= p50 <= 0.01  # half the observations are at or below 1 ms .. 10 ms
    assert 0.01 <= p99 <= 0.1
    assert Watch().quantile("wscli_fanout_delay_seconds", 0.5) is None


def test_quantile_edges() -> None:
    assert _quantile([], 0.5) is None
    assert _quantile([(1.0, 0), (float("inf"), 0)], 0.5) is None
    assert _quantile([(1.0, 0), (float("inf"), 10)], 0.5) == 1.0  # above every bound
    assert _quantile([(1.0, 10), (float("inf"), 10)], 0.5) == 0.5


def test_busiest_rooms_by_messages_per_second() -> None:
    rooms = busy_watch(rooms=8).rooms(3)
    assert [room.name for room in rooms] == ["/room-7", "/room-6", "/room-5"]
    assert rooms[0].clients == 17
    assert rooms[0].messages_per_s == pytest.approx(80 / 0.5)
    assert busy_watch(rooms=0).rooms(3) == []
