"""`wscli top URL`: a live view of a running `wscli serve` (options only; the work is in
wscli.top)."""

from __future__ import annotations

import os
import sys

import click

from wscli.cli.completion import complete_url
from wscli.cli.options import CONTEXT_SETTINGS, seconds_option, timeout_option, tls_client_options
from wscli.core.exitcodes import ExitCode

EPILOG = """\b
Reads the server's /metrics, /healthz and /log; a server with --token or
--metrics-token needs it here too. The busiest rooms show when the server
names them (wscli serve --metrics-rooms N). Ctrl-C quits. Off a terminal,
prints one frame (rates over --interval) and exits."""


@click.command(
    context_settings=CONTEXT_SETTINGS,
    short_help="Watch a running wscli serve live.",
    epilog=EPILOG,
)
@click.argument("url", metavar="URL", shell_complete=complete_url)
@click.option(
    "--token",
    envvar="WSCLI_METRICS_TOKEN",
    show_envvar=True,
    metavar="TOKEN",
    help="The server's metrics token, or its --token when it has no other (sent as "
    "Authorization: Bearer). Prefer the variable: arguments show in ps.",
)
@seconds_option(
    "--interval", default=0.5, positive=True, help="Read the server and redraw this often."
)
@timeout_option(5.0, "Bound for each read of the server.")
@tls_client_options
def top(
    url: str,
    token: str | None,
    interval: float,
    timeout: float,
    insecure: bool,
    cacert: str | None,
) -> int:
    """Watch a `wscli serve` at URL (http://HOST:PORT or ws://HOST:PORT): clients, rooms,
    messages and bytes per second both ways, delays, slow clients, refusals, descriptors,
    Redis, the busiest rooms and the last log lines, redrawn about twice a second.
    """
    from wscli.cli import get_environment
    from wscli.core.errors import UsageProblem
    from wscli.net.tls import client_context
    from wscli.top.run import live, snapshot
    from wscli.top.scrape import Scraper

    context = client_context(insecure=insecure, cafile=cacert) if insecure or cacert else None
    scraper = Scraper(url, token=token, timeout=timeout, context=context)
    if cacert and not scraper.secure:
        raise UsageProblem("--cacert needs an https:// or wss:// URL", f"{url!r} is not TLS")
    env = get_environment()
    if env.stdout_isatty:
        live(scraper, sys.stdout, interval=interval, color=env.color_stdout)
    else:
        columns = os.environ.get("COLUMNS", "")
        width = int(columns) if columns.isdigit() else 80
        snapshot(scraper, sys.stdout, interval=interval, width=width)
    return ExitCode.OK
