"""The Node WebSocket clients of tests/npm (wscat, and `ws` for scripted Node clients), from
the one install of tests/npm's lock file (support.npm_packages: a cache folder per lock)."""

from __future__ import annotations

from pathlib import Path

from tests.support import npm_packages


def npm_clients() -> Path:
    """The folder whose node_modules holds tests/npm's packages (installed if needed)."""
    return npm_packages()


def wscat() -> str:
    """The wscat executable."""
    return str(npm_packages() / "node_modules" / ".bin" / "wscat")
