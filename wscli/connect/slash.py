"""Slash commands of the `wscli connect` prompt: parsing and help (pure, no I/O).

A typed line is either a message to send or a command: ``/ping [payload]``,
``/close [code [reason]]``, ``/binary HEX``, ``/file [--text] PATH``, ``/show N``,
``/filter [REGEX]``, ``/mute [REGEX]``, ``/pretty``, ``/quit``, ``/help``, and with
``--socketio`` ``/emit EVENT [JSON...]`` and ``/ack``. A line starting with ``//`` sends a
literal ``/`` (``//x`` sends ``/x``); a multi-line input is always a message.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from wscli.connect.view import BadPattern, compile_pattern
from wscli.core.closecodes import close_problem

CommandName = Literal[
    "send",
    "ping",
    "close",
    "binary",
    "file",
    "show",
    "filter",
    "mute",
    "pretty",
    "quit",
    "help",
    "emit",
    "ack",
    "none",
]

# name -> (usage, what it does); the /help text and the completion menu are built from it.
COMMANDS: dict[str, tuple[str, str]] = {
    "/ping": ("/ping [PAYLOAD]", "send a ping; shows the round-trip time"),
    "/close": ("/close [CODE [REASON]]", "close the connection (default 1000) and exit"),
    "/binary": ("/binary HEX", "send HEX bytes as one binary message (spaces allowed)"),
    "/file": (
        "/file [--text] PATH",
        "send the file PATH as one binary message (--text: as one text message, UTF-8)",
    ),
    "/show": ("/show N", "show cut message N in full (long ones are cut at first)"),
    "/filter": ("/filter [REGEX]", "show only received messages matching REGEX; alone: all"),
    "/mute": ("/mute [REGEX]", "hide received messages matching REGEX; alone: none"),
    "/pretty": ("/pretty", "JSON messages indented and highlighted, or not (--pretty)"),
    "/emit": ("/emit EVENT [JSON...]", "Socket.IO: emit EVENT, each JSON value an argument"),
    "/ack": ("/ack", "Socket.IO: toggle asking for acknowledgements (--ack)"),
    "/quit": ("/quit", "close (--close-code, default 1000) and exit (also Ctrl-D)"),
    "/help": ("/help", "this help"),
}


def _help_text() -> str:
    rows = [*COMMANDS.values(), ("//TEXT", "send /TEXT literally")]
    width = max(len(usage) for usage, _ in rows) + 2
    return "\n".join(
        [
            *(f"{usage:<{width}}{what}" for usage, what in rows),
            "Alt-Enter (or Esc Enter) inserts a newline; a multi-line paste is one message.",
            "Ctrl-C clears the line; on an empty line, twice within 2 s leaves (as Ctrl-D).",
        ]
    )


HELP_TEXT = _help_text()


class CommandError(ValueError):
    """A slash command with a bad argument; the message says what is wrong."""


@dataclasses.dataclass(frozen=True)
class Command:
    """What a typed line asks for; ``data`` is the payload to send, if any."""

    name: CommandName
    data: str | bytes = ""
    code: int = 1000
    reason: str = ""
    path: str = ""
    text: bool = False
    """``/file --text``: the file is sent as a text message."""
    pattern: str = ""
    """``/filter`` and ``/mute``: the regular expression (empty: off)."""
    number: int = 0
    event: str = ""


def parse_line(line: str) -> Command:
    """Turn a typed line into a :class:`Command`; raise CommandError for bad arguments."""
    if line.startswith("//"):
        return Command("send", line[1:])
    if not line.startswith("/") or "\n" in line:
        # Commands are one line: a pasted multi-line text (say, paths) is a message.
        return Command("send", line) if line else Command("none")
    word, _, rest = line.partition(" ")
    rest = rest.strip()
    if word == "/ping":
        return Command("ping", rest.encode("utf-8"))
    if word == "/close":
        return _parse_close(rest)
    if word == "/binary":
        try:
            return Command("binary", bytes.fromhex(rest))
        except ValueError:
            raise CommandError("/binary needs hexadecimal bytes, e.g. /binary 01 ff") from None
    if word == "/file":
        option, _, path = rest.partition(" ")
        text = option == "--text"
        if not text:
            path = rest
        if not path.strip():
            raise CommandError("/file needs a PATH (/file --text PATH sends it as text)")
        return Command("file", path=path.strip(), text=text)
    if word == "/show":
        if not rest.isascii() or not rest.isdigit():
            raise CommandError("/show needs the number of a cut message, e.g. /show 1")
        return Command("show", number=int(rest))
    if word in ("/filter", "/mute"):
        try:
            compile_pattern(rest, word)
        except BadPattern as exc:
            raise CommandError(str(exc)) from None
        return Command("filter" if word == "/filter" else "mute", pattern=rest)
    if word == "/pretty":
        return Command("pretty")
    if word == "/emit":
        event, _, args = rest.partition(" ")
        if not event:
            raise CommandError('/emit needs an EVENT name, e.g. /emit chat "hi" {"x":1}')
        return Command("emit", data=args.strip(), event=event)
    if word == "/ack":
        return Command("ack")
    if word == "/quit":
        return Command("quit")
    if word == "/help":
        return Command("help")
    raise CommandError(f"unknown command {word} (/help lists them; // sends a literal /)")


def _parse_close(rest: str) -> Command:
    if not rest:
        return Command("close")
    code_text, _, reason = rest.partition(" ")
    try:
        code = int(code_text)
    except ValueError:
        raise CommandError("/close needs a numeric code, e.g. /close 1000 bye") from None
    problem = close_problem(code, reason)
    if problem is not None:
        raise CommandError(problem)
    return Command("close", code=code, reason=reason)
