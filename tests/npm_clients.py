"""The Node WebSocket clients of tests/npm (wscat, and `ws` for scripted Node clients),
installed from its lock file into a cache folder once (one pytest-xdist worker at a time)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from support import install_lock, scaled

NPM_DIR = Path(__file__).parent / "npm"


def npm_clients() -> Path:
    """The folder whose node_modules holds tests/npm's packages (installed if needed)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "wscli-tests" / "npm"
    cache.mkdir(parents=True, exist_ok=True)
    lock = (NPM_DIR / "package-lock.json").read_bytes()
    installed = cache / "package-lock.json"
    with install_lock("npm-wscat"):
        if (
            not (cache / "node_modules" / ".bin" / "wscat").exists()
            or not installed.exists()
            or installed.read_bytes() != lock
        ):
            shutil.copy(NPM_DIR / "package.json", cache)
            shutil.copy(NPM_DIR / "package-lock.json", cache)
            subprocess.run(
                ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--silent"],
                cwd=cache,
                check=True,
                timeout=scaled(120),
                capture_output=True,
            )
    return cache


def wscat() -> str:
    """The wscat executable."""
    return str(npm_clients() / "node_modules" / ".bin" / "wscat")
