"""`wscli serve`'s configuration: :class:`ServeConfig` (what the server is told) and
:class:`ServeOptions` (the command line, typed), checked and turned into it by
:func:`serve_config`.

Pure (no asyncio, no sockets): the server imports this, never the reverse. Kept out of the
click module (which only declares options) so the command stays thin; everything here raises
:class:`~wscli.core.errors.UsageProblem` (exit 2) for a bad value or combination.
"""

from __future__ import annotations

import dataclasses
import re
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

from wscli.core.errors import UsageProblem, os_reason
from wscli.serve.access import check_host_option, check_origin_option

DEFAULT_HISTORY_BYTES = 64 * 2**20


@dataclasses.dataclass(frozen=True)
class ServeConfig:
    """Everything `wscli serve` can be told (defaults are the CLI's defaults).

    Pure data: the server (asyncio, sockets) imports this module, never the reverse.
    """

    host: str = "127.0.0.1"
    port: int = 3000
    subprotocols: Sequence[str] = ()
    require_subprotocol: bool = False
    history: int = 0
    history_bytes: int = DEFAULT_HISTORY_BYTES
    echo: bool = True
    origins: Sequence[str] = ()
    allowed_hosts: Sequence[str] = ()
    token: str | None = None
    max_clients: int | None = None
    max_size: int = 2**20
    max_queue: int = 4 * 2**20
    max_total_queue: int = 2**30
    ping_interval: float | None = 20.0
    ping_timeout: float | None = 20.0
    handshake_timeout: float = 10.0
    close_timeout: float = 5.0
    shutdown_timeout: float = 2.0
    compression: bool = False
    certfile: str | None = None
    keyfile: str | None = None
    max_fds: int | None = None  # RLIMIT_NOFILE to set; None: raise soft to hard (issue 14)
    socketio: bool = False
    socketio_path: str = "/socket.io/"
    socketio_max_polling: int = 10_000
    static_dir: str | None = None

    @property
    def tls(self) -> bool:
        return self.certfile is not None


@dataclasses.dataclass(frozen=True)
class ServeOptions:
    """`wscli serve`'s command-line values, typed, exactly as click passes them.

    Every field is required: a CLI option that does not reach this class is a TypeError at
    once, not a silent default (``ServeOptions(**click_values)``).
    """

    host: str
    port: int
    subprotocols: tuple[str, ...]
    require_subprotocol: bool
    echo: bool
    history: int
    history_bytes: int
    origins: tuple[str, ...]
    allowed_hosts: tuple[str, ...]
    token: str | None
    token_file: Path | None
    max_clients: int | None
    max_fds: int | None
    max_size: int
    max_queue: int
    max_total_queue: int
    ping_interval: float
    ping_timeout: float
    handshake_timeout: float
    compression: bool
    certfile: str | None
    keyfile: str | None
    redis_url: str | None
    redis_channel: str
    redis_stream_cap: int
    redis_max_backlog: int
    socketio: bool
    socketio_path: str
    socketio_max_polling: int
    static_dir: str | None
    json_log: bool
    verbose: bool
    loop: str


def serve_config(opts: ServeOptions) -> ServeConfig:
    """The server configuration from the command line; UsageProblem for a bad combination."""
    if opts.require_subprotocol and not opts.subprotocols:
        raise UsageProblem("--require-subprotocol needs at least one -s/--subprotocol")
    if opts.keyfile and not opts.certfile:
        raise UsageProblem("--keyfile needs --certfile")
    for origin in opts.origins:
        why = check_origin_option(origin)
        if why is not None:
            raise UsageProblem(f"invalid --origin {origin!r}", why)
    for name in opts.allowed_hosts:
        why = check_host_option(name)
        if why is not None:
            raise UsageProblem(f"invalid --allowed-host {name!r}", why)
    if not opts.host.strip():
        raise UsageProblem("--host is empty", hint="127.0.0.1 for this machine, 0.0.0.0 for all")
    if opts.redis_url is not None:
        check_redis_url(opts.redis_url)
    socketio_path = check_socketio_path(opts.socketio_path)
    token = opts.token
    if opts.token_file is not None:
        token = read_token_file(opts.token_file)
    if token is not None and not token:
        raise UsageProblem("the token is empty")
    return ServeConfig(
        host=opts.host,
        port=opts.port,
        subprotocols=tuple(opts.subprotocols),
        require_subprotocol=opts.require_subprotocol,
        history=opts.history,
        history_bytes=opts.history_bytes,
        echo=opts.echo,
        origins=tuple(opts.origins),
        allowed_hosts=tuple(opts.allowed_hosts),
        token=token,
        max_clients=opts.max_clients,
        max_size=opts.max_size,
        max_queue=opts.max_queue,
        max_total_queue=opts.max_total_queue,
        # 0 means "never" on the command line, None to the server.
        ping_interval=opts.ping_interval or None,
        ping_timeout=opts.ping_timeout or None,
        handshake_timeout=opts.handshake_timeout,
        compression=opts.compression,
        certfile=opts.certfile,
        keyfile=opts.keyfile,
        max_fds=opts.max_fds,
        socketio=opts.socketio,
        socketio_path=socketio_path,
        socketio_max_polling=opts.socketio_max_polling,
        static_dir=opts.static_dir,
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
    shown = re.sub(r"//[^@/]*@", "//***@", url)  # never a password in an error
    what = f"bad --redis URL {shown!r}"
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
