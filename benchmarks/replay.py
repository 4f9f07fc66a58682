"""How fast `wscli replay` plays a long recording, and how the control API of `wscli proxy`
answers, measured in one run.

- replay: a 10-minute chat recording (a message every --every seconds, echoed by the
  server, as `wscli proxy --record` writes it) replayed with --speed 100 against a
  `wscli serve` started here (the client side), and by a mock server (`wscli replay --port 0
  --expect --once --speed 100`) to a client replaying the same file (both sides paced). The
  target: ≤ 7 s (600 s / 100 = 6 s of recorded time, plus starting the processes).
- control: a proxy with --control; each of --requests changes of a fault rule (PATCH over a
  new connection, as curl does) is timed from request to answer; the change is in force
  once the answer is sent (the next frame follows it), so that round trip is how soon a
  change applies. p50/p99/max are printed.

Everything listens on 127.0.0.1 with kernel-chosen ports; every process is started here and
stopped by its PID. Numbers are noisy on a shared machine: the load average is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _wscli() -> list[str]:
    script = Path(sys.executable).parent / "wscli"
    return [str(script)] if script.exists() else [shutil.which("wscli") or "wscli"]


def write_recording(path: Path, minutes: float, every: float) -> int:
    """A chat of ``minutes`` minutes: one client message every ``every`` seconds, each
    echoed by the server 5 ms later; then the client closes. Returns the step count."""
    events = [
        {"event": "listening", "time": "2026-01-01T00:00:00.000Z", "t": 0.0, "seed": None},
        {
            "event": "open",
            "time": "2026-01-01T00:00:00.000Z",
            "t": 0.0,
            "connection": 1,
            "path": "/bench",
            "client": "127.0.0.1:1",
            "url": "ws://127.0.0.1:1/bench",
            "subprotocol": None,
            "extensions": [],
            "headers": {},
        },
    ]
    t, n = 0.5, 0
    while t < minutes * 60:
        for side, at in (("client", t), ("server", t + 0.005)):
            events.append(
                {
                    "event": "message",
                    "time": "2026-01-01T00:00:00.000Z",
                    "t": at,
                    "connection": 1,
                    "from": side,
                    "direction": "out" if side == "client" else "in",
                    "type": "text",
                    "text": f"message {n}",
                    "length": len(f"message {n}"),
                }
            )
        t += every
        n += 1
    events.append(
        {
            "event": "close",
            "time": "2026-01-01T00:00:00.000Z",
            "t": minutes * 60,
            "connection": 1,
            "code": 1000,
            "reason": "",
            "by": "client",
        }
    )
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return len(events) - 2


def _start(args: list[str], banner: str) -> tuple[subprocess.Popen[bytes], re.Match[str]]:
    proc = subprocess.Popen(
        [*_wscli(), *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=False
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    seen = b""
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        seen += line
        found = re.search(banner, line.decode())
        if found:
            return proc, found
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise SystemExit(f"{args[0]} did not start: {seen.decode()}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


Timing = tuple[float, float]
"""(seconds from start to exit, seconds from the banner, after start-up, to exit)."""


def _replay_client(recording: Path, url: str, speed: float) -> Timing:
    start = time.monotonic()
    proc = subprocess.Popen(
        [*_wscli(), "replay", str(recording), "--to", url, "--speed", str(speed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None and proc.stdout is not None
    proc.stderr.readline()  # the banner: the process has started and read the recording
    started = time.monotonic()
    out = proc.stdout.read()
    proc.wait(120)
    end = time.monotonic()
    if proc.returncode != 0:
        raise SystemExit(f"replay to {url}: {out!r} {proc.stderr.read()!r}")
    return end - start, end - started


def replay_times(recording: Path, speed: float) -> tuple[Timing, Timing]:
    """Timings of (client against wscli serve, client against the mock server)."""
    serve, found = _start(["serve", "--port", "0"], r"ws://127\.0\.0\.1:(\d+)/")
    try:
        against_serve = _replay_client(recording, f"ws://127.0.0.1:{found[1]}", speed)
    finally:
        _stop(serve)
    mock, found = _start(
        ["replay", str(recording), "--port", "0", "--expect", "--once", "--speed", str(speed)],
        r"on ws://127\.0\.0\.1:(\d+)",
    )
    try:
        against_mock = _replay_client(recording, f"ws://127.0.0.1:{found[1]}", speed)
        if mock.wait(30) != 0:
            raise SystemExit("the mock server found a difference")
    finally:
        _stop(mock)
    return against_serve, against_mock


def control_times(requests: int) -> list[float]:
    """Seconds from request to answer of ``requests`` PATCHes of a fault rule."""
    proxy, found = _start(
        ["proxy", "ws://127.0.0.1:9", "--port", "0", "--control", "0", "--drop", "0.5"],
        r"control API on http://127\.0\.0\.1:(\d+)/",
    )
    port = int(found[1])
    times = []
    try:
        for n in range(requests):
            body = json.dumps({"rate": (n % 10) / 10}).encode()
            request = (
                f"PATCH /faults/1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body
            start = time.perf_counter()
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(request)
                answer = b""
                while chunk := sock.recv(65536):
                    answer += chunk
            times.append(time.perf_counter() - start)
            if not answer.startswith(b"HTTP/1.1 200 "):
                raise SystemExit(f"control API: {answer!r}")
    finally:
        _stop(proxy)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--every", type=float, default=1.0, help="seconds between messages")
    parser.add_argument("--speed", type=float, default=100.0)
    parser.add_argument("--requests", type=int, default=200)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        recording = Path(folder) / "long.ndjson"
        steps = write_recording(recording, options.minutes, options.every)
        serve_s, mock_s = replay_times(recording, options.speed)
    recorded = options.minutes * 60
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(
        f"replay of {recorded:.0f} s ({steps} steps) at --speed {options.speed:g}: "
        f"ideal {recorded / options.speed:.2f} s"
    )
    print("                                 total   after start-up")
    print(f"  client against wscli serve     {serve_s[0]:6.2f} s {serve_s[1]:6.2f} s")
    print(f"  client against the mock server {mock_s[0]:6.2f} s {mock_s[1]:6.2f} s")
    times = sorted(control_times(options.requests))
    p50, p99 = times[len(times) // 2], times[int(len(times) * 0.99) - 1]
    print(
        f"control API, {len(times)} PATCH requests (new connection each): "
        f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, max {times[-1] * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
