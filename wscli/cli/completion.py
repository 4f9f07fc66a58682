"""`wscli completion SHELL`: print the shell completion script.

The scripts are click's: small shims that call `wscli` back with ``_WSCLI_COMPLETE`` set, so
completion always matches the installed CLI. The same text is committed under
``completions/`` by ``python -m wscli.docgen --write``.
"""

from __future__ import annotations

import os
import re

import click
from click.shell_completion import (
    BashComplete,
    CompletionItem,
    ZshComplete,
    add_completion_class,
    get_completion_class,
    split_arg_string,
)

from wscli.cli.options import CONTEXT_SETTINGS

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_WSCLI_COMPLETE"


# click's bash shim, changed to hand wscli the line up to the cursor (COMP_LINE) besides
# COMP_WORDS: bash splits COMP_WORDS at COMP_WORDBREAKS (':' and '='), which cuts
# ws://host:port/ URLs and --option=value apart. Values are added quoted, not re-split.
_SOURCE_BASH = """\
%(complete_func)s() {
    local IFS=$'\\n'
    local response completion type value

    response=$(env COMP_WORDS="${COMP_WORDS[*]}" COMP_CWORD="$COMP_CWORD" \\
        COMP_LINE="${COMP_LINE:0:COMP_POINT}" COMP_CUR="${COMP_WORDS[COMP_CWORD]}" \\
        %(complete_var)s=bash_complete "$1")

    for completion in $response; do
        IFS=',' read -r type value <<< "$completion"

        if [[ $type == 'dir' ]]; then
            COMPREPLY=()
            compopt -o dirnames
        elif [[ $type == 'file' ]]; then
            COMPREPLY=()
            compopt -o default
        elif [[ $type == 'plain' ]]; then
            COMPREPLY+=("$value")
        fi
    done

    return 0
}

%(complete_func)s_setup() {
    complete -o nosort -F %(complete_func)s %(prog_name)s
}

%(complete_func)s_setup;
"""


class LineBashComplete(BashComplete):
    """Bash completion that reads the line up to the cursor, so URLs stay whole.

    bash replaces only its own current word (the text after the last ``:`` or ``=``), so
    each value loses the part of the argument before that word (what bash-completion's
    ``__ltrim_colon_completions`` does for colons).
    """

    source_template = _SOURCE_BASH
    _argument = ""  # the argument being completed, as wscli sees it

    def get_completion_args(self) -> tuple[list[str], str]:
        line = os.environ.get("COMP_LINE", "")
        if not line:  # an older script, or called by hand: click's way
            args, incomplete = super().get_completion_args()
        else:
            args = split_arg_string(line)
            incomplete = "" if line[-1].isspace() else (args.pop() if args else "")
            args = args[1:]
        self._argument = incomplete
        return args, incomplete

    def format_completion(self, item: CompletionItem[object]) -> str:
        value = str(item.value)
        if item.type == "plain" and "COMP_CUR" in os.environ:
            value = bash_word(self._argument, os.environ.get("COMP_CUR", ""), value)
        return f"{item.type},{value}"


add_completion_class(LineBashComplete)

# click's zsh script, with the completion function named like the file (_wscli). click's
# defines _wscli_completion and, when autoloaded from fpath, calls it once; the second <Tab>
# then runs the file again as _wscli, which only registers _wscli_completion, so nothing is
# offered until the third. Redefining _wscli itself makes every <Tab> complete.
_SOURCE_ZSH = """\
#compdef %(prog_name)s

%(complete_func)s() {
    local -a completions
    local -a completions_with_descriptions
    local -a response
    (( ! $+commands[%(prog_name)s] )) && return 1

    local -x COMP_WORDS="${words[*]}" COMP_CWORD=$((CURRENT-1))
    response=("${(@f)$(%(complete_var)s=zsh_complete %(prog_name)s)}")

    for type key descr in ${response}; do
        if [[ "$type" == "plain" ]]; then
            if [[ "$descr" == "_" ]]; then
                completions+=("$key")
            else
                completions_with_descriptions+=("$key":"$descr")
            fi
        elif [[ "$type" == "dir" ]]; then
            _path_files -/
        elif [[ "$type" == "file" ]]; then
            _path_files -f
        fi
    done

    if [ -n "$completions_with_descriptions" ]; then
        _describe -V unsorted completions_with_descriptions -U
    fi

    if [ -n "$completions" ]; then
        compadd -U -V unsorted -a completions
    fi
}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    # autoloaded from fpath: this file is the body of %(complete_func)s; complete now
    %(complete_func)s "$@"
else
    # eval/source/.: register the function for later
    compdef %(complete_func)s %(prog_name)s
fi
"""


class AutoloadZshComplete(ZshComplete):
    """click's zsh completion, its function named ``_wscli`` like the fpath file."""

    source_template = _SOURCE_ZSH

    @property
    def func_name(self) -> str:
        return "_" + re.sub(r"\W", "", self.prog_name.replace("-", "_"))


add_completion_class(AutoloadZshComplete)


def bash_word(argument: str, current: str, value: str) -> str:
    """The text bash must put in place of its current word ``current`` so that the whole
    ``argument`` (as wscli sees it) becomes ``value``.

    ``--color=al`` is one argument but two bash words (``--color=`` ``al``); click
    completes the part after ``=``, bash replaces only ``al``.
    """
    if not argument.endswith(current):
        return value  # quoting or escapes: leave it to bash
    completed = argument
    if argument.startswith("-") and "=" in argument:
        completed = argument.partition("=")[2]
    full = argument[: len(argument) - len(completed)] + value
    before_word = argument[: len(argument) - len(current)]
    return full[len(before_word) :] if full.startswith(before_word) else value


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


@click.command(context_settings=CONTEXT_SETTINGS, short_help="Print a shell completion script.")
@click.argument("shell", type=click.Choice(SHELLS), metavar="SHELL")
def completion(shell: str) -> None:
    """Print the completion script for SHELL (bash, zsh or fish) on stdout.

    Install it where the shell looks for completions (for zsh, a directory in fpath
    before compinit runs):

    \b
    wscli completion bash > ~/.local/share/bash-completion/completions/wscli
    wscli completion zsh > ~/.zfunc/_wscli
    wscli completion fish > ~/.config/fish/completions/wscli.fish

    Or load it into the running shell: source <(wscli completion bash).
    """
    root = click.get_current_context().find_root().command
    click.echo(completion_script(shell, root), nl=False)
