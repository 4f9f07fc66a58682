"""A throwaway redis-server for the tests (no persistence, loopback, a free port)."""

from __future__ import annotations

import concurrent.futures
import json
import random
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from tests.support import OPEN_TIMEOUT, STARTUP_TIMEOUT, scaled
from tests.support.serve_process import ServeProcess, free_port
from wscli.serve.room_message import RoomMessage


class RedisServer:
    """A throwaway redis-server on 127.0.0.1 (no persistence), ready when PING answers."""

    def __init__(self, port: int = 0, *extra: str) -> None:
        self.port = port or free_port()
        self.password = extra[extra.index("--requirepass") + 1] if "--requirepass" in extra else ""
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + scaled(STARTUP_TIMEOUT)  # 10 s ran out at load 19
        while time.monotonic() < deadline:
            auth = ["--no-auth-warning", "-a", self.password] if self.password else []
            ping = subprocess.run(
                ["redis-cli", "-p", str(self.port), *auth, "ping"],
                capture_output=True,
                timeout=scaled(5),
                check=False,
            )
            if ping.stdout.strip() == b"PONG":
                return
            if self.proc.poll() is not None:
                break  # it exited (e.g. a port it cannot use): no point waiting
            time.sleep(0.05)
        self.stop()
        raise AssertionError("redis-server did not answer PING")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)  # as a crash: no goodbye to the clients
        self.proc.wait(timeout=scaled(10))


def redis_cli(port: int, *args: str) -> str:
    """One redis-cli command against 127.0.0.1:``port``; its output."""
    done = subprocess.run(
        ["redis-cli", "-p", str(port), *args],
        capture_output=True,
        timeout=scaled(10),
        check=True,
    )
    return done.stdout.decode()


def cluster_port() -> int:
    """A free port P whose cluster bus port P + 10000 is free too (and below 65536)."""
    for _ in range(200):
        port = random.randrange(20000, 55000)
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise AssertionError("no free port pair for a Redis Cluster node")


class RedisCluster:
    """A throwaway Redis Cluster on loopback, ready when cluster_state:ok: 3 primaries, and
    ``replicas`` replicas of each (``--cluster-node-timeout`` 1 s, so a failover is quick).
    The nodes start side by side; a primary sends a replica its data at once
    (``--repl-diskless-sync-delay 0``: Redis 7 waits 5 s by default for more replicas)."""

    def __init__(self, workdir: Path, replicas: int = 0) -> None:
        self.nodes: list[RedisServer] = []
        try:
            folders = [workdir / f"node{index}" for index in range(3 * (1 + replicas))]
            for folder in folders:
                folder.mkdir()
            ports: list[int] = []  # apart: no node may pick another's port or bus port
            while len(ports) < len(folders):
                port = cluster_port()
                if not {port, port + 10000} & {p + bus for p in ports for bus in (0, 10000)}:
                    ports.append(port)
            with concurrent.futures.ThreadPoolExecutor(len(folders)) as pool:
                starting = [
                    pool.submit(
                        RedisServer,
                        port,
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        str(folder / "nodes.conf"),
                        "--cluster-node-timeout",
                        "1000",
                        "--repl-diskless-sync-delay",
                        "0",
                        "--dir",
                        str(folder),
                    )
                    for folder, port in zip(folders, ports, strict=True)
                ]
            self.nodes = [node.result() for node in starting if node.exception() is None]
            for node in starting:
                node.result()  # the first that failed raises (the others are stopped)
            subprocess.run(
                [
                    "redis-cli",
                    "--cluster",
                    "create",
                    *(f"127.0.0.1:{node.port}" for node in self.nodes),
                    "--cluster-replicas",
                    str(replicas),
                    "--cluster-yes",
                ],
                capture_output=True,
                timeout=scaled(30),
                check=True,
            )
            self.wait_ok(self.nodes)
            if replicas:  # every replica has synchronised with its primary
                deadline = time.monotonic() + scaled(20)
                while any(
                    "master_link_status:up" not in redis_cli(node.port, "info", "replication")
                    for node in self.nodes
                    if "role:slave" in redis_cli(node.port, "info", "replication")
                ):
                    assert time.monotonic() < deadline, "replicas did not synchronise"
                    time.sleep(0.1)
        except BaseException:
            self.stop()
            raise

    @staticmethod
    def wait_ok(nodes: list[RedisServer], timeout: float = 15) -> None:
        """Until every node in ``nodes`` says cluster_state:ok."""
        deadline = time.monotonic() + scaled(timeout)
        for node in nodes:
            while "cluster_state:ok" not in redis_cli(node.port, "cluster", "info"):
                if time.monotonic() > deadline:
                    raise AssertionError("the Redis Cluster did not reach cluster_state:ok")
                time.sleep(0.1)

    def owners(self, key: str) -> tuple[RedisServer, RedisServer]:
        """The primary that holds ``key``'s slot now, and one of its replicas."""
        slot = int(redis_cli(self.nodes[0].port, "cluster", "keyslot", key))
        by_id: dict[str, RedisServer] = {}
        primary_id = ""
        replicas: dict[str, str] = {}  # replica id -> its primary's id
        for line in redis_cli(self.nodes[0].port, "cluster", "nodes").splitlines():
            fields = line.split()
            node_id, address, flags, master = fields[0], fields[1], fields[2], fields[3]
            port = int(address.split("@")[0].rsplit(":", 1)[1])
            by_id[node_id] = next(n for n in self.nodes if n.port == port)
            if "slave" in flags:
                replicas[node_id] = master
            for part in fields[8:]:
                low, _, high = part.partition("-")
                if low.isdigit() and int(low) <= slot <= int(high or low):
                    primary_id = node_id
        replica_id = next(r for r, m in replicas.items() if m == primary_id)
        return by_id[primary_id], by_id[replica_id]

    @property
    def url(self) -> str:
        return self.nodes[0].url.removesuffix("/0")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


class Received:
    """A hub stand-in for in-process backplane tests: records what the backplane calls."""

    def __init__(self) -> None:
        self.messages: list[RoomMessage] = []
        self.histories: list[tuple[str, list[RoomMessage], bool]] = []
        self.gaps: list[tuple[str, str, list[RoomMessage] | None]] = []
        self.lost_counts: list[tuple[str, int]] = []

    @property
    def data(self) -> list[bytes]:
        return [m.data for m in self.messages]

    def deliver_local(self, room: str, message: RoomMessage, sender: str | None) -> None:
        self.messages.append(message)

    def deliver_many(self, room: str, messages: list[tuple[RoomMessage, str | None]]) -> None:
        self.messages += [message for message, _ in messages]

    def history_loaded(self, room: str, messages: list[RoomMessage], complete: bool) -> None:
        self.histories.append((room, messages, complete))

    def gap_loaded(self, room: str, since: str, messages: list[RoomMessage] | None) -> None:
        self.gaps.append((room, since, messages))

    def reordered(self, room: str) -> None:
        pass

    def lost(self, room: str, count: int) -> None:
        self.lost_counts.append((room, count))


def chat(data: bytes, ident: str, text: bool = True) -> RoomMessage:
    """A message as a hub publishes it (with its id)."""
    message = RoomMessage(data, text)
    message.id = ident
    return message


async def client(url: str, **kwargs: Any) -> ClientConnection:
    """A websockets client of a `wscli serve` room (no proxy, no compression)."""
    return await connect(
        url, proxy=None, open_timeout=scaled(OPEN_TIMEOUT), compression=None, **kwargs
    )


def healthz(server: ServeProcess, full: bool = False, public: bool = False) -> dict[str, Any]:
    """``status`` and ``backplane`` of the server's /healthz?verbose document (all of it:
    ``full``; the public /healthz, counts only: ``public``)."""
    path = b"/healthz" if public else b"/healthz?verbose"
    with socket.create_connection(("127.0.0.1", server.port), timeout=scaled(5)) as sock:
        sock.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    health: dict[str, Any] = json.loads(answer.partition(b"\r\n\r\n")[2])
    if full or public:
        return health
    return {"status": health["status"], "backplane": health["backplane"]}


def redis_info(port: int, section: str) -> dict[str, str]:
    """``INFO section`` of the Redis at ``port``, as strings."""
    found: dict[str, str] = {}
    for line in redis_cli(port, "info", section).splitlines():
        name, sep, value = line.partition(":")
        if sep:
            found[name] = value.strip()
    return found
