from __future__ import annotations

import io

import pytest

from wscli.net.terminal import Environment, decide_color, make_console


def test_decide_color_precedence() -> None:
    assert decide_color("always", {"NO_COLOR": "1"}, False) is True
    assert decide_color("never", {"FORCE_COLOR": "1"}, True) is False
    assert decide_color("auto", {"NO_COLOR": "1", "FORCE_COLOR": "1"}, True) is False
    assert decide_color("auto", {"NO_COLOR": ""}, True) is True  # empty NO_COLOR: ignored
    assert decide_color("auto", {"FORCE_COLOR": "1"}, False) is True
    assert decide_color("auto", {}, True) is True
    assert decide_color("auto", {}, False) is False
    assert decide_color("auto", {"TERM": "dumb"}, True) is False


def test_detect_with_pipes() -> None:
    env = Environment.detect(
        "auto", {}, stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO()
    )
    assert not env.interactive
    assert not env.color_stdout and not env.color_stderr


def test_console_without_color_writes_plain_long_lines() -> None:
    out = io.StringIO()
    console = make_console(out, color=False)
    console.print("x" * 200, "[bold]y[/bold]")
    assert out.getvalue() == "x" * 200 + " y\n"


def test_console_with_color_writes_ansi() -> None:
    out = io.StringIO()
    make_console(out, color=True).print("[red]r[/red]")
    assert "\x1b[" in out.getvalue()


def test_forced_color_on_dumb_terminal_still_colours(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "dumb")
    out = io.StringIO()
    make_console(out, color=True).print("[red]r[/red]")
    assert "\x1b[31m" in out.getvalue()
