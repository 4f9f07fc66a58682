"""wscli.core.options: one declaration per option; a field without one, two declarations of
one name, a missing or an unknown value are errors, never a silent default."""

from __future__ import annotations

import dataclasses

import click
import pytest

from wscli.cli.connect import connect
from wscli.cli.handshake import handshake
from wscli.cli.proxy import proxy
from wscli.cli.serve import serve
from wscli.connect.config import ConnectConfig
from wscli.core.options import (
    FLAG,
    Integer,
    Option,
    build,
    changed,
    declarations,
    declared,
    fixed,
    group,
    option,
    zero_is_none,
)
from wscli.handshake.config import HandshakeConfig
from wscli.proxy.config import ProxyConfig
from wscli.serve.config import ServeConfig


@declared
class Verbosity:
    verbose: bool = option("-v", kind=FLAG, default=False, help="Say more.")


@declared
class Inner(Verbosity):
    count: int | None = option("-n", kind=Integer(min=1), default=None, help="How many.")
    limit: float | None = option("--limit", default=0.0, convert=zero_is_none, help="0: none.")


@declared
class Outer(Verbosity):
    inner: Inner = group(Inner)
    settle: float = fixed(2.0)


def test_declarations_are_listed_once_in_field_order() -> None:
    found = declarations(Outer)
    assert [name for name, _ in found] == ["verbose", "count", "limit"]
    assert all(isinstance(declaration, Option) for _, declaration in found)


def test_build_converts_and_shares_one_value() -> None:
    outer = build(Outer, {"verbose": True, "count": 3, "limit": 0.0})
    assert outer == Outer(verbose=True, inner=Inner(verbose=True, count=3, limit=None))
    assert outer.settle == 2.0  # fixed: not an option, its default
    assert Inner().limit is None  # the default is converted too
    with pytest.raises(dataclasses.FrozenInstanceError):
        outer.verbose = False  # type: ignore[misc]


def test_missing_and_unknown_values_are_errors() -> None:
    with pytest.raises(TypeError, match=r"no value for \['limit'\], no field for \[\]"):
        build(Outer, {"verbose": True, "count": 3})
    with pytest.raises(TypeError, match=r"no field for \['colour'\]"):
        build(Outer, {"verbose": True, "count": 3, "limit": 1.0, "colour": "red"})


def test_an_undeclared_field_is_an_error() -> None:
    @declared
    class Loose:
        name: str = "x"

    with pytest.raises(TypeError, match=r"Loose\.name is neither an option, an argument"):
        declarations(Loose)


def test_two_declarations_of_one_name_or_spelling_are_errors() -> None:
    @declared
    class Again(Verbosity):
        inner: Inner = group(Inner)
        verbose2: bool = option("-v", kind=FLAG, default=False, help="Clash.")

    with pytest.raises(TypeError, match="-v is declared by both verbose and verbose2"):
        declarations(Again)

    @declared
    class Redeclared:
        inner: Inner = group(Inner)
        count: int = option("--count", default=1, help="Another count.")

    with pytest.raises(TypeError, match=r"Redeclared\.count: declared twice"):
        declarations(Redeclared)


def test_changed_names_the_options_away_from_their_default() -> None:
    assert changed(Inner()) == []
    assert [option.flag for option in changed(Inner(count=2, limit=None))] == ["-n"]


@pytest.mark.parametrize(
    ("config", "command", "arguments"),
    [
        (ServeConfig, serve, []),
        (ConnectConfig, connect, ["URL"]),
        (HandshakeConfig, handshake, ["[URL]"]),
        (ProxyConfig, proxy, ["UPSTREAM_URL"]),
    ],
)
def test_each_command_takes_exactly_its_declarations(
    config: type, command: click.Command, arguments: list[str]
) -> None:
    names = [name for name, _ in declarations(config)]
    assert [param.name for param in command.params] == names
    context = command.make_context(command.name, ["x"] if arguments else [])
    shown = [p.make_metavar(context) for p in command.params if isinstance(p, click.Argument)]
    assert shown == arguments
