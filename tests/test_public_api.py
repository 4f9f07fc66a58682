"""wscli uses libraries through their public API only: no private name of websockets (or any
other module) is imported, read or overridden anywhere in wscli/; no websockets class is
subclassed; no undocumented attribute of websockets' protocol objects is read; and one
connection engine (wscli/wire) runs every WebSocket: nothing uses websockets' own asyncio,
sync or legacy connections."""

from __future__ import annotations

import ast
from pathlib import Path

from websockets.client import ClientProtocol
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

import wscli
from tests.support import nodes

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
    tree = nodes(path.read_text("utf-8"))
    found: list[str] = []
    library_names: set[str] = set()
    for node in tree:
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
    for node in tree:
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


def test_no_websockets_class_is_subclassed_anywhere() -> None:
    """Every connection is our own asyncio.Protocol over the public sans-I/O protocols;
    subclassing the library's connection classes kept their shape but not their state
    machine."""
    problems = {
        str(path.relative_to(path.parents[2])): found
        for path in SOURCES
        if (found := [f for f in _findings(path) if "subclasses" in f])
    }
    assert problems == {}


# What websockets' reference documents of ClientProtocol and ServerProtocol
# (docs/reference/sansio/client.rst and server.rst, websockets 17).
DOCUMENTED_PROTOCOL = {
    "receive_data",
    "receive_eof",
    "connect",
    "send_request",
    "accept",
    "select_subprotocol",
    "reject",
    "send_response",
    "send_continuation",
    "send_text",
    "send_binary",
    "send_close",
    "send_ping",
    "send_pong",
    "fail",
    "events_received",
    "data_to_send",
    "close_expected",
    "id",
    "logger",
    "state",
    "handshake_exc",
    "close_code",
    "close_reason",
    "close_exc",
}


def _undocumented_protocol_names() -> set[str]:
    """The public-looking attributes of the installed protocol objects the docs leave out
    (close_rcvd, close_sent, parser_exc, extensions, subprotocol, key, ...)."""
    names: set[str] = set()
    for protocol in (ClientProtocol(parse_uri("ws://h/")), ServerProtocol()):
        names |= {name for name in dir(protocol) if not name.startswith("_")}
    return names - DOCUMENTED_PROTOCOL


def _own_attribute_names() -> set[str]:
    """Names wscli gives its own objects' attributes (assigned, declared or defined), and
    those of the builtin containers (``set.discard``)."""
    own: set[str] = set()
    for kind in (set, dict, list, str, bytes, bytearray):
        own |= set(dir(kind))
    for path in SOURCES:
        for node in nodes(path.read_text("utf-8")):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                if isinstance(node.value, ast.Name) and node.value.id == "self":
                    own.add(node.attr)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                own.add(node.name)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                own.add(node.target.id)
    return own


def _protocol_receiver(node: ast.expr) -> bool:
    """An expression that names a websockets protocol object by wscli's convention:
    ``protocol``, ``server`` or anything's ``.protocol``."""
    if isinstance(node, ast.Name):
        return node.id in {"protocol", "server"}
    return isinstance(node, ast.Attribute) and node.attr == "protocol"


def _undocumented_reads(path: Path, undocumented: set[str], own: set[str]) -> list[str]:
    found = []
    for node in nodes(path.read_text("utf-8")):
        if not isinstance(node, ast.Attribute) or node.attr not in undocumented:
            continue
        if isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"}:
            continue
        # A name wscli also uses for its own attributes (``link.extensions``) counts only
        # on a protocol object; any other undocumented name counts everywhere.
        if node.attr not in own or _protocol_receiver(node.value):
            found.append(f"{node.lineno}: .{node.attr}")
    return found


def test_no_undocumented_attribute_of_a_websockets_protocol_is_read() -> None:
    undocumented = _undocumented_protocol_names()
    assert {"close_rcvd", "close_sent", "parser_exc", "extensions", "key"} <= undocumented
    own = _own_attribute_names()
    problems = {
        str(path.relative_to(path.parents[2])): found
        for path in SOURCES
        if (found := _undocumented_reads(path, undocumented, own))
    }
    # One write remains: `wscli handshake -H Sec-WebSocket-Key:` sets the protocol's key so
    # that websockets checks the answer against the key actually sent; the public API has
    # no way to choose the key (it is a write, not a read; the request's bytes are judged
    # from what was sent, see wscli.handshake.request.judge).
    assert problems == {"wscli/core/clientrequest.py": [problems["wscli/core/clientrequest.py"][0]]}
    assert problems["wscli/core/clientrequest.py"][0].endswith(": .key")


def test_one_engine_runs_every_websocket() -> None:
    """No module of wscli uses websockets' own connections (asyncio, sync, legacy): every
    WebSocket of serve, proxy and connect is a wscli.wire engine."""
    for path in SOURCES:
        for node in nodes(path.read_text("utf-8")):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(
                    ("websockets.asyncio", "websockets.sync", "websockets.legacy")
                ), f"{path}: {node.module}"


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
