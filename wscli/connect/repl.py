"""The interactive prompt of `wscli connect` — the only module that imports prompt_toolkit.

Incoming messages are printed above the prompt while the user types
(``patch_stdout(raw=True)``), history persists in ``$XDG_STATE_HOME/wscli/history``, slash
commands (:mod:`wscli.connect.slash`) complete with Tab, and a bottom toolbar shows the URL,
state, subprotocol, compression, last round trip and message counts, dropping the least
telling fields whole when the terminal is narrow. Ctrl-C clears the line; on an empty line
it says how to leave, and a second Ctrl-C within :data:`LEAVE_WINDOW` seconds leaves like
Ctrl-D: close with 1000 (or --close-code) and exit 0. A pasted multi-line text (bracketed
paste) is one message; lines after the first are indented under the first, typed, pasted
or recalled from history alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import CompleteEvent, Completer, Completion, PathCompleter
from prompt_toolkit.document import Document
from prompt_toolkit.history import History, InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.patch_stdout import patch_stdout
from websockets.exceptions import ConnectionClosed

from wscli.connect.config import ReplOptions, SessionOptions
from wscli.connect.link import Link
from wscli.connect.output import SHOW_KEEP, JsonOutput, Output, TerminalOutput
from wscli.connect.session import (
    cancel_and_wait,
    close_politely,
    finish_closed,
    run_session,
)
from wscli.connect.slash import COMMANDS, HELP_TEXT, Command, CommandError, parse_line
from wscli.connect.socketio.link import SocketIOLink, completable
from wscli.connect.view import View
from wscli.core.errors import TimedOut, os_reason
from wscli.core.events import Message
from wscli.core.exitcodes import ExitCode
from wscli.core.url import redact_url
from wscli.net.statefiles import AppendOnlyFile, history_entry, history_path, history_strings
from wscli.net.terminal import make_console

PING_WAIT = 30  # seconds /ping waits for its pong
LEAVE_WINDOW = 2.0  # seconds in which a second Ctrl-C on an empty line leaves
LEAVE_HINT = "(Ctrl-D or /quit to leave)"


class PrivateHistory(History):
    """The prompt's history in a private file, through prompt_toolkit's public History API
    (its two storage methods) on our own store, :class:`AppendOnlyFile`: every line typed
    is appended with ``O_NOFOLLOW`` and mode 0600, in a 0700 directory held open.

    An append that fails (a symlink planted after start, a full disk) keeps the line in
    memory and is said once through ``notice``.
    """

    def __init__(self, file: AppendOnlyFile) -> None:
        super().__init__()
        self.file = file
        self.notice: Callable[[str], None] = lambda line: None
        self.failed = False

    def load_history_strings(self) -> Iterable[str]:
        return history_strings(self.file.read_tail())

    def store_string(self, string: str) -> None:
        try:
            self.file.append(history_entry(string))
        except OSError as exc:
            if not self.failed:
                self.failed = True
                self.notice(f"history not saved: cannot write {self.file.path}: {os_reason(exc)}")


def open_history(path: Path) -> tuple[History, str | None]:
    """A private file history at ``path`` (created as needed: mode 0600 in a 0700
    directory), or an in-memory one and a warning."""
    try:
        # Private, like shell histories: typed lines may hold tokens. Not through a
        # symlink (ELOOP): a planted link must not make wscli write into another file.
        file = AppendOnlyFile(path)
    except OSError as exc:
        why = os_reason(exc)
        return InMemoryHistory(), f"history not saved: cannot write {path}: {why}"
    return PrivateHistory(file), None


class SlashCompleter(Completer):
    """Completes slash commands at the start of the line, after ``/file `` (and
    ``/file --text ``) a path, and after ``/emit `` the Socket.IO event names seen so far
    (``event_names``)."""

    def __init__(self, event_names: Callable[[], Iterable[str]] = tuple) -> None:
        self.event_names = event_names
        self.paths = PathCompleter(expanduser=True)

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterable[Completion]:
        text = document.text_before_cursor
        for prefix in ("/file --text ", "/file "):
            if text.startswith(prefix) and "\n" not in text:
                # The path is the rest of the line: completions replace its end alike.
                yield from self.paths.get_completions(Document(text[len(prefix) :]), complete_event)
                return
        if text.startswith("/emit ") and " " not in text[len("/emit ") :]:
            typed = text[len("/emit ") :]
            for name in self.event_names():
                if name.startswith(typed) and completable(name):
                    yield Completion(name, start_position=-len(typed))
            return
        if not text.startswith("/") or " " in text or text.startswith("//"):
            return
        for name, (_, what) in COMMANDS.items():
            if name.startswith(text):
                yield Completion(name, start_position=-len(text), display_meta=what)


def _key_bindings() -> KeyBindings:
    bindings = KeyBindings()

    @bindings.add("escape", "enter")
    def _newline(event: KeyPressEvent) -> None:
        """Alt-Enter / Esc Enter: a newline inside the message instead of sending it."""
        event.current_buffer.insert_text("\n")

    @bindings.add("c-c")
    def _interrupt(event: KeyPressEvent) -> None:
        """Ctrl-C: clear a typed line in place; on an empty line, hand it to the prompt
        loop (which explains how to leave, or leaves on a second one)."""
        buffer = event.current_buffer
        if buffer.text:
            buffer.reset()
        else:
            event.app.exit(exception=KeyboardInterrupt())

    return bindings


def _continuation(width: int, line_number: int, wrap_count: int) -> str:
    """Lines after the first start under the first one's text, not at column 0."""
    return " " * width


class _TextBytes:
    """Lets JsonOutput write bytes through patch_stdout's text proxy."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def write(self, data: bytes) -> int:
        self.stream.write(data.decode("utf-8", "replace"))
        return len(data)

    def flush(self) -> None:
        self.stream.flush()


@dataclasses.dataclass
class Stats:
    """What the toolbar shows."""

    state: str = "connecting"
    url: str = ""
    subprotocol: str | None = None
    compression: str = "-"
    rtt: float | None = None
    sent: int = 0
    received: int = 0
    socketio: str | None = None  # namespace and pending acks, with --socketio
    view: str | None = None  # /filter and /mute, while on


def toolbar_text(stats: Stats, width: int | None = None) -> str:
    """URL, state, message counts, last RTT, compression, subprotocol, in that order.

    When they do not fit in ``width`` columns, whole fields are dropped, least telling first
    (subprotocol, compression, RTT, URL, counts; the state stays): the terminal would
    otherwise cut the toolbar mid-word.
    """
    rtt = f"{stats.rtt * 1000:.1f} ms" if stats.rtt is not None else "-"
    fields = [
        (2, stats.url),
        (0, stats.state),
        (1, f"sent {stats.sent} recv {stats.received}"),
        (3, f"rtt {rtt}"),
        (4, stats.compression),
        (5, f"subprotocol: {stats.subprotocol or '-'}"),
    ]
    if stats.socketio:
        fields.insert(2, (1, stats.socketio))
    if stats.view:  # a filter hides messages: never dropped for room
        fields.insert(2, (0, stats.view))
    while True:
        text = " " + " | ".join(field for _, field in fields) + " "
        if width is None or len(text) <= width or len(fields) == 1:
            return text if width is None or len(text) <= width else ""
        fields.remove(max(fields))


class Repl:
    """The prompt session across connections (it survives --reconnect)."""

    def __init__(
        self,
        options: ReplOptions,
        output: Output,
        history: History,
        execute: Sequence[str] | None = None,
    ) -> None:
        self.options = options
        self.execute = list(options.execute if execute is None else execute)
        self.output = output
        self.stats = Stats()
        self.session: PromptSession[str] = PromptSession(
            history=history,
            completer=SlashCompleter(self._event_names),
            complete_while_typing=True,
            key_bindings=_key_bindings(),
            bottom_toolbar=self.toolbar,
            prompt_continuation=_continuation,
            refresh_interval=0.5,
            erase_when_done=True,
        )
        self.loop = asyncio.get_running_loop()
        self.deadline = None if options.timeout is None else self.loop.time() + options.timeout
        self.draft = ""  # a line half typed when the connection dropped: offered again
        self.interrupted_at: float | None = None  # the last Ctrl-C on an empty line
        self.socketio: SocketIOLink | None = None
        self.view = View()

    def _event_names(self) -> Iterable[str]:
        return list(self.socketio.event_names) if self.socketio is not None else ()

    def width(self) -> int:
        """The terminal's width now (it follows resizes)."""
        return self.session.app.output.get_size().columns

    def toolbar(self) -> str:
        link = self.socketio
        if link is not None:
            acks = "on" if link.ack else "off"
            self.stats.socketio = (
                f"ns {link.namespace} | acks {acks}, {len(link.pending_acks)} pending"
            )
        self.stats.view = self.view.toolbar()
        return toolbar_text(self.stats, self.width())

    def _show(self, message: Message) -> None:
        if message.direction == "out":
            self.stats.sent += 1
        else:
            self.stats.received += 1
        if self.view.shows(message):  # /filter, /mute
            self.output.message(message)
        self._invalidate()

    def _invalidate(self) -> None:
        app = self.session.app
        if app.is_running:
            app.invalidate()

    async def run(self, link: Link) -> ExitCode:
        """Prompt and receive on one link until it ends; see the module docstring."""
        self.stats.url = redact_url(link.url)  # shown all session long: no password
        self.stats.state = "open"
        self.stats.subprotocol = link.subprotocol
        self.stats.compression = ", ".join(link.extensions) or "no compression"
        self.socketio = link if isinstance(link, SocketIOLink) else None
        if self.socketio is not None:
            for message in await self.socketio.emit_opening():
                self._show(message)
        for text in self.execute:
            self._show(await link.send(text))
        receiver = asyncio.ensure_future(self._receive(link))
        prompter = asyncio.ensure_future(self._prompt(link))
        hangup: asyncio.Future[None] = self.loop.create_future()
        tasks: set[asyncio.Future[Any]] = {receiver, prompter, hangup}
        if self.deadline is not None:
            tasks.add(asyncio.ensure_future(asyncio.sleep(self.deadline - self.loop.time())))
        watching = _watch_hangup(self.loop, hangup)
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if watching:
                self.loop.remove_signal_handler(signal.SIGHUP)
            if not prompter.done():  # keep what was typed for the next connection's prompt
                self.draft = self.session.default_buffer.text
            await cancel_and_wait(*tasks)
        self.stats.state = "closed"
        if hangup in done:
            # The terminal closed (SIGHUP): say goodbye to the server (1001, going away)
            # instead of vanishing; nothing can be shown any more, and 1001 is a clean end.
            with contextlib.suppress(Exception):
                await link.close(1001)
            return ExitCode.OK
        if prompter in done:
            result: ExitCode = prompter.result()
            return result
        if receiver in done:
            receiver.result()  # re-raise an unexpected error
            return await finish_closed(link, self.output)
        await close_politely(link, self.output)
        raise TimedOut(f"timed out after {self.options.timeout:g} s (--timeout)")

    async def _receive(self, link: Link) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                message = await link.recv()
                if message is not None:
                    self._show(message)

    async def _prompt(self, link: Link) -> ExitCode:
        while True:
            try:
                draft, self.draft = self.draft, ""
                line = await self.session.prompt_async("ws> ", default=draft)
            except KeyboardInterrupt:  # Ctrl-C on an empty line (a typed one is cleared)
                now = self.loop.time()
                if self.interrupted_at is not None and now - self.interrupted_at < LEAVE_WINDOW:
                    return await self._quit(link)
                self.interrupted_at = now
                self.output.status(LEAVE_HINT)
                continue
            except EOFError:  # Ctrl-D
                return await self._quit(link)
            try:
                command = parse_line(line)
                ended = await self._execute(link, command)
            except CommandError as exc:
                self.output.status(f"error: {exc}")
                continue
            except ConnectionClosed:
                return await finish_closed(link, self.output)
            if ended is not None:
                return ended

    async def _execute(self, link: Link, command: Command) -> ExitCode | None:
        if command.name in ("send", "binary"):
            self._show(await link.send(command.data))
        elif command.name == "file":
            try:
                data = Path(command.path).expanduser().read_bytes()
            except OSError as exc:
                raise CommandError(f"cannot read {command.path}: {os_reason(exc)}") from None
            if command.text:
                try:
                    message: str | bytes = data.decode("utf-8")
                except UnicodeDecodeError:
                    raise CommandError(
                        f"cannot send {command.path} as text: it is not UTF-8"
                        " (/file without --text sends it as bytes)"
                    ) from None
            else:
                message = data
            self._show(await link.send(message))
        elif command.name in ("filter", "mute"):
            set_pattern = self.view.set_filter if command.name == "filter" else self.view.set_mute
            self.output.status(set_pattern(command.pattern))
        elif command.name == "pretty":
            if not isinstance(self.output, TerminalOutput):
                raise CommandError("/pretty shows JSON indented on the terminal; not with --json")
            self.output.pretty = not self.output.pretty
            state = "on" if self.output.pretty else "off"
            self.output.status(f"pretty JSON {state}")
        elif command.name == "ping":
            payload = command.data if isinstance(command.data, bytes) else b""
            try:
                rtt = await asyncio.wait_for(link.ping(payload), PING_WAIT)
            except (TimeoutError, asyncio.TimeoutError):
                raise CommandError(f"no pong within {PING_WAIT} s") from None
            self.stats.rtt = rtt
            self.output.status(f"pong received: round trip {rtt * 1000:.1f} ms")
        elif command.name == "show":
            output = self.output
            shown = isinstance(output, TerminalOutput) and await output.show(command.number)
            if not shown:
                raise CommandError(
                    f"no cut message {command.number} to show (the last {SHOW_KEEP} cut ones"
                    " are kept)"
                )
        elif command.name in ("emit", "ack"):
            if self.socketio is None:
                raise CommandError(f"/{command.name} needs --socketio")
            if command.name == "ack":
                self.socketio.ack = not self.socketio.ack
                self.output.status(f"acknowledgements {'on' if self.socketio.ack else 'off'}")
            else:
                text = command.data if isinstance(command.data, str) else ""
                self._show(await self.socketio.emit_text(command.event, text))
        elif command.name == "help":
            for line in HELP_TEXT.splitlines():
                self.output.status(line)
        elif command.name == "quit":
            return await self._quit(link)
        elif command.name == "close":
            return await close_politely(link, self.output, command.code, command.reason)
        return None

    async def _quit(self, link: Link) -> ExitCode:
        """Ctrl-D or /quit: close with --close-code (1000 by default)."""
        options = self.options
        return await close_politely(link, self.output, options.close_code, options.close_reason)


def _watch_hangup(loop: asyncio.AbstractEventLoop, hangup: asyncio.Future[None]) -> bool:
    """Resolve ``hangup`` on SIGHUP (the terminal closed); False where there is none."""

    def hung_up() -> None:
        if not hangup.done():
            hangup.set_result(None)

    try:
        loop.add_signal_handler(signal.SIGHUP, hung_up)
    except (AttributeError, NotImplementedError, RuntimeError):  # no SIGHUP (Windows)
        return False
    return True


async def run_repl(
    options: SessionOptions,
    repl_options: ReplOptions,
    *,
    color: bool = True,
    execute: Sequence[str] | None = None,
) -> ExitCode:
    """The prompt end to end: history, patched stdout, the session with reconnects.

    ``color``: whether the terminal gets colours (the environment decides, not an option).
    ``execute``: the -x messages as sent (``@FILE`` read; by default the -x values).
    """
    history, warning = open_history(history_path())
    with patch_stdout(raw=True):
        output: Output
        if repl_options.json_output:
            output = JsonOutput(_TextBytes(sys.stdout), sys.stderr)  # type: ignore[arg-type]
        else:
            output = TerminalOutput(
                make_console(sys.stdout, color),
                show_ping_pong=repl_options.show_ping_pong,
                timestamps=repl_options.timestamps,
                full=repl_options.full,
                pretty=repl_options.pretty,
            )
        repl = Repl(repl_options, output, history, execute)
        if isinstance(output, TerminalOutput):
            output.width = repl.width
        if warning:
            output.status(f"warning: {warning}")
        if isinstance(history, PrivateHistory):
            history.notice = lambda line: output.status(f"warning: {line}")
        try:
            return await run_session(options, output, repl.run, interactive=True)
        finally:
            with contextlib.suppress(OSError, ValueError):  # --json buffers a burst
                output.flush()
            if isinstance(history, PrivateHistory):
                history.file.close()
