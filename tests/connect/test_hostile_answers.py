"""`wscli connect` against servers whose answers break what wscli parses (a Location it
cannot follow, a connection websockets fails while the server holds TCP open) and against
bad --proxy values: one line on stderr and a documented exit code, never a traceback."""

from __future__ import annotations

import json
import ssl
import time
from pathlib import Path

import pytest
import trustme

from tests.support import run_wscli, scaled
from tests.support.measured import run_measured
from tests.support.rawserver import (
    RawConnection,
    RawServer,
    answer,
    http_response,
    upgrade_response,
)


@pytest.mark.parametrize(
    ("location", "why"),
    [
        ("http://[::1/x", "Invalid IPv6 URL"),
        ("ws://[zz]/", "'zz' does not appear to be an IPv4 or IPv6 address"),
    ],
)
def test_a_malformed_location_under_follow_is_one_line(location: str, why: str) -> None:
    with RawServer(answer(http_response(302, "Found", [("Location", location)]))) as server:
        result = run_wscli("connect", server.url(), "-L", "-x", "hi", input=b"")
    assert result.returncode == 4
    assert result.stdout == b""
    assert result.stderr.decode() == (
        f"wscli: error: cannot follow the redirect: to {location!r}: {why}\n"
    )


@pytest.mark.parametrize(
    ("proxy", "why"),
    [
        ("http://127.0.0.1:99999", "Port out of range 0-65535"),
        ("http://[::1", "Invalid IPv6 URL"),
        ("http://bob:hunter2@[::1", "Invalid IPv6 URL"),
        ("ftp://127.0.0.1:21", "expected http://host:port or socks5://host:port"),
    ],
)
@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_a_malformed_proxy_is_a_usage_error(proxy: str, why: str, transport: str) -> None:
    socketio = ["--socketio", "--transport", transport] if transport == "polling" else []
    result = run_wscli("connect", *socketio, "ws://127.0.0.1:9/", "--proxy", proxy, input=b"")
    assert result.returncode == 2
    assert result.stdout == b""
    shown = proxy.replace("hunter2", "***")
    assert result.stderr.decode() == f"wscli: error: invalid --proxy {shown!r}: {why}\n"


def test_set_cookie_in_the_answer_is_redacted_in_the_json_open_event() -> None:
    """connect --json wrote the session cookie raw (the proxy already redacted it)."""
    cookie = ("Set-Cookie", "session=s3cr3t-value; Path=/; HttpOnly")
    handler = answer(upgrade_response(headers=[cookie, ("X-Plain", "kept")]), after="websocket")
    with RawServer(handler) as server:
        result = run_wscli("connect", server.url(), "--json", input=b"")
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    assert b"s3cr3t" not in result.stdout
    opened, closed = (json.loads(line) for line in result.stdout.splitlines())
    assert opened["event"] == "open" and closed["event"] == "close"
    assert opened["headers"]["Set-Cookie"] == "[redacted]"
    assert opened["headers"]["X-Plain"] == "kept"


@pytest.mark.parametrize("command", ["connect", "polling", "handshake"])
def test_a_certificate_for_other_names_gets_a_hint_naming_them(
    command: str, ca: trustme.CA, tmp_path: Path
) -> None:
    """The hint was "pass --cacert", wrong for a trusted certificate issued to other names."""
    leaf = ca.issue_cert("localhost", "ws.example.test")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    leaf.configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(ca_file)
    args = {
        "connect": ["connect"],
        "polling": ["connect", "--socketio", "--transport", "polling"],
        "handshake": ["handshake"],
    }[command]
    with RawServer(answer(upgrade_response(), after="websocket"), context) as server:
        result = run_wscli(*args, server.url(), "--cacert", str(ca_file), input=b"")
    assert result.returncode == 3
    assert result.stdout == b""
    assert result.stderr.decode() == (
        f"wscli: error: TLS handshake with 127.0.0.1:{server.port} failed: IP address"
        " mismatch, certificate is not valid for '127.0.0.1'. (hint: the certificate is for"
        " DNS:localhost, DNS:ws.example.test: use a URL with one of those names)\n"
    )


def test_a_connection_websockets_failed_ends_the_pipe_within_the_close_timeout() -> None:
    """The same in a pipe whose stdin stays open: it waited for a line to send."""

    async def too_big_then_hold(conn: RawConnection) -> None:
        request = await conn.read_request()
        await conn.send(upgrade_response()(request))
        await conn.send(b"\x81\x7e\x08\x00" + b"x" * 2048)  # 2 KiB: over --max-size 1K
        await conn.hold()

    with RawServer(too_big_then_hold) as server:
        run = run_measured(
            ["connect", server.url(), "--max-size", "1K", "--idle", "0"],
            keep_stdin_open=True,
            timeout=30,
        )
        since_accepted = time.monotonic() - server.accepted[0]
    assert run.returncode == 5, run.stderr
    assert run.stdout == b""
    assert run.stderr.startswith(b"wscli: error: wscli closed the connection with 1009")
    assert run.stderr.count(b"\n") == 1
    # From the connection on, not from wscli's start (seconds of it at load 20).
    assert since_accepted < 2 + scaled(3), f"took {since_accepted:.1f} s after connecting"
