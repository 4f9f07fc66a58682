"""Readings for the `wscli top` tests: the exposition a server would send, built with the
server's own writer, read back by top's own parser."""

from __future__ import annotations

from typing import Any

from wscli.core.exposition import Histogram, counter, gauge, parse, render
from wscli.top.model import Snapshot, Watch


def exposition(step: int, rooms: int = 8, redis: bool = True, hostile: bool = False) -> str:
    """What a busy server says at its ``step``-th reading (counters grow with ``step``)."""
    delay = Histogram((0.001, 0.01, 0.1))
    delay.observe(0.0005, 50 * step)
    delay.observe(0.005, 40 * step)
    delay.observe(0.05, 10 * step)
    handshake = Histogram((0.001, 0.01))
    handshake.observe(0.002, 5 * step)
    room_names = [f"/room-{n}" for n in range(rooms)]
    if hostile:
        room_names[0] = "/evil\x1b]0;pwned\x07"
    families = [
        gauge("wscli_build_info", "v", {(("version", "0.1.0"),): 1}),
        gauge("wscli_start_time_seconds", "s", 1.7e9),
        counter("wscli_connections_opened", "o", 10 * step),
        counter(
            "wscli_connections_refused",
            "r",
            {
                (("reason", "token"),): 3 * step,
                (("reason", "origin"),): step,
                (("reason", "host"),): 0,
            },
        ),
        counter("wscli_connections_closed", "c", {(("code", "1000"),): step}),
        counter("wscli_messages_received", "m", 1000 * step),
        counter("wscli_received_bytes", "b", 64000 * step),
        counter("wscli_messages_sent", "m", 100000 * step),
        counter("wscli_sent_bytes", "b", 6400000 * step),
        counter("wscli_slow_clients_dropped", "s", step),
        gauge("wscli_clients", "c", 1234),
        gauge("wscli_connections", "c", 1240),
        gauge("wscli_rooms", "r", rooms),
        gauge("wscli_rooms_kept", "r", 0),
        gauge("wscli_history_bytes", "h", 0),
        gauge("wscli_queued_bytes", "q", 3 * 2**20),
        gauge("wscli_clients_behind", "b", 2),
        gauge("wscli_open_fds", "f", 1250),
        gauge("wscli_max_fds", "f", 65536),
        handshake.family("wscli_handshake_duration_seconds", "h"),
        delay.family("wscli_fanout_delay_seconds", "d"),
        gauge(
            "wscli_room_clients",
            "c",
            {(("room", name),): 10 + n for n, name in enumerate(room_names)},
        ),
        counter(
            "wscli_room_messages",
            "m",
            {(("room", name),): (n + 1) * 10 * step for n, name in enumerate(room_names)},
        ),
        counter(
            "wscli_room_bytes",
            "b",
            {(("room", name),): (n + 1) * 640 * step for n, name in enumerate(room_names)},
        ),
    ]
    if redis:
        families += [
            gauge("wscli_redis_connected", "c", 1),
            counter("wscli_redis_appends", "a", 50 * step),
            counter("wscli_redis_reads", "r", 50 * step),
            counter("wscli_redis_errors", "e", 0),
            gauge("wscli_redis_backlog_bytes", "b", 2048),
            gauge("wscli_redis_backlog_batches", "b", 2),
            gauge("wscli_redis_lag_seconds", "l", 0.012),
        ]
    return render(families).decode()


def busy_watch(
    readings: int = 20, rooms: int = 8, redis: bool = True, hostile: bool = False
) -> Watch:
    """A Watch after ``readings`` readings half a second apart, with log lines."""
    watch = Watch()
    for step in range(1, readings + 1):
        _, samples = parse(exposition(step, rooms, redis, hostile))
        health: dict[str, Any] = {"status": "ok", "clients": 1234, "rooms": rooms}
        lines = [f"#{step} connected from 127.0.0.1:5{step:04d} to /room-{step % max(rooms, 1)}"]
        if hostile:
            lines.append("#9 connected from 127.0.0.1:1 to /x\x1b[2J\x9b31m")
        watch.add(Snapshot.of(step * 0.5, samples), health, lines)
    return watch
