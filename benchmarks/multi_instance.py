#!/usr/bin/env python3
"""Multi-instance benchmark: 2 instances on one Redis, subscribers split between them.

Side by side in ONE run, each on a fresh redis-server (so its CPU is the system's own):

- ``wscli serve --redis`` as in this tree (Redis Streams backplane);
- ``wscli serve --redis`` at the base commit (``--base``, default: the last commit with
  the pub/sub backplane, before Redis Streams), run from a ``git archive`` copy;
- the classic Socket.IO chat on ``@socket.io/redis-adapter`` (pub/sub) and on
  ``@socket.io/redis-streams-adapter`` (Streams): benchmarks/peers/socketio-redis.

Phases (the generator, benchmarks/wsload.c, on one core; both instances and Redis pinned
together on the other, so "everything server-side on one core"):

- fan-out: ``--subs`` subscribers, every other one on the second instance (``--port2``), the
  publisher on the first, ``--window`` messages in flight: deliveries/s (summed over all
  subscribers; half of them cross instances), and Redis CPU per 1,000 deliveries;
- latency: the same split at ``--rate`` messages/s: p50/p99;
- rooms on demand (wscli only): 50 rooms, instance A serves rooms 0-24 and B rooms 25-49,
  ``--room-messages`` per room: bytes Redis sent to each instance (``ss -ti``
  ``bytes_received`` of the instances' sockets to Redis).

Every phase is bounded in time and count; every process is stopped by its PID.

    .venv/bin/python benchmarks/multi_instance.py            # ~2 minutes
    .venv/bin/python benchmarks/multi_instance.py --quick    # ~1 minute
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PEER = HERE / "peers" / "socketio-redis"
sys.path.insert(0, str(HERE))

from fanout import (  # noqa: E402 — the sibling benchmark's helpers
    BenchError,
    build_generator,
    check_delivery,
    cpu_ticks,
    flags,
    raise_nofile,
    run_generator,
)

TICK = os.sysconf("SC_CLK_TCK")
# The last commit with the Redis pub/sub backplane (the next one brought Redis Streams).
PUBSUB_BASE = "abec33b916"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Process:
    """A process started here, output to a log file, pinned to ``cpu``, stopped by PID."""

    def __init__(
        self,
        argv: list[str],
        log_path: Path,
        ready: re.Pattern[str] | None,
        cpu: int | None,
        env: dict[str, str] | None = None,
        timeout: float = 30.0,
        cwd: Path | None = None,
    ) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 — closed in stop()

        def pin() -> None:
            if cpu is not None:
                os.sched_setaffinity(0, {cpu})

        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=pin,
            cwd=cwd,
            env={**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        self.port = 0
        if ready is not None:
            deadline = time.monotonic() + timeout
            while True:
                found = ready.search(log_path.read_text(errors="replace"))
                if found:
                    self.port = int(found.group(1))
                    break
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    tail = log_path.read_text(errors="replace").strip()[-300:]
                    raise BenchError(f"{argv[0]} did not start: {tail}")
                time.sleep(0.05)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()


def start_redis(log_dir: Path, cpu: int | None) -> Process:
    port = free_port()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    redis = Process(
        [*argv, "--appendonly", "no", "--daemonize", "no"],
        log_dir / f"redis-{port}.log",
        None,
        cpu,
    )
    redis.port = port
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        ping = subprocess.run(
            ["redis-cli", "-p", str(port), "ping"], capture_output=True, timeout=5, check=False
        )
        if ping.stdout.strip() == b"PONG":
            return redis
        time.sleep(0.05)
    redis.stop()
    raise BenchError("redis-server did not answer PING")


WSCLI_READY = re.compile(r"Serving chat on http://127\.0\.0\.1:(\d+)/")
SIO_READY = re.compile(r"socketio-redis listening on (\d+)")


@contextlib.contextmanager
def base_tree(commit: str) -> Iterator[Path]:
    """The ``wscli`` package at ``commit``, unpacked into a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="wscli-base-") as folder:
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", "--format=tar", commit, "wscli"],
            capture_output=True,
            check=True,
            timeout=60,
        )
        tar_path = Path(folder) / "base.tar"
        tar_path.write_bytes(archive.stdout)
        with tarfile.open(tar_path) as tar:
            tar.extractall(folder, filter="data")
        yield Path(folder)


def ensure_peer() -> None:
    """Install the Socket.IO peer's npm packages from its lock file (once)."""
    if (PEER / "node_modules").is_dir():
        return
    subprocess.run(
        ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--silent"],
        cwd=PEER,
        check=True,
        timeout=300,
    )


def system_argv(name: str, redis_url: str, base: Path | None) -> tuple[list[str], dict[str, str]]:
    """How to start one instance of system ``name`` on ``redis_url``."""
    if name == "wscli-streams":
        script = Path(sys.executable).parent / "wscli"
        return [str(script), "serve", "--port", "0", "--redis", redis_url], {}
    if name == "wscli-pubsub":
        assert base is not None
        # Run from the base folder: ``-m`` puts the working directory first on sys.path.
        argv = [sys.executable, "-m", "wscli", "serve", "--port", "0", "--redis", redis_url]
        return argv, {"PYTHONPATH": str(base)}
    adapter = {"sio-pubsub": "pubsub", "sio-streams": "streams"}[name]
    return ["node", str(PEER / "server.js"), "0"], {
        "REDIS_URL": redis_url.removesuffix("/0"),
        "ADAPTER": adapter,
    }


LABELS = {
    "wscli-streams": "wscli serve, Redis Streams (this tree)",
    "wscli-pubsub": "wscli serve, Redis pub/sub (base)",
    "sio-pubsub": "Socket.IO + @socket.io/redis-adapter",
    "sio-streams": "Socket.IO + @socket.io/redis-streams-adapter",
}


class Deployment:
    """A fresh Redis and two instances of one system, pinned to ``server_cpu``."""

    def __init__(self, name: str, log_dir: Path, server_cpu: int | None, base: Path | None):
        self.name = name
        self.redis = start_redis(log_dir, server_cpu)
        url = f"redis://127.0.0.1:{self.redis.port}/0"
        self.instances: list[Process] = []
        try:
            for index in range(2):
                argv, env = system_argv(name, url, base)
                ready = SIO_READY if name.startswith("sio") else WSCLI_READY
                self.instances.append(
                    Process(
                        argv,
                        log_dir / f"{name}-{index}.log",
                        ready,
                        server_cpu,
                        env,
                        cwd=base if name == "wscli-pubsub" else None,
                    )
                )
        except BaseException:
            self.stop()
            raise

    @property
    def proto(self) -> str:
        return "sio" if self.name.startswith("sio") else "ws"

    def stop(self) -> None:
        for instance in self.instances:
            instance.stop()
        self.redis.stop()


def measure(
    deployment: Deployment, binary: Path, args: list[str], gen_cpu: int | None, timeout: float
) -> dict[str, Any]:
    a, b = deployment.instances
    redis0 = cpu_ticks(deployment.redis.pid)
    servers0 = sum(cpu_ticks(p.pid) for p in deployment.instances)
    result = run_generator(
        binary,
        [*args, *flags(port=a.port, port2=b.port, proto=deployment.proto, timeout=30)],
        gen_cpu,
        timeout,
    )
    result["redis_ticks"] = cpu_ticks(deployment.redis.pid) - redis0
    result["server_ticks"] = sum(cpu_ticks(p.pid) for p in deployment.instances) - servers0
    problem = check_delivery(result)
    if problem:
        result["problem"] = problem
    return result


def received_from_redis(redis_port: int, pids: list[int]) -> dict[int, int]:
    """Bytes each process has received on its TCP connections to Redis (``ss -tinp``)."""
    done = subprocess.run(
        ["ss", "-tinpH", "state", "established", f"( dport = :{redis_port} )"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    totals = dict.fromkeys(pids, 0)
    owner: int | None = None
    for line in done.stdout.splitlines():
        found = re.search(r"pid=(\d+)", line)
        if found:
            owner = int(found.group(1))
        got = re.search(r"bytes_received:(\d+)", line)
        if got and owner in totals:
            totals[owner] += int(got.group(1))
    return totals


async def rooms_phase(deployment: Deployment, rooms: int, per_room: int) -> list[int]:
    """Instance A serves the first half of the rooms, B the rest; each room gets
    ``per_room`` 64-byte messages. Returns the bytes Redis sent to A and to B."""
    from websockets.asyncio.client import connect

    a, b = deployment.instances
    pids = [a.pid, b.pid]
    conns = []
    for index in range(rooms):
        port = a.port if index < rooms // 2 else b.port
        url = f"ws://127.0.0.1:{port}/room{index}"
        conns.append(await connect(url, proxy=None, compression=None, open_timeout=10))
    await asyncio.sleep(0.3)
    before = received_from_redis(deployment.redis.port, pids)
    payload = "m" * 60

    async def room_traffic(conn: Any) -> None:
        for i in range(per_room):
            await conn.send(f"{i:04d}{payload}")
        for _ in range(per_room):
            await asyncio.wait_for(conn.recv(), 10)

    await asyncio.wait_for(asyncio.gather(*(room_traffic(c) for c in conns)), 60)
    await asyncio.sleep(0.3)
    after = received_from_redis(deployment.redis.port, pids)
    for conn in conns:
        await conn.close()
    return [after[pid] - before[pid] for pid in pids]


def fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def print_ratios(by_round: list[dict[str, float]]) -> None:
    """This tree's deliveries/s over each other system's, round by round (the systems of
    one round run minutes apart at most, so their ratio is steadier than either rate)."""
    mine = "wscli-streams"
    others = [n for n in LABELS if n != mine and any(n in r and mine in r for r in by_round)]
    if not others:
        return
    print(f"\n{LABELS[mine]} over each system, per round (median last)\n")
    print("| over | per round | median |")
    print("| --- | --- | ---: |")
    for other in others:
        ratios = [r[mine] / r[other] for r in by_round if mine in r and other in r and r[other]]
        print(
            f"| {LABELS[other]} | {', '.join(f'{x:.2f}×' for x in ratios)} "
            f"| {statistics.median(ratios):.2f}× |"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter phases, one round")
    parser.add_argument("--subs", type=int, default=100)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3, help="rounds (medians shown)")
    parser.add_argument(
        "--base", default=PUBSUB_BASE, help="commit of the pub/sub backplane to compare with"
    )
    parser.add_argument("--room-messages", type=int, default=200)
    parser.add_argument("--systems", default="wscli-streams,wscli-pubsub,sio-pubsub,sio-streams")
    opts = parser.parse_args()
    duration, warmup, repeat = (1.0, 0.3, 1) if opts.quick else (3.0, 0.5, opts.repeat)
    systems = opts.systems.split(",")
    raise_nofile()
    binary = build_generator()
    cpus = sorted(os.sched_getaffinity(0))
    gen_cpu, server_cpu = (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)
    if any(s.startswith("sio") for s in systems):
        ensure_peer()
    base_commit = opts.base
    log_dir = REPO / "benchmarks" / "build" / "multi-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, list[Any]]] = {s: {} for s in systems}
    notes: list[str] = []
    by_round: list[dict[str, float]] = [{} for _ in range(repeat)]
    with base_tree(base_commit) as base:
        for round_no in range(repeat):
            for name in systems:
                log(f"round {round_no + 1}/{repeat}: {name}")
                try:
                    deployment = Deployment(name, log_dir, server_cpu, base)
                except BenchError as exc:
                    notes.append(f"{name}: {exc}")
                    continue
                try:
                    timeout = 120 + duration + warmup
                    fan = measure(
                        deployment,
                        binary,
                        [
                            *flags(mode="fanout", subs=opts.subs, window=64, size=64),
                            *flags(duration=duration, warmup=warmup),
                        ],
                        gen_cpu,
                        timeout,
                    )
                    lat = measure(
                        deployment,
                        binary,
                        [
                            *flags(mode="latency", subs=opts.subs, rate=opts.rate, size=64),
                            *flags(duration=duration, warmup=warmup),
                        ],
                        gen_cpu,
                        timeout,
                    )
                    row = results[name]
                    row.setdefault("rate", []).append(fan["deliveries_per_s"])
                    by_round[round_no][name] = fan["deliveries_per_s"]
                    row.setdefault("redis_ms_per_k", []).append(
                        fan["redis_ticks"] / TICK * 1000 / max(1, fan["deliveries"] / 1000)
                    )
                    row.setdefault("server_ms_per_k", []).append(
                        fan["server_ticks"] / TICK * 1000 / max(1, fan["deliveries"] / 1000)
                    )
                    row.setdefault("p50", []).append(lat["p50_us"] / 1000)
                    row.setdefault("p99", []).append(lat["p99_us"] / 1000)
                    for phase, r in (("fan-out", fan), ("latency", lat)):
                        if "problem" in r:
                            notes.append(f"{name} {phase}: {r['problem']}")
                    if name.startswith("wscli") and round_no == 0:
                        per_instance = asyncio.run(rooms_phase(deployment, 50, opts.room_messages))
                        row["room_bytes"] = per_instance
                except (BenchError, subprocess.TimeoutExpired, OSError) as exc:
                    notes.append(f"{name}: {exc}")
                finally:
                    deployment.stop()
    print(
        f"\n2 instances on one Redis, {opts.subs} subscribers split over them, publisher on "
        f"the first; {repeat} round(s), medians; instances + Redis on one core, generator "
        f"on another; base = {base_commit[:10]}\n"
    )
    print(
        "| system | deliveries/s | runs | instances CPU ms / 1,000 deliveries "
        f"| Redis CPU ms / 1,000 deliveries | p50 ms ({opts.rate}/s) | p99 ms | p99 runs |"
    )
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | --- |")
    for name in systems:
        row = results[name]
        if not row:
            print(f"| {LABELS[name]} | failed | | | | | | |")
            continue
        print(
            f"| {LABELS[name]} | {fmt(statistics.median(row['rate']), 0)} "
            f"| {', '.join(fmt(v / 1000, 0) + ' k' for v in row['rate'])} "
            f"| {fmt(statistics.median(row['server_ms_per_k']), 3)} "
            f"| {fmt(statistics.median(row['redis_ms_per_k']), 3)} "
            f"| {fmt(statistics.median(row['p50']))} | {fmt(statistics.median(row['p99']))} "
            f"| {', '.join(fmt(v) for v in row['p99'])} |"
        )
    room_rows = [(n, results[n]["room_bytes"]) for n in systems if "room_bytes" in results[n]]
    if room_rows:
        print(
            f"\nRooms on demand: 50 rooms, A serves 25, B the other 25, "
            f"{opts.room_messages} messages of 64 bytes per room; bytes Redis sent to each\n"
        )
        print("| system | to instance A | to instance B |")
        print("| --- | ---: | ---: |")
        for name, (to_a, to_b) in room_rows:
            print(f"| {LABELS[name]} | {to_a:,} | {to_b:,} |")
    print_ratios(by_round)
    for note in notes:
        print(f"\nnote: {note}")
    if not notes:
        shutil.rmtree(log_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
