"""Start the peer servers of ../shared/peers (servers nobody here wrote) for interop tests."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

from support import REPO, clean_env, install_lock

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
