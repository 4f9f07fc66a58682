"""`wscli handshake` against hostile servers: every line on stderr that quotes
the server (the error, the verdict) is escaped; ``--accept-for`` with a URL is refused."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import json
import re
import ssl
import struct
from collections.abc import Awaitable
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support import concurrently, run_wscli, scaled
from tests.support.measured import run_measured
from tests.support.rawserver import (
    RawConnection,
    RawServer,
    answer,
    http_response,
    upgrade_response,
)

HOSTILE_REASON = "Not\x1b]0;PWNED\x07\x1b]52;c;cHduZWQ=\x07\x1b[31mRED"


def _assert_inert(stderr: bytes) -> None:
    """No byte of stderr can drive a terminal: no ESC, BEL, C1 or bidi control."""
    text = stderr.decode("utf-8")
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", text), text


def test_non_101_reason_with_osc_sequences_is_escaped() -> None:
    with RawServer(answer(http_response(404, HOSTILE_REASON))) as server:
        result, as_json = concurrently(
            lambda: run_wscli("handshake", server.url()),
            lambda: run_wscli("handshake", server.url(), "--json"),
        )
    assert result.returncode == as_json.returncode == 4
    _assert_inert(result.stderr)
    escaped = b"404 Not\\e]0;PWNED\\x07\\e]52;c;cHduZWQ=\\x07\\e[31mRED"
    assert b"wscli: error: server at 127.0.0.1:" in result.stderr
    assert b"rejected the upgrade: HTTP " + escaped + b" (hint: check the URL path)\n" in (
        result.stderr
    )
    assert b"status: " + escaped + b" (expected 101 Switching Protocols)" in result.stderr
    document = json.loads(as_json.stdout)
    assert "\x1b" not in document["error"]["message"]


def test_101_verdict_line_and_bad_accept_with_c1_are_escaped() -> None:
    raw = upgrade_response(accept="abc\x9b[2J==")

    def hostile_101(request: bytes) -> bytes:
        return raw(request).replace(b"101 Switching Protocols", b"101 Switching\x9b[2JProtocols")

    def hostile_ok(request: bytes) -> bytes:
        good = upgrade_response()(request)
        return good.replace(b"101 Switching Protocols", b"101 \xe2\x80\xaeSwitching")

    with (
        RawServer(answer(hostile_101, after="websocket")) as server,
        RawServer(answer(hostile_ok, after="websocket")) as ok_server,
    ):
        result, ok = concurrently(
            lambda: run_wscli("handshake", server.url()),
            lambda: run_wscli("handshake", ok_server.url()),
        )
    assert result.returncode == 4
    _assert_inert(result.stderr)
    assert b"status: 101 Switching\\x9b[2JProtocols" in result.stderr
    assert b"received abc\\x9b[2J==" in result.stderr
    assert b"wrong Sec-WebSocket-Accept" in result.stderr

    assert ok.returncode == 0, ok.stderr
    _assert_inert(ok.stderr)  # the reason is Latin-1: its bytes show as \x80 escapes
    assert b"status: 101 \xc3\xa2\\x80\xc2\xaeSwitching" in ok.stderr


def test_accept_for_with_a_url_is_a_usage_error() -> None:
    result = run_wscli("handshake", "--accept-for", "dGhlIHNhbXBsZSBub25jZQ==", "ws://h/")
    assert result.returncode == 2
    assert result.stdout == b""
    assert result.stderr.startswith(b"wscli: error: --accept-for takes no URL: ")
    assert b"'ws://h/' would be ignored" in result.stderr


def _flood_without_closing(conn: RawConnection) -> Awaitable[None]:
    """Answer 101, then send text frames and pings as fast as the client reads, never
    reading (the close frame, the pongs) and never closing."""

    async def flood() -> None:
        request = await conn.read_request()
        await conn.send(upgrade_response()(request))
        payload = b"f" * 65000
        frames = (b"\x81\x7e" + struct.pack("!H", len(payload)) + payload + b"\x89\x01p") * 16
        with contextlib.suppress(ConnectionError, asyncio.TimeoutError):
            while True:
                conn.writer.write(frames)
                await asyncio.wait_for(conn.writer.drain(), 30)

    return flood()


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
def test_a_flood_during_the_close_wait_is_counted_not_kept(debug: bool) -> None:
    """A 300 MB flood held 885 MB RSS and --timeout 5 took 23 s: every byte was kept."""
    with RawServer(_flood_without_closing) as server:
        args = ["handshake", server.url(), "--timeout", "3", *(["--debug"] if debug else [])]
        run = run_measured(args, timeout=60)
    assert run.returncode == 6, run.stderr
    assert run.stdout.startswith(b"GET / HTTP/1.1\r\n")
    assert run.stdout.endswith(b"\r\n\r\n") and b"HTTP/1.1 101 Switching" in run.stdout
    err = run.stderr.decode()
    assert err.endswith(
        f"wscli: error: closing the connection to 127.0.0.1:{server.port} failed:"
        " no close frame within 3s\n"
    )
    assert "Traceback" not in err
    if debug:
        counted = re.search(
            r"\* ([\d,]+) bytes received while waiting for the close; the first 64 KiB are"
            r" shown, ([\d,]+) bytes were counted and discarded",
            err,
        )
        assert counted is not None, err[-2000:]
        assert int(counted.group(1).replace(",", "")) > 10 * 2**20  # the flood did come
        assert len(run.stderr) < 2 * 2**20  # ~5 hex dump bytes per byte kept, 64 KiB kept
    assert run.elapsed < 3 + scaled(5), f"took {run.elapsed:.1f} s"
    assert run.peak_rss_kib < 120 * 1024, f"peak RSS {run.peak_rss_kib} KiB"


def _hostile_certificate(ca: trustme.CA, tmp_path: Path) -> Path:
    """A certificate for 127.0.0.1 signed by ``ca`` whose subject and extra DNS name carry
    terminal escapes; returns the PEM file holding it and its key."""
    ca_key = serialization.load_pem_private_key(ca.private_key_pem.bytes(), None)
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "x\x1b]0;PWNED\x07"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "O\u009b2J\u202e"),
        ]
    )
    san = x509.SubjectAlternativeName(
        [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("evil\x1b[2J.test")]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(san, critical=False)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    path = tmp_path / "hostile.pem"
    path.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def test_certificate_names_are_escaped_in_debug(tmp_path: Path) -> None:
    """Subject, issuer and SAN lines skipped the escaping: 11 raw ESC bytes (an OSC 52
    clipboard write, a screen clear) from a certificate the user trusted with --cacert."""
    ca = trustme.CA(organization_name="Evil\x1b]52;c;cHduZWQ=\x07 CA")
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(ca_file)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(_hostile_certificate(ca, tmp_path))
    with RawServer(answer(upgrade_response(), after="websocket"), context) as server:
        result = run_wscli("handshake", server.url(), "--cacert", str(ca_file), "--debug")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(b"GET / HTTP/1.1\r\n")
    _assert_inert(result.stderr)
    err = result.stderr.decode()
    assert "* certificate: subject: CN=x\\e]0;PWNED\\x07, O=O\\x9b2J\\u202e" in err
    assert "*   issuer: O=Evil\\e]52;c;cHduZWQ=\\x07 CA" in err
    assert "DNS:evil\\e[2J.test" in err


def test_a_status_code_with_a_superscript_digit_is_one_line() -> None:
    """isdigit() accepts "²", int() refuses it: a ValueError traceback, exit 1."""
    with RawServer(answer(b"HTTP/1.1 \xb201 OK\r\nContent-Length: 0\r\n\r\n")) as server:
        result = run_wscli("handshake", server.url())
    assert result.returncode == 4
    assert result.stdout.endswith(b"\r\n\r\nHTTP/1.1 \xb201 OK\r\nContent-Length: 0\r\n\r\n")
    assert result.stderr.decode() == (
        "✗ status: ²01 OK (expected 101 Switching Protocols)\n"
        f"wscli: error: handshake with 127.0.0.1:{server.port} failed: malformed response:"
        " invalid status code; expected integer; got \\xb201\n"
    )
