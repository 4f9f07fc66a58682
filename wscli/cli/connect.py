"""`wscli connect URL`: the interactive client that is also a clean pipe tool.

Thin: the options are declared in :mod:`wscli.connect.config`; :mod:`wscli.connect.run`
runs the prompt or the pipe. websockets and prompt_toolkit are imported inside the command
so shell completion stays fast.
"""

from __future__ import annotations

import textwrap

from wscli.cli.group import EXIT_STATUS_EPILOG, get_environment
from wscli.cli.options import command
from wscli.connect.config import DEFAULT_IDLE, ConnectConfig
from wscli.core.exitcodes import server_close_sentence

CONNECT_EPILOG = (
    "\b\nExamples:\n"
    "  wscli connect ws://127.0.0.1:3000/chat           # the prompt\n"
    "  echo hi | wscli connect ws://127.0.0.1:3000/chat # send, print the reply, exit\n"
    "  wscli connect URL -x @req.json -n 1 --json       # a file as one message, 1 reply\n"
    "  wscli connect --socketio http://127.0.0.1:3000 -x hello\n\n"
    "\b\nIn a pipe (stdin or stdout not a terminal, or --no-tty):\n"
    "  each stdin line is sent as one message; each received message is written to\n"
    "  stdout, one per line. After stdin ends, replies are still read until --count\n"
    "  messages arrived, or none came for --idle seconds since the last message sent or\n"
    f"  received (default {DEFAULT_IDLE:g}), or --wait seconds passed (then wscli closes with\n"
    "  1000), or the server closed.\n"
    + textwrap.fill(server_close_sentence() + ".", 84, initial_indent="  ", subsequent_indent="  ")
    + "\n"
    "  Expecting N replies? -n N ends as soon as they arrived (echo x | wscli\n"
    "  connect URL -n 1). If --idle ends it before N arrived, or with no message after\n"
    "  the last one sent, that is exit 8 (no reply): a slow server needs a longer --idle.\n"
    "  --timeout is a deadline: reaching it exits 6.\n"
    "\b\nWith --socketio, a line that is valid JSON is sent as that value (--raw-strings:\n"
    "  always a string; --spread: a JSON array is several arguments); received events\n"
    "  are written as NAME: [JSON args] (NAME JSON-quoted unless plain),\n"
    "  acknowledgements as ack N: [JSON args].\n"
    "\b\nAt the prompt: /help lists the commands (/ping, /close, /binary, /file, /show,\n"
    "  /filter, /mute, /pretty, /quit; with --socketio /emit EVENT JSON... and /ack);\n"
    "  Alt-Enter (Esc Enter) inserts a newline; a multi-line paste is sent as one\n"
    "  message when you press Enter; Ctrl-D closes with 1000 and exits 0 (a closed\n"
    "  terminal: 1001). Ctrl-C clears the line; on an empty line it shows how to leave,\n"
    "  and a second Ctrl-C within 2 s leaves as Ctrl-D does. Binary messages are\n"
    "  hex-dumped up to 128 bytes (--full: all); text is shown up to 4,096 characters\n"
    "  or 64 lines; /show N shows the rest.\n\n" + EXIT_STATUS_EPILOG
)


@command(ConnectConfig, short_help="Interactive client; a clean pipe tool.", epilog=CONNECT_EPILOG)
def connect(config: ConnectConfig) -> int:
    """Connect to the WebSocket server at URL (ws://, wss://, http(s):// or host:port).

    On a terminal: a prompt; received messages appear above it. In a pipe: stdin lines
    are sent, received messages written to stdout, one per line.
    """
    from wscli.cli.entry import exit_now, skip_teardown
    from wscli.connect.run import run_connect

    skip_teardown()
    # A closed stdout (`wscli connect URL | head`) ends quietly with exit 0: see wscli.cli.
    return run_connect(get_environment(), config, expire=exit_now)
