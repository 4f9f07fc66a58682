"""What `wscli proxy` writes: a stdout nobody reads never holds the relay up (gaps are said),
and --record saves the conversation exactly (text, binary, non-UTF-8 text, close codes) with
relative times and secrets redacted."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from tests.support import clean_env, scaled, wscli_command
from tests.support.proxy_process import BANNER, ProxyProcess


@pytest.fixture
async def echo() -> AsyncIterator[str]:
    async def handler(ws: ServerConnection) -> None:
        try:
            async for message in ws:
                if message == "bye":
                    await ws.close(4001, "server done")
                    return
                await ws.send(message)
        except ConnectionClosed:
            pass

    async with serve(handler, "127.0.0.1", 0, max_size=None) as server:
        yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def test_a_stdout_nobody_reads_never_holds_the_relay_up(echo: str, tmp_path: Path) -> None:
    errors = (tmp_path / "stderr").open("wb")
    proc = subprocess.Popen(
        [*wscli_command(), "proxy", echo, "--port", "0", "--json", "--max-size", "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,  # never read until the end: the pipe fills at 64 KiB
        stderr=errors,
        env=clean_env(),
    )
    try:
        for _ in range(int(scaled(100))):
            found = BANNER.search((tmp_path / "stderr").read_text())
            if found:
                break
            await asyncio.sleep(0.1)
        assert found is not None
        payload = bytes(range(256)) * 2048  # 512 KiB: 700 KB of base64 per event
        async with connect(
            f"{found['url']}/", proxy=None, max_size=None, open_timeout=scaled(10)
        ) as ws:
            for n in range(40):  # about 56 MB of events, far past the 16 MiB queue
                await ws.send(payload)
                assert await asyncio.wait_for(ws.recv(), scaled(10)) == payload, n
        proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.to_thread(proc.communicate, timeout=scaled(30))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        errors.close()
    assert proc.returncode == 0
    events = [json.loads(line) for line in out.decode().splitlines()]
    gaps = [e for e in events if e["event"] == "gap"]
    assert gaps and all(e["lines"] > 0 for e in gaps)
    shown = sum(1 for e in events if e["event"] == "message")
    assert shown + sum(e["lines"] for e in gaps) >= 80  # every event is there or counted
    warning = (tmp_path / "stderr").read_text()
    assert "lines were not shown: stdout was not read fast enough" in warning


async def test_record_saves_the_conversation_exactly(echo: str, tmp_path: Path) -> None:
    record = tmp_path / "chat.ndjson"
    async with ProxyProcess(echo, "--record", str(record)) as proxy:
        async with connect(
            proxy.ws_url("/room?token=s3cret"),
            proxy=None,
            additional_headers={"Authorization": "Bearer s3cret"},
            open_timeout=scaled(10),
        ) as ws:
            await ws.send("héllo\n\x1b[31m")
            assert await asyncio.wait_for(ws.recv(), scaled(5)) == "héllo\n\x1b[31m"
            await ws.send(b"\x00\xff\x01")
            assert await asyncio.wait_for(ws.recv(), scaled(5)) == b"\x00\xff\x01"
            await ws.send("bye")
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), scaled(5))
        assert await asyncio.to_thread(proxy.wait_for, r"#1 close 4001")
    text = record.read_text()
    assert "s3cret" not in text  # redacted in heads, paths and URLs
    assert oct(record.stat().st_mode & 0o777) == "0o600"
    events = [json.loads(line) for line in text.splitlines()]
    assert [e["event"] for e in events] == [
        "listening",
        "handshake",
        "open",
        *["message"] * 5,
        "close",
    ]
    times = [e["t"] for e in events]
    assert times == sorted(times) and times[0] >= 0
    messages = [
        (e["from"], e["type"], e.get("text") or base64.b64decode(e["base64"]))
        for e in events
        if e["event"] == "message"
    ]
    assert messages == [
        ("client", "text", "héllo\n\x1b[31m"),
        ("server", "text", "héllo\n\x1b[31m"),
        ("client", "binary", b"\x00\xff\x01"),
        ("server", "binary", b"\x00\xff\x01"),
        ("client", "text", "bye"),
    ]
    assert events[-1]["code"] == 4001 and events[-1]["reason"] == "server done"
    assert events[-1]["by"] == "server"
    assert events[2]["path"] == "/room?token=[redacted]"
