"""Plain data describing the CLI for the renderers: no click, no I/O.

:mod:`wscli.cli.describe` fills these from the click definitions; the renderers in
:mod:`wscli.docgen` only read them, so they can be tested with hand-built data.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class OptionDoc:
    """One option as a reader of the docs sees it."""

    names: tuple[str, ...]
    """Spellings, short first: ``("-H", "--header")``."""
    help: str
    metavar: str | None = None
    """Value placeholder (``SECONDS``); None for flags."""
    secondary_names: tuple[str, ...] = ()
    """The off switch of a boolean pair: ``("--no-compression",)``."""
    default: str | None = None
    """The default as ``--help`` shows it (None: not shown)."""
    envvars: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    value_range: str | None = None
    """E.g. ``x>0`` for a number range."""
    multiple: bool = False
    required: bool = False

    @property
    def all_names(self) -> tuple[str, ...]:
        """Every spelling, the off switch included."""
        return self.names + self.secondary_names


@dataclasses.dataclass(frozen=True)
class ArgumentDoc:
    """One positional argument."""

    metavar: str
    """As shown in usage: ``URL``, ``[ARGS]...``."""
    help: str = ""


@dataclasses.dataclass(frozen=True)
class CommandDoc:
    """A command (or the top-level group) and everything under it."""

    path: tuple[str, ...]
    """``("wscli",)`` or ``("wscli", "connect")``."""
    short_help: str
    help: str
    """The full help text, click's ``\\b`` no-rewrap markers kept."""
    usage: str
    """What follows the command path in the usage line: ``[OPTIONS] URL``."""
    options: tuple[OptionDoc, ...] = ()
    arguments: tuple[ArgumentDoc, ...] = ()
    epilog: str = ""
    subcommands: tuple[CommandDoc, ...] = ()

    @property
    def name(self) -> str:
        """``wscli connect``."""
        return " ".join(self.path)

    @property
    def page(self) -> str:
        """Man page name: ``wscli-connect``."""
        return "-".join(self.path)

    def walk(self) -> tuple[CommandDoc, ...]:
        """This command and every command below it, depth first."""
        found: list[CommandDoc] = [self]
        for sub in self.subcommands:
            found.extend(sub.walk())
        return tuple(found)


@dataclasses.dataclass(frozen=True)
class Example:
    """One example invocation for a man page."""

    command: str
    """The shell line, e.g. ``wscli handshake -s chat ws://127.0.0.1:3000/chat``."""
    explanation: str


@dataclasses.dataclass(frozen=True)
class Variable:
    """An environment variable and what it does."""

    name: str
    meaning: str
