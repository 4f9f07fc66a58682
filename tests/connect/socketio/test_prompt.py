"""Socket.IO at the prompt, in a real pty against the socketio-acks peer: /emit with JSON
arguments and completion of seen event names, /ack, the toolbar, an overdue ack as a
visible line (the session goes on)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from tests.connect.test_repl import Terminal, state_home, term_env, terminals  # noqa: F401
from tests.support import requires
from tests.support.peers import project_peer
from wscli.connect.repl import SlashCompleter, Stats, toolbar_text
from wscli.connect.slash import Command, CommandError, parse_line


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with project_peer("socketio-acks") as port:
        yield f"http://127.0.0.1:{port}"


def test_parse_emit_and_ack() -> None:
    assert parse_line('/emit chat "hi" {"x":1}') == Command("emit", '"hi" {"x":1}', event="chat")
    assert parse_line("/emit ping") == Command("emit", "", event="ping")
    assert parse_line("/ack") == Command("ack")
    with pytest.raises(CommandError):
        parse_line("/emit")


def test_emit_completes_event_names_seen_so_far() -> None:
    completer = SlashCompleter(lambda: ["welcome", "echo", "weird\x1bname"])
    found = completer.get_completions(Document("/emit we"), CompleteEvent())
    assert [c.text for c in found] == ["welcome"]
    assert [c.text for c in completer.get_completions(Document("/em"), CompleteEvent())] == [
        "/emit"
    ]


def test_toolbar_shows_namespace_and_pending_acks_early() -> None:
    stats = Stats("open", "ws://h/", None, "-", None, 1, 2, "ns /chat | acks on, 1 pending")
    assert toolbar_text(stats).startswith(" ws://h/ | open | ns /chat | acks on, 1 pending |")


@requires("node", "npm")
def test_emit_ack_toggle_and_toolbar_at_the_prompt(
    server: str,
    term_env: dict[str, str],  # noqa: F811
    terminals: list[Terminal],  # noqa: F811
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in term_env.items() if k != "PROMPT_TOOLKIT_NO_CPR"}
    args = ["connect", server, "--socketio", "--ack-timeout", "1", "--event", "types"]
    terminal = Terminal([*args, "--emit", "types"], env, cpr=True)
    terminals.append(terminal)
    terminal.wait_text('< welcome: {"transport":"websocket"}')
    terminal.wait_text("< types: []")  # --emit: the event with no arguments, at the start
    toolbar = terminal.wait_text("ns / | acks off, 0 pending").splitlines()[-1]
    assert "ns / | acks off, 0 pending" in toolbar
    terminal.child.send('/emit types "a" 1 {"k":[true]}\r')
    terminal.wait_text('< types: ["string","number","object"]')
    assert '> types: "a", 1, {"k":[true]}' in terminal.text
    (tmp_path / "hi.bin").write_bytes(b"hi")
    terminal.child.send(f"/file {tmp_path / 'hi.bin'}\r")  # one binary argument of --event
    terminal.wait_text('< types: ["bytes:6869"]')
    terminal.child.send('{"a":1}\r')  # a typed line: JSON, like a piped one
    terminal.wait_text('< types: ["object"]')
    terminal.child.send("/ack\r")
    terminal.wait_text("acknowledgements on")
    terminal.child.send("/emit sum 2 40\r")
    terminal.wait_text("< ack 0: 42")
    terminal.child.send("/emit silent\r")
    terminal.wait_text("1 pending")
    terminal.wait_text("warning: no acknowledgement for event 'silent' (ack 1)")
    terminal.wait_text("acks on, 0 pending")
    terminal.child.send('/emit echo "x"\r')
    terminal.wait_text('< ack 2: "x"')
    terminal.wait_text('< echo: "x"')
    terminal.child.send("/emit ec")  # "echo" was seen: the completion menu offers it
    terminal.wait_for(lambda text: "ws> /emit ec" in text and "\n             echo" in text)
    terminal.child.sendcontrol("c")  # clears the line
    terminal.child.sendcontrol("d")
    assert terminal.exit_status() == 0
