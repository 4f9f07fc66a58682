"""Architecture boundaries, read from the source and from a real import
(docs/architecture.md).

The rules are about packages, not file lists, so a new module is covered the day it lands:

- ``wscli/core`` is pure: it imports no asyncio or ssl even indirectly (checked by importing
  it in a fresh interpreter and reading ``sys.modules``), and names no socket, thread,
  subprocess or event loop itself;
- the command packages (``connect``, ``handshake``, ``serve``, ``proxy``, ``replay``,
  ``top``) never import each other: what two of them share lives in ``core``, ``net`` or ``wire``;
- ``core``, ``net`` and ``wire`` (the connection engine) import no command package, and
  they stack: ``core`` imports only ``core``, ``net`` nothing of ``wire``;
- only ``wscli/cli`` imports click, and nothing below the CLI imports it;
- only ``wscli/connect/repl.py`` imports prompt_toolkit;
- only the entry points end the process.
"""

from __future__ import annotations

import ast
import functools
import json
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from tests.support import nodes

PACKAGE = Path(__file__).resolve().parent.parent / "wscli"
COMMANDS = ("connect", "handshake", "serve", "proxy", "replay", "top")
SHARED = ("core", "net", "wire")
# Imported even indirectly by nothing in core. (socket, selectors and threading are not here:
# importlib.metadata, which every distribution package such as websockets runs at import,
# pulls them in without opening anything; core may not import them itself, see below.)
NEVER_BELOW_CORE = {"asyncio", "ssl", "concurrent", "subprocess", "click"}
NOT_IN_CORE_SOURCE = NEVER_BELOW_CORE | {"socket", "selectors", "threading", "prompt_toolkit"}


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _name(path: Path) -> str:
    return path.relative_to(PACKAGE).with_suffix("").as_posix()


def _top(names: Iterable[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


def _wscli_packages(names: Iterable[str]) -> set[str]:
    return {name.split(".")[1] for name in names if name.startswith("wscli.") and "." in name}


def test_the_tree_has_its_packages() -> None:
    for package in (*SHARED, *COMMANDS, "cli", "docgen"):
        assert (PACKAGE / package / "__init__.py").exists(), package
    # No module sits flat beside the packages but the entry points.
    assert {p.name for p in PACKAGE.glob("*.py")} == {"__init__.py", "__main__.py"}


# A rule reads one module, by its name under wscli/ ("core/url") and its source, and says what
# is wrong with it, or None. Each test applies one rule to the whole tree in one assertion.
Rule = Callable[[str, str], "str | None"]


@functools.cache
def _imports_of(source: str) -> frozenset[str]:
    found: set[str] = set()
    for node in nodes(source):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return frozenset(found)


def _package_of(name: str) -> str:
    return name.split("/", 1)[0] if "/" in name else ""


def _uses(source: str, forbidden: set[str]) -> str | None:
    found = _top(_imports_of(source)) & forbidden
    return f"imports {sorted(found)}" if found else None


def commands_stay_apart(name: str, source: str) -> str | None:
    own = _package_of(name)
    crossing = _wscli_packages(_imports_of(source)) & (set(COMMANDS) - {own})
    return f"imports {sorted(crossing)}" if own in COMMANDS and crossing else None


def shared_layers_stack(name: str, source: str) -> str | None:
    package, used = _package_of(name), _wscli_packages(_imports_of(source))
    above = used & {*COMMANDS, "cli", "docgen"}
    if package not in SHARED:
        return None
    if above:
        return f"imports {sorted(above)}"
    # core imports only core, and the version string (wscli/__init__.py holds nothing else).
    if package == "core" and used - {"core", "__version__"}:
        return f"core imports only core, not {sorted(used - {'core', '__version__'})}"
    if package == "net" and "wire" in used:
        return "net is below the engine"
    return None


def core_names_no_io(name: str, source: str) -> str | None:
    return _uses(source, NOT_IN_CORE_SOURCE) if _package_of(name) == "core" else None


def only_cli_imports_click(name: str, source: str) -> str | None:
    return None if name.startswith("cli/") else _uses(source, {"click"})


def only_repl_imports_prompt_toolkit(name: str, source: str) -> str | None:
    return None if name == "connect/repl" else _uses(source, {"prompt_toolkit"})


def nothing_below_imports_cli(name: str, source: str) -> str | None:
    # Above the CLI: `python -m wscli`, and the docs generator, which reads the click tree.
    if name.startswith("cli/") or name in {"__main__", "docgen/files"}:
        return None
    cli = {n for n in _imports_of(source) if n == "wscli.cli" or n.startswith("wscli.cli.")}
    return f"imports {sorted(cli)}" if cli else None


def only_entry_points_exit(name: str, source: str) -> str | None:
    if name in {"cli/entry", "docgen/__main__"}:
        return None
    for node in nodes(source):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in {"exit", "_exit"}
            and isinstance(node.value, ast.Name)
            and node.value.id in {"sys", "os"}
        ):
            return "ends the process"
    return None


# Pure modules inside the command packages: data in, data out (their tests feed data). What
# connect prints and parses is plain data besides: no websockets types, no os.
PURE_IN_COMMANDS = {
    "connect/render": {"websockets", "os"},
    "connect/slash": {"websockets", "os"},
    "connect/view": {"websockets", "os"},
    "handshake/request": set(),
    "handshake/report": set(),
    "handshake/render": set(),
    "serve/access": set(),
}


def pure_command_modules_do_no_io(name: str, source: str) -> str | None:
    if name not in PURE_IN_COMMANDS:
        return None
    return _uses(source, NOT_IN_CORE_SOURCE | PURE_IN_COMMANDS[name])


@functools.cache
def _sources() -> tuple[tuple[str, str], ...]:
    return tuple((_name(path), path.read_text(encoding="utf-8")) for path in _modules())


def _breaches(rule: Rule) -> list[str]:
    read = _sources()
    return [f"{name}: {said}" for name, source in read if (said := rule(name, source))]


def test_command_packages_never_import_each_other() -> None:
    assert _breaches(commands_stay_apart) == []


def test_shared_packages_import_no_command_and_stack() -> None:
    assert _breaches(shared_layers_stack) == []


def test_core_does_no_io_even_indirectly() -> None:
    modules = [f"wscli.{_name(p).replace('/', '.')}" for p in (PACKAGE / "core").glob("*.py")]
    probe = (
        "import importlib, json, sys\n"
        f"for m in {sorted(modules)!r}: importlib.import_module(m.removesuffix('.__init__'))\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = _top(set(json.loads(out.stdout)))
    assert not loaded & NEVER_BELOW_CORE, loaded & NEVER_BELOW_CORE


def test_core_source_names_no_io() -> None:
    assert _breaches(core_names_no_io) == []


def test_only_the_cli_imports_click() -> None:
    assert _breaches(only_cli_imports_click) == []


def test_only_the_repl_imports_prompt_toolkit() -> None:
    assert _breaches(only_repl_imports_prompt_toolkit) == []


def test_nothing_below_the_cli_imports_it() -> None:
    assert _breaches(nothing_below_imports_cli) == []


def test_only_entry_points_end_the_process() -> None:
    assert _breaches(only_entry_points_exit) == []


def test_pure_command_modules_do_no_io() -> None:
    assert set(PURE_IN_COMMANDS) <= {_name(path) for path in _modules()}
    assert _breaches(pure_command_modules_do_no_io) == []


def test_each_rule_catches_its_breach() -> None:
    # The rules are only as good as their reading of the source: each one, shown a module
    # that breaks it, says so (and passes the same module where it is allowed).
    cases: list[tuple[Rule, str, str, str]] = [
        (commands_stay_apart, "serve/x", "from wscli.connect import run", "connect/x"),
        (shared_layers_stack, "core/x", "import wscli.net.tls", "net/x"),
        (shared_layers_stack, "net/x", "from wscli.wire import engine", "wire/x"),
        (shared_layers_stack, "wire/x", "from wscli.serve.hub import Hub", "serve/x"),
        (core_names_no_io, "core/x", "import socket", "net/x"),
        (only_cli_imports_click, "serve/x", "import click.types", "cli/x"),
        (only_repl_imports_prompt_toolkit, "connect/x", "import prompt_toolkit", "connect/repl"),
        (nothing_below_imports_cli, "serve/x", "from wscli.cli import group", "cli/x"),
        (only_entry_points_exit, "serve/x", "import os\nos._exit(1)", "cli/entry"),
        (pure_command_modules_do_no_io, "serve/access", "import asyncio", "serve/server"),
        (pure_command_modules_do_no_io, "connect/render", "import websockets", "connect/x"),
    ]
    for rule, name, source, allowed in cases:
        assert rule(name, source), (rule.__name__, name, source)
        assert rule(allowed, source) is None, (rule.__name__, allowed, source)
        assert rule(name, "import json") is None, (rule.__name__, name)


def _readme_tree() -> dict[str, str]:
    """docs/architecture.md's tree: the text of each top-level folder's entry."""
    readme = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    block = readme.split("# Architecture", 1)[1].split("```", 2)[1]
    entries: dict[str, str] = {}
    current = ""
    for line in block.splitlines():
        head = line[2:].split(" ", 1)[0] if line.startswith("  ") else ""
        if head.endswith("/") and not line.startswith("   "):
            current = head.rstrip("/")
            entries[current] = line
        elif current:
            entries[current] += " " + line
    return entries


def test_readme_architecture_names_every_package_and_module() -> None:
    tree = _readme_tree()
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert set(tree) == packages
    for package in packages - {"cli", "docgen"}:  # those two are described, not listed
        words = set(tree[package].replace(",", " ").replace("(", " ").split())
        modules = {p.stem for p in (PACKAGE / package).glob("*.py")} - {"__init__", "__main__"}
        assert modules <= words, f"docs/architecture.md's {package}/ misses {modules - words}"
