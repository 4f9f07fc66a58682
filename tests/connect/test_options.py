"""wscli.connect.options: command-line options to session objects and the pipe's writer."""

from __future__ import annotations

import dataclasses

import pytest

from wscli.cli.connect import connect
from wscli.connect.link import ConnectOptions
from wscli.connect.options import ConnectArgs, from_options, pipe_output, session_options
from wscli.connect.output import JsonOutput, PlainOutput
from wscli.connect.pipe import DEFAULT_IDLE, PipePolicy
from wscli.connect.repl import ReplOptions
from wscli.core.errors import UsageProblem
from wscli.net.terminal import Environment


def _opts(*args: str) -> ConnectArgs:
    """The typed options the CLI hands on for ``wscli connect ARGS``."""
    context = connect.make_context("connect", list(args))
    return ConnectArgs(**context.params)


def test_session_options_follow_the_flags() -> None:
    options = session_options(
        _opts("ws://h/x", "-H", "X-A: 1", "--max-size", "0", "--ping-interval", "0")
    )
    assert options.connect.url == "ws://h/x"
    assert list(options.connect.headers) == [("X-A", "1")]
    assert options.connect.max_size is None and options.connect.ping_interval is None
    assert options.socketio is None and not options.reconnect


def test_socketio_gets_its_path_and_namespace() -> None:
    options = session_options(_opts("h:3000", "--socketio", "--namespace", "/chat"))
    assert options.connect.url == "ws://h:3000/socket.io/?EIO=4&transport=websocket"
    assert options.socketio is not None and options.socketio.namespace == "/chat"


def test_bad_values_are_refused_before_anything_starts() -> None:
    with pytest.raises(UsageProblem):
        session_options(_opts("ftp://h/"))
    with pytest.raises(UsageProblem):
        session_options(_opts("ws://h/", "--cacert", __file__))  # TLS file on ws://


def test_pipe_output_choice() -> None:
    pipe = Environment(False, False, False, False, False)
    on_terminal = Environment(False, True, False, False, False)
    assert isinstance(pipe_output(pipe, _opts("ws://h/", "--json")), JsonOutput)
    plain = pipe_output(on_terminal, _opts("ws://h/", "--binary-format", "hex"))
    assert isinstance(plain, PlainOutput)
    assert plain.escape and plain.binary_format == "hex"


def test_idle_default_is_the_pipes_short_one() -> None:
    """`echo x | wscli connect URL` ends half a second after the reply, not 1 s (issue 11)."""
    assert DEFAULT_IDLE == 0.5
    assert from_options(PipePolicy, _opts("ws://h/")).idle == DEFAULT_IDLE


def test_from_options_takes_fields_by_name_and_given_values_win() -> None:
    opts = _opts("ws://h/", "-n", "3", "--idle", "0", "-x", "a", "--close-code", "4000")
    policy = from_options(PipePolicy, opts, binary=True)
    assert policy == PipePolicy(execute=("a",), count=3, idle=0.0, close_code=4000, binary=True)
    assert from_options(PipePolicy, opts, count=9).count == 9


def test_max_size_takes_units_like_serve() -> None:
    assert session_options(_opts("ws://h/", "--max-size", "64K")).connect.max_size == 65536
    assert session_options(_opts("ws://h/")).connect.max_size == 2**20
    assert session_options(_opts("ws://h/", "--max-size", "0")).connect.max_size is None


def test_every_option_has_a_typed_field_and_every_field_an_option() -> None:
    options = {param.name for param in connect.params}
    fields = {field.name for field in dataclasses.fields(ConnectArgs)}
    assert options == fields


def test_every_field_of_what_runs_is_fed_by_an_option_or_named() -> None:
    # Built from every field: none falls back to a default unless named as such.
    options = session_options(_opts("ws://h/x", "--close-code", "4000", "--idle", "3"))
    assert options.connect.close_timeout == ConnectOptions.close_timeout
    assert options.connect.url == "ws://h/x"
    assert from_options(PipePolicy, _opts("ws://h/", "--idle", "3")).idle == 3
    assert from_options(ReplOptions, _opts("ws://h/"), color=True).close_code == 1000
    with pytest.raises(TypeError, match="ConnectOptions: no option for close_timeout"):
        from_options(ConnectOptions, _opts("ws://h/"))
