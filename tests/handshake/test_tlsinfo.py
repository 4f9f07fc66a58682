"""`wscli handshake --debug` shows a TLS server's certificate as `curl -v` does — subject,
issuer, validity (and whether it expired), names, chain, TLS version, cipher, ALPN — on
success, with -k, and when verification failed; every field escaped."""

from __future__ import annotations

import datetime
import json
import ssl
from pathlib import Path

import trustme

from tests.support import concurrently, run_wscli
from tests.support.connect_servers import echo, running

PAST = (datetime.datetime(2019, 1, 1, tzinfo=datetime.timezone.utc),
        datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc))  # fmt: skip


def _server_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(context)
    context.set_alpn_protocols(["http/1.1"])
    return context


def _debug_lines(stderr: bytes) -> list[str]:
    return [line for line in stderr.decode().splitlines() if line.startswith("* ")]


def test_a_verified_certificate_and_its_chain(ca: trustme.CA, tmp_path: Path) -> None:
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    cert = ca.issue_cert("127.0.0.1", "localhost", common_name="wscli test")
    with running(echo, ssl=_server_context(cert)) as server:
        url = f"wss://127.0.0.1:{server.port}/"
        result = run_wscli("handshake", url, "--debug", "--cacert", str(tmp_path / "ca.pem"))
    assert result.returncode == 0, result.stderr
    lines = _debug_lines(result.stderr)
    tls = next(i for i, line in enumerate(lines) if line.startswith("* TLS: "))
    assert lines[tls].startswith("* TLS: TLSv1.3, TLS_")
    assert lines[tls].endswith(" bits), ALPN http/1.1")
    assert lines[tls + 1].startswith("* certificate: subject: O=trustme")
    assert lines[tls + 1].endswith("CN=wscli test")
    assert lines[tls + 2].startswith("*   issuer: O=trustme")
    assert lines[tls + 3] == (
        "*   valid: 2000-01-01 00:00:00 UTC to 3000-01-01 00:00:00 UTC (valid now)"
    )
    assert lines[tls + 4] == "*   subject alternative names: IP Address:127.0.0.1, DNS:localhost"
    assert lines[tls + 5].startswith("*   SHA-256: ")
    assert lines[tls + 6].startswith("* chain 1 (from the trust store): subject: O=trustme")
    assert lines[tls + 6].endswith(", self-signed")
    assert "* certificate verified" in lines


def test_with_insecure_the_details_are_shown_too(ca: trustme.CA) -> None:
    # -k showed only a fingerprint: Python decodes only verified certificates.
    cert = ca.issue_cert("127.0.0.1", not_before=PAST[0], not_after=PAST[1])
    with running(echo, ssl=_server_context(cert)) as server:
        url = f"wss://127.0.0.1:{server.port}/"
        text, as_json = concurrently(
            lambda: run_wscli("handshake", url, "--debug", "-k"),
            lambda: run_wscli("handshake", url, "--json", "-k"),
        )
        doc = json.loads(as_json.stdout)
    assert text.returncode == 0, text.stderr
    lines = _debug_lines(text.stderr)
    assert "*   valid: 2019-01-01 00:00:00 UTC to 2020-01-01 00:00:00 UTC (EXPIRED)" in lines
    assert "*   subject alternative names: IP Address:127.0.0.1" in lines
    assert "* certificate not verified (-k)" in lines
    assert doc["tls"]["verified"] is False
    assert doc["tls"]["certificate"]["expired"] is True
    assert doc["tls"]["certificate"]["issuer"].startswith("O=trustme")


def test_a_refused_certificate_is_shown_with_why(ca: trustme.CA, tmp_path: Path) -> None:
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    cert = ca.issue_cert("127.0.0.1", not_before=PAST[0], not_after=PAST[1])
    with running(echo, ssl=_server_context(cert)) as server:
        url = f"wss://127.0.0.1:{server.port}/"
        text = run_wscli("handshake", url, "--debug", "--cacert", str(tmp_path / "ca.pem"))
        doc = json.loads(
            run_wscli("handshake", url, "--json", "--cacert", str(tmp_path / "ca.pem")).stdout
        )
    assert text.returncode == 3
    lines = _debug_lines(text.stderr)
    assert "* certificate verify failed: certificate has expired" in lines
    assert "*   valid: 2019-01-01 00:00:00 UTC to 2020-01-01 00:00:00 UTC (EXPIRED)" in lines
    assert any(line.startswith("* chain 1 (from the trust store)") for line in lines)
    assert text.stderr.decode().endswith(
        "failed: certificate has expired (hint: the server must renew it; -k/--insecure skips"
        " verification)\n"
    )
    assert doc["tls"]["verify_error"] == "certificate has expired"
    assert doc["tls"]["certificate"]["expired"] is True
    assert doc["error"]["exit_code"] == 3


def test_hostile_certificate_fields_are_escaped(ca: trustme.CA) -> None:
    cert = ca.issue_cert(
        "127.0.0.1",
        common_name="evil\x1b]52;c;cHduZWQ=\x07\x1b[2J",
        organization_name="\u202egnp.exe",
    )
    with running(echo, ssl=_server_context(cert)) as server:
        result = run_wscli("handshake", f"wss://127.0.0.1:{server.port}/", "--debug", "-k")
    assert result.returncode == 0, result.stderr
    assert b"\x1b" not in result.stderr and "\u202e".encode() not in result.stderr
    assert "CN=evil\\e]52;c;cHduZWQ=\\x07\\e[2J" in result.stderr.decode()
    assert "O=\\u202egnp.exe" in result.stderr.decode()
