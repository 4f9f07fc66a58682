"""`wscli replay FILE`: a recording of `wscli proxy --record` played back, as a mock server
or as the client against a real server (options in :mod:`wscli.replay.config`, the work
in :mod:`wscli.replay.run`)."""

from __future__ import annotations

import sys

from wscli.cli.options import command
from wscli.replay.config import ReplayConfig

EPILOG = """\b
Record a conversation through the proxy, then replay either side of it:
  wscli proxy ws://127.0.0.1:3000 --port 9000 --record chat.ndjson
  wscli replay chat.ndjson --port 9000                   # a mock of the server
  wscli replay chat.ndjson --once --expect --port 9000   # ... checking one client
  wscli replay chat.ndjson --to ws://127.0.0.1:3000      # the client, against a server
\b
Each replayed connection ends with one line on stdout: 'match: ...', or 'mismatch: ...'
naming the first step that differed (expected and received). Messages are compared byte
for byte; pings and timing are not compared.
\b
Exit status: 0 as recorded (the mock server: stopped by Ctrl-C or SIGTERM, every client
as recorded), 7 a difference, 2 a bad command line or recording, 3 cannot connect, 4
handshake rejected, 6 timed out."""


@command(
    ReplayConfig,
    short_help="Replay a recorded conversation: a mock server or client.",
    epilog=EPILOG,
)
def replay(config: ReplayConfig) -> int:
    """Replay a conversation recorded by 'wscli proxy --record FILE'.

    Without --to, be a mock server: each client that connects gets the recorded server
    side (subprotocol, messages, close) at the recorded pace. With --to URL, be the
    client: send the recorded client side to URL and compare the server's replies.
    """
    from wscli.replay.run import run

    def banner(text: str) -> None:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    return int(run(config, sys.stdout, banner))
