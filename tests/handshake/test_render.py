"""Rendering a handshake (pure): terminal view, verdict, debug, hex dump, JSON."""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

from tests.handshake.handshake_example import ACCEPT
from tests.handshake.handshake_example import EXAMPLE_REQUEST as REQUEST
from tests.handshake.handshake_example import EXAMPLE_RESPONSE as RESPONSE
from wscli.core.errors import HandshakeRejected
from wscli.handshake.render import (
    hexdump,
    json_document,
    json_line,
    raw_output,
    render_debug,
    render_exchange,
    render_verdict,
)
from wscli.handshake.report import CertInfo, CloseFrame, HandshakeReport, TlsInfo, WireChunk
from wscli.handshake.request import Verdict


def _verdict(**changes: object) -> Verdict:
    fields: dict[str, object] = {
        "status_code": 101,
        "reason": "Switching Protocols",
        "accept_expected": ACCEPT,
        "accept_received": [ACCEPT],
        "subprotocols_offered": ["chat", "superchat"],
        "subprotocols_received": ["chat"],
        "extensions_offered": "permessage-deflate; client_max_window_bits",
        "extensions_received": [("permessage-deflate", [("server_max_window_bits", "12")])],
    }
    fields.update(changes)
    return Verdict(**fields)  # type: ignore[arg-type]


def test_terminal_view_of_the_issue_example() -> None:
    text = render_exchange(REQUEST, RESPONSE)
    assert text.plain == (
        "> GET /chat HTTP/1.1\n"
        "> Host: server.example.com\n"
        "> Upgrade: websocket\n"
        "> Connection: Upgrade\n"
        "> Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\n"
        "> Sec-WebSocket-Protocol: chat, superchat\n"
        "> Sec-WebSocket-Version: 13\n"
        ">\n"
        "< HTTP/1.1 101 Switching Protocols\n"
        "< Upgrade: websocket\n"
        "< Connection: Upgrade\n"
        "< Sec-WebSocket-Accept: HSmrc0sMlYUkAGmm5OPpG2HaGWk=\n"
        "< Sec-WebSocket-Protocol: chat\n"
        "<\n"
    )
    styles = {text.plain[span.start : span.end]: str(span.style) for span in text.spans}
    assert styles["HTTP/1.1 101 Switching Protocols"] == "bold green"
    assert styles["GET /chat HTTP/1.1"] == "bold"
    assert styles["Sec-WebSocket-Accept"] == "blue"


def test_terminal_view_of_a_rejection_escapes_peer_bytes() -> None:
    response = b"HTTP/1.1 404 Not \x1b[2JFound\r\nX-Bare: lf\nonly\r\n\r\n"
    text = render_exchange(b"GET / HTTP/1.1\r\n\r\n", response, b"gone\x07\n", body_truncated=True)
    assert text.plain == (
        "> GET / HTTP/1.1\n"
        ">\n"
        "< HTTP/1.1 404 Not \\e[2JFound\n"
        "< X-Bare: lf\\nonly\n"
        "<\n"
        "gone\\x07\n"
        "[body cut after 6 bytes]\n"
    )
    assert "\x1b" not in text.plain
    spans = {text.plain[s.start : s.end]: str(s.style) for s in text.spans}
    assert spans["HTTP/1.1 404 Not \\e[2JFound"] == "bold red"


def test_terminal_view_of_an_incomplete_response() -> None:
    assert render_exchange(b"GET / HTTP/1.1\r\n\r\n", b"HTTP/1.1 101 Swi").plain == (
        "> GET / HTTP/1.1\n>\n< HTTP/1.1 101 Swi\n"
    )


def test_verdict_all_good() -> None:
    assert render_verdict(_verdict()).plain == (
        "✓ status: 101 Switching Protocols\n"
        f"✓ accept: expected {ACCEPT}, received {ACCEPT}\n"
        "✓ subprotocol: chat (offered: chat, superchat)\n"
        "✓ extensions: permessage-deflate; server_max_window_bits=12 "
        "(offered: permessage-deflate; client_max_window_bits)\n"
    )


def test_verdict_failures_show_expected_and_received() -> None:
    verdict = _verdict(
        accept_received=[],
        subprotocols_offered=[],
        subprotocols_received=["evil"],
        extensions_offered=None,
        extensions_received=[],
    )
    text = render_verdict(verdict)
    assert text.plain == (
        "✓ status: 101 Switching Protocols\n"
        f"✗ accept: expected {ACCEPT}, received (missing)\n"
        "✗ subprotocol: evil (offered: none)\n"
        "✓ extensions: none (offered: none)\n"
    )
    marks = [str(s.style) for s in text.spans if text.plain[s.start : s.end] in "✓✗"]
    assert marks == ["bold green", "bold red", "bold red", "bold green"]


def test_verdict_non_101_shows_only_the_status() -> None:
    text = render_verdict(_verdict(status_code=404, reason="Not Found"))
    assert text.plain == "✗ status: 404 Not Found (expected 101 Switching Protocols)\n"


def test_hexdump() -> None:
    assert hexdump(b"") == ""
    assert hexdump(b"GET /chat HTTP/1.1\r\n\x88\x82") == (
        "00000000  47 45 54 20 2f 63 68 61  74 20 48 54 54 50 2f 31  |GET /chat HTTP/1|\n"
        "00000010  2e 31 0d 0a 88 82                                 |.1....|\n"
    )


def _report() -> HandshakeReport:
    report = HandshakeReport("ws://127.0.0.1:8765/chat", "127.0.0.1", 8765, False, REQUEST)
    report.request_sent = True
    report.addresses = ["127.0.0.1"]
    report.peer = "127.0.0.1:8765"
    report.response = RESPONSE
    report.response_complete = True
    report.verdict = _verdict()
    report.timings = {"dns": 0.001, "connect": 0.0002, "upgrade": 0.0015, "close": 0.0004}
    report.close_sent = CloseFrame(1000, "")
    report.close_received = CloseFrame(1000, "bye")
    report.wire = [WireChunk("sent", "close", 0.0031, b"\x88\x82abcd\x62\x8b")]
    return report


CERT = CertInfo(
    subject="CN=localhost",
    issuer="O=trustme",
    not_before="2000-01-01 00:00:00 UTC",
    not_after="3000-01-01 00:00:00 UTC",
    san=["DNS:localhost"],
    sha256="AB:CD",
)
CA_CERT = CertInfo("O=trustme", "O=trustme", "2000-01-01 00:00:00 UTC", "3000-01-01 00:00:00 UTC",
                   self_signed=True)  # fmt: skip


def test_debug_text() -> None:
    report = _report()
    report.tls = TlsInfo(
        "TLSv1.3",
        "TLS_AES_256_GCM_SHA384",
        256,
        "http/1.1",
        True,
        certificate=CERT,
        chain=[CA_CERT],
        chain_from="trust store",
    )
    assert render_debug(report).plain == (
        "* connected to 127.0.0.1:8765\n"
        "* TLS: TLSv1.3, TLS_AES_256_GCM_SHA384 (256 bits), ALPN http/1.1\n"
        "* certificate: subject: CN=localhost\n"
        "*   issuer: O=trustme\n"
        "*   valid: 2000-01-01 00:00:00 UTC to 3000-01-01 00:00:00 UTC (valid now)\n"
        "*   subject alternative names: DNS:localhost\n"
        "*   SHA-256: AB:CD\n"
        "* chain 1 (from the trust store): subject: O=trustme, self-signed\n"
        "*   issuer: O=trustme\n"
        "*   valid: 2000-01-01 00:00:00 UTC to 3000-01-01 00:00:00 UTC (valid now)\n"
        "* certificate verified\n"
        "> sent 8 bytes (close, +3.1 ms)\n"
        "00000000  88 82 61 62 63 64 62 8b                           |..abcdb.|\n"
        "* close frames: sent 1000 (normal closure), received 1000 (normal closure) 'bye'\n"
        "* timings: dns 1.0 ms, connect 0.2 ms, upgrade 1.5 ms, close 0.4 ms\n"
    )


def test_debug_text_of_an_unverified_or_refused_certificate() -> None:
    report = _report()
    expired = dataclasses.replace(CERT, expired=True, san_more=3)
    report.tls = TlsInfo("TLSv1.3", None, None, None, False, certificate=expired)
    lines = render_debug(report).plain.splitlines()
    assert lines[1:9] == [
        "* TLS: TLSv1.3, unknown cipher, ALPN none",
        "* certificate: subject: CN=localhost",
        "*   issuer: O=trustme",
        "*   valid: 2000-01-01 00:00:00 UTC to 3000-01-01 00:00:00 UTC (EXPIRED)",
        "*   subject alternative names: DNS:localhost and 3 more",
        "*   SHA-256: AB:CD",
        "* certificate not verified (-k)",
        "> sent 8 bytes (close, +3.1 ms)",
    ]
    report.tls = TlsInfo(
        "TLSv1.3", None, None, None, False, certificate=CERT, verify_error="certificate has expired"
    )
    lines = render_debug(report).plain.splitlines()
    assert lines[2:4] == [
        "* certificate verify failed: certificate has expired",
        "* (the details below were read over a second connection, not verified)",
    ]
    assert not any("certificate verified" in line for line in lines)


def test_json_tls_block() -> None:
    report = _report()
    report.tls = TlsInfo("TLSv1.3", "TLS_AES_256_GCM_SHA384", 256, "http/1.1", True, CERT)
    doc = json.loads(json_line(report))
    assert list(doc) == [
        "url",
        "offline",
        "request",
        "response",
        "verdict",
        "addresses",
        "peer",
        "tls",
        "close",
        "timings_ms",
        "error",
        "redirected_to",
    ]
    assert doc["tls"] == {
        "version": "TLSv1.3",
        "cipher": "TLS_AES_256_GCM_SHA384",
        "bits": 256,
        "alpn": "http/1.1",
        "verified": True,
        "certificate": {
            "subject": "CN=localhost",
            "issuer": "O=trustme",
            "not_before": "2000-01-01 00:00:00 UTC",
            "not_after": "3000-01-01 00:00:00 UTC",
            "expired": False,
            "not_yet_valid": False,
            "san": ["DNS:localhost"],
            "san_more": 0,
            "sha256": "AB:CD",
            "self_signed": False,
        },
        "chain": [],
        "chain_from": None,
        "verify_error": None,
        "unreadable": None,
    }


def test_debug_close_reasons_are_escaped_as_connect_shows_them() -> None:
    report = _report()
    report.close_received = CloseFrame(4000, "it's\x1b[2J")
    assert (
        "* close frames: sent 1000 (normal closure), received 4000 (private use) 'it's\\e[2J'\n"
        in render_debug(report).plain
    )


def test_raw_output_leaves_out_a_request_never_sent() -> None:
    report = _report()
    assert raw_output(report) == REQUEST + RESPONSE
    report.request_sent = False
    report.response = b""
    assert raw_output(report) == b""
    report.offline = True
    assert raw_output(report) == REQUEST


def test_json_document() -> None:
    report = _report()
    report.error = HandshakeRejected("handshake with h failed", "because")
    doc = json.loads(json_line(report))
    assert doc == json_document(report)
    assert "\n" not in json_line(report)
    assert doc["request"]["raw"] == REQUEST.decode()
    assert doc["request"]["sent"] is True
    assert doc["request"]["headers"][0] == ["Host", "server.example.com"]
    assert doc["response"]["status"] == 101
    assert doc["response"]["start_line"] == "HTTP/1.1 101 Switching Protocols"
    assert doc["verdict"]["ok"] is True
    assert doc["verdict"]["accept"] == {"expected": ACCEPT, "received": ACCEPT, "ok": True}
    assert doc["verdict"]["subprotocol"]["received"] == "chat"
    assert doc["verdict"]["extensions"]["received"] == [
        {"name": "permessage-deflate", "params": {"server_max_window_bits": "12"}}
    ]
    assert doc["timings_ms"] == {"dns": 1.0, "connect": 0.2, "upgrade": 1.5, "close": 0.4}
    assert doc["close"] == {
        "sent": {"code": 1000, "reason": ""},
        "received": {"code": 1000, "reason": "bye"},
        "bytes_received_while_waiting": 0,
    }
    assert doc["error"] == {"message": "handshake with h failed: because", "exit_code": 4}
    assert doc["tls"] is None


def test_pure_modules_do_no_io() -> None:
    """Rendering and the sans-I/O handshake import no sockets, asyncio, click or files."""
    forbidden = {"asyncio", "socket", "ssl", "click", "subprocess", "os", "sys"}
    root = Path(__file__).resolve().parent.parent.parent / "wscli"
    for name in (
        "core/accept.py",
        "handshake/request.py",
        "handshake/report.py",
        "handshake/render.py",
    ):
        tree = ast.parse((root / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                assert module.split(".")[0] not in forbidden, f"{name} imports {module}"
                assert module not in {"wscli.handshake.exchange", "wscli.cli"}, (
                    f"{name} imports {module}"
                )


def test_debug_resolved_line_only_for_a_name() -> None:
    report = _report()
    assert "resolved" not in render_debug(report).plain  # 127.0.0.1 to 127.0.0.1: noise
    report.host, report.addresses = "[::1]", ["::1"]
    assert "resolved" not in render_debug(report).plain
    report.host, report.addresses = "localhost", ["127.0.0.1", "::1"]
    assert render_debug(report).plain.startswith("* resolved localhost to 127.0.0.1, ::1\n")
