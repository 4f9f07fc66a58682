"""`wscli replay` end to end: a chat session recorded through a real `wscli proxy` in front of
a real `wscli serve`, replayed as the client against the server (match, and a changed
reply named), and as a mock server answering wscat, websocat, Node `ws` and `wscli connect`
the same way."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import clean_env, concurrently, requires, run_wscli, scaled, wscli_command
from tests.support.npm_clients import npm_clients, wscat
from tests.support.proxy_process import ProxyProcess
from tests.support.serve_process import ServeProcess

MOCK = re.compile(r"Replaying connection #\d+ \(.*\) on ws://127\.0\.0\.1:(\d+)")
RECORDED = ["* alice joined", "hello", "world"]


@pytest.fixture(scope="module")
def server() -> Iterator[ServeProcess]:
    with ServeProcess() as running:
        yield running


@pytest.fixture(scope="module")
def recording(server: ServeProcess, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """alice joins /chat through the proxy, says hello and world, and leaves."""
    path = tmp_path_factory.mktemp("replay") / "chat.ndjson"
    with ProxyProcess(server.ws_url("/"), "--record", str(path)) as proxy:
        result = run_wscli(
            "connect", proxy.ws_url("/chat?nick=alice"), "-n", "3", input="hello\nworld\n"
        )
        assert result.stdout.decode().splitlines() == RECORDED, result.stderr
        assert proxy.wait_for(r"#1 close 1000")
    return path


def _server_texts_before(recording: Path, client_text: str) -> list[str]:
    """The server's text messages the recording holds before the client's ``client_text``."""
    texts = []
    for line in recording.read_text().splitlines():
        event = json.loads(line)
        if event["event"] != "message" or "text" not in event:
            continue
        if event["from"] == "client" and event["text"] == client_text:
            return texts
        if event["from"] == "server":
            texts.append(event["text"])
    raise AssertionError(f"the client never says {client_text!r} in the recording")


def _changed(recording: Path, tmp_path: Path, old: str, new: str) -> Path:
    """The recording with the server's reply ``old`` made ``new``."""
    lines = []
    for line in recording.read_text().splitlines():
        event = json.loads(line)
        if event["event"] == "message" and event["from"] == "server" and event["text"] == old:
            event["text"] = new
        lines.append(json.dumps(event))
    changed = tmp_path / "changed.ndjson"
    changed.write_text("\n".join(lines) + "\n")
    return changed


def test_a_recorded_chat_replays_against_serve_and_matches(
    server: ServeProcess, recording: Path
) -> None:
    base = f"ws://127.0.0.1:{server.port}"
    result = run_wscli("replay", str(recording), "--to", base)
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == (
        f"match: connection #1 (/chat?nick=alice) with {base}/chat?nick=alice: "
        "3 sent, 3 received as recorded\n"
    )
    fast = run_wscli("replay", str(recording), "--to", base, "--speed", "100")
    assert fast.returncode == 0 and fast.stdout.startswith(b"match: ")


def test_a_changed_reply_is_a_mismatch_named_with_exit_7(
    server: ServeProcess, recording: Path, tmp_path: Path
) -> None:
    changed = _changed(recording, tmp_path, "world", "world!")
    base = f"ws://127.0.0.1:{server.port}"
    result = run_wscli("replay", str(changed), "--to", base, "--no-wait")
    assert result.returncode == 7
    line = result.stdout.decode()
    assert line.startswith("mismatch: connection #1 (/chat?nick=alice) with ")
    assert re.search(
        r"step \d \(t=[\d.]+ s\), the server's text 'world!' expected, got text 'world'", line
    )


class Mock:
    """`wscli replay FILE --port 0 ARGS` in the background."""

    def __init__(self, recording: Path, *args: str) -> None:
        self.errors = recording.parent / f"mock-{time.monotonic_ns()}.err"
        self.proc = subprocess.Popen(
            [*wscli_command(), "replay", str(recording), "--port", "0", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.errors.open("wb"),
            env=clean_env(),
        )
        deadline = time.monotonic() + scaled(15)
        while time.monotonic() < deadline:
            found = MOCK.search(self.errors.read_text())
            if found:
                self.url = f"ws://127.0.0.1:{found[1]}/chat"
                return
            time.sleep(0.05)
        self.proc.kill()
        raise AssertionError(self.errors.read_text())

    def stop(self, wait: float = 0) -> tuple[int, str]:
        """Its exit code (SIGTERM unless it ends within ``wait`` s) and its stdout."""
        if wait:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=scaled(wait))
        if self.proc.poll() is None:
            self.proc.terminate()
        out, _ = self.proc.communicate(timeout=scaled(15))
        return self.proc.returncode, out.decode()


def _wscli_connect(url: str) -> list[str]:
    result = run_wscli("connect", url, "--wait", "3", input="hello\nworld\n")
    return result.stdout.decode().splitlines()


def _wscat(url: str) -> list[str]:
    proc = subprocess.Popen(
        [wscat(), "-c", url, "-x", "hello", "-w", "3"],
        stdin=subprocess.PIPE,  # kept open: wscat quits at EOF on stdin
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
    )
    assert proc.stdout is not None and proc.stdin is not None
    proc.wait(timeout=scaled(20))
    out = proc.stdout.read()
    proc.stdin.close()
    return out.decode().splitlines()  # off a terminal: one message per line, no marks


def _websocat(url: str) -> list[str]:
    binary = Path(wscli_command()[0]).parent / "websocat"
    proc = subprocess.Popen(
        [str(binary), "-t", url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
    )
    out, _ = proc.communicate(b"hello\nworld\n", timeout=scaled(20))
    return out.decode().splitlines()


NODE_CLIENT = """
const WebSocket = require('ws');
const ws = new WebSocket(process.argv[1]);
ws.on('open', () => { ws.send('hello'); ws.send('world'); });
ws.on('message', (data) => console.log(data.toString()));
ws.on('close', () => process.exit(0));
ws.on('error', (e) => { console.error(String(e)); process.exit(1); });
"""


def _node_ws(url: str) -> list[str]:
    env = clean_env({"NODE_PATH": str(npm_clients() / "node_modules")})
    result = subprocess.run(
        ["node", "-e", NODE_CLIENT, url],
        capture_output=True,
        timeout=scaled(20),
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.decode().splitlines()


@requires("node", "npm")
def test_the_mock_server_answers_every_client_the_same(recording: Path) -> None:
    mock = Mock(recording, "--no-wait", "--timeout", "1")
    clients = {
        "wscli connect": _wscli_connect,
        "wscat": _wscat,
        "websocat": _websocat,
        "node ws": _node_ws,
    }
    try:  # side by side: each connection is replayed on its own
        answers = concurrently(*(functools.partial(run, mock.url) for run in clients.values()))
        got = dict(zip(clients, answers, strict=True))
    finally:
        code, out = mock.stop()
    assert got == dict.fromkeys(got, RECORDED)
    assert code == 0
    assert out.count("match: connection #1") == 4  # one verdict per client


def test_expect_reports_the_first_client_message_that_differs(
    recording: Path,
) -> None:
    mock = Mock(recording, "--expect", "--once", "--no-wait")
    result = run_wscli("connect", mock.url, "--wait", "2", input="hello\nWORLD\n")
    code, out = mock.stop(wait=10)
    assert code == 7
    assert re.fullmatch(
        r"mismatch: connection #1 \(/chat\?nick=alice\) with 127\.0\.0\.1:\d+: step \d "
        r"\(t=[\d.]+ s\), the client's text 'world' expected, got text 'WORLD'\n",
        out,
    ), out
    # The client hears what the recording has the server say before the client's 'world':
    # the replay stops at the difference. (Recorded at load 18, both client lines can come
    # before the server's first: then nothing.)
    assert result.stdout.decode().splitlines() == _server_texts_before(recording, "world")
    assert result.returncode == 5 and b"1008" in result.stderr  # closed: not as recorded
    good = Mock(recording, "--expect", "--once", "--no-wait")
    # As recorded: it closes after its three messages (not 2 s after its input ends).
    run_wscli("connect", good.url, "-n", "3", input="hello\nworld\n")
    assert good.stop(wait=10)[0] == 0


def test_bad_recordings_are_one_line_errors(tmp_path: Path) -> None:
    for content, why in (
        (b"{not json\n", "line 1: not JSON"),
        (b'{"event":"listening","t":0}\n', "it records no WebSocket connection"),
        (b'{"event":"open","connection":1,"t":"x","path":"/"}\n', "line 1: open without"),
    ):
        path = tmp_path / "bad.ndjson"
        path.write_bytes(content)
        result = run_wscli("replay", str(path), "--port", "0")
        assert result.returncode == 2
        assert result.stderr.decode().startswith("wscli: error: cannot replay")
        assert why in result.stderr.decode()
    os.chmod(path, 0)


def test_the_mock_server_refuses_foreign_hosts_and_browser_pages(recording: Path) -> None:
    import socket

    mock = Mock(recording, "--no-wait")
    port = int(mock.url.rsplit(":", 1)[1].split("/")[0])

    def status(*headers: str) -> bytes:
        head = [
            "GET /chat HTTP/1.1",
            *headers,
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version: 13",
        ]
        with socket.create_connection(("127.0.0.1", port), timeout=scaled(10)) as sock:
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
            return sock.recv(100).split(b"\r\n", 1)[0]

    try:
        assert status("Host: evil.example") == b"HTTP/1.1 403 Forbidden"  # DNS rebinding
        page = ("Host: 127.0.0.1", "Origin: https://evil.example")  # a page the user visits
        assert status(*page) == b"HTTP/1.1 403 Forbidden"
        assert status("Host: 127.0.0.1") == b"HTTP/1.1 101 Switching Protocols"
    finally:
        mock.stop()
