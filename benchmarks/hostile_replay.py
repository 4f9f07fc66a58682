"""What a hostile client costs `wscli serve` through the page's subprotocol (`wscli.chat.v1`),
beside what a raw client costs, in one run (ratios within a run: the machine is shared).

    .venv/bin/python benchmarks/hostile_replay.py              # this checkout: ~20 s
    .venv/bin/python benchmarks/hostile_replay.py --src DIR    # another tree's wscli/ (before)

Prints: server CPU per join with 4 x 1 MiB of U+202E kept (--history 10), raw and with the
subprotocol (the attacker resets each connection unread); a bystander's round trips in
another room while 10 such joins run; server CPU per live 1 MiB broadcast to one raw and to
one subprotocol reader; and the server's RSS growth for 10 newcomers that offer the
subprotocol and never read, with 4 x 1 MiB of U+0001 kept. CPU and RSS come from /proc
(Linux); the server is started here on 127.0.0.1 and stopped by its PID.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

from websockets.asyncio.client import connect

MiB = 2**20
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
SUBPROTOCOL = "Sec-WebSocket-Protocol: wscli.chat.v1\r\n"
JOINS = 8


def cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def start(src: str | None, *args: str) -> tuple[subprocess.Popen[str], int]:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = src
    proc = subprocess.Popen(
        [sys.executable, "-m", "wscli", "serve", "--port", "0", *args],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        env=env,
        text=True,
        cwd="/",  # `-m` puts the working directory first on the path: not this checkout
    )
    assert proc.stderr is not None
    banner = proc.stderr.readline()
    found = re.search(r":(\d+)/", banner)
    if found is None:
        proc.kill()
        raise RuntimeError(f"no banner: {banner!r}")
    return proc, int(found[1])


def upgrade(port: int, extra: str = "") -> bytes:
    return (
        f"GET /chat HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n"
        f"{extra}\r\n"
    ).encode()


def join_and_reset(port: int, extra: str) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(upgrade(port, extra))
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                raise RuntimeError(f"closed: {head!r}")
            head += chunk
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


async def post(port: int, messages: list[str], room: str = "/chat") -> None:
    url = f"ws://127.0.0.1:{port}{room}"
    async with connect(url, proxy=None, compression=None, max_size=None) as ws:
        for message in messages:
            await ws.send(message)
            await asyncio.wait_for(ws.recv(), 60)


def cpu_per_join(proc: subprocess.Popen[str], port: int, extra: str) -> float:
    before = cpu(proc.pid)
    for _ in range(JOINS):
        join_and_reset(port, extra)
    join_and_reset(port, "")  # the server has written the last replay once it answers
    time.sleep(0.2)
    return (cpu(proc.pid) - before) / JOINS


async def replay_cost(src: str | None) -> None:
    proc, port = start(src, "--history", "10", "--max-size", "2M")
    try:
        await post(port, ["\u202e" * (MiB // 3)] * 4)
        raw = cpu_per_join(proc, port, "")
        enveloped = cpu_per_join(proc, port, SUBPROTOCOL)
        print(f"CPU per join (4 x 1 MiB U+202E kept): raw {raw * 1000:.1f} ms, ", end="")
        print(f"wscli.chat.v1 {enveloped * 1000:.1f} ms")
        url = f"ws://127.0.0.1:{port}/other"
        async with connect(url, proxy=None, compression=None) as bystander:
            loop = asyncio.get_running_loop()
            joins = loop.run_in_executor(
                None, lambda: [join_and_reset(port, SUBPROTOCOL) for _ in range(10)]
            )
            rtts = []
            while not joins.done():
                sent = time.perf_counter()
                await bystander.send("x")
                await bystander.recv()
                rtts.append(time.perf_counter() - sent)
                await asyncio.sleep(0.01)
            await joins
        rtts.sort()
        print(
            f"bystander round trips during 10 such joins: p50 {rtts[len(rtts) // 2] * 1000:.1f}"
            f" ms, max {rtts[-1] * 1000:.1f} ms ({len(rtts)} samples)"
        )
        for label, offer in (("raw", None), ("wscli.chat.v1", ["wscli.chat.v1"])):
            url = f"ws://127.0.0.1:{port}/live"
            async with connect(
                url, proxy=None, compression=None, max_size=None, subprotocols=offer
            ) as reader:
                before = cpu(proc.pid)
                await post(port, ["\u202e" * (MiB // 3)] * 8, "/live")
                for _ in range(8):
                    await asyncio.wait_for(reader.recv(), 60)
                each = (cpu(proc.pid) - before) / 8
            print(f"CPU per live 1 MiB broadcast (echo + one {label} reader): {each * 1000:.1f} ms")
    finally:
        proc.terminate()
        proc.wait()


async def newcomer_memory(src: str | None) -> None:
    proc, port = start(src, "--history", "10", "--max-size", "2M")
    sockets: list[socket.socket] = []
    try:
        await post(port, ["\x01" * MiB] * 4)
        time.sleep(0.3)
        before = rss(proc.pid)
        for _ in range(10):
            sock = socket.socket()
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.settimeout(30)
            sock.connect(("127.0.0.1", port))
            sock.sendall(upgrade(port, SUBPROTOCOL))
            head = b""
            while b"\r\n\r\n" not in head:
                head += sock.recv(1)  # the head only: the replay stays unread
        time.sleep(1.0)
        grown = rss(proc.pid) - before
        print(
            f"RSS of 10 non-reading wscli.chat.v1 newcomers (4 x 1 MiB U+0001 kept): "
            f"+{grown / MiB:.1f} MiB, +{grown / MiB / 10:.1f} MiB each"
        )
    finally:
        for sock in sockets:
            sock.close()
        proc.terminate()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", help="a source tree whose wscli/ to run (default: installed)")
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()[0]:.1f}")
    asyncio.run(replay_cost(args.src))
    asyncio.run(newcomer_memory(args.src))


if __name__ == "__main__":
    main()
