"""`wscli connect --socketio` against `wscli serve --socketio` (both real processes): each
transport, acknowledgements, binary, a namespace with a raw client in its room."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from websockets.sync.client import connect

from tests.support import lines, run_wscli, scaled
from tests.support.serve_process import ServeProcess


@pytest.fixture(scope="module")
def server() -> Iterator[ServeProcess]:
    with ServeProcess("--socketio", "--history", "0") as proc:
        yield proc


def sio(server: ServeProcess, *args: str, input: str = "") -> tuple[int, list[str], str]:
    result = run_wscli("connect", "--socketio", server.http_url, *args, input=input)
    return result.returncode, lines(result.stdout), result.stderr.decode()


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_lines_go_out_as_events_and_come_back(server: ServeProcess, transport: str) -> None:
    rc, out, err = sio(
        server, "--transport", transport, "-n", "3", input='hello\n{"x":1}\n[1,"a"]\n'
    )
    assert rc == 0, err
    assert out == ['message: ["hello"]', 'message: [{"x":1}]', 'message: [[1,"a"]]']


def test_acknowledgements_carry_the_id_and_recipients(server: ServeProcess) -> None:
    rc, out, err = sio(server, "--ack", "--json", "-n", "2", input="hi\n")
    assert rc == 0, err
    acks = [line for line in out if '"ack"' in line]
    assert len(acks) == 1 and '"recipients": 1' in acks[0].replace('":1', '": 1')


def test_binary_and_a_raw_client_in_a_namespace(server: ServeProcess) -> None:
    got: list[str | bytes] = []
    with connect(server.ws_url("/lab"), proxy=None, open_timeout=scaled(5)) as raw:

        def read() -> None:
            got.extend([raw.recv(timeout=scaled(10)), raw.recv(timeout=scaled(10))])

        reader = threading.Thread(target=read)
        reader.start()
        rc, out, err = sio(server, "--namespace", "/lab", "--binary", "-n", "1", input="AAEC\n")
        assert rc == 0, err
        assert out == ['message: [{"base64":"QUFFQw=="}]'], out  # b"AAEC", sent as binary
        rc, out, err = sio(server, "--namespace", "/lab", "-n", "1", input="text\n")
        assert rc == 0, err
        reader.join(scaled(10))
    assert got == [b"AAEC", "text"]
