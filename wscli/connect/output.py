"""Where `wscli connect` writes: the one module that owns its stdout and stderr.

Three writers share one small interface (:class:`Output`):

- :class:`PlainOutput` (pipes): received messages on stdout, one per line, flushed at
  once; status on stderr only with ``-v``; ping/pong on stderr with --show-ping-pong.
- :class:`JsonOutput` (``--json``): every event as one NDJSON line on stdout.
- :class:`TerminalOutput` (the prompt): marked, coloured, escaped lines via rich.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable, Sequence
from typing import IO, TYPE_CHECKING, Protocol

from wscli.connect.link import Agreed
from wscli.connect.render import (
    ERROR_STYLE,
    HEXDUMP_WIDTH,
    PREVIEW_LINES,
    BinaryFormat,
    encode_binary,
    fold,
    pipe_line,
    preview_end,
    shown_body,
    status_text,
    terminal_message,
    terminal_pieces,
    text_body,
)
from wscli.core.closecodes import close_description
from wscli.core.errors import HandshakeRejected, WscliError, error_text, format_error
from wscli.core.escape import escape_control
from wscli.core.events import (
    ClosedBy,
    Direction,
    FrameKind,
    Message,
    Messages,
    close_event,
    error_event,
    message_event,
    open_event,
    ping_event,
    reconnect_event,
    redirect_event,
)
from wscli.core.ndjson import timestamp, to_ndjson
from wscli.core.url import redact_url

if TYPE_CHECKING:  # the pipe never builds a console: rich stays unimported there
    from rich.console import Console
    from rich.text import Text


_BURST_BYTES = 65536  # received bytes held for one stdout write at most


class LinkInfo(Agreed, Protocol):
    """What an output needs to know about an open link."""

    url: str


class Output(Protocol):
    """The events of a session, as each writer shows them."""

    def opened(self, link: LinkInfo) -> None: ...

    def message(self, message: Message) -> None: ...

    def messages(self, messages: Sequence[Message]) -> None:
        """Several messages at once (a pipe's burst), as :meth:`message` shows each."""

    shows_sent: bool
    """Messages sent are shown (--json, the prompt): a pipe that shows none of them does
    not hand them over."""

    def frame(
        self,
        kind: FrameKind,
        direction: Direction,
        payload: bytes,
        rtt: float | None,
    ) -> None: ...

    def closed(self, code: int | None, reason: str, by: ClosedBy) -> None: ...

    def error(self, error: WscliError, final: bool) -> None:
        """An error; ``final`` when it ends the session (the CLI prints those once)."""

    def reconnecting(
        self, attempt: int, delay: float, max_retries: int | None, reason: str = ""
    ) -> None:
        """A retryable failure (``reason``): the next attempt comes after ``delay`` s."""

    def redirected(self, status: int, source: str, url: str, dropped: bool) -> None:
        """A redirect followed with -L: from ``source`` to ``url`` (``dropped``: -H and
        --auth were not sent on, as the host changed)."""

    def status(self, line: str) -> None: ...

    def flush(self) -> None:
        """Write out anything buffered (the session has ended)."""

    def warning(self, line: str) -> None:
        """Something the user must see even in a pipe (a fallback, a missed deadline)."""


def _open_line(link: LinkInfo) -> str:
    parts = [f"connected to {redact_url(link.url)}"]
    if link.subprotocol:
        parts.append(f"subprotocol {link.subprotocol}")
    if link.extensions:
        parts.append("extensions " + ", ".join(link.extensions))
    return "; ".join(parts)


def _frame_line(kind: str, direction: str, payload: bytes, rtt: float | None) -> str:
    arrow = "received" if direction == "in" else "sent"
    line = f"{kind} {arrow}"
    if payload:
        line += f" ({payload.hex()})"
    if rtt is not None:
        line += f", round trip {rtt * 1000:.1f} ms"
    return line


def _closed_line(code: int | None, reason: str, by: ClosedBy) -> str:
    who = f" by the {by}" if by else ""
    return f"closed{who}: {close_description(code, reason)}"


def _reconnect_line(attempt: int, delay: float, max_retries: int | None, reason: str) -> str:
    limit = f"/{max_retries}" if max_retries is not None else ""
    line = f"reconnecting in {delay:.1f} s (attempt {attempt}{limit})"
    return f"{line}: {reason}" if reason else line


def _redirect_line(status: int, source: str, url: str, dropped: bool) -> str:
    line = f"redirected (HTTP {status}) from {source} to {url}"
    return line + "; -H headers and --auth not sent to the new host" if dropped else line


class _TextEvents:
    """Ping/pong, close and reconnect as text lines, for the pipe and the prompt alike.

    ``_note`` shows a line that was asked for (ping/pong, reconnects); ``status`` one that
    the pipe shows only with -v.
    """

    show_ping_pong: bool = False

    def _note(self, line: str) -> None:
        raise NotImplementedError

    def status(self, line: str) -> None:
        raise NotImplementedError

    def frame(
        self,
        kind: FrameKind,
        direction: Direction,
        payload: bytes,
        rtt: float | None,
    ) -> None:
        if self.show_ping_pong:
            self._note(_frame_line(kind, direction, payload, rtt))

    def closed(self, code: int | None, reason: str, by: ClosedBy) -> None:
        self.status(_closed_line(code, reason, by))

    def reconnecting(
        self, attempt: int, delay: float, max_retries: int | None, reason: str = ""
    ) -> None:
        self._note(_reconnect_line(attempt, delay, max_retries, reason))

    def redirected(self, status: int, source: str, url: str, dropped: bool) -> None:
        self._note(_redirect_line(status, source, url, dropped))


class _StderrStatus:
    """What the pipe writers share: ``wscli: ...`` status lines on stderr, some only with -v,
    and stdout written in bursts.

    Messages that arrive together (one socket read holds hundreds of short ones) are
    written together: :meth:`_write` buffers, and one flush runs once the event loop is
    free again — before it waits for the network — so a reader still sees each message
    as soon as it arrived, at a fraction of the system calls of a flush per message
    (a pipe's throughput is bound by them). Outside a running loop it flushes at once.
    """

    def __init__(self, stdout: IO[bytes], stderr: IO[str], *, verbose: bool = False) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.verbose = verbose
        self._pending: list[bytes] = []  # written at the next flush, in one write
        self._pending_bytes = 0
        self._flush_scheduled = False
        self._flush_error: OSError | None = None

    def _write(self, data: bytes) -> None:
        if self._flush_error is not None:  # the last flush failed: tell the writer now
            error, self._flush_error = self._flush_error, None
            raise error
        self._pending.append(data)
        self._pending_bytes += len(data)
        if self._pending_bytes >= _BURST_BYTES:  # bounded: write now (errors go up)
            self._write_pending()
            return
        if self._flush_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._write_pending()
            return
        self._flush_scheduled = True
        loop.call_soon(self._scheduled_flush)

    def _write_pending(self) -> None:
        # Our own buffer, not the stream's: with PYTHONUNBUFFERED (or -u) sys.stdout.buffer
        # writes each message with a system call of its own.
        data = b"".join(self._pending)
        self._pending.clear()
        self._pending_bytes = 0
        self.stdout.write(data)
        self.stdout.flush()

    def _scheduled_flush(self) -> None:
        self._flush_scheduled = False
        try:
            self._write_pending()
        except OSError as exc:  # raised to the next write (or to flush())
            self._flush_error = exc

    def flush(self) -> None:
        """Write out what is buffered (at the end of a session); raises a broken pipe."""
        self._flush_scheduled = False
        if self._flush_error is not None:
            error, self._flush_error = self._flush_error, None
            raise error
        self._write_pending()

    def _err(self, line: str) -> None:
        if self._flush_scheduled:  # what came before this line is shown before it
            self._scheduled_flush()
        # Every status line may quote the server (a close reason, a Location): escaped here.
        try:
            self.stderr.write(f"wscli: {escape_control(line, keep_newlines=False)}\n")
            self.stderr.flush()
        except (OSError, ValueError):
            pass

    def status(self, line: str) -> None:
        if self.verbose:
            self._err(line)

    def error(self, error: WscliError, final: bool) -> None:
        if not final:  # a final error is printed once by the CLI
            self._err(format_error(error, prefix="error: "))

    def warning(self, line: str) -> None:
        self._err(f"warning: {line}")


class PlainOutput(_StderrStatus, _TextEvents):
    """Pipe mode: nothing but received messages on stdout.

    ``escape``: stdout is a terminal (only stdin is piped), so peer control characters are
    shown escaped rather than let loose on it.
    """

    def __init__(
        self,
        stdout: IO[bytes],
        stderr: IO[str],
        *,
        verbose: bool = False,
        show_ping_pong: bool = False,
        binary_format: BinaryFormat = "base64",
        timestamps: bool = False,
        escape: bool = False,
        separator: bytes = b"\n",
    ) -> None:
        super().__init__(stdout, stderr, verbose=verbose)
        self.show_ping_pong = show_ping_pong
        self.binary_format = binary_format
        self.timestamps = timestamps
        self.escape = escape
        self.separator = separator

    def opened(self, link: LinkInfo) -> None:
        self.status(_open_line(link))

    shows_sent = False

    def message(self, message: Message) -> None:
        self.messages((message,))

    def messages(self, messages: Sequence[Message]) -> None:
        lines: list[str] = []
        plain = not self.escape and not self.timestamps
        if isinstance(messages, Messages):  # plain WebSocket messages, as their payloads
            if messages.direction != "in":
                return
            if plain:
                binary_format = self.binary_format
                lines = [
                    data if isinstance(data, str) else encode_binary(data, binary_format)
                    for data in messages.payloads
                ]
                messages = ()
        for message in messages:
            if message.direction != "in":
                continue
            data = message.data
            if plain and isinstance(data, str) and message.name is None and not message.is_ack:
                lines.append(data)  # text as received: most of a pipe's lines
            else:
                line = pipe_line(message, self.binary_format, self.timestamps, escape=self.escape)
                lines.append(line[:-1])
        if not lines:
            return
        # --separator: each message ends with it instead of a newline.
        end = "\n" if self.separator == b"\n" else self.separator.decode("utf-8", "surrogateescape")
        lines.append("")
        # A BrokenPipeError goes up: the session closes politely and ends quietly.
        self._write(end.join(lines).encode("utf-8", "surrogateescape"))

    def _note(self, line: str) -> None:
        self._err(line)


class JsonOutput(_StderrStatus):
    """``--json``: one NDJSON object per event on stdout; nothing else there."""

    def _emit(self, event: dict[str, object]) -> None:
        self._write(to_ndjson(event).encode("utf-8", "surrogateescape"))

    def opened(self, link: LinkInfo) -> None:
        self._emit(
            open_event(
                redact_url(link.url), link.subprotocol, link.extensions, link.response_headers
            )
        )

    shows_sent = True

    def message(self, message: Message) -> None:
        self._emit(message_event(message))

    def messages(self, messages: Sequence[Message]) -> None:
        for message in messages:
            self._emit(message_event(message))

    def frame(
        self,
        kind: FrameKind,
        direction: Direction,
        payload: bytes,
        rtt: float | None,
    ) -> None:
        self._emit(ping_event(kind, direction, payload, rtt))

    def closed(self, code: int | None, reason: str, by: ClosedBy) -> None:
        self._emit(close_event(code, reason, by))

    def error(self, error: WscliError, final: bool) -> None:
        refusal = error.refusal if isinstance(error, HandshakeRejected) else None
        self._emit(error_event(error_text(error), int(error.exit_code), refusal=refusal))
        super().error(error, final)

    def reconnecting(
        self, attempt: int, delay: float, max_retries: int | None, reason: str = ""
    ) -> None:
        self._emit(reconnect_event(attempt, delay, max_retries, reason))
        self._err(_reconnect_line(attempt, delay, max_retries, reason))  # on stderr too

    def redirected(self, status: int, source: str, url: str, dropped: bool) -> None:
        self._emit(redirect_event(status, source, url))
        self._err(_redirect_line(status, source, url, dropped))  # on stderr too


# Messages cut at the prompt, kept for /show: the last few, and never more bytes than this
# in all.
SHOW_KEEP = 16
SHOW_KEEP_BYTES = 16 * 1024 * 1024


class TerminalOutput(_TextEvents):
    """The prompt: marked, coloured messages and status lines through rich consoles.

    Build it inside ``patch_stdout`` so the consoles write above the prompt. Every line is
    folded to the terminal's width as it is printed (``width``, asked each time, so output
    after a resize fits the new width). A binary message longer than
    :data:`PREVIEW_LINES` hex dump lines is cut (unless ``full``), and so is a text message
    (or a Socket.IO event's arguments) longer than :data:`PREVIEW_CHARS` characters or
    :data:`PREVIEW_TEXT_LINES` lines, always: the terminal never gets more of one message
    at once. Cut messages are kept for ``/show``.
    """

    shows_sent = True

    def __init__(
        self,
        console: Console,
        *,
        show_ping_pong: bool = False,
        timestamps: bool = False,
        full: bool = False,
        pretty: bool = False,
        width: Callable[[], int] | None = None,
    ) -> None:
        self.console = console
        self.show_ping_pong = show_ping_pong
        self.timestamps = timestamps
        self.full = full
        self.pretty = pretty  # /pretty toggles it
        self.width = width or (lambda: self.console.width)
        self.kept: collections.OrderedDict[int, Message] = collections.OrderedDict()
        self.kept_bytes = 0
        self.next_id = 1

    def _print(self, text: Text) -> None:
        self.console.print(fold(text, self.width()), markup=False, highlight=False, soft_wrap=True)

    def opened(self, link: LinkInfo) -> None:
        self.status(_open_line(link) + "; /help for commands, Ctrl-D to quit")

    def message(self, message: Message) -> None:
        preview = None if self.full else PREVIEW_LINES * HEXDUMP_WIDTH
        show_id = None
        body = text_body(message)
        if body is not None:
            shown, _ = shown_body(message, body, self.pretty)
            cut = preview_end(shown) < len(shown)
        else:
            cut = preview is not None and len(message.data) > preview
        if cut:
            show_id = self._keep(message, message.length)
        text = terminal_message(
            message,
            self.timestamps,
            timestamp(),
            preview,
            show_id,
            text_preview=True,
            pretty=self.pretty,
        )
        self._print(text)

    def messages(self, messages: Sequence[Message]) -> None:
        for message in messages:
            self.message(message)

    def _keep(self, message: Message, size: int) -> int | None:
        """Keep ``message`` for /show (bounded in count and bytes); its number, or None."""
        if size > SHOW_KEEP_BYTES:
            return None
        show_id, self.next_id = self.next_id, self.next_id + 1
        self.kept[show_id] = message
        self.kept_bytes += size
        while len(self.kept) > SHOW_KEEP or self.kept_bytes > SHOW_KEEP_BYTES:
            _, old = self.kept.popitem(last=False)
            self.kept_bytes -= old.length
        return show_id

    async def show(self, show_id: int) -> bool:
        """``/show N``: print kept message N in full; False if it is not kept.

        Piece by piece (about a screenful each), letting the event loop run between
        pieces: pongs and new messages keep flowing while a long message prints.
        """
        message = self.kept.get(show_id)
        if message is None:
            return False
        for piece in terminal_pieces(message, self.timestamps, timestamp()):
            self._print(piece)
            await asyncio.sleep(0)
        return True

    def error(self, error: WscliError, final: bool) -> None:
        if not final:  # a final error is printed once by the CLI, after the prompt
            self._print(status_text(format_error(error), ERROR_STYLE))

    def status(self, line: str) -> None:
        self._print(status_text(f"* {line}"))

    def flush(self) -> None:
        """Nothing is buffered: rich writes each line at once."""

    def warning(self, line: str) -> None:
        self._print(status_text(f"* warning: {line}", ERROR_STYLE))

    _note = status
