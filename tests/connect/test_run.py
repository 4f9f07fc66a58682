"""wscli.connect.config and wscli.connect.run: the command line into the configs that run,
their checks, and the pipe's writer."""

from __future__ import annotations

import dataclasses

import pytest

from wscli.cli.connect import connect
from wscli.connect.config import (
    DEFAULT_IDLE,
    ConnectConfig,
    PipePolicy,
    ReplOptions,
    SessionOptions,
    SocketIOOptions,
)
from wscli.connect.output import JsonOutput, PlainOutput
from wscli.connect.run import check_config, pipe_output
from wscli.connect.session import opened_options
from wscli.core.clientoptions import ConnectOptions
from wscli.core.errors import UsageProblem
from wscli.core.options import build
from wscli.net.terminal import Environment


def _config(*args: str) -> ConnectConfig:
    """What the CLI hands on for ``wscli connect ARGS``."""
    context = connect.make_context("connect", list(args))
    return build(ConnectConfig, context.params)


def test_session_options_follow_the_flags() -> None:
    session = _config("ws://h/x", "-H", "X-A: 1", "--max-size", "0", "--ping-interval", "0").session
    assert session.connect.url == "ws://h/x"
    assert list(session.connect.headers) == [("X-A", "1")]
    assert session.connect.max_size is None and session.connect.ping_interval is None
    assert not session.socketio and not session.reconnect


def test_socketio_opens_its_path_and_joins_its_namespace() -> None:
    session = _config("h:3000", "--socketio", "--namespace", "/chat").session
    assert session.connect.url == "h:3000"  # as given: built once, never rewritten
    opened = opened_options(session)
    assert opened.url == "ws://h:3000/socket.io/?EIO=4&transport=websocket"
    assert dataclasses.replace(opened, url=session.connect.url) == session.connect
    assert session.socketio_options.namespace == "/chat"


def test_socketio_json_options_are_parsed_once() -> None:
    options = _config(
        "h", "--socketio", "--ack-reply", "[7]", "--handshake-auth", '{"t": 1}'
    ).session.socketio_options
    assert options.ack_reply == [7] and options.handshake_auth == {"t": 1}
    assert SocketIOOptions().ack_reply == [] and SocketIOOptions().handshake_auth is None
    with pytest.raises(UsageProblem, match=r"^invalid --ack-reply: expected a JSON array"):
        _config("h", "--socketio", "--ack-reply", "{}")
    with pytest.raises(UsageProblem, match=r"^invalid --handshake-auth: not JSON"):
        _config("h", "--socketio", "--handshake-auth", "{")


def test_socketio_options_without_socketio_are_refused() -> None:
    with pytest.raises(UsageProblem, match=r"^--event needs --socketio$"):
        check_config(_config("ws://h/", "--event", "x"))
    check_config(_config("ws://h/", "--socketio", "--event", "x"))


def test_bad_values_are_refused_before_anything_starts() -> None:
    with pytest.raises(UsageProblem):
        check_config(_config("ftp://h/"))
    with pytest.raises(UsageProblem):
        check_config(_config("ws://h/", "--cacert", __file__))  # TLS file on ws://
    with pytest.raises(UsageProblem, match=r"^invalid --close-code/--close-reason"):
        check_config(_config("ws://h/", "--close-code", "1005"))


def test_pipe_output_choice() -> None:
    pipe = Environment(False, False, False, False, False)
    on_terminal = Environment(False, True, False, False, False)
    assert isinstance(pipe_output(pipe, _config("ws://h/", "--json").output), JsonOutput)
    plain = pipe_output(on_terminal, _config("ws://h/", "--binary-format", "hex").output)
    assert isinstance(plain, PlainOutput)
    assert plain.escape and plain.binary_format == "hex"


def test_idle_default_waits_a_second_from_the_last_send() -> None:
    """Long enough for a reply that crosses continents (see DEFAULT_IDLE's measurement);
    a slower one is "no reply" (exit 8), never lost without a word."""
    assert DEFAULT_IDLE == 1.0
    assert _config("ws://h/").pipe.idle == DEFAULT_IDLE == PipePolicy().idle


def test_pipe_and_prompt_share_one_declaration_of_their_common_options() -> None:
    config = _config("ws://h/", "-n", "3", "--idle", "0", "-x", "a", "--close-code", "4000")
    assert config.pipe == PipePolicy(execute=("a",), count=3, idle=0.0, close_code=4000)
    assert config.prompt == ReplOptions(execute=("a",), close_code=4000)
    assert config.prompt.execute is config.pipe.execute  # converted once, one option


def test_max_size_takes_units_like_serve() -> None:
    assert _config("ws://h/", "--max-size", "64K").session.connect.max_size == 65536
    assert _config("ws://h/").session.connect.max_size == 2**20
    assert _config("ws://h/", "--max-size", "0").session.connect.max_size is None


def test_defaults_of_the_configs_are_the_command_lines() -> None:
    # Built from nothing but the URL, every config equals its declared defaults: one
    # declaration gives both.
    config = _config("ws://h/x")
    assert config.session == SessionOptions(connect=ConnectOptions(url="ws://h/x"))
    assert config.pipe == PipePolicy() and config.prompt == ReplOptions()
    assert config.session.connect.close_timeout == 2.0  # fixed, not an option
