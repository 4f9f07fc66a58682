"""`wscli serve` end to end: the real entry point in a subprocess, real clients.

Also interop with clients nobody here wrote: npm's ``wscat`` (installed from
tests/npm/package-lock.json into a cache folder) and websocket-client's ``wsdump``.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests import support
from tests.serve.serve_helpers import recv
from tests.support import concurrently, run_wscli, scaled
from tests.support.npm_clients import wscat
from tests.support.serve_process import BANNER, ServeProcess, free_port


def test_banner_on_stderr_names_the_real_port_and_sigterm_exits_0() -> None:
    with ServeProcess() as server:
        assert server.match is not None
        assert server.match["scheme"] == "http" and server.match["host"] == "127.0.0.1"
        assert server.port > 0
        assert server.stderr_lines[0] == (
            f"Serving chat on http://127.0.0.1:{server.port}/ "
            f"(WebSocket ws://127.0.0.1:{server.port}/chat)"
        )
        server.proc.send_signal(signal.SIGTERM)
        assert server.wait() == 0
        assert server.stdout == b""
        assert "Traceback" not in server.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_signal_closes_every_client_with_1001_and_exits_0(signum: int) -> None:
    with ServeProcess() as server:
        async with (
            connect(server.ws_url("/a"), proxy=None) as a,
            connect(server.ws_url("/b?nick=bo"), proxy=None) as b,
        ):
            await a.send("before")
            assert await recv(a) == "before"
            assert await recv(b) == "* bo joined"
            started = time.monotonic()
            server.proc.send_signal(signum)
            for ws in (a, b):
                with pytest.raises(ConnectionClosed) as caught:
                    await recv(ws)
                assert caught.value.rcvd is not None and caught.value.rcvd.code == 1001
        assert await asyncio.to_thread(server.wait) == 0
        assert time.monotonic() - started < scaled(3)
        assert "Traceback" not in server.stderr
        assert "shutting down" in server.stderr


async def test_second_sigint_exits_at_once() -> None:
    with ServeProcess("--ping-interval", "0") as server:
        # A client that never reads nor answers the close frame keeps the first
        # shutdown waiting (up to its bound); a second Ctrl-C does not wait.
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.sendall(
            b"GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        assert sock.recv(1000).startswith(b"HTTP/1.1 101")
        started = time.monotonic()
        server.proc.send_signal(signal.SIGINT)
        await asyncio.sleep(0.2)
        server.proc.send_signal(signal.SIGINT)
        code = await asyncio.to_thread(server.wait)
        assert code == 130
        assert time.monotonic() - started < scaled(1.5)
        assert "wscli: interrupted" in server.stderr
        assert "Traceback" not in server.stderr
        sock.close()


def test_port_and_host_from_environment() -> None:
    port = free_port()
    env = {"WSCLI_PORT": str(port), "WSCLI_HOST": "127.0.0.1"}
    with ServeProcess(port=None, env=env) as server:
        assert server.port == port
        server.proc.send_signal(signal.SIGTERM)
        assert server.wait() == 0


async def test_json_log_writes_ndjson_events_to_stdout() -> None:
    with ServeProcess("--json-log", "-v") as server:
        async with connect(server.ws_url("/room?nick=zed"), proxy=None) as ws:
            await ws.send("hi")
            assert await recv(ws) == "* zed joined"
            assert await recv(ws) == "hi"
        server.proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(server.wait) == 0
    events = [json.loads(line) for line in server.stdout.decode().splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "listening"
    assert events[0]["url"] == f"http://127.0.0.1:{server.port}/"
    assert {"connect", "message", "disconnect", "shutdown"} <= set(kinds)
    connect_event = next(e for e in events if e["event"] == "connect")
    assert connect_event["room"] == "/room" and connect_event["nick"] == "zed"
    assert all(e["time"].endswith("Z") for e in events)
    assert BANNER.search(server.stderr)  # the banner stays on stderr


async def test_token_from_environment_variable_and_file(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    for args, env, token in (
        ((), {"WSCLI_TOKEN": "from-env"}, "from-env"),
        (("--token-file", str(token_file)), None, "from-file"),
    ):
        with ServeProcess(*args, env=env) as server:
            with pytest.raises(InvalidStatus) as caught:
                async with connect(server.ws_url(), proxy=None):
                    pass
            assert caught.value.response.status_code == 401
            async with connect(server.ws_url(f"/chat?token={token}"), proxy=None) as ws:
                await ws.send("in")
                assert await recv(ws) == "in"
            assert token not in server.stderr


def test_usage_errors_exit_2_with_one_line() -> None:
    cases = (
        (("--require-subprotocol",), "--require-subprotocol needs"),
        (("--max-size", "lots"), "not a size"),
        (("--keyfile", __file__), "--keyfile needs --certfile"),
        (("--port", "70000"), "--port"),
        (("--origin", "example.com"), "invalid --origin 'example.com'"),
        (("--host", ""), "--host is empty"),
        (("--max-size", "0"), "'0' is less than 1 byte"),
        (("--max-queue", "0K"), "'0K' is less than 1 byte"),
        (("--token", ""), "the token is empty"),
    )
    results = concurrently(*(functools.partial(run_wscli, "serve", *args) for args, _ in cases))
    for (args, needle), result in zip(cases, results, strict=True):
        assert result.returncode == 2, args
        assert result.stdout == b""
        lines = result.stderr.decode().splitlines()
        assert len(lines) == 1 and lines[0].startswith("wscli: error: ") and needle in lines[0]


def test_unusable_token_files_are_one_line_usage_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "blank").write_bytes(b"\n\nlater")
    (tmp_path / "binary").write_bytes(b"\xff\xfe")
    os.mkfifo(tmp_path / "fifo")
    cases = (
        ("fifo", "not a regular file"),
        ("empty", "its first line is empty"),
        ("blank", "its first line is empty"),
        ("binary", "it is not UTF-8 text"),
    )
    # The last: a regular file whose read fails (EIO at address 0).
    files = [str(tmp_path / name) for name, _ in cases] + ["/proc/self/mem"]
    *results, result = concurrently(
        *(functools.partial(run_wscli, "serve", "--port", "0", "--token-file", f) for f in files)
    )
    for (name, why), found in zip(cases, results, strict=True):
        assert found.returncode == 2, name
        assert found.stderr.decode() == (
            f"wscli: error: cannot read a token from {str(tmp_path / name)!r}: {why}\n"
        )
    # The regular file that cannot be read: the OS reason, one line.
    assert result.returncode == 2
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("wscli: error: cannot read a token from '/proc/self/mem': ")


def test_port_in_use_exits_1_with_a_hint() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_wscli("serve", "--port", str(port))
    assert result.returncode == 1
    line = result.stderr.decode().strip()
    assert line == (
        f"wscli: error: cannot listen on 127.0.0.1:{port}: address already in use "
        "(hint: pick another --port, or --port 0 for a free one)"
    )


def test_host_not_of_this_machine_exits_1_with_a_host_hint() -> None:
    # 192.0.2.1 (TEST-NET-1) is on no interface here: bind fails, no packet is sent.
    result = run_wscli("serve", "--host", "192.0.2.1", "--port", "0")
    assert result.returncode == 1
    assert result.stderr.decode() == (
        "wscli: error: cannot listen on 192.0.2.1:0: cannot assign requested address "
        "(hint: --host must be an address of this machine, e.g. 127.0.0.1 or 0.0.0.0 for all)\n"
    )


def test_bracketed_host_is_named_once_bracketed_in_the_error() -> None:
    result = run_wscli("serve", "--host", "[::1]", "--port", "0")
    assert result.returncode == 1
    assert result.stderr.decode().startswith("wscli: error: cannot listen on [::1]:0: ")
    assert result.stderr.decode().endswith(
        "(hint: --host takes an address or a name of this machine)\n"
    )


def test_help_documents_options_defaults_and_env_vars() -> None:
    result = run_wscli("serve", "--help")
    assert result.returncode == 0
    text = result.stdout.decode()
    for needle in (
        "WSCLI_PORT",
        "WSCLI_HOST",
        "WSCLI_TOKEN",
        "--no-echo",
        "--history",
        "--max-queue",
        "--max-total-queue",
        "1009",
        "--require-subprotocol",
        "/healthz",
        "* NAME joined",
    ):
        assert needle in text, needle


# Interop with clients nobody here wrote


@support.requires("npm", "node")
async def test_interop_wscat_exchanges_messages_through_serve() -> None:
    wscat_bin = wscat()
    with ServeProcess() as server:
        async with connect(server.ws_url(), proxy=None) as ours:
            proc = await asyncio.create_subprocess_exec(
                wscat_bin,
                "-c",
                server.ws_url(),
                "-x",
                "hello from wscat",
                "-w",
                "1",
                stdin=subprocess.PIPE,  # kept open: wscat quits at EOF on stdin
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            assert await recv(ours, 15) == "hello from wscat"
            await ours.send("hello wscat")
            out, err = await asyncio.wait_for(proc.communicate(), scaled(15))
            assert proc.returncode == 0, err
            assert "hello from wscat" in out.decode()  # its own echo
            assert "hello wscat" in out.decode()
        server.proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(server.wait) == 0


async def test_interop_wsdump_exchanges_messages_and_its_abrupt_exit_is_harmless() -> None:
    wsdump = str(Path(sys.executable).parent / "wsdump")
    with ServeProcess() as server:
        async with connect(server.ws_url(), proxy=None) as ours:
            proc = await asyncio.create_subprocess_exec(
                wsdump,
                "-r",
                "--eof-wait",
                "1",
                "-t",
                "hello from wsdump",
                server.ws_url(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            assert await recv(ours, 15) == "hello from wsdump"
            await ours.send("hello wsdump")
            out, _ = await asyncio.wait_for(proc.communicate(), scaled(15))
            assert "hello from wsdump" in out.decode()
            assert "hello wsdump" in out.decode()
            await ours.send("still served")  # wsdump left without a close frame
            assert await recv(ours) == "hello wsdump"
            assert await recv(ours) == "still served"
        server.proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(server.wait) == 0
    assert "code 1006" in server.stderr or "code 1000" in server.stderr
    assert "Traceback" not in server.stderr


async def _status(url: str, **kwargs: object) -> int:
    try:
        async with connect(url, proxy=None, open_timeout=scaled(5), **kwargs):  # type: ignore[arg-type]
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


async def test_options_reach_the_server() -> None:
    with ServeProcess(
        *("-s", "chat", "-s", "superchat", "--require-subprotocol", "--no-echo"),
        *("--history", "1", "--origin", "https://ok.example", "--max-clients", "3"),
        *("--max-size", "1K", "--compression", "--loop", "asyncio"),
    ) as server:
        url = server.ws_url()
        assert await _status(url) == 400  # no subprotocol offered
        assert await _status(url, subprotocols=["chat"], origin="https://evil.example") == 403
        assert await _status(url, subprotocols=["chat"], origin="https://ok.example") == 101
        async with (
            connect(url, proxy=None, subprotocols=["superchat", "chat"]) as a,
            connect(url, proxy=None, subprotocols=["chat"], compression=None) as b,
        ):
            assert a.subprotocol == "superchat"
            assert a.protocol.extensions and not b.protocol.extensions  # --compression
            await a.send("x" * 1024)
            assert await recv(b) == "x" * 1024
            async with connect(url, proxy=None, subprotocols=["chat"]) as c:
                assert await recv(c) == "x" * 1024  # --history 1
                assert await _status(url, subprotocols=["chat"]) == 503  # --max-clients 3
            await a.send("y" * 1025)  # --max-size 1K
            with pytest.raises(ConnectionClosed) as caught:
                await recv(a)  # --no-echo: nothing of its own comes back first
            assert caught.value.rcvd is not None and caught.value.rcvd.code == 1009
        server.proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(server.wait) == 0


async def test_tls_with_separate_key_file(tmp_path: Path) -> None:
    import ssl

    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(tmp_path / "cert.pem")
    cert.private_key_pem.write_to_path(tmp_path / "key.pem")
    context = ssl.create_default_context()
    ca.configure_trust(context)
    with ServeProcess(
        "--certfile", str(tmp_path / "cert.pem"), "--keyfile", str(tmp_path / "key.pem")
    ) as server:
        assert server.match is not None and server.match["scheme"] == "https"
        async with connect(f"wss://127.0.0.1:{server.port}/s", ssl=context, proxy=None) as ws:
            await ws.send("over tls")
            assert await recv(ws) == "over tls"
        server.proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(server.wait) == 0
    result = run_wscli("serve", "--certfile", str(tmp_path / "key.pem"), "--port", "0")
    assert result.returncode == 2
    assert result.stderr.decode().startswith("wscli: error: cannot load server certificate")


def test_slowloris_dropped_after_handshake_timeout() -> None:
    with ServeProcess("--handshake-timeout", "0.3") as server:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=scaled(5))
        sock.sendall(b"GET /chat HTTP/1.1\r\n")
        started = time.monotonic()
        assert sock.recv(100) == b""
        assert time.monotonic() - started < scaled(3)
        sock.close()
        server.proc.send_signal(signal.SIGTERM)
        assert server.wait() == 0
    assert "handshake timed out after 0.3 s" in server.stderr


def test_ipv6_loopback_banner_uses_brackets() -> None:
    if not socket.has_ipv6:
        raise AssertionError("this machine has no IPv6 loopback (::1 is expected here)")
    with ServeProcess("--host", "::1") as server:
        assert server.match is not None and server.match["host"] == "[::1]"
        with socket.create_connection(("::1", server.port), timeout=scaled(5)) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: [::1]\r\n\r\n")
            assert sock.recv(1000).startswith(b"HTTP/1.1 200")
        server.proc.send_signal(signal.SIGTERM)
        assert server.wait() == 0


def test_layers_serve_command_imports_no_heavy_module_and_hub_no_io_library() -> None:
    checks = (
        # completion calls the program back: the command module must stay light
        ("wscli.cli.serve", ("websockets", "uvloop", "redis")),
        # the fan-out core knows neither the WebSocket library nor the terminal nor click
        ("wscli.serve.hub", ("websockets", "click", "rich")),
        ("wscli.serve.access", ("websockets", "click", "rich", "asyncio")),
    )
    for module, forbidden in checks:
        code = (
            f"import sys, {module}\n"
            f"bad = [m for m in {forbidden!r} if m in sys.modules]\n"
            "assert not bad, bad\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, timeout=scaled(30), check=False
        )
        assert result.returncode == 0, (module, result.stderr.decode())


@pytest.mark.parametrize("loop", ["auto", "asyncio"])  # auto: uvloop when installed
async def test_slow_consumer_dropped_by_the_real_server(loop: str) -> None:
    chunk = os.urandom(32 * 1024)
    with ServeProcess("--max-queue", "1M", "--loop", loop) as server:
        url = server.ws_url()
        async with (
            connect(url, proxy=None, max_queue=1) as slow,  # stops reading after a frame
            connect(url, proxy=None, max_size=None) as reader,
            connect(url, proxy=None, max_size=None) as publisher,
        ):
            for _ in range(80):  # 20 MiB in windows of 8 messages
                for _ in range(8):
                    await publisher.send(chunk)
                for _ in range(8):
                    assert await recv(reader) == chunk
                    assert await recv(publisher) == chunk
            with pytest.raises(ConnectionClosed):
                while True:
                    await recv(slow)
        server.proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(server.wait) == 0
    assert "too slow: dropped with" in server.stderr
    assert "code 1013 'too slow: outgoing queue full' by server" in server.stderr


async def test_a_stalled_log_reader_does_not_stall_the_server() -> None:
    from tests.support import clean_env, wscli_command

    proc = subprocess.Popen(
        [*wscli_command(), "serve", "--port", "0", "-v"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,  # read once for the banner, then never again
        env=clean_env(),
    )
    try:
        assert proc.stderr is not None
        banner = await asyncio.to_thread(proc.stderr.readline)
        match = BANNER.search(banner.decode())
        assert match is not None, banner
        url = f"ws://127.0.0.1:{match.group('port')}/chat"
        async with connect(url, proxy=None) as ws:
            for n in range(3000):  # ~200 KB of -v log lines: far more than a pipe holds
                await ws.send(f"message {n}")
            for n in range(3000):
                assert await recv(ws) == f"message {n}"
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, scaled(10))
        assert code == 0
        rest = proc.stderr.read().decode()
        assert "Traceback" not in rest and "Fatal" not in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_loop_without_uvloop_uvloop_is_a_usage_error_and_auto_uses_asyncio(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "uvloop"
    blocker.mkdir()
    (blocker / "__init__.py").write_text("raise ImportError('no uvloop here')\n")
    env = {"PYTHONPATH": str(tmp_path)}
    result = run_wscli("serve", "--port", "0", "--loop", "uvloop", env=env)
    assert result.returncode == 2
    assert result.stdout == b""
    assert result.stderr.decode() == (
        "wscli: error: --loop uvloop: uvloop is not installed "
        "(hint: pip install 'wscli-toolkit[speed]')\n"
    )
    with ServeProcess("--loop", "auto", env=env) as server:
        async with connect(server.ws_url(), proxy=None) as ws:
            await ws.send("on plain asyncio")
            assert await recv(ws) == "on plain asyncio"
        server.proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(server.wait) == 0


async def test_history_bytes_bounds_the_kept_history_from_the_command_line() -> None:
    # --history-bytes reaches the hub: 6 rooms x 4 x 1 KiB sent, at most 8 KiB kept.
    with ServeProcess("--history", "10", "--history-bytes", "8K") as server:
        for n in range(6):
            async with connect(server.ws_url(f"/r{n}"), proxy=None) as ws:
                for _ in range(4):
                    await ws.send(b"m" * 1024)
                for _ in range(4):
                    await recv(ws)
        with socket.create_connection(("127.0.0.1", server.port), timeout=scaled(5)) as sock:
            sock.sendall(b"GET /healthz?verbose HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            answer = b""
            while chunk := sock.recv(65536):  # the server closes after its answer
                answer += chunk
        health = json.loads(answer.partition(b"\r\n\r\n")[2])
        assert 0 < health["history_bytes"] <= 8 * 1024
        assert 0 < health["rooms_kept"] < 6  # the oldest rooms lost their history


def test_an_expired_certificate_is_a_warning_at_start(tmp_path: Path) -> None:
    import trustme

    past = (datetime.datetime(2020, 1, 1), datetime.datetime(2021, 1, 1))
    cert = trustme.CA().issue_cert("127.0.0.1", not_before=past[0], not_after=past[1])
    cert.private_key_and_cert_chain_pem.write_to_path(tmp_path / "old.pem")
    with ServeProcess("--certfile", str(tmp_path / "old.pem")) as server:
        assert server.http_url.startswith("https://")  # it starts, and says why clients fail
        warning = f"wscli: warning: --certfile {tmp_path / 'old.pem'}: the certificate expired"
        assert any(line.startswith(warning) for line in server.stderr_lines), server.stderr
