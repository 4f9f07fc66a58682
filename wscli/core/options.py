"""Command-line options, each declared once: as the field of the frozen config that the code
reads.

A config is a class decorated with :func:`declared`; each field says where its value comes
from::

    @declared
    class PipePolicy:
        count: int | None = option(
            "-n", "--count", kind=Integer(min=1), metavar="N", default=None, help="..."
        )
        stable_after: float = fixed(10.0)  # not an option: said so

- :func:`option`: a command-line option (spellings, kind, default, help);
- :func:`argument`: a positional argument;
- :func:`group`: a nested config whose options join the command's;
- :func:`fixed`: not an option, on purpose.

The CLI (:mod:`wscli.cli.options`) turns :func:`declarations` into click parameters and
builds the config from click's values with :func:`build`; nothing here imports click, so a
config lives beside the code that reads it. A field with none of the four is an error as
soon as a command is built from its class: no option can silently fall back to a default.
One declaration may reach several configs of a command (a shared base class, e.g. the
``--timeout`` that both the pipe and the prompt obey): it is then one option feeding each.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, overload

T = TypeVar("T")

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:

    def dataclass_transform(**_: Any) -> Callable[[T], T]:
        """Only type checkers read it: at run time the class is a plain dataclass."""
        return lambda decorated: decorated


_KEY = "wscli.declaration"  # the field metadata key holding a field's declaration


# -- kinds: how the text on the command line becomes a value ----------------------------
@dataclasses.dataclass(frozen=True)
class Text:
    """Any string."""


@dataclasses.dataclass(frozen=True)
class Flag:
    """A boolean; ``--name/--no-name`` spellings make an on/off pair."""


@dataclasses.dataclass(frozen=True)
class Integer:
    """An integer, within ``min``..``max`` when given."""

    min: int | None = None
    max: int | None = None


@dataclasses.dataclass(frozen=True)
class Seconds:
    """A duration in seconds, 0 allowed (meaning "never" or "no limit") unless ``positive``."""

    positive: bool = False


@dataclasses.dataclass(frozen=True)
class Size:
    """A byte count: ``1048576``, ``64K``, ``1M``, ``4MiB``
    (see :func:`wscli.core.units.parse_size`)."""

    minimum: int = 1


@dataclasses.dataclass(frozen=True)
class Choice:
    """One of ``choices``."""

    choices: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class File:
    """The path of an existing regular file (certificates, keys, token files)."""


@dataclasses.dataclass(frozen=True)
class Parsed:
    """A value with its own notation (``80ms``, ``2%``): ``parse`` raises ValueError with
    the reason for text it cannot read."""

    name: str
    parse: Callable[[str], Any]


Kind = Text | Flag | Integer | Seconds | Size | Choice | File | Parsed

TEXT = Text()
FLAG = Flag()
FILE = File()


# -- declarations ------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, eq=False)
class Option:
    """One command-line option. ``default`` is what the command line means when the option
    is absent (``"1M"`` style text is not needed: a Size default is a number); ``convert``
    turns the parsed value (and the default) into the field's value (e.g. 0 into None)."""

    names: tuple[str, ...]
    help: str
    kind: Kind
    default: Any
    metavar: str | None = None
    envvar: str | None = None
    multiple: bool = False
    show_default: bool = True
    convert: Callable[[Any], Any] | None = None

    def value(self, given: Any) -> Any:
        """The field's value for what the command line gave (or the default)."""
        return given if self.convert is None else self.convert(given)

    @property
    def flag(self) -> str:
        """The spelling errors name: ``--max-queue`` (the on switch of a pair)."""
        longs = [name.split("/")[0] for name in self.names if name.startswith("--")]
        return longs[0] if longs else self.names[0]


@dataclasses.dataclass(frozen=True, eq=False)
class Argument:
    """A positional argument (``URL``); ``urls`` completes it with URLs used before."""

    metavar: str | None = None
    required: bool = True
    urls: bool = False


@dataclasses.dataclass(frozen=True, eq=False)
class Group:
    """A nested config: its declarations join those of the config holding it."""

    config: type[Any]


@dataclasses.dataclass(frozen=True, eq=False)
class Fixed:
    """Not an option, on purpose (a value the code fixes, e.g. a close timeout)."""


Declaration = Option | Argument | Group | Fixed


@overload
def option(
    *names: str,
    help: str,
    default: T,
    kind: Kind = ...,
    metavar: str | None = ...,
    envvar: str | None = ...,
    multiple: bool = ...,
    show_default: bool = ...,
) -> T: ...


@overload
def option(
    *names: str,
    help: str,
    default: Any,
    convert: Callable[[Any], T],
    kind: Kind = ...,
    metavar: str | None = ...,
    envvar: str | None = ...,
    multiple: bool = ...,
    show_default: bool = ...,
) -> T: ...


def option(
    *names: str,
    help: str,
    default: Any,
    convert: Callable[[Any], Any] | None = None,
    kind: Kind = TEXT,
    metavar: str | None = None,
    envvar: str | None = None,
    multiple: bool = False,
    show_default: bool = True,
) -> Any:
    """A field filled by the command-line option ``names`` (see :class:`Option`)."""
    declaration = Option(
        names, help, kind, default, metavar, envvar, multiple, show_default, convert
    )
    if convert is None:
        return dataclasses.field(default=default, kw_only=True, metadata={_KEY: declaration})
    # Converted when an instance is made without it, not at import: conversions may
    # import what `wscli --help` must not load.
    return dataclasses.field(
        default_factory=lambda: convert(default), kw_only=True, metadata={_KEY: declaration}
    )


def argument(
    *, metavar: str | None = None, urls: bool = False, default: Any = dataclasses.MISSING
) -> Any:
    """A field filled by a positional argument; optional when it has a ``default``."""
    declaration = Argument(metavar, default is dataclasses.MISSING, urls)
    return dataclasses.field(default=default, kw_only=True, metadata={_KEY: declaration})


def group(config: type[T]) -> T:
    """A field holding the nested config ``config``, built from the same command line."""
    declaration = Group(config)
    if all(_has_default(field) for field in dataclasses.fields(config)):  # type: ignore[arg-type]
        return dataclasses.field(default_factory=config, kw_only=True, metadata={_KEY: declaration})
    return dataclasses.field(kw_only=True, metadata={_KEY: declaration})  # type: ignore[no-any-return]


def fixed(default: T) -> T:
    """A field that is not an option: the code fixes its value (tests may set it)."""
    return dataclasses.field(default=default, kw_only=True, metadata={_KEY: Fixed()})


@dataclass_transform(
    frozen_default=True, kw_only_default=True, field_specifiers=(option, argument, group, fixed)
)
def declared(cls: type[T]) -> type[T]:
    """Make ``cls`` a frozen, keyword-only dataclass whose fields are declarations."""
    return dataclasses.dataclass(frozen=True, kw_only=True)(cls)


def _has_default(field: dataclasses.Field[Any]) -> bool:
    missing = dataclasses.MISSING
    return field.default is not missing or field.default_factory is not missing


def _declaration(config: type[Any], field: dataclasses.Field[Any]) -> Declaration:
    found = field.metadata.get(_KEY)
    if not isinstance(found, Option | Argument | Group | Fixed):
        raise TypeError(
            f"{config.__name__}.{field.name} is neither an option, an argument, a group nor "
            "fixed: declare it with option(), argument(), group() or fixed()"
        )
    return found


def declarations(config: type[Any]) -> list[tuple[str, Option | Argument]]:
    """Every option and argument of ``config`` and its groups, in order, as (field name,
    declaration); a declaration reached twice (a shared base class) is listed once.

    Raises TypeError for an undeclared field, or for two declarations of one name.
    """
    found: dict[str, Option | Argument] = {}
    _collect(config, found)
    return list(found.items())


def _collect(config: type[Any], found: dict[str, Option | Argument]) -> None:
    if not dataclasses.is_dataclass(config):
        raise TypeError(f"{config.__name__} is not a declared config")
    for field in dataclasses.fields(config):
        declaration = _declaration(config, field)
        if isinstance(declaration, Group):
            _collect(declaration.config, found)
        elif isinstance(declaration, Option | Argument):
            known = found.setdefault(field.name, declaration)
            if known is not declaration:
                raise TypeError(f"{config.__name__}.{field.name}: declared twice")
    spellings: dict[str, str] = {}
    for name, declaration in found.items():
        for spelling in _spellings(declaration):
            if spellings.setdefault(spelling, name) != name:
                raise TypeError(f"{spelling} is declared by both {spellings[spelling]} and {name}")


def _spellings(declaration: Option | Argument) -> list[str]:
    if isinstance(declaration, Argument):
        return []
    return [part for name in declaration.names for part in name.split("/")]


def build(config: type[T], given: Mapping[str, Any]) -> T:
    """``config`` with every option and argument taken from ``given`` (field name to the
    value the command line parsed), converted, and every group built the same way.

    Raises TypeError when ``given`` lacks a declared value or holds one no field takes.
    """
    names = {name for name, _ in declarations(config)}
    missing, unknown = names - set(given), set(given) - names
    if missing or unknown:
        raise TypeError(
            f"{config.__name__}: no value for {sorted(missing)}, no field for {sorted(unknown)}"
        )
    converted: dict[str, Any] = {}
    return _build(config, given, converted)


def _build(config: type[T], given: Mapping[str, Any], converted: dict[str, Any]) -> T:
    values: dict[str, Any] = {}
    for field in dataclasses.fields(config):  # type: ignore[arg-type]
        declaration = _declaration(config, field)
        if isinstance(declaration, Group):
            values[field.name] = _build(declaration.config, given, converted)
        elif isinstance(declaration, Option):
            if field.name not in converted:
                converted[field.name] = declaration.value(given[field.name])
            values[field.name] = converted[field.name]
        elif isinstance(declaration, Argument):
            values[field.name] = given[field.name]
    return config(**values)


def changed(config: object) -> list[Option]:
    """The options of ``config`` (not of its groups) whose value is not their default."""
    found = []
    for field in dataclasses.fields(config):  # type: ignore[arg-type]
        declaration = _declaration(type(config), field)
        if not isinstance(declaration, Option):
            continue
        if getattr(config, field.name) != declaration.value(declaration.default):
            found.append(declaration)
    return found


def zero_is_none(value: T) -> T | None:
    """0 on the command line means "never" or "no limit": None to the code."""
    return value or None
