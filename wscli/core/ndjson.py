"""The one NDJSON writer and the one timestamp format, for `connect --json`, the server's
`--json-log` and every other machine-readable stream wscli writes.

JSON with ``ensure_ascii=False`` escapes C0 controls but leaves C1 controls, Unicode bidi
marks and overrides, line/paragraph separators and lone surrogates raw. The first two let a
peer drive or reorder the terminal that shows the stream (``tail -f``, ``jq``), and a lone
surrogate cannot be encoded as UTF-8 at all; all of them are written as ``\\uXXXX``
escapes here, which every JSON parser reads back as the same string.
"""

from __future__ import annotations

import datetime
import json
import re
import time
from typing import Any

# C1 controls, the bidi marks/embeddings/overrides/isolates, U+2028/9, and surrogates.
_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def timestamp(when: datetime.datetime | None = None) -> str:
    """The one timestamp format: ``2026-11-25T12:18:49.123Z`` (UTC, milliseconds)."""
    if when is None:
        # Now (every log line): the date and time to the second are formatted once per
        # second; strftime per line was ~4 % of a handshake's time under a connect storm.
        now = time.time()
        second = int(now)
        cached_second, prefix = _last_second
        if second != cached_second:
            prefix = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second))
            _last_second[:] = [second, prefix]
        return f"{prefix}{int((now - second) * 1000):03d}Z"
    moment = when.astimezone(datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


_last_second: list[Any] = [-1, ""]


def to_json(value: Any) -> str:
    """``value`` as compact JSON text (no newline), non-ASCII kept, unsafe characters
    escaped: what may safely reach a terminal and always encodes as UTF-8."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return _UNSAFE.sub(_escape, text)


def to_ascii_json(value: Any) -> str:
    """``value`` as compact JSON text in ASCII only: every non-ASCII character, and every
    control character, as a ``\\uXXXX`` escape. Read back, the same value as
    :func:`to_json`'s, and as safe on a terminal; for big payloads from peers (the chat
    envelope of a 1 MiB message), since it runs at C speed whatever the text holds —
    :func:`to_json` calls back into Python for each unsafe character (0.8 s for 1 MiB of
    U+202E here, against 7 ms for this) — at the price of up to 6 bytes per character."""
    # json.dumps escapes all but DEL, the one unsafe ASCII character.
    return json.dumps(value, separators=(",", ":")).replace("\x7f", "\\u007f")


def to_ndjson(event: dict[str, Any]) -> str:
    """One event as one JSON line (with the newline); keys in order."""
    return to_json(event) + "\n"
