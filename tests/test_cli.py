"""The top-level CLI: version, help, error boundary, exit codes — through the real entry point."""

from __future__ import annotations

import subprocess
import sys

from support import has_ansi, run_wscli

from wscli import __version__
from wscli.exitcodes import ExitCode


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
