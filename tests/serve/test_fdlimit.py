"""wscli.serve.fdlimit and the pure parts of wscli.serve.acceptor: data in, exact results out.

The limit itself is changed only in child processes (a process cannot raise its hard limit
again once lowered); the budget runs on a test clock and a test counter.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import pytest

from tests.support import scaled, until
from wscli.serve import acceptor, fdlimit
from wscli.serve.log import format_line


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Counter:
    """Stands in for the listing of /proc/self/fd: returns what the test says is open."""

    def __init__(self, value: int | None) -> None:
        self.value = value
        self.calls = 0

    def __call__(self) -> int | None:
        self.calls += 1
        return self.value


def test_report_line_says_the_counts_and_the_fix() -> None:
    assert fdlimit.report_line(1019, 1024, 37) == (
        "out of file descriptors: 1,019 open, limit 1,024; 37 connections refused in the "
        "last second — raise ulimit -n or --max-clients"
    )
    assert "; 1 connection refused in" in fdlimit.report_line(250, 256, 1)


def test_the_log_renders_the_fds_event_with_the_same_line() -> None:
    event = {"event": "fds", "time": "", "open": 250, "limit": 256, "refused": 3}
    assert format_line(event) == fdlimit.report_line(250, 256, 3)


def test_limit_describe_for_the_banner() -> None:
    assert fdlimit.Limit(4096, 4096, 256).describe() == (
        "file descriptors: limit 4,096 (raised from 256)"
    )
    assert (
        fdlimit.Limit(100, 256, 256).describe() == "file descriptors: limit 100 (lowered from 256)"
    )
    assert fdlimit.Limit(1024, 1024).describe() == "file descriptors: limit 1,024"
    assert fdlimit.Limit(None).describe() == "file descriptors: no limit"


def test_budget_keeps_the_margin_free() -> None:
    counter = Counter(10)
    budget = fdlimit.FdBudget(256, counter=counter, clock=Clock())
    assert budget.open == 10 and budget.margin == fdlimit.MARGIN
    for _ in range(256 - fdlimit.MARGIN - 10 - 1):
        assert budget.has_room()
        budget.opened()
    assert budget.open == 256 - fdlimit.MARGIN - 1
    assert budget.has_room()
    budget.opened()
    assert not budget.has_room()
    budget.closed()
    assert budget.has_room()
    assert budget.snapshot() == {"open": 256 - fdlimit.MARGIN - 1, "limit": 256}


def test_budget_lists_descriptors_only_near_the_limit_and_once_a_second() -> None:
    counter, clock = Counter(10), Clock()
    budget = fdlimit.FdBudget(1000, counter=counter, clock=clock)
    assert counter.calls == 1  # at start
    for _ in range(500):
        budget.opened()
        budget.has_room()
    clock.now += 5
    budget.has_room()
    assert counter.calls == 1  # far from the limit: the estimate is enough
    for _ in range(400):
        budget.opened()
    counter.value = 10 + 900 + 70  # something else opened 70 (Redis, log files)
    # By the estimate (910 open) a client fits; near the limit, the listing says 980 do.
    assert not budget.has_room()
    assert counter.calls == 2 and budget.open == 980
    counter.value = 10 + 900  # they were closed again; not looked at within the second
    assert not budget.has_room() and counter.calls == 2
    clock.now += fdlimit.RECOUNT_INTERVAL
    assert budget.has_room() and counter.calls == 3 and budget.open == 910


def test_budget_keeps_its_estimate_when_the_listing_fails() -> None:
    counter, clock = Counter(10), Clock()
    budget = fdlimit.FdBudget(64, counter=counter, clock=clock)
    assert budget.margin == 16  # a quarter of a small limit
    counter.value = None  # out of descriptors: the listing itself fails
    clock.now += 10
    budget.opened()
    assert budget.has_room() and budget.open == 11


def test_no_limit_always_has_room() -> None:
    budget = fdlimit.FdBudget(None, counter=Counter(None))
    for _ in range(100_000):
        budget.opened()
    assert budget.has_room()
    assert budget.snapshot() == {"open": 100_000, "limit": None}


def test_count_open_sees_a_new_descriptor() -> None:
    before = fdlimit.count_open()
    assert before is not None and before == len(os.listdir("/proc/self/fd")) - 1
    fd = os.open(os.devnull, os.O_RDONLY)
    try:
        assert fdlimit.count_open() == before + 1
    finally:
        os.close(fd)


async def test_guard_reports_a_burst_once_with_its_count_and_peak() -> None:
    reports: list[tuple[int, int | None, int]] = []
    budget = fdlimit.FdBudget(100, counter=Counter(70))
    # A short window (scaled): the burst must still be counted within it.
    guard = fdlimit.FdGuard(budget, lambda *args: reports.append(args), window=scaled(0.1))
    assert not guard.degraded
    for _ in range(5):
        budget.opened()
        guard.refused()
    for _ in range(5):
        budget.closed()
    assert guard.degraded and reports == []
    await until(lambda: bool(reports), "the burst reported")
    assert reports == [(75, 100, 5)]  # the most open at a refusal, not the count now
    guard.refused()
    guard.close()  # at shutdown: reported at once
    assert reports == [(75, 100, 5), (70, 100, 1)]
    # Degraded until a window after the last refusal; its timer, due no later, reported
    # nothing more.
    await until(lambda: not guard.degraded, "no longer degraded")
    assert len(reports) == 2


async def test_guard_is_degraded_while_there_is_no_room() -> None:
    budget = fdlimit.FdBudget(100, counter=Counter(90))
    guard = fdlimit.FdGuard(budget, lambda *args: None)
    assert guard.degraded and not guard.admits()


def _in_child(code: str, nofile: tuple[int, int]) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, nofile)

    return subprocess.run(
        [sys.executable, "-c", "from wscli.serve import fdlimit\n" + code],
        capture_output=True,
        text=True,
        preexec_fn=limit,
        timeout=30,
        check=False,
    )


def test_raise_limit_goes_to_the_hard_limit() -> None:
    done = _in_child(
        "import resource\n"
        "print(fdlimit.raise_limit())\n"
        "print(resource.getrlimit(resource.RLIMIT_NOFILE))",
        (256, 4096),
    )
    assert done.stdout.splitlines() == [
        "Limit(soft=4096, hard=4096, raised_from=256)",
        "(4096, 4096)",
    ], done.stderr


def test_raise_limit_to_max_fds_and_not_above_the_hard_limit() -> None:
    done = _in_child(
        "print(fdlimit.raise_limit(300))\n"
        "try:\n"
        "    fdlimit.raise_limit(5000)\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)",
        (256, 4096),
    )
    assert done.stdout.splitlines() == [
        "Limit(soft=300, hard=4096, raised_from=256)",
        "UsageProblem --max-fds 5000 is above the hard limit (4096) (hint: raise the hard "
        "limit first (ulimit -Hn, LimitNOFILE= in systemd))",
    ], done.stderr


def test_raise_limit_at_the_hard_limit_changes_nothing() -> None:
    done = _in_child("print(fdlimit.raise_limit())", (256, 256))
    assert done.stdout.strip() == "Limit(soft=256, hard=256, raised_from=None)", done.stderr


@pytest.mark.parametrize(
    ("head", "health"),
    [
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", True),
        (b"HEAD /healthz?x=1 HTTP/1.1\r\n\r\n", True),
        (b"GET /healthzz HTTP/1.1\r\n\r\n", False),
        (b"POST /healthz HTTP/1.1\r\n\r\n", False),
        (b"GET /chat HTTP/1.1\r\n\r\n", False),
        (b"", False),
        (b"\x00\xff garbage", False),
    ],
)
def test_wants_health(head: bytes, health: bool) -> None:
    assert acceptor.wants_health(head) is health


def test_refusal_response_bytes() -> None:
    assert acceptor.refusal_response(b"503 Service Unavailable", b"full\n", b"text/plain") == (
        b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 5\r\nCache-Control: no-store\r\nConnection: close\r\n\r\nfull\n"
    )
