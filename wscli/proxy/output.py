"""Where the proxy's view of the conversation goes: stdout, as lines or as NDJSON.

The relay reports what happens to a :class:`Display`; :class:`LineDisplay` writes one styled
line per event (the terminal view, plain in a pipe), :class:`JsonDisplay` one
``connect --json`` event per line with a ``connection`` number and ``from`` (``client`` or
``server``). Directions are the client's view, as `wscli connect --json` of that client
would write them: ``out`` is client → server, ``in`` server → client. The proxy's own
events: ``listening``, ``fault``, ``refused``, ``http`` and (``-v``) ``handshake``.

Message lines are flushed once per socket read (:meth:`Display.flush`), every other line at
once: a burst of small messages costs one write, and nothing waits longer than the read.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from wscli.core.escape import escape_control
from wscli.core.events import (
    Message,
    close_event,
    error_event,
    message_event,
    open_event,
    ping_event,
)
from wscli.core.ndjson import timestamp, to_ndjson
from wscli.core.redact import redact
from wscli.net.linewriter import LineWriter
from wscli.proxy import render
from wscli.proxy.faults import Way


class Sink(Protocol):
    """Where a display writes: a text stream, or a LineWriter in front of one."""

    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...


_FROM: dict[Way, str] = {"up": "client", "down": "server"}
_DIRECTION: dict[Way, Any] = {"up": "out", "down": "in"}


@dataclasses.dataclass(frozen=True)
class Opened:
    """Both sides of connection number ``connection`` are open: what each side agreed to."""

    connection: int
    path: str
    """The request target the client asked for (escaped for the terminal)."""
    client: str
    """The client's address, ``host:port``."""
    upstream: str
    """The URL the proxy opened upstream."""
    subprotocol: str | None
    client_extensions: Sequence[str]
    server_extensions: Sequence[str]
    headers: Sequence[tuple[str, str]]
    """The upstream's answer, as relayed to the client."""


@dataclasses.dataclass(frozen=True, slots=True)
class Relayed:
    """A message (``kind`` text or binary) or a ping/pong frame of connection ``connection``
    went ``way``; not ``forwarded``: it was received but never sent on (dropped, or the
    connection ended first)."""

    connection: int
    way: Way
    kind: str
    data: bytes
    """The payload, or its first bytes when the display wants no more (``full_payloads``)."""
    length: int
    """The whole payload's length."""
    delay: float | None = None
    """Seconds it was held by a delay fault."""
    forwarded: bool = True


HEAD_MARKERS = {
    "request": "C>",  # the client's upgrade request, as received
    "upstream_request": ">S",  # the request the proxy sent upstream
    "upstream_response": "<S",  # the upstream's answer
    "response": "C<",  # the proxy's answer to the client
}


class Display:
    """What the relay reports; the base class shows nothing (and wants no payloads)."""

    full_payloads = False
    """True when message events need the whole payload (else a prefix is enough)."""

    stdout_lost = False
    """True once stdout's reader went away (``wscli proxy | head``): the run then ends."""

    on_closed: Callable[[], None] | None = None
    """Called once when stdout closes (the run stops the proxy)."""

    writer: LineWriter | None = None
    """The writer between the display and stdout, if any (see :func:`make_display`)."""

    def lost_stdout(self) -> None:
        """Stdout's reader went away: the run ends (once)."""
        if not self.stdout_lost:
            self.stdout_lost = True
            if self.on_closed is not None:
                self.on_closed()

    def listening(self, url: str, upstream: str, seed: int | None) -> None:
        """The proxy is ready."""

    def opened(self, event: Opened) -> None:
        """Both sides are open."""

    def message(self, event: Relayed) -> None:
        """A message or a ping/pong frame went one way (or was received but never sent on)."""

    def closed(self, connection: int, code: int | None, reason: str, by: str | None) -> None:
        """The connection ended: first close frame seen (None: none), who sent it."""

    def fault(self, connection: int, fault: str, way: Way | None, **details: Any) -> None:
        """A fault was injected."""

    def refused(
        self, connection: int, status: int, reason: str, by: str, hint: str | None = None
    ) -> None:
        """The upgrade (or plain request) was answered with ``status``, not 101 (``hint``:
        a likely cause and its fix)."""

    def error(self, connection: int, message: str, exit_code: int) -> None:
        """Something failed for one connection (the proxy keeps running)."""

    def heads(self, connection: int, heads: Sequence[tuple[str, bytes]]) -> None:
        """The HTTP heads of a handshake (``-v``): (label, raw head) in order."""

    def note(self, connection: int, text: str) -> None:
        """Anything else worth a line (e.g. a plain HTTP request passed through)."""

    def control(self, action: str, caller: str, **details: Any) -> None:
        """The control API changed something (``fault-added``, ``fault-changed``,
        ``fault-removed``, ``disconnect``, ``pause``, ``resume``) for ``caller``."""

    def flush(self) -> None:
        """Called after each batch of events read from one socket: write them out now."""


# SGR codes of the few styles the lines use: one line per message must stay cheap (a rich
# Text per line cost more than relaying the message).
_SGR = {
    "dim": "2",
    "bold": "1",
    "cyan": "36",
    "magenta": "35",
    "green": "32",
    "green bold": "32;1",
    "red": "31",
    "yellow": "33",
    "yellow bold": "33;1",
}


class StreamDisplay(Display):
    """A display writing to a text stream; a reader that goes away stops the run."""

    def __init__(self, stream: Sink) -> None:
        self.stream = stream

    def _put(self, line: str, now: bool) -> None:
        if self.stdout_lost:
            return
        try:
            self.stream.write(line)
            if now:
                self.stream.flush()
        except BrokenPipeError:
            self.lost_stdout()

    def flush(self) -> None:
        try:
            self.stream.flush()
        except BrokenPipeError:
            self.lost_stdout()


class LineDisplay(StreamDisplay):
    """One line per event, coloured by direction on a terminal, cut to its width.

    The width is read once, at start (``COLUMNS`` or the terminal's; 100 in a pipe).
    """

    def __init__(self, stream: Sink, color: bool, verbose: bool = False) -> None:
        super().__init__(stream)
        self.color = color
        self.verbose = verbose
        self.width = shutil.get_terminal_size((100, 24)).columns
        self.clock = timestamp  # formats the date and second once a second

    def _write(self, segments: list[render.Segment], now: bool = True) -> None:
        if self.color:
            text = "".join(
                f"\x1b[{_SGR[style]}m{part}\x1b[0m" if style in _SGR else part
                for part, style in segments
            )
        else:
            text = "".join(part for part, _ in segments)
        self._put(text + "\n", now)

    def _width(self) -> int:
        return self.width

    def listening(self, url: str, upstream: str, seed: int | None) -> None:
        pass  # the banner on stderr says it

    def opened(self, event: Opened) -> None:
        self._write(
            render.open_line(
                self.clock(),
                event.connection,
                redact(event.path),
                event.client,
                redact(event.subprotocol) if event.subprotocol is not None else None,
                event.client_extensions,
                event.server_extensions,
            )
        )

    def message(self, event: Relayed) -> None:
        line = render.message_line(
            self.clock(),
            event.connection,
            event.way,
            event.kind,
            event.data,
            event.length,
            self._width(),
            event.delay,
            event.forwarded,
        )
        self._write(line, now=False)  # flushed after the read that brought it

    def closed(self, connection: int, code: int | None, reason: str, by: str | None) -> None:
        self._write(render.close_line(self.clock(), connection, code, reason, by))

    def fault(self, connection: int, fault: str, way: Way | None, **details: Any) -> None:
        extra = " ".join(f"{k}={v}" for k, v in details.items() if v is not None)
        self._write(render.fault_line(self.clock(), connection, f"{fault} {extra}".strip(), way))

    def refused(
        self, connection: int, status: int, reason: str, by: str, hint: str | None = None
    ) -> None:
        self._write(render.refused_line(self.clock(), connection, status, reason, by, hint))

    def error(self, connection: int, message: str, exit_code: int) -> None:
        text = escape_control(message, keep_newlines=False)  # may quote the upstream
        self._write(render.note_line(self.clock(), connection, f"error: {text}", "red"))

    def heads(self, connection: int, heads: Sequence[tuple[str, bytes]]) -> None:
        if self.verbose:
            when = self.clock()
            for label, head in heads:
                marker = HEAD_MARKERS.get(label, label)
                for line in render.head_lines(when, connection, marker, redact_head(head)):
                    self._write(line)

    def note(self, connection: int, text: str) -> None:
        self._write(render.note_line(self.clock(), connection, text, "dim"))

    def control(self, action: str, caller: str, **details: Any) -> None:
        self._write(render.control_line(self.clock(), action, caller, details))


class JsonDisplay(StreamDisplay):
    """``connect --json`` events, one per line, each with ``connection`` (and ``from``)."""

    full_payloads = True

    def __init__(self, stream: Sink, verbose: bool = False, started: float | None = None) -> None:
        super().__init__(stream)
        self.verbose = verbose
        self.started = started
        """With a start (time.monotonic()), each event has ``t``: seconds since then."""

    def _emit(
        self, event: dict[str, Any], connection: int | None, now: bool = True, **extra: Any
    ) -> None:
        head = {"event": event.pop("event"), "time": event.pop("time")}
        if self.started is not None:
            head["t"] = round(time.monotonic() - self.started, 6)
        if connection is not None:
            head["connection"] = connection
        self._put(to_ndjson({**head, **extra, **event}), now)

    def listening(self, url: str, upstream: str, seed: int | None) -> None:
        event = {"event": "listening", "time": timestamp(), "url": url, "upstream": upstream}
        self._emit({**event, "seed": seed}, None)

    def opened(self, event: Opened) -> None:
        headers = event.headers  # secret values are redacted by open_event itself
        shown = redact(event.subprotocol) if event.subprotocol is not None else None
        self._emit(
            open_event(redact(event.upstream), shown, event.client_extensions, headers),
            event.connection,
            path=redact(event.path),
            client=event.client,
            server_extensions=list(event.server_extensions),
        )

    def message(self, event: Relayed) -> None:
        direction, kind, data = _DIRECTION[event.way], event.kind, event.data
        if kind in ("ping", "pong"):
            line = ping_event("ping" if kind == "ping" else "pong", direction, data)
        else:
            line = message_event(Message(direction, _exact(kind, data)))
            if kind == "text" and line["type"] == "binary":
                line["type"] = "text"  # not UTF-8 (relayed as it came): its bytes in base64
            line["length"] = event.length
        if event.delay is not None:
            line["delay_ms"] = round(event.delay * 1000, 3)
        if not event.forwarded:
            line["forwarded"] = False
        self._emit(line, event.connection, now=False, **{"from": _FROM[event.way]})

    def closed(self, connection: int, code: int | None, reason: str, by: str | None) -> None:
        by_side = by if by in ("client", "server") else None
        self._emit(close_event(code, reason, by_side), connection)  # type: ignore[arg-type]

    def fault(self, connection: int, fault: str, way: Way | None, **details: Any) -> None:
        event: dict[str, Any] = {"event": "fault", "time": timestamp(), "fault": fault}
        if way is not None:
            event["direction"] = _DIRECTION[way]
            event["from"] = _FROM[way]
        self._emit({**event, **details}, connection)

    def refused(
        self, connection: int, status: int, reason: str, by: str, hint: str | None = None
    ) -> None:
        event = {"event": "refused", "time": timestamp(), "status": status, "reason": reason}
        self._emit({**event, "by": by, **({"hint": hint} if hint else {})}, connection)

    def error(self, connection: int, message: str, exit_code: int) -> None:
        self._emit(error_event(message, exit_code), connection)

    def heads(self, connection: int, heads: Sequence[tuple[str, bytes]]) -> None:
        if self.verbose:
            event: dict[str, Any] = {"event": "handshake", "time": timestamp()}
            for label, head in heads:
                event[label] = redact_head(head).decode("latin-1")
            self._emit(event, connection)

    def note(self, connection: int, text: str) -> None:
        event = {"event": "http", "time": timestamp(), "message": text}
        self._emit(event, connection)

    def control(self, action: str, caller: str, **details: Any) -> None:
        event = {"event": "control", "time": timestamp(), "action": action, "caller": caller}
        self._emit({**event, **details}, None)


def _exact(kind: str, data: bytes) -> str | bytes:
    """A text message as text when it is UTF-8, else (and binary ones) as its bytes."""
    if kind == "text":
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return data


def redact_head(head: bytes) -> bytes:
    """An HTTP head with its secrets removed (:mod:`wscli.core.redact`): the view (and a
    saved ``--json`` file) must not carry the clients' secrets."""
    return redact(head.decode("latin-1")).encode("latin-1")
