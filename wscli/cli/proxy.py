"""`wscli proxy UPSTREAM_URL`: watch a live conversation and inject faults (options only;
the work is in :mod:`wscli.proxy`)."""

from __future__ import annotations

import sys
from typing import Any

import click

from wscli.cli.completion import complete_url
from wscli.cli.options import (
    CONTEXT_SETTINGS,
    ByteSize,
    allowed_host_option,
    compression_option,
    file_option,
    header_option,
    json_option,
    seconds_option,
    tls_client_options,
    warn_out_of_date_certificate,
)

EPILOG = """\b
Each client gets its own upstream connection with the same path and query (a WebSocket
client asking for '/' gets the upstream URL's own path); the upstream's host and port are
fixed (a request target that is not a path is 400, a Host that does not name the proxy
403: see --allowed-host); its subprotocol offers, Origin,
Authorization, cookies and other end-to-end headers are passed on (hop-by-hop ones and
Sec-WebSocket-Key/-Version/-Extensions are not; -H adds or replaces). A refusal by the
upstream reaches the client as it came; plain HTTP GETs (e.g. a chat page) pass too.
\b
Output (stdout): one line per message: time, #connection, -> client to server or <- server
to client, type, size, escaped content; --json writes the events of 'wscli connect --json'
with "connection" and "from". Faults are logged where they happen ('!' lines, "fault"
events). --seed repeats the same random faults for the same conversation.
\b
Stop with Ctrl-C or SIGTERM: both sides of every connection are closed (1001), exit 0; a
second signal drops them at once (exit 130).
Exit status: 0 stopped by a signal, 1 cannot listen (port in use), 2 bad command line."""


class _Duration(click.ParamType):  # type: ignore[type-arg]
    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from wscli.core.errors import UsageProblem
        from wscli.proxy.options import parse_duration

        if isinstance(value, float):
            return value
        try:
            return parse_duration(str(value), param.opts[-1] if param else "value")
        except UsageProblem as exc:
            self.fail(exc.why or str(exc), param, ctx)


class _Rate(click.ParamType):  # type: ignore[type-arg]
    name = "rate"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from wscli.core.errors import UsageProblem
        from wscli.proxy.options import parse_rate

        if isinstance(value, float):
            return value
        try:
            return parse_rate(str(value), param.opts[-1] if param else "value")
        except UsageProblem as exc:
            self.fail(exc.why or str(exc), param, ctx)


DURATION = _Duration()
RATE = _Rate()


@click.command(
    context_settings=CONTEXT_SETTINGS,
    short_help="Show a live conversation; inject faults.",
    epilog=EPILOG,
)
@click.argument("upstream_url", metavar="UPSTREAM_URL", shell_complete=complete_url)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; 0.0.0.0 or :: exposes the proxy to the network.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=9000,
    show_default=True,
    help="Port to listen on; 0 picks a free one (the banner on stderr says which).",
)
@allowed_host_option
@file_option("--certfile", help="Listen with TLS (wss://) with this certificate chain (PEM).")
@file_option("--keyfile", help="Private key for --certfile (PEM), if not inside it.")
@header_option
@tls_client_options
@click.option(
    "--proxy",
    metavar="URL",
    help="Reach the upstream through this HTTP CONNECT proxy (http://host:port).",
)
@compression_option
@click.option(
    "--max-size",
    type=ByteSize(minimum=0),
    default="1M",
    show_default=True,
    metavar="BYTES",
    help="Largest message relayed; a bigger one is refused with 1009. 0: no limit.",
)
@click.option(
    "--max-queue",
    type=ByteSize(),
    default="1M",
    show_default=True,
    metavar="BYTES",
    help="Bytes waiting per direction before the sender stops being read (backpressure).",
)
@seconds_option(
    "--open-timeout",
    default=10.0,
    positive=True,
    help="Limit for the client's request and the upstream's handshake (504 after it).",
)
@json_option
@click.option("-v", "--verbose", is_flag=True, help="Also show the handshake heads.")
@click.option(
    "--delay", type=DURATION, default=0.0, metavar="DURATION", help="Delay every message (80ms)."
)
@click.option(
    "--jitter",
    type=DURATION,
    default=0.0,
    metavar="DURATION",
    help="Vary each delay by up to ± DURATION (order is kept).",
)
@click.option("--drop", type=RATE, default=0.0, metavar="RATE", help="Drop this share of messages.")
@click.option(
    "--throttle",
    type=ByteSize(),
    metavar="BYTES",
    help="Limit each direction to BYTES per second (64K).",
)
@click.option(
    "--disconnect-every",
    type=DURATION,
    metavar="DURATION",
    help="Drop each connection this long after it opened.",
)
@click.option(
    "--disconnect-after",
    type=click.IntRange(min=1),
    metavar="N",
    help="Drop each connection after N messages (both directions).",
)
@click.option(
    "--close-code",
    type=click.IntRange(1000, 4999),
    metavar="CODE",
    help="Disconnect with this close code on both sides instead of dropping TCP (1006).",
)
@click.option(
    "--refuse", type=RATE, default=0.0, metavar="RATE", help="Answer this share of upgrades 503."
)
@click.option(
    "--stall",
    is_flag=True,
    help="Instead of disconnecting (or at once without --disconnect-*), stop reading, "
    "answering and forwarding, keeping TCP open: clients' ping timeouts should fire.",
)
@click.option(
    "--seed", type=int, metavar="N", help="Seed of the random faults (the banner shows it)."
)
def proxy(**opts: Any) -> None:
    """Relay WebSocket clients to UPSTREAM_URL, showing every message; inject faults.

    Clients connect to ws://HOST:PORT/PATH instead of the server; each message, ping,
    pong and close is passed on both ways, codes and reasons intact.
    """
    from wscli.cli import get_environment
    from wscli.core.headers import parse_header_args
    from wscli.proxy.options import FaultConfig, ProxyConfig, UpstreamConfig
    from wscli.proxy.output import JsonDisplay, LineDisplay
    from wscli.proxy.run import run

    env = get_environment()
    upstream = UpstreamConfig(
        url=opts["upstream_url"],
        headers=parse_header_args(opts["headers"]),
        insecure=opts["insecure"],
        cacert=opts["cacert"],
        proxy=opts["proxy"],
        compression=opts["compression"],
        open_timeout=opts["open_timeout"],
    )
    faults = FaultConfig(
        delay=opts["delay"],
        jitter=opts["jitter"],
        drop=opts["drop"],
        throttle=opts["throttle"],
        disconnect_every=opts["disconnect_every"],
        disconnect_after=opts["disconnect_after"],
        close_code=opts["close_code"],
        refuse=opts["refuse"],
        stall=opts["stall"],
        seed=opts["seed"],
    )
    config = ProxyConfig(
        upstream=upstream,
        host=opts["host"],
        port=opts["port"],
        certfile=opts["certfile"],
        keyfile=opts["keyfile"],
        compression=opts["compression"],
        max_size=opts["max_size"] or None,
        max_queue=opts["max_queue"],
        json_output=opts["json_output"],
        verbose=opts["verbose"],
        faults=faults,
        allowed_hosts=tuple(opts["allowed_hosts"]),
    )
    warn_out_of_date_certificate(opts["certfile"])
    if opts["json_output"]:
        display: Any = JsonDisplay(sys.stdout, verbose=opts["verbose"])
    else:
        display = LineDisplay(sys.stdout, env.color_stdout, verbose=opts["verbose"])

    def banner(text: str) -> None:
        sys.stderr.write(text + " (Ctrl-C stops)\n")
        sys.stderr.flush()

    run(config, display, banner)
