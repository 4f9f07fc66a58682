"""Describe the click command tree as plain data (:mod:`wscli.docgen.model`).

The one place the doc generator touches click: defaults, environment variables and ranges
are taken from click's own ``get_help_extra`` so the man pages, docs/reference.md and
``--help`` agree by construction.
"""

from __future__ import annotations

import inspect

import click

from wscli.docgen.model import ArgumentDoc, CommandDoc, OptionDoc


def describe_option(option: click.Option, ctx: click.Context) -> OptionDoc:
    """One click option as :class:`OptionDoc` (what ``--help`` shows, field by field)."""
    extra = option.get_help_extra(ctx)
    takes_value = not (option.is_flag or option.count)
    choices: tuple[str, ...] = ()
    if isinstance(option.type, click.Choice):
        choices = tuple(str(choice) for choice in option.type.choices)
    return OptionDoc(
        names=tuple(option.opts),
        secondary_names=tuple(option.secondary_opts),
        help=option.help or "",
        metavar=option.make_metavar(ctx) if takes_value else None,
        default=extra.get("default"),
        envvars=tuple(extra.get("envvars", ())),
        choices=choices,
        value_range=extra.get("range"),
        multiple=option.multiple,
        required=option.required,
    )


def describe_command(
    command: click.Command, name: str, parent: click.Context | None = None
) -> CommandDoc:
    """``command`` and, for a group, its visible subcommands, as :class:`CommandDoc`."""
    ctx = click.Context(command, info_name=name, parent=parent, **command.context_settings)
    options: list[OptionDoc] = []
    arguments: list[ArgumentDoc] = []
    for param in command.get_params(ctx):
        if isinstance(param, click.Option) and not param.hidden:
            options.append(describe_option(param, ctx))
        elif isinstance(param, click.Argument):
            arguments.append(ArgumentDoc(param.make_metavar(ctx), param.help or ""))
    subcommands: list[CommandDoc] = []
    if isinstance(command, click.Group):
        for sub_name in command.list_commands(ctx):
            sub = command.get_command(ctx, sub_name)
            if sub is not None and not sub.hidden:
                subcommands.append(describe_command(sub, sub_name, ctx))
    help_text = inspect.cleandoc((command.help or "").split("\f", 1)[0])
    return CommandDoc(
        path=tuple(ctx.command_path.split()),
        short_help=command.get_short_help_str(limit=200),
        help=help_text,
        usage=" ".join(command.collect_usage_pieces(ctx)),
        options=tuple(options),
        arguments=tuple(arguments),
        epilog=inspect.cleandoc(command.epilog or ""),
        subcommands=tuple(subcommands),
    )


def describe_cli() -> CommandDoc:
    """The whole `wscli` command tree."""
    from wscli.cli import cli

    return describe_command(cli, "wscli")
