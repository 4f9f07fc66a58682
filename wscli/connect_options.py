"""From `wscli connect`'s command-line options to the objects that run it.

The click command (:mod:`wscli.cli.connect`) only declares options; this module turns
them into :class:`~wscli.client.ConnectOptions` and :class:`~wscli.session.SessionOptions`,
validates them before anything starts, and chooses the prompt (stdin and stdout are
terminals) or the pipe, with the writer its flags ask for. The prompt (and with it
prompt_toolkit) is imported only when it is used.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from typing import Any

from wscli.client import ConnectOptions, build_connect_kwargs
from wscli.exitcodes import ExitCode
from wscli.headers import parse_header_args
from wscli.output import JsonOutput, Output, PlainOutput
from wscli.pipe import PipePolicy, run_pipe
from wscli.session import SessionOptions, SocketIOOptions
from wscli.socketio import socketio_url
from wscli.terminal import Environment


def session_options(opts: Mapping[str, Any]) -> SessionOptions:
    """The connection and session options; raises UsageProblem for a bad URL, header or file."""
    connect = ConnectOptions(
        url=socketio_url(opts["url"]) if opts["socketio"] else opts["url"],
        headers=parse_header_args(opts["headers"]),
        subprotocols=opts["subprotocols"],
        origin=opts["origin"],
        auth=opts["auth"],
        insecure=opts["insecure"],
        cacert=opts["cacert"],
        cert=opts["cert"],
        key=opts["key"],
        proxy=opts["proxy"],
        compression=opts["compression"],
        max_size=opts["max_size"] or None,
        ping_interval=opts["ping_interval"] or None,
        ping_timeout=opts["ping_timeout"] or None,
        open_timeout=opts["open_timeout"],
    )
    build_connect_kwargs(connect)  # validate the URL, headers and TLS files before starting
    return SessionOptions(
        connect=connect,
        socketio=SocketIOOptions(opts["namespace"], opts["event"]) if opts["socketio"] else None,
        reconnect=opts["reconnect"],
        max_retries=opts["max_retries"],
        close_code=opts["close_code"],
        close_reason=opts["close_reason"],
    )


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
        from wscli.repl import ReplOptions, run_repl

        repl_options = ReplOptions(
            execute=opts["execute"],
            timeout=opts["timeout"],
            json_output=opts["json_output"],
            timestamps=opts["timestamps"],
            show_ping_pong=opts["show_ping_pong"],
            color=env.color_stdout,
        )
        return asyncio.run(run_repl(session, repl_options))
    policy = PipePolicy(
        execute=opts["execute"],
        count=opts["count"],
        idle=opts["idle"],
        wait=opts["wait"],
        timeout=opts["timeout"],
        binary=opts["binary"],
        stream=opts["stream"],
        close_code=opts["close_code"],
        close_reason=opts["close_reason"],
    )
    return asyncio.run(run_pipe(session, policy, pipe_output(env, opts)))
