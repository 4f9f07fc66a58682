"""`wscli serve`'s configuration: :class:`ServeConfig`, every option of the command declared
once (see :mod:`wscli.core.options`), and :func:`check_serve_config`, which refuses a bad
value or combination with :class:`~wscli.core.errors.UsageProblem` (exit 2).

Pure (no asyncio, no sockets): the server imports this, never the reverse.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

from wscli.core.errors import UsageProblem, os_reason
from wscli.core.hosts import allowed_host_option, check_allowed_hosts
from wscli.core.options import (
    FILE,
    FLAG,
    Choice,
    Integer,
    Seconds,
    Size,
    declared,
    fixed,
    option,
    zero_is_none,
)
from wscli.core.url import redact_url
from wscli.serve.access import check_origin_option

MIN_STREAM_TTL = 60.0  # seconds: shorter would lose a room's history between two visits


@declared
class ServeConfig:
    """Everything `wscli serve` can be told (a test may build one with only what it needs)."""

    host: str = option(
        "--host",
        envvar="WSCLI_HOST",
        default="127.0.0.1",
        help="Address to listen on; 0.0.0.0 or :: exposes the server to the network.",
    )
    port: int = option(
        "--port",
        kind=Integer(0, 65535),
        envvar="WSCLI_PORT",
        default=3000,
        help="Port to listen on; 0 picks a free one (the banner on stderr says which).",
    )
    subprotocols: Sequence[str] = option(
        "-s",
        "--subprotocol",
        multiple=True,
        metavar="NAME",
        default=(),
        help="Support this subprotocol (repeatable); the first of the client's offers that is "
        "supported is chosen.",
    )
    require_subprotocol: bool = option(
        "--require-subprotocol",
        kind=FLAG,
        default=False,
        help="Refuse (400) clients that offer none of the -s subprotocols.",
    )
    echo: bool = option(
        "--echo/--no-echo",
        kind=FLAG,
        default=True,
        help="Send each message back to its sender too.",
    )
    history: int = option(
        "--history",
        kind=Integer(min=0),
        metavar="N",
        default=0,
        help="Replay the last N messages of a room to each new client (at most --max-queue bytes).",
    )
    history_bytes: int = option(
        "--history-bytes",
        kind=Size(),
        default=64 * 2**20,
        help="History kept by all rooms together; past it, the history of the least recently "
        "active rooms is dropped first.",
    )
    origins: Sequence[str] = option(
        "--origin",
        multiple=True,
        metavar="ORIGIN",
        default=(),
        help="Also accept browsers from ORIGIN, e.g. https://example.com (repeatable; '*' "
        "accepts all). By default only clients without Origin and the page's own origin are "
        "accepted; other browser origins get 403.",
    )
    allowed_hosts: Sequence[str] = allowed_host_option()
    token: str | None = option(
        "--token",
        envvar="WSCLI_TOKEN",
        metavar="TOKEN",
        default=None,
        help="Require this token as 'Authorization: Bearer TOKEN' or ?token=TOKEN "
        "(401 without, 403 if wrong). Prefer the variable or --token-file: arguments show in "
        "ps.",
    )
    token_file: str | None = option(
        "--token-file",
        kind=FILE,
        default=None,
        help="Read the token from the first line of FILE.",
    )
    max_clients: int | None = option(
        "--max-clients",
        kind=Integer(min=1),
        metavar="N",
        default=None,
        help="Refuse (503) WebSocket clients beyond N connected at once.  [default: no limit]",
    )
    max_fds: int | None = option(
        "--max-fds",
        kind=Integer(min=64),
        metavar="N",
        default=None,
        help="Open at most N file descriptors (one per client). Near the limit, new clients "
        "get 503 with Retry-After.  [default: the hard limit, ulimit -Hn]",
    )
    metrics_token: str | None = option(
        "--metrics-token",
        envvar="WSCLI_METRICS_TOKEN",
        metavar="TOKEN",
        default=None,
        help="Require this token (Authorization: Bearer TOKEN or ?token=TOKEN) for /metrics, "
        "/log and /healthz?verbose.  [default: the --token, if any; none: open to anyone who "
        "reaches the server]",
    )
    metrics_rooms: int = option(
        "--metrics-rooms",
        kind=Integer(0, 1000),
        metavar="N",
        default=0,
        help="Name the N busiest rooms in /metrics (clients, messages, bytes per room; at most "
        "1000). Off by default: room names may be secret, and each is a series to store.",
    )
    max_size: int = option(
        "--max-size",
        kind=Size(),
        default=2**20,
        help="Largest incoming message; a client sending more is closed with 1009.",
    )
    max_queue: int = option(
        "--max-queue",
        kind=Size(),
        default=4 * 2**20,
        help="Per-client outgoing buffer; a client that stops reading is closed with 1013 once "
        "its unsent data passes this.",
    )
    max_total_queue: int = option(
        "--max-total-queue",
        kind=Size(),
        default=2**30,
        help="Outgoing data of all clients together; past it, the clients with the most unsent "
        "data are closed with 1013 first (bounds memory when many stop reading at once).",
    )
    ping_interval: float | None = option(
        "--ping-interval",
        kind=Seconds(),
        default=20.0,
        convert=zero_is_none,
        help="Ping each client this often (0: never).",
    )
    ping_timeout: float | None = option(
        "--ping-timeout",
        kind=Seconds(),
        default=20.0,
        convert=zero_is_none,
        help="Close a client that does not answer a ping within this time (0: wait forever).",
    )
    handshake_timeout: float = option(
        "--handshake-timeout",
        kind=Seconds(positive=True),
        default=10.0,
        help="Drop connections that do not complete the (TLS and) WebSocket handshake in time.",
    )
    compression: bool = option(
        "--compression/--no-compression",
        kind=FLAG,
        default=False,
        help="Offer permessage-deflate. Off by default: compressing per client defeats "
        "encoding each broadcast once, the key to fan-out speed.",
    )
    certfile: str | None = option(
        "--certfile",
        kind=FILE,
        default=None,
        help="Serve https:// and wss:// with this certificate chain (PEM).",
    )
    keyfile: str | None = option(
        "--keyfile",
        kind=FILE,
        default=None,
        help="Private key for --certfile (PEM), if not inside it.",
    )
    redis_url: str | None = option(
        "--redis",
        envvar="WSCLI_REDIS_URL",
        metavar="URL",
        default=None,
        help="Share rooms with other instances through Redis Streams (one per room, capped), "
        "e.g. redis://127.0.0.1:6379/0, or any node of a Redis Cluster (needs pip install "
        "'wscli-toolkit[redis]'); a password belongs in the variable, as arguments show in "
        "ps. Unreachable at start: exit 3; lost later: serve local clients only, keep their "
        "messages and append them when Redis returns.",
    )
    redis_channel: str = option(
        "--redis-channel",
        envvar="WSCLI_REDIS_CHANNEL",
        metavar="PREFIX",
        default="wscli:chat",
        help="Prefix of the Redis keys (PREFIX:{HASH}); instances sharing it share rooms, "
        "separate deployments on one Redis need separate prefixes.",
    )
    redis_stream_cap: int = option(
        "--redis-stream-cap",
        kind=Integer(min=16),
        metavar="N",
        default=1000,
        help="Entries kept per room stream (XADD MAXLEN ~ N, at least 2 x --history + 16): how "
        "far the shared history and an instance back from an outage can reach.",
    )
    redis_stream_ttl: float = option(
        "--redis-stream-ttl",
        kind=Seconds(positive=True),
        default=86400.0,
        help="A room stream expires this long after its last message (PEXPIRE with every "
        "append; at least 60): the longest a shared --history or a resume reaches back for "
        "an idle room. What one instance keeps in Redis meanwhile is bounded like local "
        "history: 1,024 idle rooms and --history-bytes.",
    )
    redis_max_backlog: int = option(
        "--redis-max-backlog",
        kind=Size(),
        default=64 * 2**20,
        help="Messages accepted here but not yet confirmed by Redis (slow, stopped or lost); "
        "past it, the clients sending most of them are not read from until it halves.",
    )
    socketio: bool = option(
        "--socketio",
        kind=FLAG,
        default=False,
        help="Also serve Socket.IO clients (protocol 5 over Engine.IO 4: long-polling, "
        "WebSocket and the upgrade) under --socketio-path: a namespace is the room of the same "
        "path, and a 'message' event's first argument reaches raw clients (and back).",
    )
    socketio_path: str = option(
        "--socketio-path",
        metavar="PATH",
        default="/socket.io/",
        help="Where Socket.IO is served (the Node server's 'path' option).",
    )
    socketio_max_polling: int = option(
        "--socketio-max-polling",
        kind=Integer(min=1),
        metavar="N",
        default=10_000,
        help="Long-polling sessions at once (each holds memory but no connection between "
        "polls); beyond N, new ones get 503.",
    )
    static_dir: str | None = option(
        "--static",
        metavar="DIR",
        default=None,
        help="Serve the files of DIR (its index.html at /, instead of the chat page); "
        "DIR/socket.io.js is also served under --socketio-path, as the Node server does.",
    )
    json_log: bool = option(
        "--json-log",
        kind=FLAG,
        default=False,
        help="Write events (connect, disconnect, refused, ...) as NDJSON to stdout.",
    )
    verbose: bool = option(
        "-v",
        "--verbose",
        kind=FLAG,
        default=False,
        help="Also log every message (size, room), every plain HTTP request, and connections "
        "closed without a request (TCP probes).",
    )
    loop: str = option(
        "--loop",
        kind=Choice(("auto", "asyncio", "uvloop")),
        default="auto",
        help="Event loop; auto uses uvloop when installed (pip install 'wscli-toolkit[speed]').",
    )
    close_timeout: float = fixed(5.0)
    shutdown_timeout: float = fixed(2.0)

    @property
    def tls(self) -> bool:
        return self.certfile is not None


def check_serve_config(config: ServeConfig) -> ServeConfig:
    """``config`` with the token of --token-file read; UsageProblem for a bad value or
    combination."""
    if config.require_subprotocol and not config.subprotocols:
        raise UsageProblem("--require-subprotocol needs at least one -s/--subprotocol")
    if config.keyfile and not config.certfile:
        raise UsageProblem("--keyfile needs --certfile")
    for origin in config.origins:
        why = check_origin_option(origin)
        if why is not None:
            raise UsageProblem(f"invalid --origin {origin!r}", why)
    check_allowed_hosts(config.allowed_hosts)
    if not config.host.strip():
        raise UsageProblem("--host is empty", hint="127.0.0.1 for this machine, 0.0.0.0 for all")
    if config.redis_url is not None:
        check_redis_url(config.redis_url)
    if config.redis_stream_ttl < MIN_STREAM_TTL:
        raise UsageProblem(
            f"--redis-stream-ttl {config.redis_stream_ttl:g} is too short",
            "a room's stream must outlive history replays and resumes: at least "
            f"{MIN_STREAM_TTL:g} seconds",
        )
    if config.static_dir is not None and not Path(config.static_dir).is_dir():
        raise UsageProblem(f"--static {config.static_dir!r} is not a directory")
    socketio_path = check_socketio_path(config.socketio_path)
    token = config.token
    if config.token_file is not None:
        token = read_token_file(Path(config.token_file))
    if token is not None and not token:
        raise UsageProblem("the token is empty")
    metrics_token = config.metrics_token
    if metrics_token is not None:
        metrics_token = metrics_token.strip()
        if not metrics_token:
            raise UsageProblem("the metrics token is empty")
    return dataclasses.replace(
        config, token=token, metrics_token=metrics_token, socketio_path=socketio_path
    )


def check_socketio_path(path: str) -> str:
    """``--socketio-path`` as a prefix ending in ``/`` (``/io`` → ``/io/``); UsageProblem
    for one that is not an absolute URL path of its own."""
    hint = "e.g. /socket.io/ (the default) or /chat-io/"
    if not path.startswith("/") or path.strip("/") == "":
        raise UsageProblem(
            f"invalid --socketio-path {path!r}", "it must start with / and name a path", hint
        )
    if any(ch in path for ch in "?#%\\ ") or not path.isascii() or not path.isprintable():
        raise UsageProblem(
            f"invalid --socketio-path {path!r}", "only a plain path (no ?, #, % or spaces)", hint
        )
    return path if path.endswith("/") else path + "/"


def check_redis_url(url: str) -> None:
    """Raise UsageProblem (exit 2) unless ``url`` is a usable Redis URL; never names its
    password."""
    what = f"bad --redis URL {redact_url(url)!r}"  # never a password in an error
    try:
        parts = urllib.parse.urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UsageProblem(what, str(exc).replace(url, "URL")) from None
    hint = "e.g. redis://127.0.0.1:6379/0, rediss://HOST:PORT or unix:///path/redis.sock"
    if parts.scheme not in {"redis", "rediss", "unix"}:
        raise UsageProblem(what, "the scheme must be redis://, rediss:// or unix://", hint)
    if parts.scheme == "unix":
        if not parts.path:
            raise UsageProblem(what, "no socket path", hint)
        return
    if not parts.hostname:
        raise UsageProblem(what, "no host", hint)
    if port == 0:
        raise UsageProblem(what, "port 0", hint)
    database = parts.path.strip("/")
    if database and not database.isdigit():
        raise UsageProblem(what, "the path must be a database number", hint)


def read_token_file(path: Path) -> str:
    """The first line of ``path``, stripped; one-line UsageProblem when there is none."""
    what = f"cannot read a token from {str(path)!r}"
    if not path.is_file():  # e.g. a FIFO: reading it would wait for a writer forever
        raise UsageProblem(what, "not a regular file")
    try:
        lines = path.read_text("utf-8").splitlines()
    except OSError as exc:
        raise UsageProblem(what, os_reason(exc)) from None
    except UnicodeDecodeError:
        raise UsageProblem(what, "it is not UTF-8 text") from None
    if not lines or not lines[0].strip():
        raise UsageProblem(what, "its first line is empty")
    return lines[0].strip()
