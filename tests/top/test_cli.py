"""`wscli top` end to end with pipes: one plain frame off a terminal, and one clear line with
a documented exit code when the server cannot be read."""

from __future__ import annotations

from tests.support import has_ansi, run_wscli
from tests.support.serve_process import ServeProcess, free_port


def test_off_a_terminal_one_plain_frame() -> None:
    with ServeProcess("--metrics-rooms", "3") as server:
        done = run_wscli("top", server.http_url, "--interval", "0.2", env={"COLUMNS": "90"})
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode()
    assert out.startswith("wscli top")
    assert "clients 0" in out and "msg/s" in out and "redis not used" in out
    assert not has_ansi(out)
    assert all(len(line) <= 90 for line in out.splitlines())
    assert done.stderr == b""


def test_ws_url_and_token_from_the_environment() -> None:
    with ServeProcess("--token", "j0in", "--metrics-token", "m3tr1cs") as server:
        done = run_wscli(
            "top",
            server.ws_url("/any"),
            "--interval",
            "0.1",
            env={"WSCLI_METRICS_TOKEN": "m3tr1cs"},
        )
        assert done.returncode == 0, done.stderr
        refused = run_wscli("top", server.http_url, "--token", "j0in")
    assert refused.returncode == 4
    assert refused.stdout == b""
    line = refused.stderr.decode()
    assert line.count("\n") == 1 and line.startswith("wscli: error: ")
    assert "refused /metrics: HTTP 403" in line and "WSCLI_METRICS_TOKEN" in line


def test_no_token_is_a_401_with_a_hint() -> None:
    with ServeProcess("--token", "t") as server:
        done = run_wscli("top", server.http_url)
    assert done.returncode == 4
    assert "HTTP 401" in done.stderr.decode()


def test_nothing_listening_is_exit_3() -> None:
    done = run_wscli("top", f"http://127.0.0.1:{free_port()}/", "--timeout", "2")
    assert done.returncode == 3
    assert done.stderr.decode().startswith("wscli: error: cannot read http://127.0.0.1:")


def test_not_a_wscli_server_says_so() -> None:
    with ServeProcess() as server:  # its /nope is a 404: as a server without /metrics
        done = run_wscli("top", server.http_url.replace("http://", "ftp://"))
    assert done.returncode == 2
    assert "scheme" in done.stderr.decode().lower()
