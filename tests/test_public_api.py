"""wscli uses libraries through their public API only: no private name of
websockets (or any other module) is imported, read or overridden anywhere in wscli/."""

from __future__ import annotations

import ast
from pathlib import Path

import wscli

SOURCES = sorted(Path(wscli.__file__).parent.rglob("*.py"))


# namedtuple's public methods carry an underscore only to stay clear of field names.
NAMEDTUPLE_API = {"_replace", "_asdict", "_fields", "_make"}
# ... and a few documented stdlib functions are spelt with one: os._exit.
NAMEDTUPLE_API |= {"_exit"}


def _private(name: str) -> bool:
    if name in NAMEDTUPLE_API:
        return False
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _findings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text("utf-8"))
    found: list[str] = []
    library_names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and not node.module.startswith("wscli"):
            if any(_private(part) for part in node.module.split(".")):
                found.append(f"{node.lineno}: from {node.module}")
            for alias in node.names:
                if _private(alias.name):
                    found.append(f"{node.lineno}: imports {alias.name} from {node.module}")
                if node.module.split(".")[0] == "websockets":
                    library_names.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if any(_private(part) for part in alias.name.split(".")):
                    found.append(f"{node.lineno}: import {alias.name}")
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            owner = node.value
            if not (isinstance(owner, ast.Name) and owner.id in {"self", "cls"}):
                found.append(f"{node.lineno}: .{node.attr} of another object")
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for base in node.bases:
                if isinstance(base, ast.Name) and base.id in library_names:
                    found.append(f"{node.lineno}: class {node.name} subclasses {base.id}")
    return found


def _private_names(found: list[str]) -> list[str]:
    return [f for f in found if "subclasses" not in f]


def test_the_scan_sees_the_whole_package() -> None:
    assert len(SOURCES) > 30
    assert any(p.name == "connection.py" and p.parent.name == "serve" for p in SOURCES)


def test_no_private_name_of_a_library_anywhere_in_wscli() -> None:
    problems = {
        str(path.relative_to(path.parents[2])): found
        for path in SOURCES
        if (found := _private_names(_findings(path)))
    }
    assert problems == {}


def test_serve_subclasses_no_websockets_class() -> None:
    """The server drives the public sans-I/O ServerProtocol from its own asyncio.Protocol;
    subclassing the library's connection classes kept their shape but not their state
    machine. (wscli/connect/link.py still subclasses the asyncio client.)"""
    serve = [p for p in SOURCES if p.parent.name == "serve"]
    assert len(serve) >= 10
    problems = {p.name: found for p in serve if (found := _findings(p))}
    assert problems == {}


def test_the_scan_catches_what_it_forbids(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from websockets.asyncio.server import ServerConnection\n"
        "from websockets.frames import _x\n"
        "import websockets.legacy._impl\n"
        "class C(ServerConnection):\n"
        "    def f(self, conn):\n"
        "        return conn.protocol._parser, self._own, conn._replace()\n"
    )
    found = _findings(sample)
    assert [f.split(":")[0] for f in found] == ["2", "3", "6", "4"], found
