"""What `wscli replay` is told: the recording, which connection of it, how fast, and either
where to listen (a mock server) or which server to play the client's side against."""

from __future__ import annotations

from wscli.core.clientoptions import ClientTLSOptions, HeaderOptions
from wscli.core.errors import UsageProblem
from wscli.core.options import (
    FLAG,
    Integer,
    Parsed,
    Seconds,
    argument,
    declared,
    fixed,
    option,
)
from wscli.core.url import parse_ws_url


def _speed(text: str) -> float:
    try:
        value = float(text.rstrip("xX"))
    except ValueError:
        raise ValueError("expected a factor like 2 or 100") from None
    if not 0 < value <= 1_000_000:
        raise ValueError("a speed is above 0 (1: as recorded, 100: a hundred times faster)")
    return value


@declared
class ReplayConfig(ClientTLSOptions, HeaderOptions):
    """Everything `wscli replay` needs."""

    file: str = argument(metavar="FILE")
    to: str | None = option(
        "--to",
        metavar="URL",
        default=None,
        help="Be the client against the server at URL (ws:// or wss://; the recorded path "
        "unless URL has one): send the recorded client side, compare the server's replies. "
        "Without it, be a mock server answering with the recorded server side.",
    )
    connection: int | None = option(
        "--connection",
        kind=Integer(min=1),
        metavar="N",
        default=None,
        help="Replay connection #N of the recording.  [default: the first]",
    )
    speed: float = option(
        "--speed",
        kind=Parsed("factor", _speed),
        metavar="N",
        default=1.0,
        help="Replay N times faster than recorded (0.5: slower).",
    )
    no_wait: bool = option(
        "--no-wait",
        kind=FLAG,
        default=False,
        help="Send each step as soon as the previous one is done, ignoring recorded times.",
    )
    expect: bool = option(
        "--expect",
        kind=FLAG,
        default=False,
        help="Mock server: wait for each recorded client message before going on, and stop "
        "at the first one that differs (reported on stdout).",
    )
    once: bool = option(
        "--once",
        kind=FLAG,
        default=False,
        help="Mock server: serve one client, then exit with its verdict (0 as recorded, 7 not).",
    )
    timeout: float = option(
        "--timeout",
        kind=Seconds(positive=True),
        default=5.0,
        help="How long past its recorded time an expected message may come.",
    )
    host: str = option("--host", default="127.0.0.1", help="Mock server: address to listen on.")
    port: int = option(
        "--port",
        kind=Integer(0, 65535),
        default=3000,
        help="Mock server: port to listen on; 0 picks a free one (the banner says which).",
    )
    origins: tuple[str, ...] = option(
        "--origin",
        multiple=True,
        metavar="ORIGIN",
        default=(),
        help="Mock server: also accept browsers from ORIGIN (repeatable; '*' all). By "
        "default a request with an Origin header is refused (403): a web page must not "
        "read a recording.",
    )
    open_timeout: float = option(
        "--open-timeout",
        kind=Seconds(positive=True),
        default=10.0,
        help="Limit for connecting and the opening handshake (exit 6).",
    )
    max_size: int = fixed(64 * 1024 * 1024)
    close_timeout: float = fixed(2.0)


def check_replay(config: ReplayConfig) -> None:
    """Raise :class:`UsageProblem` for options that do not go together."""
    if config.to is not None:
        parse_ws_url(config.to)
        if config.expect or config.once:
            raise UsageProblem(
                "--expect and --once are for the mock server",
                hint="with --to, the server's replies are always compared",
            )
    elif config.cacert or config.insecure or config.headers:
        raise UsageProblem("-H, -k and --cacert are for --to (the client side)")
