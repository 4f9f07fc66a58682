"""`wscli serve` at the file-descriptor limit, with real processes and sockets.

The server runs under a small ``RLIMIT_NOFILE`` (as ``ulimit -Sn 256 -Hn 256`` would set it);
raw clients open connections in one burst. The clients that fit get 101, the others a quick
503 with Retry-After — none waits in the kernel's queue — the log says so once, /healthz
says "degraded", and once the clients leave new ones get in again; on both event loops.
The accept failure path (EMFILE) is driven in-process: the test process lowers its own
soft limit under an :class:`~wscli.serve.acceptor.Acceptor` and fills it up.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import math
import os
import re
import resource
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support import IN_CI, OPEN_TIMEOUT, growth, scaled, until
from tests.support.serve_process import ServeProcess
from wscli.serve import acceptor, fdlimit

UPGRADE = (
    b"GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
HEALTH = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
REPORT = re.compile(
    r"out of file descriptors: [\d,]+ open, limit (?P<limit>[\d,]+); (?P<refused>[\d,]+) "
    r"connections? refused in the last second — raise ulimit -n or --max-clients"
)


def _can_open_many() -> bool:
    """Whether this process may have the 2,200 descriptors its clients need (its hard
    limit allows it, or it may raise the hard limit: root)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return hard == resource.RLIM_INFINITY or hard >= 2200 or os.geteuid() == 0


pytestmark = pytest.mark.skipif(
    not _can_open_many() and not IN_CI,
    reason="needs a hard RLIMIT_NOFILE of 2,200 or more for the test's own clients",
)


@pytest.fixture(autouse=True)
def many_descriptors() -> Iterator[None]:
    """This process opens up to 1,000 sockets at once: raise its own limits."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    new_hard = hard if hard == resource.RLIM_INFINITY or hard >= 4096 else 4096
    wanted = 4096 if new_hard == resource.RLIM_INFINITY else min(4096, new_hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), new_hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def loops() -> list[str]:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        if not IN_CI:
            return ["asyncio"]
    return ["asyncio", "uvloop"]


@dataclasses.dataclass
class Answer:
    status: int
    head: bytes
    body: bytes
    waited: float
    writer: asyncio.StreamWriter


async def ask(port: int, request: bytes = UPGRADE, tls: ssl.SSLContext | None = None) -> Answer:
    """Send ``request`` on a new connection; the answer and how long it took to come."""
    started = time.monotonic()
    connecting = asyncio.open_connection("127.0.0.1", port, ssl=tls)
    reader, writer = await asyncio.wait_for(connecting, scaled(OPEN_TIMEOUT))
    writer.write(request)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), scaled(OPEN_TIMEOUT))
    waited = time.monotonic() - started
    body = b""
    if not head.startswith(b"HTTP/1.1 101"):
        # Read to the end, but do not close: the server must free the descriptor of a
        # refusal by itself, whatever the client does.
        body = await asyncio.wait_for(reader.read(), scaled(5))
    return Answer(int(head.split()[1]), head, body, waited, writer)


async def ask_until(port: int, request: bytes, accept: Callable[[Answer], bool]) -> Answer:
    """Ask again (a few times a second) until ``accept`` likes the answer; bounded."""
    deadline = time.monotonic() + scaled(5)
    while True:
        answer = await ask(port, request)
        if accept(answer) or time.monotonic() > deadline:
            return answer
        answer.writer.close()
        await asyncio.sleep(0.2)


def close_all(answers: list[Answer]) -> None:
    for answer in answers:
        answer.writer.close()


@pytest.mark.parametrize("loop", loops())
async def test_at_the_limit_clients_get_a_quick_503_and_get_in_again_later(loop: str) -> None:
    with ServeProcess("--loop", loop, nofile=(256, 256)) as server:
        started = time.monotonic()
        answers = await asyncio.gather(*(ask(server.port) for _ in range(400)))
        burst = time.monotonic() - started
        try:
            statuses = [a.status for a in answers]
            admitted = statuses.count(101)
            assert 190 <= admitted <= 240, statuses  # the margin is kept free
            assert statuses.count(503) == 400 - admitted
            # In arrival order: the clients that fit first, then the refusals.
            assert statuses[:180] == [101] * 180
            refused = [a for a in answers if a.status == 503]
            assert all(b"\r\nRetry-After: 5\r\n" in a.head for a in refused)
            assert all(a.body == fdlimit.REFUSAL_TEXT.encode() for a in refused)
            # Nobody waits unanswered (the handshake timeout, 10 s): 0.3-0.5 s for the
            # slowest of the burst on an idle machine (client and server share its two
            # cores), 2.6 s beside another suite at load 18.
            assert max(a.waited for a in answers) < scaled(5.0)

            assert server.wait_for_stderr(REPORT, timeout=10) is not None, server.stderr
            await asyncio.sleep(scaled(1.5))
            # One line per second of the burst (one, unless the machine is very busy), with
            # every refusal counted.
            reports = list(REPORT.finditer(server.stderr))
            assert 1 <= len(reports) <= 1 + math.ceil(burst / fdlimit.WINDOW), server.stderr
            assert all(report["limit"] == "256" for report in reports)
            assert sum(int(report["refused"]) for report in reports) == 400 - admitted

            health = await ask(server.port, HEALTH)  # refused too, with the document
            assert health.status == 503
            document = json.loads(health.body)
            assert document["status"] == "degraded"
            assert document["clients"] == admitted
            assert document["fds"]["limit"] == 256
            assert 256 - 2 * fdlimit.MARGIN <= document["fds"]["open"] < 256
        finally:
            close_all(answers)

        again = await ask_until(server.port, UPGRADE, lambda a: a.status == 101)
        assert again.status == 101
        again.writer.close()
        health = await ask_until(server.port, HEALTH, lambda a: b'"ok"' in a.body)
        assert health.status == 200
        assert json.loads(health.body)["status"] == "ok"
        assert "Traceback" not in server.stderr


@pytest.mark.parametrize("loop", loops())
async def test_the_soft_limit_is_raised_to_the_hard_one_and_1000_clients_get_in(
    loop: str,
) -> None:
    with ServeProcess("-v", "--loop", loop, nofile=(256, 4096)) as server:
        banner = server.wait_for_stderr(re.compile("file descriptors: .*"), timeout=5)
        assert banner is not None and banner[0] == "file descriptors: limit 4,096 (raised from 256)"
        answers = await asyncio.gather(*(ask(server.port) for _ in range(1000)))
        try:
            assert [a.status for a in answers] == [101] * 1000
            health = await ask(server.port, HEALTH)
            document = json.loads(health.body)
            assert document["status"] == "ok"
            assert document["fds"]["limit"] == 4096
            assert 1000 < document["fds"]["open"] < 1100
        finally:
            close_all(answers)
        assert REPORT.search(server.stderr) is None


async def test_max_fds_sets_the_limit_and_says_so() -> None:
    with ServeProcess("-v", "--max-fds", "100", nofile=(256, 256)) as server:
        banner = server.wait_for_stderr(re.compile("file descriptors: .*"), timeout=5)
        assert banner is not None and banner[0] == "file descriptors: limit 100 (lowered from 256)"
        answers = await asyncio.gather(*(ask(server.port) for _ in range(100)))
        try:
            admitted = [a.status for a in answers].count(101)
            assert 60 <= admitted < 100 - fdlimit.MARGIN
        finally:
            close_all(answers)


async def test_tls_clients_are_refused_over_tls(tmp_path: Path) -> None:
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(tmp_path / "both.pem")
    context = ssl.create_default_context()
    ca.configure_trust(context)
    with ServeProcess("--certfile", str(tmp_path / "both.pem"), "--max-fds", "64") as server:
        answers = await asyncio.gather(*(ask(server.port, tls=context) for _ in range(60)))
        try:
            statuses = [a.status for a in answers]
            admitted = statuses.count(101)
            assert 20 <= admitted < 64 - 16 and statuses[:20] == [101] * 20
            assert statuses.count(503) == 60 - admitted
            # /healthz says "degraded" within 1 s of a refusal, and while there is no room.
            # At load the refusals' own descriptors turned clients away and left room behind,
            # and the next TLS handshake took longer than 1 s: fill that room first.
            for _ in range(64):
                answers.append(await ask(server.port, tls=context))
                if answers[-1].status == 503:
                    break
            health = await ask(server.port, HEALTH, tls=context)
            assert health.status == 503 and json.loads(health.body)["status"] == "degraded"
        finally:
            close_all(answers)
        assert server.wait_for_stderr(REPORT, timeout=10) is not None


# The accept failure path, in this process: real sockets, the real limit.


@contextlib.contextmanager
def soft_limit(limit: int) -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


class Quiet(asyncio.Protocol):
    """A client protocol that does nothing but report its end, as the server's does."""

    def __init__(self, guard: fdlimit.FdGuard) -> None:
        self.guard = guard

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.closed()


def run_on(loop_name: str, coro: Callable[[], object]) -> None:
    if loop_name == "uvloop":
        import uvloop

        uvloop.run(coro())  # type: ignore[arg-type]
    else:
        asyncio.run(coro())  # type: ignore[arg-type]


@pytest.mark.parametrize("loop_name", loops())
def test_accept_failing_with_emfile_is_reported_once_and_accepting_resumes(
    loop_name: str,
) -> None:
    reports: list[tuple[int, int | None, int]] = []

    async def main() -> None:
        reported = asyncio.Event()

        def report(*args: Any) -> None:
            reports.append(args)
            reported.set()

        # The budget believes there is room: something else takes the descriptors. The
        # window (scaled) outlasts the starved episode below, so it all counts in one.
        guard = fdlimit.FdGuard(fdlimit.FdBudget(None), report, window=scaled(0.3))
        listening = acceptor.listen("127.0.0.1", 0)
        port = listening[0].getsockname()[1]
        accept = acceptor.Acceptor(listening, lambda: Quiet(guard), guard, dict)
        accept.start()
        fillers: list[int] = []
        # Queued by the kernel (the loop does not run before the sleep below).
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(5)]
        try:
            with soft_limit((fdlimit.count_open() or 0) + 8):
                with contextlib.suppress(OSError):
                    while True:
                        fillers.append(os.open(os.devnull, os.O_RDONLY))
                await until(lambda: guard.degraded)  # every accept() fails: EMFILE
                # Starved a while longer: the acceptor retries every PAUSE (20 ms), about
                # 5 times, each failing alike.
                await asyncio.sleep(5 * acceptor.PAUSE)
                assert guard.budget.connections == 0
                for fd in fillers:
                    os.close(fd)
                fillers.clear()
                # All accepted once descriptors are freed.
                await until(lambda: guard.budget.connections == 5, "5 clients accepted")
            # The report comes a window after the episode's first refusal; nothing could
            # follow it: the acceptor took its clients, no accept() fails any more.
            await asyncio.wait_for(reported.wait(), scaled(5))
            # One line for the episode, however many retries. Its count is 1, or 2 when a
            # descriptor the test does not own (the test runner's own threads) closes and
            # reopens mid-episode: seen at load 16-24, never 15.
            assert len(reports) == 1 and reports[0][2] in (1, 2), reports
            assert guard.budget.connections == 5
        finally:
            for fd in fillers:
                os.close(fd)
            for client in clients:
                client.close()
            accept.close()

    run_on(loop_name, main)


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


@pytest.mark.parametrize("loop_name", loops())
def test_refusals_answer_silent_clients_and_huge_heads_in_bounded_time(
    loop_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The timer under test, short: a silent client is answered when it runs out, whatever
    # its length (1 s by default; the test waited it out twice).
    monkeypatch.setattr(acceptor, "REFUSAL_TIMEOUT", 0.2)
    results: dict[str, bytes] = {}
    waits: dict[str, float] = {}

    async def main() -> None:
        # A budget that is already full: every client is refused.
        budget = fdlimit.FdBudget(100, counter=lambda: 90)
        guard = fdlimit.FdGuard(budget, lambda *args: None)
        listening = acceptor.listen("127.0.0.1", 0)
        port = listening[0].getsockname()[1]
        accept = acceptor.Acceptor(listening, asyncio.Protocol, guard, lambda: {"status": "x"})
        accept.start()
        requests = {
            "silent": b"",
            "huge": b"GET /" + b"a" * 100_000,  # never ends its head: read 8 KB, answered
            "health-head": b"HEAD /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
            # The Host check applies here too: no health document for a rebinding page.
            "health-foreign": b"GET /healthz HTTP/1.1\r\nHost: rebind.attacker.example\r\n\r\n",
            "health-no-host": b"GET /healthz HTTP/1.1\r\n\r\n",
        }

        def client(name: str) -> None:
            started = time.monotonic()
            with socket.create_connection(("127.0.0.1", port), timeout=scaled(5)) as sock:
                with contextlib.suppress(OSError):  # the rest of a huge head: reset
                    sock.sendall(requests[name])
                with contextlib.suppress(ConnectionResetError):
                    results[name] = _read_all(sock)
            waits[name] = time.monotonic() - started

        try:
            await asyncio.gather(*(asyncio.to_thread(client, name) for name in requests))
            await until(lambda: budget.connections == 0)  # every refusal closed, counted out
        finally:
            accept.close()

    run_on(loop_name, main)
    assert results["silent"].startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert acceptor.REFUSAL_TIMEOUT <= waits["silent"] < acceptor.REFUSAL_TIMEOUT + scaled(1)
    # A head that never ends: answered after 8 KB (the unread rest may turn the close into
    # a reset before the client reads the answer), but never left waiting.
    assert waits["huge"] < scaled(1)
    head = results["health-head"]
    assert head.startswith(b"HTTP/1.1 503") and head.endswith(b"\r\n\r\n")  # no body
    length = len(json.dumps({"status": "x"}))
    assert f"Content-Length: {length}\r\n".encode() in head  # that of the GET answer
    for name in ("health-foreign", "health-no-host"):
        assert results[name].startswith(b"HTTP/1.1 503 Service Unavailable\r\n"), name
        assert results[name].endswith(fdlimit.REFUSAL_TEXT.encode()), name


@given(st.binary(max_size=600))
def test_the_host_of_any_head_is_one_value_or_none(head: bytes) -> None:
    host = acceptor.request_host(head)
    assert host is None or len(host) <= len(head)


def test_the_host_of_a_head() -> None:
    assert (
        acceptor.request_host(b"GET / HTTP/1.1\r\nhOST:  a.example:80 \r\n\r\n") == "a.example:80"
    )
    assert acceptor.request_host(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") is None
    assert acceptor.request_host(b"GET / HTTP/1.1\r\nX-Host: a\r\n\r\n") is None
    assert growth(lambda n: acceptor.request_host(b"\r\nhost:" * n), 5000) < 24
