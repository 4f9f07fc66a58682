"""wscli.serve.config: typed options in, a ServeConfig out; every field fed, none defaulted;
the module is pure (issue 8)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from wscli.cli.serve import serve
from wscli.core.errors import UsageProblem
from wscli.serve.config import ServeConfig, ServeOptions, serve_config

# A value for every option, none of them the default.
EVERY_OPTION = ServeOptions(
    host="::1",
    port=4321,
    subprotocols=("chat",),
    require_subprotocol=True,
    echo=False,
    history=7,
    history_bytes=12345,
    origins=("https://ok.example",),
    allowed_hosts=("chat.example",),
    token="t0k",
    token_file=None,
    max_clients=3,
    max_fds=500,
    max_size=1000,
    max_queue=2000,
    max_total_queue=3000,
    ping_interval=1.5,
    ping_timeout=2.5,
    handshake_timeout=3.5,
    compression=True,
    certfile="cert.pem",
    keyfile="key.pem",
    redis_url="redis://127.0.0.1:6379/0",
    redis_channel="c",
    redis_stream_cap=100,
    redis_max_backlog=1000,
    socketio=True,
    socketio_path="/io",
    socketio_max_polling=5,
    static_dir="site",
    json_log=True,
    verbose=True,
    loop="asyncio",
)


def test_options_are_exactly_the_cli_parameters() -> None:
    fields = {field.name for field in dataclasses.fields(ServeOptions)}
    assert fields == {param.name for param in serve.params}


def test_every_config_field_comes_from_the_options_none_defaults_silently() -> None:
    config = serve_config(EVERY_OPTION)
    defaults = ServeConfig()
    for field in dataclasses.fields(ServeConfig):
        if field.name == "shutdown_timeout" or field.name == "close_timeout":
            continue  # not options: fixed by the server
        assert getattr(config, field.name) != getattr(defaults, field.name), field.name
    assert config == ServeConfig(
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
        certfile="cert.pem",
        keyfile="key.pem",
        max_fds=500,
        socketio=True,
        socketio_path="/io/",
        socketio_max_polling=5,
        static_dir="site",
    )


def test_a_missing_option_is_an_error_not_a_default() -> None:
    values = dataclasses.asdict(EVERY_OPTION)
    del values["history_bytes"]
    with pytest.raises(TypeError):
        ServeOptions(**values)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"allowed_hosts": ("x:80",)}, "invalid --allowed-host"),
        ({"redis_url": "redis://127.0.0.1:99999"}, "bad --redis URL"),
        ({"redis_url": "http://x"}, "bad --redis URL"),
        ({"origins": ("nope",)}, "invalid --origin"),
        ({"subprotocols": ()}, "--require-subprotocol needs"),
    ],
)
def test_bad_values_are_usage_problems(change: dict[str, object], message: str) -> None:
    with pytest.raises(UsageProblem) as caught:
        serve_config(dataclasses.replace(EVERY_OPTION, **change))  # type: ignore[arg-type]
    assert str(caught.value).startswith(message)


def test_config_module_is_pure() -> None:
    code = (
        "import sys, wscli.serve.config, wscli.serve.admission, wscli.serve.envelope\n"
        "print(sorted(m for m in ('asyncio', 'socket', 'ssl', 'threading') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]", result.stdout


def test_a_bad_redis_url_never_shows_its_password() -> None:
    bad = dataclasses.replace(EVERY_OPTION, redis_url="redis://u:hunter2@127.0.0.1:99999/0")
    with pytest.raises(UsageProblem) as caught:
        serve_config(bad)
    assert "hunter2" not in str(caught.value) and "***" in str(caught.value)


def test_token_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("from-file\n")
    config = serve_config(dataclasses.replace(EVERY_OPTION, token=None, token_file=path))
    assert config.token == "from-file"
