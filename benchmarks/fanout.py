#!/usr/bin/env python3
"""Fan-out benchmark: `wscli serve` beside Node ws, Socket.IO, µWebSockets and naive websockets.

Builds the C load generator (benchmarks/wsload.c, with the machine's gcc, into
benchmarks/build/), starts every server itself on 127.0.0.1 port 0, runs the same bounded
phases against each and prints ONE table. The generator is pinned to one core and the server
to another. Every phase stops by itself; servers are stopped by PID. See benchmarks/README.md.

    .venv/bin/python benchmarks/fanout.py            # full run (~6 minutes)
    .venv/bin/python benchmarks/fanout.py --quick    # smaller and shorter (< 60 s)
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SOURCE = HERE / "wsload.c"
BUILD = HERE / "build"
PEERS = Path(os.environ.get("WSCLI_PEERS", REPO.parent / "shared" / "peers"))


@dataclasses.dataclass(frozen=True)
class Profile:
    """How big and how long each phase is."""

    conns: int = 5000  # idle connections for RSS and handshakes/s
    big_conns: int = 10000  # a second idle phase, on a fresh server (0: none)
    sizes: tuple[int, ...] = (100, 1000)  # subscribers in the fan-out phases
    window: int = 64  # messages in flight
    size: int = 64  # message size in bytes
    rate: int = 500  # messages per second in the latency phase
    latency_subs: int = 100
    duration: float = 3.0  # measured seconds per phase
    warmup: float = 0.5  # unmeasured seconds before that
    repeat: int = 5  # rounds over all servers (medians are shown)
    settle: float = 2.0  # seconds before reading RSS
    timeout: float = 30.0  # bound on set-up and drain of each phase
    tls_conns: tuple[int, ...] = (5000, 10000)  # TLS handshake phases (fresh server each)


FULL = Profile()
QUICK = Profile(
    conns=1000,
    big_conns=0,
    duration=1.0,
    warmup=0.3,
    repeat=1,
    settle=0.7,
    timeout=15.0,
    tls_conns=(1000,),
)


@dataclasses.dataclass(frozen=True)
class ServerSpec:
    """How to start one server and find its port."""

    name: str
    label: str
    argv: Callable[[], list[str]]
    ready: re.Pattern[str]  # matched against its output; group 1 is the port
    proto: str = "ws"
    scrape: float | None = None  # GET /metrics this often (seconds) while it runs
    tls: Callable[[Path, Path], list[str]] | None = None  # argv serving TLS with CERT, KEY


def _wscli() -> list[str]:
    script = Path(sys.executable).parent / "wscli"
    return [str(script) if script.exists() else "wscli", "serve", "--port", "0"]


def _wscli_tls(cert: Path, key: Path) -> list[str]:
    return [*_wscli(), "--certfile", str(cert), "--keyfile", str(key)]


NODE_TLS = HERE / "peers" / "node-ws-tls"


def _node_tls(cert: Path, key: Path) -> list[str]:
    """The node-ws peer on https.Server (benchmarks/peers/node-ws-tls), its npm packages
    installed from the lock file on first use."""
    if not (NODE_TLS / "node_modules").is_dir():
        subprocess.run(
            ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--silent"],
            cwd=NODE_TLS,
            check=True,
            timeout=300,
        )
    return ["node", str(NODE_TLS / "server.js"), "0", str(cert), str(key)]


def make_certificate(build_dir: Path) -> tuple[Path, Path]:
    """A throwaway self-signed ECDSA P-256 certificate for 127.0.0.1 (openssl's CLI): the
    key type most certificates are issued with today; both servers load the same one."""
    cert, key = build_dir / "tls-cert.pem", build_dir / "tls-key.pem"
    if not cert.exists() or not key.exists():
        build_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-days", "30", "-subj", "/CN=127.0.0.1",
             "-keyout", str(key), "-out", str(cert)],
            check=True,
            capture_output=True,
            timeout=60,
        )  # fmt: skip
    return cert, key


SERVERS: dict[str, ServerSpec] = {
    spec.name: spec
    for spec in (
        ServerSpec(
            "wscli",
            "wscli serve",
            _wscli,
            re.compile(r"Serving chat on https?://127\.0\.0\.1:(\d+)/"),
            tls=_wscli_tls,
        ),
        ServerSpec(
            "wscli-scraped",
            "wscli serve, /metrics scraped each second",
            _wscli,
            re.compile(r"Serving chat on http://127\.0\.0\.1:(\d+)/"),
            scrape=1.0,
        ),
        ServerSpec(
            "wscli-sio",
            "wscli serve --socketio",
            lambda: [*_wscli(), "--socketio"],
            re.compile(r"Serving chat on http://127\.0\.0\.1:(\d+)/"),
            proto="sio",
        ),
        ServerSpec(
            "naive",
            "naive websockets.broadcast",
            lambda: [sys.executable, str(HERE / "naive_server.py"), "0"],
            re.compile(r"naive listening on (\d+)"),
        ),
        ServerSpec(
            "node-ws",
            "Node ws",
            lambda: [str(PEERS / "start"), "node-ws", "0"],
            re.compile(r"node-ws(?:-tls)? listening on (\d+)"),
            tls=_node_tls,
        ),
        ServerSpec(
            "socketio",
            "Express + Socket.IO",
            lambda: [str(PEERS / "start"), "seed-socketio", "0"],
            re.compile(r"seed-socketio listening on (\d+)"),
            proto="sio",
        ),
        ServerSpec(
            "uws",
            "µWebSockets",
            lambda: [str(PEERS / "start"), "uws", "0"],
            re.compile(r"uws listening on (\d+)"),
        ),
    )
}


# Another build of wscli (e.g. main's, to compare before and after a change in one run):
# WSCLI_BASELINE=/path/to/other/venv/bin/wscli adds it as the server "baseline".
if os.environ.get("WSCLI_BASELINE"):
    SERVERS["baseline"] = ServerSpec(
        "baseline",
        "wscli serve (baseline)",
        lambda: [os.environ["WSCLI_BASELINE"], "serve", "--port", "0"],
        re.compile(r"Serving chat on https?://127\.0\.0\.1:(\d+)/"),
        tls=lambda cert, key: [
            os.environ["WSCLI_BASELINE"],
            "serve",
            "--port",
            "0",
            "--certfile",
            str(cert),
            "--keyfile",
            str(key),
        ],
    )


class BenchError(Exception):
    """A phase could not produce a number (the message says why)."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build_generator(build_dir: Path = BUILD, force: bool = False) -> Path:
    """Compile wsload.c with the machine's gcc (only when the source is newer)."""
    build_dir.mkdir(parents=True, exist_ok=True)
    binary = build_dir / "wsload"
    if force or not binary.exists() or binary.stat().st_mtime < SOURCE.stat().st_mtime:
        cc = os.environ.get("CC", "gcc")
        subprocess.run(
            [cc, "-O2", "-Wall", "-Wextra", "-o", str(binary), str(SOURCE), "-lssl", "-lcrypto"],
            check=True,
            timeout=120,
        )
    return binary


def raise_nofile() -> None:
    """Soft RLIMIT_NOFILE up to the hard limit (inherited by the servers and generator)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def rss_kb(pid: int) -> int:
    """Resident set size of a process, from /proc."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise BenchError(f"no VmRSS for {pid}")


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process, in clock ticks."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


class RunningServer:
    """A server process started by this script, logging to a file, stopped by its PID."""

    def __init__(
        self,
        spec: ServerSpec,
        cpu: int | None,
        log_dir: Path,
        timeout: float,
        argv: list[str] | None = None,
    ) -> None:
        self.spec = spec
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{spec.name}{'-tls' if argv else ''}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 — closed in stop()

        def pin() -> None:
            if cpu is not None:
                os.sched_setaffinity(0, {cpu})

        env = dict(os.environ, NO_COLOR="1", PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            argv or spec.argv(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=pin,
            env=env,
        )
        self.port = self._wait_ready(timeout)
        self.scraper: Scraper | None = None
        if spec.scrape:
            self.scraper = Scraper(f"http://127.0.0.1:{self.port}/metrics", spec.scrape)

    def _wait_ready(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_path.read_text(errors="replace")
            found = self.spec.ready.search(text)
            if found:
                return int(found.group(1))
            if self.proc.poll() is not None:
                self.stop()
                raise BenchError(f"{self.spec.name} exited: {text.strip()[-300:]}")
            time.sleep(0.05)
        self.stop()
        raise BenchError(f"{self.spec.name} did not say it was listening within {timeout:.0f} s")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        """SIGTERM to our PID, SIGKILL if it lingers."""
        if self.scraper is not None:
            self.scraper.stop()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()


class Scraper:
    """GETs a server's /metrics every ``interval`` seconds from a thread, as Prometheus
    would (the OpenMetrics Accept header included), counting answers and failures."""

    ACCEPT = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"

    def __init__(self, url: str, interval: float) -> None:
        self.url, self.interval = url, interval
        self.ok = self.failed = 0
        self.bytes = 0
        self.seconds: list[float] = []  # each answer's time, request to last byte
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        request = urllib.request.Request(self.url, headers={"Accept": self.ACCEPT})
        while not self._stop.wait(self.interval):
            started = time.perf_counter()
            try:
                with opener.open(request, timeout=5) as answer:
                    self.bytes += len(answer.read())
                    self.ok += 1
                self.seconds.append(time.perf_counter() - started)
            except OSError:
                self.failed += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def run_generator(
    binary: Path, args: Sequence[str], cpu: int | None, timeout: float
) -> dict[str, Any]:
    """Run one bounded generator phase and return its JSON result."""
    argv = [str(binary), *args] + (["--cpu", str(cpu)] if cpu is not None else [])
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise BenchError(f"wsload gave no result (exit {done.returncode}): {done.stderr.strip()}")
    result: dict[str, Any] = json.loads(lines[-1])
    if "error" in result:
        raise BenchError(f"wsload: {result['error']}")
    return result


def flags(**options: object) -> list[str]:
    """Command-line flags for wsload: flags(subs=100) == ["--subs", "100"]."""
    out: list[str] = []
    for key, value in options.items():
        out += [f"--{key.replace('_', '-')}", str(value)]
    return out


def check_delivery(result: dict[str, Any]) -> str | None:
    """A note when some subscriber missed a message or got one out of order."""
    subs = result["subs"]
    if result["complete_subs"] == subs and not result["order_errors"] and not result["missing"]:
        return None
    return (
        f"{subs - result['complete_subs']} of {subs} subscribers incomplete, "
        f"{result['missing']} missing, {result['order_errors']} out of order, "
        f"{result['closed_subs']} closed by the server"
    )


class ServerBench:
    """The phases against one running server; collects its numbers and notes."""

    def __init__(
        self, spec: ServerSpec, binary: Path, profile: Profile, cpus: tuple[int, int] | None
    ) -> None:
        self.spec, self.binary, self.profile = spec, binary, profile
        self.gen_cpu: int | None = cpus[0] if cpus else None
        self.server_cpu: int | None = cpus[1] if cpus else None
        self.out: dict[str, Any] = {"name": spec.name, "label": spec.label, "notes": []}
        self.server: RunningServer | None = None
        self.runs: dict[str, list[dict[str, Any]]] = {}
        self.phase_timeout = profile.timeout * 3 + profile.duration + profile.warmup + 30

    def start(self, log_dir: Path) -> None:
        self.server = RunningServer(self.spec, self.server_cpu, log_dir, self.profile.timeout)

    @property
    def failed(self) -> bool:
        return "error" in self.out

    def _common(self) -> list[str]:
        assert self.server is not None
        return flags(port=self.server.port, proto=self.spec.proto, timeout=self.profile.timeout)

    def idle_phase(self, conns: int | None = None, tls: str = "") -> None:
        """Open `conns` idle connections: handshakes per second, then RSS per connection.

        The profile's ``conns`` fill ``handshakes_per_s`` and ``rss_per_conn_kb``; another
        count (``big_conns``, on a fresh server) fills the same keys suffixed ``_COUNT``.
        ``tls`` "tls" (full TLS handshakes) or "tlsr" (resumed sessions) prefixes them.
        """
        assert self.server is not None
        profile, pid = self.profile, self.server.pid
        suffix = ("" if conns is None else f"_{conns}") if not tls else f"_{tls}_{conns}"
        profile = profile if conns is None else dataclasses.replace(profile, conns=conns)
        rss_before = rss_kb(pid)
        argv = [
            str(self.binary),
            *flags(mode="connect", conns=profile.conns, hold=profile.timeout * 2),
            *self._common(),
            *(flags(cpu=self.gen_cpu) if self.gen_cpu is not None else []),
            *({"tls": ["--tls"], "tlsr": ["--tls-resume"]}.get(tls, [])),
        ]
        ticks = cpu_ticks(pid)
        gen = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert gen.stdout is not None and gen.stdin is not None
            first = gen.stdout.readline()  # the generator's own alarm() bounds this read
            ticks = cpu_ticks(pid) - ticks
            result = json.loads(first) if first.startswith("{") else {"error": "no output"}
            if "error" in result:
                raise BenchError(f"connect phase: {result['error']}")
            time.sleep(profile.settle)
            rss_after = rss_kb(pid)
            gen.stdin.close()
            tail = gen.stdout.read()
            gen.wait(timeout=profile.timeout)
            still = json.loads(tail.splitlines()[-1]) if tail.strip() else {}
            if still.get("still_open") != profile.conns:
                self.note(f"only {still.get('still_open')} idle connections stayed open")
        finally:
            if gen.poll() is None:
                gen.kill()
                gen.wait()
        self.out["handshakes_per_s" + suffix] = result["handshakes_per_s"]
        # The server's CPU time per handshake (user + system, from /proc): unlike the rate,
        # hardly moved by what else the shared machine runs.
        seconds = ticks / os.sysconf("SC_CLK_TCK")
        self.out["handshake_cpu_us" + suffix] = seconds / profile.conns * 1e6
        self.out["rss_per_conn_kb" + suffix] = (rss_after - rss_before) / profile.conns
        self.out["rss_base_kb" + suffix] = rss_before

    def tls_phase(self, log_dir: Path, cert: Path, key: Path, conns: int) -> None:
        """``conns`` TLS connections on a fresh TLS server, full handshakes (handshakes/s,
        then RSS per connection), closed; then as many resuming one session."""
        assert self.spec.tls is not None
        self.stop()
        argv = self.spec.tls(cert, key)
        self.server = RunningServer(self.spec, self.server_cpu, log_dir, self.profile.timeout, argv)
        # TLS handshakes are slower: allow for 50 a second (10,000 took 35-85 s at load 20).
        profile = self.profile
        self.profile = dataclasses.replace(profile, timeout=max(profile.timeout, conns / 50))
        try:
            time.sleep(profile.settle / 2)
            for kind in ("tls", "tlsr"):
                try:
                    self.idle_phase(conns, kind)
                except BenchError as exc:  # noted; the other phases of this server go on
                    self.note(f"TLS phase ({kind}, {conns}): {exc}")
                time.sleep(profile.settle / 2)
        finally:
            self.profile = profile

    def big_idle_phase(self, log_dir: Path) -> None:
        """The idle phase with ``big_conns`` connections, on a fresh server process."""
        self.stop()
        self.start(log_dir)
        time.sleep(self.profile.settle / 2)
        self.idle_phase(self.profile.big_conns)

    def note(self, text: str) -> None:
        self.out["notes"].append(text)

    def measure(self, key: str, args: list[str]) -> None:
        """One generator run (fan-out or latency), with the server's CPU use around it."""
        assert self.server is not None
        ticks0, t0 = cpu_ticks(self.server.pid), time.monotonic()
        r = run_generator(self.binary, [*args, *self._common()], self.gen_cpu, self.phase_timeout)
        ticks = cpu_ticks(self.server.pid) - ticks0
        r["server_cpu"] = ticks / os.sysconf("SC_CLK_TCK") / (time.monotonic() - t0)
        problem = check_delivery(r)
        if problem:
            self.note(f"{key}: {problem}")
        self.runs.setdefault(key, []).append(r)

    def fanout(self, subs: int) -> None:
        p = self.profile
        self.measure(
            f"fanout_{subs}",
            [
                *flags(mode="fanout", subs=subs, window=p.window, size=p.size),
                *flags(duration=p.duration, warmup=p.warmup),
            ],
        )

    def warm_up(self) -> None:
        """A short unrecorded fan-out and latency run: JIT compilers (Node) warm up first."""
        p = self.profile
        seconds = flags(duration=min(1.0, p.duration / 2), warmup=0)
        self.measure("warm-up", [*flags(mode="fanout", subs=p.sizes[-1], size=p.size), *seconds])
        self.measure("warm-up", [*flags(mode="latency", subs=p.latency_subs), *seconds])

    def scrape_pairs(self, pairs: int) -> None:
        """Fan-out to the larger size in pairs of runs on this one server process, one run
        of each pair with /metrics scraped every second and one without, the order
        alternating (ABBA) so that the machine's drift cancels: the paired ratios say what
        scraping costs, apart from the noise between servers and processes."""
        assert self.server is not None
        subs, p = self.profile.sizes[-1], self.profile
        args = [
            *flags(mode="fanout", subs=subs, window=p.window, size=p.size),
            *flags(duration=p.duration, warmup=p.warmup),
        ]
        url = f"http://127.0.0.1:{self.server.port}/metrics"
        self.scrape_cost(url)
        for pair in range(pairs):
            for scraped in (False, True) if pair % 2 == 0 else (True, False):
                scraper = Scraper(url, 1.0) if scraped else None
                try:
                    self.measure("scraped" if scraped else "unscraped", args)
                finally:
                    if scraper is not None:
                        scraper.stop()
                        self.runs["scrape_seconds"] = [
                            *self.runs.get("scrape_seconds", []),
                            *({"s": s} for s in scraper.seconds),
                        ]

    def scrape_cost(self, url: str, count: int = 400) -> None:
        """The server CPU time one /metrics answer costs (accept, parse, the exposition,
        the write, the close), from ``count`` scrapes in a row on an idle server: CPU time,
        unlike throughput, hardly moves with the machine's other load."""
        assert self.server is not None
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        ticks0 = cpu_ticks(self.server.pid)
        for _ in range(count):
            with opener.open(url, timeout=5) as answer:
                answer.read()
        ticks = cpu_ticks(self.server.pid) - ticks0
        self.out["scrape_cpu_ms"] = ticks / os.sysconf("SC_CLK_TCK") / count * 1000

    def latency(self) -> None:
        p = self.profile
        self.measure(
            "latency",
            [
                *flags(mode="latency", subs=p.latency_subs, rate=p.rate, size=p.size),
                *flags(duration=p.duration, warmup=p.warmup),
            ],
        )

    def summarize(self) -> dict[str, Any]:
        """Medians over the rounds (worst case for the generator's CPU)."""
        out = self.out
        for subs in self.profile.sizes:
            runs = self.runs.get(f"fanout_{subs}", [])
            if runs:
                rates = [r["deliveries_per_s"] for r in runs]
                out[f"fanout_{subs}"] = statistics.median(rates)
                out[f"fanout_{subs}_runs"] = rates
                out[f"gen_cpu_{subs}"] = max(r["gen_cpu"] for r in runs)
                out[f"server_cpu_{subs}"] = statistics.median(r["server_cpu"] for r in runs)
        off, on = self.runs.get("unscraped", []), self.runs.get("scraped", [])
        if off and on:
            ratios = [
                b["deliveries_per_s"] / a["deliveries_per_s"] for a, b in zip(off, on, strict=False)
            ]
            out["scrape_ab"] = {
                "pairs": len(ratios),
                "ratio_median": statistics.median(ratios),
                "ratios": ratios,
                "unscraped": statistics.median(r["deliveries_per_s"] for r in off),
                "scraped": statistics.median(r["deliveries_per_s"] for r in on),
                "cpu_us_per_1k_unscraped": statistics.median(_cpu_per_1k(r) for r in off),
                "cpu_us_per_1k_scraped": statistics.median(_cpu_per_1k(r) for r in on),
                "scrape_ms": statistics.median(
                    r["s"] * 1000 for r in self.runs.get("scrape_seconds", [{"s": 0}])
                ),
            }
        runs = self.runs.get("latency", [])
        if runs:
            out["p50_us"] = statistics.median(r["p50_us"] for r in runs)
            out["p99_us"] = statistics.median(r["p99_us"] for r in runs)
            out["p99_us_runs"] = [r["p99_us"] for r in runs]
            out["gen_cpu_latency"] = max(r["gen_cpu"] for r in runs)
        return out

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            scraper = self.server.scraper
            if scraper is not None:
                self.out["scrapes"] = scraper.ok
                if scraper.failed or not scraper.ok:
                    self.note(f"/metrics: {scraper.ok} scrapes answered, {scraper.failed} failed")


def _cpu_per_1k(run: dict[str, Any]) -> float:
    """Server CPU microseconds per 1,000 deliveries in one run."""
    return float(run["server_cpu"]) / float(run["deliveries_per_s"]) * 1e9


def fmt_rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value / 1e6:.2f} M"


def fmt_ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value / 1000:.2f}"


def _big(r: dict[str, Any], conns: int) -> str:
    rss, rate = r.get(f"rss_per_conn_kb_{conns}"), r.get(f"handshakes_per_s_{conns}")
    return f"{rss:.1f} / {rate:.0f}" if rss is not None and rate is not None else "n/a"


def _tls(r: dict[str, Any], conns: int) -> str:
    full, resumed = r.get(f"handshakes_per_s_tls_{conns}"), r.get(f"handshakes_per_s_tlsr_{conns}")
    if full is None:
        return "n/a"
    return f"{full:.0f} / {resumed:.0f}" if resumed is not None else f"{full:.0f} / n/a"


def render_table(results: list[dict[str, Any]], profile: Profile) -> str:
    """One Markdown table, servers side by side, plus the target ratios."""
    small, large = profile.sizes
    header = [
        "server",
        f"deliveries/s {small} subs",
        f"deliveries/s {large} subs",
        f"p50 ms ({profile.latency_subs} subs, {profile.rate}/s)",
        "p99 ms",
        f"RSS/idle conn KB ({profile.conns})",
        "handshakes/s",
        *([f"RSS KB / handshakes/s ({profile.big_conns})"] if profile.big_conns else []),
        *(f"TLS handshakes/s full / resumed ({n})" for n in profile.tls_conns),
        f"server CPU ({small}/{large})",
        f"gen CPU ({small}/{large}/lat)",
    ]
    rows = []
    for r in results:

        def pct(key: str, r: dict[str, Any] = r) -> str:
            return f"{r[key] * 100:.0f}%" if key in r else "n/a"

        rows.append(
            [
                r["label"] + (" (failed, see notes)" if "error" in r else ""),
                fmt_rate(r.get(f"fanout_{small}")),
                fmt_rate(r.get(f"fanout_{large}")),
                fmt_ms(r.get("p50_us")),
                fmt_ms(r.get("p99_us")),
                f"{r['rss_per_conn_kb']:.1f}" if "rss_per_conn_kb" in r else "n/a",
                f"{r['handshakes_per_s']:.0f}" if "handshakes_per_s" in r else "n/a",
                *([_big(r, profile.big_conns)] if profile.big_conns else []),
                *(_tls(r, n) for n in profile.tls_conns),
                f"{pct(f'server_cpu_{small}')}/{pct(f'server_cpu_{large}')}",
                f"{pct(f'gen_cpu_{small}')}/{pct(f'gen_cpu_{large}')}/{pct('gen_cpu_latency')}",
            ]
        )
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    lines += [
        "| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in rows
    ]
    lines += ["", *targets(results, profile)]
    for r in results:
        if "error" in r:
            lines.append(f"error ({r['label']}): {r['error']}")
        for note in r.get("notes", []):
            lines.append(f"note ({r['label']}): {note}")
    return "\n".join(lines)


def targets(results: list[dict[str, Any]], profile: Profile) -> list[str]:
    """The issue's targets as ratios measured in this run."""
    keys = ("fanout_100", "fanout_1000", "p99_us", "rss_per_conn_kb")
    by = {r["name"]: r for r in results if all(k in r for k in keys)}
    out = socketio_targets(by, profile)
    me = by.get("wscli")
    if not me:
        return out
    for ref in ("uws", "node-ws"):
        other = by.get(ref)
        if not other:
            continue
        parts = [
            f"{subs} subs {me[f'fanout_{subs}'] / other[f'fanout_{subs}']:.2f}x"
            for subs in profile.sizes
            if other.get(f"fanout_{subs}")
        ]
        out.append(f"wscli fan-out vs {other['label']}: " + ", ".join(parts))
    if "node-ws" in by:
        ok = me["p99_us"] <= by["node-ws"]["p99_us"]
        out.append(
            f"wscli p99 {me['p99_us'] / 1000:.2f} ms vs Node ws "
            f"{by['node-ws']['p99_us'] / 1000:.2f} ms: {'met' if ok else 'NOT met'} (target ≤)"
        )
    node = by.get("node-ws")
    if node:
        rate_keys: list[tuple[str, str]] = [("handshakes_per_s", f"{profile.conns}")]
        if profile.big_conns:
            rate_keys.append((f"handshakes_per_s_{profile.big_conns}", f"{profile.big_conns}"))
        for count in profile.tls_conns:
            rate_keys.append((f"handshakes_per_s_tls_{count}", f"{count}, TLS"))
            rate_keys.append((f"handshakes_per_s_tlsr_{count}", f"{count}, TLS resumed"))
        for key, what in rate_keys:
            if me.get(key) and node.get(key):
                ratio = me[key] / node[key]
                cpu = key.replace("handshakes_per_s", "handshake_cpu_us")
                cost = (
                    f" (server CPU per handshake {me[cpu]:.0f} vs {node[cpu]:.0f} µs)"
                    if me.get(cpu) and node.get(cpu)
                    else ""
                )
                out.append(
                    f"wscli handshakes/s ({what}) {me[key]:.0f} vs Node ws {node[key]:.0f}: "
                    f"{ratio:.2f}x{cost}: {'met' if ratio >= 1.5 else 'NOT met'} (target ≥ 1.5x)"
                )
    for count in (profile.conns, profile.big_conns):
        key = "rss_per_conn_kb" if count == profile.conns else f"rss_per_conn_kb_{count}"
        if count and key in me:
            ok = me[key] <= 2.5
            out.append(
                f"wscli RSS/idle conn at {count}: {me[key]:.2f} KB: "
                f"{'met' if ok else 'NOT met'} (target ≤ 2.5 KB)"
            )
    if "naive" in by:
        ok = me["rss_per_conn_kb"] <= by["naive"]["rss_per_conn_kb"]
        out.append(
            f"wscli RSS/conn {me['rss_per_conn_kb']:.1f} KB vs naive websockets "
            f"{by['naive']['rss_per_conn_kb']:.1f} KB: {'met' if ok else 'NOT met'} (target ≤)"
        )
    scraped = by.get("wscli-scraped")
    if scraped:
        parts = [
            f"{subs} subs {scraped[f'fanout_{subs}'] / me[f'fanout_{subs}']:.3f}"
            for subs in profile.sizes
        ]
        ok = all(scraped[f"fanout_{subs}"] >= 0.97 * me[f"fanout_{subs}"] for subs in profile.sizes)
        out.append(
            f"wscli fan-out with /metrics scraped each second ({scraped.get('scrapes', 0)} "
            f"scrapes) / without: {', '.join(parts)}: {'met' if ok else 'NOT met'} (target ≥ 0.97)"
        )
    ab = me.get("scrape_ab") if me else None
    if ab:
        ok = ab["ratio_median"] >= 0.97
        cost = me.get("scrape_cpu_ms", 0.0)
        out.append(
            f"one /metrics answer costs the server {cost:.2f} ms of CPU: scraped every second, "
            f"{cost / 10:.3f}% of its time"
        )
        out.append(
            f"wscli with /metrics scraped each second / without, {ab['pairs']} ABBA pairs on one "
            f"process ({profile.sizes[-1]} subs): median ratio {ab['ratio_median']:.3f} "
            f"({fmt_rate(ab['scraped'])} vs {fmt_rate(ab['unscraped'])}; server CPU "
            f"{ab['cpu_us_per_1k_scraped']:.0f} vs {ab['cpu_us_per_1k_unscraped']:.0f} µs per "
            f"1,000 deliveries; a scrape answered in {ab['scrape_ms']:.1f} ms): "
            f"{'met' if ok else 'NOT met'} (target ≥ 0.97)"
        )
    base = by.get("baseline")
    if base:
        parts = [
            f"{subs} subs {me[f'fanout_{subs}'] / base[f'fanout_{subs}']:.2f}x"
            for subs in profile.sizes
        ]
        out.append(
            f"wscli / baseline: fan-out {', '.join(parts)}; p99 {me['p99_us'] / 1000:.2f} vs "
            f"{base['p99_us'] / 1000:.2f} ms; RSS/idle conn {me['rss_per_conn_kb']:.2f} vs "
            f"{base['rss_per_conn_kb']:.2f} KB"
        )
    if "uws" in by:
        ok = all(me[f"fanout_{s}"] >= 0.8 * by["uws"][f"fanout_{s}"] for s in profile.sizes)
        out.append(f"fan-out ≥ 0.8x µWebSockets at both sizes: {'met' if ok else 'NOT met'}")
    return out


def socketio_targets(by: dict[str, dict[str, Any]], profile: Profile) -> list[str]:
    """`wscli serve --socketio` beside the classic Express + Socket.IO server: fan-out ≥ 10×
    at both sizes, memory per idle Socket.IO connection ≤ 0.5×."""
    me, other = by.get("wscli-sio"), by.get("socketio")
    if not me or not other:
        return []
    out = []
    for subs in profile.sizes:
        ratio = me[f"fanout_{subs}"] / other[f"fanout_{subs}"]
        line = (
            f"wscli --socketio fan-out vs Express + Socket.IO, {subs} subs: {ratio:.1f}x: "
            f"{'met' if ratio >= 10 else 'NOT met'} (target ≥ 10x)"
        )
        cpu = f"server_cpu_{subs}"
        if me.get(cpu) and other.get(cpu):
            # On a shared machine the two servers may get different shares of their core.
            per_cpu = ratio * other[cpu] / me[cpu]
            line += f"; per second of server CPU {per_cpu:.1f}x"
        out.append(line)
    ratio = me["rss_per_conn_kb"] / other["rss_per_conn_kb"]
    out.append(
        f"wscli --socketio RSS/idle Socket.IO conn {me['rss_per_conn_kb']:.1f} KB vs "
        f"{other['rss_per_conn_kb']:.1f} KB: {ratio:.2f}x: "
        f"{'met' if ratio <= 0.5 else 'NOT met'} (target ≤ 0.5x)"
    )
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer connections, 1 s phases")
    parser.add_argument(
        "--servers",
        default=",".join(SERVERS),
        help=f"comma-separated subset of {', '.join(SERVERS)} (default: all)",
    )
    parser.add_argument("--conns", type=int, help="idle connections (default 5000; quick 1000)")
    parser.add_argument(
        "--big-conns",
        type=int,
        help="idle connections of the second idle phase on a fresh server (default 10000; "
        "quick and 0: none)",
    )
    parser.add_argument(
        "--tls-conns",
        help="connection counts of the TLS handshake phases, comma-separated (default "
        "5000,10000; quick 1000; 0: none)",
    )
    parser.add_argument("--duration", type=float, help="measured seconds per phase")
    parser.add_argument("--repeat", type=int, help="fan-out runs per size; the median is shown")
    parser.add_argument(
        "--cpus", default="0,1", help="GEN,SERVER cores to pin to ('' = no pinning)"
    )
    parser.add_argument(
        "--scrape-pairs",
        type=int,
        default=0,
        help="after the rounds, N pairs of fan-out runs on the wscli server with and without "
        "/metrics scraped every second (ABBA order): what scraping costs",
    )
    parser.add_argument("--json", type=Path, help="also write the raw results to this file")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    profile = QUICK if args.quick else FULL
    names_ = ("conns", "big_conns", "duration", "repeat")
    overrides = {k: getattr(args, k) for k in names_ if getattr(args, k) is not None}
    profile = dataclasses.replace(profile, **overrides)
    if args.tls_conns is not None:
        counts = tuple(int(n) for n in args.tls_conns.split(",") if int(n) > 0)
        profile = dataclasses.replace(profile, tls_conns=counts)
    names = [n.strip() for n in args.servers.split(",") if n.strip()]
    unknown = [n for n in names if n not in SERVERS]
    if unknown:
        log(f"fanout.py: unknown server(s): {', '.join(unknown)}")
        return 2
    cpus: tuple[int, int] | None = None
    if args.cpus:
        gen_cpu, server_cpu = (int(c) for c in args.cpus.split(","))
        if len(os.sched_getaffinity(0)) >= 2:
            cpus = (gen_cpu, server_cpu)
        else:
            log("fanout.py: fewer than 2 cores available: not pinning")
    raise_nofile()
    binary = build_generator()
    log_dir = BUILD / "logs"
    started = time.monotonic()
    benches = [ServerBench(SERVERS[name], binary, profile, cpus) for name in names]

    def attempt(bench: ServerBench, what: str, step: Callable[[], None]) -> None:
        if bench.failed:
            return
        try:
            step()
        except (BenchError, OSError, subprocess.SubprocessError, KeyError, ValueError) as exc:
            bench.out["error"] = f"{what}: {exc}"
            log(f"fanout.py: {bench.spec.label}: {what} failed: {exc} (logs: {log_dir})")

    try:
        # Each server gets a fresh process; the idle-connection phase runs first, on a
        # server that has served nothing yet. The others idle meanwhile (no CPU).
        for bench in benches:
            log(f"fanout.py: {bench.spec.label}: start, {profile.conns} idle connections")
            attempt(bench, "start", functools.partial(bench.start, log_dir))
            time.sleep(profile.settle / 2)
            attempt(bench, "idle connections", bench.idle_phase)
        time.sleep(profile.settle / 2)  # let the servers finish closing those
        for bench in benches:
            attempt(bench, "warm-up", bench.warm_up)
        # Rounds: every server once per round, so that the (shared) machine's noise is
        # spread over all of them instead of landing on one; medians are reported.
        for round_no in range(1, profile.repeat + 1):
            log(f"fanout.py: round {round_no}/{profile.repeat}")
            for bench in benches:
                for subs in profile.sizes:
                    attempt(bench, f"fan-out {subs}", functools.partial(bench.fanout, subs))
                attempt(bench, "latency", bench.latency)
        for bench in benches:
            if args.scrape_pairs and bench.spec.name == "wscli":
                log(f"fanout.py: {args.scrape_pairs} pairs with and without scraping")
                attempt(
                    bench, "scrape pairs", functools.partial(bench.scrape_pairs, args.scrape_pairs)
                )
        if profile.big_conns:
            for bench in benches:
                log(f"fanout.py: {bench.spec.label}: {profile.big_conns} idle connections")
                attempt(
                    bench,
                    "idle connections (big)",
                    functools.partial(bench.big_idle_phase, log_dir),
                )
        tls_benches = [b for b in benches if b.spec.tls is not None]
        if profile.tls_conns and tls_benches:
            cert, key = make_certificate(BUILD)
            for count in profile.tls_conns:
                for bench in tls_benches:
                    log(f"fanout.py: {bench.spec.label}: {count} TLS connections")
                    attempt(
                        bench,
                        f"TLS connections ({count})",
                        functools.partial(bench.tls_phase, log_dir, cert, key, count),
                    )
    finally:
        for bench in benches:
            bench.stop()
    results = [bench.summarize() for bench in benches]
    print(render_table(results, profile))
    print(f"\n({'quick' if args.quick else 'full'} run, {time.monotonic() - started:.0f} s)")
    if args.json:
        args.json.write_text(
            json.dumps({"profile": dataclasses.asdict(profile), "results": results}, indent=1)
        )
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
