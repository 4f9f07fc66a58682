"""`wscli completion SHELL`: print the shell completion script, and the URL completer.

The scripts are click's: small shims that call `wscli` back with ``_WSCLI_COMPLETE`` set, so
completion always matches the installed CLI. The same text is committed under
``completions/`` by ``python -m wscli.docgen --write``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import click
from click.shell_completion import CompletionItem, get_completion_class

from wscli.cli.options import CONTEXT_SETTINGS

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_WSCLI_COMPLETE"
URL_SCHEMES = ("ws://", "wss://")
MAX_URLS = 50


def completion_script(shell: str, command: click.Command | None = None) -> str:
    """The completion script for ``shell`` (one of :data:`SHELLS`), ending in a newline."""
    if command is None:
        from wscli.cli import cli

        command = cli
    shell_class = get_completion_class(shell)
    if shell_class is None:
        raise ValueError(f"no completion for shell {shell!r}")
    source = shell_class(command, {}, "wscli", COMPLETE_VAR).source()
    return source.rstrip("\n") + "\n"


def history_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_STATE_HOME/wscli/history`` (``~/.local/state`` when the variable is unset)."""
    env = os.environ if environ is None else environ
    state = env.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "wscli" / "history"


def history_urls(text: str, incomplete: str = "") -> list[str]:
    """WebSocket URLs in history ``text`` starting with ``incomplete``, newest first.

    Accepts plain lines and prompt_toolkit's ``+line`` format; anything else is ignored.
    """
    seen: dict[str, None] = {}
    for raw in reversed(text.splitlines()):
        line = raw.strip().removeprefix("+").strip()
        if line.startswith(URL_SCHEMES) and " " not in line and line.startswith(incomplete):
            seen.setdefault(line, None)
    return list(seen)[:MAX_URLS]


def complete_url(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Shell completion for URL arguments: URLs from the history file (nothing if none)."""
    try:
        text = history_path().read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [CompletionItem(url) for url in history_urls(text, incomplete)]


@click.command(context_settings=CONTEXT_SETTINGS, short_help="Print a shell completion script.")
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the completion script for SHELL (bash, zsh or fish) on stdout.

    \b
    bash:  wscli completion bash > ~/.local/share/bash-completion/completions/wscli
    zsh:   wscli completion zsh > ~/.zfunc/_wscli   (with ~/.zfunc in fpath, before compinit)
    fish:  wscli completion fish > ~/.config/fish/completions/wscli.fish

    Or load it into the running shell: source <(wscli completion bash).
    """
    root = click.get_current_context().find_root().command
    click.echo(completion_script(shell, root), nl=False)
