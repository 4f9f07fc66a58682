"""`wscli proxy` with TLS on both sides: listening with --certfile/--keyfile, and a wss://
upstream verified with --cacert (or refused without it)."""

from __future__ import annotations

import datetime
import ssl
from pathlib import Path

import pytest
import trustme
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import InvalidStatus

from tests.support import scaled
from tests.support.proxy_process import ProxyProcess


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


async def test_wss_on_both_sides(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(tmp_path / "both.pem")
    ca.cert_pem.write_to_path(tmp_path / "ca.pem")
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_tls)
    client_tls = ssl.create_default_context()
    ca.configure_trust(client_tls)
    async with serve(echo, "127.0.0.1", 0, ssl=server_tls) as server:
        upstream = f"wss://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        pem = str(tmp_path / "both.pem")
        async with ProxyProcess(
            upstream, "--cacert", str(tmp_path / "ca.pem"), "--certfile", pem
        ) as proxy:
            assert proxy.url.startswith("wss://")
            async with connect(proxy.ws_url("/"), ssl=client_tls, proxy=None) as ws:
                await ws.send("over TLS twice")
                assert await ws.recv() == "over TLS twice"
        # Without the CA the upstream's certificate is not trusted: 502, with the reason.
        async with ProxyProcess(upstream) as proxy:
            with pytest.raises(InvalidStatus) as info:
                async with connect(proxy.ws_url("/"), proxy=None, open_timeout=scaled(10)):
                    pass
            assert info.value.response.status_code == 502
            assert b"unable to get local issuer certificate" in info.value.response.body


async def test_a_certificate_not_valid_yet_is_a_warning_at_start(tmp_path: Path) -> None:
    future = (datetime.datetime(2090, 1, 1), datetime.datetime(2091, 1, 1))
    cert = trustme.CA().issue_cert("127.0.0.1", not_before=future[0], not_after=future[1])
    cert.private_key_and_cert_chain_pem.write_to_path(tmp_path / "new.pem")
    async with ProxyProcess("ws://127.0.0.1:9", "--certfile", str(tmp_path / "new.pem")) as proxy:
        assert proxy.url.startswith("wss://")
        assert "the certificate is not valid before 2090-01-01 00:00 UTC" in proxy.stderr
