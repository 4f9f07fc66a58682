"""What wscli knows about WebSocket close codes (RFC 6455 §7.4.1), in one place: their
names, which ones an endpoint may send, which ones count as a clean end, and how a close is
said in a status line or an error."""

from __future__ import annotations

from wscli.core.escape import escape_control

NORMAL_CLOSE_CODES = frozenset({1000, 1001, 1005})
"""Close codes that end a connection successfully (exit 0)."""


def close_description(code: int | None, reason: str) -> str:
    """``1000 (normal closure) "bye"`` or ``no close frame``: for status lines and errors."""
    if code is None or code == 1006:
        return "no close frame (connection dropped)"
    text = f"{code} ({close_code_name(code)})"
    if reason:
        text += f" '{escape_control(reason, keep_newlines=False)}'"
    return text


def close_code_name(code: int) -> str:
    """The name of a close code (RFC 6455 §7.4.1), or the range it belongs to."""
    if code in CLOSE_NAMES:
        return CLOSE_NAMES[code]
    if 3000 <= code < 4000:
        return "registered"
    if 4000 <= code < 5000:
        return "private use"
    return "unknown"


CLOSE_NAMES: dict[int, str] = {
    1000: "normal closure",
    1001: "going away",
    1002: "protocol error",
    1003: "unsupported data",
    1005: "no status",
    1006: "abnormal closure",
    1007: "invalid data",
    1008: "policy violation",
    1009: "message too big",
    1010: "mandatory extension",
    1011: "internal error",
    1012: "service restart",
    1013: "try again later",
    1014: "bad gateway",
    1015: "TLS failure",
}


# Close codes an endpoint may send (RFC 6455 §7.4.1); 1004-1006 and 1015 are reserved.
SENDABLE_CLOSE_CODES = frozenset({1000, 1001, 1002, 1003, *range(1007, 1015)})
MAX_CLOSE_REASON = 123  # bytes: a control frame carries at most 125, 2 of them the code


def close_problem(code: int, reason: str) -> str | None:
    """Why ``code`` and ``reason`` cannot go in a close frame, or None when they can."""
    if code not in SENDABLE_CLOSE_CODES and not 3000 <= code <= 4999:
        return f"close code {code} cannot be sent (use 1000-1003, 1007-1014 or 3000-4999)"
    try:
        size = len(reason.encode("utf-8"))
    except UnicodeEncodeError:  # undecodable bytes from the command line
        return "close reason is not valid UTF-8"
    if size > MAX_CLOSE_REASON:
        return f"close reason is limited to {MAX_CLOSE_REASON} bytes (UTF-8)"
    return None
