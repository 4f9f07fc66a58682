"""`wscli connect` against hostile or misbehaving servers: terminal injection
through error lines, secrets in output, redirects, lost data, deadlines, reconnect storms
and a ping flood. Raw servers send the exact bytes of the reports; exit code, stdout and
stderr are asserted separately."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import trustme
from websockets.asyncio.server import ServerConnection

from tests.support import clean_env, concurrently, lines, run_wscli, scaled, wscli_command
from tests.support.connect_servers import echo, running, tls_server_context
from tests.support.rawserver import (
    RawConnection,
    RawServer,
    answer,
    http_response,
    upgrade_response,
)
from wscli.net.statefiles import urls_path

HOSTILE_REASON = "Not\x1b]0;PWNED\x07\x1b]52;c;cHduZWQ=\x07\x1b[31mRED"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _frame(opcode: int, payload: bytes) -> bytes:
    """An unmasked (server-to-client) frame."""
    if len(payload) < 126:
        return bytes([0x80 | opcode, len(payload)]) + payload
    return bytes([0x80 | opcode, 126]) + struct.pack("!H", len(payload)) + payload


def _assert_inert(stderr: bytes) -> None:
    """No byte of stderr can drive a terminal: no ESC, BEL, C1 or bidi control."""
    text = stderr.decode("utf-8")
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", text), text


# -- item 1: escaped error lines -------------------------------------------------------------


def test_reason_phrase_with_osc_sequences_is_escaped_in_the_error_line() -> None:
    response = http_response(404, HOSTILE_REASON)
    with RawServer(answer(response)) as server:
        result = run_wscli("connect", server.url(), input=b"")
    assert result.returncode == 4
    assert result.stdout == b""
    _assert_inert(result.stderr)
    assert b"\\e]0;PWNED\\x07\\e]52;c;cHduZWQ=\\x07\\e[31mRED" in result.stderr


def test_c1_bytes_in_reason_phrase_and_accept_are_escaped() -> None:
    raw = b"HTTP/1.1 404 Not Found \x9b31m \x85\r\nContent-Length: 0\r\n\r\n"
    bad = answer(upgrade_response(accept="abc\x9b[31m=="))
    with RawServer(answer(raw)) as server, RawServer(bad) as bad_server:
        plain, as_json, bad_accept = concurrently(
            lambda: run_wscli("connect", server.url(), input=b""),
            lambda: run_wscli("connect", server.url(), "--json", input=b""),
            lambda: run_wscli("connect", bad_server.url(), input=b""),
        )
    assert plain.returncode == as_json.returncode == 4
    _assert_inert(plain.stderr)
    assert b"HTTP 404 Not Found \\x9b31m" in plain.stderr  # (\x85, NEL, folds to a space)
    # NDJSON: the C1 characters are \u escapes, never raw (0xc2 0x9b) bytes.
    assert b"\xc2\x9b" not in as_json.stdout and b"\xc2\x85" not in as_json.stdout
    (event,) = [json.loads(line) for line in lines(as_json.stdout)]
    assert event["event"] == "error" and "\x9b31m" in event["message"]
    _assert_inert(as_json.stderr)

    assert bad_accept.returncode == 4
    _assert_inert(bad_accept.stderr)
    assert b"abc\\x9b[31m==" in bad_accept.stderr


def test_close_reason_with_bidi_override_is_escaped_on_stderr_and_in_ndjson() -> None:
    async def close_hostile(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.close(1011, "ok\u202egnp.exe\u009b[2J")

    with running(close_hostile) as server:
        plain, as_json = concurrently(
            lambda: run_wscli("connect", server.url, "-x", "hi", input=b""),
            lambda: run_wscli("connect", server.url, "-x", "hi", "--json", input=b""),
        )
    assert plain.returncode == as_json.returncode == 5
    _assert_inert(plain.stderr)
    assert b"\\u202egnp.exe\\x9b[2J" in plain.stderr
    assert "\u202e".encode() not in as_json.stdout and b"\xc2\x9b" not in as_json.stdout
    events = [json.loads(line) for line in lines(as_json.stdout)]
    assert events[-1]["event"] == "error"
    assert events[-2] == {**events[-2], "event": "close", "reason": "ok\u202egnp.exe\u009b[2J"}


def test_socketio_namespace_refusal_with_escapes_is_escaped() -> None:
    async def refuse(ws: ServerConnection) -> None:
        await ws.send('0{"sid":"e1","pingInterval":25000,"pingTimeout":20000}')
        await ws.recv()  # our CONNECT
        await ws.send('44{"message":"no\\u001b]0;PWNED\\u0007\\u001b]52;c;cHduZWQ=\\u0007"}')
        await ws.wait_closed()

    with running(refuse) as server:
        result = run_wscli("connect", "--socketio", server.url, input=b"")
    assert result.returncode == 4
    _assert_inert(result.stderr)
    assert b"refused: no\\e]0;PWNED\\x07\\e]52;c;cHduZWQ=\\x07" in result.stderr


# -- item 9: every non-101 answer named ------------------------------------------------------


def test_http_1_0_answer_of_python_http_server_is_named() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=Path(__file__).parent,
    )
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline().decode()
        port = int(re.search(r"port (\d+)", banner).group(1))  # type: ignore[union-attr]
        result = run_wscli("connect", f"ws://127.0.0.1:{port}/", input=b"")
    finally:
        proc.kill()
        proc.wait()
    assert result.returncode == 4
    assert b"HTTP/1.0 200 OK (expected 101 Switching Protocols)" in result.stderr
    assert b"did not receive a valid HTTP response" not in result.stderr


# -- item 5: secrets -------------------------------------------------------------------------


def test_proxy_password_is_never_printed() -> None:
    proxy = f"http://bob:hunter2@127.0.0.1:{_free_port()}"
    plain, as_json = concurrently(
        lambda: run_wscli("connect", "ws://192.0.2.1:9/", "--proxy", proxy, input=b""),
        lambda: run_wscli("connect", "ws://192.0.2.1:9/", "--proxy", proxy, "--json", input=b""),
    )
    assert plain.returncode == as_json.returncode == 3
    assert b"via proxy http://bob:***@127.0.0.1:" in plain.stderr
    for output in (plain.stdout, plain.stderr, as_json.stdout, as_json.stderr):
        assert b"hunter2" not in output
    assert json.loads(as_json.stdout)["event"] == "error"


def test_url_credentials_and_token_stay_out_of_ndjson_and_state(tmp_path: Path) -> None:
    env = {"XDG_STATE_HOME": str(tmp_path)}
    with running(echo) as server:
        url = server.url.replace("ws://", "ws://bob:hunter2@") + "feed?token=s3cret"
        result = run_wscli("connect", url, "-x", "hi", "-n", "1", "--json", env=env)
    assert result.returncode == 0, result.stderr
    opened = json.loads(lines(result.stdout)[0])
    assert opened["url"] == url.replace("hunter2", "***").replace("s3cret", "[redacted]")
    assert b"hunter2" not in result.stdout + result.stderr
    assert b"s3cret" not in result.stdout + result.stderr
    stored = urls_path(env).read_text()
    assert stored == server.url + "feed\n"


# -- item 6: redirects -----------------------------------------------------------------------


def test_redirect_is_refused_without_location_option() -> None:
    with running(echo) as target:
        location = target.url + "elsewhere"
        with RawServer(answer(http_response(302, "Found", [("Location", location)]))) as server:
            result = run_wscli("connect", server.url(), "-x", "hi", input=b"")
        assert target.requests == []
    assert result.returncode == 4
    assert result.stdout == b""
    assert b"answered with a redirect: HTTP 302 Found to " + location.encode() in result.stderr
    assert b"(hint: follow it with -L/--location)" in result.stderr


def test_location_follows_reports_each_hop_and_drops_headers_on_host_change() -> None:
    with running(echo) as target:
        final = target.url.replace("127.0.0.1", "localhost") + "final"
        hop2 = http_response(307, "Temporary Redirect", [("Location", final)])
        with RawServer(answer(hop2)) as second:
            hop1 = http_response(301, "Moved", [("Location", second.url("/next"))])
            with RawServer(answer(hop1)) as first:
                args = ["-L", "-H", "X-Api-Key: s3cret", "--auth", "bob:hunter2", "-n", "1"]
                result = run_wscli(
                    "connect", first.url("/start"), *args, "-x", "hi", "--json", input=b""
                )
        assert result.returncode == 0, result.stderr
        # The first hop went to another port: credentials were not sent on.
        assert b"s3cret" in first.requests[0] and b"s3cret" not in second.requests[0]
        assert b"Authorization" not in second.requests[0]
        (request,) = target.requests
        assert "X-Api-Key" not in request.headers and "Authorization" not in request.headers
    events = [json.loads(line) for line in lines(result.stdout)]
    kinds = [e["event"] for e in events]
    assert kinds == ["redirect", "redirect", "open", "message", "message", "close"]
    assert events[0]["status"] == 301 and events[0]["url"] == second.url("/next")
    assert events[0]["from"] == first.url("/start")
    assert events[1]["status"] == 307 and events[1]["url"] == final
    assert events[2]["url"] == final  # `open` names the URL actually connected to
    err = result.stderr.decode()
    assert (
        f"wscli: redirected (HTTP 301) from {first.url('/start')} to {second.url('/next')}" in err
    )
    assert "-H headers and --auth not sent to the new host" in err


def test_same_origin_redirect_keeps_headers_and_a_loop_ends() -> None:
    def by_path(request: bytes) -> bytes:
        if request.startswith(b"GET /start "):
            headers = [("Location", "/next"), ("Content-Length", "0")]
            return http_response(308, "Permanent Redirect", headers)
        return upgrade_response()(request)

    with RawServer(answer(by_path, after="websocket")) as server:
        result = run_wscli(
            "connect", server.url("/start"), "-L", "-H", "X-Api-Key: s3cret", "--json", input=b""
        )
    assert result.returncode == 0, result.stderr
    assert [r.split(b" ")[1] for r in server.requests] == [b"/start", b"/next"]
    assert all(b"X-Api-Key: s3cret" in request for request in server.requests)
    assert b"not sent to the new host" not in result.stderr
    opened = [json.loads(line) for line in lines(result.stdout)][1]
    assert opened["event"] == "open" and opened["url"] == server.url("/next")

    loop = http_response(302, "Found", [("Location", "/again")])
    with RawServer(answer(loop)) as server:
        looped = run_wscli("connect", server.url(), "-L", input=b"")
    assert looped.returncode == 4
    assert len(server.requests) == 11  # the first request and 10 redirects followed
    assert b"more than 10 redirects" in looped.stderr


def test_location_never_downgrades_wss_to_ws(ca: trustme.CA) -> None:
    cert = ca.issue_cert("127.0.0.1")
    redirect = http_response(302, "Found", [("Location", "ws://127.0.0.1:9/")])
    with RawServer(answer(redirect), ssl_context=tls_server_context(cert)) as server:
        result = run_wscli("connect", server.url(), "-L", "-k", input=b"")
    assert result.returncode == 4
    assert b"refusing to follow a redirect from wss:// to ws://" in result.stderr


# -- items 7, 16: lost data never exits 0 ----------------------------------------------------


def test_message_over_max_size_while_wait_ends_first_is_not_exit_0() -> None:
    async def big_then_deaf(conn: RawConnection) -> None:
        request = await conn.read_request()
        await conn.send(upgrade_response()(request))
        await conn.send(_frame(0x1, b"x" * 2000))
        await conn.hold()  # reads our 1009 close frame, never answers it

    with RawServer(big_then_deaf) as server:
        result = run_wscli(
            "connect", server.url(), "--max-size", "1K", "--wait", "0.3", "-x", "go", input=b""
        )
        elapsed = time.monotonic() - server.accepted[0]  # not wscli's own start (load 18)
    assert result.returncode == 5, result.stderr
    assert result.stdout == b""
    assert b"1009" in result.stderr and b"over our --max-size limit" in result.stderr
    assert b"(hint: raise --max-size" in result.stderr
    assert elapsed < scaled(6)


def test_timeout_holds_while_stdout_is_blocked() -> None:
    async def flood(ws: ServerConnection) -> None:
        while True:
            await ws.send("y" * 1000)

    with running(flood) as server:
        proc = subprocess.Popen(
            [*wscli_command(), "connect", server.url, "--timeout", "2"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,  # never read: a reader like `| sleep 12`
            stderr=subprocess.PIPE,
            env=clean_env(),
        )
        try:
            code = proc.wait(timeout=scaled(30))  # a failure bound: judged below
        finally:
            proc.kill()
        # From the upgrade on, not from wscli's start (seconds of it at load 20); --timeout
        # counts from before the connection, so this is a looser bound than the option's.
        since_accepted = time.monotonic() - server.accepted[0]
        assert proc.stderr is not None
        err = proc.stderr.read()
        proc.stdin.close()  # type: ignore[union-attr]
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()
    assert code == 6, err
    assert err.endswith(b"wscli: error: timed out after 2 s (--timeout)\n")
    assert since_accepted < 2 + scaled(3), f"took {since_accepted:.1f} s after connecting"


# -- items 4, 15: reconnects -----------------------------------------------------------------


def test_reconnect_to_a_server_that_drops_at_once_gives_up_with_growing_delays() -> None:
    connections = 0

    async def accept_and_drop(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        await ws.close(1011, "bye at once")

    with running(accept_and_drop) as server:
        # --idle 0: stdin is at its end, and only the server may end each connection.
        args = ["--reconnect", "--max-retries", "2", "--idle", "0", "--json"]
        result = run_wscli("connect", server.url, *args, input=b"")
    assert result.returncode == 5
    assert connections == 3  # the first try and 2 retries, though each handshake worked
    events = [json.loads(line) for line in lines(result.stdout)]
    kinds = [e["event"] for e in events]
    assert kinds == [
        "open",
        "close",
        "reconnect",
        "open",
        "close",
        "reconnect",
        "open",
        "close",
        "error",
    ]
    retries = [e for e in events if e["event"] == "reconnect"]
    assert [e["attempt"] for e in retries] == [1, 2]
    assert retries[1]["delay"] >= retries[0]["delay"]
    assert all("1011" in e["reason"] and "bye at once" in e["reason"] for e in retries)
    assert events[-1]["exit_code"] == 5
    err = result.stderr.decode()
    assert err.count("wscli: error:") == 1  # only the final failure is an error
    assert "reconnecting in" in err and "(attempt 2/2): the server closed abnormally" in err


# -- item 3: a ping flood that never reads our pongs -----------------------------------------


def _rss_kib(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(match.group(1)) if match else 0


FLOOD_OPTIONS = ("--ping-interval", "0", "--ping-timeout", "3")


def test_ping_flood_without_reading_pongs_keeps_memory_bounded_and_closes() -> None:
    ping = _frame(0x9, b"p" * 125)

    async def flood(conn: RawConnection) -> None:
        request = await conn.read_request()
        await conn.send(upgrade_response()(request))
        # Never read again: asyncio stops reading for us once 128 KiB of pongs wait. A
        # small receive buffer makes our pongs back up sooner (a loaded machine is slow
        # to fill the default megabytes of kernel buffers).
        sock = conn.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        with_many = ping * 512
        try:
            while True:
                conn.writer.write(with_many)
                await asyncio.wait_for(conn.writer.drain(), 30)
        except (ConnectionError, asyncio.TimeoutError):
            pass

    with RawServer(flood) as server:
        started = time.monotonic()
        proc = subprocess.Popen(
            [
                *wscli_command(),
                "connect",
                server.url(),
                *("--ping-interval", "0"),
                # The drop's deadline starts only once our backlog is over the budget: the
                # flood reaches the budget first, however short this is.
                "--ping-timeout",
                "1",
            ],
            stdin=subprocess.PIPE,  # held open: only the server can end this
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=clean_env(),
        )
        peak = 0
        try:
            while proc.poll() is None and time.monotonic() - started < scaled(45):
                peak = max(peak, _rss_kib(proc.pid))
                time.sleep(0.02)
            code = proc.wait(timeout=scaled(5))
        finally:
            proc.kill()
            proc.wait()
        assert proc.stderr is not None
        err = proc.stderr.read()
        proc.stdin.close()  # type: ignore[union-attr]
        proc.stderr.close()
    assert code == 5, err
    assert b"wscli dropped the connection: the server read none of our last 1024 KiB" in err
    assert peak < 80_000, f"peak RSS {peak} KiB"  # about 40 MB; unbounded it passed 230 MB
