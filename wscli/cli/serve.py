"""`wscli serve`: the broadcast chat server (its options are declared in
:mod:`wscli.serve.config`; the work is in :mod:`wscli.serve.run` and
:mod:`wscli.serve.server`)."""

from __future__ import annotations

import sys

from wscli.cli.options import command, warn_out_of_date_certificate
from wscli.serve.config import ServeConfig

EPILOG = """\b
Examples:
  wscli serve                        # http://127.0.0.1:3000/, ws://127.0.0.1:3000/chat
  wscli serve --host 0.0.0.0 --port 8080 --history 50 -v
  wscli serve -s chat --require-subprotocol
  wscli serve --port 3001 --redis redis://127.0.0.1:6379/0

\b
Rooms are URL paths (ws://HOST:PORT/lobby); `/` serves the chat page to browsers.
A client connecting with ?nick=NAME is announced to its room as "* NAME joined"
and "* NAME left"; messages are relayed byte for byte, the sender included.
\b
Endpoints: /  chat page   /healthz  status (public: counts only)
/metrics  Prometheus   /healthz?verbose  detail   /log  last log lines
(those three need the metrics token when one is set)
/admission  the page's pre-flight: would an upgrade be let in, and if not why
others: 404
--socketio: Socket.IO clients (long-polling or WebSocket) at /socket.io/;
namespace /chat is room /chat, shared with raw clients ('message' events
bridge both ways). --static DIR serves DIR/index.html at / and DIR's files.
Stop with Ctrl-C or SIGTERM: every client is closed with 1001 and the exit status is 0."""


@command(ServeConfig, short_help="Run a broadcast chat server with a web page.", epilog=EPILOG)
def serve(config: ServeConfig) -> None:
    """Run a broadcast chat server: every message goes to every client of its room.

    Browsers open http://HOST:PORT/ for the chat page; WebSocket clients connect to
    ws://HOST:PORT/ROOM (any path is a room).
    """
    from wscli.cli.group import get_environment
    from wscli.serve.log import EventLog
    from wscli.serve.run import run

    warn_out_of_date_certificate(config.certfile)
    log = EventLog(
        sys.stderr,
        color=get_environment().color_stderr,
        json_stream=sys.stdout if config.json_log else None,
        verbose=config.verbose,
        background=True,  # a stalled log reader must not stall the server
    )
    try:
        run(config, log)
    finally:
        log.close(timeout=1.0)
