"""Start the peer servers of ../shared/peers (servers nobody here wrote) for interop tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.support import REPO, clean_env, install_lock

# ../shared beside the clone (CI copies it there); /work/shared where the sessions have it.
PEERS = next(
    (p for p in (REPO.parent / "shared" / "peers", Path("/work/shared/peers")) if p.is_dir()),
    REPO.parent / "shared" / "peers",
)


@contextlib.contextmanager
def peer(name: str) -> Iterator[int]:
    """Run peer ``name`` on a free loopback port; yield the port; stop it by its PID."""
    # The first start of a peer installs its npm packages into a shared cache folder: one
    # worker at a time, until it listens.
    with install_lock(f"peer-{name}"):
        proc = subprocess.Popen(
            [str(PEERS / "start"), name, "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=clean_env(),
        )
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
    try:
        if "listening on" not in line:
            raise RuntimeError(f"peer {name} did not start: {line!r}")
        yield int(line.split()[-1])
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


PROJECT_PEERS = REPO / "tests" / "peers"


def install_project_peer(name: str) -> Path:
    """Copy tests/peers/NAME to a cache folder and install its npm lock file there (once;
    one pytest-xdist worker at a time)."""
    source = PROJECT_PEERS / name
    cache_root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    cache = cache_root / "wscli-tests" / "peers" / name
    with install_lock(f"project-peer-{name}"):
        cache.mkdir(parents=True, exist_ok=True)
        lock = (source / "package-lock.json").read_bytes()
        installed = cache / "package-lock.json"
        if (
            not (cache / "node_modules").is_dir()
            or not installed.exists()
            or installed.read_bytes() != lock
        ):
            shutil.copy(source / "package.json", cache)
            shutil.copy(source / "package-lock.json", cache)
            subprocess.run(
                ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--silent"],
                cwd=cache,
                check=True,
                timeout=300,
                env=clean_env(),
            )
        for script in source.glob("*.js"):
            shutil.copy(script, cache)
    return cache


@contextlib.contextmanager
def project_peer(name: str, *args: str) -> Iterator[int]:
    """Run the test peer tests/peers/NAME (``node server.js 0 ARGS``); yield its port."""
    cache = install_project_peer(name)
    proc = subprocess.Popen(
        ["node", str(cache / "server.js"), "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=clean_env(),
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        if "listening on" not in line:
            raise RuntimeError(f"peer {name} did not start: {line!r}")
        yield int(line.split()[-1])
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
