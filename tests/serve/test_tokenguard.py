"""wscli.serve.tokenguard: per-address buckets of wrong tokens, driven by a fake clock, and
the per-second report."""

from __future__ import annotations

from tests.support import until
from wscli.serve.tokenguard import TokenGuard, address_key, report_line


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_addresses_are_counted_per_ipv4_address_and_per_ipv6_64() -> None:
    assert address_key("192.0.2.7") == "192.0.2.7"
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::2")
    assert address_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert address_key("fe80::1%eth0") == "fe80::/64"


async def test_a_bucket_empties_refills_and_is_per_address() -> None:
    clock = Clock()
    reports: list[dict[str, object]] = []
    guard = TokenGuard(reports.append, burst=3, seconds_per_failure=6, clock=clock)
    for _ in range(3):
        assert not guard.throttled("10.0.0.1")
        guard.failed("10.0.0.1", "upgrade")
    assert guard.throttled("10.0.0.1") and guard.retry_after("10.0.0.1") == 6
    assert not guard.throttled("10.0.0.2")  # another address is not held up
    clock.now = 5.9
    assert guard.throttled("10.0.0.1")
    clock.now = 6.0
    assert not guard.throttled("10.0.0.1")  # one more guess after 6 s
    guard.failed("10.0.0.1", "admission")
    assert guard.throttled("10.0.0.1")
    guard.close()
    assert reports == [
        {
            "failed": 4,
            "upgrade": 3,
            "admission": 1,
            "metrics": 0,
            "throttled": 3,
            "addresses": 1,
            "top": "10.0.0.1",
            "top_failed": 4,
        }
    ]


async def test_buckets_are_bounded_and_forgotten_when_full_again() -> None:
    clock = Clock()
    guard = TokenGuard(lambda _: None, burst=1, max_addresses=100, clock=clock)
    for n in range(1000):
        guard.failed(f"10.0.{n // 256}.{n % 256}", "upgrade")
    assert guard.tracked == 100
    assert guard.throttled("10.0.3.231") and not guard.throttled("10.0.0.0")  # oldest gone
    clock.now = 1000.0
    assert not guard.throttled("10.0.3.231")
    assert guard.tracked == 99  # full again: forgotten
    guard.close()


async def test_one_report_per_second_while_wrong_tokens_come() -> None:
    reports: list[dict[str, object]] = []
    guard = TokenGuard(reports.append, window=0.05)
    for _ in range(5):
        guard.failed("127.0.0.1", "upgrade")
    await until(lambda: bool(reports), "the first window reported")
    guard.failed("127.0.0.1", "admission")
    await until(lambda: len(reports) == 2, "the second window reported")
    assert [r["failed"] for r in reports] == [5, 1]


def test_report_line() -> None:
    event = {
        "failed": 1200,
        "upgrade": 200,
        "admission": 1000,
        "metrics": 0,
        "throttled": 3100,
        "addresses": 2,
        "top": "192.0.2.7",
        "top_failed": 1190,
    }
    assert report_line(event) == (
        "refused 1,200 invalid tokens in the last second (200 upgrades, 1000 /admission) from "
        "2 addresses, most from 192.0.2.7 (1190); 3,100 token checks answered 429 (too many "
        "wrong tokens)"
    )
