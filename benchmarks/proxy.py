"""Relay throughput and added latency of `wscli proxy`, against a direct connection, in one run.

The upstream is Node `ws` (../shared/peers/node-ws: a broadcast server, the sender included);
the load generator is benchmarks/wsload.c (compiled on the spot, as for fanout.py). Each
phase runs twice in the same run, once straight to the peer and once through
`wscli proxy --port 0 ws://127.0.0.1:PEER/` (its stdout, the conversation view, goes to
/dev/null: that work is part of what is measured), and the script prints both side by side
with the ratio or the difference:

- latency: one publisher sends --rate 64-byte messages per second; one subscriber receives
  them; p50/p99 from send to receipt. Through the proxy both connections pass it, so the
  added latency is two relays (publisher -> peer, peer -> subscriber);
- throughput: the publisher keeps --window messages in flight; deliveries per second (to the
  publisher's own echo and to the subscriber, both through the proxy).

Everything listens on 127.0.0.1 with kernel-chosen ports; every process is started here and
stopped by its PID. Numbers are noisy on a shared machine: compare within one run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
PEERS = Path(os.environ.get("WSCLI_PEERS", HERE.parent.parent / "shared" / "peers"))
if not PEERS.exists():
    PEERS = Path("/work/shared/peers")


def _fanout() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_fanout", HERE / "fanout.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _wscli() -> list[str]:
    script = Path(sys.executable).parent / "wscli"
    return [str(script)] if script.exists() else [sys.executable, "-m", "wscli"]


def _stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def start_peer() -> tuple[subprocess.Popen[bytes], int]:
    proc = subprocess.Popen(
        [str(PEERS / "start"), "node-ws", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    if "listening on" not in line:
        _stop(proc)
        raise SystemExit(f"node-ws did not start: {line!r}")
    return proc, int(line.split()[-1])


def start_proxy(peer_port: int) -> tuple[subprocess.Popen[bytes], int]:
    proc = subprocess.Popen(
        [*_wscli(), "proxy", f"ws://127.0.0.1:{peer_port}/", "--port", "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert proc.stderr is not None
    line = proc.stderr.readline().decode()
    match = re.search(r"Proxying ws://127\.0\.0\.1:(\d+)", line)
    if match is None:
        _stop(proc)
        raise SystemExit(f"wscli proxy did not start: {line!r}")
    return proc, int(match[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=500, help="latency phase: messages/s")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per phase")
    parser.add_argument("--window", type=int, default=64, help="throughput: messages in flight")
    parser.add_argument("--repeat", type=int, default=1, help="alternate direct/proxy N times")
    parser.add_argument("--json", dest="json_path", help="also write the results here")
    args = parser.parse_args()

    fanout = _fanout()
    binary = fanout.build_generator()
    timeout = args.duration * 3 + 60
    peer, peer_port = start_peer()
    proxy, proxy_port = start_proxy(peer_port)
    results: dict[str, list[dict[str, Any]]] = {}
    try:
        common = ["--subs", "1", "--path", "/bench", "--warmup", "1", "--timeout", "20"]
        for _ in range(args.repeat):
            for name, port in (("direct", peer_port), ("proxy", proxy_port)):
                for mode, extra in (
                    ("latency", ["--rate", str(args.rate)]),
                    ("fanout", ["--window", str(args.window)]),
                ):
                    flags = [*common, "--mode", mode, *extra, "--port", str(port)]
                    flags += ["--duration", str(args.duration)]
                    before = {p.pid: cpu_seconds(p.pid) for p in (peer, proxy)}
                    result = fanout.run_generator(binary, flags, None, timeout)
                    for p, label in ((peer, "peer_cpu"), (proxy, "proxy_cpu")):
                        result[label] = cpu_seconds(p.pid) - before[p.pid]
                    note = fanout.check_delivery(result)
                    if note:
                        print(f"note: {name} {mode}: {note}", file=sys.stderr)
                    results.setdefault(f"{name}-{mode}", []).append(result)
                    time.sleep(0.5)
    finally:
        _stop(proxy)
        _stop(peer)

    def best(key: str, field: str, pick: Any = min) -> float:
        return float(pick(r[field] for r in results[key]))

    p50_d, p50_p = best("direct-latency", "p50_us"), best("proxy-latency", "p50_us")
    p99_d, p99_p = best("direct-latency", "p99_us"), best("proxy-latency", "p99_us")
    tput_d = best("direct-fanout", "deliveries_per_s", max)
    tput_p = best("proxy-fanout", "deliveries_per_s", max)

    # CPU per delivery over the whole throughput phase (warm-up and drain included): what
    # the machine's load barely changes, unlike the rates above.
    def cpu_us(key: str, field: str) -> float:
        run = max(results[key], key=lambda r: r["deliveries_per_s"])
        return 1e6 * run[field] / max(run["deliveries"], 1)

    rows = [
        ("latency p50 (ms)", p50_d / 1000, p50_p / 1000, f"+{(p50_p - p50_d) / 1000:.3f} ms"),
        ("latency p99 (ms)", p99_d / 1000, p99_p / 1000, f"+{(p99_p - p99_d) / 1000:.3f} ms"),
        ("throughput (deliveries/s)", tput_d, tput_p, f"{tput_p / tput_d:.0%} of direct"),
        (
            "CPU µs per delivery, peer",
            cpu_us("direct-fanout", "peer_cpu"),
            cpu_us("proxy-fanout", "peer_cpu"),
            "",
        ),
        ("CPU µs per delivery, proxy", 0.0, cpu_us("proxy-fanout", "proxy_cpu"), ""),
    ]
    print(f"wscli proxy vs direct to node-ws; {args.rate} msg/s latency, window {args.window}")
    print(f"{'':28}{'direct':>12}{'proxy':>12}  difference")
    for label, direct, proxied, diff in rows:
        fmt = "{:>12.3f}" if direct < 1000 else "{:>12.0f}"
        print(f"{label:28}{fmt.format(direct)}{fmt.format(proxied)}  {diff}")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
