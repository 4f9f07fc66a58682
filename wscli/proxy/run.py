"""Running `wscli proxy` as a process: listen, relay until SIGINT/SIGTERM, close both sides.

On the first signal the listener stops and every relayed connection is closed properly on
both sides (1001, bounded by the close timeout); a second signal drops them at once.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable

from wscli.core.hosts import check_allowed_hosts
from wscli.core.url import parse_ws_url
from wscli.net.eventloop import run_fast
from wscli.net.hostnames import allowed_hosts
from wscli.net.linewriter import LineWriter
from wscli.net.neterrors import hostport, listen_error
from wscli.net.tls import client_context, server_context
from wscli.net.tunnel import resolve_proxy
from wscli.proxy.config import (
    DisplayOptions,
    ProxyConfig,
    check_faults,
    check_upstream,
    control_address,
)
from wscli.proxy.control import ControlApi, control_factory
from wscli.proxy.faults import Faults
from wscli.proxy.gate import Gate
from wscli.proxy.output import Display, JsonDisplay, LineDisplay
from wscli.proxy.pair import Pair, ProxyRun, engine_settings
from wscli.proxy.record import Tee, json_gap, open_record, text_gap
from wscli.proxy.rules import Rules, rules_from_config
from wscli.wire.engine import Engine
from wscli.wire.keepalive import Keepalive

Banner = Callable[[str], None]


def run(config: ProxyConfig, display: Display, banner: Banner) -> None:
    """Relay until SIGINT or SIGTERM; raise :class:`WscliError` when it cannot start.

    When stdout's reader goes away the proxy stops the same way, then raises
    BrokenPipeError for the CLI to end quietly (exit 0), as every wscli pipe tool does.
    """
    check_upstream(config.upstream)
    check_faults(config.faults)
    check_allowed_hosts(config.allowed_hosts)
    control_address(config)
    upstream = parse_ws_url(config.upstream.url)
    resolve_proxy(config.upstream.proxy, upstream.host, upstream.port, upstream.secure)
    shown: Display = display
    record = None
    if config.display.record is not None:
        record = open_record(config.display.record)
        shown = Tee(display, record[0])
    try:
        run_fast(_main(config, shown, display, banner))
    finally:
        if record is not None:
            record[1].close(timeout=10.0)
            record[2].close()
        if display.writer is not None:
            display.writer.close(timeout=config.close_timeout)
            if display.writer.dropped and not display.writer.broken:
                sys.stderr.write(
                    f"wscli: warning: {display.writer.dropped:,} lines were not shown: "
                    "stdout was not read fast enough (each gap is marked in the output)\n"
                )
    if display.stdout_lost:
        raise BrokenPipeError


async def _start_control(
    config: ProxyConfig, proxy_run: ProxyRun
) -> tuple[asyncio.Server, str] | None:
    """The control API's listener and its URL (None without --control)."""
    address = control_address(config)
    if address is None:
        return None
    host, port = address
    api = ControlApi(proxy_run, host, port, config.control_token)
    loop = asyncio.get_running_loop()
    try:
        server = await loop.create_server(control_factory(api), host, port, reuse_address=True)
    except OSError as exc:
        raise listen_error(host, port, exc, "--control") from None
    api.port = server.sockets[0].getsockname()[1]
    return server, f"http://{hostport(host, api.port)}/"


def make_display(options: DisplayOptions, color: bool) -> Display:
    """The view on stdout: NDJSON events with --json, else one (styled) line per event.

    Written by a :class:`LineWriter`: a stdout that is not read never holds the relay up
    (lines past its bound are dropped, and each gap is said in the output).
    """
    writer = LineWriter(sys.stdout, json_gap if options.json_output else text_gap)
    display: Display
    if options.json_output:
        display = JsonDisplay(writer, verbose=options.verbose)
    else:
        display = LineDisplay(writer, color, verbose=options.verbose)
    display.writer = writer
    return display


async def _main(config: ProxyConfig, display: Display, view: Display, banner: Banner) -> None:
    """Run with ``display`` (the view, and the recording if any); ``view``'s stdout going
    away stops it."""
    upstream = parse_ws_url(config.upstream.url)
    tls = None
    if upstream.secure:
        tls = client_context(insecure=config.upstream.insecure, cafile=config.upstream.cacert)
    listen_tls = None
    if config.certfile is not None:
        listen_tls = server_context(config.certfile, config.keyfile)
    faults = Faults(Rules(rules_from_config(config.faults)), config.faults.seed)
    keepalive = None
    if config.ping_interval is not None:
        keepalive = Keepalive(
            config.ping_interval,
            config.ping_timeout,
            lambda: proxy_run.engines if proxy_run is not None else (),
            lambda exc: display.error(0, f"keepalive: {exc!r}", 1),
        )
    loop = asyncio.get_running_loop()
    proxy_run: ProxyRun | None = None

    def new_client() -> Engine:
        assert proxy_run is not None  # set before the loop runs any callback of the server
        return Pair(proxy_run).client

    try:
        server = await loop.create_server(
            new_client,
            config.host,
            config.port,
            ssl=listen_tls,
            # A client that opens TCP and never speaks TLS is bounded like a slow request.
            ssl_handshake_timeout=config.upstream.open_timeout if listen_tls else None,
            reuse_address=True,
        )
    except OSError as exc:
        raise listen_error(config.host, config.port, exc) from None
    port = server.sockets[0].getsockname()[1]
    allowed = allowed_hosts(config.host, server.sockets, config.allowed_hosts)
    gate = Gate(upstream, allowed, port, tls=listen_tls is not None)
    proxy_run = ProxyRun(
        config,
        display,
        faults,
        gate,
        tls,
        engine_settings(config, keepalive),
        resolve_proxy(config.upstream.proxy, upstream.host, upstream.port, upstream.secure),
    )
    scheme = "wss" if listen_tls is not None else "ws"
    url = f"{scheme}://{hostport(config.host, port)}"
    target = config.upstream.url
    control = await _start_control(config, proxy_run)
    seed = faults.seed if list(faults.rules) or control is not None else None
    display.listening(url, target, seed)
    banner(
        f"Proxying {url} to {target}"
        + (f" (faults seed {seed})" if seed is not None else "")
        + (f"; control API on {control[1]}" if control is not None else "")
    )

    stop = asyncio.Event()
    signals = 0
    view.on_closed = stop.set
    if view.writer is not None:

        def broken() -> None:
            loop.call_soon_threadsafe(view.lost_stdout)

        view.writer.on_broken = broken

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        stop.set()
        if signals > 1:
            for pair in list(proxy_run.pairs):
                pair.abort()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal)
    if keepalive is not None:
        keepalive.start()
    async with server:
        await stop.wait()
        server.close()
        if control is not None:
            control[0].close()
        for pair in list(proxy_run.pairs):
            pair.close()
        deadline = loop.time() + config.close_timeout + 1.0
        while proxy_run.pairs and loop.time() < deadline and signals < 2:
            await asyncio.sleep(0.02)
        for pair in list(proxy_run.pairs):
            pair.abort()
        if keepalive is not None:
            keepalive.stop()
        await asyncio.sleep(0)  # let the aborted transports report their loss
    if signals > 1:
        raise KeyboardInterrupt  # as `wscli serve`: a second signal is an interruption (130)
