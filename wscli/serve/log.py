"""Event log of `wscli serve`: one line per event, for people (stderr) or scripts (NDJSON).

Events are plain dicts with stable keys, always ``event`` and ``time``:

- ``listening``: ``url`` (the page), ``ws_url`` — first, with ``--json-log`` only (the
  banner itself stays on stderr)
- ``connect``: ``id``, ``remote``, ``room``, ``subprotocol``, ``compression``, ``nick``;
  a Socket.IO client (one per namespace it joins) adds ``socketio``: its transport
  ("websocket" or "polling")
- ``disconnect``: ``id``, ``remote``, ``room``, ``code`` (1006: no close frame; null for a
  Socket.IO client), ``reason`` (for Socket.IO its disconnect reason: "transport close",
  "client namespace disconnect", "ping timeout", "parse error", ...), ``by`` ("client",
  "server" or null when the connection dropped)
- ``message`` (only with -v): ``id``, ``room``, ``type`` ("text"/"binary"), ``size``
- ``slow``: ``id``, ``room``, ``buffered`` (a client dropped for not reading)
- ``refused``: ``remote``, ``path``, ``status``, ``reason`` (a request refused: a malformed
  head 400, a foreign Host 403, an upgrade answered non-101)
- ``http`` (only with -v): ``remote``, ``method``, ``path``, ``status``
- ``error``: ``remote`` (or null), ``message`` — one line, never a traceback
- ``shutdown``: ``clients``
- ``fds``: ``open``, ``limit``, ``refused`` — clients turned away for lack of file
  descriptors (503s and failed accepts), one event per second while it lasts
- ``tokens``: ``failed`` (wrong tokens: ``upgrade`` + ``admission`` + ``metrics``),
  ``throttled`` (token checks answered 429), ``addresses``, ``top`` and ``top_failed`` (the
  busiest address) — one event per second while wrong tokens come
  (:mod:`wscli.serve.tokenguard`)
- ``backplane``: ``state`` ("lost", "restored", "pressure", "drain", "malformed",
  "missing", "lost-messages", "bounded"), ``detail`` — the Redis backplane's connection and
  what it noticed (see :mod:`wscli.serve.backplane_redis`)

Every text field is passed through :func:`redact` first: the values of ``Authorization``,
``Cookie`` and ``?token=`` (and header values quoted by a parser error) are never logged.
:func:`format_line` renders an event for people (pure); :class:`EventLog` writes them.
Peer-controlled text (rooms, nicknames, reasons, paths) is escaped before it reaches a
terminal. The hot path stays quiet unless ``verbose``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import io
import json
import os
import queue
import threading
from typing import Any, TextIO

from rich.text import Text

from wscli.core.escape import escape_control
from wscli.core.ndjson import timestamp, to_ndjson
from wscli.core.redact import redact
from wscli.net.terminal import make_console
from wscli.serve.fdlimit import report_line
from wscli.serve.tokenguard import report_line as token_report_line

Event = dict[str, Any]

_STYLES = {
    "listening": "bold green",
    "connect": "green",
    "disconnect": "yellow",
    "message": "dim",
    "slow": "bold red",
    "refused": "red",
    "http": "dim",
    "error": "red",
    "shutdown": "bold",
    "backplane": "bold magenta",
    "fds": "bold red",
    "tokens": "red",
}


def _safe(value: Any) -> str:
    return escape_control(str(value), keep_newlines=False)


def format_line(event: Event) -> str:
    """Render ``event`` as one human-readable line (without the time)."""
    kind = event["event"]
    if kind == "listening":
        return f"listening on {event['url']} (WebSocket {event['ws_url']})"
    if kind == "connect":
        extra = [f"subprotocol={_safe(event['subprotocol'] or '-')}"]
        extra.append(f"compression={'on' if event['compression'] else 'off'}")
        if event.get("nick"):
            extra.append(f"nick={_safe(event['nick'])}")
        if event.get("socketio"):
            extra.append(f"socket.io={event['socketio']}")
        return (
            f"#{event['id']} connected from {event['remote']} to {_safe(event['room'])} "
            + " ".join(extra)
        )
    if kind == "disconnect":
        by = f" by {event['by']}" if event.get("by") else ""
        reason = f" {_safe(event['reason'])!r}" if event.get("reason") else ""
        code = f"code {event['code']}" if event.get("code") is not None else "socket.io"
        return f"#{event['id']} disconnected from {_safe(event['room'])}: {code}{reason}{by}"
    if kind == "message":
        room = _safe(event["room"])
        return f"#{event['id']} {event['type']} message, {event['size']} bytes, in {room}"
    if kind == "slow":
        return (
            f"#{event['id']} too slow: dropped with {event['buffered']} bytes unsent "
            f"in {_safe(event['room'])}"
        )
    if kind == "refused":
        return (
            f"refused {event['remote']} {_safe(event['path'])}: "
            f"{event['status']} {_safe(event['reason'])}"
        )
    if kind == "http":
        method = _safe(event.get("method", "GET"))
        return f"{event['remote']} {method} {_safe(event['path'])} -> {event['status']}"
    if kind == "error":
        remote = f"{event['remote']}: " if event.get("remote") else ""
        return f"{remote}{_safe(event['message'])}"
    if kind == "backplane":
        return f"redis backplane {event['state']}: {_safe(event['detail'])}"
    if kind == "fds":
        return report_line(event["open"], event["limit"], event["refused"])
    if kind == "tokens":
        return token_report_line(event)
    if kind == "shutdown":
        return f"shutting down: closing {event['clients']} client(s) with 1001"
    return _safe(json.dumps(event))


QUEUE_LINES = 10_000
HAND_OVER_DELAY = 0.02
"""Seconds the lines wait to be handed to the writer thread together (see EventLog)."""
RECENT_EVENTS = 64  # kept for /log (wscli top's last log lines)


class RepeatFilter:
    """One line per event-loop error; the same line again within a second is counted.

    (Out of file descriptors, asyncio reports every failed accept: hundreds a second.)
    """

    def __init__(self, log: EventLog) -> None:
        self.log = log
        self._last: tuple[str, float, int] = ("", 0.0, 0)  # message, when, repeats

    def loop_exception(self, loop: Any, context: dict[str, Any]) -> None:
        """An ``asyncio`` exception handler (``loop.set_exception_handler``)."""
        exc = context.get("exception")
        message = str(context.get("message", "error"))
        if exc is not None:
            message = f"{message}: {type(exc).__name__}: {exc}"
        now = loop.time()
        last, since, repeats = self._last
        if message == last and now - since < 1.0:
            self._last = (last, since, repeats + 1)
            return
        if repeats:
            self.log.emit("error", remote=None, message=f"(the last error repeated {repeats}x)")
        self._last = (message, now, 0)
        self.log.emit("error", remote=None, message=message)


class EventLog:
    """Writes events to stderr with rich, or to stdout as NDJSON (``json_stream``).

    ``verbose`` turns on the per-message and plain-HTTP events. With ``background``, lines
    are written by a thread from a bounded queue, so a log reader that stalls (a full pipe,
    a stopped terminal) can never stall the server: beyond :data:`QUEUE_LINES` waiting
    lines, lines are dropped and counted, and a note says how many when writing resumes.
    Inside an event loop the lines of :data:`HAND_OVER_DELAY` go to the thread together: a
    hand-over per line (a lock, a wake-up of the thread, which then competes for the GIL)
    cost ~40 µs of each connection's handshake under a connect storm, and one per loop
    iteration still woke it hundreds of times a second.
    Call :meth:`close` at the end to write what is queued.
    """

    def __init__(
        self,
        stderr: TextIO,
        *,
        color: bool = False,
        json_stream: TextIO | None = None,
        verbose: bool = False,
        background: bool = False,
    ) -> None:
        self.verbose = verbose
        self._json = json_stream
        self._stderr = stderr
        # Only renders styles (into memory): nothing here may wait on the real stream.
        self._console = make_console(io.StringIO(), color)
        self._lock = threading.Lock()
        self._queue: queue.Queue[list[tuple[TextIO, str]] | None] | None = None
        self._batch: list[tuple[TextIO, str]] | None = None  # this loop iteration's lines
        self._queued = 0  # lines handed to the thread and not written yet
        self._dropped = 0
        self._thread: threading.Thread | None = None
        if background:
            self._queue = queue.Queue()  # bounded in lines: see _hand_over
            self._thread = threading.Thread(target=self._writer, name="wscli-log", daemon=True)
            self._thread.start()
        # rich renders each style once, here; lines are then written with these escape
        # sequences (a rich print per event costs ~85 µs, too slow for a busy server).
        self._styles = {kind: self._ansi(style) for kind, style in [*_STYLES.items(), ("", "")]}
        self._time_style = self._ansi("dim")
        self._recent: collections.deque[tuple[int, Event]] = collections.deque(maxlen=RECENT_EVENTS)
        self._seq = 0

    def _ansi(self, style: str) -> tuple[str, str]:
        """(prefix, suffix) escape sequences that rich uses for ``style`` on this console."""
        with self._console.capture() as capture:
            self._console.print(Text("\x00", style=style), end="")
        prefix, _, suffix = capture.get().partition("\x00")
        return prefix, suffix

    def emit(self, kind: str, **fields: Any) -> None:
        """Record one event."""
        for name, value in fields.items():
            if isinstance(value, str):
                fields[name] = redact(value)
        event: Event = {"event": kind, "time": timestamp(), **fields}
        self._seq += 1
        self._recent.append((self._seq, event))
        if self._json is not None:
            self._write(self._json, to_ndjson(event))
        else:
            on, off = self._styles.get(kind) or self._styles[""]
            t_on, t_off = self._time_style
            line = f"{t_on}{event['time'][11:23]}{t_off} {on}{format_line(event)}{off}\n"
            self._write(self._stderr, line)

    def recent(self, after: int = 0) -> list[tuple[int, Event]]:
        """The last events logged (at most :data:`RECENT_EVENTS`) numbered from 1, those
        after number ``after`` only."""
        return [(seq, event) for seq, event in self._recent if seq > after]

    def banner(self, text: str) -> None:
        """The start-up line on stderr (always plain text, also with --json-log)."""
        on, off = self._ansi("bold")
        self._write(self._stderr, f"{on}{text}{off}\n")

    def close(self, timeout: float = 2.0) -> None:
        """Write what is queued (waiting at most ``timeout``), then stop the writer thread."""
        if self._queue is None or self._thread is None:
            return
        self._hand_over()
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout)
        self._thread.join(timeout)
        self._queue = None

    def _write(self, stream: TextIO, text: str) -> None:
        if self._queue is not None:
            batch = self._batch
            if batch is None:
                try:
                    loop = asyncio.get_running_loop()
                except RuntimeError:  # no loop: hand it over now
                    self._batch = [(stream, text)]
                    self._hand_over()
                    return
                batch = self._batch = []
                loop.call_later(HAND_OVER_DELAY, self._hand_over)
            if len(batch) < QUEUE_LINES:
                batch.append((stream, text))
            else:
                with self._lock:
                    self._dropped += 1
            return
        with self._lock:
            _write_now(stream, text)

    def _hand_over(self) -> None:
        """This iteration's lines to the writer thread, as far as :data:`QUEUE_LINES`
        allows (the rest are dropped and counted)."""
        batch, self._batch = self._batch, None
        pending = self._queue
        if not batch or pending is None:
            return
        with self._lock:
            room = QUEUE_LINES - self._queued
            if len(batch) > room:
                self._dropped += len(batch) - max(room, 0)
                batch = batch[: max(room, 0)]
            self._queued += len(batch)
        if batch:
            pending.put_nowait(batch)

    def _writer(self) -> None:
        assert self._queue is not None
        pending = self._queue
        while True:
            batch = pending.get()
            if batch is None:
                return
            with self._lock:
                dropped, self._dropped = self._dropped, 0
            if dropped:
                _write_raw(self._stderr, f"({dropped} log lines dropped: log stream too slow)\n")
            start = 0
            while start < len(batch):  # consecutive lines for one stream: one write
                stream = batch[start][0]
                end = start + 1
                while end < len(batch) and batch[end][0] is stream:
                    end += 1
                _write_raw(stream, "".join(text for _, text in batch[start:end]))
                start = end
            with self._lock:
                self._queued -= len(batch)


def _write_raw(stream: TextIO, text: str) -> None:
    """Write from the log thread straight to the file descriptor when there is one.

    A thread blocked in ``os.write`` holds no lock of the stream object, so the rest of
    the program (and the interpreter at exit) can still use it; only this line waits.
    """
    try:
        fd = stream.fileno()
    except (OSError, ValueError, AttributeError):
        _write_now(stream, text)
        return
    data = text.encode(getattr(stream, "encoding", None) or "utf-8", "backslashreplace")
    try:
        while data:
            data = data[os.write(fd, data) :]
    except OSError:
        pass  # a closed or broken log stream must not take the server down


def _write_now(stream: TextIO, text: str) -> None:
    try:
        stream.write(text)
        stream.flush()
    except (OSError, ValueError):
        pass  # a closed or broken log stream must not take the server down
