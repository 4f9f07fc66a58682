"""wscli.connect.inputs: -x values (@FILE, @-, @@), stdin cut into messages (lines, a
--separator, --whole-input) and binary input (raw, base64, hex) — unit tests, then the
installed `wscli connect` in a subprocess against an echo server."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support import concurrently, lines, run_wscli
from tests.support.connect_servers import echo, running
from wscli.connect.inputs import (
    BadInput,
    decode_binary,
    execute_bytes,
    parse_separator,
    payload,
    split_messages,
)
from wscli.connect.render import encode_binary
from wscli.core.errors import UsageProblem


def test_split_messages_keeps_a_partial_one_until_final() -> None:
    assert split_messages(b"a\nb\r\nc", final=False) == ([b"a", b"b"], b"c")
    assert split_messages(b"a\nb\r\nc", final=True) == ([b"a", b"b", b"c"], b"")
    assert split_messages(b"\n", final=True) == ([b""], b"")
    assert split_messages(b"a\nb\0c\r\n\0d", False, b"\0") == ([b"a\nb", b"c\r\n"], b"d")
    assert split_messages(b"x--y--", True, b"--") == ([b"x", b"y"], b"")


@given(st.lists(st.binary(max_size=20).filter(lambda m: b"\0" not in m), max_size=10))
def test_separated_messages_come_back_whole(messages: list[bytes]) -> None:
    joined = b"".join(m + b"\0" for m in messages)
    assert split_messages(joined, True, b"\0") == (messages, b"")


def test_separator_notation() -> None:
    assert parse_separator(None) == b"\n"
    assert parse_separator("nul") == parse_separator("NUL") == parse_separator("\\0") == b"\0"
    assert parse_separator("\\r\\n") == b"\r\n"
    assert parse_separator("--\\x1e\\\\") == b"--\x1e\\"
    assert parse_separator("§") == "§".encode()
    for bad in ("", "\\q", "\\x4"):
        with pytest.raises(UsageProblem):
            parse_separator(bad)


@given(st.binary(max_size=200), st.sampled_from(["base64", "hex"]))
def test_a_received_binary_line_is_sent_back_unchanged(data: bytes, fmt: str) -> None:
    # What the pipe prints for a received binary message, read back by --binary-input.
    assert decode_binary(encode_binary(data, fmt).encode(), fmt, "x") == data  # type: ignore[arg-type]


def test_binary_input_that_is_not_the_notation_is_bad_input() -> None:
    with pytest.raises(BadInput, match="stdin line 3 is not base64"):
        decode_binary(b"not base64!", "base64", "stdin line 3")
    with pytest.raises(BadInput):
        decode_binary(b"0g", "hex", "x")
    assert payload(b"caf\xc3\xa9", False, "raw", "x") == "café"
    assert payload(b"01 ff", True, "hex", "x") == b"\x01\xff"


def test_execute_values(tmp_path: Path) -> None:
    text = tmp_path / "req.json"
    text.write_text('{"op": "sub",\n "id": 1}\n')
    blob = tmp_path / "blob.bin"
    blob.write_bytes(b"\xff\x00")
    found = execute_bytes(["plain", f"@{text}", "@@literal", "@"], binary=False)
    assert found == [b"plain", text.read_bytes(), b"@literal", b"@"]
    assert execute_bytes([f"@{blob}"], binary=True) == [b"\xff\x00"]
    with pytest.raises(UsageProblem, match="not UTF-8"):
        execute_bytes([f"@{blob}"], binary=False)
    with pytest.raises(UsageProblem, match="cannot read -x @/nonexistent"):
        execute_bytes(["@/nonexistent"], binary=False)
    with pytest.raises(UsageProblem, match="stdin is a terminal"):
        execute_bytes(["@-"], binary=False, read_stdin=False)


def _sent_and_received(
    result_stdout: bytes,
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    events = [json.loads(line) for line in lines(result_stdout)]
    messages = [e for e in events if e["event"] == "message"]
    return [m for m in messages if m["direction"] == "out"], [
        m for m in messages if m["direction"] == "in"
    ]


def test_whole_input_sends_all_of_stdin_as_one_message() -> None:
    with running(echo) as server:
        result = run_wscli(
            "connect", server.url, "--whole-input", "--json", "-n", "1", input="a\nb\n\nc"
        )
    assert result.returncode == 0, result.stderr
    sent, received = _sent_and_received(result.stdout)
    assert [m["text"] for m in sent] == ["a\nb\n\nc"]
    assert [m["text"] for m in received] == ["a\nb\n\nc"]


def test_execute_from_a_file_stdin_and_a_literal_at(tmp_path: Path) -> None:
    request = tmp_path / "req.json"
    request.write_text('{\n  "op": "subscribe"\n}\n')
    with running(echo) as server:
        result = run_wscli(
            "connect", server.url, "--json", "-n", "3",
            "-x", f"@{request}", "-x", "@-", "-x", "@@handle",
            input="from stdin\nas one\n",
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    sent, _ = _sent_and_received(result.stdout)
    assert [m["text"] for m in sent] == [
        '{\n  "op": "subscribe"\n}\n',
        "from stdin\nas one\n",
        "@handle",
    ]


def test_execute_file_problems_are_usage_errors_before_connecting(tmp_path: Path) -> None:
    result = run_wscli("connect", "ws://127.0.0.1:1/", "-x", f"@{tmp_path}/missing.json")
    assert result.returncode == 2
    assert result.stderr.startswith(b"wscli: error: cannot read -x @")
    assert b"no such file or directory" in result.stderr


def test_separator_nul_in_and_out() -> None:
    with running(echo) as server:
        result = run_wscli(
            "connect",
            server.url,
            "--separator",
            "nul",
            "-n",
            "2",
            input=b"line 1\nline 2\0second\0",
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"line 1\nline 2\0second\0"


def test_binary_input_base64_sends_back_what_was_received() -> None:
    with running(echo) as server:
        result, hexed, raw = concurrently(
            lambda: run_wscli(
                "connect", server.url, "--binary-input", "base64", "-n", "2", input="AAEC/w==\n\n"
            ),
            lambda: run_wscli(
                "connect",
                server.url,
                *("--binary-input", "hex", "--binary-format", "hex", "-n", "1"),
                *("-x", "00 01 02 ff"),
            ),
            lambda: run_wscli("connect", server.url, "--binary", "-n", "1", input="AAEC/w==\n"),
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"AAEC/w==\n\n"  # the bytes 00 01 02 ff came back, and b""
    assert hexed.returncode == 0 and hexed.stdout == b"000102ff\n"
    # Without --binary-input the 8 characters are the bytes.
    assert raw.stdout == base64.b64encode(b"AAEC/w==") + b"\n"


def test_a_line_that_is_not_base64_ends_the_session_politely_exit_1() -> None:
    with running(echo) as server:
        result = run_wscli(
            "connect", server.url, "--binary-input", "base64", "-v", input="AAEC\nnot base64!\n"
        )
    assert result.returncode == 1
    assert b"wscli: closing (1000): a message in the input cannot be sent\n" in result.stderr
    assert result.stderr.endswith(
        b"wscli: error: stdin message 2 is not base64: 'not base64!'"
        b" (hint: --binary-input base64)\n"
    )


def test_input_options_that_do_not_go_together() -> None:
    stream, whole, bad_x = concurrently(
        lambda: run_wscli("connect", "ws://127.0.0.1:1/", "--stream", "--binary-input", "hex"),
        lambda: run_wscli("connect", "ws://127.0.0.1:1/", "--whole-input", "--separator", "nul"),
        lambda: run_wscli("connect", "ws://127.0.0.1:1/", "--binary-input", "hex", "-x", "zz"),
    )
    for result in (stream, whole, bad_x):
        assert result.returncode == 2
    assert b"-x message 1 is not hex" in bad_x.stderr
