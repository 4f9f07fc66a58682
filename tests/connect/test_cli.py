"""`wscli connect` end to end: each exit code against a server that behaves that way, TLS,
proxy, headers, and interop with servers nobody here wrote."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
from collections.abc import Iterator

import pytest
import trustme

from tests.support import REPO, clean_env, concurrently, lines, requires, run_wscli
from tests.support.connect_servers import (
    close_after_first,
    drop_after_first,
    echo,
    echo_recording_closes,
    reject,
    running,
    tls_server_context,
)
from tests.support.peers import peer
from tests.support.rawserver import RawServer, answer, close_early, close_frame, upgrade_response
from tests.support.serve_process import ServeProcess
from tests.support.tunnels import ConnectProxy

# -- exit codes ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_refused_with_stdin_at_eof_exits_3() -> None:
    result = run_wscli("connect", f"ws://127.0.0.1:{_free_port()}/")
    assert result.returncode == 3
    assert result.stdout == b""
    assert result.stderr.startswith(b"wscli: error: cannot connect to 127.0.0.1:")
    assert b"connection refused" in result.stderr
    assert result.stderr.count(b"\n") == 1


def test_refused_in_json_mode_reports_error_event() -> None:
    result = run_wscli("connect", "--json", f"ws://127.0.0.1:{_free_port()}/")
    assert result.returncode == 3
    event = json.loads(result.stdout)
    assert event["event"] == "error" and event["exit_code"] == 3


def test_handshake_rejected_403_exits_4_with_status() -> None:
    with running(echo, process_request=reject(403)) as server:
        result = run_wscli("connect", server.url, "-x", "hi")
    assert result.returncode == 4
    assert b"rejected the WebSocket handshake: HTTP 403 Forbidden" in result.stderr
    assert result.stdout == b""


def test_plain_ws_to_a_server_that_hangs_up_hints_at_tls_exits_4() -> None:
    with RawServer(close_early()) as server:
        result = run_wscli("connect", server.url(), "-x", "hi")
    assert result.returncode == 4
    assert result.stderr.decode() == (
        f"wscli: error: handshake with 127.0.0.1:{server.port} failed: the server closed the "
        "connection without a complete HTTP response "
        "(hint: is it a TLS port (try wss://), or the wrong path?)\n"
    )
    assert result.stdout == b""


def test_close_1011_exits_5_and_shows_code() -> None:
    with running(close_after_first(1011, "boom")) as server:
        result = run_wscli("connect", server.url, "-x", "hi", "-v")
    assert result.returncode == 5
    assert b"closed abnormally: 1011 (internal error) 'boom'" in result.stderr


def test_server_close_frame_without_a_code_exits_0() -> None:
    up = upgrade_response()
    handler = answer(lambda request: up(request) + close_frame(None), after="websocket")
    with RawServer(handler) as server:
        result = run_wscli("connect", server.url())
    assert result.returncode == 0, result.stderr
    assert result.stdout == b""


def test_tcp_dropped_without_close_frame_exits_5() -> None:
    with running(drop_after_first) as server:
        result = run_wscli("connect", server.url, "-x", "hi")
    assert result.returncode == 5
    assert b"no close frame" in result.stderr


def test_server_normal_close_exits_0() -> None:
    with running(close_after_first(1000, "bye")) as server:
        result = run_wscli("connect", server.url, "-x", "hi", "--json")
    assert result.returncode == 0
    close = json.loads(lines(result.stdout)[-1])
    assert close["event"] == "close"
    assert (close["code"], close["reason"], close["by"]) == (1000, "bye", "server")


def test_open_timeout_exits_6() -> None:
    with socket.socket() as listener:  # accepts TCP, never answers the upgrade
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        result = run_wscli("connect", f"ws://127.0.0.1:{port}/", "--open-timeout", "0.3")
    assert result.returncode == 6
    assert b"timed out" in result.stderr


def test_bad_url_is_usage_error() -> None:
    result = run_wscli("connect", "ftp://x/")
    assert result.returncode == 2
    assert b"unsupported scheme" in result.stderr


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["--close-reason", "r" * 124], "close reason is limited to 123 bytes"),
        (["--close-reason", "\udcff"], "close reason is not valid UTF-8"),  # argv byte 0xff
        (["--close-code", "1005"], "close code 1005 cannot be sent"),
        (["-H", "X-A: 日本"], "invalid header 'X-A'"),
        (["--origin", "http://日本"], "invalid header 'Origin'"),
        (["-s", "bad proto"], "invalid subprotocol 'bad proto'"),
        (["-x", "\udcff"], "not valid UTF-8"),
    ],
    ids=["long-reason", "reason-bytes", "reserved-code", "header", "origin", "subprotocol", "x"],
)
def test_values_websockets_cannot_send_are_usage_errors(args: list[str], why: str) -> None:
    with running(echo) as server:
        result = run_wscli("connect", server.url, *args)
    assert result.returncode == 2
    assert result.stdout == b""
    stderr = result.stderr.decode("utf-8", "replace")
    assert stderr.startswith("wscli: error: ") and stderr.count("\n") == 1, stderr
    assert why in stderr


def test_help_documents_pipe_defaults_and_exit_codes() -> None:
    result = run_wscli("connect", "--help")
    text = result.stdout.decode()
    assert "--idle" in text and "(default 1)" in text and "exit 8 (no reply)" in text
    assert "-n N ends as soon as they arrived" in text
    assert "130  interrupted" in text and "--socketio" in text


def test_server_close_exit_sentence_matches_the_code_in_help_and_man_page() -> None:
    from wscli.core.exitcodes import ExitCode, exit_code_for_close, server_close_sentence

    sentence = server_close_sentence()
    # The sentence says what exit_code_for_close does (the page once said 0 for all).
    assert f"exits {int(exit_code_for_close(1000))} for 1000/1001 (or no code)" in sentence
    assert f"{int(exit_code_for_close(1011))} for any other code" in sentence
    assert exit_code_for_close(1011) == ExitCode.CLOSED_ABNORMALLY
    help_text = " ".join(run_wscli("connect", "--help").stdout.decode().split())
    page = (REPO / "man" / "wscli-connect.1").read_text().replace("\\-", "-")
    assert sentence in help_text
    assert sentence in " ".join(page.split())


# -- headers, auth, origin, subprotocols ---------------------------------------------------


def test_headers_auth_origin_subprotocols_reach_the_server(tmp_path: object) -> None:
    from pathlib import Path

    header_file = Path(str(tmp_path)) / "headers"
    header_file.write_text("# secrets\nX-From-File: filed\n")
    with running(echo, subprotocols=["b", "a"]) as server:
        result = run_wscli(
            "connect",
            server.url,
            "-H",
            "X-One: 1",
            "-H",
            f"@{header_file}",
            "-H",
            "env:HDR",
            "--origin",
            "https://example.com",
            "-s",
            "a",
            "-s",
            "b",
            "--json",
            "-n",
            "1",
            "-x",
            "hi",
            env={"HDR": "X-Env: secret", "WSCLI_AUTH": "user:pa:ss"},
        )
        request = server.requests[0]
    assert result.returncode == 0, result.stderr
    headers = request.headers
    assert headers["X-One"] == "1"
    assert headers["X-From-File"] == "filed"
    assert headers["X-Env"] == "secret"
    assert headers["Origin"] == "https://example.com"
    assert headers["Sec-WebSocket-Protocol"] == "a, b"
    expected = "Basic " + base64.b64encode(b"user:pa:ss").decode()
    assert headers["Authorization"] == expected
    opened = json.loads(lines(result.stdout)[0])
    assert opened["subprotocol"] == "b"


def test_no_compression_offers_no_extension() -> None:
    with running(echo) as server:
        result = run_wscli(
            "connect", server.url, "--no-compression", "--json", "-x", "a", "-n", "1"
        )
        request = server.requests[0]
    assert "Sec-WebSocket-Extensions" not in request.headers
    assert json.loads(lines(result.stdout)[0])["extensions"] == []


def test_max_size_too_big_message_closes_1009() -> None:
    with running(echo) as server:
        result = run_wscli("connect", server.url, "--max-size", "10", "-x", "x" * 50)
    assert result.returncode == 5
    assert b"1009" in result.stderr
    # Our own limit, said as such, with the way out.
    assert b"over our --max-size limit" in result.stderr
    assert b"(hint: raise --max-size (0: no limit))" in result.stderr


# -- TLS -------------------------------------------------------------------------------------


def test_tls_with_cacert_insecure_and_untrusted(ca: trustme.CA, tmp_path: object) -> None:
    from pathlib import Path

    cafile = Path(str(tmp_path)) / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    with running(echo, ssl=tls_server_context(leaf)) as server:
        url = f"wss://localhost:{server.port}/"
        trusted, untrusted, insecure, plain = concurrently(
            lambda: run_wscli("connect", url, "--cacert", str(cafile), "-x", "sec", "-n", "1"),
            lambda: run_wscli("connect", url, "-x", "sec", "-n", "1"),
            lambda: run_wscli("connect", url, "-k", "-x", "sec", "-n", "1"),
            lambda: run_wscli("connect", f"ws://localhost:{server.port}/", "-x", "a"),
        )
    assert (trusted.returncode, trusted.stdout) == (0, b"sec\n")
    assert untrusted.returncode == 3
    assert b"TLS handshake with localhost" in untrusted.stderr and b"--cacert" in untrusted.stderr
    assert (insecure.returncode, insecure.stdout) == (0, b"sec\n")
    assert plain.returncode in (3, 4)


def test_tls_client_certificate(ca: trustme.CA, tmp_path: object) -> None:
    import ssl
    from pathlib import Path

    folder = Path(str(tmp_path))
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    client = ca.issue_cert("client@example.com")
    client.private_key_and_cert_chain_pem.write_to_path(str(folder / "client.pem"))
    client.cert_chain_pems[0].write_to_path(str(folder / "cert-only.pem"))
    client.private_key_pem.write_to_path(str(folder / "key.pem"))
    context = tls_server_context(ca.issue_cert("127.0.0.1"))
    context.verify_mode = ssl.CERT_REQUIRED
    ca.configure_trust(context)
    with running(echo, ssl=context) as server:
        url = f"wss://127.0.0.1:{server.port}/"
        common = ("--cacert", str(folder / "ca.pem"), "-x", "id", "-n", "1")
        with_cert, separate, without = concurrently(
            lambda: run_wscli("connect", url, "--cert", str(folder / "client.pem"), *common),
            lambda: run_wscli(
                "connect",
                url,
                "--cert",
                str(folder / "cert-only.pem"),
                "--key",
                str(folder / "key.pem"),
                *common,
            ),
            lambda: run_wscli("connect", url, *common),
        )
    assert (with_cert.returncode, with_cert.stdout) == (0, b"id\n")
    assert (separate.returncode, separate.stdout) == (0, b"id\n")
    assert without.returncode == 3
    assert b"--cert" in without.stderr


# -- proxy -----------------------------------------------------------------------------------


@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    server = ConnectProxy()
    yield server
    server.close()


def _echo_via(
    proxy: ConnectProxy, url: str, message: str, *extra: str
) -> subprocess.CompletedProcess[bytes]:
    """`wscli connect URL` through ``proxy``: send ``message``, read one reply."""
    proxy_url = f"http://127.0.0.1:{proxy.port}"
    return run_wscli("connect", url, *extra, "--proxy", proxy_url, "-x", message, "-n", "1")


def test_proxy_option_tunnels_through_connect(proxy: ConnectProxy) -> None:
    with running(echo) as server:
        result = _echo_via(proxy, server.url, "via")
    assert (result.returncode, result.stdout) == (0, b"via\n"), result.stderr
    assert proxy.targets == [f"CONNECT 127.0.0.1:{server.port}"]


def test_proxy_refusal_exits_3(proxy: ConnectProxy) -> None:
    result = run_wscli(
        "connect", f"ws://127.0.0.1:{_free_port()}/", "--proxy", f"http://127.0.0.1:{proxy.port}"
    )
    assert result.returncode == 3
    assert b"proxy refused the connection: HTTP 502" in result.stderr


def test_environment_proxy_is_bypassed_for_loopback() -> None:
    dead_proxy = f"http://127.0.0.1:{_free_port()}"
    with running(echo) as server:
        result = run_wscli(
            "connect",
            server.url,
            "-x",
            "direct",
            "-n",
            "1",
            env={"http_proxy": dead_proxy, "HTTPS_PROXY": dead_proxy, "all_proxy": dead_proxy},
        )
    assert (result.returncode, result.stdout) == (0, b"direct\n")


# -- interop -----------------------------------------------------------------------------------


@requires("node")
def test_node_ws_peer_broadcast_reaches_sender() -> None:
    with peer("node-ws") as port:
        result = run_wscli("connect", f"ws://127.0.0.1:{port}/room", input="from wscli\n")
        as_json = run_wscli(
            "connect",
            f"ws://127.0.0.1:{port}/",
            "--json",
            "--binary",
            "-n",
            "1",
            input="\x00\x01\n",
        )
    assert (result.returncode, result.stdout) == (0, b"from wscli\n")
    received = [json.loads(x) for x in lines(as_json.stdout) if '"direction":"in"' in x]
    assert received[0]["type"] == "binary" and received[0]["base64"] == "AAE="


def test_wscli_serve_interop() -> None:
    with ServeProcess() as serve:
        result = run_wscli("connect", serve.ws_url(), "-x", "hello serve", "--json", "-n", "1")
    assert result.returncode == 0, result.stderr
    received = [json.loads(x) for x in lines(result.stdout) if '"direction":"in"' in x]
    assert "hello serve" in received[0]["text"]


def test_unknown_host_exits_3() -> None:
    result = run_wscli("connect", "ws://nonexistent.invalid/", "--open-timeout", "5")
    assert result.returncode == 3
    assert b"cannot resolve host 'nonexistent.invalid'" in result.stderr


def test_socks_without_python_socks_and_bad_proxy_are_usage_errors() -> None:
    try:
        import python_socks  # noqa: F401

        socks_installed = True
    except ImportError:
        socks_installed = False
    bad = run_wscli("connect", "ws://127.0.0.1:9/", "--proxy", "ftp://x")
    assert bad.returncode == 2
    assert b"invalid --proxy" in bad.stderr
    if not socks_installed:
        socks = run_wscli("connect", "ws://127.0.0.1:9/", "--proxy", "socks5://127.0.0.1:1")
        assert socks.returncode == 2
        assert b"pip install 'wscli-toolkit[socks]'" in socks.stderr


def test_ping_timeout_drops_a_dead_peer_exit_5() -> None:
    from websockets.asyncio.server import ServerConnection

    frozen_connections: list[ServerConnection] = []

    async def frozen(ws: ServerConnection) -> None:
        assert ws.transport is not None
        ws.transport.pause_reading()  # alive on TCP, but never answers a ping
        frozen_connections.append(ws)
        await ws.wait_closed()

    with running(frozen) as server:
        result = run_wscli(
            "connect", server.url, "--ping-interval", "0.2", "--ping-timeout", "0.3", "--idle", "0"
        )
        for ws in frozen_connections:  # let the server stop at once
            server.loop.call_soon_threadsafe(ws.transport.abort)
    assert result.returncode == 5
    # The client's verdict, not a server fault.
    assert result.stderr.decode().endswith(
        "wscli: error: no pong within --ping-timeout 0.3 s: wscli closed the connection (1011)"
        " (hint: a stalled server or network; raise --ping-timeout (0: never))\n"
    )


def test_close_code_and_reason_are_sent() -> None:
    record, seen = echo_recording_closes()
    with running(record) as server:
        result = run_wscli(
            "connect",
            server.url,
            "-x",
            "a",
            "-n",
            "1",
            "--close-code",
            "4000",
            "--close-reason",
            "done",
        )
    assert result.returncode == 0
    assert seen == [(4000, "done")]


def test_wss_through_the_proxy(proxy: ConnectProxy, ca: trustme.CA, tmp_path: object) -> None:
    from pathlib import Path

    cafile = Path(str(tmp_path)) / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    with running(echo, ssl=tls_server_context(ca.issue_cert("localhost"))) as server:
        url = f"wss://localhost:{server.port}/"
        result = _echo_via(proxy, url, "tunnelled", "--cacert", str(cafile))
    assert (result.returncode, result.stdout) == (0, b"tunnelled\n"), result.stderr
    assert proxy.targets == [f"CONNECT localhost:{server.port}"]


def test_connect_command_module_imports_no_heavy_modules() -> None:
    import sys

    code = (
        "import sys, wscli.cli.connect; "
        "print(sorted(m for m in ('websockets', 'prompt_toolkit') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, check=True, env=clean_env()
    )
    assert out.stdout == b"[]\n"
