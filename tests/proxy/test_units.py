"""The pure parts of `wscli proxy`: option values, fault decisions, header forwarding and
the terminal lines (data in, exact data out)."""

from __future__ import annotations

import pytest
from websockets.datastructures import Headers

from wscli.core.errors import UsageProblem
from wscli.core.units import parse_duration, parse_rate
from wscli.proxy import render
from wscli.proxy.config import (
    FaultConfig,
    UpstreamConfig,
    check_faults,
    check_upstream,
)
from wscli.proxy.faults import Faults
from wscli.proxy.rules import Rules, rules_from_config
from wscli.proxy.upstream import forwarded_headers, passed_back

WHEN = "2026-01-02T03:04:05.678Z"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("80ms", 0.08), ("1.5s", 1.5), ("2m", 120.0), ("1h", 3600.0), ("0.25", 0.25), (".5", 0.5)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "fast", "-1s", "1d", "1e3"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match=r"^expected a duration like 80ms, 1\.5s or 2m$"):
        parse_duration(text)


def test_rates() -> None:
    assert parse_rate("0.02") == 0.02
    assert parse_rate("2%") == 0.02
    for bad in ("2", "-0.1", "150%", "nan"):
        with pytest.raises(ValueError, match=r"^a rate is between 0 and 1$"):
            parse_rate(bad)
    with pytest.raises(ValueError, match=r"^expected a rate like 0\.02 or 2%$"):
        parse_rate("x")


def test_option_combinations() -> None:
    with pytest.raises(UsageProblem, match="needs --disconnect"):
        check_faults(FaultConfig(close_code=4000))
    with pytest.raises(UsageProblem, match="cannot be sent"):
        check_faults(FaultConfig(close_code=1006, disconnect_after=1))
    check_faults(FaultConfig(close_code=4000, disconnect_after=1))
    with pytest.raises(UsageProblem, match="needs a wss:// upstream"):
        check_upstream(UpstreamConfig(url="ws://x", cacert="ca.pem"))
    check_upstream(UpstreamConfig(url="https://x/feed", proxy="none"))


def faults(config: FaultConfig, seed: int | None = None) -> Faults:
    return Faults(Rules(rules_from_config(config)), seed)


def test_same_seed_same_faults_per_connection_and_direction() -> None:
    config = FaultConfig(drop=0.5, delay=0.1, jitter=0.05, refuse=0.5)
    one, two = faults(config, seed=3), faults(config, seed=3)
    draws = [
        [d.message() for _ in range(50)]
        for d in (
            one.direction(1, "up", "/"),
            two.direction(1, "up", "/"),
            one.direction(1, "down", "/"),
        )
    ]
    assert draws[0] == draws[1]
    assert draws[0] != draws[2]  # each direction has its own sequence
    delays = [plan.delay for plan in draws[0] if plan.dropped_by is None]
    assert delays and all(d is not None and 0.05 <= d <= 0.15 for d in delays)
    assert any(plan.dropped_by is not None for plan in draws[0])
    assert [one.refuse(n, "/") for n in range(20)] == [two.refuse(n, "/") for n in range(20)]
    assert faults(FaultConfig()).seed is not None  # chosen, so the banner can show it


def test_only_delay_rules_give_a_delay() -> None:
    # --throttle alone used to show "+0ms" on every line: no delay rule, no delay.
    plan = faults(FaultConfig(throttle=1000), seed=1).direction(1, "up", "/").message()
    assert plan.delay is None and plan.dropped_by is None
    line = render.message_line(WHEN, 1, "up", "text", b"hi", 2, 100, plan.delay)
    assert "+0ms" not in "".join(part for part, _ in line)


def test_direction_and_path_choose_where_faults_apply() -> None:
    config = FaultConfig(drop=1.0, direction="down", path="/chat*")
    plan = faults(config, seed=1)
    assert plan.direction(1, "down", "/chat/a").message().dropped_by is not None
    assert plan.direction(1, "up", "/chat/a").message().dropped_by is None
    assert plan.direction(1, "down", "/other").message().dropped_by is None


def test_throttle_spaces_messages_by_size() -> None:
    link = faults(FaultConfig(throttle=1000), seed=1).direction(1, "up", "/")
    assert link.send_time(10.0, 500) == 10.0
    assert link.send_time(10.0, 500) == 10.5  # the link is busy with the first one
    assert link.send_time(20.0, 10) == 20.0  # idle again


def test_forwarded_headers_keep_end_to_end_ones_and_let_h_replace() -> None:
    request = Headers(
        [
            ("Host", "proxy:9000"),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "k"),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Extensions", "permessage-deflate"),
            ("Sec-WebSocket-Protocol", "chat"),
            ("Origin", "https://a.example"),
            ("Authorization", "Bearer x"),
            ("Cookie", "a=b"),
            ("User-Agent", "browser"),
        ]
    )
    assert forwarded_headers(request, [("User-Agent", "mine"), ("X-Extra", "1")]) == [
        ("Authorization", "Bearer x"),
        ("Cookie", "a=b"),
        ("User-Agent", "mine"),
        ("X-Extra", "1"),
    ]
    response = Headers([("Connection", "close"), ("X-Why", "no"), ("Content-Length", "3")])
    assert passed_back(response) == [("X-Why", "no")]


def test_message_line_escapes_cuts_and_summarises() -> None:
    line = render.message_line(WHEN, 3, "up", "text", b"\x1b[2Jhi\nthere", 13, 40)
    text = "".join(part for part, _ in line)
    assert text == "03:04:05.678 #3 → text        13 B  \\e[…"
    assert len(text) == 40
    line = render.message_line(WHEN, 3, "down", "binary", bytes(range(20)), 20, 200, 0.08)
    text = "".join(part for part, _ in line)
    assert text.endswith(
        "← binary      20 B  +80ms 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f …"
    )
    assert render.size_text(2048) == "2.0 KiB"


def test_close_and_refused_lines() -> None:
    text = "".join(p for p, _ in render.close_line(WHEN, 1, 4000, "bye\x1b", "server"))
    assert text == "03:04:05.678 #1 close 4000 (private use) 'bye\\e' by server"
    text = "".join(p for p, _ in render.close_line(WHEN, 1, None, "", None))
    assert text == "03:04:05.678 #1 close no close frame (connection dropped)"
    text = "".join(p for p, _ in render.refused_line(WHEN, 2, 403, "Forbidden", "server"))
    assert text == "03:04:05.678 #2 refused by server: HTTP 403 Forbidden"


def test_line_display_colours_by_direction_only_when_asked() -> None:
    import io

    from wscli.proxy.output import LineDisplay, Relayed

    plain, coloured = io.StringIO(), io.StringIO()
    for stream, color in ((plain, False), (coloured, True)):
        display = LineDisplay(stream, color)
        display.message(Relayed(1, "up", "text", b"hi", 2))
        display.message(Relayed(1, "down", "text", b"\x1b[31mred", 8))
        display.flush()
    assert "\x1b" not in plain.getvalue()
    assert "→ text" in plain.getvalue() and "\\e[31mred" in plain.getvalue()
    assert "\x1b[36m→ text" in coloured.getvalue()  # client → server in cyan
    assert "\x1b[35m← text" in coloured.getvalue()  # server → client in magenta
    assert "\x1b[31mred" not in coloured.getvalue()  # the peer's own escape stays escaped


def test_only_the_proxys_own_origin_is_rewritten() -> None:
    from websockets.uri import parse_uri

    from wscli.proxy.upstream import is_own_origin, upstream_origin

    assert upstream_origin(parse_uri("ws://127.0.0.1:3000/chat")) == "http://127.0.0.1:3000"
    assert upstream_origin(parse_uri("wss://chat.example/x")) == "https://chat.example"
    assert upstream_origin(parse_uri("ws://[::1]:81/")) == "http://[::1]:81"
    assert is_own_origin("http://127.0.0.1:9000", "127.0.0.1", 9000, False)
    assert is_own_origin("http://localhost:9000", "127.0.0.1", 9000, False)
    # Another site's page must stay what it is: rewriting it would let any web page the
    # user visits past the server's cross-site check.
    for other in (
        "http://evil.example:9000",
        "http://127.0.0.1:9001",
        "https://127.0.0.1:9000",
        "null",
        "http://[bad",
    ):
        assert not is_own_origin(other, "127.0.0.1", 9000, False), other
    assert is_own_origin("https://127.0.0.1", "127.0.0.1", 443, True)
