"""From `wscli connect`'s command-line options to the objects that run it.

The click command (:mod:`wscli.cli.connect`) only declares options; this module turns
them into :class:`~wscli.connect.link.ConnectOptions` and
:class:`~wscli.connect.session.SessionOptions`,
validates them before anything starts, and chooses the prompt (stdin and stdout are
terminals) or the pipe, with the writer its flags ask for. The prompt (and with it
prompt_toolkit) is imported only when it is used.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections.abc import Mapping
from typing import Any, TypeVar

from wscli.connect.link import ConnectOptions, build_connect_kwargs
from wscli.connect.output import JsonOutput, Output, PlainOutput
from wscli.connect.pipe import PipePolicy, run_pipe
from wscli.connect.session import SessionOptions, SocketIOOptions
from wscli.connect.socketio import socketio_url
from wscli.core.closecodes import close_problem
from wscli.core.errors import UsageProblem
from wscli.core.exitcodes import ExitCode
from wscli.core.headers import parse_header_args
from wscli.net.terminal import Environment

T = TypeVar("T")


def from_options(cls: type[T], opts: Mapping[str, Any], **given: Any) -> T:
    """Build the dataclass ``cls`` from the options named like its fields, plus ``given``."""
    names = {field.name for field in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values = {name: opts[name] for name in names if name in opts}
    return cls(**{**values, **given})


def session_options(opts: Mapping[str, Any]) -> SessionOptions:
    """The connection and session options; raises UsageProblem for a bad URL, header or file."""
    connect = from_options(
        ConnectOptions,
        opts,
        url=socketio_url(opts["url"]) if opts["socketio"] else opts["url"],
        headers=parse_header_args(opts["headers"]),
        # 0 means "no limit" / "never" on the command line, None to websockets.
        max_size=opts["max_size"] or None,
        ping_interval=opts["ping_interval"] or None,
        ping_timeout=opts["ping_timeout"] or None,
    )
    build_connect_kwargs(connect)  # validate the URL, headers and TLS files before starting
    problem = close_problem(opts["close_code"], opts["close_reason"])
    if problem is not None:
        raise UsageProblem("invalid --close-code/--close-reason", problem)
    for message in opts["execute"]:
        try:
            message.encode("utf-8")
        except UnicodeEncodeError:  # undecodable bytes from the command line
            raise UsageProblem(f"invalid -x message {message!r}", "not valid UTF-8") from None
    socketio = SocketIOOptions(opts["namespace"], opts["event"]) if opts["socketio"] else None
    return from_options(SessionOptions, opts, connect=connect, socketio=socketio)


def pipe_output(env: Environment, opts: Mapping[str, Any]) -> Output:
    """The pipe's writer: NDJSON with --json, else plain lines (escaped on a terminal)."""
    if opts["json_output"]:
        return JsonOutput(sys.stdout.buffer, sys.stderr, verbose=opts["verbose"])
    return PlainOutput(
        sys.stdout.buffer,
        sys.stderr,
        verbose=opts["verbose"],
        show_ping_pong=opts["show_ping_pong"],
        binary_format=opts["binary_format"],
        timestamps=opts["timestamps"],
        escape=env.stdout_isatty,
    )


def run_connect(env: Environment, opts: Mapping[str, Any]) -> ExitCode:
    """Run the prompt or the pipe for the command-line options ``opts``."""
    session = session_options(opts)
    if env.interactive and not opts["no_tty"]:
        from wscli.connect.repl import ReplOptions, run_repl

        repl_options = from_options(ReplOptions, opts, color=env.color_stdout)
        return asyncio.run(run_repl(session, repl_options))
    policy = from_options(PipePolicy, opts)
    return asyncio.run(run_pipe(session, policy, pipe_output(env, opts)))
