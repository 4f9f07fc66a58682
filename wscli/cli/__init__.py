"""The `wscli` command: a thin click layer over the library.

Only this package imports click and ends the process. Lower layers raise
:class:`~wscli.core.errors.WscliError`; :func:`main` turns them into one line on stderr and an
exit code. Set ``WSCLI_TRACEBACK=1`` to see the traceback of an unexpected error.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import click

from wscli import __version__
from wscli.cli.options import CONTEXT_SETTINGS
from wscli.core.errors import WscliError, format_error
from wscli.core.exitcodes import ExitCode, exit_code_table
from wscli.net.terminal import ColorChoice, Environment

EXIT_STATUS_EPILOG = "\b\nExit status:\n" + exit_code_table()


class _Interrupted(Exception):
    """Ctrl-C reached the top: raised past click so it cannot print its own blank line."""


class _OutputClosed(Exception):
    """stdout's reader went away: raised past click, which would turn EPIPE into exit 1."""


@contextlib.contextmanager
def _boundary() -> Iterator[None]:
    try:
        yield
    except KeyboardInterrupt:
        raise _Interrupted from None
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            raise _OutputClosed from None
        raise


class WscliGroup(click.Group):
    """The top-level group; Ctrl-C and a closed stdout leave it as wscli's own exceptions.

    Help and version text are written while the context is made, commands run in invoke:
    both are covered.
    """

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        with _boundary():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        with _boundary():
            return super().invoke(ctx)


@click.group(
    cls=WscliGroup,
    context_settings=CONTEXT_SETTINGS,
    epilog=EXIT_STATUS_EPILOG,
)
@click.version_option(__version__, "-V", "--version", prog_name="wscli")
@click.option(
    "--color",
    type=click.Choice(["auto", "always", "never"]),
    default="auto",
    show_default=True,
    envvar="WSCLI_COLOR",
    show_envvar=True,
    help="Use colour on terminals; 'auto' honours NO_COLOR and FORCE_COLOR.",
)
@click.pass_context
def cli(ctx: click.Context, color: ColorChoice) -> None:
    """wscli: debug, test and script WebSockets.

    \b
    wscli serve             broadcast chat server with a browser page
    wscli connect URL       interactive client; a clean pipe tool in scripts
    wscli handshake URL     show and verify the raw opening handshake
    wscli proxy URL         show a live conversation; inject faults
    wscli top URL           watch a running wscli serve live
    """
    ctx.obj = Environment.detect(color)


def get_environment() -> Environment:
    """The Environment decided by the top-level group (or detected now, outside one)."""
    ctx = click.get_current_context(silent=True)
    found = ctx.find_object(Environment) if ctx is not None else None
    return found if found is not None else Environment.detect()


def _register() -> None:
    # Imported here so each command module can import `cli` helpers without a cycle.
    from wscli.cli.completion import completion
    from wscli.cli.connect import connect
    from wscli.cli.handshake import handshake
    from wscli.cli.proxy import proxy
    from wscli.cli.serve import serve
    from wscli.cli.top import top

    for command in (serve, connect, handshake, proxy, top, completion):
        cli.add_command(command)


_register()


def _print_error(line: str) -> None:
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the CLI and exit with a documented :class:`ExitCode`."""
    code: int
    try:
        result = cli.main(args=argv, prog_name="wscli", standalone_mode=False)
        code = int(result) if isinstance(result, int) else ExitCode.OK
    except WscliError as exc:
        if os.environ.get("WSCLI_TRACEBACK"):
            raise
        _print_error(format_error(exc))
        code = exc.exit_code
    except click.exceptions.UsageError as exc:
        hint = ""
        if exc.ctx is not None:
            hint = f" (see '{exc.ctx.command_path} --help')"
        message = exc.format_message().rstrip(".")
        _print_error(f"wscli: error: {message}{hint}")
        code = ExitCode.USAGE
    except (click.exceptions.Abort, _Interrupted, KeyboardInterrupt):
        # After "^C" on a terminal, start a fresh line; in a pipe, stay one line.
        _print_error(("\n" if sys.stderr.isatty() else "") + "wscli: interrupted")
        code = ExitCode.INTERRUPTED
    except click.ClickException as exc:
        _print_error(f"wscli: error: {exc.format_message()}")
        code = exc.exit_code
    except (_OutputClosed, BrokenPipeError):
        # The reader went away (e.g. `wscli ... | head`): end quietly, as a pipe tool should.
        quiet_stdout()
        code = ExitCode.OK
    sys.exit(code)


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
