"""Render a handshake for people and programs (pure: data in, text out, no I/O).

- :func:`raw_output`: the exact bytes for a pipe, nothing added;
- :func:`render_exchange`: the terminal view, ``> `` request and ``< `` response lines;
- :func:`render_verdict`: expected vs received, with ✓ / ✗ (stderr);
- :func:`render_debug`: addresses, TLS, timings, close frames, hex dumps (stderr);
- :func:`json_document`: one JSON object with all of it.

Peer bytes are decoded leniently and control characters escaped, so a server cannot drive
the terminal.
"""

from __future__ import annotations

import base64
import dataclasses
import ipaddress
from collections.abc import Iterator
from typing import Any

from rich.text import Text

from wscli.core.closecodes import close_description
from wscli.core.errors import format_error
from wscli.core.escape import escape_control
from wscli.core.headers import REQUIRE_SUBPROTOCOL_HINT
from wscli.core.ndjson import to_json
from wscli.handshake.report import CLOSE_WAIT_KEPT, CertInfo, CloseFrame, HandshakeReport, TlsInfo
from wscli.handshake.request import Verdict, format_extension

PHASES = ("dns", "connect", "tls", "upgrade", "close", "total")
OK_MARK = "✓"
BAD_MARK = "✗"
WARN_MARK = "!"


def raw_output(report: HandshakeReport) -> bytes:
    """The bytes a pipe gets: request, then the response head and the body kept, as sent.

    A request that never went out (the connection failed) is left out.
    """
    request = report.request if report.request_sent or report.offline else b""
    return request + report.response + report.body


def _lines(data: bytes) -> Iterator[str]:
    """Split on CRLF (the HTTP line end); a last line without one is still yielded."""
    parts = data.split(b"\r\n")
    if parts and parts[-1] == b"":
        parts.pop()
    for part in parts:
        yield escape_control(part.decode("utf-8", "backslashreplace"), keep_newlines=False)


def _head_lines(text: Text, data: bytes, marker: str, first_style: str) -> None:
    marker_style = "bold cyan" if marker == ">" else "bold magenta"
    for index, line in enumerate(_lines(data)):
        if not line:
            text.append(marker, marker_style)
            text.append("\n")
            continue
        text.append(f"{marker} ", marker_style)
        name, sep, value = line.partition(":")
        if index == 0:
            text.append(line, first_style)
        elif sep:
            text.append(name, "blue")
            text.append(sep + value)
        else:
            text.append(line)
        text.append("\n")


def render_exchange(
    request: bytes,
    response: bytes = b"",
    body: bytes = b"",
    *,
    body_truncated: bool = False,
) -> Text:
    """The terminal view: ``> `` before request lines, ``< `` before response lines.

    CRLFs are implied by the line breaks; the blank line ending each head shows as a bare
    marker. A non-101 body follows unmarked, escaped.
    """
    text = Text()
    _head_lines(text, request, ">", "bold")
    if response:
        ok = response.startswith(b"HTTP/1.1 101 ")
        _head_lines(text, response, "<", "bold green" if ok else "bold red")
    if body:
        body_text = escape_control(body.decode("utf-8", "replace"))
        text.append(body_text)
        if not body_text.endswith("\n"):
            text.append("\n")
    if body_truncated:
        text.append(f"[body cut after {len(body)} bytes]\n", "dim")
    return text


def _mark(text: Text, ok: bool | None) -> None:
    if ok is None:
        text.append("  ")
    else:
        text.append(OK_MARK if ok else BAD_MARK, "bold green" if ok else "bold red")
        text.append(" ")


def _check(text: Text, ok: bool, line: str) -> None:
    """One verdict line after its mark; escaped here, as every line quotes the server."""
    _mark(text, ok)
    text.append(escape_control(line, keep_newlines=False) + "\n")


def render_redirect(report: HandshakeReport) -> Text:
    """The status line of a hop whose redirect -L followed, instead of its verdict."""
    text = Text()
    verdict = report.verdict
    status = "" if verdict is None else f"{verdict.status_code} {verdict.reason}".rstrip()
    line = f"status: {status}: following the redirect to {report.redirected_to} (-L)"
    if report.dropped_credentials:
        line += "; -H headers and --auth not sent to the new host"
    text.append("→ ", "bold cyan")
    text.append(escape_control(line, keep_newlines=False) + "\n")
    return text


def render_verdict(verdict: Verdict) -> Text:
    """One line per check: status, accept (expected vs received), subprotocol, extensions."""
    text = Text()
    code = verdict.status_code if verdict.status_code is not None else verdict.status_text
    status = f"{code or '(none)'} {verdict.reason}".rstrip()
    if verdict.status_ok:
        _check(text, True, f"status: {status}")
        return _verdict_101(text, verdict)
    _check(text, False, f"status: {status} (expected 101 Switching Protocols)")
    return text


def _verdict_101(text: Text, verdict: Verdict) -> Text:
    received = ", ".join(verdict.accept_received) or "(missing)"
    _check(
        text, verdict.accept_ok, f"accept: expected {verdict.accept_expected}, received {received}"
    )
    offered = ", ".join(verdict.subprotocols_offered) or "none"
    chosen = ", ".join(verdict.subprotocols_received) or "none"
    line = f"subprotocol: {chosen} (offered: {offered})"
    if verdict.subprotocol_ignored:
        # Legal, but the server may speak another protocol than the one offered.
        text.append(f"{WARN_MARK} ", "bold yellow")
        text.append(escape_control(f"{line}: {REQUIRE_SUBPROTOCOL_HINT}", keep_newlines=False))
        text.append("\n")
    else:
        _check(text, verdict.subprotocol_ok, line)
    got = ", ".join(format_extension(n, p) for n, p in verdict.extensions_received) or "none"
    line = f"extensions: {got} (offered: {verdict.extensions_offered or 'none'})"
    if verdict.extensions_error:
        line += f": {verdict.extensions_error}"
    _check(text, verdict.extensions_ok, line)
    return text


def hexdump(data: bytes, width: int = 16) -> str:
    """``hexdump -C`` style lines: offset, hex bytes in two groups of 8, printable ASCII."""
    out = []
    for offset in range(0, len(data), width):
        chunk = data[offset : offset + width]
        hexes = [f"{byte:02x}" for byte in chunk]
        left, right = " ".join(hexes[:8]), " ".join(hexes[8:])
        column = f"{left:<23}  {right:<23}"
        ascii_ = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        out.append(f"{offset:08x}  {column}  |{ascii_}|")
    return "\n".join(out) + ("\n" if out else "")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _close_text(frame: CloseFrame | None) -> str:
    return "none" if frame is None else close_description(frame.code, frame.reason)


def _tls_lines(tls: TlsInfo) -> list[str]:
    """What ``curl -v`` says of a TLS session: version, cipher, ALPN, the certificate and
    its chain, and the verification's result."""
    cipher = f"{tls.cipher} ({tls.bits} bits)" if tls.cipher else "unknown cipher"
    lines = [f"TLS: {tls.version}, {cipher}, ALPN {tls.alpn or 'none'}"]
    if tls.verify_error is not None:
        lines.append(f"certificate verify failed: {tls.verify_error}")
        lines.append("(the details below were read over a second connection, not verified)")
    if tls.certificate is not None:
        lines += _cert_lines("certificate", tls.certificate)
    elif tls.unreadable is not None:
        lines.append(f"certificate: cannot be read ({tls.unreadable})")
    for depth, cert in enumerate(tls.chain, 1):
        lines += _cert_lines(f"chain {depth} (from the {tls.chain_from})", cert, brief=True)
    if tls.verify_error is None:
        lines.append("certificate verified" if tls.verified else "certificate not verified (-k)")
    return lines


def _cert_lines(label: str, cert: CertInfo, brief: bool = False) -> list[str]:
    if cert.expired:
        state = "EXPIRED"
    elif cert.not_yet_valid:
        state = "NOT VALID YET"
    else:
        state = "valid now"
    signed = ", self-signed" if cert.self_signed else ""
    lines = [
        f"{label}: subject: {cert.subject or '(empty)'}{signed}",
        f"  issuer: {cert.issuer or '(empty)'}",
        f"  valid: {cert.not_before} to {cert.not_after} ({state})",
    ]
    if brief:
        return lines
    names = ", ".join(cert.san) or "none"
    if cert.san_more:
        names += f" and {cert.san_more} more"
    lines.append(f"  subject alternative names: {names}")
    if cert.sha256:
        lines.append(f"  SHA-256: {cert.sha256}")
    return lines


def _note(text: Text, line: str) -> None:
    """One ``* `` line; escaped here, as most quote the server (a certificate's subject,
    issuer and names: a certificate the user trusted wrote an OSC 52 clipboard write and a
    screen clear to the terminal through them)."""
    text.append("* ", "dim")
    text.append(escape_control(line, keep_newlines=False) + "\n")


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def render_debug_setup(report: HandshakeReport) -> Text:
    """The --debug lines of what came before the request: addresses, connection, TLS.

    On a terminal they are printed before the exchange, in time order as ``curl -v`` does,
    so a slow phase shows where it happens. An IP literal needs no resolving: no
    "resolved 127.0.0.1 to 127.0.0.1".
    """
    text = Text()
    if report.addresses and not _is_ip_literal(report.host):
        _note(text, f"resolved {report.host} to {', '.join(report.addresses)}")
    if report.peer:
        _note(text, f"connected to {report.peer}")
    if report.tls is not None:
        for line in _tls_lines(report.tls):
            _note(text, line)
    return text


def render_debug(report: HandshakeReport) -> Text:
    """The --debug details: addresses, TLS, every chunk of bytes, close frames, timings."""
    text = render_debug_setup(report)
    text.append_text(render_debug_wire(report))
    return text


def render_debug_wire(report: HandshakeReport) -> Text:
    """The --debug lines from the request on: every chunk of bytes, close frames, timings."""
    text = Text()

    def note(line: str) -> None:
        _note(text, line)

    for chunk in report.wire:
        arrow = ">" if chunk.direction == "sent" else "<"
        where = f"{chunk.phase}, +{_ms(chunk.at)}"
        text.append(
            f"{arrow} {chunk.direction} {len(chunk.data)} bytes ({where})\n",
            "bold cyan" if arrow == ">" else "bold magenta",
        )
        text.append(hexdump(chunk.data))
    if report.close_wait_discarded:
        note(
            f"{report.close_wait_received:,} bytes received while waiting for the close; "
            f"the first {CLOSE_WAIT_KEPT // 1024} KiB are shown, "
            f"{report.close_wait_discarded:,} bytes were counted and discarded"
        )
    if report.writes_discarded:
        note(f"{report.writes_discarded:,} bytes (pongs) not sent after our close frame")
    if report.close_sent is not None or report.close_received is not None:
        note(
            f"close frames: sent {_close_text(report.close_sent)}, "
            f"received {_close_text(report.close_received)}"
        )
    timings = [f"{p} {_ms(report.timings[p])}" for p in PHASES if p in report.timings]
    if timings:
        note("timings: " + ", ".join(timings))
    return text


def _head_json(data: bytes) -> dict[str, Any]:
    lines = data.decode("iso-8859-1").split("\r\n")
    headers = [list(map(str.strip, line.split(":", 1))) for line in lines[1:] if ":" in line]
    return {"raw": data.decode("iso-8859-1"), "start_line": lines[0], "headers": headers}


def _verdict_json(verdict: Verdict) -> dict[str, Any]:
    return {
        "ok": verdict.ok,
        "status": {"code": verdict.status_code, "reason": verdict.reason, "ok": verdict.status_ok},
        "accept": {
            "expected": verdict.accept_expected,
            "received": ", ".join(verdict.accept_received) or None,
            "ok": verdict.accept_ok,
        },
        "subprotocol": {
            "offered": verdict.subprotocols_offered,
            "received": ", ".join(verdict.subprotocols_received) or None,
            "ok": verdict.subprotocol_ok,
            "ignored": verdict.subprotocol_ignored,
        },
        "extensions": {
            "offered": verdict.extensions_offered,
            "received": [
                {"name": name, "params": dict(params)}
                for name, params in verdict.extensions_received
            ],
            "ok": verdict.extensions_ok,
            "error": verdict.extensions_error,
        },
    }


def _close_json(frame: CloseFrame | None) -> dict[str, Any] | None:
    return None if frame is None else {"code": frame.code, "reason": frame.reason}


def json_document(report: HandshakeReport) -> dict[str, Any]:
    """Everything in one object. Raw heads are ISO-8859-1 text (HTTP's charset; lossless)."""
    response: dict[str, Any] | None = None
    if report.response:
        response = {**_head_json(report.response), "complete": report.response_complete}
        if report.verdict is not None:
            response["status"] = report.verdict.status_code
        if report.body or report.body_truncated:
            response["body"] = report.body.decode("utf-8", "replace")
            response["body_base64"] = base64.b64encode(report.body).decode()
            response["body_truncated"] = report.body_truncated
    return {
        "url": report.url,
        "offline": report.offline,
        "request": {**_head_json(report.request), "sent": report.request_sent},
        "response": response,
        "verdict": None if report.verdict is None else _verdict_json(report.verdict),
        "addresses": report.addresses,
        "peer": report.peer,
        "tls": None if report.tls is None else dataclasses.asdict(report.tls),
        "close": {
            "sent": _close_json(report.close_sent),
            "received": _close_json(report.close_received),
            "bytes_received_while_waiting": report.close_wait_received,
        },
        "timings_ms": {
            p: round(report.timings[p] * 1000, 3) for p in PHASES if p in report.timings
        },
        "error": None
        if report.error is None
        else {
            "message": format_error(report.error, prefix=""),
            "exit_code": int(report.error.exit_code),
        },
        "redirected_to": report.redirected_to,
    }


def json_line(report: HandshakeReport) -> str:
    """:func:`json_document` as one line (NDJSON-friendly), keys in a stable order."""
    return to_json(json_document(report))
