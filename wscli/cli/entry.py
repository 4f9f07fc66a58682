"""The process boundary: run the CLI, turn every outcome into one stderr line and a
documented exit code. Lower layers raise :class:`~wscli.core.errors.WscliError`; set
``WSCLI_TRACEBACK=1`` to see the traceback of an unexpected error."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Sequence

import click

from wscli.cli.group import Interrupted, OutputClosed, cli
from wscli.core.errors import WscliError, format_error
from wscli.core.exitcodes import ExitCode


def _print_error(line: str) -> None:
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _stderr_width() -> int | None:
    """The terminal's columns when stderr is one (an error line quoting the server is cut
    to fit), else None."""
    try:
        if sys.stderr.isatty():
            return shutil.get_terminal_size().columns
    except (OSError, ValueError):
        pass
    return None


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the CLI and exit with a documented :class:`ExitCode`."""
    code: int
    try:
        result = cli.main(args=argv, prog_name="wscli", standalone_mode=False)
        code = int(result) if isinstance(result, int) else ExitCode.OK
    except WscliError as exc:
        if os.environ.get("WSCLI_TRACEBACK"):
            raise
        _print_error(format_error(exc, width=_stderr_width()))
        code = exc.exit_code
    except click.exceptions.UsageError as exc:
        hint = ""
        if exc.ctx is not None:
            hint = f" (see '{exc.ctx.command_path} --help')"
        message = exc.format_message().rstrip(".")
        _print_error(f"wscli: error: {message}{hint}")
        code = ExitCode.USAGE
    except (click.exceptions.Abort, Interrupted, KeyboardInterrupt):
        # After "^C" on a terminal, start a fresh line; in a pipe, stay one line.
        _print_error(("\n" if sys.stderr.isatty() else "") + "wscli: interrupted")
        code = ExitCode.INTERRUPTED
    except click.ClickException as exc:
        _print_error(f"wscli: error: {exc.format_message()}")
        code = exc.exit_code
    except (OutputClosed, BrokenPipeError):
        # The reader went away (e.g. `wscli ... | head`): end quietly, as a pipe tool should.
        quiet_stdout()
        code = ExitCode.OK
    if _teardown.skip:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):
            pass  # the usual way: the interpreter's own flush decides
        else:
            os._exit(code)
    sys.exit(code)


class _Teardown:
    skip = False


_teardown = _Teardown()


def skip_teardown() -> None:
    """Let :func:`main` end the process without the interpreter's teardown, once the
    command has returned and stdout and stderr are flushed.

    For `wscli connect`: freeing every module and object one by one took 40–125 ms after a
    pipe of 100,000 lines (measured from the end of ``main`` to the parent seeing the exit),
    more than the whole close handshake (1–3 ms); a script waits for it. Only for commands
    that leave nothing to clean up at exit: no atexit handler, no file but stdout and
    stderr (the stdin reader is a daemon thread).
    """
    _teardown.skip = True


def exit_now(error: WscliError) -> None:
    """End the process at once with ``error``'s line and exit code, from any thread.

    For a deadline the main thread cannot keep because it is blocked in a write (see
    :mod:`wscli.connect.watchdog`): only ``os._exit`` ends a process from another thread.
    """
    with contextlib.suppress(OSError, ValueError):
        os.write(sys.stderr.fileno(), (format_error(error) + "\n").encode())
    os._exit(int(error.exit_code))


def quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
