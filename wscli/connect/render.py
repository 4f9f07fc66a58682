"""How messages look: plain lines for pipes, marked and coloured lines for the terminal.

Pure: builds strings and :class:`rich.text.Text`; writing them is the caller's job. Peer
text always goes through :func:`wscli.core.escape.escape_control` before it reaches a terminal,
so a server cannot drive the user's terminal. rich is imported by the terminal functions
only: a pipe (`echo x | wscli connect URL -n 1`) starts faster without it.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any, Literal

from wscli.core.escape import escape_control
from wscli.core.events import Message
from wscli.core.ndjson import timestamp, to_json

if TYPE_CHECKING:
    from rich.text import Text

BinaryFormat = Literal["base64", "hex"]

# Markers: what we sent vs what we received, distinct even without colour.
SENT_MARKER = ">"
RECEIVED_MARKER = "<"
SENT_STYLE = "green"
RECEIVED_STYLE = "cyan"
STATUS_STYLE = "dim"
ERROR_STYLE = "bold red"
CONTINUATION = "  "  # under the text after the marker
PREVIEW_LINES = 8  # hex dump lines of a binary message shown at the prompt before "/show"
HEXDUMP_WIDTH = 16  # bytes per hex dump line


def encode_binary(data: bytes, fmt: BinaryFormat) -> str:
    """Binary payload as one line of base64 or lowercase hex."""
    if fmt == "hex":
        return data.hex()
    return base64.b64encode(data).decode("ascii")


def event_data_text(args: tuple[Any, ...]) -> str:
    """Socket.IO arguments for the terminal: each as JSON (so ``"1"`` and ``1`` differ),
    separated by ", "; nothing for none."""
    return ", ".join(to_json(arg) for arg in args)


def socketio_head(message: Message) -> str | None:
    """``NAME`` for a Socket.IO event, ``ack N`` for an acknowledgement, else None."""
    if message.is_ack:
        return f"ack {message.ack_id}"
    return message.name


def pipe_line(
    message: Message,
    binary_format: BinaryFormat = "base64",
    timestamps: bool = False,
    when: str | None = None,
    escape: bool = False,
) -> str:
    """One received message as the line written to stdout in a pipe (with the newline).

    Text is written as received (data, for the next program); binary as base64 or hex; a
    Socket.IO event as ``name: [args]`` and an acknowledgement as ``ack N: [args]``: the
    arguments as one JSON array, ready for ``jq`` (and for ``--spread``). ``escape``
    (stdout is a terminal, e.g. ``echo hi | wscli connect URL``) shows control characters
    escaped instead.
    """
    head = socketio_head(message)
    if head is not None:
        body = f"{head}: {to_json(list(message.args))}"
    elif isinstance(message.data, bytes):
        body = encode_binary(message.data, binary_format)
    else:
        body = message.data
    if escape:
        body = escape_control(body)
    if timestamps:
        body = f"{when or timestamp()} {body}"
    return body + "\n"


def hexdump(data: bytes, width: int = 16) -> str:
    """Classic hex dump: offset, hex bytes, printable ASCII; one line per ``width`` bytes."""
    lines = []
    for offset in range(0, len(data), width):
        chunk = data[offset : offset + width]
        hex_part = " ".join(f"{b:02x}" for b in chunk)
        ascii_part = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        lines.append(f"{offset:08x}  {hex_part:<{width * 3 - 1}}  |{ascii_part}|")
    return "\n".join(lines)


def terminal_message(
    message: Message,
    timestamps: bool = False,
    when: str | None = None,
    preview: int | None = None,
    show_id: int | None = None,
) -> Text:
    """A message for the interactive terminal: marker, colour, escaped text, hex dump.

    ``preview``: dump at most that many bytes of a binary message and say how many more
    there are (``… 2,944 more bytes``), with ``/show ID`` when ``show_id`` is given: a
    3 KB file printed ~190 lines each way at the prompt, burying the conversation.
    """
    from rich.text import Text

    out = message.direction == "out"
    marker = SENT_MARKER if out else RECEIVED_MARKER
    style = SENT_STYLE if out else RECEIVED_STYLE
    text = Text()
    if timestamps:
        text.append(f"{when or timestamp()} ", style=STATUS_STYLE)
    text.append(f"{marker} ", style=f"bold {style}")
    head = socketio_head(message)
    if head is not None:
        text.append(f"{escape_control(head)}: ", style=f"bold {style}")
        text.append(_continued(escape_control(event_data_text(message.args))), style=style)
        if message.ack_id is not None and not message.is_ack:
            asked = "acknowledged" if message.direction == "in" else "ack asked"
            text.append(f"  ({asked}, ack {message.ack_id})", style=STATUS_STYLE)
    elif isinstance(message.data, bytes):
        data = message.data
        text.append(f"[binary, {len(data):,} bytes]", style=style)
        shown = data if preview is None else data[:preview]
        if shown:
            text.append(_continued("\n" + hexdump(shown)), style=style)
        if len(shown) < len(data):
            more = f"… {len(data) - len(shown):,} more bytes"
            if show_id is not None:
                more += f" (/show {show_id} for all)"
            text.append(_continued("\n" + more), style=STATUS_STYLE)
    else:
        text.append(_continued(escape_control(message.data)), style=style)
    return text


def _continued(body: str) -> str:
    """Indent the lines after the first, under the message: a peer's multi-line message
    cannot pass a line off as one the user sent (``> ...``) or as a status line."""
    return body.replace("\n", "\n" + CONTINUATION)


def fold(text: Text, width: int, indent: str = CONTINUATION) -> Text:
    """``text`` cut into screen lines of at most ``width`` cells, each cut-off part indented.

    The terminal would wrap a long line itself, starting the rest at column 0, where a
    peer's ``"ok" + spaces + "> transfer approved"`` passes for a line the user sent
    (a forged line). Folded here, every screen line after the first starts with ``indent``;
    lines after a newline already do (:func:`_continued`). Cut by character, never
    dropping or merging the peer's spaces.
    """
    from rich.cells import cell_len
    from rich.text import Text

    if width <= len(indent) + 1:
        return text
    lines = text.split("\n", allow_blank=True)
    out: list[Text] = []
    for line in lines:
        while cell_len(line.plain) > width:
            cut = _cut_at(line.plain, width)
            out.append(line[:cut])
            rest = line[cut:]
            line = Text(indent)
            line.append_text(rest)
        out.append(line)
    return Text("\n").join(out)


def _cut_at(plain: str, width: int) -> int:
    """The largest index whose prefix of ``plain`` fits in ``width`` cells (at least 1)."""
    from rich.cells import cell_len

    if plain.isascii():
        return width
    used = 0
    for index, char in enumerate(plain):
        used += cell_len(char)
        if used > width:
            return max(index, 1)
    return len(plain)


def status_text(line: str, style: str = STATUS_STYLE) -> Text:
    """A status line (connected, closed, ping ...) in the status style, escaped."""
    from rich.text import Text

    return Text(escape_control(line), style=style)
