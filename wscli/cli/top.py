"""`wscli top URL`: a live view of a running `wscli serve` (its options are declared in
:mod:`wscli.top.config`; the work is in :mod:`wscli.top.run`)."""

from __future__ import annotations

import os
import sys

from wscli.cli.options import command
from wscli.core.exitcodes import ExitCode
from wscli.top.config import TopConfig

EPILOG = """\b
Reads the server's /metrics, /healthz and /log; a server with --token or
--metrics-token needs it here too. The busiest rooms show when the server
names them (wscli serve --metrics-rooms N). Ctrl-C quits. Off a terminal,
prints one frame (rates over --interval) and exits."""


@command(TopConfig, short_help="Watch a running wscli serve live.", epilog=EPILOG)
def top(config: TopConfig) -> int:
    """Watch a `wscli serve` at URL (http://HOST:PORT or ws://HOST:PORT): clients, rooms,
    messages and bytes per second both ways, delays, slow clients, refusals, descriptors,
    Redis, the busiest rooms and the last log lines, redrawn about twice a second.
    """
    from wscli.cli.group import get_environment
    from wscli.core.errors import UsageProblem
    from wscli.net.tls import client_context
    from wscli.top.run import live, snapshot
    from wscli.top.scrape import Scraper

    context = None
    if config.insecure or config.cacert:
        context = client_context(insecure=config.insecure, cafile=config.cacert)
    scraper = Scraper(config.url, token=config.token, timeout=config.timeout, context=context)
    if config.cacert and not scraper.secure:
        raise UsageProblem("--cacert needs an https:// or wss:// URL", f"{config.url!r} is not TLS")
    env = get_environment()
    if env.stdout_isatty:
        live(scraper, sys.stdout, interval=config.interval, color=env.color_stdout)
    else:
        columns = os.environ.get("COLUMNS", "")
        width = int(columns) if columns.isdigit() else 80
        snapshot(scraper, sys.stdout, interval=config.interval, width=width)
    return ExitCode.OK
