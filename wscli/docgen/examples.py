"""Check that an example shell line only uses options the CLI has (pure, no click).

Examples are hand-written prose; this keeps them honest as options are added or renamed.
"""

from __future__ import annotations

import shlex

from wscli.docgen.model import CommandDoc, Example


def invocations(line: str) -> list[list[str]]:
    """The argument lists given to ``wscli`` in a shell line (pipes, ``<( )`` and all)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    found: list[list[str]] = []
    current: list[str] | None = None
    for token in lexer:
        if token and all(char in "();<>|&" for char in token):
            current = None
        elif current is not None:
            current.append(token)
        elif token == "wscli":
            current = []
            found.append(current)
    return found


def argument_problems(args: list[str], root: CommandDoc) -> list[str]:
    """What is wrong with ``wscli ARGS``: unknown options or commands (empty: nothing)."""
    problems: list[str] = []
    command = root
    index = 0
    while index < len(args):
        token = args[index]
        index += 1
        if token == "--":
            break
        if token.startswith("-") and len(token) > 1:
            name = token.split("=", 1)[0]
            option = next((o for o in command.options if name in o.all_names), None)
            if option is None:
                problems.append(f"{command.name} has no option {name}")
            elif option.metavar and "=" not in token:
                index += 1  # skip the option's value
        elif command.subcommands:
            sub = next((c for c in command.subcommands if c.path[-1] == token), None)
            if sub is None:
                problems.append(f"{command.name} has no command {token}")
                break
            command = sub
    return problems


def example_problems(example: Example, root: CommandDoc) -> list[str]:
    """Problems of every ``wscli`` invocation in an example (empty: the example is true)."""
    calls = invocations(example.command)
    if not calls:
        return [f"no wscli invocation in {example.command!r}"]
    return [problem for args in calls for problem in argument_problems(args, root)]
