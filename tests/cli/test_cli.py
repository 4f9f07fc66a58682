"""The top-level CLI: version, help, error boundary, exit codes — through the real entry point."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.support import clean_env, has_ansi, run_wscli, scaled, wscli_command
from wscli import __version__
from wscli.core.exitcodes import ExitCode


def test_version() -> None:
    result = run_wscli("--version")
    assert result.returncode == 0
    assert result.stdout.decode().strip() == f"wscli, version {__version__}"
    assert result.stderr == b""


def test_help_lists_commands_and_exit_codes() -> None:
    for flag in ("-h", "--help"):
        result = run_wscli(flag)
        assert result.returncode == 0
        out = result.stdout.decode()
        for command in ("serve", "connect", "handshake"):
            assert f"  {command} " in out
        for code in ExitCode:
            assert f"{int(code):>3}  " in out
        assert not has_ansi(result.stdout)


def test_python_dash_m() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "wscli", "--version"], capture_output=True, timeout=30
    )
    assert result.returncode == 0
    assert __version__ in result.stdout.decode()


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["connect", "--help"]])
def test_closed_stdout_ends_quietly(args: list[str]) -> None:
    # `wscli --help | true`: the reader is gone before we write; click alone would exit 1.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [*wscli_command(), *args], stdout=write_end, stderr=subprocess.PIPE, timeout=30
        )
    finally:
        os.close(write_end)
    assert result.stderr == b""
    assert result.returncode == ExitCode.OK


def test_interrupted_in_a_pipe_is_one_line() -> None:
    # A second SIGINT makes `serve` stop at once; stderr is a pipe, so no blank line first.
    process = subprocess.Popen(
        [*wscli_command(), "serve", "--port", "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
    )
    assert process.stderr is not None
    banner = process.stderr.readline()
    assert banner.startswith(b"Serving chat on http://127.0.0.1:")
    port = int(banner.split(b":")[2].split(b"/")[0])
    # A client that never answers the close handshake keeps the first shutdown waiting.
    with socket.create_connection(("127.0.0.1", port), timeout=scaled(5)) as client:
        client.sendall(
            b"GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        assert client.recv(4096).startswith(b"HTTP/1.1 101 ")
        process.send_signal(signal.SIGINT)
        time.sleep(scaled(0.3))
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=scaled(10))
    assert process.returncode == ExitCode.INTERRUPTED
    assert b"\n\n" not in err
    assert err.splitlines()[-1] == b"wscli: interrupted"


def test_unknown_option_is_one_line_usage_error() -> None:
    result = run_wscli("--bogus")
    assert result.returncode == ExitCode.USAGE
    assert result.stdout == b""
    err = result.stderr.decode()
    assert err.count("\n") == 1
    assert err == "wscli: error: No such option '--bogus' (see 'wscli --help')\n"
    assert "Traceback" not in err


def test_unknown_command_is_usage_error() -> None:
    result = run_wscli("frobnicate")
    assert result.returncode == ExitCode.USAGE
    assert result.stderr.decode().startswith("wscli: error: No such command 'frobnicate'")


def test_bad_color_choice() -> None:
    result = run_wscli("--color", "purple", "serve")
    assert result.returncode == ExitCode.USAGE
    assert "purple" in result.stderr.decode()
