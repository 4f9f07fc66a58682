"""Architecture boundaries, read from the source and from a real import (README
"Architecture").

The rules are about packages, not file lists, so a new module is covered the day it lands:

- ``wscli/core`` is pure: it imports no asyncio or ssl even indirectly (checked by importing
  it in a fresh interpreter and reading ``sys.modules``), and names no socket, thread,
  subprocess or event loop itself;
- the command packages (``connect``, ``handshake``, ``serve``, ``proxy``, ``top``) never
  import each other: what two of them share lives in ``core`` or ``net``;
- ``core`` and ``net`` import no command package;
- only ``wscli/cli`` imports click, and nothing below the CLI imports it;
- only ``wscli/connect/repl.py`` imports prompt_toolkit;
- only the entry points end the process.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "wscli"
COMMANDS = ("connect", "handshake", "serve", "proxy", "top")
SHARED = ("core", "net")
# Imported even indirectly by nothing in core. (socket, selectors and threading are not here:
# importlib.metadata, which every distribution package such as websockets runs at import,
# pulls them in without opening anything; core may not import them itself, see below.)
NEVER_BELOW_CORE = {"asyncio", "ssl", "concurrent", "subprocess", "click"}
NOT_IN_CORE_SOURCE = NEVER_BELOW_CORE | {"socket", "selectors", "threading", "prompt_toolkit"}


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _name(path: Path) -> str:
    return path.relative_to(PACKAGE).with_suffix("").as_posix()


def _package(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else ""


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _top(names: set[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


def _wscli_packages(names: set[str]) -> set[str]:
    return {name.split(".")[1] for name in names if name.startswith("wscli.") and "." in name}


def test_the_tree_has_its_packages() -> None:
    for package in (*SHARED, "connect", "handshake", "serve", "cli", "docgen"):
        assert (PACKAGE / package / "__init__.py").exists(), package
    # No module sits flat beside the packages but the entry points.
    assert {p.name for p in PACKAGE.glob("*.py")} == {"__init__.py", "__main__.py"}


@pytest.mark.parametrize("path", _modules(), ids=_name)
def test_command_packages_never_import_each_other(path: Path) -> None:
    own = _package(path)
    if own not in COMMANDS:
        return
    crossing = _wscli_packages(_imports(path)) & (set(COMMANDS) - {own})
    assert not crossing, f"{_name(path)} imports {crossing}"


@pytest.mark.parametrize("path", _modules(), ids=_name)
def test_shared_packages_import_no_command(path: Path) -> None:
    if _package(path) not in SHARED:
        return
    assert not _wscli_packages(_imports(path)) & {*COMMANDS, "cli", "docgen"}
    if _package(path) == "core":
        assert not _wscli_packages(_imports(path)) - {"core"}, "core imports only core"


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


@pytest.mark.parametrize("path", sorted((PACKAGE / "core").glob("*.py")), ids=_name)
def test_core_source_names_no_io(path: Path) -> None:
    assert not _top(_imports(path)) & NOT_IN_CORE_SOURCE


@pytest.mark.parametrize("path", _modules(), ids=_name)
def test_only_the_cli_imports_click(path: Path) -> None:
    if _name(path).startswith("cli/"):
        return
    assert "click" not in _top(_imports(path))


@pytest.mark.parametrize("path", _modules(), ids=_name)
def test_only_the_repl_imports_prompt_toolkit(path: Path) -> None:
    if _name(path) == "connect/repl":
        return
    assert "prompt_toolkit" not in _top(_imports(path))


@pytest.mark.parametrize("path", _modules(), ids=_name)
def test_nothing_below_the_cli_imports_it(path: Path) -> None:
    # Above the CLI: `python -m wscli`, and the docs generator, which reads the click tree.
    if _name(path).startswith("cli/") or _name(path) in {"__main__", "docgen/files"}:
        return
    imported = _imports(path)
    assert not {name for name in imported if name == "wscli.cli" or name.startswith("wscli.cli.")}


@pytest.mark.parametrize("path", _modules(), ids=_name)
def test_only_entry_points_end_the_process(path: Path) -> None:
    allowed = {"cli/entry", "docgen/__main__"}
    if _name(path) in allowed:
        return
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and node.attr in {"exit", "_exit"}:
            assert not (isinstance(node.value, ast.Name) and node.value.id in {"sys", "os"}), (
                f"{_name(path)} ends the process"
            )


@pytest.mark.parametrize("name", ["connect/render", "connect/slash"])
def test_connect_data_modules_need_no_library_or_os(name: str) -> None:
    # What connect prints and parses is plain data: no websockets types, no os.
    assert not _top(_imports(PACKAGE / f"{name}.py")) & {"asyncio", "websockets", "socket", "os"}


# Pure modules inside the command packages: data in, data out (their tests feed data).
PURE_IN_COMMANDS = [
    "connect/render",
    "connect/slash",
    "handshake/request",
    "handshake/report",
    "handshake/render",
    "serve/access",
]


@pytest.mark.parametrize("name", PURE_IN_COMMANDS)
def test_pure_command_modules_do_no_io(name: str) -> None:
    assert not _top(_imports(PACKAGE / f"{name}.py")) & NOT_IN_CORE_SOURCE


def _readme_tree() -> dict[str, str]:
    """The README's Architecture tree: the text of each top-level folder's entry."""
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Architecture", 1)[1].split("```", 2)[1]
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
        assert modules <= words, f"README's {package}/ misses {modules - words}"
