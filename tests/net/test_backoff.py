"""wscli.net.backoff: capped exponential delays with equal jitter."""

from __future__ import annotations

from wscli.net.backoff import backoff_delays


def test_backoff_grows_with_equal_jitter_up_to_cap() -> None:
    low = backoff_delays(0.5, 2, 4, rng=lambda: 0.0)
    high = backoff_delays(0.5, 2, 4, rng=lambda: 1.0)
    assert [next(low) for _ in range(5)] == [0.25, 0.5, 1.0, 2.0, 2.0]
    assert [next(high) for _ in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]


def test_half_of_each_delay_is_fixed() -> None:
    """Equal jitter: never below half the step (full jitter could retry at once)."""
    delays = backoff_delays(0.25, 2, 5)
    steps = [0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    for step in steps:
        assert step / 2 <= next(delays) <= step


def test_an_initial_delay_above_the_cap_is_capped() -> None:
    assert next(backoff_delays(10, 2, 4, rng=lambda: 1.0)) == 4
