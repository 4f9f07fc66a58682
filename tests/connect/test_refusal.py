"""`wscli connect` shows a refused upgrade as the server explained it: the first line of its
body in the error line (escaped, cut to the terminal's width), the status, headers and body
in --json's error event, a hint that follows the status and headers."""

from __future__ import annotations

import json
from collections.abc import Callable

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from tests.connect.test_repl import Terminal, state_home, term_env, terminals  # noqa: F401
from tests.support import lines, run_wscli
from tests.support.connect_servers import echo, running

SAID = "no supported subprotocol offered (supported: chat, wscli.chat.v1)"


def refuse(
    status: int, body: bytes, headers: list[tuple[str, str]] | None = None
) -> Callable[[ServerConnection, Request], Response]:
    def process_request(connection: ServerConnection, request: Request) -> Response:
        response = connection.respond(status, body.decode())
        for name, value in headers or []:
            response.headers[name] = value
        return response

    return process_request


def test_the_error_line_says_what_the_server_said() -> None:
    with running(echo, process_request=refuse(400, f"{SAID}\nsecond line\n".encode())) as server:
        result = run_wscli("connect", "-s", "superchat", server.url, "-x", "hi")
    assert result.returncode == 4
    assert result.stderr.decode() == (
        f"wscli: error: 127.0.0.1:{server.port} rejected the WebSocket handshake: HTTP 400 Bad "
        f"Request: {SAID} (hint: does the server support the subprotocol offered (superchat)?)\n"
    )


def test_the_json_error_event_carries_status_headers_and_a_bounded_body() -> None:
    body = b"slow down\n" + b"x" * 5000
    handler = refuse(429, body, [("Retry-After", "7"), ("Set-Cookie", "session=s3cret")])
    with running(echo, process_request=handler) as server:
        result = run_wscli("connect", "--json", server.url, "-x", "hi")
    assert result.returncode == 4
    (event,) = [json.loads(line) for line in lines(result.stdout)]
    assert event["event"] == "error" and event["exit_code"] == 4
    assert event["status"] == 429 and event["reason"] == "Too Many Requests"
    assert event["headers"]["Retry-After"] == "7"
    assert event["headers"]["Set-Cookie"] == "[redacted]"
    assert event["body"].startswith("slow down\nxxx") and len(event["body"]) == 1024
    assert event["body_truncated"] is True
    assert (
        "HTTP 429 Too Many Requests: slow down (hint: the server is busy: try again in 7 s)"
        in (event["message"])
    )


def test_a_400_from_a_socketio_path_suggests_socketio() -> None:
    with running(echo, process_request=refuse(400, b"Bad request\n")) as server:
        result = run_wscli("connect", f"{server.url}socket.io/", "-x", "hi")
    assert result.returncode == 4
    assert result.stderr.endswith(b"(hint: a Socket.IO endpoint: use --socketio)\n")
    assert b"-s)" not in result.stderr


def test_401_with_a_basic_challenge_suggests_auth() -> None:
    handler = refuse(401, b"", [("WWW-Authenticate", 'Basic realm="chat"')])
    with running(echo, process_request=handler) as server:
        result = run_wscli("connect", server.url, "-x", "hi")
    assert result.returncode == 4
    assert result.stderr.endswith(
        b"HTTP 401 Unauthorized (hint: it asks for a user and password: --auth USER:PASS)\n"
    )


def test_on_a_terminal_the_line_is_escaped_and_cut_to_its_width(
    term_env: dict[str, str],  # noqa: F811
    terminals: list[Terminal],  # noqa: F811
) -> None:
    said = "refused \x1b[2J\x1b]0;pwned\x07 because " + "reasons " * 40
    with running(echo, process_request=refuse(403, said.encode())) as server:
        terminal = Terminal(["connect", server.url], term_env, cols=200)
        terminals.append(terminal)
        assert terminal.exit_status() == 4
    text = terminal.text
    error = [line for line in text.splitlines() if line.startswith("wscli: error:")]
    assert len(error) == 1, text
    (line,) = error
    assert "HTTP 403 Forbidden: refused \\e[2J\\e]0;pwned\\x07 because reasons" in line
    assert line.endswith("… (hint: check -H/--header and --auth; some servers require --origin)")
    assert len(line) <= 200  # one screen line: nothing wrapped below it
    assert text.splitlines()[text.splitlines().index(line) + 1].strip() == ""
