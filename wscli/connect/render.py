"""How messages look: plain lines for pipes, marked and coloured lines for the terminal.

Pure: builds strings and :class:`rich.text.Text`; writing them is the caller's job. Peer
text always goes through :func:`wscli.core.escape.escape_control` before it reaches a terminal,
so a server cannot drive the user's terminal. rich is imported by the terminal functions
only: a pipe (`echo x | wscli connect URL -n 1`) starts faster without it.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

from wscli.core.escape import escape_control
from wscli.core.events import Message
from wscli.core.ndjson import timestamp, to_json
from wscli.core.socketio import loads_bounded

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
PREVIEW_CHARS = 4096
"""Characters of a text message (or of a Socket.IO event's arguments) shown at the prompt
before ``/show``: one peer message of 1 MiB froze the prompt for 30 s while it was folded
and printed. 4 KiB is a screenful or two, and stays well under a millisecond to render."""
PREVIEW_TEXT_LINES = 64
"""Lines of a text message shown at the prompt before ``/show`` (within PREVIEW_CHARS)."""
SHOW_PIECE_LINES = 64
"""Hex dump lines per piece when ``/show`` prints a long binary message piece by piece."""


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


def pipe_event_name(name: str) -> str:
    """An event name as the pipe writes it before ``: [args]``: bare when it reads as one
    name, else JSON-quoted.

    A name is the server's: ``"news: []\nack 0: [\"approved\"]"`` written bare forged a line
    (an acknowledgement that never came) in the reader's stream. Quoted are names with a
    control or other non-printable character (a newline), a ``": "`` (where the reader
    splits), leading or trailing spaces, a leading ``"`` (a quoted name) and names that
    read as an acknowledgement (``ack 0``); the rest, ``chat:message`` included, stay bare.
    """
    if (
        name
        and name.isprintable()
        and ": " not in name
        and name == name.strip()
        and not name.startswith('"')
        and not _ACK_LIKE.match(name)
    ):
        return name
    return to_json(name)


_ACK_LIKE = re.compile(r"ack\s")


def pipe_line(
    message: Message,
    binary_format: BinaryFormat = "base64",
    timestamps: bool = False,
    when: str | None = None,
    escape: bool = False,
) -> str:
    """One received message as the line written to stdout in a pipe (with the newline).

    Text is written as received (data, for the next program); binary as base64 or hex; a
    Socket.IO event as ``name: [args]`` (the name JSON-quoted when it is not a plain one,
    see :func:`pipe_event_name`) and an acknowledgement as ``ack N: [args]``: the
    arguments as one JSON array, ready for ``jq`` (and for ``--spread``). ``escape``
    (stdout is a terminal, e.g. ``echo hi | wscli connect URL``) shows control characters
    escaped instead.
    """
    if message.is_ack:
        body = f"ack {message.ack_id}: {to_json(list(message.args))}"
    elif message.name is not None:
        body = f"{pipe_event_name(message.name)}: {to_json(list(message.args))}"
    elif isinstance(message.data, bytes):
        body = encode_binary(message.data, binary_format)
    else:
        body = message.data
    if escape:
        body = escape_control(body)
    if timestamps:
        body = f"{when or timestamp()} {body}"
    return body + "\n"


def hexdump(data: bytes, width: int = 16, offset: int = 0) -> str:
    """Classic hex dump: offset, hex bytes, printable ASCII; one line per ``width`` bytes.

    ``offset``: where ``data`` starts in its message (a piece of a longer dump).
    """
    lines = []
    for start in range(0, len(data), width):
        chunk = data[start : start + width]
        hex_part = " ".join(f"{b:02x}" for b in chunk)
        ascii_part = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        lines.append(f"{offset + start:08x}  {hex_part:<{width * 3 - 1}}  |{ascii_part}|")
    return "\n".join(lines)


def text_body(message: Message) -> str | None:
    """What the prompt shows as the body of a text message or Socket.IO event (raw, not
    yet escaped); None for a binary message."""
    if socketio_head(message) is not None:
        return event_data_text(message.args)
    if isinstance(message.data, bytes):
        return None
    return message.data


def preview_end(body: str, chars: int = PREVIEW_CHARS, lines: int = PREVIEW_TEXT_LINES) -> int:
    """How much of ``body`` the prompt shows before ``/show``: at most ``chars`` characters
    and ``lines`` lines."""
    end = min(len(body), chars)
    newline = -1
    for _ in range(lines):
        newline = body.find("\n", newline + 1, end)
        if newline < 0:
            return end
    return newline


def shown_body(message: Message, body: str, pretty: bool) -> tuple[str, bool]:
    """The text the prompt shows for ``body`` (see :func:`text_body`) and whether it is
    indented JSON: with ``pretty``, a text message that is a JSON object or array."""
    if pretty and isinstance(message.data, str) and socketio_head(message) is None:
        indented = pretty_json(body)
        if indented is not None:
            return indented, True
    return body, False


def pretty_json(text: str) -> str | None:
    """``text`` as indented JSON when it is a JSON object or array (parsed within
    :func:`~wscli.core.socketio.loads_bounded`'s bounds), else None."""
    if not text.lstrip().startswith(("{", "[")):
        return None
    try:
        value = loads_bounded(text)
    except ValueError:
        return None
    return json.dumps(value, indent=2, ensure_ascii=False)


def terminal_message(
    message: Message,
    timestamps: bool = False,
    when: str | None = None,
    preview: int | None = None,
    show_id: int | None = None,
    text_preview: bool = False,
    pretty: bool = False,
) -> Text:
    """A message for the interactive terminal: marker, colour, escaped text, hex dump.

    ``preview``: dump at most that many bytes of a binary message and say how many more
    there are (``… 2,944 more bytes``), with ``/show ID`` when ``show_id`` is given: a
    3 KB file printed ~190 lines each way at the prompt, burying the conversation.
    ``text_preview``: show at most :data:`PREVIEW_CHARS` characters and
    :data:`PREVIEW_TEXT_LINES` lines of a text message or of an event's arguments, and say
    how many more characters there are.
    ``pretty`` (/pretty, --pretty): a JSON object or array is indented and highlighted
    (rich's JSON highlighter), after it is escaped.
    """
    style = _style(message)
    text = _marked(message, timestamps, when)
    body = text_body(message)
    if body is not None:
        from rich.text import Text

        shown, indented = shown_body(message, body, pretty)
        end = preview_end(shown) if text_preview else len(shown)
        piece = Text(_continued(escape_control(shown[:end])), style=style)
        if indented:
            from rich.highlighter import JSONHighlighter

            JSONHighlighter().highlight(piece)
        text.append_text(piece)
        if message.ack_id is not None and not message.is_ack:
            asked = "acknowledged" if message.direction == "in" else "ack asked"
            text.append(f"  ({asked}, ack {message.ack_id})", style=STATUS_STYLE)
        if end < len(shown):
            more = _more(len(shown) - end, "characters", show_id)
            text.append(_continued("\n" + more), style=STATUS_STYLE)
        return text
    assert isinstance(message.data, bytes)
    data = message.data
    text.append(f"[binary, {len(data):,} bytes]", style=style)
    dumped = data if preview is None else data[:preview]
    if dumped:
        text.append(_continued("\n" + hexdump(dumped)), style=style)
    if len(dumped) < len(data):
        more = _more(len(data) - len(dumped), "bytes", show_id)
        text.append(_continued("\n" + more), style=STATUS_STYLE)
    return text


def terminal_pieces(
    message: Message, timestamps: bool = False, when: str | None = None
) -> Iterator[Text]:
    """The whole of ``message`` for ``/show``, in pieces of about a screenful each.

    The first piece is :func:`terminal_message`'s head with the start of the body; each
    later piece continues the body (indented, as folded lines are), so the caller can let
    the event loop run between pieces: a kept 1 MiB message printed at once would hold it
    (pongs, the next message, typing) for as long as the whole print takes.
    """
    from rich.text import Text

    style = _style(message)
    body = text_body(message)
    if body is None:
        assert isinstance(message.data, bytes)
        data = message.data
        first = _marked(message, timestamps, when)
        first.append(f"[binary, {len(data):,} bytes]", style=style)
        yield first
        step = SHOW_PIECE_LINES * HEXDUMP_WIDTH
        for start in range(0, len(data), step):
            dump = hexdump(data[start : start + step], HEXDUMP_WIDTH, start)
            yield Text(CONTINUATION + _continued(dump), style=style)
        return
    head = _marked(message, timestamps, when)
    for start in range(0, max(len(body), 1), PREVIEW_CHARS):
        piece = _continued(escape_control(body[start : start + PREVIEW_CHARS]))
        if start == 0:
            head.append(piece, style=style)
            yield head
        else:  # the piece goes on where the last one stopped: on an indented line
            yield Text(CONTINUATION + piece, style=style)


def _style(message: Message) -> str:
    return SENT_STYLE if message.direction == "out" else RECEIVED_STYLE


def _marked(message: Message, timestamps: bool, when: str | None) -> Text:
    """The start of a message's first line: time, marker and, for Socket.IO, its head."""
    from rich.text import Text

    style = _style(message)
    text = Text()
    if timestamps:
        text.append(f"{when or timestamp()} ", style=STATUS_STYLE)
    marker = SENT_MARKER if message.direction == "out" else RECEIVED_MARKER
    text.append(f"{marker} ", style=f"bold {style}")
    head = socketio_head(message)
    if head is not None:
        # The name is the server's, like a body: a newline in it must not start a line
        # of its own at column 0 (a forged "> transfer approved" or "* closed" line).
        text.append(f"{_continued(escape_control(head))}: ", style=f"bold {style}")
    return text


def _more(count: int, unit: str, show_id: int | None) -> str:
    more = f"… {count:,} more {unit}"
    return more + f" (/show {show_id} for all)" if show_id is not None else more


def _continued(body: str) -> str:
    """Indent the lines after the first, under the message: a peer's multi-line message
    cannot pass a line off as one the user sent (``> ...``) or as a status line."""
    return body.replace("\n", "\n" + CONTINUATION)


def fold(text: Text, width: int, indent: str = CONTINUATION) -> Text:
    """``text`` cut into screen lines of at most ``width`` cells, each cut-off part indented.

    The terminal would wrap a long line itself, starting the rest at column 0, where a
    peer's ``"ok" + spaces + "> transfer approved"`` passes for a line the user sent
    (a forged line). Folded here, every screen line after the first starts with ``indent``;
    lines after a newline already do (:func:`_continued`). Cut after the last space that
    fits (a word longer than the line is cut where it must), never dropping or merging the
    peer's spaces: "is the server running?" is never cut into "i" and "s the".

    Linear in the length of ``text``: every cut is found in one pass over each line and
    the pieces are made by one ``Text.divide`` (cutting the rest off again and again cost
    30 s for 1 MiB of ASCII, 231 s of CJK).
    """
    from rich.text import Text

    if width <= len(indent) + 1:
        return text
    out: list[Text] = []
    for line in text.split("\n", allow_blank=True):
        cuts = screen_cuts(line.plain, width, width - len(indent), len(indent))
        if not cuts:
            out.append(line)
            continue
        first, *rest = line.divide(cuts)
        out.append(first)
        for piece in rest:
            folded = Text(indent)
            folded.append_text(piece)
            out.append(folded)
    return Text("\n").join(out)


def screen_cuts(plain: str, first: int, rest: int, marker: int = 0) -> list[int]:
    """Where to cut one line (no newline in it) so its first screen line holds at most
    ``first`` cells and each later one at most ``rest``; every part holds one character
    at least. A cut goes just after the last space that fits when that leaves more than
    the first ``marker`` characters (``< ``) on the first line, or anything on a later
    one; a longer word is cut where it must.

    Linear in the length of ``plain``: a line's search stops at its own end, and a word
    moved to the next line is read twice at most (a short line is followed by a full one).
    """
    from rich.cells import cell_len

    ascii_only = plain.isascii()
    cuts: list[int] = []
    start, limit, floor = 0, first, marker
    while True:
        if ascii_only:
            end = start + limit
            if end >= len(plain):
                return cuts
        else:
            used, end = 0, len(plain)
            for index in range(start, len(plain)):
                used += cell_len(plain[index])
                if used > limit:
                    end = max(index, start + 1)
                    break
            else:
                return cuts
        space = plain.rfind(" ", start, end)
        cut = space + 1 if space > start + floor else end
        cuts.append(cut)
        start, limit, floor = cut, rest, 0


def status_text(line: str, style: str = STATUS_STYLE) -> Text:
    """A status line (connected, closed, ping ...) in the status style, escaped."""
    from rich.text import Text

    return Text(escape_control(line), style=style)
