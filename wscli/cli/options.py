"""Reusable click options: each option shared by several commands is defined once here."""

from __future__ import annotations

import re
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


def seconds_option(
    *names: str, help: str, default: float | None = None, positive: bool = False
) -> Callable[[F], F]:
    """A ``SECONDS`` option: 0 allowed (meaning "never" or "no limit") unless ``positive``."""
    return click.option(
        *names,
        type=click.FloatRange(min=0, min_open=positive),
        default=default,
        show_default=default is not None,
        metavar="SECONDS",
        help=help,
    )


_SIZE = re.compile(r"(?i)^\s*(\d+)\s*(k|m|g)?i?b?\s*$")


class ByteSize(click.ParamType):  # type: ignore[type-arg]
    """A byte count: ``1048576``, ``64K``, ``1M``, ``4MiB`` (binary multiples), >= ``minimum``."""

    name = "bytes"

    def __init__(self, minimum: int = 1) -> None:
        self.minimum = minimum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        match = _SIZE.match(str(value))
        if match is None:
            self.fail(f"{value!r} is not a size like 1048576, 64K or 1M", param, ctx)
        number = int(match[1])
        unit = (match[2] or "").lower()
        size = number * {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}[unit]
        if size < self.minimum:
            self.fail(f"{value!r} is less than {self.minimum} byte(s)", param, ctx)
        return size


def size_option(*names: str, default: str, help: str) -> Callable[[F], F]:
    """A ``BYTES`` option taking ``1048576``, ``64K``, ``1M`` (see :class:`ByteSize`)."""
    return click.option(*names, type=ByteSize(), default=default, show_default=True, help=help)


def file_option(*names: str, help: str) -> Callable[[F], F]:
    """An existing regular ``FILE`` (certificates, keys), passed on as a path string."""
    return click.option(
        *names, type=click.Path(exists=True, dir_okay=False), metavar="FILE", help=help
    )


def timeout_option(default: float | None, help: str) -> Callable[[F], F]:
    """``--timeout SECONDS`` (more than 0); every network wait is bounded."""
    return seconds_option("--timeout", help=help, default=default, positive=True)


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
    file_option(
        "--cacert", help="Trust the CA certificates in FILE (PEM) as well as the system ones."
    ),
)

json_option = click.option(
    "--json", "json_output", is_flag=True, help="Write machine-readable JSON to stdout."
)

allowed_host_option = click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    metavar="NAME",
    help="Also answer requests whose Host is NAME (repeatable). By default only loopback "
    "names, the bound address and, for 0.0.0.0 or ::, this machine's names and addresses are "
    "answered (others get 403: defeats DNS rebinding). '*' answers any Host: then a web page "
    "on a name that resolves to this machine can read what is served here.",
)


def warn_out_of_date_certificate(certfile: str | None) -> None:
    """One ``wscli: warning:`` line on stderr when the ``--certfile`` a server listens with
    has expired or is not valid yet: it still starts, but every client will refuse it."""
    if certfile is None:
        return
    import sys

    from wscli.net.tls import certificate_problem

    problem = certificate_problem(certfile)
    if problem is not None:
        sys.stderr.write(f"wscli: warning: --certfile {certfile}: {problem}\n")
        sys.stderr.flush()
