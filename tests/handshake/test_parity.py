"""`wscli handshake` reproduces what `wscli connect` sends: one set of connection options
(TLS with --cert/--key, --auth, --proxy, -L, headers, origin, User-Agent wscli/VERSION),
the same hints, and a subprotocol the server ignored is a warning (or exit 4)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from tests.connect.test_cli import ConnectProxy
from tests.support import concurrently, run_wscli
from tests.support.connect_servers import echo, reject, running, tls_server_context
from wscli.core.clientrequest import USER_AGENT

COMMON = ["-H", "X-Trace: 7", "--auth", "alice:pw", "--origin", "https://app.example", "-s", "v1"]


def _without_key(request: Request) -> list[tuple[str, str]]:
    return [(n, v) for n, v in request.headers.raw_items() if n != "Sec-WebSocket-Key"]


def test_both_commands_send_the_same_request() -> None:
    with running(echo, subprotocols=["v1"]) as server:
        connect, handshake = concurrently(
            lambda: run_wscli("connect", server.url, *COMMON, "-x", "hi", "-n", "1"),
            lambda: run_wscli("handshake", server.url, *COMMON),
        )
        first, second = server.requests  # in either order: both are checked alike
    assert connect.returncode == 0, connect.stderr
    assert handshake.returncode == 0, handshake.stderr
    assert first.path == second.path
    assert _without_key(first) == _without_key(second)
    assert first.headers["User-Agent"] == USER_AGENT == f"wscli/{__import__('wscli').__version__}"
    assert first.headers["Authorization"] == "Basic YWxpY2U6cHc="


@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    server = ConnectProxy()
    yield server
    server.close()


def test_handshake_through_a_proxy(proxy: ConnectProxy) -> None:
    with running(echo) as server:
        result = run_wscli("handshake", server.url, "--proxy", f"http://127.0.0.1:{proxy.port}")
    assert result.returncode == 0, result.stderr
    assert proxy.targets == [f"CONNECT 127.0.0.1:{server.port}"]
    assert result.stdout.startswith(b"GET / HTTP/1.1\r\n")


def test_handshake_follows_redirects_with_location() -> None:
    with running(echo) as target:

        def moved(connection: ServerConnection, request: Request) -> Response:
            response = connection.respond(302, "moved\n")
            response.headers["Location"] = f"{target.url}chat"
            return response

        with running(echo, process_request=moved) as server:
            refused, followed = concurrently(
                lambda: run_wscli("handshake", server.url),
                lambda: run_wscli("handshake", server.url, "-L", "-H", "X-Secret: s"),
            )
    assert refused.returncode == 4
    assert refused.stderr.decode().endswith(
        "rejected the upgrade: HTTP 302 Found: moved (hint: follow it with -L/--location)\n"
    )
    assert followed.returncode == 0, followed.stderr
    err = followed.stderr.decode()
    assert f"→ status: 302 Found: following the redirect to {target.url}chat (-L)" in err
    assert "✓ status: 101 Switching Protocols" in err
    assert target.requests[-1].path == "/chat"
    # Another port is another origin: -H headers do not follow, as with connect.
    assert "X-Secret" not in target.requests[-1].headers
    assert b"GET /chat HTTP/1.1" in followed.stdout


def _client_cert_server(ca: trustme.CA, folder: Path) -> ssl.SSLContext:
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    client = ca.issue_cert("client@example.com")
    client.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
    client.private_key_pem.write_to_path(str(folder / "key.pem"))
    context = tls_server_context(ca.issue_cert("127.0.0.1"))
    context.verify_mode = ssl.CERT_REQUIRED
    ca.configure_trust(context)
    return context


def test_client_certificate_and_its_hint(ca: trustme.CA, tmp_path: Path) -> None:
    with running(echo, ssl=_client_cert_server(ca, tmp_path)) as server:
        url = f"wss://127.0.0.1:{server.port}/"
        trust = ("--cacert", str(tmp_path / "ca.pem"), "--timeout", "5")
        cert = ("--cert", str(tmp_path / "cert.pem"), "--key", str(tmp_path / "key.pem"))
        with_cert, without, connect = concurrently(
            lambda: run_wscli("handshake", url, *trust, *cert),
            lambda: run_wscli("handshake", url, *trust),
            lambda: run_wscli("connect", url, *trust),
        )
    assert with_cert.returncode == 0, with_cert.stderr
    assert "(hint: does it require a client certificate (--cert/--key)?)" in without.stderr.decode()
    assert b"--cert/--key" in connect.stderr  # the same hint as connect's


def test_the_same_refusal_hint_as_connect() -> None:
    with running(echo, process_request=reject(400)) as server:
        url = f"{server.url}socket.io/"
        handshake, connect = concurrently(
            lambda: run_wscli("handshake", url), lambda: run_wscli("connect", url)
        )
    assert handshake.returncode == connect.returncode == 4
    assert handshake.stderr.endswith(
        b"HTTP 400 Bad Request: no: 400"
        b" (hint: a Socket.IO endpoint: use wscli connect --socketio)\n"
    )
    assert connect.stderr.endswith(
        b"HTTP 400 Bad Request: no: 400 (hint: a Socket.IO endpoint: use --socketio)\n"
    )


def test_an_ignored_subprotocol_is_a_warning_and_required_one_exit_4() -> None:
    with running(echo) as server:
        warned, required = concurrently(
            lambda: run_wscli("handshake", server.url, "-s", "graphql-transport-ws"),
            lambda: run_wscli(
                "handshake", server.url, "-s", "graphql-transport-ws", "--require-subprotocol"
            ),
        )
    assert warned.returncode == 0
    assert (
        "! subprotocol: none (offered: graphql-transport-ws): it may speak another protocol; "
        "--require-subprotocol makes this an error\n"
    ) in warned.stderr.decode()
    assert required.returncode == 4
    assert required.stderr.decode().endswith(
        "wscli: error: --require-subprotocol: the server chose no subprotocol"
        " (offered: graphql-transport-ws)\n"
    )
