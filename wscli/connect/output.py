"""Where `wscli connect` writes: the one module that owns its stdout and stderr.

Three writers share one small interface (:class:`Output`):

- :class:`PlainOutput` (pipes): received messages on stdout, one per line, flushed at
  once; status on stderr only with ``-v``; ping/pong on stderr with --show-ping-pong.
- :class:`JsonOutput` (``--json``): every event as one NDJSON line on stdout.
- :class:`TerminalOutput` (the prompt): marked, coloured, escaped lines via rich.
"""

from __future__ import annotations

from typing import IO, Protocol

from rich.console import Console

from wscli.connect.events import (
    ClosedBy,
    Direction,
    FrameKind,
    Message,
    close_event,
    error_event,
    message_event,
    open_event,
    ping_event,
    reconnect_event,
    redirect_event,
)
from wscli.connect.render import (
    ERROR_STYLE,
    BinaryFormat,
    pipe_line,
    status_text,
    terminal_message,
)
from wscli.core.closecodes import close_description
from wscli.core.errors import WscliError, error_text, format_error
from wscli.core.escape import escape_control
from wscli.core.ndjson import timestamp, to_ndjson
from wscli.core.url import redact_url


class LinkInfo(Protocol):
    """What an output needs to know about an open link."""

    url: str

    @property
    def subprotocol(self) -> str | None: ...

    @property
    def extensions(self) -> list[str]: ...

    @property
    def response_headers(self) -> list[tuple[str, str]]: ...


class Output(Protocol):
    """The events of a session, as each writer shows them."""

    def opened(self, link: LinkInfo) -> None: ...

    def message(self, message: Message) -> None: ...

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
    """What the pipe writers share: ``wscli: ...`` status lines on stderr, some only with -v."""

    def __init__(self, stdout: IO[bytes], stderr: IO[str], *, verbose: bool = False) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.verbose = verbose

    def _err(self, line: str) -> None:
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
    ) -> None:
        super().__init__(stdout, stderr, verbose=verbose)
        self.show_ping_pong = show_ping_pong
        self.binary_format = binary_format
        self.timestamps = timestamps
        self.escape = escape

    def opened(self, link: LinkInfo) -> None:
        self.status(_open_line(link))

    def message(self, message: Message) -> None:
        if message.direction != "in":
            return
        line = pipe_line(message, self.binary_format, self.timestamps, escape=self.escape)
        # A BrokenPipeError goes up: the session closes politely and ends quietly.
        self.stdout.write(line.encode("utf-8", "surrogateescape"))
        self.stdout.flush()

    def _note(self, line: str) -> None:
        self._err(line)


class JsonOutput(_StderrStatus):
    """``--json``: one NDJSON object per event on stdout; nothing else there."""

    def _emit(self, event: dict[str, object]) -> None:
        self.stdout.write(to_ndjson(event).encode("utf-8", "surrogateescape"))
        self.stdout.flush()

    def opened(self, link: LinkInfo) -> None:
        self._emit(
            open_event(
                redact_url(link.url), link.subprotocol, link.extensions, link.response_headers
            )
        )

    def message(self, message: Message) -> None:
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
        self._emit(error_event(error_text(error), int(error.exit_code)))
        super().error(error, final)

    def reconnecting(
        self, attempt: int, delay: float, max_retries: int | None, reason: str = ""
    ) -> None:
        self._emit(reconnect_event(attempt, delay, max_retries, reason))
        self._err(_reconnect_line(attempt, delay, max_retries, reason))  # on stderr too

    def redirected(self, status: int, source: str, url: str, dropped: bool) -> None:
        self._emit(redirect_event(status, source, url))
        self._err(_redirect_line(status, source, url, dropped))  # on stderr too


class TerminalOutput(_TextEvents):
    """The prompt: marked, coloured messages and status lines through rich consoles.

    Build it inside ``patch_stdout`` so the consoles write above the prompt.
    """

    def __init__(
        self,
        console: Console,
        *,
        show_ping_pong: bool = False,
        timestamps: bool = False,
    ) -> None:
        self.console = console
        self.show_ping_pong = show_ping_pong
        self.timestamps = timestamps

    def _print(self, text: object) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def opened(self, link: LinkInfo) -> None:
        self.status(_open_line(link) + "; /help for commands, Ctrl-D to quit")

    def message(self, message: Message) -> None:
        self._print(terminal_message(message, self.timestamps, timestamp()))

    def error(self, error: WscliError, final: bool) -> None:
        if not final:  # a final error is printed once by the CLI, after the prompt
            self._print(status_text(format_error(error), ERROR_STYLE))

    def status(self, line: str) -> None:
        self._print(status_text(f"* {line}"))

    _note = status
