"""Start the peer servers of ../shared/peers (servers nobody here wrote) for interop tests."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

from support import clean_env

PEERS = Path("/work/shared/peers")


@contextlib.contextmanager
def peer(name: str) -> Iterator[int]:
    """Run peer ``name`` on a free loopback port; yield the port; stop it by its PID."""
    proc = subprocess.Popen(
        [str(PEERS / "start"), name, "0"],
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
