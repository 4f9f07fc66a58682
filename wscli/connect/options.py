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
from collections.abc import Callable, Iterable
from typing import Any, Literal, TypeVar

from wscli.connect.link import ConnectOptions, build_connect_kwargs
from wscli.connect.output import JsonOutput, Output, PlainOutput
from wscli.connect.pipe import PipePolicy, run_pipe
from wscli.connect.session import SessionOptions
from wscli.connect.socketio.settings import SocketIOOptions
from wscli.connect.watchdog import Expire
from wscli.core.closecodes import close_problem
from wscli.core.errors import UsageProblem
from wscli.core.exitcodes import ExitCode
from wscli.core.headers import parse_header_args
from wscli.core.socketio import loads_bounded
from wscli.net.eventloop import run_fast
from wscli.net.terminal import Environment

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class ConnectArgs:
    """Every `wscli connect` command-line option, typed, as click parsed it.

    The CLI builds it with ``ConnectArgs(**params)``, so an option without a field (or a
    field without an option) fails at once instead of reaching the code as a string key.
    """

    url: str
    execute: tuple[str, ...]
    count: int | None
    idle: float
    wait: float | None
    timeout: float | None
    json_output: bool
    timestamps: bool
    full: bool
    show_ping_pong: bool
    binary: bool
    stream: bool
    binary_format: Literal["base64", "hex"]
    no_tty: bool
    verbose: bool
    headers: tuple[str, ...]
    subprotocols: tuple[str, ...]
    origin: str | None
    auth: str | None
    insecure: bool
    cacert: str | None
    cert: str | None
    key: str | None
    proxy: str | None
    compression: bool
    max_size: int
    ping_interval: float
    ping_timeout: float
    open_timeout: float
    close_code: int
    close_reason: str
    reconnect: bool
    max_retries: int
    location: bool
    socketio: bool
    namespace: str
    event: str
    transport: Literal["auto", "websocket", "polling"]
    handshake_auth: str | None
    raw_strings: bool
    spread: bool
    ack: bool
    ack_timeout: float
    ack_reply: str


def from_options(cls: type[T], args: ConnectArgs, defaults: Iterable[str] = (), **given: Any) -> T:
    """Build the dataclass ``cls`` from the options named like its fields, plus ``given``.

    A field that is neither an option nor given raises, unless it is named in ``defaults``
    (then it keeps its default): a renamed option must not silently become a default.
    """
    values: dict[str, Any] = {}
    missing = []
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if field.name in given:
            values[field.name] = given[field.name]
        elif hasattr(args, field.name):
            values[field.name] = getattr(args, field.name)
        elif field.name not in defaults:
            missing.append(field.name)
    if missing:
        raise TypeError(f"{cls.__name__}: no option for {', '.join(missing)}")
    return cls(**values)


def session_options(args: ConnectArgs) -> SessionOptions:
    """The connection and session options; raises UsageProblem for a bad URL, header or file."""
    url = args.url
    if args.socketio:  # imported only when used: every start of a plain pipe is faster
        from wscli.connect.socketio import socketio_url

        url = socketio_url(args.url)
    connect = from_options(
        ConnectOptions,
        args,
        defaults={"close_timeout"},
        url=url,
        headers=parse_header_args(args.headers),
        # 0 means "no limit" / "never" on the command line, None to websockets.
        max_size=args.max_size or None,
        ping_interval=args.ping_interval or None,
        ping_timeout=args.ping_timeout or None,
    )
    build_connect_kwargs(connect)  # validate the URL, headers and TLS files before starting
    problem = close_problem(args.close_code, args.close_reason)
    if problem is not None:
        raise UsageProblem("invalid --close-code/--close-reason", problem)
    for message in args.execute:
        try:
            message.encode("utf-8")
        except UnicodeEncodeError:  # undecodable bytes from the command line
            raise UsageProblem(f"invalid -x message {message!r}", "not valid UTF-8") from None
    socketio = socketio_options(args) if args.socketio else None
    return from_options(
        SessionOptions, args, defaults={"stable_after"}, connect=connect, socketio=socketio
    )


_SOCKETIO_ONLY: dict[str, Callable[[ConnectArgs], bool]] = {
    "--transport": lambda a: a.transport != "auto",
    "--handshake-auth": lambda a: a.handshake_auth is not None,
    "--raw-strings": lambda a: a.raw_strings,
    "--spread": lambda a: a.spread,
    "--ack": lambda a: a.ack,
    "--ack-reply": lambda a: a.ack_reply != "[]",
    "--namespace": lambda a: a.namespace != "/",
    "--event": lambda a: a.event != "message",
}


def socketio_options(args: ConnectArgs, interactive: bool = False) -> SocketIOOptions:
    """The Socket.IO options; an overdue ack is fatal (exit 6) except at the prompt, where
    event names are kept for completion."""
    try:
        reply = loads_bounded(args.ack_reply)
    except ValueError as exc:
        raise UsageProblem("invalid --ack-reply", f"not JSON: {exc}") from None
    if not isinstance(reply, list):
        raise UsageProblem("invalid --ack-reply", "expected a JSON array of arguments, e.g. []")
    auth = None
    if args.handshake_auth is not None:
        try:
            auth = loads_bounded(args.handshake_auth)
        except ValueError as exc:
            raise UsageProblem("invalid --handshake-auth", f"not JSON: {exc}") from None
        if not isinstance(auth, dict):
            raise UsageProblem("invalid --handshake-auth", "expected a JSON object")
    return from_options(
        SocketIOOptions,
        args,
        ack_reply=reply,
        handshake_auth=auth,
        ack_timeout_fatal=not interactive,
        keep_event_names=interactive,
    )


def check_socketio_only(args: ConnectArgs) -> None:
    """Socket.IO options without --socketio are a usage error, not silently ignored."""
    if args.socketio:
        return
    for name, given in _SOCKETIO_ONLY.items():
        if given(args):
            raise UsageProblem(f"{name} needs --socketio")


def pipe_output(env: Environment, args: ConnectArgs) -> Output:
    """The pipe's writer: NDJSON with --json, else plain lines (escaped on a terminal)."""
    if args.json_output:
        return JsonOutput(sys.stdout.buffer, sys.stderr, verbose=args.verbose)
    return PlainOutput(
        sys.stdout.buffer,
        sys.stderr,
        verbose=args.verbose,
        show_ping_pong=args.show_ping_pong,
        binary_format=args.binary_format,
        timestamps=args.timestamps,
        escape=env.stdout_isatty,
    )


def run_connect(env: Environment, args: ConnectArgs, expire: Expire | None = None) -> ExitCode:
    """Run the prompt or the pipe for the command-line options ``args``.

    ``expire`` ends the process when a deadline passes while stdout blocks the loop.
    """
    check_socketio_only(args)
    session = session_options(args)
    if env.interactive and not args.no_tty:
        from wscli.connect.repl import ReplOptions, run_repl

        if args.socketio:
            session.socketio = socketio_options(args, interactive=True)

        repl_options = from_options(ReplOptions, args, color=env.color_stdout)
        return asyncio.run(run_repl(session, repl_options))
    policy = from_options(PipePolicy, args)
    return run_fast(run_pipe(session, policy, pipe_output(env, args), expire=expire))
