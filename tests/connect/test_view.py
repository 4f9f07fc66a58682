"""/filter, /mute and /pretty at the prompt: which received messages show, and how JSON
looks (pure parts in-process; the prompt in a real pseudo-terminal, pexpect + pyte)."""

from __future__ import annotations

import json

import pytest

from tests.connect.test_repl import (  # noqa: F401
    PushServer,
    Terminal,
    push_server,
    start,
    state_home,
    term_env,
    terminals,
)
from tests.support import run_wscli
from wscli.connect.render import pretty_json, terminal_message
from wscli.connect.repl import Stats, toolbar_text
from wscli.connect.slash import HELP_TEXT, Command, CommandError, parse_line
from wscli.connect.view import MATCH_LIMIT, View, match_text
from wscli.core.events import Message


def test_filter_and_mute_choose_received_messages_and_count_the_hidden() -> None:
    view = View()
    assert view.shows(Message("in", "anything")) and view.toolbar() is None
    assert view.set_mute("heartbeat").startswith("hiding received messages matching")
    assert not view.shows(Message("in", '{"type":"heartbeat"}'))
    assert view.shows(Message("in", '{"type":"reply"}'))
    assert view.shows(Message("out", "heartbeat"))  # what you send always shows
    view.set_filter("^ok")
    assert view.shows(Message("in", "ok 1")) and not view.shows(Message("in", "nope"))
    assert not view.shows(Message("in", "ok heartbeat"))  # muted wins
    assert view.toolbar() == "filter /^ok/, mute /heartbeat/, 2 hidden"
    view.set_filter("")
    view.set_mute("")
    assert view.toolbar() is None and view.shows(Message("in", "nope"))


def test_matching_reads_what_a_pipe_writes_bounded() -> None:
    event = Message("in", "", name="tick", args=({"n": 1},))
    assert match_text(event) == 'tick: [{"n":1}]'
    assert match_text(Message("in", b"\x00\x01")) == "AAE="
    huge = Message("in", "x" * (MATCH_LIMIT * 8) + "needle")
    assert len(match_text(huge)) == MATCH_LIMIT
    view = View()
    view.set_filter("needle")
    assert not view.shows(huge)  # past the first 64 KiB: not searched
    assert len(match_text(Message("in", bytes(MATCH_LIMIT * 8)))) <= MATCH_LIMIT


def test_slash_commands_parse_and_are_listed() -> None:
    assert parse_line("/filter ^ok") == Command("filter", pattern="^ok")
    assert parse_line("/mute") == Command("mute", pattern="")
    assert parse_line("/pretty") == Command("pretty")
    with pytest.raises(CommandError, match="/filter: invalid regular expression"):
        parse_line("/filter (")
    for usage in ("/filter [REGEX]", "/mute [REGEX]", "/pretty"):
        assert usage in HELP_TEXT


def test_the_toolbar_keeps_the_filter_on_a_narrow_terminal() -> None:
    stats = Stats("open", "ws://127.0.0.1:41234/chat", None, "-", None, 4, 6)
    stats.view = "mute /ping/, 3 hidden"
    assert toolbar_text(stats, 40) == " open | mute /ping/, 3 hidden "


def test_pretty_json_is_indented_highlighted_and_escaped() -> None:
    assert pretty_json('{"a":[1,2]}') == '{\n  "a": [\n    1,\n    2\n  ]\n}'
    assert pretty_json("not json") is None and pretty_json("42") is None
    assert pretty_json("[" * 100 + "]" * 100) is None  # deeper than the bounds: as it came
    message = Message("in", '{"msg":"\u202ehi\u009b31m"}')
    text = terminal_message(message, pretty=True)
    assert text.plain == '< {\n    "msg": "\\u202ehi\\x9b31m"\n  }'
    assert any("json" in str(span.style) for span in text.spans)  # rich's JSON highlighting
    assert terminal_message(message).plain == '< {"msg":"\\u202ehi\\x9b31m"}'


def test_pretty_is_refused_where_it_would_be_ignored() -> None:
    piped = run_wscli("connect", "ws://127.0.0.1:9/", "--pretty", input=b"x\n")
    assert piped.returncode == 2
    assert piped.stderr == (
        b"wscli: error: --pretty is for the prompt: a pipe writes each message on one line"
        b" (hint: pipe the output into jq)\n"
    )


def test_filter_mute_and_pretty_at_the_prompt(
    push_server: PushServer,  # noqa: F811
    term_env: dict[str, str],  # noqa: F811
    terminals: list[Terminal],  # noqa: F811
) -> None:
    terminal = start(terminals, push_server.thread.url, term_env)
    terminal.child.send("/mute heartbeat\r")
    terminal.wait_text("hiding received messages matching /heartbeat/")
    for n in range(3):
        push_server.push(json.dumps({"type": "heartbeat", "n": n}))
    push_server.push('{"type":"reply","ok":true}')
    terminal.wait_text('< {"type":"reply","ok":true}')
    assert '"heartbeat", "n"' not in terminal.text  # the three were hidden
    terminal.child.send("/pretty\r")
    terminal.wait_text("pretty JSON on")
    push_server.push('{"type":"reply","ok":true}')
    screen = terminal.wait_text('    "ok": true')
    rows = screen.splitlines()
    assert "< {" in rows and '    "type": "reply",' in rows and "  }" in rows
    terminal.child.send("/mute\r")
    terminal.wait_text("mute off")
    push_server.push('{"type":"heartbeat"}')
    terminal.wait_text('    "type": "heartbeat"')
    terminal.child.sendcontrol("d")
    assert terminal.exit_status() == 0
