"""What `wscli proxy` is told: listening address, upstream, limits, display, faults; each
option declared once (see :mod:`wscli.core.options`), with the checks of its combinations.

Pure: values with units (``80ms``, ``0.02``, ``64K``) are read by :mod:`wscli.core.units`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from wscli.core.clientoptions import ClientTLSOptions, HeaderOptions, JsonOption, ProxyOption
from wscli.core.closecodes import close_problem
from wscli.core.errors import UsageProblem
from wscli.core.headers import check_header_values
from wscli.core.hosts import allowed_host_option, is_loopback
from wscli.core.options import (
    FILE,
    FLAG,
    Choice,
    Integer,
    Parsed,
    Seconds,
    Size,
    argument,
    declared,
    fixed,
    group,
    option,
    zero_is_none,
)
from wscli.core.units import parse_duration, parse_rate
from wscli.core.url import parse_ws_url

DURATION = Parsed("duration", parse_duration)
RATE = Parsed("rate", parse_rate)


@declared
class FaultConfig:
    """The faults to inject; all off by default. Durations in seconds, rates 0..1."""

    delay: float = option(
        "--delay",
        kind=DURATION,
        metavar="DURATION",
        default=0.0,
        show_default=False,
        help="Delay every message (80ms).",
    )
    jitter: float = option(
        "--jitter",
        kind=DURATION,
        metavar="DURATION",
        default=0.0,
        show_default=False,
        help="Vary each delay by up to ± DURATION (order is kept).",
    )
    drop: float = option(
        "--drop",
        kind=RATE,
        metavar="RATE",
        default=0.0,
        show_default=False,
        help="Drop this share of messages.",
    )
    throttle: int | None = option(  # bytes per second and direction
        "--throttle",
        kind=Size(),
        metavar="BYTES",
        default=None,
        help="Limit each direction to BYTES per second (64K).",
    )
    disconnect_every: float | None = option(
        "--disconnect-every",
        kind=DURATION,
        metavar="DURATION",
        default=None,
        help="Drop each connection this long after it opened.",
    )
    disconnect_after: int | None = option(  # messages, both directions together
        "--disconnect-after",
        kind=Integer(min=1),
        metavar="N",
        default=None,
        help="Drop each connection after N messages (both directions).",
    )
    close_code: int | None = option(  # None: abrupt TCP close
        "--close-code",
        kind=Integer(1000, 4999),
        metavar="CODE",
        default=None,
        help="Disconnect with this close code on both sides instead of dropping TCP (1006).",
    )
    refuse: float = option(
        "--refuse",
        kind=RATE,
        metavar="RATE",
        default=0.0,
        show_default=False,
        help="Answer this share of upgrades 503.",
    )
    stall: bool = option(
        "--stall",
        kind=FLAG,
        default=False,
        help="Instead of disconnecting (or at once without --disconnect-*), stop reading, "
        "answering and forwarding, keeping TCP open: clients' ping timeouts should fire.",
    )
    direction: Literal["up", "down", "both"] = option(
        "--direction",
        kind=Choice(("up", "down", "both")),
        default="both",
        help="Apply the message faults (and count --disconnect-after) in this direction "
        "only: up is client to server.",
    )
    path: str = option(
        "--path",
        metavar="PATTERN",
        default="*",
        show_default=False,
        help="Apply the faults only to connections whose request path matches PATTERN "
        "(shell-style: /chat, /room-*). Default: every path.",
    )
    seed: int | None = option(
        "--seed",
        kind=Integer(),
        metavar="N",
        default=None,
        help="Seed of the random faults (the banner shows it).",
    )


@declared
class UpstreamConfig(ProxyOption, ClientTLSOptions, HeaderOptions):
    """Where and how the proxy connects for each client."""

    url: str = argument(metavar="UPSTREAM_URL", urls=True)
    rewrite_origin: bool = option(
        "--rewrite-origin",
        kind=FLAG,
        default=False,
        help="Give the upstream its own origin (scheme, host and port of UPSTREAM_URL) in "
        "place of this proxy's, so a page loaded through the proxy is accepted by a server "
        "that accepts only its own page (as wscli serve does); other origins pass unchanged.",
    )
    open_timeout: float = option(
        "--open-timeout",
        kind=Seconds(positive=True),
        default=10.0,
        help="Limit for the client's request and the upstream's handshake (504 after it).",
    )


@declared
class DisplayOptions(JsonOption):
    """How the conversation is shown on stdout."""

    verbose: bool = option(
        "-v", "--verbose", kind=FLAG, default=False, help="Also show the handshake heads."
    )
    record: str | None = option(
        "--record",
        metavar="FILE",
        default=None,
        help="Also save the conversation to FILE as NDJSON for 'wscli replay': the --json -v "
        "events with t (seconds since start) and whole messages (binary as base64); "
        "secrets in heads and URLs redacted, message contents kept (mode 0600).",
    )


@declared
class ProxyConfig:
    """Everything `wscli proxy` needs to run."""

    host: str = option(
        "--host",
        default="127.0.0.1",
        help="Address to listen on; 0.0.0.0 or :: exposes the proxy to the network.",
    )
    port: int = option(
        "--port",
        kind=Integer(0, 65535),
        default=9000,
        help="Port to listen on; 0 picks a free one (the banner on stderr says which).",
    )
    allowed_hosts: Sequence[str] = allowed_host_option()
    certfile: str | None = option(
        "--certfile",
        kind=FILE,
        default=None,
        help="Listen with TLS (wss://) with this certificate chain (PEM).",
    )
    keyfile: str | None = option(
        "--keyfile",
        kind=FILE,
        default=None,
        help="Private key for --certfile (PEM), if not inside it.",
    )
    upstream: UpstreamConfig = group(UpstreamConfig)
    compression: bool = option(
        "--compression/--no-compression",
        kind=FLAG,
        default=True,
        help="Offer permessage-deflate compression, to clients and to the upstream.",
    )
    max_size: int | None = option(
        "--max-size",
        kind=Size(minimum=0),
        metavar="BYTES",
        default=2**20,
        convert=zero_is_none,
        help="Largest message relayed; a bigger one is refused with 1009. 0: no limit.",
    )
    max_queue: int = option(
        "--max-queue",
        kind=Size(),
        metavar="BYTES",
        default=2**20,
        help="Bytes waiting per direction before the sender stops being read (backpressure).",
    )
    ping_interval: float | None = option(
        "--ping-interval",
        kind=Seconds(),
        default=0.0,
        convert=zero_is_none,
        help="Ping each side this often to find a dead peer (its pongs are not passed on); "
        "0: never.",
    )
    ping_timeout: float | None = option(
        "--ping-timeout",
        kind=Seconds(),
        default=20.0,
        convert=zero_is_none,
        help="Drop a side that answers no ping, or reads none of --max-queue, this long; 0: never.",
    )
    control: str | None = option(
        "--control",
        metavar="[HOST:]PORT",
        default=None,
        help="Serve the control API on PORT (HTTP + JSON, for curl: list connections and "
        "faults, add, change or remove faults, pause or disconnect a connection, while it "
        "runs); on loopback unless HOST is given, which then needs --control-token; 0 picks "
        "a free port (the banner says which).",
    )
    control_token: str | None = option(
        "--control-token",
        envvar="WSCLI_CONTROL_TOKEN",
        metavar="TOKEN",
        default=None,
        help="Require 'Authorization: Bearer TOKEN' on the control API (prefer the "
        "variable: arguments show in ps).",
    )
    display: DisplayOptions = group(DisplayOptions)
    faults: FaultConfig = group(FaultConfig)
    close_timeout: float = fixed(2.0)


def check_upstream(config: UpstreamConfig) -> None:
    """Raise :class:`UsageProblem` for an unusable upstream URL, header or proxy."""
    uri = parse_ws_url(config.url)
    check_header_values(config.headers)
    if config.cacert and not uri.secure:
        raise UsageProblem("--cacert needs a wss:// upstream", f"{config.url!r} is not TLS")


def check_faults(faults: FaultConfig) -> None:
    """Raise :class:`UsageProblem` for a fault combination that cannot work."""
    if faults.close_code is not None:
        problem = close_problem(faults.close_code, "")
        if problem is not None:
            raise UsageProblem("invalid --close-code", problem)
        if faults.disconnect_every is None and faults.disconnect_after is None:
            raise UsageProblem(
                "--close-code needs --disconnect-every or --disconnect-after",
                hint="it says how those disconnects close",
            )


def control_address(config: ProxyConfig) -> tuple[str, int] | None:
    """Where the control API listens (None: nowhere); :class:`UsageProblem` for a bad
    --control, or for one off loopback without a token."""
    value = config.control
    if value is None:
        return None
    host, _, port = value.strip().rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageProblem(f"invalid --control {value!r}", "expected PORT or HOST:PORT")
    token = config.control_token
    if token is not None and not token.strip():
        raise UsageProblem("the control token is empty")
    if not is_loopback(host) and token is None:
        raise UsageProblem(
            f"--control on {host} needs a token",
            "anyone who reaches it could change the faults and drop connections",
            hint="set WSCLI_CONTROL_TOKEN (or --control-token), or keep it on loopback",
        )
    return host, int(port)
