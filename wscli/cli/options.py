"""From a command's declared config (:mod:`wscli.core.options`) to a click command, and back.

:func:`command` makes a click command whose options are exactly the declarations of a
config class; click's values are built into that frozen config (:func:`~wscli.core.options
.build`) and handed to the function as its one argument. The options themselves are
declared beside the code that reads them (``serve/config.py``, ``connect/config.py``,
``proxy/config.py``, ``handshake/config.py``, shared ones in ``core/clientoptions.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from wscli.core.options import (
    Argument,
    Choice,
    File,
    Flag,
    Integer,
    Option,
    Parsed,
    Seconds,
    Size,
    Text,
    build,
    declarations,
)
from wscli.core.units import format_size, parse_size

C = TypeVar("C")

CONTEXT_SETTINGS: dict[str, Any] = {
    "help_option_names": ["-h", "--help"],
    "max_content_width": 100,
}


class ByteSize(click.ParamType):  # type: ignore[type-arg]
    """A byte count: ``1048576``, ``64K``, ``1M``, ``4MiB`` (binary multiples), >= ``minimum``."""

    name = "bytes"

    def __init__(self, minimum: int = 1) -> None:
        self.minimum = minimum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            size = parse_size(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        if size < self.minimum:
            self.fail(f"{value!r} is less than {self.minimum} byte(s)", param, ctx)
        return size


class ParsedType(click.ParamType):  # type: ignore[type-arg]
    """A value with its own notation (``80ms``, ``2%``), read by a :class:`Parsed` kind."""

    def __init__(self, kind: Parsed) -> None:
        self.name = kind.name
        self.parse = kind.parse

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value  # a default, already a value
        try:
            return self.parse(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def complete_url(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[click.shell_completion.CompletionItem]:
    """Shell completion for URL arguments: URLs opened before or typed at the prompt."""
    # Imported here: pathlib and its imports would cost every start of wscli ~10 ms.
    from wscli.net.statefiles import recent_urls

    return [click.shell_completion.CompletionItem(url) for url in recent_urls(incomplete)]


def _click_type(option: Option) -> tuple[Any, str | None]:
    """click's type for ``option``'s kind, and the metavar that kind shows by default."""
    kind = option.kind
    if isinstance(kind, Integer):
        if kind.min is None and kind.max is None:
            return click.INT, None
        return click.IntRange(kind.min, kind.max), None
    if isinstance(kind, Seconds):
        return click.FloatRange(min=0, min_open=kind.positive), "SECONDS"
    if isinstance(kind, Size):
        return ByteSize(kind.minimum), None
    if isinstance(kind, Choice):
        return click.Choice(kind.choices), None
    if isinstance(kind, File):
        return click.Path(exists=True, dir_okay=False), "FILE"
    if isinstance(kind, Parsed):
        return ParsedType(kind), None
    assert isinstance(kind, Text | Flag)
    return None, None


def click_parameter(name: str, declaration: Option | Argument) -> click.Parameter:
    """The click parameter for one declaration; ``name`` is the field it fills."""
    if isinstance(declaration, Argument):
        return click.Argument(
            [name],
            metavar=declaration.metavar,
            required=declaration.required,
            shell_complete=complete_url if declaration.urls else None,
        )
    kind_type, metavar = _click_type(declaration)
    default = declaration.default
    if isinstance(declaration.kind, Size) and default is not None:
        default = format_size(default)  # shown as the command line writes it: 1M
    extra: dict[str, Any] = {}
    if isinstance(declaration.kind, Flag) and not any("/" in n for n in declaration.names):
        extra["is_flag"] = True
    if declaration.envvar is not None:
        extra.update(envvar=declaration.envvar, show_envvar=True)
    return click.Option(
        [*declaration.names, name],
        type=kind_type,
        default=default,
        show_default=declaration.show_default and default is not None,
        metavar=declaration.metavar or metavar,
        multiple=declaration.multiple,
        help=declaration.help,
        **extra,
    )


def command(config: type[C], **attrs: Any) -> Callable[[Callable[[C], Any]], click.Command]:
    """A click command taking the options ``config`` declares; the decorated function is
    called with the config built from them (its name and docstring are the command's)."""
    params = [click_parameter(name, declaration) for name, declaration in declarations(config)]

    def decorate(run: Callable[[C], Any]) -> click.Command:
        def callback(**values: Any) -> Any:
            return run(build(config, values))

        return click.Command(
            run.__name__.replace("_", "-"),
            callback=callback,
            params=params,
            help=run.__doc__,
            context_settings=CONTEXT_SETTINGS,
            **attrs,
        )

    return decorate


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
