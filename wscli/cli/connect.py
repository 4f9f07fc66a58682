"""`wscli connect URL`: the interactive client that is also a clean pipe tool.

Thin: it turns options into :mod:`wscli.connect.link` / :mod:`wscli.connect.pipe` /
:mod:`wscli.connect.repl` objects; websockets and prompt_toolkit are imported inside the
command so shell completion stays fast.
"""

from __future__ import annotations

import textwrap
from typing import Any

import click

from wscli.cli import EXIT_STATUS_EPILOG, get_environment
from wscli.cli.completion import complete_url
from wscli.cli.options import (
    CONTEXT_SETTINGS,
    ByteSize,
    compression_option,
    file_option,
    header_option,
    json_option,
    origin_option,
    seconds_option,
    subprotocol_option,
    timeout_option,
    tls_client_options,
)
from wscli.core.exitcodes import server_close_sentence

CONNECT_EPILOG = (
    "\b\nIn a pipe (stdin or stdout not a terminal, or --no-tty):\n"
    "  each stdin line is sent as one message; each received message is written to\n"
    "  stdout, one per line. After stdin ends, replies are still read until --count\n"
    "  messages arrived, or none for --idle seconds (default 0.5), or --wait seconds\n"
    "  passed (then wscli closes with 1000 and exits 0), or the server closed.\n"
    + textwrap.fill(server_close_sentence() + ".", 84, initial_indent="  ", subsequent_indent="  ")
    + "\n"
    "  Expecting N replies? -n N ends as soon as they arrived (echo x | wscli\n"
    "  connect URL -n 1); if --idle ends it before N arrived, that is exit 6. A slow\n"
    "  server needs a longer --idle or -w.\n"
    "  --timeout is a deadline: reaching it exits 6.\n"
    "\b\nWith --socketio, a line that is valid JSON is sent as that value (--raw-strings:\n"
    "  always a string; --spread: a JSON array is several arguments); received events\n"
    "  are written as NAME: [JSON args] (NAME JSON-quoted unless plain),\n"
    "  acknowledgements as ack N: [JSON args].\n"
    "\b\nAt the prompt: /help lists the commands (/ping, /close, /binary, /file, /show,\n"
    "  /quit; with --socketio /emit EVENT JSON... and /ack); Alt-Enter (Esc Enter)\n"
    "  inserts a newline; a multi-line paste is sent as one message when you press\n"
    "  Enter; Ctrl-D closes with 1000 and exits 0. Ctrl-C clears the line; on an empty\n"
    "  line it shows how to leave, and a second Ctrl-C within 2 s leaves as Ctrl-D\n"
    "  does. Binary messages are hex-dumped up to 128 bytes (--full: all); text is shown\n"
    "  up to 4,096 characters or 64 lines; /show N shows the rest.\n\n" + EXIT_STATUS_EPILOG
)


@click.command(
    context_settings=CONTEXT_SETTINGS,
    short_help="Interactive client; a clean pipe tool.",
    epilog=CONNECT_EPILOG,
)
@click.argument("url", shell_complete=complete_url)
@click.option(
    "-x",
    "--execute",
    multiple=True,
    metavar="MSG",
    help="Send MSG as soon as the connection opens (repeatable, in order).",
)
@click.option(
    "-n",
    "--count",
    type=click.IntRange(min=1),
    metavar="N",
    help="End (exit 0) after N messages have been received; fewer by --idle: exit 6.",
)
@seconds_option(
    "--idle",
    default=0.5,  # wscli.connect.pipe.DEFAULT_IDLE (not imported: --help stays light)
    help="After stdin ends, end (exit 0) when no message arrived for SECONDS; 0: no limit.",
)
@seconds_option(
    "-w",
    "--wait",
    help="After stdin ends (or after -x with </dev/null), stay open exactly SECONDS.",
)
@timeout_option(None, "Overall deadline in seconds; reaching it closes and exits 6.")
@json_option
@click.option("--timestamps", is_flag=True, help="Prefix messages with an ISO 8601 UTC time.")
@click.option(
    "--full",
    is_flag=True,
    help="At the prompt, hex-dump binary messages in full (default: 128 bytes, /show N).",
)
@click.option(
    "--show-ping-pong", is_flag=True, help="Show ping and pong frames (on stderr in a pipe)."
)
@click.option("--binary", is_flag=True, help="Send each stdin line as a binary message.")
@click.option("--stream", is_flag=True, help="Send each chunk read from stdin as a binary message.")
@click.option(
    "--binary-format",
    type=click.Choice(["base64", "hex"]),
    default="base64",
    show_default=True,
    help="How received binary messages are written in a pipe.",
)
@click.option("--no-tty", is_flag=True, help="Pipe mode even on a terminal (no prompt).")
@click.option("-v", "--verbose", is_flag=True, help="Status (open, close) on stderr in a pipe.")
@header_option
@subprotocol_option
@origin_option
@click.option(
    "--auth",
    metavar="USER:PASS",
    envvar="WSCLI_AUTH",
    show_envvar=True,
    help="HTTP basic authentication (prefer the variable: it stays out of ps).",
)
@tls_client_options
@file_option("--cert", help="Client certificate (PEM; may hold the key too).")
@file_option("--key", help="Private key of the client certificate (PEM).")
@click.option(
    "--proxy",
    metavar="URL",
    help="HTTP CONNECT proxy (http://host:port), or socks5:// with python-socks; "
    "'none' disables. Default: the *_proxy environment variables, never for loopback.",
)
@compression_option
@click.option(
    "--max-size",
    type=ByteSize(minimum=0),
    default="1M",
    show_default=True,
    metavar="BYTES",
    help="Largest message accepted (1048576, 64K, 1M); 0: no limit.",
)
@seconds_option("--ping-interval", default=20.0, help="Send a keepalive ping this often; 0: never.")
@seconds_option(
    "--ping-timeout",
    default=20.0,
    help="Drop the connection when a ping gets no pong this long; 0: never.",
)
@seconds_option(
    "--open-timeout",
    default=10.0,
    positive=True,
    help="Limit for connecting and the opening handshake (exit 6).",
)
@click.option(
    "--close-code",
    type=click.IntRange(1000, 4999),
    default=1000,
    show_default=True,
    metavar="CODE",
    help="Close code wscli sends when it ends the connection.",
)
@click.option("--close-reason", default="", metavar="TEXT", help="Close reason wscli sends.")
@click.option(
    "--reconnect",
    is_flag=True,
    help="After a failed connect, an abnormal close or a server going away (1001), retry "
    "with backoff; re-send -x.",
)
@click.option(
    "--max-retries",
    type=click.IntRange(min=0),
    default=5,
    show_default=True,
    metavar="N",
    help="Reconnect attempts in a row before giving up; a connection that ends within 10 s "
    "counts as failed (the count and the growing delay restart only after 10 s up).",
)
@click.option(
    "-L",
    "--location",
    is_flag=True,
    help="Follow redirects (3xx, up to 10), each reported; never wss:// to ws://. "
    "-H headers and --auth are not sent on to another host.",
)
@click.option(
    "--socketio",
    is_flag=True,
    help="Speak Socket.IO (Engine.IO v4) at /socket.io/ instead of plain messages.",
)
@click.option(
    "--namespace",
    default="/",
    show_default=True,
    metavar="NAME",
    help="Socket.IO namespace to join.",
)
@click.option(
    "--event",
    default="message",
    show_default=True,
    metavar="NAME",
    help="Socket.IO event name for sent lines.",
)
@click.option(
    "--handshake-auth",
    metavar="JSON",
    help="Socket.IO: the auth object sent when joining the namespace (the server's "
    'socket.handshake.auth), e.g. \'{"token":"..."}\'.',
)
@click.option(
    "--transport",
    type=click.Choice(["auto", "websocket", "polling"]),
    default="auto",
    show_default=True,
    help="Socket.IO transport; auto falls back to HTTP long-polling when the WebSocket "
    "upgrade is refused (said on stderr).",
)
@click.option(
    "--raw-strings",
    is_flag=True,
    help="Socket.IO: send each line as one string, even when it is valid JSON.",
)
@click.option(
    "--spread",
    is_flag=True,
    help="Socket.IO: a line holding a JSON array sends its items as separate arguments.",
)
@click.option(
    "--ack",
    is_flag=True,
    help="Socket.IO: ask for an acknowledgement of each emit and print it (ack N: [args]).",
)
@seconds_option(
    "--ack-timeout",
    default=10.0,
    positive=True,
    help="Socket.IO: an acknowledgement not received within SECONDS exits 6 in a pipe "
    "(a warning line at the prompt).",
)
@click.option(
    "--ack-reply",
    default="[]",
    show_default=True,
    metavar="JSON",
    help="Socket.IO: arguments (a JSON array) of wscli's answer to server events that ask "
    "for an acknowledgement.",
)
def connect(**opts: Any) -> int:
    """Connect to the WebSocket server at URL (ws://, wss://, http(s):// or host:port).

    On a terminal: a prompt; received messages appear above it. In a pipe: stdin lines
    are sent, received messages written to stdout, one per line.
    """
    from wscli.cli import exit_now  # defined after this module is imported by wscli.cli
    from wscli.connect.options import ConnectArgs, run_connect

    # A closed stdout (`wscli connect URL | head`) ends quietly with exit 0: see wscli.cli.
    return run_connect(get_environment(), ConnectArgs(**opts), expire=exit_now)
