"""Make peer-controlled text safe to show on a terminal.

A server must not be able to drive the user's terminal (move the cursor, retitle the
window, hide text) by sending control characters, so they are shown escaped.
"""

from __future__ import annotations

import re

# C0 controls except TAB and LF, DEL, C1 controls (0x80-0x9f, which some terminals honour
# as CSI and friends), and the Unicode bidirectional marks, embeddings, overrides and
# isolates, with which a peer could make text display in another order than it reads; the
# line and paragraph separators (a new line on some terminals); and lone surrogates (from
# JSON escapes or undecodable bytes), which would otherwise reach the terminal as raw bytes
# such as 0x9b, a one-byte CSI. The set matches :mod:`wscli.core.ndjson`'s.
_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]"
)

_NAMED = {"\r": "\\r", "\x1b": "\\e", "\x00": "\\0", "\x7f": "\\x7f"}


def _escape_one(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def escape_control(text: str, keep_newlines: bool = True) -> str:
    """Return ``text`` with control characters shown as escapes (``\\e``, ``\\x07``, ...).

    Tabs are kept; newlines are kept unless ``keep_newlines`` is false (then ``\\n``).
    """
    escaped = _CONTROL.sub(_escape_one, text)
    if not keep_newlines:
        escaped = escaped.replace("\n", "\\n")
    return escaped
