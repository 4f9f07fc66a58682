"""Running `wscli connect` from its config: check it, then the prompt or the pipe.

The prompt runs when stdin and stdout are terminals (and not ``--no-tty``), else the pipe
with the writer its flags ask for. The prompt (and with it prompt_toolkit) is imported
only when it is used.
"""

from __future__ import annotations

import asyncio
import sys

from wscli.connect.config import DEFAULT_IDLE, ConnectConfig, OutputOptions
from wscli.connect.connection import check_options
from wscli.connect.inputs import NEWLINE, BadInput, execute_bytes, payload
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
    # The URL, headers, TLS files, proxy, and --require-subprotocol without -s.
    check_options(opened_options(session))
    script = config.pipe  # the same -x, --close-code and --close-reason as the prompt's
    problem = close_problem(script.close_code, script.close_reason)
    if problem is not None:
        raise UsageProblem("invalid --close-code/--close-reason", problem)
    source = script.input
    if source.stream and (source.binary_input != "raw" or source.whole_input):
        other = "--whole-input" if source.whole_input else f"--binary-input {source.binary_input}"
        raise UsageProblem(
            f"--stream and {other} do not go together", "--stream sends chunks as read"
        )
    if config.prompt.pretty and config.prompt.json_output:
        raise UsageProblem("--pretty and --json do not go together", "--json writes NDJSON")
    if source.whole_input and source.separator != NEWLINE:
        raise UsageProblem(
            "--whole-input and --separator do not go together", "one message has no end"
        )


def script_mode(config: ConnectConfig) -> bool:
    """On a terminal, -n and --wait end the session as in a pipe (as ``wscat -x ping -w 2``
    does): no prompt, and stdin, the terminal, is not read."""
    return config.pipe.count is not None or config.pipe.wait is not None


def check_prompt(config: ConnectConfig) -> None:
    """Raise UsageProblem for options that read stdin, when stdin is the prompt's terminal:
    they would be silently ignored otherwise."""
    pipe = config.pipe
    for option in changed(pipe.input):
        raise UsageProblem(
            f"{option.flag} reads messages from stdin, and stdin is this terminal",
            hint="pipe them in, or add --no-tty",
        )
    if pipe.idle != DEFAULT_IDLE:
        raise UsageProblem(
            "--idle counts after stdin ends, and stdin is this terminal",
            hint="add -n N or --wait S to end the session without a prompt",
        )


def execute_payloads(config: ConnectConfig, read_stdin: bool) -> list[bytes]:
    """The bytes of the -x messages (``@FILE`` and ``@-`` read now), each checked to be
    sendable as asked (base64 or hex with --binary-input): usage errors before connecting."""
    source = config.pipe.input
    found = execute_bytes(config.pipe.execute, source.sends_binary, read_stdin)
    for index, raw in enumerate(found, 1):
        try:
            payload(raw, source.sends_binary, source.binary_input, f"-x message {index}")
        except BadInput as bad:
            raise UsageProblem(bad.what, bad.why, bad.hint) from None
    return found


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
        separator=options.separator,
    )


def run_connect(env: Environment, config: ConnectConfig, expire: Expire | None = None) -> ExitCode:
    """Run the prompt or the pipe as ``config`` says.

    ``expire`` ends the process when a deadline passes while stdout blocks the loop.
    """
    check_config(config)
    on_terminal = env.interactive and not config.no_tty
    if on_terminal and not script_mode(config):
        check_prompt(config)
        from wscli.connect.repl import run_repl

        execute = execute_payloads(config, read_stdin=False)
        return asyncio.run(
            run_repl(
                config.session,
                config.prompt,
                color=env.color_stdout,
                execute=[raw.decode("utf-8") for raw in execute],
            )
        )
    if config.prompt.pretty:  # it would be ignored: say so
        raise UsageProblem(
            "--pretty is for the prompt",
            "a pipe writes each message on one line",
            hint="pipe the output into jq",
        )
    execute = execute_payloads(config, read_stdin=not on_terminal)
    output = pipe_output(env, config.output)
    stdin_fd = None if on_terminal else 0
    return run_fast(
        run_pipe(config.session, config.pipe, output, stdin_fd, expire=expire, execute=execute)
    )
