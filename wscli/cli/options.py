"""Reusable click options: each option shared by several commands is defined once here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

CONTEXT_SETTINGS: dict[str, Any] = {
    "help_option_names": ["-h", "--help"],
    "max_content_width": 100,
}


def _stack(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    def apply(func: F) -> F:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


def timeout_option(default: float | None, help: str) -> Callable[[F], F]:
    """``--timeout SECONDS``; every network wait is bounded."""
    return click.option(
        "--timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=default,
        show_default=default is not None,
        metavar="SECONDS",
        help=help,
    )


header_option = click.option(
    "-H",
    "--header",
    "headers",
    multiple=True,
    metavar="'NAME: VALUE'",
    help="Extra request header (repeatable). '@FILE' reads header lines from FILE, "
    "'env:VAR' from the environment variable VAR, so secrets stay out of ps.",
)

subprotocol_option = click.option(
    "-s",
    "--subprotocol",
    "subprotocols",
    multiple=True,
    metavar="NAME",
    help="Offer this subprotocol (repeatable, offered in order).",
)

origin_option = click.option(
    "--origin", metavar="ORIGIN", help="Send this Origin header (e.g. https://example.com)."
)

compression_option = click.option(
    "--compression/--no-compression",
    default=True,
    show_default=True,
    help="Offer permessage-deflate compression.",
)

tls_client_options = _stack(
    click.option(
        "-k",
        "--insecure",
        is_flag=True,
        help="Do not verify the server's TLS certificate or host name.",
    ),
    click.option(
        "--cacert",
        type=click.Path(exists=True, dir_okay=False),
        metavar="FILE",
        help="Trust the CA certificates in FILE (PEM) as well as the system ones.",
    ),
)

json_option = click.option(
    "--json", "json_output", is_flag=True, help="Write machine-readable JSON to stdout."
)
