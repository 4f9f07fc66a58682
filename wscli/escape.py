"""Make peer-controlled text safe to show on a terminal.

A server must not be able to drive the user's terminal (move the cursor, retitle the
window, hide text) by sending control characters, so they are shown escaped.
"""

from __future__ import annotations

import re

# C0 controls except TAB and LF, DEL, and C1 controls (0x80-0x9f, which some terminals
# honour as CSI and friends).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")

_NAMED = {"\r": "\\r", "\x1b": "\\e", "\x00": "\\0", "\x7f": "\\x7f"}


def _escape_one(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or f"\\x{ord(char):02x}"


def escape_control(text: str, keep_newlines: bool = True) -> str:
    """Return ``text`` with control characters shown as escapes (``\\e``, ``\\x07``, ...).

    Tabs are kept; newlines are kept unless ``keep_newlines`` is false (then ``\\n``).
    """
    escaped = _CONTROL.sub(_escape_one, text)
    if not keep_newlines:
        escaped = escaped.replace("\n", "\\n")
    return escaped
