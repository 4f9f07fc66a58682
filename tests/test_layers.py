"""Architecture boundaries, read from the source: imports point one way (STYLE.md).

Pure code (no I/O) <- asyncio code <- terminal UI <- CLI. Only wscli/cli imports click and
ends the process; only the REPL imports prompt_toolkit; pure modules touch no sockets,
threads or event loops.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "wscli"

PURE = [
    "accept",
    "access",
    "commands",
    "errors",
    "escape",
    "events",
    "exitcodes",
    "handshake_render",
    "handshake_report",
    "headers",
    "render",
    "serve_options",
    "upgrade",
    "url",
    "docgen/content",
    "docgen/examples",
    "docgen/manpage",
    "docgen/markdown",
    "docgen/model",
    "docgen/roff",
]
IO_MODULES = {"asyncio", "socket", "ssl", "threading", "subprocess", "selectors", "click"}


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _name(path: Path) -> str:
    return path.relative_to(PACKAGE).with_suffix("").as_posix()


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _top(names: set[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


def test_the_package_is_found() -> None:
    assert len(_modules()) > 20
    for name in PURE:
        assert (PACKAGE / f"{name}.py").exists(), name


@pytest.mark.parametrize("path", _modules(), ids=_name)
def test_only_the_cli_imports_click(path: Path) -> None:
    if _name(path).startswith("cli/"):
        return
    assert "click" not in _top(_imports(path))


@pytest.mark.parametrize("path", _modules(), ids=_name)
def test_only_the_repl_imports_prompt_toolkit(path: Path) -> None:
    if _name(path) == "repl":
        return
    assert "prompt_toolkit" not in _top(_imports(path))


@pytest.mark.parametrize("path", _modules(), ids=_name)
def test_nothing_below_the_cli_imports_it(path: Path) -> None:
    # Above the CLI: `python -m wscli`, and the docs generator, which reads the click tree.
    if _name(path).startswith("cli/") or _name(path) in {"__main__", "docgen/files"}:
        return
    imported = _imports(path)
    assert not {name for name in imported if name == "wscli.cli" or name.startswith("wscli.cli.")}


@pytest.mark.parametrize("name", PURE)
def test_pure_modules_do_no_io(name: str) -> None:
    assert not _top(_imports(PACKAGE / f"{name}.py")) & IO_MODULES


@pytest.mark.parametrize("path", _modules(), ids=_name)
def test_only_entry_points_end_the_process(path: Path) -> None:
    allowed = {"cli/__init__", "docgen/__main__"}
    if _name(path) in allowed:
        return
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and node.attr in {"exit", "_exit"}:
            assert not (isinstance(node.value, ast.Name) and node.value.id in {"sys", "os"}), (
                f"{_name(path)} ends the process"
            )


@pytest.mark.parametrize("name", ["events", "render", "commands"])
def test_connect_data_modules_need_no_library_or_os(name: str) -> None:
    # What connect prints and parses is plain data: no websockets types, no os.
    assert not _top(_imports(PACKAGE / f"{name}.py")) & {"asyncio", "websockets", "socket", "os"}
