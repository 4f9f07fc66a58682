"""benchmarks/: the C load generator builds, and a tiny bounded fan-out through `wscli serve`.

Not a timing test: it checks that every subscriber received every message exactly once and
in order — the generator's bookkeeping and the server's broadcast at the same time.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests import support
from tests.support.serve_process import ServeProcess


def load_fanout() -> ModuleType:
    """benchmarks/fanout.py as a module (benchmarks/ is not a package)."""
    path = support.REPO / "benchmarks" / "fanout.py"
    spec = importlib.util.spec_from_file_location("bench_fanout", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generator(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The C load generator, built once for this module's tests (gcc: 0.5 s of CPU)."""
    binary: Path = load_fanout().build_generator(tmp_path_factory.mktemp("wsload"), force=True)
    return binary


@support.requires("gcc")
def test_generator_fanout_through_wscli_serve_is_exact(generator: Path) -> None:
    binary = generator
    subs, count = 50, 1000
    with ServeProcess() as server:
        done = subprocess.run(
            [
                str(binary),
                *("--mode", "fanout", "--port", str(server.port), "--path", "/bench"),
                *("--subs", str(subs), "--count", str(count), "--window", "16"),
                *("--warmup", "0", "--duration", "10", "--timeout", str(support.scaled(8))),
            ],
            capture_output=True,
            text=True,
            timeout=support.scaled(30),
            check=False,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["sent"] == count
    assert result["deliveries"] == subs * count
    assert result["complete_subs"] == subs
    assert result["order_errors"] == 0
    assert result["missing"] == 0
    assert result["protocol_errors"] == 0
    assert result["closed_subs"] == 0


@support.requires("gcc")
def test_generator_fanout_through_serve_socketio_is_exact(generator: Path) -> None:
    """The same through `wscli serve --socketio`: Socket.IO clients over WebSocket (the
    generator's --proto sio), namespace / (room /)."""
    binary = generator
    subs, count = 50, 1000
    with ServeProcess("--socketio") as server:
        done = subprocess.run(
            [
                str(binary),
                *("--mode", "fanout", "--port", str(server.port), "--proto", "sio"),
                *("--subs", str(subs), "--count", str(count), "--window", "16"),
                *("--warmup", "0", "--duration", "10", "--timeout", str(support.scaled(8))),
            ],
            capture_output=True,
            text=True,
            timeout=support.scaled(30),
            check=False,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["deliveries"] == subs * count
    assert result["complete_subs"] == subs
    assert result["order_errors"] == result["missing"] == result["protocol_errors"] == 0
    assert result["closed_subs"] == 0


@support.requires("gcc", "redis-server")
def test_generator_split_over_two_instances_on_redis_is_exact(generator: Path) -> None:
    """The multi-instance scenario (benchmarks/multi_instance.py): subscribers split over two
    `wscli serve --redis` instances with --port2, the publisher on the first."""
    from tests.support.redis_process import RedisServer

    binary = generator
    subs, count = 40, 1000
    redis = RedisServer()
    try:
        with (
            ServeProcess("--redis", redis.url) as first,
            ServeProcess("--redis", redis.url) as second,
        ):
            done = subprocess.run(
                [
                    str(binary),
                    *("--mode", "fanout", "--port", str(first.port), "--path", "/bench"),
                    *("--port2", str(second.port), "--subs", str(subs), "--count", str(count)),
                    *("--window", "16", "--warmup", "0", "--duration", "20"),
                    *("--timeout", str(support.scaled(8))),
                ],
                capture_output=True,
                text=True,
                timeout=support.scaled(40),
                check=False,
            )
    finally:
        redis.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["deliveries"] == subs * count
    assert result["complete_subs"] == subs
    assert result["order_errors"] == result["missing"] == result["closed_subs"] == 0
