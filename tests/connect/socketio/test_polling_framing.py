"""Long-polling against servers that frame HTTP in ways RFC 9112 allows but few do (a 100
Continue, a body delimited by closing, chunked trailers and extensions) or that drop a
POST they processed: each is read right, nothing is sent twice, nothing spins."""

from __future__ import annotations

import base64
import re

from tests.support import scaled
from tests.support.measured import Measured, run_measured
from tests.support.polling_server import OPEN, PollingScript, ok_body, opened
from tests.support.rawserver import RawConnection, RawServer

CONNECTED = ok_body(b'40{"sid":"s1"}')
EVENT = ok_body(b'42["hi",1]')


def chunked(body: bytes, trailers: bytes = b"", extension: bytes = b"") -> bytes:
    """A 200 answer with ``body`` in one chunk (with ``extension``), then ``trailers``."""
    size = f"{len(body):x}".encode() + extension
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
        + size
        + b"\r\n"
        + body
        + b"\r\n0\r\n"
        + trailers
        + b"\r\n"
    )


def polling(script: PollingScript, *args: str, input: bytes | None = None) -> Measured:
    with RawServer(script.handler) as server:
        return run_measured(
            ["connect", "--socketio", "--transport", "polling", server.url(), *args],
            input=input,
        )


def test_a_100_continue_before_the_answer_is_skipped() -> None:
    """It gave exit 4 "HTTP 100 Continue"."""
    continued = b"HTTP/1.1 100 Continue\r\n\r\n" + opened()
    run = polling(PollingScript([continued, CONNECTED, EVENT]), "-n", "1")
    assert (run.returncode, run.stdout, run.stderr) == (0, b"hi: [1]\n", b"")


def test_a_body_delimited_by_closing_the_connection_is_read_to_its_end() -> None:
    """It gave "not a Socket.IO server" (RFC 9112 §6.3: no length, no chunks: until EOF)."""
    handshake = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + OPEN
    run = polling(PollingScript([handshake, CONNECTED, EVENT], close_after=[0]), "-n", "1")
    assert (run.returncode, run.stdout, run.stderr) == (0, b"hi: [1]\n", b"")


def test_chunked_trailers_and_extensions_keep_requests_and_answers_in_step() -> None:
    """A trailer left in the buffer was read as the next answer: the POST failed and was
    sent again (the server saw each emit twice), or the poll stalled (exit 6)."""
    trailers = b"X-Checksum: 1\r\nX-More: 2\r\n"
    gets = [
        chunked(OPEN, trailers, b";ext=1"),
        chunked(b'40{"sid":"s1"}', trailers),
        chunked(b'42["hi",1]', trailers),
        chunked(b'42["hi",2]', trailers),
    ]
    script = PollingScript(gets, post_answer=chunked(b"ok", trailers))
    run = polling(script, "-n", "2", "--wait", "1", input=b"a\nb\n")
    assert (run.returncode, run.stdout, run.stderr) == (0, b"hi: [1]\nhi: [2]\n", b"")
    emits = [post for post in script.posts if post.startswith(b"42")]
    assert b"".join(emits).split(b"\x1e") == [b'42["message","a"]', b'42["message","b"]']


def test_chunk_extensions_count_against_the_bounds() -> None:
    """60 KB of extension per one-byte chunk: parsed, uncounted, until the server's own
    poll timeout (here 50 s). Now the answer is refused at once: exit 5, one line."""

    async def spin(conn: RawConnection) -> None:
        await conn.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"1;" + b"e" * 60_000 + b"\r\n6\r\n"
        for _ in range(20_000):
            await conn.send(chunk)

    run = polling(PollingScript([opened(), CONNECTED, spin]), "--idle", "0")
    assert run.returncode == 5, run.stderr
    assert run.stdout == b""
    assert run.stderr.startswith(
        b"wscli: error: the long-polling session ended: long-polling request failed: "
    )
    assert re.search(rb": \d+ bytes of HTTP framing around \d bytes of body\n$", run.stderr)
    assert run.stderr.count(b"\n") == 1
    assert run.elapsed < scaled(10) and run.cpu_seconds < scaled(5), run


def test_a_post_is_never_sent_twice() -> None:
    """The server processes the emit, then drops the connection without answering: the
    POST was retried on a fresh connection and the server got the event twice."""
    script = PollingScript([opened(), CONNECTED], drop_posts=[1])
    run = polling(script, "--idle", "0", input=b'"transfer"\n')
    assert script.posts == [b"40", b'42["message","transfer"]']
    assert run.returncode == 5, run.stderr
    assert run.stdout == b""
    assert run.stderr.startswith(
        b"wscli: error: the long-polling session ended: long-polling send failed: "
    )
    assert run.stderr.count(b"\n") == 1


def test_the_url_credentials_are_sent_as_basic_auth_over_long_polling() -> None:
    """The WebSocket transport sent user:password@ as Basic auth; long-polling dropped it."""
    script = PollingScript([opened(), CONNECTED, EVENT])
    with RawServer(script.handler) as server:
        url = server.url().replace("ws://", "http://alice:S3cret%21@")
        run = run_measured(
            ["connect", "--socketio", "--transport", "polling", url, "-n", "1", "-v"]
        )
    assert run.returncode == 0, run.stderr
    assert run.stdout == b"hi: [1]\n"
    assert b"S3cret" not in run.stderr and b"alice:***@" in run.stderr
    token = base64.b64encode(b"alice:S3cret!")
    assert script.heads and all(
        b"\r\nAuthorization: Basic " + token + b"\r\n" in head for head in script.heads
    )
