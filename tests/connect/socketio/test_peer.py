"""`wscli connect --socketio` against a real Socket.IO server (tests/peers/socketio-acks,
Node socket.io from its lock file): JSON arguments, acknowledgements both ways, binary
events, a namespace with an auth check, and HTTP long-polling against a server restricted
to ``transports: ["polling"]``."""

from __future__ import annotations

import concurrent.futures
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import concurrently, lines, requires, run_wscli, scaled
from tests.support.peers import project_peer

pytestmark = requires("node", "npm")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with project_peer("socketio-acks") as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def polling_server() -> Iterator[str]:
    with project_peer("socketio-acks", "polling") as port:
        yield f"http://127.0.0.1:{port}"


def sio(url: str, *args: str, input: str = "") -> tuple[int, list[str], str]:
    result = run_wscli("connect", "--socketio", url, *args, input=input)
    return result.returncode, lines(result.stdout), result.stderr.decode()


def received(out: list[str], name: str) -> list[str]:
    return [line for line in out if line.startswith(f"{name}: ")]


def test_a_json_line_is_sent_as_that_value_else_as_a_string(server: str) -> None:
    rc, out, err = sio(server, "--event", "types", "-n", "5", input='{"x":1}\n42\nhello\n"42"\n')
    assert rc == 0, err
    assert received(out, "types") == [
        'types: [["object"]]',
        'types: [["number"]]',
        'types: [["string"]]',
        'types: [["string"]]',
    ]


def test_raw_strings_sends_every_line_as_a_string(server: str) -> None:
    rc, out, err = sio(server, "--event", "echo", "--raw-strings", "-n", "2", input='{"x":1}\n')
    assert rc == 0, err
    assert received(out, "echo") == ['echo: ["{\\"x\\":1}"]']


def test_spread_sends_an_array_as_several_arguments(server: str) -> None:
    (rc, out, err), (_, whole, _) = concurrently(
        lambda: sio(server, "--event", "types", "--spread", "-n", "3", input='[1,"a",null]\n[]\n'),
        lambda: sio(server, "--event", "types", "-n", "2", input='[1,"a",null]\n'),
    )
    assert rc == 0, err
    assert received(out, "types") == ['types: [["number","string","object"]]', "types: [[]]"]
    assert received(whole, "types") == ['types: [["object"]]']  # without --spread: one array


def test_emit_sends_events_with_no_arguments_first_in_order(server: str) -> None:
    """--emit EVENT: no arguments at all (-x '' is one empty string), before -x, in order;
    --json shows them as sent, with the acknowledgement asked for."""
    (rc, out, err), as_json = concurrently(
        lambda: sio(
            server, "--emit", "types", "--emit", "echo", "--event", "types", "-x", "", "-n", "4"
        ),
        lambda: sio(
            server, "--emit", "types", "--ack", "--event", "echo", "-x", "1", "-n", "5", "--json"
        ),
    )
    assert rc == 0, err
    assert out[1:] == ["types: [[]]", "echo: []", 'types: [["string"]]']
    rc, out, err = as_json
    assert rc == 0, err
    events = [json.loads(line) for line in out]
    sent = [e for e in events if e.get("direction") == "out"]
    assert [(e.get("name"), e.get("args"), e.get("ack_id")) for e in sent] == [
        ("types", [], 0),
        ("echo", [1], 1),
    ]


def test_binary_arguments_from_stdin_and_binary_events_as_base64(server: str) -> None:
    streamed, lined, (rc, out, err) = concurrently(
        lambda: sio(server, "--event", "types", "--stream", "-n", "2", input="\x01\x02\x03"),
        lambda: sio(server, "--event", "types", "--binary", "-n", "3", input="ab\n{}\n"),
        lambda: sio(server, "--event", "binary", "-x", "go", "--ack", "--json", "-n", "3"),
    )
    assert streamed[0] == 0, streamed[2]
    assert received(streamed[1], "types") == ['types: [["bytes:010203"]]']
    assert received(lined[1], "types") == ['types: [["bytes:6162"]]', 'types: [["bytes:7b7d"]]']
    assert rc == 0, err
    events = [json.loads(line) for line in out]
    blob = next(e for e in events if e.get("name") == "blob")
    assert blob["args"] == ["four bytes", {"base64": "AAEC/w=="}]
    ack = next(e for e in events if e.get("socketio") == "ack")
    assert (ack["direction"], ack["ack_id"], ack["args"]) == ("in", 0, [{"base64": "AAEC/w=="}])


def test_ack_prints_the_acknowledgement_payload(server: str) -> None:
    rc, out, err = sio(server, "--event", "sum", "--spread", "--ack", "-n", "2", input="[2,3]\n")
    assert rc == 0, err
    assert "ack 0: [5]" in out


def test_acks_are_waited_for_after_stdin_ends(server: str) -> None:
    """With the default --idle (1 s) the pipe would end first; an ack still due is waited
    for (until --ack-timeout), never dropped."""
    rc, out, err = sio(server, "--event", "echo", "--ack", "--idle", "0.01", input='"a"\n"b"\n')
    assert rc == 0, err
    assert [line for line in out if line.startswith("ack")] == ['ack 0: ["a"]', 'ack 1: ["b"]']


def test_missing_ack_is_exit_6_in_a_pipe(server: str) -> None:
    rc, _, err = sio(server, "--event", "silent", "--ack", "--ack-timeout", "0.5", input="x\n")
    assert rc == 6
    assert err == (
        "wscli: error: no acknowledgement for event 'silent' (ack 0): "
        "none within 0.5 s (--ack-timeout)\n"
    )


def test_missing_ack_is_exit_6_when_idle_ends_at_the_same_moment(server: str) -> None:
    """--idle (0.5 s after the last message) and the ack deadline (0.5 s after the emit)
    fall together: whichever fires first, a missing ack is exit 6. Sixteen runs at once
    make the race likely (it ended exit 0 in about one run in six)."""
    args = ("--event", "silent", "--ack", "--ack-timeout", "0.5", "--json", "-x", "1")
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(lambda _: sio(server, *args)[0], range(16)))
    assert codes == [6] * 16


def test_missing_ack_ends_the_pipe_on_time_while_the_server_is_quiet(server: str) -> None:
    """Nothing else ends this session (--idle 0): the ack deadline does, on time, not at
    the server's next frame (its next ping is 25 s away)."""
    started = time.monotonic()
    args = ["--event", "silent", "--ack", "--ack-timeout", "0.5", "--idle", "0", "-x", "1"]
    rc, _, err = sio(server, *args)
    assert rc == 6, err
    # Well before the server's next ping (25 s), which ended it before; wscli's own start
    # took most of 6.4 s beside another suite at load 18.
    assert time.monotonic() - started < scaled(15)


def test_missing_ack_is_an_error_event_with_json(server: str) -> None:
    rc, out, _ = sio(
        server, "--event", "silent", "--ack", "--ack-timeout", "0.5", "--json", "-x", "1"
    )
    assert rc == 6
    error = json.loads(out[-1])
    assert error["event"] == "error" and error["exit_code"] == 6


def test_server_events_asking_for_an_ack_get_one(server: str) -> None:
    (rc, out, err), (_, replied, _) = concurrently(
        lambda: sio(server, "--event", "ask", "-x", "", "-n", "3"),
        lambda: sio(server, "--event", "ask", "-x", "", "-n", "3", "--ack-reply", '["yes",1]'),
    )
    assert rc == 0, err
    assert received(out, "answered") == ["answered: [[]]"]  # default: an empty ack
    assert received(replied, "answered") == ['answered: [["yes",1]]']


def test_json_event_carries_name_args_and_the_ack_id_asked(server: str) -> None:
    rc, out, err = sio(server, "--event", "ask", "-x", "", "-n", "3", "--json")
    assert rc == 0, err
    events: list[dict[str, Any]] = [json.loads(line) for line in out]
    question = next(e for e in events if e.get("name") == "question")
    assert question["socketio"] == "event" and question["args"] == ["ready?"]
    assert isinstance(question["ack_id"], int)


def test_namespace_with_an_auth_check(server: str) -> None:
    admin = ["--namespace", "/admin", "-H", "X-Token: secret", "--event", "whoami"]
    (rc, out, err), allowed = concurrently(
        lambda: sio(server, "--namespace", "admin"),
        lambda: sio(server, *admin, "--ack", "-x", "", "-n", "1"),
    )
    assert rc == 4
    assert err == "wscli: error: Socket.IO namespace '/admin' refused: not authorized\n"
    rc, out, err = allowed
    assert rc == 0, err
    assert out == ['ack 0: [{"admin":true,"nsp":"/admin"}]']


def test_handshake_auth_is_the_connect_payload(server: str) -> None:
    admin = ["--namespace", "/admin", "--event", "whoami", "--ack", "-x", "", "-n", "1"]
    (rc, out, err), wrong, (usage_rc, _, usage_err) = concurrently(
        lambda: sio(server, *admin, "--handshake-auth", '{"token":"secret"}'),
        lambda: sio(server, *admin, "--handshake-auth", '{"token":"wrong"}'),
        lambda: sio(server, "--handshake-auth", "[1]"),
    )
    assert rc == 0, err
    assert out == ['ack 0: [{"admin":true,"nsp":"/admin"}]']
    assert wrong[0] == 4 and "not authorized" in wrong[2]
    assert usage_rc == 2 and "expected a JSON object" in usage_err


def test_refused_upgrade_falls_back_to_long_polling_and_says_so(polling_server: str) -> None:
    rc, out, err = sio(polling_server, "--event", "echo", "--ack", "-n", "3", input='"hi"\n')
    assert rc == 0, err
    assert out == ['welcome: [{"transport":"polling"}]', 'ack 0: ["hi"]', 'echo: ["hi"]']
    assert err == (
        "wscli: warning: WebSocket upgrade refused (HTTP 400 Bad Request); "
        "falling back to HTTP long-polling\n"
    )


def test_transport_polling_goes_straight_to_long_polling(server: str) -> None:
    rc, out, err = sio(server, "--transport", "polling", "--event", "echo", "-n", "2", input="1\n")
    assert rc == 0, err
    assert out == ['welcome: [{"transport":"polling"}]', "echo: [1]"]
    assert err == ""


def test_transport_websocket_does_not_fall_back(polling_server: str) -> None:
    rc, _, err = sio(polling_server, "--transport", "websocket")
    assert rc == 4
    assert "rejected the WebSocket handshake: HTTP 400" in err


def test_long_polling_binary_and_server_acks(polling_server: str) -> None:
    (rc, out, err), (_, answered, _), (_, streamed, _) = concurrently(
        lambda: sio(polling_server, "--event", "binary", "-x", "", "--ack", "-n", "3"),
        lambda: sio(polling_server, "--event", "ask", "-x", "", "-n", "3", "--ack-reply", "[7]"),
        lambda: sio(polling_server, "--event", "types", "--stream", "-n", "2", input="\xff"),
    )
    assert rc == 0, err
    assert 'blob: ["four bytes",{"base64":"AAEC/w=="}]' in out
    assert 'ack 0: [{"base64":"AAEC/w=="}]' in out
    assert received(answered, "answered") == ["answered: [[7]]"]
    assert received(streamed, "types") == ['types: [["bytes:c3bf"]]']


def test_long_polling_json_open_names_the_polling_url(polling_server: str) -> None:
    rc, out, err = sio(polling_server, "--json", "-n", "1")
    assert rc == 0, err
    opened = json.loads(out[0])
    assert opened["event"] == "open"
    assert "transport=polling" in opened["url"] and opened["url"].startswith("http://")


def test_socketio_options_without_socketio_are_usage_errors() -> None:
    for args in (["--ack"], ["--spread"], ["--transport", "polling"], ["--emit", "x"]):
        result = run_wscli("connect", "ws://127.0.0.1:9/", *args)
        assert result.returncode == 2
        assert result.stderr.decode() == f"wscli: error: {args[0]} needs --socketio\n"


def test_bad_ack_reply_is_a_usage_error(server: str) -> None:
    rc, _, err = sio(server, "--ack-reply", "{}")
    assert rc == 2 and "expected a JSON array" in err


def test_long_polling_splits_what_stdin_gives_into_posts_the_server_accepts(
    polling_server: str,
) -> None:
    """3,000 lines of 400 bytes (1.2 MB, over socket.io's 1 MB maxHttpBufferSize) arrive
    in one stdin batch: sent in several POSTs, all echoed, none lost."""
    data = "".join(f'"{i:05d}{"x" * 392}"\n' for i in range(3000))
    args = ["--event", "echo", "-n", "3001", "--idle", "10"]  # --idle: a failure bound
    rc, out, err = sio(polling_server, *args, input=data)
    assert rc == 0, err
    echoed = received(out, "echo")
    assert len(echoed) == 3000 and echoed[-1].startswith('echo: ["02999')
