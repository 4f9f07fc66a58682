"""Helpers shared by the test modules: running the real `wscli`, timeouts, components."""

from __future__ import annotations

import ast
import asyncio
import concurrent.futures
import contextlib
import fcntl
import functools
import hashlib
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, TypeVar

import pytest

T = TypeVar("T")

REPO = Path(__file__).resolve().parent.parent.parent
IN_CI = os.environ.get("CI", "").lower() == "true"

# One factor scales every wait in the tests, so slow machines don't flake.
TIMEOUT_SCALE = float(os.environ.get("WSCLI_TEST_TIMEOUT_SCALE", "1"))


@contextlib.contextmanager
def install_lock(name: str) -> Iterator[None]:
    """Hold an exclusive lock named ``name`` across processes (pytest-xdist workers), so
    that one worker installs an npm cache folder while the others wait for it."""
    path = Path(tempfile.gettempdir()) / f"wscli-tests-{name}.lock"
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


STARTUP_TIMEOUT = 60.0
"""How long a started wscli (or peer) may take to say it is ready: a failure bound only, never
waited out when things work. 15 s was too little beside another copy of the suite at load 20."""


OPEN_TIMEOUT = 30.0
"""How long a test's own WebSocket client may wait for its opening handshake with a server
already listening: a failure bound only (10 s ran out for a TLS handshake beside another copy
of the suite)."""


def scaled(seconds: float) -> float:
    """``seconds`` times the suite's timeout factor (WSCLI_TEST_TIMEOUT_SCALE)."""
    return seconds * TIMEOUT_SCALE


async def until(condition: Callable[[], bool], what: str = "", timeout: float = 5) -> None:
    """Wait until ``condition()`` holds, looking every few milliseconds (it is about state that
    other tasks of this event loop change); an AssertionError naming ``what`` past ``timeout``
    (scaled) seconds."""
    deadline = time.monotonic() + scaled(timeout)
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never true in {scaled(timeout):g} s: {what or condition}")
        await asyncio.sleep(0.005)


def read_until(stream: IO[bytes], needle: bytes, timeout: float = 10) -> bytes:
    """What a child's pipe ``stream`` says up to and including the first ``needle``, read as it
    comes (for "go on once it has said X"); an AssertionError with what it said by then past
    ``timeout`` (scaled) seconds or at its end."""
    deadline = time.monotonic() + scaled(timeout)
    said = b""
    while needle not in said:
        left = deadline - time.monotonic()
        ready, _, _ = select.select([stream], [], [], max(left, 0))
        chunk = os.read(stream.fileno(), 65536) if ready else b""
        if not chunk:
            raise AssertionError(f"no {needle!r} in {scaled(timeout):g} s; said: {said!r}")
        said += chunk
    return said


def wscli_command() -> list[str]:
    """The installed `wscli` entry point beside this interpreter (the real one users run)."""
    script = Path(sys.executable).parent / "wscli"
    if script.exists():
        return [str(script)]
    found = shutil.which("wscli")
    if found:
        return [found]
    return [sys.executable, "-m", "wscli"]


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment with the terminal- and proxy-related variables pinned.

    ``XDG_STATE_HOME`` (where wscli remembers URLs and prompt history) is the running
    test's own, set by the autouse fixture in conftest.py: never the tester's.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if k.lower() not in {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}
        and k not in {"FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "WSCLI_COLOR", "COLUMNS"}
    }
    env.update({"TERM": "dumb", "COLUMNS": "100", "PYTHONUNBUFFERED": "1"})
    env.update(extra or {})
    return env


def run_wscli(
    *args: str,
    input: str | bytes | None = None,
    timeout: float = 30,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run the real `wscli` in a subprocess with pipes; stdout and stderr kept apart (bytes)."""
    data = input.encode() if isinstance(input, str) else input
    return subprocess.run(
        [*wscli_command(), *args],
        input=data,
        stdin=None if data is not None else subprocess.DEVNULL,
        capture_output=True,
        timeout=scaled(timeout),
        env=clean_env(env),
        check=False,
    )


def concurrently(*calls: Callable[[], T]) -> list[T]:
    """Each of ``calls`` in a thread of its own, all at once; their results in order (the
    first one that raised raises). For independent runs of `wscli` in one test: each spends
    most of its 0.3-1 s starting, which they then do side by side."""
    with concurrent.futures.ThreadPoolExecutor(len(calls)) as pool:
        futures = [pool.submit(call) for call in calls]
        return [future.result() for future in futures]


def requires(*programs: str) -> pytest.MarkDecorator:
    """Skip (with the reason printed) when a system program is missing — never in CI.

    With CI=true the test always runs: `.ci/run` installs these, so a missing one must fail.
    """
    missing = [p for p in programs if shutil.which(p) is None]
    return pytest.mark.skipif(
        bool(missing) and not IN_CI,
        reason=f"needs {', '.join(missing)} (installed by .ci/run)",
    )


def has_ansi(data: bytes | str) -> bool:
    """True when ``data`` holds an ANSI escape sequence."""
    return (b"\x1b" if isinstance(data, bytes) else "\x1b") in data  # type: ignore[operator]


def lines(data: bytes) -> Sequence[str]:
    return data.decode().splitlines()


def growth(run: Callable[[int], object], size: int, factor: int = 8, repeat: int = 5) -> float:
    """How much longer ``run(size * factor)`` takes than ``run(size)`` (best of ``repeat``
    each, CPU time of this thread): about ``factor`` for linear work, ``factor**2`` for
    quadratic. Parsers of peer bytes must stay linear; compare both sizes in one test
    rather than against a wall-clock limit."""

    def best(n: int) -> float:
        times = []
        for _ in range(repeat):
            start = time.thread_time()
            run(n)
            times.append(time.thread_time() - start)
        return max(min(times), 1e-6)

    return best(size * factor) / best(size)


def rss_bytes(pid: int) -> int:
    """Resident memory of process ``pid`` now (Linux ``/proc``)."""
    status = Path(f"/proc/{pid}/status").read_text()
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time process ``pid`` used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


NPM_DIR = REPO / "tests" / "npm"


def npm_packages() -> Path:
    """The Node packages of tests/npm (wscat, axe-core), installed from its lock file into a
    cache folder once (``npm ci``: exactly the locked versions, nothing resolved at run
    time), one pytest-xdist worker at a time; returns the folder holding ``node_modules``."""
    cache_root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    lock = (NPM_DIR / "package-lock.json").read_bytes()
    # One folder per lock file: checkouts with different locks (branches) never replace
    # each other's packages while their tests run.
    cache = cache_root / "wscli-tests" / f"npm-{hashlib.sha256(lock).hexdigest()[:12]}"
    with install_lock(f"npm-tests-{cache.name}"):
        cache.mkdir(parents=True, exist_ok=True)
        installed = cache / "package-lock.json"
        if (
            not (cache / "node_modules").is_dir()
            or not installed.exists()
            or installed.read_bytes() != lock
        ):
            shutil.copy(NPM_DIR / "package.json", cache)
            shutil.copy(NPM_DIR / "package-lock.json", cache)
            subprocess.run(
                ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--silent"],
                cwd=cache,
                check=True,
                timeout=scaled(300),
                capture_output=True,
                env=clean_env(),
            )
    return cache


@functools.cache
def parsed(source: str) -> ast.Module:
    """``ast.parse(source)``, once per test process: the layer and public-API rules each read
    every module of wscli (160 modules; parsing them costs 0.4 s of CPU, and the tests that
    did it each for themselves cost 2-4 s of each quick run). The tree is shared: read it."""
    return ast.parse(source)


@functools.cache
def nodes(source: str) -> tuple[ast.AST, ...]:
    """Every node of :func:`parsed` ``(source)``, in ``ast.walk``'s order, walked once per
    test process: the layer and public-API rules walked every tree eight times over, 1.5 M
    calls of ``ast.walk`` (2.5 s of CPU, 70 % of those two files' time); a tuple is read at
    C speed."""
    return tuple(ast.walk(parsed(source)))
