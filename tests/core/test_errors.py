from __future__ import annotations

from wscli.core.errors import (
    ClosedAbnormally,
    ConnectFailed,
    HandshakeRejected,
    TimedOut,
    UsageProblem,
    WscliError,
    format_error,
)
from wscli.core.exitcodes import ExitCode, exit_code_for_close, exit_code_table


def test_format_error_one_line_with_hint() -> None:
    error = ConnectFailed(
        "cannot connect to 127.0.0.1:1",
        "connection refused\n(errno 111)",
        hint="is the server running?",
    )
    assert format_error(error) == (
        "wscli: error: cannot connect to 127.0.0.1:1: connection refused (errno 111)"
        " (hint: is the server running?)"
    )


def test_format_error_escapes_what_the_server_said_and_error_text_keeps_it() -> None:
    from wscli.core.errors import error_text

    error = HandshakeRejected("rejected", "HTTP 404 Not\x1b]52;c;cHduZWQ=\x07 \x9b \u202e \ud800")
    assert format_error(error) == (
        "wscli: error: rejected: HTTP 404 Not\\e]52;c;cHduZWQ=\\x07 \\x9b \\u202e \\ud800"
    )
    assert error_text(error) == "rejected: HTTP 404 Not\x1b]52;c;cHduZWQ=\x07 \x9b \u202e \ud800"


def test_format_error_what_only() -> None:
    assert format_error(WscliError("boom")) == "wscli: error: boom"


def test_exit_codes_per_error_type() -> None:
    assert UsageProblem("x").exit_code == ExitCode.USAGE == 2
    assert ConnectFailed("x").exit_code == ExitCode.CONNECT_FAILED == 3
    assert HandshakeRejected("x", status=404).exit_code == ExitCode.HANDSHAKE_REJECTED == 4
    assert ClosedAbnormally("x", code=1011).exit_code == ExitCode.CLOSED_ABNORMALLY == 5
    assert TimedOut("x").exit_code == ExitCode.TIMEOUT == 6
    assert ExitCode.INTERRUPTED == 130


def test_exit_code_for_close() -> None:
    assert exit_code_for_close(1000) == ExitCode.OK
    assert exit_code_for_close(1001) == ExitCode.OK
    assert exit_code_for_close(1005) == ExitCode.OK  # a close frame without a code
    assert exit_code_for_close(1006) == ExitCode.CLOSED_ABNORMALLY
    assert exit_code_for_close(1011) == ExitCode.CLOSED_ABNORMALLY
    assert exit_code_for_close(None) == ExitCode.CLOSED_ABNORMALLY


def test_exit_code_table() -> None:
    table = exit_code_table().splitlines()
    assert table[0] == "  0  success; normal close (1000/1001, or no code) or clean end"
    assert table[-1] == "130  interrupted (Ctrl-C)"
    assert "  7  replay: the conversation differed from the recording" in table
    assert "  8  no reply: silence (--idle) ended the wait before the replies came" in table
    assert len(table) == len(ExitCode)


def test_os_reason() -> None:
    from wscli.core.errors import os_reason

    assert os_reason(ConnectionRefusedError(111, "Connection refused")) == "connection refused"
    assert os_reason(OSError("Weird Thing")) == "weird thing"
    assert os_reason(TimeoutError()) == "timeouterror"
