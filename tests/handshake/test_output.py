"""wscli.handshake.output: what goes to stdout and stderr for each kind of stdout."""

from __future__ import annotations

import io
import json

from tests.handshake.handshake_example import EXAMPLE_REQUEST, EXAMPLE_RESPONSE
from wscli.handshake.output import write_report
from wscli.handshake.report import HandshakeReport
from wscli.net.terminal import Environment


def _report() -> HandshakeReport:
    report = HandshakeReport("ws://h/chat", "h", 80, False, EXAMPLE_REQUEST, request_sent=True)
    report.response = EXAMPLE_RESPONSE
    report.response_complete = True
    report.timings = {"total": 0.0015}
    return report


def _env(stdout_isatty: bool) -> Environment:
    return Environment(False, stdout_isatty, False, False, False)


def _write(env: Environment, **flags: bool) -> tuple[bytes, str]:
    raw = io.BytesIO()
    stdout = io.TextIOWrapper(raw, encoding="utf-8")
    stderr = io.StringIO()
    write_report(_report(), env, stdout, stderr, **flags)
    stdout.flush()
    return raw.getvalue(), stderr.getvalue()


def test_pipe_gets_the_exact_bytes_and_nothing_else() -> None:
    stdout, stderr = _write(_env(stdout_isatty=False))
    assert stdout == EXAMPLE_REQUEST + EXAMPLE_RESPONSE
    assert stderr == ""  # no verdict without one in the report


def test_terminal_gets_the_marked_view() -> None:
    stdout, _ = _write(_env(stdout_isatty=True))
    lines = stdout.decode().splitlines()
    assert lines[0] == "> GET /chat HTTP/1.1"
    assert "< HTTP/1.1 101 Switching Protocols" in lines
    assert b"\r\n" not in stdout


def test_json_is_one_document_and_debug_goes_to_stderr() -> None:
    stdout, stderr = _write(_env(stdout_isatty=True), json_output=True, debug=True)
    document = json.loads(stdout)
    assert document["request"]["raw"] == EXAMPLE_REQUEST.decode()
    assert stdout.count(b"\n") == 1
    assert stderr == "* timings: total 1.5 ms\n"  # debug on stderr; no verdict with --json


def test_debug_on_a_terminal_reads_in_time_order() -> None:
    """Like curl -v: resolving and connecting, then the request and response, then the
    wire details; stdout and stderr are the same terminal."""
    report = _report()
    report.host, report.addresses, report.peer = "localhost", ["127.0.0.1"], "127.0.0.1:80"
    screen = io.StringIO()
    write_report(report, _env(stdout_isatty=True), screen, screen, debug=True)
    text = screen.getvalue()
    assert text.startswith("* resolved localhost to 127.0.0.1\n* connected to 127.0.0.1:80\n")
    assert text.index("* connected to") < text.index("> GET /chat") < text.index("* timings")


def test_cut_body_note_in_a_pipe_starts_its_own_line() -> None:
    report = _report()
    report.response = b"HTTP/1.1 404 Not Found\r\nContent-Length: 5000\r\n\r\n"
    report.body, report.body_truncated = b"<html><bo", True
    raw = io.BytesIO()
    stdout = io.TextIOWrapper(raw, encoding="utf-8")
    stderr = io.StringIO()
    write_report(report, _env(stdout_isatty=False), stdout, stderr)
    assert raw.getvalue().endswith(b"<html><bo")  # the exact bytes: nothing added
    assert stderr.getvalue() == "\n(body cut after the first 9 bytes)\n"
    screen = io.StringIO()
    write_report(report, _env(stdout_isatty=True), screen, screen)
    assert "<html><bo\n[body cut after 9 bytes]\n" in screen.getvalue()
