"""How one proxy event reads on a terminal: a line of styled segments (pure, no I/O).

Each line starts with the time (UTC, as in every wscli timestamp), the connection number and
what happened. Peer text is escaped by :func:`wscli.core.escape.escape_control` and cut to
the width; binary payloads show as a short hex summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wscli.core.closecodes import close_description
from wscli.core.escape import escape_control
from wscli.proxy.faults import Way

Segment = tuple[str, str]
"""(text, style): the style is a rich style name, "" for none."""

ARROWS: dict[Way, str] = {"up": "→", "down": "←"}
STYLES: dict[Way, str] = {"up": "cyan", "down": "magenta"}
HEX_BYTES = 16  # bytes shown of a binary payload


def size_text(length: int) -> str:
    """``5 B``, ``12.3 KiB``, ``1.0 MiB``."""
    if length < 1024:
        return f"{length} B"
    if length < 1024 * 1024:
        return f"{length / 1024:.1f} KiB"
    return f"{length / 1024 / 1024:.1f} MiB"


def hex_summary(data: bytes, length: int) -> str:
    """The first bytes in hex, ``…`` when there are more."""
    shown = data[:HEX_BYTES].hex(" ")
    return shown + (" …" if length > HEX_BYTES else "")


def shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, the last one ``…`` when cut."""
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def prefix(time: str, connection: int) -> list[Segment]:
    """``12:00:01.234 #3 `` (``time`` is a :func:`wscli.core.ndjson.timestamp`)."""
    return [(time[11:23] + " ", "dim"), (f"#{connection} ", "bold")]


def _width(segments: Sequence[Segment]) -> int:
    return len("".join(text for text, _ in segments))


def message_line(
    time: str,
    connection: int,
    way: Way,
    kind: str,
    data: bytes,
    length: int,
    width: int,
    delay: float | None = None,
    forwarded: bool = True,
) -> list[Segment]:
    """A text, binary, ping or pong frame: ``→ text 5 B hello``; ``+80ms`` when delayed,
    ``✗ not forwarded`` when it was received but never sent on."""
    # Called for every message relayed: kept to a few string operations.
    line = [
        (time[11:23] + " ", "dim"),
        (f"#{connection} ", "bold"),
        (f"{ARROWS[way]} {kind:<6} ", STYLES[way]),
        (f"{size_text(length):>9}  ", "dim"),
    ]
    if not forwarded:
        line.append(("✗ not forwarded ", "red"))
    elif delay is not None:
        line.append((f"+{delay * 1000:.0f}ms ", "yellow"))
    room = width - _width(line)
    if kind == "text":
        # Escaping only lengthens the text: what is past the width need not be escaped.
        text = data[: max(room, 0) * 4].decode("utf-8", "replace")[: max(room, 0)]
        text = escape_control(text, keep_newlines=False)
        if len(data) < length or len(text) > room:
            text = text[: max(room - 1, 0)] + "…"
    else:
        text = hex_summary(data, length) if data else ""
    line.append((shorten(text, room), ""))
    return line


def open_line(
    time: str,
    connection: int,
    path: str,
    client: str,
    subprotocol: str | None,
    client_extensions: Sequence[str],
    server_extensions: Sequence[str],
) -> list[Segment]:
    """``open /chat from 127.0.0.1:5000 (subprotocol chat; ...)``."""
    details = [f"subprotocol {escape_control(subprotocol)}" if subprotocol else "no subprotocol"]
    details.append("client " + (", ".join(client_extensions) or "no compression"))
    details.append("server " + (", ".join(server_extensions) or "no compression"))
    shown = escape_control(path, keep_newlines=False)
    return [
        *prefix(time, connection),
        ("open ", "green bold"),
        (f"{shown} from {client} ({'; '.join(details)})", "green"),
    ]


def close_line(
    time: str, connection: int, code: int | None, reason: str, by: str | None
) -> list[Segment]:
    """``close 1000 (normal closure) 'bye' by client`` or ``close: no close frame ...``."""
    text = close_description(code, reason)
    if by is not None:
        text += f" by {by}"
    normal = code in (1000, 1001, 1005)
    return [*prefix(time, connection), ("close ", "bold"), (text, "" if normal else "red")]


def fault_line(time: str, connection: int, what: str, way: Way | None = None) -> list[Segment]:
    """``! drop text 5 B →``: a fault injected by the proxy."""
    arrow = f" {ARROWS[way]}" if way is not None else ""
    return [*prefix(time, connection), (f"! {what}{arrow}", "yellow bold")]


def refused_line(
    time: str, connection: int, status: int, reason: str, by: str, hint: str | None = None
) -> list[Segment]:
    """``refused by server: HTTP 403 Forbidden`` (`` — hint`` when there is one)."""
    text = f"refused by {by}: HTTP {status} {escape_control(reason, keep_newlines=False)}"
    line = [*prefix(time, connection), (text.rstrip(), "red")]
    if hint:
        line.append((f" — {escape_control(hint, keep_newlines=False)}", "yellow"))
    return line


def note_line(time: str, connection: int, text: str, style: str = "") -> list[Segment]:
    """Any other line about a connection (plain HTTP requests, upstream errors)."""
    return [*prefix(time, connection), (text, style)]


def control_line(time: str, action: str, caller: str, details: dict[str, Any]) -> list[Segment]:
    """``control: fault-added 3: drop rate=0.5 down /chat* (from 127.0.0.1:5000)``."""
    fault = details.get("fault")
    if isinstance(fault, dict):
        fields = " ".join(
            f"{k}={v}" for k, v in fault.items() if k not in ("id", "fault", "direction", "path")
        )
        what = f"{fault['id']}: {fault['fault']} {fields} {fault['direction']} {fault['path']}"
    else:
        what = " ".join(
            f"#{v}" if k == "connection" else f"{k}={v}" if k != "direction" else str(v)
            for k, v in details.items()
            if v is not None
        )
    text = escape_control(f"{action} {what}".replace("  ", " "), keep_newlines=False)
    return [
        (time[11:23] + " ", "dim"),
        ("control: ", "yellow bold"),
        (f"{text} (from {caller})", "yellow"),
    ]


def head_lines(time: str, connection: int, marker: str, head: bytes) -> list[list[Segment]]:
    """An HTTP head (request or response), one line per header, for ``-v``."""
    text = head.decode("latin-1").rstrip("\r\n")
    return [
        [*prefix(time, connection), (f"{marker} ", "dim"), (escape_control(line), "dim")]
        for line in text.split("\r\n")
    ]
