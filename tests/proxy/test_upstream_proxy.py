"""The proxy's upstream reached through a proxy of its own: SOCKS5 (python-socks, the socks
extra) by --proxy, and the *_proxy environment variables (as `wscli connect` reads them)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from tests.support import scaled
from tests.support.proxy_process import ProxyProcess
from tests.support.tunnels import ConnectProxy, SocksProxy

NAME = "upstream.test"  # not loopback, so the *_proxy rules apply; the proxies resolve it


@pytest.fixture
async def echo_port() -> AsyncIterator[int]:
    async def handler(ws: ServerConnection) -> None:
        try:
            async for message in ws:
                await ws.send(message)
        except ConnectionClosed:
            pass

    async with serve(handler, "127.0.0.1", 0) as server:
        yield server.sockets[0].getsockname()[1]


async def _round_trip(proxy: ProxyProcess) -> None:
    async with connect(proxy.ws_url("/x"), proxy=None, open_timeout=scaled(10)) as ws:
        await ws.send("through")
        assert await asyncio.wait_for(ws.recv(), scaled(5)) == "through"


async def test_socks_upstream_by_option(echo_port: int) -> None:
    socks = SocksProxy({NAME: "127.0.0.1"})
    try:
        url = f"ws://{NAME}:{echo_port}"
        async with ProxyProcess(url, "--proxy", f"socks5h://127.0.0.1:{socks.port}") as proxy:
            await _round_trip(proxy)
    finally:
        socks.close()
    assert socks.targets == [f"{NAME}:{echo_port}"]


async def test_environment_proxies_are_used_and_loopback_goes_direct(echo_port: int) -> None:
    tunnel = ConnectProxy({NAME: "127.0.0.1"})
    env = {"http_proxy": f"http://127.0.0.1:{tunnel.port}"}
    try:
        async with ProxyProcess(f"ws://{NAME}:{echo_port}", env=env) as proxy:
            await _round_trip(proxy)
        assert tunnel.targets == [f"CONNECT {NAME}:{echo_port}"]
        async with ProxyProcess(f"ws://127.0.0.1:{echo_port}", env=env) as proxy:
            await _round_trip(proxy)
        assert len(tunnel.targets) == 1  # loopback: never through a proxy
        async with ProxyProcess(f"ws://127.0.0.1:{echo_port}", "--proxy", "none", env=env) as proxy:
            await _round_trip(proxy)
    finally:
        tunnel.close()
