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

``--baseline PATH`` adds another build of wscli (``PATH`` is its ``wscli``) as a third column,
to compare before and after a change within one run.

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


def start_proxy(
    peer_port: int, wscli: list[str] | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    proc = subprocess.Popen(
        [*(wscli or _wscli()), "proxy", f"ws://127.0.0.1:{peer_port}/", "--port", "0"],
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
    parser.add_argument("--baseline", help="another build's wscli, run as a third column")
    args = parser.parse_args()

    fanout = _fanout()
    binary = fanout.build_generator()
    timeout = args.duration * 3 + 60
    peer, peer_port = start_peer()
    proxy, proxy_port = start_proxy(peer_port)
    targets = [("direct", peer_port, peer), ("proxy", proxy_port, proxy)]
    if args.baseline:
        baseline, baseline_port = start_proxy(peer_port, [args.baseline])
        targets.append(("baseline", baseline_port, baseline))
    results: dict[str, list[dict[str, Any]]] = {}
    try:
        common = ["--subs", "1", "--path", "/bench", "--warmup", "1", "--timeout", "20"]
        for _ in range(args.repeat):
            for name, port, relay in targets:
                for mode, extra in (
                    ("latency", ["--rate", str(args.rate)]),
                    ("fanout", ["--window", str(args.window)]),
                ):
                    flags = [*common, "--mode", mode, *extra, "--port", str(port)]
                    flags += ["--duration", str(args.duration)]
                    before = {p.pid: cpu_seconds(p.pid) for p in (peer, relay)}
                    result = fanout.run_generator(binary, flags, None, timeout)
                    for p, label in ((peer, "peer_cpu"), (relay, "proxy_cpu")):
                        result[label] = cpu_seconds(p.pid) - before[p.pid]
                    note = fanout.check_delivery(result)
                    if note:
                        print(f"note: {name} {mode}: {note}", file=sys.stderr)
                    results.setdefault(f"{name}-{mode}", []).append(result)
                    time.sleep(0.5)
    finally:
        for _, _, process in reversed(targets):
            _stop(process)

    def best(key: str, field: str, pick: Any = min) -> float:
        return float(pick(r[field] for r in results[key]))

    names = [name for name, _, _ in targets]

    def cpu_us(key: str, field: str) -> float:
        # CPU per delivery over the whole throughput phase (warm-up and drain included):
        # what the machine's load barely changes, unlike the rates above.
        run = max(results[key], key=lambda r: r["deliveries_per_s"])
        return 1e6 * run[field] / max(run["deliveries"], 1)

    rows: list[tuple[str, list[float], str]] = []
    p50 = [best(f"{n}-latency", "p50_us") / 1000 for n in names]
    p99 = [best(f"{n}-latency", "p99_us") / 1000 for n in names]
    tput = [best(f"{n}-fanout", "deliveries_per_s", max) for n in names]
    rows.append(("latency p50 (ms)", p50, _added(p50)))
    rows.append(("latency p99 (ms)", p99, _added(p99)))
    rows.append(
        ("throughput (deliveries/s)", tput, ", ".join(f"{t / tput[0]:.0%}" for t in tput[1:]))
    )
    rows.append(
        ("CPU µs per delivery, peer", [cpu_us(f"{n}-fanout", "peer_cpu") for n in names], "")
    )
    relay_cpu = [0.0] + [cpu_us(f"{n}-fanout", "proxy_cpu") for n in names[1:]]
    rows.append(("CPU µs per delivery, proxy", relay_cpu, ""))
    print(f"wscli proxy vs direct to node-ws; {args.rate} msg/s latency, window {args.window}")
    print(f"{'':28}" + "".join(f"{n:>12}" for n in names) + "  vs direct")
    for label, values, diff in rows:
        fmt = "{:>12.3f}" if values[0] < 1000 else "{:>12.0f}"
        print(f"{label:28}" + "".join(fmt.format(v) for v in values) + f"  {diff}")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(results, indent=2) + "\n")


def _added(values: list[float]) -> str:
    """What each relay adds to the direct value (ms)."""
    return ", ".join(f"+{v - values[0]:.3f} ms" for v in values[1:])


if __name__ == "__main__":
    main()
