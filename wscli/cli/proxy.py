"""`wscli proxy UPSTREAM_URL`: watch a live conversation and inject faults (its options are
declared in :mod:`wscli.proxy.config`; the work is in :mod:`wscli.proxy.run`)."""

from __future__ import annotations

import sys

from wscli.cli.options import command, warn_out_of_date_certificate
from wscli.proxy.config import ProxyConfig

EPILOG = """\b
Examples:
  wscli proxy ws://127.0.0.1:8080/socket --port 9000   # clients use ws://127.0.0.1:9000/socket
  wscli proxy wss://api.example.com/stream --json > traffic.ndjson
  wscli proxy ws://127.0.0.1:8080 --delay 80ms --jitter 40ms --drop 0.02

\b
Each client gets its own upstream connection with the same path and query (a WebSocket
client asking for '/' gets the upstream URL's own path); the upstream's host and port are
fixed (a request target that is not a path is 400, a Host that does not name the proxy
403: see --allowed-host); its subprotocol offers, Origin, Authorization, cookies and other
end-to-end headers are passed on (hop-by-hop ones, those named in Connection, and
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


@command(ProxyConfig, short_help="Show a live conversation; inject faults.", epilog=EPILOG)
def proxy(config: ProxyConfig) -> None:
    """Relay WebSocket clients to UPSTREAM_URL, showing every message; inject faults.

    Clients connect to ws://HOST:PORT/PATH instead of the server; each message, ping,
    pong and close is passed on both ways, codes and reasons intact.
    """
    from wscli.cli.group import get_environment
    from wscli.proxy.run import make_display, run

    def banner(text: str) -> None:
        sys.stderr.write(text + " (Ctrl-C stops)\n")
        sys.stderr.flush()

    warn_out_of_date_certificate(config.certfile)
    run(config, make_display(config.display, get_environment().color_stdout), banner)
