"""Slash commands of the `wscli connect` prompt: parsing and help (pure, no I/O).

A typed line is either a message to send or a command: ``/ping [payload]``,
``/close [code [reason]]``, ``/binary HEX``, ``/file PATH``, ``/quit``, ``/help``. A line
starting with ``//`` sends a literal ``/`` (``//x`` sends ``/x``); a multi-line input is
always a message.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

CommandName = Literal["send", "ping", "close", "binary", "file", "quit", "help", "none"]

# name -> (usage, what it does); the /help text and the completion menu are built from it.
COMMANDS: dict[str, tuple[str, str]] = {
    "/ping": ("/ping [PAYLOAD]", "send a ping; shows the round-trip time"),
    "/close": ("/close [CODE [REASON]]", "close the connection (default 1000) and exit"),
    "/binary": ("/binary HEX", "send HEX bytes as one binary message (spaces allowed)"),
    "/file": ("/file PATH", "send the file PATH as one binary message"),
    "/quit": ("/quit", "close (--close-code, default 1000) and exit (also Ctrl-D)"),
    "/help": ("/help", "this help"),
}


def _help_text() -> str:
    rows = [*COMMANDS.values(), ("//TEXT", "send /TEXT literally")]
    width = max(len(usage) for usage, _ in rows) + 2
    return "\n".join(
        [
            *(f"{usage:<{width}}{what}" for usage, what in rows),
            "Alt-Enter (or Esc Enter) inserts a newline; Ctrl-C clears the line.",
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
        if not rest:
            raise CommandError("/file needs a PATH")
        return Command("file", path=rest)
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


# Close codes an endpoint may send (RFC 6455 §7.4.1); 1004-1006 and 1015 are reserved.
SENDABLE_CLOSE_CODES = frozenset({1000, 1001, 1002, 1003, *range(1007, 1015)})
MAX_CLOSE_REASON = 123  # bytes: a control frame carries at most 125, 2 of them the code


def close_problem(code: int, reason: str) -> str | None:
    """Why ``code`` and ``reason`` cannot go in a close frame, or None when they can."""
    if code not in SENDABLE_CLOSE_CODES and not 3000 <= code <= 4999:
        return f"close code {code} cannot be sent (use 1000-1003, 1007-1014 or 3000-4999)"
    try:
        size = len(reason.encode("utf-8"))
    except UnicodeEncodeError:  # undecodable bytes from the command line
        return "close reason is not valid UTF-8"
    if size > MAX_CLOSE_REASON:
        return f"close reason is limited to {MAX_CLOSE_REASON} bytes (UTF-8)"
    return None
