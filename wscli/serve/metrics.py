"""What `wscli serve` counts, and the answers that show it: ``/metrics``, ``/healthz?verbose``
and ``/log`` (the last log lines, for `wscli top`).

**Cost.** On the message path the server only increments plain integers, where the events
already happen (:class:`Counters` here, ``Hub.sent_messages``/``sent_bytes`` and each
room's ``messages``/``bytes`` in :mod:`wscli.serve.hub`); the fan-out delay is timed once
per event-loop tick, not per message. Everything else (rooms, history, backlog, descriptors,
Redis) is read when a scrape asks, by :func:`families`. No lock is taken anywhere: the
server is one event loop, and prometheus-client's metric objects, which take a lock per
``inc()``, are not used at all (see :mod:`wscli.core.exposition`).

**Who may see what.** ``/healthz`` is public and says ``ok``/``degraded`` with counts only
(:meth:`~wscli.serve.server.ChatServer.health`). ``/metrics``, ``/healthz?verbose`` (per-room
lag, the Redis prefix) and ``/log`` need the metrics token (``--metrics-token``, else the
join token ``--token``) when one is set: ``Authorization: Bearer T`` or ``?token=T``, 401
without, 403 when wrong. The Host allow-list applies to them as to every request. Room
names are never labels unless ``--metrics-rooms N`` asks for the N busiest rooms.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from typing import TYPE_CHECKING, Any

from wscli import __version__
from wscli.core import exposition
from wscli.core.escape import escape_control
from wscli.core.exposition import Family, Histogram, counter, gauge
from wscli.serve import access
from wscli.serve import http as serverhttp
from wscli.serve.log import format_line

if TYPE_CHECKING:
    from websockets.http11 import Request, Response

    from wscli.serve.server import ChatServer

HANDSHAKE_BOUNDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

REFUSAL_REASONS = ("request", "host", "origin", "token", "full", "fds", "timeout")
"""Why a connection was turned away: a malformed or unservable request (400, 405, 431, not
HTTP, a failed upgrade), a foreign Host (403), a browser origin (403), a missing or wrong
token (401/403), --max-clients (503), no file descriptor left (503, failed accepts), no
request head within --handshake-timeout."""

MAX_ROOM_LABELS = 1000
"""The most rooms ``--metrics-rooms`` may name (each is a series in Prometheus)."""

MAX_LABEL = 120
"""Characters of a room name shown in a label; longer names end in a hash, so two rooms
never share a label."""

METRICS_PATH, LOG_PATH, HEALTH_PATH = "/metrics", "/log", "/healthz"
LOG_LINE_CHARS = 400


class Counters:
    """The server's own counters: plain integers, incremented where the events happen."""

    __slots__ = ("bytes_in", "closed", "handshake", "messages_in", "opened", "refused", "slow")

    def __init__(self) -> None:
        self.opened = 0
        self.messages_in = 0
        self.bytes_in = 0
        self.slow = 0
        self.refused = dict.fromkeys(REFUSAL_REASONS, 0)
        self.closed: dict[str, int] = {}
        self.handshake = Histogram(HANDSHAKE_BOUNDS)

    def close(self, code: int) -> None:
        """A client's connection ended with ``code`` (1006: no close frame)."""
        label = close_code_label(code)
        self.closed[label] = self.closed.get(label, 0) + 1


def close_code_label(code: int) -> str:
    """A bounded label for a close code: the codes of RFC 6455 and the registry as they
    are; the application ranges as ``3xxx``/``4xxx`` (a peer chooses those freely, and each
    distinct label is a series in Prometheus)."""
    if 1000 <= code <= 1015:
        return str(code)
    if 3000 <= code <= 4999:
        return f"{code // 1000}xxx"
    return "other"


def room_label(name: str) -> str:
    """A room name fit for a label: bounded, and unique: a name with control characters
    (escaped) or over :data:`MAX_LABEL` characters (shortened) ends in a hash of the whole."""
    shown = escape_control(name, keep_newlines=False)
    if shown == name and len(shown) <= MAX_LABEL:
        return shown
    # Escaped or shortened: the hash keeps it apart from a room whose name reads the same.
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{shown[: MAX_LABEL - 14]}…{digest}"


# Answers


def answer(server: ChatServer, request: Request, method: str, path: str) -> Response | None:
    """The answer to a plain request for ``/metrics``, ``/log`` or ``/healthz?verbose``
    (after the Host check), or None for any other path (:mod:`wscli.serve.http`'s)."""
    _, params = access.split_path(request.path)
    verbose = path == HEALTH_PATH and "verbose" in params
    if path not in (METRICS_PATH, LOG_PATH) and not verbose:
        return None
    if method not in ("GET", "HEAD"):
        return None  # 405 from wscli.serve.http
    denied = _denied(server.metrics_token, request, params)
    if denied is not None:
        return denied
    if path == METRICS_PATH:
        openmetrics = exposition.wants_openmetrics(request.headers.get("Accept"))
        body = exposition.render(families(server), openmetrics)
        kind = exposition.OPENMETRICS_TYPE if openmetrics else exposition.TEXT_TYPE
        return serverhttp.document(method, body, kind)
    if path == LOG_PATH:
        try:
            after = int(params.get("after", "0"))
        except ValueError:
            after = 0
        body = json.dumps({"events": log_tail(server, after)}).encode()
        return serverhttp.document(method, body, "application/json")
    return serverhttp.document(method, json.dumps(server.detail()).encode(), "application/json")


def _denied(token: str | None, request: Request, params: dict[str, str]) -> Response | None:
    """401 or 403 unless the request carries ``token`` (None: no token needed)."""
    if token is None:
        return None
    presented = access.presented_token(request.headers, params)
    if presented is None:
        response = serverhttp.text_response(401, "Token required: Authorization: Bearer TOKEN.")
        response.headers["WWW-Authenticate"] = 'Bearer realm="wscli"'
        return response
    if not access.token_matches(presented, token):
        return serverhttp.text_response(403, "Invalid token.")
    return None


def log_tail(server: ChatServer, after: int) -> list[dict[str, Any]]:
    """The log's last events after sequence number ``after``, each as its one line."""
    return [
        {
            "seq": seq,
            "time": event["time"],
            "event": event["event"],
            "line": format_line(event)[:LOG_LINE_CHARS],
        }
        for seq, event in server.log.recent(after)
    ]


# The exposition, read at scrape time


def families(server: ChatServer) -> list[Family]:
    """Every metric family of ``server`` now (see the README's table of metrics)."""
    hub, counts = server.hub, server.counters
    refused = dict(counts.refused)
    refused["fds"] = server.fds.refused_total
    out = [
        gauge("wscli_build_info", "wscli's version (always 1).", {(("version", __version__),): 1}),
        gauge("wscli_start_time_seconds", "When the server started (Unix time).", server.born),
        counter(
            "wscli_connections_opened",
            "WebSocket connections opened (handshake completed).",
            counts.opened,
        ),
        counter(
            "wscli_connections_refused",
            "Connections turned away, by reason.",
            {(("reason", reason),): n for reason, n in refused.items()},
        ),
        counter(
            "wscli_connections_closed",
            "Client connections ended, by close code (1006: no close frame).",
            {(("code", code),): n for code, n in sorted(counts.closed.items())},
        ),
        counter("wscli_messages_received", "Messages received from clients.", counts.messages_in),
        counter("wscli_received_bytes", "Payload bytes of messages received.", counts.bytes_in),
        counter("wscli_messages_sent", "Messages written to clients.", hub.sent_messages),
        counter(
            "wscli_sent_bytes",
            "Bytes of message frames written to clients (before compression).",
            hub.sent_bytes,
        ),
        counter(
            "wscli_slow_clients_dropped",
            "Clients closed with 1013 for not reading (--max-queue, --max-total-queue).",
            counts.slow,
        ),
        gauge("wscli_clients", "WebSocket clients in rooms.", hub.clients),
        gauge(
            "wscli_connections", "Open connections, handshakes included.", len(server.connections)
        ),
        gauge("wscli_rooms", "Rooms with at least one client.", hub.active_rooms),
        gauge("wscli_rooms_kept", "Rooms without clients kept for their history.", hub.kept_rooms),
        gauge("wscli_history_bytes", "History held by all rooms.", hub.history_held),
        gauge(
            "wscli_queued_bytes",
            "Unsent bytes of the clients that fell behind, as last measured.",
            server.budget.held,
        ),
        gauge(
            "wscli_clients_behind",
            "Clients whose unsent bytes passed the write limit now.",
            server.budget.behind,
        ),
        gauge("wscli_open_fds", "File descriptors open.", server.fds.budget.open),
        gauge(
            "wscli_max_fds",
            "The file descriptor limit (-1: none).",
            -1 if server.fds.budget.limit is None else server.fds.budget.limit,
        ),
        counts.handshake.family(
            "wscli_handshake_duration_seconds",
            "From the accepted connection (after TLS) to the 101 sent.",
        ),
        hub.fanout.family(
            "wscli_fanout_delay_seconds",
            "From a message reaching the hub to the last write of it, measured per event-loop "
            "tick (each message counts the delay of its tick's first).",
        ),
    ]
    out += _redis_families(server.hub.backplane.describe())
    if server.config.metrics_rooms:
        out += _room_families(server, server.config.metrics_rooms)
    return out


def _redis_families(described: dict[str, Any]) -> list[Family]:
    if described.get("kind") != "redis":
        return []
    backlog = described.get("backlog") or {}
    lag = described.get("lag") or {}
    kept = described.get("kept") or {}
    return [
        gauge(
            "wscli_redis_connected",
            "1 while messages go through Redis, 0 while it is lost.",
            int(bool(described.get("connected"))),
        ),
        counter("wscli_redis_appends", "Stream entries appended.", described.get("appends", 0)),
        counter("wscli_redis_reads", "Stream entries read.", described.get("reads", 0)),
        counter(
            "wscli_redis_errors",
            "Redis connections lost (failed commands, timeouts).",
            described.get("errors", 0),
        ),
        gauge(
            "wscli_redis_backlog_bytes",
            "Bytes accepted here and not yet read back from Redis.",
            backlog.get("bytes", 0),
        ),
        gauge(
            "wscli_redis_backlog_batches",
            "Stream entries accepted here and not yet read back.",
            backlog.get("batches", 0),
        ),
        gauge(
            "wscli_redis_lag_seconds",
            "Age of the oldest message not yet read back from Redis (0: none).",
            max(lag.values(), default=0.0),
        ),
        gauge(
            "wscli_redis_overdue_seconds",
            "How late the latest Redis command is past due (0: none is).",
            described.get("overdue", 0.0),
        ),
        counter(
            "wscli_redis_lost_messages",
            "Messages that never reached this instance: Redis lost or trimmed them.",
            described.get("lost_messages", 0),
        ),
        gauge(
            "wscli_redis_kept_streams",
            "Room streams this instance has written to and keeps in Redis.",
            kept.get("streams", 0),
        ),
        counter(
            "wscli_redis_streams_dropped",
            "Streams deleted or trimmed to keep this instance within its bounds.",
            kept.get("deleted", 0) + kept.get("trimmed", 0),
        ),
    ]


def _room_families(server: ChatServer, limit: int) -> list[Family]:
    """The ``limit`` rooms with the most messages (--metrics-rooms), by name."""
    busiest = heapq.nlargest(limit, server.hub.rooms.values(), key=lambda room: room.messages)
    labels = [((("room", room_label(room.name)),), room) for room in busiest]
    return [
        gauge(
            "wscli_room_clients",
            "Clients of the busiest rooms (--metrics-rooms).",
            {label: len(room.members) for label, room in labels},
        ),
        counter(
            "wscli_room_messages",
            "Messages delivered in the busiest rooms (--metrics-rooms).",
            {label: room.messages for label, room in labels},
        ),
        counter(
            "wscli_room_bytes",
            "Payload bytes delivered in the busiest rooms (--metrics-rooms).",
            {label: room.bytes for label, room in labels},
        ),
    ]
