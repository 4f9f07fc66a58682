"""On a terminal, -n and --wait end the session as they do in a pipe (as `wscat -x ping
-w 2` does), and options that read stdin are refused with a reason instead of being
ignored by the prompt. In a real pseudo-terminal (pexpect + pyte)."""

from __future__ import annotations

import time

from tests.connect.test_repl import Terminal, state_home, term_env, terminals  # noqa: F401
from tests.support.connect_servers import echo, running


def test_count_on_a_terminal_ends_without_a_prompt(
    term_env: dict[str, str],  # noqa: F811
    terminals: list[Terminal],  # noqa: F811
) -> None:
    with running(echo) as server:
        terminal = Terminal(["connect", server.url, "-x", "ping", "-n", "1"], term_env)
        terminals.append(terminal)
        assert terminal.exit_status() == 0
    assert terminal.text.splitlines()[0] == "ping"
    assert "ws>" not in terminal.text


def test_wait_on_a_terminal_stays_that_long_then_ends(
    term_env: dict[str, str],  # noqa: F811
    terminals: list[Terminal],  # noqa: F811
) -> None:
    with running(echo) as server:
        started = time.monotonic()
        terminal = Terminal(["connect", server.url, "-x", "ping", "--wait", "1"], term_env)
        terminals.append(terminal)
        assert terminal.exit_status() == 0
        elapsed = time.monotonic() - started
    assert terminal.text.splitlines()[0] == "ping"
    assert "ws>" not in terminal.text
    assert elapsed >= 1


def test_options_that_read_stdin_are_refused_at_the_prompt(
    term_env: dict[str, str],  # noqa: F811
    terminals: list[Terminal],  # noqa: F811
) -> None:
    with running(echo) as server:
        binary = Terminal(["connect", server.url, "--binary"], term_env, cols=160)
        idle = Terminal(["connect", server.url, "--idle", "3"], term_env)
        terminals.extend([binary, idle])
        assert binary.exit_status() == 2 and idle.exit_status() == 2
    assert binary.text.splitlines()[0] == (
        "wscli: error: --binary reads messages from stdin, and stdin is this terminal "
        "(hint: pipe them in, or add --no-tty)"
    )
    assert idle.text.splitlines()[0].startswith(
        "wscli: error: --idle counts after stdin ends, and stdin is this terminal"
    )
