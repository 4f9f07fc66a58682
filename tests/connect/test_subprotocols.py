"""A subprotocol the server ignored (legal, and the classic graphql-ws failure): `wscli
connect` warns, and --require-subprotocol makes it exit 4."""

from __future__ import annotations

import json

from tests.support import lines, run_wscli
from tests.support.connect_servers import echo, running

WARNING = (
    b"wscli: warning: the server chose no subprotocol (offered: graphql-transport-ws): it may "
    b"speak another protocol; --require-subprotocol makes this an error\n"
)


def test_an_ignored_subprotocol_is_a_warning_even_without_verbose() -> None:
    with running(echo) as server:  # chooses none whatever is offered
        result = run_wscli(
            "connect", "-s", "graphql-transport-ws", server.url, "-x", "hi", "-n", "1"
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"hi\n"
    assert result.stderr == WARNING


def test_a_chosen_subprotocol_is_no_warning() -> None:
    with running(echo, subprotocols=["v1"]) as server:
        result = run_wscli("connect", "-s", "v1", server.url, "-x", "hi", "-n", "1")
    assert result.returncode == 0 and result.stderr == b""


def test_require_subprotocol_exits_4_without_a_message_exchanged() -> None:
    with running(echo) as server:
        result = run_wscli(
            "connect",
            "-s",
            "graphql-transport-ws",
            "--require-subprotocol",
            "--json",
            server.url,
            "-x",
            "hi",
        )
        assert len(server.requests) == 1
    assert result.returncode == 4
    events = [json.loads(line) for line in lines(result.stdout)]
    assert [e["event"] for e in events] == ["error"]  # never opened, nothing sent
    assert result.stderr == (
        b"wscli: error: --require-subprotocol: the server chose no subprotocol "
        b"(offered: graphql-transport-ws)\n"
    )


def test_require_subprotocol_needs_an_offer() -> None:
    result = run_wscli("connect", "--require-subprotocol", "ws://127.0.0.1:1/")
    assert result.returncode == 2
    assert result.stderr == (
        b"wscli: error: --require-subprotocol needs -s: no subprotocol is offered\n"
    )
