"""``--record FILE``: the conversation saved as NDJSON beside the view on stdout, for
`wscli replay` — the events of ``--json -v``, each with ``t`` (seconds since the proxy
started listening), whole messages (text as text, binary and non-UTF-8 text as base64),
close codes; secrets redacted as in the view (heads, paths, URLs).

:class:`Tee` gives every event to the view and to the recording. Both write through a
:class:`~wscli.net.linewriter.LineWriter`, so neither a stdout that is not read nor a slow
disk holds the relay up; a line dropped from the recording is said in it (a ``gap`` event).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, TextIO

from wscli.core.errors import UsageProblem, os_reason
from wscli.core.ndjson import timestamp, to_ndjson
from wscli.net.linewriter import LineWriter
from wscli.proxy.faults import Way
from wscli.proxy.output import Display, JsonDisplay, Opened, Relayed

RECORD_QUEUE = 64 * 1024 * 1024
"""Bytes of recording that may wait for the disk."""


def json_gap(lines: int) -> str:
    """The event saying ``lines`` events are missing here (their reader was too slow)."""
    event = {"event": "gap", "time": timestamp(), "lines": lines, "reason": "not read in time"}
    return to_ndjson(event)


def text_gap(lines: int) -> str:
    """The line saying ``lines`` lines are missing here (stdout was read too slowly)."""
    clock = timestamp()[11:23]
    return f"{clock} … {lines:,} lines not shown: stdout was not read fast enough\n"


def open_record(path: str) -> tuple[JsonDisplay, LineWriter, TextIO]:
    """The display writing the recording to ``path`` (created or truncated, mode 0600:
    message contents are not redacted), its writer and its file."""
    try:
        handle = open(path, "w", encoding="utf-8", opener=_private)  # noqa: SIM115
    except OSError as exc:
        raise UsageProblem(f"cannot write the recording {path!r}", os_reason(exc)) from None
    writer = LineWriter(handle, json_gap, max_bytes=RECORD_QUEUE)
    return JsonDisplay(writer, verbose=True, started=time.monotonic()), writer, handle


def _private(path: str, flags: int) -> int:
    import os

    return os.open(path, flags, 0o600)


class Tee(Display):
    """Every event to the view (``main``, whose stdout decides when the run ends) and to
    the recording."""

    full_payloads = True

    def __init__(self, main: Display, record: Display) -> None:
        self.main = main
        self.record = record
        self.displays = (main, record)

    @property
    def stdout_lost(self) -> bool:  # type: ignore[override]
        return self.main.stdout_lost

    def listening(self, url: str, upstream: str, seed: int | None) -> None:
        for display in self.displays:
            display.listening(url, upstream, seed)

    def opened(self, event: Opened) -> None:
        for display in self.displays:
            display.opened(event)

    def message(self, event: Relayed) -> None:
        for display in self.displays:
            display.message(event)

    def closed(self, connection: int, code: int | None, reason: str, by: str | None) -> None:
        for display in self.displays:
            display.closed(connection, code, reason, by)

    def fault(self, connection: int, fault: str, way: Way | None, **details: Any) -> None:
        for display in self.displays:
            display.fault(connection, fault, way, **details)

    def refused(
        self, connection: int, status: int, reason: str, by: str, hint: str | None = None
    ) -> None:
        for display in self.displays:
            display.refused(connection, status, reason, by, hint)

    def error(self, connection: int, message: str, exit_code: int) -> None:
        for display in self.displays:
            display.error(connection, message, exit_code)

    def heads(self, connection: int, heads: Sequence[tuple[str, bytes]]) -> None:
        for display in self.displays:
            display.heads(connection, heads)

    def note(self, connection: int, text: str) -> None:
        for display in self.displays:
            display.note(connection, text)

    def control(self, action: str, caller: str, **details: Any) -> None:
        for display in self.displays:
            display.control(action, caller, **details)

    def flush(self) -> None:
        for display in self.displays:
            display.flush()
