"""Running `wscli connect` from its config: check it, then the prompt or the pipe.

The prompt runs when stdin and stdout are terminals (and not ``--no-tty``), else the pipe
with the writer its flags ask for. The prompt (and with it prompt_toolkit) is imported
only when it is used.
"""

from __future__ import annotations

import asyncio
import sys

from wscli.connect.config import ConnectConfig, OutputOptions
from wscli.connect.connection import check_options
from wscli.connect.output import JsonOutput, Output, PlainOutput
from wscli.connect.pipe import run_pipe
from wscli.connect.session import opened_options
from wscli.connect.watchdog import Expire
from wscli.core.closecodes import close_problem
from wscli.core.errors import UsageProblem
from wscli.core.exitcodes import ExitCode
from wscli.core.options import changed
from wscli.net.eventloop import run_fast
from wscli.net.terminal import Environment


def check_config(config: ConnectConfig) -> None:
    """Raise UsageProblem for a bad URL, header, TLS file, close code or -x message, and for
    Socket.IO options without --socketio, before anything starts."""
    session = config.session
    if not session.socketio:
        for option in changed(session.socketio_options):
            raise UsageProblem(f"{option.flag} needs --socketio")
    check_options(opened_options(session))  # the URL, headers, TLS files and proxy
    script = config.pipe  # the same -x, --close-code and --close-reason as the prompt's
    problem = close_problem(script.close_code, script.close_reason)
    if problem is not None:
        raise UsageProblem("invalid --close-code/--close-reason", problem)
    for message in script.execute:
        try:
            message.encode("utf-8")
        except UnicodeEncodeError:  # undecodable bytes from the command line
            raise UsageProblem(f"invalid -x message {message!r}", "not valid UTF-8") from None


def pipe_output(env: Environment, options: OutputOptions) -> Output:
    """The pipe's writer: NDJSON with --json, else plain lines (escaped on a terminal)."""
    if options.json_output:
        return JsonOutput(sys.stdout.buffer, sys.stderr, verbose=options.verbose)
    return PlainOutput(
        sys.stdout.buffer,
        sys.stderr,
        verbose=options.verbose,
        show_ping_pong=options.show_ping_pong,
        binary_format=options.binary_format,
        timestamps=options.timestamps,
        escape=env.stdout_isatty,
    )


def run_connect(env: Environment, config: ConnectConfig, expire: Expire | None = None) -> ExitCode:
    """Run the prompt or the pipe as ``config`` says.

    ``expire`` ends the process when a deadline passes while stdout blocks the loop.
    """
    check_config(config)
    if env.interactive and not config.no_tty:
        from wscli.connect.repl import run_repl

        return asyncio.run(run_repl(config.session, config.prompt, color=env.color_stdout))
    output = pipe_output(env, config.output)
    return run_fast(run_pipe(config.session, config.pipe, output, expire=expire))
