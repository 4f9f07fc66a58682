"""Regression tests: `wscli serve` tried as a hostile client would (raw bytes
over real loopback sockets). Each failed on the server built on websockets' private names."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

from tests.serve.serve_helpers import (
    client,
    http_get,
    masked_frame,
    nothing_before_sentinel,
    raw_request,
    raw_upgrade,
    recv,
    running,
    upgrade_request,
)
from tests.support import scaled
from wscli.serve.tokenguard import FAILURES_AT_ONCE

FRAMES = masked_frame(0x1, b"forged") + masked_frame(0x2, b"\x00forged")


# Finding 1: nothing before the 101


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(lambda port: upgrade_request("/", port), id="no-token"),
        pytest.param(
            lambda port: upgrade_request("/", port, "Authorization: Bearer wrong\r\n"),
            id="wrong-token",
        ),
        pytest.param(lambda port: http_get("/healthz", port), id="plain-get"),
        pytest.param(
            lambda port: upgrade_request("/", port, "Origin: https://evil.example\r\n"),
            id="bad-origin",
        ),
    ],
)
async def test_frames_behind_a_refused_request_reach_nobody_and_no_history(head: object) -> None:
    async with running(token="s3cret", history=10) as srv:
        url = srv.url("/?token=s3cret")
        async with client(srv, "/?token=s3cret") as watcher:
            answer = await raw_request(srv.port, head(srv.port) + FRAMES)  # type: ignore[operator]
            assert not answer.startswith(b"HTTP/1.1 101"), answer
            assert b"forged" not in answer
            assert url and srv.chat.hub.history_held == 0  # nothing entered the history
            async with client(srv, "/?token=s3cret") as late:
                # Nothing reached the watcher, nor the late joiner from the history.
                await nothing_before_sentinel(watcher, watcher, late)


async def test_frames_sent_with_an_accepted_upgrade_are_parsed_only_after_the_101() -> None:
    async with running() as srv, client(srv, "/") as watcher:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(upgrade_request("/", srv.port) + masked_frame(0x1, b"early"))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), scaled(5))
        assert head.startswith(b"HTTP/1.1 101")
        assert await recv(watcher) == "early"  # admitted: then, and only then, relayed
        writer.close()


# Finding 2: pipelined plain HTTP


async def test_pipelined_plain_requests_get_the_first_answer_in_full() -> None:
    async with running() as srv:
        request = http_get("/healthz", srv.port).replace(b"Connection: close\r\n", b"")
        answer = await raw_request(srv.port, request * 2)
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        assert json.loads(body)["status"] == "ok"  # one whole answer, then the end
        assert not srv.events("error")


# Finding 3: malformed heads and other methods


@pytest.mark.parametrize(
    "name", ["Host", "Origin", "Authorization", "Upgrade", "Sec-WebSocket-Key"]
)
async def test_duplicate_headers_are_400_with_one_log_line(name: str) -> None:
    async with running() as srv:
        value = {
            "Host": f"127.0.0.1:{srv.port}",
            "Origin": f"http://127.0.0.1:{srv.port}",
            "Authorization": "Bearer a",
            "Upgrade": "websocket",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        }[name]
        request = upgrade_request("/chat", srv.port, f"{name}: {value}\r\n{name}: {value}\r\n")
        answer = await raw_request(srv.port, request)
        assert answer.startswith(b"HTTP/1.1 400"), answer
        (event,) = await srv.wait_events("refused", 1)
        assert event["status"] == 400 and name in event["reason"]
        assert not srv.events("error")


async def test_no_host_and_http_1_0_upgrades_are_400() -> None:
    async with running() as srv:
        no_host = upgrade_request("/chat", srv.port).replace(
            f"Host: 127.0.0.1:{srv.port}\r\n".encode(), b""
        )
        assert (await raw_request(srv.port, no_host)).startswith(b"HTTP/1.1 400")
        old = upgrade_request("/chat", srv.port).replace(b"HTTP/1.1", b"HTTP/1.0", 1)
        assert (await raw_request(srv.port, old)).startswith(b"HTTP/1.1 400")
        reasons = [e["reason"] for e in await srv.wait_events("refused", 2)]
        assert reasons == ["no Host header", "WebSocket upgrades need HTTP/1.1"]


async def test_post_with_a_body_gets_405() -> None:
    async with running() as srv:
        body = b"x" * 5000
        request = (
            f"POST /chat HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        answer = await raw_request(srv.port, request)
        assert answer.startswith(b"HTTP/1.1 405"), answer
        assert b"\r\nAllow: GET, HEAD\r\n" in answer


# Finding 4: every byte held for a client is counted


def _stalled_socket() -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # small kernel buffer
    sock.setblocking(False)
    return sock


async def test_a_ping_flooder_that_does_not_read_is_dropped_at_its_limit() -> None:
    async with running(max_queue=64 * 1024, ping_interval=None) as srv:
        sock = _stalled_socket()
        loop = asyncio.get_running_loop()
        await loop.sock_connect(sock, ("127.0.0.1", srv.port))
        await loop.sock_sendall(sock, upgrade_request("/chat", srv.port))
        ping = masked_frame(0x9, b"p" * 125)
        burst = ping * 2000  # 262 KB of pings per write, 32 MB at most
        sent = 0
        try:
            for _ in range(128):
                await asyncio.wait_for(loop.sock_sendall(sock, burst), scaled(5))
                sent += len(burst)
                if srv.events("slow"):
                    break
        except (ConnectionError, asyncio.TimeoutError):
            pass  # dropped: the server aborted the connection
        finally:
            sock.close()
        event = await srv.wait_event("slow")
        assert 0 < event["buffered"] <= 64 * 1024
        assert sent < 32 * 2**20
        await srv.wait_event("disconnect", code=1013)


async def test_history_replay_to_joiners_that_do_not_read_stays_within_the_total() -> None:
    # More history than the kernel's socket buffers take: the rest waits in the server.
    total, replay = 8 * 2**20, 6 * 2**20
    settings = {"max_size": 2 * 2**20, "max_queue": 8 * 2**20, "max_total_queue": total}
    async with running(history=4, **settings) as srv:
        async with client(srv, "/big", max_size=None) as writer_ws:
            for n in range(4):
                await writer_ws.send(bytes([n]) * (replay // 4))
            for _ in range(4):
                await recv(writer_ws)
        loop = asyncio.get_running_loop()
        stalled = []
        for _ in range(20):  # 20 x 6 MiB of replay: 120 MiB if nothing were counted
            sock = _stalled_socket()
            await loop.sock_connect(sock, ("127.0.0.1", srv.port))
            await loop.sock_sendall(sock, upgrade_request("/big", srv.port))
            stalled.append(sock)
            await asyncio.sleep(0.01)
            held = sum(c.buffered() for c in srv.chat.connections)
            assert held <= total + replay, held  # at most one replay past the budget
        assert len(await srv.wait_events("slow", 10)) >= 10
        for sock in stalled:
            sock.close()


async def test_a_dropped_clients_buffer_is_freed_at_once() -> None:
    async with running(max_queue=2**20, close_timeout=30) as srv:
        sock = _stalled_socket()
        loop = asyncio.get_running_loop()
        await loop.sock_connect(sock, ("127.0.0.1", srv.port))
        await loop.sock_sendall(sock, upgrade_request("/chat", srv.port))
        async with client(srv, max_size=None) as publisher:
            while not srv.events("slow"):
                await publisher.send(b"x" * 65536)
                await recv(publisher)
            # close_timeout is 30 s: the connection (and its buffer) must not wait for it.
            # Aborted, it is reset: reading finds the end long before the 30 s (10 s: room
            # for a busy machine, still a third of the close timeout it must not wait).
            deadline = loop.time() + scaled(10)
            ended = False
            while not ended and loop.time() < deadline:
                try:
                    chunk = await asyncio.wait_for(loop.sock_recv(sock, 65536), 0.5)
                    ended = chunk == b""
                except ConnectionResetError:
                    ended = True
                except asyncio.TimeoutError:
                    pass
            assert ended, "the dropped client's connection is still open"
            assert all(conn.joined for conn in srv.chat.connections)  # only the publisher
        sock.close()


# Finding 5: history bounded across rooms


async def test_history_is_bounded_in_total_across_rooms_and_reported() -> None:
    budget = 2**20
    async with running(history=10, history_bytes=budget) as srv:
        for n in range(20):
            async with client(srv, f"/room{n}", max_size=None) as ws:
                for _ in range(4):
                    await ws.send(b"m" * (128 * 1024))
                for _ in range(4):
                    await recv(ws)
        assert srv.chat.hub.history_held <= budget
        answer = await raw_request(srv.port, http_get("/healthz?verbose", srv.port))
        health = json.loads(answer.partition(b"\r\n\r\n")[2])
        assert health["rooms"] == 0 and 0 < health["rooms_kept"] <= 20
        assert 0 < health["history_bytes"] <= budget
        async with client(srv, "/room19") as late:  # the newest room kept its history
            assert len(await recv(late)) == 128 * 1024
        async with client(srv, "/room0") as early:  # the oldest lost it first
            await nothing_before_sentinel(early)


# Finding 6: DNS rebinding


async def test_a_foreign_host_is_refused_on_a_wildcard_bind() -> None:
    async with running(host="0.0.0.0") as srv:
        rebind = f"rebind.attacker.example:{srv.port}"
        for request in (
            upgrade_request("/chat", srv.port, f"Origin: http://{rebind}\r\n"),
            http_get("/", srv.port),
            http_get("/healthz", srv.port),
        ):
            request = request.replace(
                f"Host: 127.0.0.1:{srv.port}".encode(), f"Host: {rebind}".encode()
            )
            answer = await raw_request(srv.port, request)
            assert answer.startswith(b"HTTP/1.1 403"), answer
        refused = await srv.wait_events("refused", 3)
        assert all("rebind.attacker.example" in e["reason"] for e in refused)
        answer = await raw_request(srv.port, http_get("/healthz", srv.port))
        assert answer.startswith(b"HTTP/1.1 200")  # loopback names still answered
    async with running(allowed_hosts=["chat.example"]) as srv:
        request = http_get("/healthz", srv.port).replace(
            f"Host: 127.0.0.1:{srv.port}".encode(), b"Host: chat.example"
        )
        assert (await raw_request(srv.port, request)).startswith(b"HTTP/1.1 200")


# Finding 7: logs


async def test_no_token_or_cookie_reaches_any_log_line() -> None:
    async with running(token="s3cret", verbose=True) as srv:
        for extra in (
            "Authorization: Bearer s3cret\x7f\r\n",
            "Authorization: Bearer s3cretX\r\nCookie: session=s3cret\r\n",
        ):
            await raw_request(srv.port, upgrade_request("/chat?token=s3cretY", srv.port, extra))
        bad_line = b"GET /chat?token=s3cret HTTP/1.1\r\nAuthorization: Bearer s3cret\x00\r\n\r\n"
        await raw_request(srv.port, bad_line)
        await srv.stop()  # every line written, the wrong tokens' summary with them
        assert srv.events("tokens")
        logged = srv.out.getvalue() + srv.human.getvalue()
        assert srv.events() and "s3cret" not in logged, logged


async def test_json_log_escapes_control_and_bidi_characters() -> None:
    async with running() as srv:
        reader, writer = await raw_upgrade(srv.port)
        reason = "\u202eevil\x9b31m\x1b[2J".encode()
        writer.write(masked_frame(0x8, (1000).to_bytes(2, "big") + reason))
        await asyncio.wait_for(reader.read(), scaled(5))
        writer.close()
        await srv.wait_event("disconnect", code=1000)
        line = next(li for li in srv.out.getvalue().splitlines() if '"disconnect"' in li)
        assert not any(ch in line for ch in "\u202e\x9b\x1b"), line
        assert "\\u202e" in line and "\\u009b" in line and "\\u001b" in line


# Finding 8: notices and authors cannot be forged


async def test_envelope_clients_see_the_real_sender_and_raw_clients_exact_bytes() -> None:
    async with (
        running(history=5) as srv,
        client(srv, "/r?nick=alice", subprotocols=["wscli.chat.v1"]) as page,
    ):
        assert page.subprotocol == "wscli.chat.v1"
        welcome = json.loads(await recv(page))
        assert welcome == {"type": "welcome", "nick": "alice", "from": "alice", "renamed": False}
        first = json.loads(await recv(page))
        assert first["type"] == "notice" and first["nick"] == "alice"
        async with client(srv, "/r") as raw:
            await raw.send("* mallory joined")
            await raw.send("alice: hi")
            await raw.send(b"\x00\xff")
            assert await recv(raw) == "* mallory joined"  # raw: byte for byte
            assert await recv(raw) == "alice: hi"
            assert await recv(raw) == b"\x00\xff"
            seen = [json.loads(await recv(page)) for _ in range(3)]
        raw_id = (await srv.wait_event("connect", room="/r", nick=None))["id"]
        assert [(e["type"], e["from"]) for e in seen] == [("message", f"#{raw_id}")] * 3
        assert [e.get("text") for e in seen[:2]] == ["* mallory joined", "alice: hi"]
        assert seen[2]["binary"] == "AP8="
        assert seen[0]["id"] < seen[1]["id"] < seen[2]["id"]
        assert all(e["time"].endswith("Z") for e in seen)
        async with client(srv, "/r", subprotocols=["wscli.chat.v1"]) as late:
            replay = [json.loads(await recv(late)) for _ in range(4)]
        assert replay[:3] == seen  # history replayed in the envelope, same ids and times
        assert replay[3]["type"] == "welcome" and replay[3]["nick"] is None  # then who it is
        assert replay[3]["from"].startswith("#")


# Secrets in a malformed request line: the log quoted them in clear


async def test_a_malformed_request_line_is_logged_without_its_secrets() -> None:
    async with running() as srv:
        for line in [
            "GET /chat?access_token=s3cret-1&api_key=s3cret-2 HTTP/1.2",
            "GET /chat?Session=s3cret-3",
        ]:
            request = f"{line}\r\nHost: 127.0.0.1:{srv.port}\r\n\r\n".encode()
            await raw_request(srv.port, request)
        errors = await srv.wait_events("error", 2)
        logged = json.dumps(errors)
        assert "s3cret" not in logged and "access_token=[redacted]" in logged, logged


# /admission was a token oracle: thousands of guesses a second, and not one log line


async def test_wrong_tokens_are_summarised_per_second_on_both_paths() -> None:
    async with running(token="correct-horse") as srv:
        for guess in ("a", "b", "c"):
            await raw_request(srv.port, http_get(f"/admission?token={guess}", srv.port))
            extra = f"Authorization: Bearer {guess}\r\n"
            answer = await raw_request(srv.port, upgrade_request("/chat", srv.port, extra))
            assert answer.startswith(b"HTTP/1.1 403"), answer
        await srv.stop()
        (summary,) = srv.events("tokens")
        assert (summary["failed"], summary["upgrade"], summary["admission"]) == (6, 3, 3)
        assert summary["top"] == "127.0.0.1" and summary["throttled"] == 0
        assert not [e for e in srv.events("refused") if e["status"] == 403]
        assert "correct-horse" not in srv.out.getvalue()


async def test_repeated_wrong_tokens_from_one_address_get_429_even_for_the_right_one() -> None:
    async with running(token="correct-horse") as srv:
        answers = []
        for n in range(FAILURES_AT_ONCE + 5):
            answer = await raw_request(srv.port, http_get(f"/admission?token=g{n}", srv.port))
            answers.append(answer.split(b" ", 2)[1])
        assert answers == [b"200"] * FAILURES_AT_ONCE + [b"429"] * 5
        right = await raw_request(srv.port, http_get("/admission?token=correct-horse", srv.port))
        assert right.startswith(b"HTTP/1.1 429") and b"Retry-After: " in right
        extra = "Authorization: Bearer correct-horse\r\n"
        answer = await raw_request(srv.port, upgrade_request("/chat", srv.port, extra))
        assert answer.startswith(b"HTTP/1.1 429"), answer  # no oracle through the upgrade
        await srv.stop()
        (summary,) = srv.events("tokens")
        assert summary["failed"] == FAILURES_AT_ONCE and summary["throttled"] == 7


# Spoofed authors: ?nick=%232 spoke as anonymous client #2, a nick of U+2800 showed blank


@pytest.mark.parametrize(
    ("nick", "shown"),
    [
        ("%231", "1"),  # "#1", the page's own id: the #N form is for anonymous clients
        ("%EF%BC%83%EF%BC%92", "２"),  # a fullwidth number sign is no way around it
        ("%E2%A0%80", None),  # U+2800 BRAILLE PATTERN BLANK
        ("%E3%85%A4%E1%85%9F%E1%85%A0%EF%BE%A0", None),  # Hangul fillers
        ("al%E2%A0%80ice", "alice"),
    ],
)
async def test_a_nick_cannot_pass_for_an_anonymous_id_or_render_blank(
    nick: str, shown: str | None
) -> None:
    async with (
        running() as srv,
        client(srv, "/r", subprotocols=["wscli.chat.v1"]) as page,
        client(srv, f"/r?nick={nick}") as spoofer,
    ):
        connected = await srv.wait_event("connect", room="/r", id=2)
        assert connected["nick"] == shown
        await spoofer.send("hi")
        seen = json.loads(await recv(page))
        while seen["type"] != "message":
            seen = json.loads(await recv(page))
        assert seen["from"] == (shown if shown is not None else "#2")


# A malformed request line, or one over 8 KiB, closed the connection without an answer


@pytest.mark.parametrize(
    ("line", "status"),
    [
        ("GET /chat HTTP/1.2", b"400"),  # an unsupported version
        ("GET /chat", b"400"),  # no version (HTTP/0.9 style)
        ("GET /chat  HTTP/1.1", b"400"),  # two spaces
        ("GET /\u00e9 HTTP/1.1", b"400"),  # not ASCII
        ("GET /" + "a" * 9000 + " HTTP/1.1", b"414"),
        ("GET /" + "a" * 20_000 + " HTTP/1.1", b"414"),  # more than the whole head may be
    ],
)
async def test_a_malformed_or_long_request_line_gets_an_answer(line: str, status: bytes) -> None:
    async with running() as srv:
        request = f"{line}\r\nHost: 127.0.0.1:{srv.port}\r\n\r\n".encode()
        answer = await raw_request(srv.port, request)
        assert answer.startswith(b"HTTP/1.1 " + status), answer[:200]
        (error,) = await srv.wait_events("error", 1)
        assert error["message"].startswith("bad handshake: ")


# Room paths: /chat and /%63hat were two rooms


async def test_percent_encoded_unreserved_characters_name_the_same_room() -> None:
    async with (
        running() as srv,
        client(srv, "/chat") as plain,
        client(srv, "/%63h%61t") as encoded,
        client(srv, "/a%2fb") as lower,
        client(srv, "/a%2Fb") as upper,
    ):
        await encoded.send("one room")
        assert await recv(plain) == "one room"
        await lower.send("still one")
        assert await recv(upper) == "still one"  # but %2F is no "/": /a%2Fb is not /a/b
        rooms = {e["room"] for e in await srv.wait_events("connect", 4)}
        assert rooms == {"/chat", "/a%2Fb"}


async def test_wrong_metrics_tokens_count_and_get_429_like_the_others() -> None:
    async with running(metrics_token="m3trics-token") as srv:
        statuses = []
        for n in range(FAILURES_AT_ONCE + 2):
            answer = await raw_request(srv.port, http_get(f"/metrics?token=g{n}", srv.port))
            statuses.append(answer.split(b" ", 2)[1])
        assert statuses == [b"403"] * FAILURES_AT_ONCE + [b"429"] * 2
        right = await raw_request(srv.port, http_get("/metrics?token=m3trics-token", srv.port))
        assert right.startswith(b"HTTP/1.1 429")  # the right one too: no oracle
        page = await raw_request(srv.port, http_get("/", srv.port))
        assert page.startswith(b"HTTP/1.1 200")  # what needs no token is still served
        await srv.stop()
        (summary,) = srv.events("tokens")
        assert (summary["failed"], summary["metrics"], summary["throttled"]) == (10, 10, 3)
