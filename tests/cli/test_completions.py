"""Shell completion: what `wscli ... <Tab>` offers, through click's API and in real shells.

Generic over the click command tree (every command, option, choice, file option, URL
argument), so the tests keep passing as commands grow options.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.shell_completion import ShellComplete

from tests.support import REPO, clean_env, requires, run_wscli, scaled, wscli_command
from wscli.cli import cli
from wscli.cli.completion import SHELLS, bash_word
from wscli.docgen.files import COMPLETION_FILES

HISTORY_URLS = ("ws://127.0.0.1:3000/chat", "wss://echo.example:8443/feed?x=1")


def walk(
    command: click.Command, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """(arguments that select the command, command), for the whole tree."""
    yield path, command
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                yield from walk(sub, (*path, name))


COMMANDS = list(walk(cli))
IDS = [" ".join(("wscli", *path)) for path, _ in COMMANDS]


def options(command: click.Command) -> list[click.Option]:
    ctx = click.Context(command, **command.context_settings)
    return [p for p in command.get_params(ctx) if isinstance(p, click.Option) and not p.hidden]


def complete(args: list[str], incomplete: str) -> list[tuple[str, str]]:
    """(type, value) of what click offers for ``wscli ARGS INCOMPLETE<Tab>``."""
    shell = ShellComplete(cli, {}, "wscli", "_WSCLI_COMPLETE")
    return [(item.type, item.value) for item in shell.get_completions(args, incomplete)]


def values(args: list[str], incomplete: str) -> list[str]:
    return [value for kind, value in complete(args, incomplete) if kind == "plain"]


@pytest.fixture
def history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A history file (prompt_toolkit's format) under a private XDG_STATE_HOME."""
    state = tmp_path / "state"
    (state / "wscli").mkdir(parents=True)
    lines = ["", "# 2026-11-25 12:00:00", "+hello there", "+" + HISTORY_URLS[1], "+/ping"]
    lines += ["", "# 2026-11-25 12:01:00", "+" + HISTORY_URLS[0], "+not a url ws://x"]
    (state / "wscli" / "history").write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    return state


def shell_env(state: Path, **extra: str) -> dict[str, str]:
    """The real `wscli` on PATH, a private history, no user configuration."""
    bindir = str(Path(wscli_command()[0]).parent)
    return clean_env(
        {"PATH": bindir + os.pathsep + os.environ["PATH"], "XDG_STATE_HOME": str(state), **extra}
    )


# --- click's completion API ---------------------------------------------------------------


def test_subcommands_complete() -> None:
    names = [path[0] for path, _ in COMMANDS if len(path) == 1]
    assert {"serve", "connect", "handshake", "completion"} <= set(names)
    assert values([], "") == names
    assert values([], "se") == ["serve"]
    assert values([], "co") == ["completion", "connect"]


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_every_option_completes(path: tuple[str, ...], command: click.Command) -> None:
    offered = values(list(path), "-")
    for option in options(command):
        for name in option.opts + option.secondary_opts:
            assert name in offered
            assert name in values(list(path), name)


def test_choice_values_complete() -> None:
    found = 0
    for path, command in COMMANDS:
        for option in options(command):
            if isinstance(option.type, click.Choice):
                choices = [str(c) for c in option.type.choices]
                name = option.opts[-1]
                assert values([*path, name], "") == choices
                assert values(list(path), f"{name}=") == choices
                assert values([*path, name], choices[0][:1]) == [
                    c for c in choices if c.startswith(choices[0][:1])
                ]
                found += 1
    assert found >= 1  # at least --color and `completion SHELL`'s argument type
    assert values(["completion"], "") == list(SHELLS)


def test_file_options_complete_files() -> None:
    file_options = set()
    for path, command in COMMANDS:
        for option in options(command):
            if isinstance(option.type, click.Path):
                kinds = {kind for kind, _ in complete([*path, option.opts[-1]], "")}
                expected = "dir" if option.type.dir_okay and not option.type.file_okay else "file"
                assert kinds == {expected}, option.opts
                file_options.add(" ".join(("wscli", *path, option.opts[-1])))
    # the ones the issue names, while they exist
    assert "wscli handshake --cacert" in file_options
    assert "wscli serve --certfile" in file_options


def url_arguments() -> list[tuple[tuple[str, ...], click.Argument]]:
    return [
        (path, param)
        for path, command in COMMANDS
        for param in command.params
        if isinstance(param, click.Argument) and (param.name or "").lower() == "url"
    ]


def test_url_arguments_complete_from_history(history: Path) -> None:
    found = url_arguments()
    assert {path for path, _ in found} >= {("connect",), ("handshake",)}
    for path, _ in found:
        assert values(list(path), "") == list(HISTORY_URLS)
        assert values(list(path), "wss") == [HISTORY_URLS[1]]
        assert values(list(path), "ws://127.0.0.1:") == [HISTORY_URLS[0]]


def test_url_completion_without_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "none"))
    for path, _ in url_arguments():
        assert values(list(path), "ws") == []


def test_bash_word_replaces_only_the_current_word() -> None:
    # bash splits at ':' and '='; its current word is the text after the last of them
    assert bash_word("ws://127.0.0.1:", ":", "ws://127.0.0.1:3000/chat") == ":3000/chat"
    assert bash_word("ws://127", "//127", "ws://127.0.0.1:3000/chat") == "//127.0.0.1:3000/chat"
    assert bash_word("ws", "ws", "ws://x") == "ws://x"
    assert bash_word("--color=", "=", "always") == "=always"
    assert bash_word("--color=al", "al", "always") == "always"
    assert bash_word("'ws://a b", "b", "ws://a bc") == "ws://a bc"  # quoting: leave it


# --- the scripts ------------------------------------------------------------------------


@pytest.mark.parametrize("shell", SHELLS)
def test_completion_command_prints_the_committed_script(shell: str) -> None:
    result = run_wscli("completion", shell)
    assert result.returncode == 0
    assert result.stderr == b""
    assert result.stdout.decode() == (REPO / COMPLETION_FILES[shell]).read_text()
    assert b"_WSCLI_COMPLETE" in result.stdout


def test_completion_rejects_other_shells() -> None:
    result = run_wscli("completion", "tcsh")
    assert result.returncode == 2
    assert result.stdout == b""
    assert b"wscli: error:" in result.stderr and b"tcsh" in result.stderr


def test_completion_callback_loads_no_network_or_terminal_library(tmp_path: Path) -> None:
    """What the shell waits for on each <Tab>: the program started with _WSCLI_COMPLETE.

    It stays fast (0.2-0.3 s here, most of it the interpreter and click) by loading only the
    option declarations: not websockets, asyncio, ssl, rich or prompt_toolkit, which would
    double it. Checked by what it imports (a wall-clock bound flakes on a busy machine)."""
    env = {
        "_WSCLI_COMPLETE": "bash_complete",
        "COMP_WORDS": "wscli con",
        "COMP_CWORD": "1",
        "PYTHONPROFILEIMPORTTIME": "1",
    }
    result = run_wscli(env=env)
    assert result.stdout.decode().split() == ["plain,connect"]
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.decode().splitlines()}
    assert "wscli.cli.completion" in imported and "click" in imported  # the report is read
    heavy = {"websockets", "asyncio", "ssl", "rich", "prompt_toolkit"}
    assert {name.split(".")[0] for name in imported} & heavy == set()


def test_completion_callback_imports_no_heavy_module() -> None:
    """Command modules import websockets, prompt_toolkit, ... inside their functions."""
    code = (
        "import sys, os\n"
        "os.environ.update(_WSCLI_COMPLETE='bash_complete', COMP_WORDS='wscli connect --', "
        "COMP_CWORD='2')\n"
        "from wscli.cli import main\n"
        "try:\n    main(['connect', '--'])\nexcept SystemExit:\n    pass\n"
        "heavy = ('websockets', 'prompt_toolkit', 'redis', 'uvloop', 'rich')\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=scaled(30),
        check=False,
    )
    assert "HEAVY []" in result.stderr, result.stderr


# --- real shells ------------------------------------------------------------------------

BASH_DRIVER = r"""
source "$1"
complete_line() {  # $1: the line; the rest: COMP_WORDS as bash would split it
    COMP_LINE=$1; COMP_POINT=${#1}; shift
    COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMPREPLY=()
    _wscli_completion wscli 2>/dev/null
    printf '%s\n' "${COMPREPLY[@]}"; echo '@@'
}
"""


def long_options(command: str) -> set[str]:
    """The ``--name`` spellings of a top-level command's options."""
    names = (n for o in options(cli.commands[command]) for n in o.opts + o.secondary_opts)
    return {n for n in names if n.startswith("--")}


def run_shell(argv: list[str], history: Path) -> list[str]:
    """Run a shell script that prints each reply followed by ``@@``; the reply blocks."""
    result = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=scaled(30),
        env=shell_env(history),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split("@@\n")[:-1]


@requires("bash")
def test_bash(history: Path) -> None:
    cases: list[tuple[str, list[str]]] = [
        ("wscli se", ["wscli", "se"]),
        ("wscli ", ["wscli", ""]),
        ("wscli --color ", ["wscli", "--color", ""]),
        ("wscli --color=al", ["wscli", "--color", "=", "al"]),
        ("wscli --color=", ["wscli", "--color", "="]),
        ("wscli connect --", ["wscli", "connect", "--"]),
        ("wscli connect wss", ["wscli", "connect", "wss"]),
        ("wscli connect ws://127", ["wscli", "connect", "ws", ":", "//127"]),
        ("wscli connect ws://127.0.0.1:", ["wscli", "connect", "ws", ":", "//127.0.0.1", ":"]),
        ("wscli completion f", ["wscli", "completion", "f"]),
    ]
    script = BASH_DRIVER + "".join(
        "complete_line " + " ".join(shlex.quote(w) for w in [line, *words]) + "\n"
        for line, words in cases
    )
    blocks = run_shell(
        [
            "bash",
            "--norc",
            "--noprofile",
            "-c",
            script,
            "bash",
            str(REPO / COMPLETION_FILES["bash"]),
        ],
        history,
    )
    replies = [block.strip("\n").split("\n") if block.strip("\n") else [] for block in blocks]
    assert len(replies) == len(cases)
    got = dict(zip([line for line, _ in cases], replies, strict=True))
    assert got["wscli se"] == ["serve"]
    assert got["wscli "] == [path[0] for path, _ in COMMANDS if len(path) == 1]
    assert got["wscli --color "] == ["auto", "always", "never"]
    assert got["wscli --color=al"] == ["always"]
    assert got["wscli --color="] == ["=auto", "=always", "=never"]
    assert long_options("connect") <= set(got["wscli connect --"])
    assert got["wscli connect wss"] == [HISTORY_URLS[1]]
    assert got["wscli connect ws://127"] == ["//127.0.0.1:3000/chat"]
    assert got["wscli connect ws://127.0.0.1:"] == [":3000/chat"]
    assert got["wscli completion f"] == ["fish"]


@requires("fish")
def test_fish(history: Path, tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.pem").write_text("")
    commands = [
        "wscli se",
        "wscli --color ",
        "wscli handshake --",
        f"wscli handshake --cacert {tmp_path}/certs/",
        "wscli connect wss",
    ]
    script = f"source {shlex.quote(str(REPO / COMPLETION_FILES['fish']))}\n" + "".join(
        f"complete -C {shlex.quote(c)}; echo @@\n" for c in commands
    )
    blocks = [
        [line.split("\t")[0] for line in b.strip("\n").split("\n") if line]
        for b in run_shell(["fish", "--no-config", "-c", script], history)
    ]
    got = dict(zip(commands, blocks, strict=True))
    assert got["wscli se"] == ["serve"]
    assert sorted(got["wscli --color "]) == ["always", "auto", "never"]
    assert long_options("handshake") <= set(got["wscli handshake --"])
    assert got[f"wscli handshake --cacert {tmp_path}/certs/"] == [f"{tmp_path}/certs/ca.pem"]
    assert got["wscli connect wss"] == [HISTORY_URLS[1]]


class Tmux:
    """A private tmux server (own socket) running one zsh; read the screen as text."""

    def __init__(self, socket: Path, env: dict[str, str]) -> None:
        self.base = ["tmux", "-S", str(socket)]
        self.env = env

    def run(self, *args: str) -> str:
        return subprocess.run(
            [*self.base, *args],
            capture_output=True,
            text=True,
            timeout=scaled(10),
            env=self.env,
            check=True,
        ).stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-S", "-500", "-t", "zsh")

    def wait_for(self, text: str) -> str:
        deadline = time.monotonic() + scaled(10)
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not on screen:\n{screen}")
            time.sleep(0.05)

    def type(self, *keys: str) -> None:
        self.run("send-keys", "-t", "zsh", *keys)


@requires("zsh", "tmux")
def test_zsh(history: Path, tmp_path: Path) -> None:
    zdotdir = tmp_path / "zdotdir"
    zdotdir.mkdir()
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "myca.pem").write_text("")
    env = shell_env(history, ZDOTDIR=str(zdotdir), TERM="xterm", HOME=str(tmp_path))
    tmux = Tmux(tmp_path / "tmux.sock", env)
    tmux.run("-f", "/dev/null", "new-session", "-d", "-s", "zsh", "-x", "160", "-y", "60", "zsh -f")
    try:
        tmux.type(
            f"fpath=({shlex.quote(str(REPO / 'completions'))} $fpath); PS1='%% '; "
            "LISTMAX=10000; autoload -Uz compinit && compinit -u -D && echo READY",
            "Enter",
        )
        tmux.wait_for("\nREADY")
        tmux.type("clear", "Enter")

        tmux.type("wscli se", "Tab")
        tmux.wait_for("% wscli serve")
        tmux.type("C-u", "wscli --color ", "Tab")
        screen = tmux.wait_for("never")
        assert "auto" in screen and "always" in screen
        tmux.type("C-u", "C-l")

        tmux.type("wscli handshake --ca", "Tab")
        tmux.wait_for("% wscli handshake --cacert")
        tmux.type(f"{tmp_path}/certs/my", "Tab")
        tmux.wait_for(f"--cacert {tmp_path}/certs/myca.pem")
        tmux.type("C-u", "C-l")

        tmux.type("wscli connect ws://127", "Tab")
        tmux.wait_for(f"% wscli connect {HISTORY_URLS[0]}")
        tmux.type("C-u", "C-l")

        tmux.type("wscli connect --", "Tab")
        screen = tmux.wait_for("--timeout")
        for option in options(cli.commands["connect"]):
            assert option.opts[-1] in screen
    finally:
        subprocess.run(
            [*tmux.base, "kill-server"], capture_output=True, timeout=scaled(10), check=False
        )
