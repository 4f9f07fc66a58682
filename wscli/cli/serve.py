"""`wscli serve`: the broadcast chat server (options only; the work is in wscli.serve.server)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from wscli.cli.options import CONTEXT_SETTINGS, file_option, seconds_option, size_option

if TYPE_CHECKING:
    from wscli.serve.backplane_redis import RedisBackplane

EPILOG = """\b
Rooms are URL paths (ws://HOST:PORT/lobby); `/` serves the chat page to browsers.
A client connecting with ?nick=NAME is announced to its room as "* NAME joined"
and "* NAME left"; messages are relayed byte for byte, the sender included.
\b
Endpoints: /  chat page   /healthz  JSON status   others: 404
--socketio: Socket.IO clients (long-polling or WebSocket) at /socket.io/;
namespace /chat is room /chat, shared with raw clients ('message' events
bridge both ways). --static DIR serves DIR/index.html at / and DIR's files.
Stop with Ctrl-C or SIGTERM: every client is closed with 1001 and the exit status is 0."""


@click.command(
    context_settings=CONTEXT_SETTINGS,
    short_help="Run a broadcast chat server with a web page.",
    epilog=EPILOG,
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    envvar="WSCLI_HOST",
    show_envvar=True,
    help="Address to listen on; 0.0.0.0 or :: exposes the server to the network.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=3000,
    show_default=True,
    envvar="WSCLI_PORT",
    show_envvar=True,
    help="Port to listen on; 0 picks a free one (the banner on stderr says which).",
)
@click.option(
    "-s",
    "--subprotocol",
    "subprotocols",
    multiple=True,
    metavar="NAME",
    help="Support this subprotocol (repeatable); the first of the client's offers that is "
    "supported is chosen.",
)
@click.option(
    "--require-subprotocol",
    is_flag=True,
    help="Refuse (400) clients that offer none of the -s subprotocols.",
)
@click.option(
    "--echo/--no-echo",
    default=True,
    show_default=True,
    help="Send each message back to its sender too.",
)
@click.option(
    "--history",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    metavar="N",
    help="Replay the last N messages of a room to each new client (at most --max-queue bytes).",
)
@size_option(
    "--history-bytes",
    default="64M",
    help="History kept by all rooms together; past it, the history of the least recently "
    "active rooms is dropped first.",
)
@click.option(
    "--origin",
    "origins",
    multiple=True,
    metavar="ORIGIN",
    help="Also accept browsers from ORIGIN, e.g. https://example.com (repeatable; '*' accepts "
    "all). By default only clients without Origin and the page's own origin are accepted; "
    "other browser origins get 403.",
)
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    metavar="NAME",
    help="Also answer requests whose Host is NAME (repeatable). By default only loopback "
    "names, the bound address and, for 0.0.0.0 or ::, this machine's names and addresses are "
    "answered (others get 403: defeats DNS rebinding). '*' answers any Host: then a web page "
    "on a name that resolves to this server can pass as same-origin.",
)
@click.option(
    "--token",
    envvar="WSCLI_TOKEN",
    show_envvar=True,
    metavar="TOKEN",
    help="Require this token as 'Authorization: Bearer TOKEN' or ?token=TOKEN "
    "(401 without, 403 if wrong). Prefer the variable or --token-file: arguments show in ps.",
)
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False),
    metavar="FILE",
    help="Read the token from the first line of FILE.",
)
@click.option(
    "--max-clients",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Refuse (503) WebSocket clients beyond N connected at once.  [default: no limit]",
)
@click.option(
    "--max-fds",
    type=click.IntRange(min=64),
    default=None,
    metavar="N",
    help="Open at most N file descriptors (one per client). Near the limit, new clients get "
    "503 with Retry-After.  [default: the hard limit, ulimit -Hn]",
)
@size_option(
    "--max-size",
    default="1M",
    help="Largest incoming message; a client sending more is closed with 1009.",
)
@size_option(
    "--max-queue",
    default="4M",
    help="Per-client outgoing buffer; a client that stops reading is closed with 1013 once "
    "its unsent data passes this.",
)
@size_option(
    "--max-total-queue",
    default="1G",
    help="Outgoing data of all clients together; past it, the clients with the most unsent "
    "data are closed with 1013 first (bounds memory when many stop reading at once).",
)
@seconds_option(
    "--ping-interval",
    default=20.0,
    help="Ping each client this often (0: never).",
)
@seconds_option(
    "--ping-timeout",
    default=20.0,
    help="Close a client that does not answer a ping within this time (0: wait forever).",
)
@seconds_option(
    "--handshake-timeout",
    default=10.0,
    positive=True,
    help="Drop connections that do not complete the (TLS and) WebSocket handshake in time.",
)
@click.option(
    "--compression/--no-compression",
    default=False,
    show_default=True,
    help="Offer permessage-deflate. Off by default: compressing per client defeats encoding "
    "each broadcast once, the key to fan-out speed.",
)
@file_option(
    "--certfile",
    help="Serve https:// and wss:// with this certificate chain (PEM).",
)
@file_option(
    "--keyfile",
    help="Private key for --certfile (PEM), if not inside it.",
)
@click.option(
    "--redis",
    "redis_url",
    envvar="WSCLI_REDIS_URL",
    show_envvar=True,
    metavar="URL",
    help="Share rooms with other instances through Redis Streams (one per room, capped), "
    "e.g. redis://127.0.0.1:6379/0, or any node of a Redis Cluster (needs pip install "
    "'wscli-toolkit[redis]'); a password belongs in the variable, as arguments show in ps. "
    "Unreachable at start: exit 3; lost later: serve local clients only, keep their "
    "messages and append them when Redis returns.",
)
@click.option(
    "--redis-channel",
    default="wscli:chat",
    show_default=True,
    envvar="WSCLI_REDIS_CHANNEL",
    show_envvar=True,
    metavar="PREFIX",
    help="Prefix of the Redis keys (PREFIX:{ROOM}); instances sharing it share rooms, "
    "separate deployments on one Redis need separate prefixes.",
)
@click.option(
    "--redis-stream-cap",
    type=click.IntRange(min=16),
    default=1000,
    show_default=True,
    metavar="N",
    help="Entries kept per room stream (XADD MAXLEN ~ N, at least 2 x --history + 16): how "
    "far the shared history and an instance back from an outage can reach.",
)
@size_option(
    "--redis-max-backlog",
    default="64M",
    help="Messages accepted here but not yet confirmed by Redis (slow, stopped or lost); "
    "past it, the clients sending most of them are not read from until it halves.",
)
@click.option(
    "--socketio",
    is_flag=True,
    help="Also serve Socket.IO clients (protocol 5 over Engine.IO 4: long-polling, WebSocket "
    "and the upgrade) under --socketio-path: a namespace is the room of the same path, and "
    "a 'message' event's first argument reaches raw clients (and back).",
)
@click.option(
    "--socketio-path",
    default="/socket.io/",
    show_default=True,
    metavar="PATH",
    help="Where Socket.IO is served (the Node server's 'path' option).",
)
@click.option(
    "--socketio-max-polling",
    type=click.IntRange(min=1),
    default=10_000,
    show_default=True,
    metavar="N",
    help="Long-polling sessions at once (each holds memory but no connection between "
    "polls); beyond N, new ones get 503.",
)
@click.option(
    "--static",
    "static_dir",
    type=click.Path(exists=True, file_okay=False),
    metavar="DIR",
    help="Serve the files of DIR (its index.html at /, instead of the chat page); "
    "DIR/socket.io.js is also served under --socketio-path, as the Node server does.",
)
@click.option(
    "--json-log",
    is_flag=True,
    help="Write events (connect, disconnect, refused, ...) as NDJSON to stdout.",
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Also log every message (size, room), every plain HTTP request, and connections "
    "closed without a request (TCP probes).",
)
@click.option(
    "--loop",
    type=click.Choice(["auto", "asyncio", "uvloop"]),
    default="auto",
    show_default=True,
    help="Event loop; auto uses uvloop when installed (pip install 'wscli-toolkit[speed]').",
)
def serve(**opts: Any) -> None:
    """Run a broadcast chat server: every message goes to every client of its room.

    Browsers open http://HOST:PORT/ for the chat page; WebSocket clients connect to
    ws://HOST:PORT/ROOM (any path is a room).
    """
    from pathlib import Path  # not at the top: `wscli --help` must not pay for it

    from wscli.cli import get_environment
    from wscli.serve.config import ServeOptions, serve_config
    from wscli.serve.log import EventLog
    from wscli.serve.run import run
    from wscli.serve.server import ChatServer

    if opts["token_file"] is not None:
        opts["token_file"] = Path(opts["token_file"])
    options = ServeOptions(**opts)
    config = serve_config(options)
    env = get_environment()
    log = EventLog(
        sys.stderr,
        color=env.color_stderr,
        json_stream=sys.stdout if options.json_log else None,
        verbose=options.verbose,
        background=True,  # a stalled log reader must not stall the server
    )

    def ready(chat: ChatServer) -> None:
        if backplane is not None:
            backplane.on_pressure = chat.slow_client
        log.banner(f"Serving chat on {chat.url} (WebSocket {chat.ws_url})")
        if chat.socketio is not None:
            log.banner(f"Socket.IO on {chat.url.rstrip('/')}{config.socketio_path}")
        if options.verbose:
            log.banner(chat.fd_limit.describe())
        if options.json_log:
            log.emit("listening", url=chat.url, ws_url=chat.ws_url)

    backplane: RedisBackplane | None = None
    if options.redis_url:
        from wscli.serve.backplane_redis import RedisBackplane

        backplane = RedisBackplane(
            options.redis_url,
            options.redis_channel,
            history=config.history,
            on_event=log.emit,
            max_backlog_bytes=options.redis_max_backlog,
            stream_cap=options.redis_stream_cap,
        )
    try:
        run(config, log, backplane=backplane, ready=ready, loop=options.loop)
    finally:
        log.close(timeout=1.0)
