"""`wscli top`'s screen: one frame from a :class:`~wscli.top.model.Watch`, for any size.

Built as lines of rich ``Text``, each cut to the width, then as many sections as the height
allows, the most important first: the header and the counts, traffic in and out with a
sparkline of the last minute, delays, slow clients and refusals, Redis, then the busiest
rooms and the last log lines in whatever rows are left. Narrower, the short items flow onto
more lines and the sparklines shrink, then go. Everything the server sent (room names, log
lines, versions) is escaped before it is shown (:func:`wscli.core.escape.escape_control`).
"""

from __future__ import annotations

import dataclasses
import io
import time

from rich.text import Text

from wscli.core.escape import escape_control
from wscli.net.terminal import make_console
from wscli.top.model import Watch

SPARKS = " ▁▂▃▄▅▆▇█"
MIN_SPARK = 8  # narrower than this, no sparkline
ROOM_ROWS = 5  # at most this many busiest rooms

REFUSAL_ORDER = ("token", "origin", "host", "full", "fds", "request", "timeout")


@dataclasses.dataclass
class Section:
    """Lines shown together or not at all; lower ``rank`` goes first when rows are few."""

    rank: int
    lines: list[Text]


def render(watch: Watch, width: int, height: int | None, color: bool, target: str) -> str:
    """The frame: ``height`` lines at most (None: as many as it takes), each at most
    ``width`` cells, with ANSI styles when ``color``."""
    width = max(width, 20)
    lines = layout(watch, width, height, target)
    console = make_console(io.StringIO(), color)
    console.width = width
    with console.capture() as capture:
        for line in lines:
            line.truncate(width, overflow="ellipsis")
            console.print(line, end="\n", no_wrap=True, overflow="ellipsis", crop=True)
    return capture.get()


def layout(watch: Watch, width: int, height: int | None, target: str) -> list[Text]:
    """The lines of the frame, in display order."""
    fixed = [
        Section(0, [_header(watch, target)]),
        Section(1, _flow(_counts(watch), width)),
        Section(2, _traffic(watch, width)),
        Section(5, _flow(_delays(watch), width)),
        Section(3, _flow(_slow(watch), width)),
        Section(4, _flow(_refusals(watch), width)),
        Section(6, _flow(_redis(watch), width)),
    ]
    if watch.error:
        fixed.insert(1, Section(0, [Text(f"! {escape_control(watch.error)}", style="bold red")]))
    if height is None:
        kept = fixed
        rooms = _rooms(watch, width, ROOM_ROWS)
        logs = _log(watch, 10)
    else:
        budget = height
        kept = []
        for section in sorted(fixed, key=lambda s: s.rank):
            if len(section.lines) <= budget:
                kept.append(section)
                budget -= len(section.lines)
        room_rows = min(ROOM_ROWS, max(budget // 2 - 1, 0)) if budget >= 6 else 0
        rooms = _rooms(watch, width, room_rows) if room_rows else []
        if len(rooms) > budget:
            rooms = []
        budget -= len(rooms)
        logs = _log(watch, budget - 1) if budget >= 2 else []
    order = {id(s): n for n, s in enumerate(fixed)}
    lines = [line for s in sorted(kept, key=lambda s: order[id(s)]) for line in s.lines]
    return lines + rooms + logs


# Sections


def _header(watch: Watch, target: str) -> Text:
    now = watch.now
    text = Text("wscli top ", style="bold reverse")
    text.append(f" {escape_control(target, keep_newlines=False)}", style="bold")
    status = str(watch.health.get("status", "?"))
    text.append("  ")
    text.append(
        escape_control(status, keep_newlines=False), style="green" if status == "ok" else "bold red"
    )
    if now is not None:
        started = now.get("wscli_start_time_seconds")
        if started:
            text.append(f"  up {_duration(time.time() - started)}", style="dim")
        version = now.info.get("version")
        if version:
            text.append(f"  v{escape_control(version, keep_newlines=False)}", style="dim")
    return text


def _counts(watch: Watch) -> list[Text]:
    now = watch.now
    if now is None:
        return [Text("waiting for the first reading…", style="dim")]
    limit = now.get("wscli_max_fds", -1)
    fds = f"{_count(now.get('wscli_open_fds'))}/{'∞' if limit < 0 else _count(limit)}"
    near = limit > 0 and now.get("wscli_open_fds") > 0.9 * limit
    return [
        _item("clients", _count(now.get("wscli_clients"))),
        _item("rooms", _count(now.get("wscli_rooms"))),
        _item("conns", _count(now.get("wscli_connections"))),
        _item("fds", fds, "bold red" if near else ""),
        _item("new", f"{_count(watch.rate('wscli_connections_opened_total'))}/s"),
    ]


def _traffic(watch: Watch, width: int) -> list[Text]:
    lines = []
    for label, messages, size in (
        ("in ", "wscli_messages_received_total", "wscli_received_bytes_total"),
        ("out", "wscli_messages_sent_total", "wscli_sent_bytes_total"),
    ):
        line = Text(f"{label} ", style="bold")
        line.append(f"{_count(watch.rate(messages)):>6} msg/s ")
        line.append(f"{_size(watch.rate(size)):>8}/s ")
        room = width - line.cell_len - 1
        if room >= MIN_SPARK:
            line.append(_spark(watch.series(messages), room), style="cyan")
        lines.append(line)
    return lines


def _delays(watch: Watch) -> list[Text]:
    items = []
    for label, name in (
        ("fan-out", "wscli_fanout_delay_seconds"),
        ("handshake", "wscli_handshake_duration_seconds"),
    ):
        p50, p99 = watch.quantile(name, 0.5), watch.quantile(name, 0.99)
        shown = "-" if p50 is None or p99 is None else f"{_ms(p50)}/{_ms(p99)}"
        items.append(_item(f"{label} p50/p99", shown))
    return items


def _slow(watch: Watch) -> list[Text]:
    now = watch.now
    if now is None:
        return []
    behind = now.get("wscli_clients_behind")
    dropped = watch.last_minute("wscli_slow_clients_dropped_total")
    return [
        _item("slow: behind", _count(behind), "bold red" if behind else ""),
        _item("dropped/min", _count(dropped), "bold red" if dropped else ""),
        _item("queued", _size(now.get("wscli_queued_bytes"))),
    ]


def _refusals(watch: Watch) -> list[Text]:
    now = watch.now
    if now is None:
        return []
    totals = now.labelled.get("wscli_connections_refused_total", {})
    items = [Text("refused/min:", style="bold")]
    for reason in sorted(totals, key=lambda r: (*REFUSAL_ORDER, r).index(r)):
        recent = watch.last_minute("wscli_connections_refused_total", reason)
        if recent:
            items.append(_item(escape_control(reason, keep_newlines=False), _count(recent), "red"))
    if len(items) == 1:
        items.append(Text("none", style="dim"))
    return items


def _redis(watch: Watch) -> list[Text]:
    now = watch.now
    if now is None:
        return []
    title = Text("redis ", style="bold")
    if not now.has("wscli_redis_connected"):
        return [title.append("not used", style="dim")]
    up = now.get("wscli_redis_connected") == 1
    return [
        title.append("connected" if up else "LOST", style="green" if up else "bold red"),
        _item("lag", f"{now.get('wscli_redis_lag_seconds'):.2f} s"),
        _item("backlog", _size(now.get("wscli_redis_backlog_bytes"))),
        _item("appends", f"{_count(watch.rate('wscli_redis_appends_total'))}/s"),
        _item("errors", _count(now.get("wscli_redis_errors_total"))),
    ]


def _rooms(watch: Watch, width: int, rows: int) -> list[Text]:
    now = watch.now
    if now is None or rows <= 0:
        return []
    if "wscli_room_messages_total" not in now.labelled:
        return [Text("busiest rooms: not named (wscli serve --metrics-rooms N)", style="dim")]
    lines = [Text("busiest rooms", style="bold underline")]
    numbers = 30
    for room in watch.rooms(rows):
        line = Text(escape_control(room.name, keep_newlines=False)[: max(width - numbers, 8)])
        line.pad_right(max(width - numbers - line.cell_len, 1))
        line.append(f"{_count(room.clients):>6} clients {_count(room.messages_per_s):>6} msg/s")
        lines.append(line)
    return lines


def _log(watch: Watch, rows: int) -> list[Text]:
    if rows <= 0:
        return []
    lines = [Text("log", style="bold underline")]
    for line in list(watch.log)[-rows:] if rows else []:
        lines.append(Text(escape_control(line, keep_newlines=False), style="dim"))
    return lines


# Helpers


def _item(label: str, value: str, style: str = "") -> Text:
    text = Text(f"{label} ", style="dim")
    text.append(value, style=style or "bold")
    return text


def _flow(items: list[Text], width: int) -> list[Text]:
    """``items`` on as few lines as ``width`` allows, two spaces apart."""
    lines: list[Text] = []
    line = Text()
    for item in items:
        if line.cell_len and line.cell_len + 2 + item.cell_len > width:
            lines.append(line)
            line = Text()
        if line.cell_len:
            line.append("  ")
        line.append_text(item)
    if line.cell_len:
        lines.append(line)
    return lines


def _spark(values: list[float], width: int) -> str:
    values = values[-width:]
    top = max(values, default=0.0)
    if top <= 0:
        return SPARKS[1] * len(values)
    return "".join(SPARKS[1 + round(v / top * (len(SPARKS) - 2))] for v in values)


def _count(value: float) -> str:
    value = float(value)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.1f}{suffix}"
    return f"{value:.0f}" if value == int(value) or abs(value) >= 10 else f"{value:.1f}"


def _size(value: float) -> str:
    value = float(value)
    for limit, suffix in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if abs(value) >= limit:
            return f"{value / limit:.1f} {suffix}"
    return f"{value:.0f} B"


def _ms(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.1f}s"
    return f"{seconds * 1000:.1f}ms" if seconds < 0.1 else f"{seconds * 1000:.0f}ms"


def _duration(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{seconds:02d}s"
