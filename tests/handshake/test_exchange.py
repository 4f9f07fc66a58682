"""`wscli handshake` end to end: the real entry point against real servers on 127.0.0.1.

Misbehaving servers come from tests/support/rawserver.py; the happy path also runs against a real
websockets server. stdout, stderr and the exit code are asserted separately.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import pty
import re
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
import trustme
from websockets.asyncio.server import ServerConnection, serve

from tests.handshake.handshake_example import EXAMPLE_RESPONSE, KEY, SENT_REQUEST
from tests.support import clean_env, concurrently, has_ansi, run_wscli, scaled, wscli_command
from tests.support.rawserver import (
    RawServer,
    Response,
    accept_value,
    answer,
    close_early,
    close_frame,
    http_response,
    request_key,
    silent,
    upgrade_response,
)
from wscli.core.exitcodes import ExitCode

EXAMPLE_ARGS = ["-H", "Host: server.example.com", "-s", "chat", "-s", "superchat"]
EXAMPLE_ARGS += ["--ws-key", KEY, "--no-compression"]
GOOD_VERDICT = (
    "✓ status: 101 Switching Protocols\n"
    "✓ accept: expected HSmrc0sMlYUkAGmm5OPpG2HaGWk=, received HSmrc0sMlYUkAGmm5OPpG2HaGWk=\n"
    "✓ subprotocol: chat (offered: chat, superchat)\n"
    "✓ extensions: none (offered: none)\n"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _request_part(stdout: bytes) -> tuple[bytes, bytes]:
    end = stdout.index(b"\r\n\r\n") + 4
    return stdout[:end], stdout[end:]


# --- the issue's example, offline modes, usage errors ---------------------------------


def test_issue_example_byte_for_byte() -> None:
    with RawServer(answer(upgrade_response(subprotocol="chat"), after="websocket")) as server:
        result = run_wscli("handshake", server.url("/chat"), *EXAMPLE_ARGS)
    assert result.stdout == SENT_REQUEST + EXAMPLE_RESPONSE
    assert result.stderr.decode() == GOOD_VERDICT
    assert result.returncode == ExitCode.OK
    assert server.requests == [SENT_REQUEST]


def test_offline_prints_the_request_without_connecting() -> None:
    port = _free_port()  # nothing listens there: --offline must not try
    result = run_wscli("handshake", f"ws://127.0.0.1:{port}/chat", "--offline", *EXAMPLE_ARGS)
    assert result.stdout == SENT_REQUEST
    assert result.stderr == b""
    assert result.returncode == ExitCode.OK


def test_offline_json() -> None:
    result = run_wscli("handshake", "ws://h/chat", "--offline", "--json", *EXAMPLE_ARGS)
    doc = json.loads(result.stdout)
    assert doc["offline"] is True
    assert doc["request"]["raw"].encode() == SENT_REQUEST
    assert doc["response"] is None
    assert result.stderr == b""
    assert result.returncode == ExitCode.OK


def test_header_file_and_env_forms(tmp_path: Path) -> None:
    """-H @FILE and -H env:VAR: headers (secrets) that never appear in the argument list."""
    headers = tmp_path / "headers"
    headers.write_text("Host: server.example.com\nX-From-File: f\n")
    args = ["-H", f"@{headers}", "-H", "env:WSCLI_TEST_HEADERS", *EXAMPLE_ARGS[2:]]
    env = {"WSCLI_TEST_HEADERS": "Authorization: Bearer secret"}
    result = run_wscli("handshake", "ws://h/chat", "--offline", *args, env=env)
    lines = result.stdout.decode().split("\r\n")
    assert lines[1] == "Host: server.example.com"  # replaces wscli's own Host, in place
    assert "X-From-File: f" in lines
    assert "Authorization: Bearer secret" in lines
    assert result.stderr == b""
    assert result.returncode == ExitCode.OK


@pytest.mark.parametrize(
    ("key", "accept"),
    [
        ("dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        (KEY, "HSmrc0sMlYUkAGmm5OPpG2HaGWk="),
    ],
)
def test_accept_for(key: str, accept: str) -> None:
    result = run_wscli("handshake", "--accept-for", key)
    assert result.stdout == f"{accept}\n".encode()
    assert result.stderr == b""
    assert result.returncode == ExitCode.OK


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--accept-for", "abc"], "invalid Sec-WebSocket-Key 'abc' in --accept-for: not valid"),
        (["ws://h/", "--ws-key", "aGVsbG8="], "in --ws-key: decodes to 5 bytes, not 16"),
        (["ftp://h/"], "invalid URL 'ftp://h/': unsupported scheme 'ftp'"),
        (["ws://h:99999/"], "invalid URL 'ws://h:99999/'"),
        ([], "missing URL"),
        (["ws://h/", "-H", "no colon"], "invalid header 'no colon'"),
        (["ws://h/", "-s", "a b"], "invalid subprotocol 'a b'"),
        (["ws://h/", "--timeout", "0"], "'--timeout': 0.0 is not in the range x>0"),
    ],
)
def test_usage_errors(args: list[str], message: str) -> None:
    result = run_wscli("handshake", *args)
    assert result.stdout == b""
    stderr = result.stderr.decode()
    assert stderr.startswith("wscli: error: ")
    assert message in stderr
    assert stderr.count("\n") == 1
    assert result.returncode == ExitCode.USAGE


def test_help_shows_offline_modes_and_exit_codes() -> None:
    result = run_wscli("handshake", "--help")
    out = result.stdout.decode()
    for text in ("--accept-for KEY", "--offline", "--no-compression", "--timeout SECONDS"):
        assert text in out
    assert "4 handshake rejected" in out
    assert result.returncode == ExitCode.OK


def test_headers_origin_and_compression_are_sent() -> None:
    with RawServer(answer(upgrade_response(), after="websocket")) as server:
        result = run_wscli(
            "handshake",
            server.url("/x?y=1"),
            "-H",
            "Authorization: Bearer t",
            "--origin",
            "https://example.com",
        )
    request = server.requests[0]
    assert result.stdout.startswith(request)
    lines = request.decode().split("\r\n")
    assert lines[0] == "GET /x?y=1 HTTP/1.1"
    assert "Origin: https://example.com" in lines
    assert "Authorization: Bearer t" in lines
    assert "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits" in lines
    assert result.returncode == ExitCode.OK


# --- failures against misbehaving servers -----------------------------------------------


def test_connection_refused() -> None:
    port = _free_port()
    result = run_wscli("handshake", f"ws://127.0.0.1:{port}/")
    assert result.stdout == b""
    assert result.stderr.decode() == (
        f"wscli: error: cannot connect to 127.0.0.1:{port}: connection refused "
        "(hint: is the server running?)\n"
    )
    assert result.returncode == ExitCode.CONNECT_FAILED


def test_dns_failure() -> None:
    result = run_wscli("handshake", "ws://no-such-host.invalid/", "--timeout", "5")
    assert result.stdout == b""
    stderr = result.stderr.decode()
    assert stderr.startswith("wscli: error: cannot resolve host 'no-such-host.invalid': ")
    assert "(hint: check the host name (DNS))" in stderr
    assert result.returncode == ExitCode.CONNECT_FAILED


def test_404_shows_head_and_body() -> None:
    response = http_response(404, "Not Found", [("Content-Type", "text/plain")], b"no room\n")
    with RawServer(answer(response)) as server:
        result = run_wscli("handshake", server.url("/nope"))
    request, rest = _request_part(result.stdout)
    assert request == server.requests[0]
    assert rest == response
    assert result.stderr.decode() == (
        "✗ status: 404 Not Found (expected 101 Switching Protocols)\n"
        f"wscli: error: server at 127.0.0.1:{server.port} rejected the upgrade: "
        "HTTP 404 Not Found: no room (hint: check the URL path)\n"
    )
    assert result.returncode == ExitCode.HANDSHAKE_REJECTED


def test_non_101_body_is_cut_after_1_kib() -> None:
    body = bytes(range(32, 127)) * 40  # 3800 bytes, sent without Content-Length
    head = http_response(503, "Service Unavailable")
    with RawServer(answer(head + body, after="hold")) as server:
        result = run_wscli("handshake", server.url())
    _, rest = _request_part(result.stdout)
    assert rest == head + body[:1024]
    stderr = result.stderr.decode()
    assert stderr.startswith("\n(body cut after the first 1024 bytes)\n")  # on a line of its own
    # The error line quotes the body's first line, cut (240 characters off a terminal).
    assert 'rejected the upgrade: HTTP 503 Service Unavailable: !"#$%&' in stderr
    assert stderr.endswith(
        "… (hint: the server is unavailable or full: try again later (--reconnect retries it))\n"
    )
    assert result.returncode == ExitCode.HANDSHAKE_REJECTED


def test_wrong_accept() -> None:
    wrong = "AAAAAAAAAAAAAAAAAAAAAAAAAAA="
    with RawServer(answer(upgrade_response(accept=wrong), after="hold")) as server:
        result = run_wscli("handshake", server.url())
    request, rest = _request_part(result.stdout)
    expected = accept_value(request_key(request))
    assert rest.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    stderr = result.stderr.decode().splitlines()
    assert stderr[1] == f"✗ accept: expected {expected}, received {wrong}"
    assert stderr[-1] == (
        f"wscli: error: handshake with 127.0.0.1:{server.port} failed: "
        f"wrong Sec-WebSocket-Accept: expected {expected}, received {wrong}"
    )
    assert result.returncode == ExitCode.HANDSHAKE_REJECTED


def test_unoffered_subprotocol() -> None:
    with RawServer(answer(upgrade_response(subprotocol="evil"), after="hold")) as server:
        result = run_wscli("handshake", server.url(), "-s", "chat", "-s", "superchat")
    assert b"\r\nSec-WebSocket-Protocol: evil\r\n" in result.stdout
    stderr = result.stderr.decode().splitlines()
    assert "✗ subprotocol: evil (offered: chat, superchat)" in stderr
    assert stderr[-1] == (
        f"wscli: error: handshake with 127.0.0.1:{server.port} failed: server chose "
        "subprotocol 'evil', which was not offered (offered: chat, superchat)"
    )
    assert result.returncode == ExitCode.HANDSHAKE_REJECTED


def test_garbage_is_shown_raw_in_the_pipe_and_escaped_in_the_error() -> None:
    garbage = b"\x1b[31mSSH-2.0-OpenSSH_9.2\r\n"
    with RawServer(answer(garbage)) as server:
        result = run_wscli("handshake", server.url())
    _, rest = _request_part(result.stdout)
    assert rest == garbage
    assert result.stderr.decode() == (
        f"wscli: error: handshake with 127.0.0.1:{server.port} failed: malformed response: "
        "invalid HTTP status line: \\e[31mSSH-2.0-OpenSSH_9.2\n"
    )
    assert result.returncode == ExitCode.HANDSHAKE_REJECTED


def test_silent_server_times_out() -> None:
    with RawServer(silent()) as server:
        result = run_wscli("handshake", server.url(), "--timeout", "0.3")
    assert result.stdout == server.requests[0]
    assert result.stderr.decode() == (
        f"wscli: error: handshake with 127.0.0.1:{server.port} failed: "
        "no complete response within 0.3s\n"
    )
    assert result.returncode == ExitCode.TIMEOUT


@pytest.mark.parametrize(
    ("partial", "why"),
    [
        (b"", "the server closed the connection without answering"),
        (b"HTTP/1.1 101 Switching", "the server closed the connection mid-response (22 bytes"),
    ],
)
def test_server_closes_mid_handshake(partial: bytes, why: str) -> None:
    with RawServer(close_early(partial)) as server:
        result = run_wscli("handshake", server.url())
    assert result.stdout == server.requests[0] + partial
    assert result.stderr.decode().startswith(
        f"wscli: error: handshake with 127.0.0.1:{server.port} failed: {why}"
    )
    # Only a server that says nothing at all suggests a TLS port (or a wrong path).
    assert ("try wss://" in result.stderr.decode()) == (partial == b"")
    assert result.returncode == ExitCode.HANDSHAKE_REJECTED


def test_oversized_head() -> None:
    big = b"HTTP/1.1 101 Switching Protocols\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n"
    with RawServer(answer(big, after="hold")) as server:
        result = run_wscli("handshake", server.url())
    assert result.stdout.startswith(server.requests[0] + b"HTTP/1.1 101 Switching Protocols\r\n")
    stderr = result.stderr.decode()
    assert stderr.startswith(
        f"wscli: error: handshake with 127.0.0.1:{server.port} failed: response head too large"
    )
    assert stderr.endswith("(limits: 8192-byte lines, 128 headers)\n")
    assert stderr.count("\n") == 1
    assert result.returncode == ExitCode.HANDSHAKE_REJECTED


def test_tls_to_a_plain_port_hints_ws() -> None:
    with RawServer(answer(http_response(400, "Bad Request"), whole_head=False)) as server:
        result = run_wscli("handshake", server.url(scheme="wss"))
    assert result.stdout == b""
    stderr = result.stderr.decode()
    assert stderr.startswith(f"wscli: error: TLS handshake with 127.0.0.1:{server.port} failed")
    assert "(hint: wss:// to a plain-text port? try ws://)" in stderr
    assert result.returncode == ExitCode.CONNECT_FAILED


# --- the close handshake ------------------------------------------------------------------


def test_close_frames_and_timings_in_debug() -> None:
    handler = answer(upgrade_response(), after="websocket", close_reason="bye")
    with RawServer(handler) as server:
        result = run_wscli("handshake", server.url(), "--debug")
    stderr = result.stderr.decode()
    assert "resolved" not in stderr  # an IP literal needs no resolving
    assert f"* connected to 127.0.0.1:{server.port}\n" in stderr
    assert "00000000  47 45 54 20 2f 20 48 54  54 50 2f 31 2e 31 0d 0a  |GET / HTTP/1.1..|" in (
        stderr
    )
    closes = "* close frames: sent 1000 (normal closure), received 1000 (normal closure) 'bye'\n"
    assert closes in stderr
    timings = [line for line in stderr.splitlines() if line.startswith("* timings: ")]
    assert len(timings) == 1
    for phase in ("dns", "connect", "upgrade", "close", "total"):
        assert f"{phase} " in timings[0]
    assert "tls" not in timings[0]
    assert result.returncode == ExitCode.OK


def test_server_closes_first_with_1001() -> None:
    up = upgrade_response()
    with RawServer(answer(lambda r: up(r) + close_frame(1001, "going away"))) as server:
        result = run_wscli("handshake", server.url(), "--debug")
    stderr = result.stderr.decode()
    assert "* close frames: sent 1001 (going away) 'going away', received 1001 (going away) " in (
        stderr
    )
    assert "wscli: error" not in stderr
    assert result.returncode == ExitCode.OK


def test_close_frame_without_a_code_is_a_clean_close() -> None:
    handler = answer(upgrade_response(), after="websocket", close_code=None)
    with RawServer(handler) as server:
        result = run_wscli("handshake", server.url())
    assert "wscli: error" not in result.stderr.decode()
    assert result.returncode == ExitCode.OK


def test_malformed_close_frame_is_a_protocol_error() -> None:
    up = upgrade_response()
    with RawServer(answer(lambda r: up(r) + b"\x88\x01\x03")) as server:
        result = run_wscli("handshake", server.url())
    assert result.stderr.decode().splitlines()[-1] == (
        f"wscli: error: connection to 127.0.0.1:{server.port} closed abnormally: "
        "the server broke the protocol: close frame too short"
    )
    assert result.returncode == ExitCode.CLOSED_ABNORMALLY


@pytest.mark.parametrize(
    ("after", "args", "message", "code"),
    [
        (
            "websocket",  # the server closes with 1011 'oops' (see handler below)
            (),
            "connection to {where} closed abnormally: close code 1011 (internal error) 'oops'",
            ExitCode.CLOSED_ABNORMALLY,
        ),
        (
            "no-close-frame",
            (),
            "closing the connection to {where} failed: "
            "the server closed the connection without a close frame",
            ExitCode.CLOSED_ABNORMALLY,
        ),
        (
            "ignore-close",
            ("--timeout", "0.3"),
            "closing the connection to {where} failed: no close frame within 0.3s",
            ExitCode.TIMEOUT,
        ),
    ],
    ids=["close-1011", "no-close-frame", "unanswered-close"],
)
def test_bad_close_handshakes(
    after: str, args: tuple[str, ...], message: str, code: ExitCode
) -> None:
    close = {"close_code": 1011, "close_reason": "oops"} if after == "websocket" else {}
    with RawServer(answer(upgrade_response(), after=after, **close)) as server:  # type: ignore[arg-type]
        result = run_wscli("handshake", server.url(), *args)
    where = f"127.0.0.1:{server.port}"
    assert result.stderr.decode().splitlines()[-1] == "wscli: error: " + message.format(where=where)
    assert result.returncode == code


# --- JSON and colour ----------------------------------------------------------------------


def test_json_document() -> None:
    with RawServer(answer(upgrade_response(subprotocol="chat"), after="websocket")) as server:
        result = run_wscli("handshake", server.url("/chat"), "--json", *EXAMPLE_ARGS)
    assert result.stderr == b""
    assert result.returncode == ExitCode.OK
    assert result.stdout.count(b"\n") == 1
    doc = json.loads(result.stdout)
    assert doc["url"] == server.url("/chat")
    assert doc["request"]["raw"].encode() == SENT_REQUEST
    assert doc["response"]["raw"].encode() == EXAMPLE_RESPONSE
    assert doc["response"]["status"] == 101
    assert doc["verdict"]["ok"] is True
    assert doc["verdict"]["accept"]["expected"] == "HSmrc0sMlYUkAGmm5OPpG2HaGWk="
    assert doc["verdict"]["subprotocol"] == {
        "offered": ["chat", "superchat"],
        "received": "chat",
        "ok": True,
        "ignored": False,
    }
    assert doc["peer"] == f"127.0.0.1:{server.port}"
    assert set(doc["timings_ms"]) == {"dns", "connect", "upgrade", "close", "total"}
    assert doc["close"]["sent"] == {"code": 1000, "reason": ""}
    assert doc["close"]["received"] == {"code": 1000, "reason": ""}
    assert doc["error"] is None


def test_json_on_failure_carries_the_error() -> None:
    with RawServer(answer(http_response(403, "Forbidden", body=b"go away"))) as server:
        result = run_wscli("handshake", server.url(), "--json")
    doc = json.loads(result.stdout)
    assert doc["response"]["status"] == 403
    assert doc["response"]["body"] == "go away"
    assert doc["verdict"]["ok"] is False
    assert doc["error"]["exit_code"] == ExitCode.HANDSHAKE_REJECTED
    assert result.stderr.decode() == f"wscli: error: {doc['error']['message']}\n"
    assert result.returncode == ExitCode.HANDSHAKE_REJECTED


def test_pipe_output_has_no_ansi_even_when_colour_is_forced() -> None:
    with RawServer(answer(upgrade_response(subprotocol="chat"), after="websocket")) as server:
        plain, forced = concurrently(
            lambda: run_wscli("handshake", server.url("/chat"), *EXAMPLE_ARGS),
            lambda: run_wscli(
                "handshake",
                server.url("/chat"),
                *EXAMPLE_ARGS,
                env={"FORCE_COLOR": "1", "TERM": "xterm"},
            ),
        )
    assert not has_ansi(plain.stdout)
    assert not has_ansi(plain.stderr)
    assert forced.stdout == SENT_REQUEST + EXAMPLE_RESPONSE  # data stays exact
    assert has_ansi(forced.stderr)  # the verdict may be coloured when asked
    assert plain.returncode == forced.returncode == ExitCode.OK


# --- TLS with a throwaway CA --------------------------------------------------------------


class TlsServer(NamedTuple):
    server: RawServer
    sni: list[str]
    """Server names the clients sent (SNI)."""
    cert: trustme.LeafCert


@pytest.fixture
def tls_server(ca: trustme.CA) -> Iterator[TlsServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert = ca.issue_cert("localhost", "127.0.0.1")
    cert.configure_cert(context)
    names: list[str] = []

    def remember_sni(obj: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
        names.append(name or "")

    context.sni_callback = remember_sni  # type: ignore[assignment]
    context.set_alpn_protocols(["http/1.1"])
    with RawServer(answer(upgrade_response(), after="websocket"), context) as server:
        yield TlsServer(server, names, cert)


def test_tls_verified_with_cacert(tls_server: TlsServer, ca: trustme.CA, tmp_path: Path) -> None:
    server, names, _ = tls_server
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    url = f"wss://localhost:{server.port}/"
    result = run_wscli("handshake", url, "--cacert", str(cafile), "--debug")
    stderr = result.stderr.decode()
    assert result.returncode == ExitCode.OK, stderr
    assert names == ["localhost"]  # SNI = host
    assert result.stdout.startswith(f"GET / HTTP/1.1\r\nHost: localhost:{server.port}\r\n".encode())
    assert "* TLS: TLSv1.3, " in stderr
    assert ", ALPN http/1.1\n" in stderr
    assert "*   subject alternative names: DNS:localhost, IP Address:127.0.0.1\n" in stderr
    assert "*   issuer: O=trustme" in stderr
    assert "tls " in next(line for line in stderr.splitlines() if "timings" in line)


def test_tls_rejected_without_the_ca(tls_server: TlsServer) -> None:
    server = tls_server.server
    result = run_wscli("handshake", server.url())
    assert result.stdout == b""
    stderr = result.stderr.decode()
    assert stderr.startswith(f"wscli: error: TLS handshake with 127.0.0.1:{server.port} failed: ")
    assert "certificate" in stderr
    assert "(hint: pass --cacert FILE to trust its CA, or -k/--insecure" in stderr
    assert result.returncode == ExitCode.CONNECT_FAILED


def test_tls_accepted_with_insecure(tls_server: TlsServer) -> None:
    server, _, server_cert = tls_server
    result = run_wscli("handshake", server.url(), "-k", "--json")
    doc = json.loads(result.stdout)
    assert doc["tls"]["verified"] is False
    der = ssl.PEM_cert_to_DER_cert(server_cert.cert_chain_pems[0].bytes().decode())
    sha256 = ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())
    assert doc["tls"]["certificate"]["sha256"] == sha256
    assert doc["tls"]["version"] == "TLSv1.3"
    assert "tls" in doc["timings_ms"]
    assert doc["verdict"]["ok"] is True
    assert result.returncode == ExitCode.OK


# --- a real websockets server: the happy path with permessage-deflate ----------------------


async def _hold(connection: ServerConnection) -> None:
    await connection.wait_closed()


@pytest.mark.parametrize("compression", [True, False])
async def test_real_websockets_server(compression: bool) -> None:
    async with serve(_hold, "127.0.0.1", 0, subprotocols=["chat"]) as server:  # type: ignore[list-item]
        port = server.sockets[0].getsockname()[1]
        args = ["handshake", f"ws://127.0.0.1:{port}/room", "-s", "chat", "--debug"]
        if not compression:
            args.append("--no-compression")
        result = await asyncio.to_thread(run_wscli, *args)
    stderr = result.stderr.decode()
    assert result.returncode == ExitCode.OK, stderr
    _, response = _request_part(result.stdout)
    assert response.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert "✓ subprotocol: chat (offered: chat)\n" in stderr
    assert "* close frames: sent 1000 (normal closure), received 1000 (normal closure)\n" in stderr
    if compression:
        assert (
            "✓ extensions: permessage-deflate; server_max_window_bits=12; "
            "client_max_window_bits=12 (offered: permessage-deflate; client_max_window_bits)\n"
        ) in stderr
    else:
        assert "✓ extensions: none (offered: none)\n" in stderr


def test_tls_handshake_timeout() -> None:
    with RawServer(silent()) as server:  # never answers the ClientHello
        result = run_wscli("handshake", server.url(scheme="wss"), "--timeout", "0.3")
    assert result.stdout == b""
    assert result.stderr.decode() == (
        f"wscli: error: TLS handshake with 127.0.0.1:{server.port} failed: timed out after 0.3s\n"
    )
    assert result.returncode == ExitCode.TIMEOUT


def test_ipv6_address_in_messages() -> None:
    result = run_wscli("handshake", "ws://[::1]:9/")
    assert result.stderr.decode().startswith("wscli: error: cannot connect to [::1]:9: ")
    assert result.returncode == ExitCode.CONNECT_FAILED


# --- on a terminal ------------------------------------------------------------------------


def test_terminal_view_in_a_real_pty() -> None:
    body = b"no such room \x1b]0;owned\x07\n"
    response = http_response(404, "Not Found", body=body)
    with RawServer(answer(response)) as server:
        leader, follower = pty.openpty()
        try:
            result = subprocess.run(
                [*wscli_command(), "handshake", server.url("/chat")],
                stdin=subprocess.DEVNULL,
                stdout=follower,
                stderr=subprocess.PIPE,
                env=clean_env({"TERM": "xterm"}),
                timeout=scaled(30),
                check=False,
            )
        finally:
            os.close(follower)
        screen = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO once the follower side is closed and drained
                break
            if not chunk:
                break
            screen += chunk
        os.close(leader)
    text = screen.decode()
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text).replace("\r\n", "\n")
    assert plain.startswith("> GET /chat HTTP/1.1\n> Host: 127.0.0.1:")
    assert "\n>\n< HTTP/1.1 404 Not Found\n< Content-Length: 24\n<\n" in plain
    assert plain.endswith("no such room \\e]0;owned\\x07\n")  # the peer cannot drive the tty
    assert "\x1b[1;31mHTTP/1.1 404 Not Found\x1b[0m" in text  # colour on a terminal
    assert result.stderr.decode().endswith(
        "rejected the upgrade: HTTP 404 Not Found: no such room \\e]0;owned\\x07"
        " (hint: check the URL path)\n"
    )
    assert result.returncode == ExitCode.HANDSHAKE_REJECTED


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["-H", "X-A: 日本"], "invalid header 'X-A'"),
        (["--origin", "http://日本"], "invalid header 'Origin'"),
        (["-s", "bad proto"], "invalid subprotocol 'bad proto'"),
    ],
)
def test_values_http_cannot_carry_are_usage_errors(args: list[str], why: str) -> None:
    result = run_wscli("handshake", "ws://127.0.0.1:9/", "--offline", *args)
    assert result.returncode == ExitCode.USAGE
    assert result.stdout == b""
    stderr = result.stderr.decode()
    assert stderr.startswith("wscli: error: ") and stderr.count("\n") == 1, stderr
    assert why in stderr


def test_cacert_with_plain_ws_is_a_usage_error() -> None:
    result = run_wscli("handshake", "ws://127.0.0.1:9/", "--offline", "--cacert", __file__)
    assert result.returncode == ExitCode.USAGE
    assert result.stdout == b""
    assert result.stderr == (
        b"wscli: error: --cert/--cacert need a wss:// URL: 'ws://127.0.0.1:9/' is not TLS\n"
    )


def _into_closed_pipe(*args: str) -> subprocess.CompletedProcess[bytes]:
    """Run wscli with stdout a pipe whose reader is already gone (as in `wscli ... | true`)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [*wscli_command(), *args],
            stdin=subprocess.DEVNULL,
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=clean_env(),
            timeout=scaled(30),
            check=False,
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize(
    ("response", "code"),
    [
        (upgrade_response(), ExitCode.OK),
        (http_response(404, "Not Found", body=b"no room\n"), ExitCode.HANDSHAKE_REJECTED),
    ],
    ids=["101", "404"],
)
def test_closed_stdout_ends_quietly_and_keeps_the_verdict(response: Response, code: int) -> None:
    after = "websocket" if code == ExitCode.OK else "close"
    with RawServer(answer(response, after=after)) as server:  # type: ignore[arg-type]
        result = _into_closed_pipe("handshake", server.url())
    stderr = result.stderr.decode()
    assert result.returncode == code, stderr
    assert "status: " in stderr  # the verdict still goes to stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr


def test_accept_for_into_a_closed_pipe_exits_0() -> None:
    result = _into_closed_pipe("handshake", "--accept-for", "dGhlIHNhbXBsZSBub25jZQ==")
    assert (result.returncode, result.stderr) == (0, b"")
