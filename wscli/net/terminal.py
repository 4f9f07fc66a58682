"""The one place that decides what the terminal is and builds the consoles that write to it.

Whether stdin/stdout/stderr are terminals and whether to use colour is decided once, in
:class:`Environment`, so tests can say "stdout is a pipe" by building one by hand.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal, TextIO

if TYPE_CHECKING:
    # Imported when a console is made: shell completion calls the program back and must
    # not pay for rich.
    from rich.console import Console

ColorChoice = Literal["auto", "always", "never"]


@dataclasses.dataclass(frozen=True)
class Environment:
    """Facts about where wscli runs, decided once at start-up."""

    stdin_isatty: bool
    stdout_isatty: bool
    stderr_isatty: bool
    color_stdout: bool
    color_stderr: bool

    @property
    def interactive(self) -> bool:
        """True when both stdin and stdout are terminals (the prompt may be used)."""
        return self.stdin_isatty and self.stdout_isatty

    @classmethod
    def detect(
        cls,
        color: ColorChoice = "auto",
        environ: Mapping[str, str] | None = None,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
    ) -> Environment:
        """Look at the real streams and environment variables."""
        env = os.environ if environ is None else environ
        tty_in = _isatty(stdin or sys.stdin)
        tty_out = _isatty(stdout or sys.stdout)
        tty_err = _isatty(stderr or sys.stderr)
        return cls(
            stdin_isatty=tty_in,
            stdout_isatty=tty_out,
            stderr_isatty=tty_err,
            color_stdout=decide_color(color, env, tty_out),
            color_stderr=decide_color(color, env, tty_err),
        )


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


def decide_color(choice: ColorChoice, environ: Mapping[str, str], isatty: bool) -> bool:
    """Colour: explicit choice, else NO_COLOR (non-empty: off), else FORCE_COLOR, else TTY."""
    if choice == "always":
        return True
    if choice == "never":
        return False
    if environ.get("NO_COLOR"):
        return False
    if environ.get("FORCE_COLOR"):
        return True
    return isatty and environ.get("TERM") != "dumb"


def make_console(file: TextIO, color: bool) -> Console:
    """A rich Console for ``file``; peer text must be printed with markup and highlight off.

    ``soft_wrap`` keeps machine-readable lines whole (rich hard-wraps at 80 columns off a
    terminal otherwise).
    """
    console = _console(file, color, "auto" if color else None)
    if color and console.color_system is None:
        # Colour was asked for (e.g. FORCE_COLOR with TERM=dumb) but rich's own detection
        # found no colour support: fall back to the 16 standard colours.
        console = _console(file, color, "standard")
    return console


def _console(
    file: TextIO, color: bool, color_system: Literal["auto", "standard"] | None
) -> Console:
    from rich.console import Console

    return Console(
        file=file,
        force_terminal=color,
        no_color=not color,
        color_system=color_system,
        soft_wrap=True,
        highlight=False,
        markup=True,
        emoji=False,
    )
