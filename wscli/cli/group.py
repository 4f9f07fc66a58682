"""The top-level `wscli` group: its ``--color`` option, the Environment it decides, and the
boundary that lets Ctrl-C and a closed stdout leave click as wscli's own exceptions."""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator
from typing import Any

import click

from wscli import __version__
from wscli.cli.options import CONTEXT_SETTINGS
from wscli.core.exitcodes import exit_code_table
from wscli.net.terminal import ColorChoice, Environment

EXIT_STATUS_EPILOG = "\b\nExit status:\n" + exit_code_table()


class Interrupted(Exception):
    """Ctrl-C reached the top: raised past click so it cannot print its own blank line."""


class OutputClosed(Exception):
    """stdout's reader went away: raised past click, which would turn EPIPE into exit 1."""


@contextlib.contextmanager
def _boundary() -> Iterator[None]:
    try:
        yield
    except KeyboardInterrupt:
        raise Interrupted from None
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            raise OutputClosed from None
        raise


class WscliGroup(click.Group):
    """The top-level group; Ctrl-C and a closed stdout leave it as wscli's own exceptions.

    Help and version text are written while the context is made, commands run in invoke:
    both are covered.
    """

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        with _boundary():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        with _boundary():
            return super().invoke(ctx)


@click.group(
    cls=WscliGroup,
    context_settings=CONTEXT_SETTINGS,
    epilog=EXIT_STATUS_EPILOG,
)
@click.version_option(__version__, "-V", "--version", prog_name="wscli")
@click.option(
    "--color",
    type=click.Choice(["auto", "always", "never"]),
    default="auto",
    show_default=True,
    envvar="WSCLI_COLOR",
    show_envvar=True,
    help="Use colour on terminals; 'auto' honours NO_COLOR and FORCE_COLOR.",
)
@click.pass_context
def cli(ctx: click.Context, color: ColorChoice) -> None:
    """wscli: debug, test and script WebSockets.

    \b
    wscli serve             broadcast chat server with a browser page
    wscli connect URL       interactive client; a clean pipe tool in scripts
    wscli handshake URL     show and verify the raw opening handshake
    wscli proxy URL         show a live conversation; inject faults
    wscli top URL           watch a running wscli serve live
    """
    ctx.obj = Environment.detect(color)


def get_environment() -> Environment:
    """The Environment decided by the top-level group (or detected now, outside one)."""
    ctx = click.get_current_context(silent=True)
    found = ctx.find_object(Environment) if ctx is not None else None
    return found if found is not None else Environment.detect()
