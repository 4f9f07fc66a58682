"""wscli.serve.config: the command line in, a checked ServeConfig out; every option is a
field, none defaults silently; the module is pure."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from wscli.cli.serve import serve
from wscli.core.errors import UsageProblem
from wscli.core.options import Option, build, declarations
from wscli.serve.config import ServeConfig, check_serve_config

EVERY_OPTION = [
    "--host", "::1", "--port", "4321", "-s", "chat", "--require-subprotocol", "--no-echo",
    "--history", "7", "--history-bytes", "12345", "--origin", "https://ok.example",
    "--allowed-host", "chat.example", "--token", "t0k", "--max-clients", "3",
    "--max-fds", "500", "--metrics-token", "m3tr1cs", "--metrics-rooms", "5",
    "--max-size", "1000", "--max-queue", "2000",
    "--max-total-queue", "3000", "--ping-interval", "1.5", "--ping-timeout", "2.5",
    "--handshake-timeout", "3.5", "--compression", "--certfile", __file__,
    "--keyfile", __file__, "--redis", "redis://127.0.0.1:6379/0", "--redis-channel", "c",
    "--redis-stream-cap", "100", "--redis-stream-ttl", "600", "--redis-max-backlog", "1000",
    "--json-log", "-v",
    "--loop", "asyncio", "--socketio", "--socketio-path", "/io",
    "--socketio-max-polling", "5", "--static", str(Path(__file__).parent),
]  # fmt: skip


def _config(*args: str) -> ServeConfig:
    return build(ServeConfig, serve.make_context("serve", list(args)).params)


def test_every_option_reaches_its_field() -> None:
    config = _config(*EVERY_OPTION)
    defaults = ServeConfig()
    for name, declaration in declarations(ServeConfig):
        if name == "token_file":
            continue  # given below (the token comes from one or the other)
        assert isinstance(declaration, Option)
        assert getattr(config, name) != getattr(defaults, name), name
    assert config == dataclasses.replace(
        defaults,
        host="::1",
        port=4321,
        subprotocols=("chat",),
        require_subprotocol=True,
        history=7,
        history_bytes=12345,
        echo=False,
        origins=("https://ok.example",),
        allowed_hosts=("chat.example",),
        token="t0k",
        max_clients=3,
        max_size=1000,
        max_queue=2000,
        max_total_queue=3000,
        ping_interval=1.5,
        ping_timeout=2.5,
        handshake_timeout=3.5,
        compression=True,
        certfile=__file__,
        keyfile=__file__,
        max_fds=500,
        metrics_token="m3tr1cs",
        metrics_rooms=5,
        redis_url="redis://127.0.0.1:6379/0",
        redis_channel="c",
        redis_stream_cap=100,
        redis_stream_ttl=600.0,
        redis_max_backlog=1000,
        json_log=True,
        verbose=True,
        loop="asyncio",
        socketio=True,
        socketio_path="/io",
        socketio_max_polling=5,
        static_dir=str(Path(__file__).parent),
    )


def test_defaults_are_the_command_lines() -> None:
    assert _config() == ServeConfig()
    assert ServeConfig().max_queue == 4 * 2**20 and ServeConfig().ping_interval == 20.0
    assert _config("--ping-interval", "0", "--ping-timeout", "0").ping_interval is None


def test_a_value_no_field_takes_is_an_error_not_ignored() -> None:
    values = dict(serve.make_context("serve", []).params)
    values["history_byte"] = 1  # a misspelt or undeclared option
    with pytest.raises(TypeError, match="no field for"):
        build(ServeConfig, values)
    del values["history_byte"], values["history_bytes"]
    with pytest.raises(TypeError, match="no value for"):
        build(ServeConfig, values)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"allowed_hosts": ("x:80",)}, "invalid --allowed-host"),
        ({"redis_url": "redis://127.0.0.1:99999"}, "bad --redis URL"),
        ({"redis_url": "http://x"}, "bad --redis URL"),
        ({"origins": ("nope",)}, "invalid --origin"),
        ({"subprotocols": ()}, "--require-subprotocol needs"),
        ({"certfile": None}, "--keyfile needs --certfile"),
        ({"host": " "}, "--host is empty"),
        ({"token": ""}, "the token is empty"),
        ({"static_dir": __file__}, "--static"),
        ({"socketio_path": "/"}, "invalid --socketio-path"),
        ({"socketio_path": "io"}, "invalid --socketio-path"),
        ({"socketio_path": "/a?b"}, "invalid --socketio-path"),
        ({"redis_stream_ttl": 59.0}, "--redis-stream-ttl 59 is too short"),
    ],
)
def test_bad_values_are_usage_problems(change: dict[str, object], message: str) -> None:
    with pytest.raises(UsageProblem) as caught:
        check_serve_config(dataclasses.replace(_config(*EVERY_OPTION), **change))  # type: ignore[arg-type]
    assert str(caught.value).startswith(message)


def test_config_module_is_pure() -> None:
    code = (
        "import sys, wscli.serve.config, wscli.serve.admission, wscli.serve.envelope\n"
        "print(sorted(m for m in ('asyncio', 'socket', 'ssl', 'threading', 'websockets')"
        " if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]", result.stdout


@pytest.mark.parametrize(
    "url", ["redis://u:hunter2@127.0.0.1:99999/0", "redis://u:hunter2@[::1/0", "http://:hunter2@x"]
)
def test_a_bad_redis_url_never_shows_its_password(url: str) -> None:
    with pytest.raises(UsageProblem) as caught:
        check_serve_config(ServeConfig(redis_url=url))
    assert "hunter2" not in str(caught.value) and ":***@" in str(caught.value)


def test_token_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("from-file\n")
    config = check_serve_config(_config("--token-file", str(path)))
    assert config.token == "from-file"


def test_socketio_path_ends_with_a_slash() -> None:
    assert check_serve_config(_config("--socketio-path", "/io")).socketio_path == "/io/"
    assert check_serve_config(_config()).socketio_path == "/socket.io/"
