"""Event log of `wscli serve`: one line per event, for people (stderr) or scripts (NDJSON).

Events are plain dicts with stable keys, always ``event`` and ``time``:

- ``listening``: ``url`` (the page), ``ws_url``
- ``connect``: ``id``, ``remote``, ``room``, ``subprotocol``, ``compression``, ``nick``
- ``disconnect``: ``id``, ``remote``, ``room``, ``code`` (1006: no close frame), ``reason``,
  ``by`` ("client", "server" or null when the connection dropped)
- ``message`` (only with -v): ``id``, ``room``, ``type`` ("text"/"binary"), ``size``
- ``slow``: ``id``, ``room``, ``buffered`` (a client dropped for not reading)
- ``refused``: ``remote``, ``path``, ``status``, ``reason`` (an upgrade answered non-101)
- ``http`` (only with -v): ``remote``, ``path``, ``status``
- ``error``: ``remote`` (or null), ``message`` — one line, never a traceback
- ``shutdown``: ``clients``
- ``backplane``: ``state`` ("lost", "restored", "overflow", "malformed"), ``detail`` — the
  Redis backplane's connection (see :mod:`wscli.backplane_redis`)

:func:`format_line` renders an event for people (pure); :class:`EventLog` writes them.
Peer-controlled text (rooms, nicknames, reasons, paths) is escaped before it reaches a
terminal. The hot path stays quiet unless ``verbose``.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import threading
from typing import Any, TextIO

from rich.text import Text

from wscli.escape import escape_control
from wscli.terminal import make_console

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
}


def timestamp(when: datetime.datetime | None = None) -> str:
    """``2026-11-25T12:18:49.123Z`` (UTC, milliseconds): the format wscli's NDJSON uses."""
    moment = (when or datetime.datetime.now(datetime.timezone.utc)).astimezone(
        datetime.timezone.utc
    )
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


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
        return (
            f"#{event['id']} connected from {event['remote']} to {_safe(event['room'])} "
            + " ".join(extra)
        )
    if kind == "disconnect":
        by = f" by {event['by']}" if event.get("by") else ""
        reason = f" {_safe(event['reason'])!r}" if event.get("reason") else ""
        return (
            f"#{event['id']} disconnected from {_safe(event['room'])}: "
            f"code {event['code']}{reason}{by}"
        )
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
        return f"{event['remote']} GET {_safe(event['path'])} -> {event['status']}"
    if kind == "error":
        remote = f"{event['remote']}: " if event.get("remote") else ""
        return f"{remote}{_safe(event['message'])}"
    if kind == "backplane":
        return f"redis backplane {event['state']}: {_safe(event['detail'])}"
    if kind == "shutdown":
        return f"shutting down: closing {event['clients']} client(s) with 1001"
    return _safe(json.dumps(event))


class EventLog:
    """Writes events to stderr with rich, or to stdout as NDJSON (``json_stream``).

    ``verbose`` turns on the per-message and plain-HTTP events.
    """

    def __init__(
        self,
        stderr: TextIO,
        *,
        color: bool = False,
        json_stream: TextIO | None = None,
        verbose: bool = False,
    ) -> None:
        self.verbose = verbose
        self._json = json_stream
        self._stderr = stderr
        self._console = make_console(stderr, color)
        self._lock = threading.Lock()
        # rich renders each style once, here; lines are then written with these escape
        # sequences (a rich print per event costs ~85 µs, too slow for a busy server).
        self._styles = {kind: self._ansi(style) for kind, style in [*_STYLES.items(), ("", "")]}
        self._time_style = self._ansi("dim")

    def _ansi(self, style: str) -> tuple[str, str]:
        """(prefix, suffix) escape sequences that rich uses for ``style`` on this console."""
        with self._console.capture() as capture:
            self._console.print(Text("\x00", style=style), end="")
        prefix, _, suffix = capture.get().partition("\x00")
        return prefix, suffix

    def emit(self, kind: str, **fields: Any) -> None:
        """Record one event."""
        event: Event = {"event": kind, "time": timestamp(), **fields}
        try:
            with self._lock:
                if self._json is not None:
                    self._json.write(json.dumps(event, ensure_ascii=False) + "\n")
                    self._json.flush()
                else:
                    on, off = self._styles.get(kind) or self._styles[""]
                    t_on, t_off = self._time_style
                    self._stderr.write(
                        f"{t_on}{event['time'][11:23]}{t_off} {on}{format_line(event)}{off}\n"
                    )
                    self._stderr.flush()
        except (OSError, ValueError):
            pass  # a closed or broken log stream must not take the server down

    def banner(self, text: str) -> None:
        """The start-up line on stderr (always plain text, also with --json-log)."""
        with contextlib.suppress(OSError, ValueError):
            self._console.print(Text(text, style="bold"), markup=False, highlight=False)
