"""`wscli serve`: not built yet (see its issue)."""

from __future__ import annotations

import click

from wscli.cli.options import CONTEXT_SETTINGS
from wscli.errors import WscliError


@click.command(context_settings=CONTEXT_SETTINGS, short_help="(not implemented yet)")
@click.argument("args", nargs=-1)
def serve(args: tuple[str, ...]) -> None:
    """Not implemented yet."""
    raise WscliError("wscli serve is not implemented yet")
