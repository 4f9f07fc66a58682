"""wscli.top.view: one frame for any size, readable at 80x24, degraded narrower, colour only
when asked, the server's text escaped."""

from __future__ import annotations

import re

import pytest
from rich.cells import cell_len

from tests.top.top_helpers import busy_watch
from wscli.top.model import Watch
from wscli.top.view import SPARKS, render

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def lines_of(frame: str) -> list[str]:
    return ANSI.sub("", frame).rstrip("\n").split("\n")


@pytest.mark.parametrize(("width", "height"), [(80, 24), (40, 12), (120, 40), (20, 5), (200, 8)])
@pytest.mark.parametrize("color", [False, True])
def test_every_frame_fits_its_terminal(width: int, height: int, color: bool) -> None:
    frame = render(busy_watch(), width, height, color, "http://127.0.0.1:3000/")
    lines = lines_of(frame)
    assert len(lines) <= height
    assert all(cell_len(line) <= width for line in lines), lines


def test_80x24_shows_everything_the_view_promises() -> None:
    text = "\n".join(lines_of(render(busy_watch(), 80, 24, False, "http://127.0.0.1:3000/")))
    for needle in (
        "wscli top",
        "127.0.0.1:3000",
        "ok",
        "clients 1.2k",
        "rooms 8",
        "fds 1.2k/65.5k",
        "in ",
        "out",
        "msg/s",
        "/s",
        "fan-out p50/p99",
        "handshake p50/p99",
        "slow: behind 2",
        "dropped/min",
        "queued 3.0 MiB",
        "refused/min:",
        "token",
        "origin",
        "redis connected",
        "lag 0.01 s",
        "busiest rooms",
        "/room-7",
        "log",
        "connected from",
    ):
        assert needle in text, (needle, text)
    assert "host" not in text.split("refused/min:")[1].split("\n")[0]  # none last minute
    # In: 1,000 messages per reading half a second apart; out: 100,000.
    assert re.search(r"in +2\.0k msg/s", text), text
    assert re.search(r"out +200\.0k msg/s", text), text
    assert any(ch in text for ch in SPARKS[1:]), text


def test_40x12_keeps_the_essentials() -> None:
    lines = lines_of(render(busy_watch(), 40, 12, False, "http://127.0.0.1:3000/"))
    text = "\n".join(lines)
    for needle in ("wscli top", "clients", "rooms", "in ", "out", "msg/s"):
        assert needle in text, (needle, text)


def test_no_colour_means_no_escape_sequences_and_colour_means_some() -> None:
    plain = render(busy_watch(), 80, 24, False, "x")
    assert "\x1b" not in plain
    coloured = render(busy_watch(), 80, 24, True, "x")
    assert re.search(r"\x1b\[[0-9;]*3[0-9]m|\x1b\[[0-9;]*9[0-7]m", coloured)


def test_the_servers_text_is_escaped() -> None:
    frame = render(busy_watch(hostile=True), 100, 30, False, "x")
    assert "\x1b" not in frame and "\x07" not in frame and "\x9b" not in frame
    assert "\\e]0;pwned\\x07" in frame or "\\e[2J" in frame


def test_without_redis_or_room_names_it_says_so() -> None:
    text = "\n".join(lines_of(render(busy_watch(rooms=0, redis=False), 80, 24, False, "x")))
    assert "redis not used" in text
    assert "--metrics-rooms" in text


def test_before_the_first_reading() -> None:
    text = render(Watch(), 80, 24, False, "x")
    assert "waiting for the first reading" in text


def test_a_failed_reading_is_shown() -> None:
    watch = busy_watch()
    watch.error = "cannot read x: connection refused (retrying)"
    text = render(watch, 80, 24, False, "x")
    assert "connection refused (retrying)" in text
