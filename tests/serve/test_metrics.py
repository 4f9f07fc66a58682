"""`wscli serve`'s /metrics, read by prometheus-client's own parsers (both formats), under a
real workload; the token and Host rules on /metrics, /log and /healthz; no room name in any
unauthenticated answer."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from typing import Any

import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from tests.serve.serve_helpers import (
    client,
    http_get,
    raw_request,
    raw_upgrade,
    recv,
    running,
    upgrade_request,
)
from tests.support import scaled
from wscli.serve.metrics import close_code_label, room_label

# Every metric the README documents (the Redis ones: see test_metrics_redis.py).
DOCUMENTED = {
    "wscli_build_info": "gauge",
    "wscli_start_time_seconds": "gauge",
    "wscli_connections_opened_total": "counter",
    "wscli_connections_refused_total": "counter",
    "wscli_connections_closed_total": "counter",
    "wscli_messages_received_total": "counter",
    "wscli_received_bytes_total": "counter",
    "wscli_messages_sent_total": "counter",
    "wscli_sent_bytes_total": "counter",
    "wscli_slow_clients_dropped_total": "counter",
    "wscli_clients": "gauge",
    "wscli_connections": "gauge",
    "wscli_rooms": "gauge",
    "wscli_rooms_kept": "gauge",
    "wscli_history_bytes": "gauge",
    "wscli_queued_bytes": "gauge",
    "wscli_clients_behind": "gauge",
    "wscli_open_fds": "gauge",
    "wscli_max_fds": "gauge",
    "wscli_handshake_duration_seconds": "histogram",
    "wscli_fanout_delay_seconds": "histogram",
}


def body_of(answer: bytes) -> bytes:
    return answer.partition(b"\r\n\r\n")[2]


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


async def scrape_raw(port: int, path: str = "/metrics", headers: str = "") -> bytes:
    return await raw_request(port, http_get(path, port, headers))


def samples(text: str, openmetrics: bool = False) -> dict[tuple[str, tuple[Any, ...]], float]:
    """{(sample name, sorted labels): value}, parsed by prometheus-client (which raises on
    anything that is not the format); the families' types are checked on the way."""
    parse = openmetrics_families if openmetrics else text_string_to_metric_families
    found: dict[tuple[str, tuple[Any, ...]], float] = {}
    for family in parse(text):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            assert key not in found, f"duplicate series {key}"
            found[key] = sample.value
    return found


def types(text: str) -> dict[str, str]:
    return {
        family.name + ("_total" if family.type == "counter" else ""): family.type
        for family in text_string_to_metric_families(text)
    }


async def scrape(port: int, headers: str = "") -> dict[tuple[str, tuple[Any, ...]], float]:
    answer = await scrape_raw(port, headers=headers)
    assert status_of(answer) == 200, answer[:200]
    return samples(body_of(answer).decode())


def value(found: dict[tuple[str, tuple[Any, ...]], float], name: str, **labels: str) -> float:
    return found[(name, tuple(sorted(labels.items())))]


async def test_exposition_parses_in_both_formats_with_every_documented_metric() -> None:
    async with running() as srv, client(srv, "/a") as ws:
        await ws.send("hello")
        await recv(ws)
        answer = await scrape_raw(srv.port)
        head = answer.partition(b"\r\n\r\n")[0]
        assert b"Content-Type: text/plain; version=0.0.4; charset=utf-8" in head
        assert b"Cache-Control: no-store" in head
        text = body_of(answer).decode()
        assert types(text) == DOCUMENTED
        # OpenMetrics when asked as Prometheus asks (its own parser demands the # EOF).
        accept = (
            "Accept: application/openmetrics-text;version=1.0.0,"
            "application/openmetrics-text;version=0.0.1;q=0.75,"
            "text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n"
        )
        answer = await scrape_raw(srv.port, headers=accept)
        head = answer.partition(b"\r\n\r\n")[0]
        assert b"Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8" in head
        om_text = body_of(answer).decode()
        assert om_text.endswith("# EOF\n")
        om = samples(om_text, openmetrics=True)
        classic = samples(text)
        assert {name for name, _ in om} == {name for name, _ in classic}
        # HEAD: the same headers, no body.
        answer = await raw_request(
            srv.port, http_get("/metrics", srv.port).replace(b"GET", b"HEAD", 1)
        )
        assert status_of(answer) == 200 and body_of(answer) == b""


async def test_every_metric_moves_under_a_real_workload() -> None:
    async with running(max_queue=256 * 1024, close_timeout=0.5, history=2) as srv:
        before = await scrape(srv.port)
        assert value(before, "wscli_clients") == 0
        # Refusals, one of each kind the upgrade path knows.
        port = srv.port
        await raw_request(port, upgrade_request("/r", port, "Origin: https://evil.example\r\n"))
        await raw_request(port, upgrade_request("/r", port).replace(b"127.0.0.1", b"evil.example"))
        await raw_request(port, b"NOT HTTP\r\n\r\n")
        # The clients keep every message they are sent (max_queue=None): a client that stops
        # reading its socket (websockets' default past 16 messages) would miss the server's
        # closing frame behind the big messages, wait out its 10 s close timeout, and could be
        # the one dropped as slow instead of the raw non-reader.
        async with (
            client(srv, "/a", max_queue=None) as a1,
            client(srv, "/a", max_queue=None) as a2,
            client(srv, "/b", max_queue=None) as b1,
        ):
            _reader, writer = await raw_upgrade(port, "/a")  # never reads: dropped as slow
            chunk = os.urandom(64 * 1024)
            for _ in range(8):
                await a1.send("x" * 100)
                await b1.send(b"y" * 10)
                await recv(a1), await recv(a2), await recv(b1)
            mid = await scrape(port)
            assert value(mid, "wscli_clients") == 4
            assert value(mid, "wscli_rooms") == 2
            assert value(mid, "wscli_connections") >= 4
            # Until the slow one is dropped, push big messages through room /a.
            big = await client(srv, "/a", max_size=None).__aenter__()
            try:
                for _ in range(400):
                    await big.send(chunk)
                    await recv(big)
                    if srv.chat.counters.slow:
                        break
                await srv.wait_event("slow", timeout=10)
            finally:
                await big.close()
                writer.close()
            await a1.close(4321, "app code")
            await asyncio.sleep(0.05)
        await srv.wait_events("disconnect", 5)
        after = await scrape(port)
    moved = {
        "wscli_connections_opened_total": 5,
        "wscli_messages_received_total": 16,
        "wscli_received_bytes_total": 8 * 110,
        "wscli_messages_sent_total": 8 * 3,
        "wscli_sent_bytes_total": 8 * 3 * 2,
        "wscli_slow_clients_dropped_total": 1,
        "wscli_handshake_duration_seconds_count": 5,
        "wscli_fanout_delay_seconds_count": 16,
        "wscli_history_bytes": 1,
        "wscli_rooms_kept": 1,
    }
    for name, least in moved.items():
        assert value(after, name) - value(before, name) >= least, name
    assert value(after, "wscli_handshake_duration_seconds_sum") > 0
    assert value(after, "wscli_fanout_delay_seconds_bucket", le="+Inf") >= 16
    for reason in ("origin", "host", "request"):
        assert value(after, "wscli_connections_refused_total", reason=reason) == 1, reason
    assert value(after, "wscli_connections_closed_total", code="4xxx") == 1
    assert value(after, "wscli_connections_closed_total", code="1013") == 1
    assert value(after, "wscli_connections_closed_total", code="1000") >= 2
    assert value(mid, "wscli_open_fds") > 4
    assert value(mid, "wscli_max_fds") >= value(mid, "wscli_open_fds")
    assert value(after, "wscli_clients") == 0


async def test_queued_bytes_and_clients_behind_while_a_client_stalls() -> None:
    async with running(max_queue=64 * 2**20) as srv, client(srv, "/s", max_size=None) as pub:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", srv.port))
        reader, writer = await asyncio.open_connection(sock=sock)
        writer.write(upgrade_request("/s", srv.port))
        await reader.readuntil(b"\r\n\r\n")  # then never reads again
        chunk = os.urandom(256 * 1024)
        deadline = asyncio.get_running_loop().time() + scaled(10)
        while True:
            await pub.send(chunk)
            await recv(pub)
            found = await scrape(srv.port)
            if value(found, "wscli_clients_behind") >= 1 and value(found, "wscli_queued_bytes"):
                break
            assert asyncio.get_running_loop().time() < deadline, found
        writer.close()


async def test_refusals_by_token_full_and_timeout() -> None:
    async with running(token="s3cret", max_clients=1, handshake_timeout=0.1) as srv:
        port = srv.port
        await raw_request(port, upgrade_request("/r", port))  # 401
        await raw_request(port, upgrade_request("/r", port, "Authorization: Bearer no\r\n"))
        async with client(srv, "/r?token=s3cret"):
            await raw_request(port, upgrade_request("/r?token=s3cret", port))  # full
        _, idle = await asyncio.open_connection("127.0.0.1", port)  # says nothing: timeout
        await srv.wait_event("error", timeout=5)
        idle.close()
        found = await scrape(port, "Authorization: Bearer s3cret\r\n")
    assert value(found, "wscli_connections_refused_total", reason="token") == 2
    assert value(found, "wscli_connections_refused_total", reason="full") == 1
    assert value(found, "wscli_connections_refused_total", reason="timeout") == 1


# Who may see what


PROTECTED = ("/metrics", "/log", "/healthz?verbose")


@pytest.mark.parametrize("settings", [{"token": "j0in"}, {"metrics_token": "m3tr1cs"}])
async def test_token_guards_metrics_log_and_verbose_health(settings: dict[str, str]) -> None:
    token = settings.get("metrics_token") or settings["token"]
    async with running(**settings) as srv:
        for path in PROTECTED:
            answer = await scrape_raw(srv.port, path)
            assert status_of(answer) == 401, (path, answer)
            assert b'WWW-Authenticate: Bearer realm="wscli"' in answer
            answer = await scrape_raw(srv.port, path, "Authorization: Bearer wrong\r\n")
            assert status_of(answer) == 403, (path, answer)
            answer = await scrape_raw(srv.port, path, f"Authorization: Bearer {token}\r\n")
            assert status_of(answer) == 200, (path, answer)
            sep = "&" if "?" in path else "?"
            answer = await scrape_raw(srv.port, f"{path}{sep}token={token}")
            assert status_of(answer) == 200, (path, answer)
        # The public health check needs nothing.
        assert status_of(await scrape_raw(srv.port, "/healthz")) == 200


async def test_metrics_token_is_not_the_join_token() -> None:
    async with running(token="j0in", metrics_token="m3tr1cs") as srv:
        answer = await scrape_raw(srv.port, "/metrics", "Authorization: Bearer j0in\r\n")
        assert status_of(answer) == 403


async def test_without_any_token_metrics_are_open() -> None:
    async with running() as srv:
        for path in PROTECTED:
            assert status_of(await scrape_raw(srv.port, path)) == 200, path


@pytest.mark.parametrize("path", [*PROTECTED, "/healthz"])
async def test_host_allow_list_applies(path: str) -> None:
    async with running(metrics_token="m") as srv:
        request = http_get(path, srv.port, "Authorization: Bearer m\r\n")
        answer = await raw_request(srv.port, request.replace(b"127.0.0.1", b"rebind.example"))
        assert status_of(answer) == 403
        assert b"rebind.example not allowed" in answer


async def test_no_room_name_in_any_unauthenticated_answer() -> None:
    """The finding: /healthz showed private room names (through the backplane's lag); now
    no unauthenticated answer names a room, whatever the path, method or header."""
    secret = "/private-7f3a9c"
    async with (
        running(token="t", history=5, metrics_rooms=10) as srv,
        client(srv, f"{secret}?token=t&nick=al") as ws,
    ):
        await ws.send("psst")
        await recv(ws)
        port = srv.port
        requests = [
            http_get(path, port, headers)
            for path in (*PROTECTED, "/healthz", "/", "/admission", "/nope", secret)
            for headers in ("", "Authorization: Bearer wrong\r\n", "Accept: */*\r\n")
        ]
        requests += [r.replace(b"GET", b"HEAD", 1) for r in requests]
        requests.append(http_get("/metrics", port).replace(b"GET", b"POST", 1))
        requests.append(upgrade_request(secret, port))  # 401
        for _ in range(10):
            for request in requests:
                answer = await raw_request(port, request)
                if secret.encode() in request:
                    answer = answer.replace(secret.encode(), b"")  # (a 404 says what was asked)
                assert b"7f3a9c" not in answer, (request, answer)
        # The authenticated answers do name it: the check above could have seen it. (Asked
        # from another address: this one presented hundreds of wrong tokens, so it is
        # answered 429 now, right token or not.)
        bearer = "Authorization: Bearer t\r\n"
        answer = await raw_request(port, http_get("/metrics", port, bearer), source="127.0.0.2")
        assert f'room="{secret}"'.encode() in answer
        answer = await raw_request(port, http_get("/log", port, bearer), source="127.0.0.3")
        assert secret.encode() in answer


# Room names: opt-in, capped, escaped


async def test_rooms_are_not_labels_unless_asked_then_only_the_busiest() -> None:
    async with running() as srv, client(srv, "/quiet") as ws:
        await ws.send("x")
        await recv(ws)
        text = body_of(await scrape_raw(srv.port)).decode()
        assert "/quiet" not in text and "room=" not in text
    async with (
        running(metrics_rooms=2) as srv,
        client(srv, "/busy") as busy,
        client(srv, "/busier") as busier,
        client(srv, "/quiet") as quiet,
    ):
        for ws, count in ((busier, 5), (busy, 3), (quiet, 1)):
            for _ in range(count):
                await ws.send("m")
                await recv(ws)
        found = await scrape(srv.port)
        assert value(found, "wscli_room_messages_total", room="/busier") == 5
        assert value(found, "wscli_room_messages_total", room="/busy") == 3
        assert value(found, "wscli_room_bytes_total", room="/busy") == 3
        assert value(found, "wscli_room_clients", room="/busy") == 1
        assert not [key for key in found if ("room", "/quiet") in key[1]]


async def test_hostile_room_names_stay_one_valid_series_each() -> None:
    rooms = ['/a"b', "/a\\b", "/c\\e", "/c\x1b", "/" + "l" * 300, "/" + "l" * 301]
    async with running(metrics_rooms=100) as srv:
        for room in rooms:
            reader, writer = await raw_upgrade(srv.port, room.replace("\x1b", "%1b"))
            writer.close()
        # The raw bytes too: a control character in the request target.
        request = upgrade_request("/c\x1b", srv.port)
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(request)
        await reader.readuntil(b"\r\n\r\n")
        conns = [await client(srv, r).__aenter__() for r in ('/a"b', "/a\\b")]
        for ws in conns:
            await ws.send("m")
            await recv(ws)
        found = await scrape(srv.port)  # prometheus-client parses it: escaping is right
        labels = [dict(key[1])["room"] for key in found if key[0] == "wscli_room_clients"]
        assert len(labels) == len(set(labels))
        assert '/a"b' in labels and "/a\\b" in labels
        assert all(len(label) <= 120 and "\x1b" not in label for label in labels)
        for ws in conns:
            await ws.close()
        writer.close()


def test_room_label_is_unique_and_bounded() -> None:
    assert room_label("/lobby") == "/lobby"
    escaped = room_label("/c\x1b")
    assert escaped.startswith("/c\\e…") and escaped != room_label("/c\\e")
    long_a, long_b = room_label("/" + "x" * 500), room_label("/" + "x" * 501)
    assert len(long_a) <= 120 and long_a != long_b


@pytest.mark.parametrize(
    ("code", "label"),
    [
        (1000, "1000"),
        (1006, "1006"),
        (1015, "1015"),
        (3001, "3xxx"),
        (4999, "4xxx"),
        (999, "other"),
        (2000, "other"),
    ],
)
def test_close_code_labels_are_bounded(code: int, label: str) -> None:
    assert close_code_label(code) == label


async def test_log_tail_is_bounded_and_follows() -> None:
    async with running() as srv:
        for n in range(100):
            async with client(srv, f"/r{n}"):
                pass
        await srv.wait_events("disconnect", 100)
        events = json.loads(body_of(await scrape_raw(srv.port, "/log")))["events"]
        assert len(events) == 64
        last = events[-1]["seq"]
        assert "disconnected from /r99" in events[-1]["line"]
        newer = json.loads(body_of(await scrape_raw(srv.port, f"/log?after={last}")))["events"]
        assert newer == []
        async with client(srv, "/after"):
            await srv.wait_event("connect", room="/after")
            newer = json.loads(body_of(await scrape_raw(srv.port, f"/log?after={last}")))
        assert [e["seq"] for e in newer["events"]] == [last + 1]
        assert "/after" in newer["events"][0]["line"]
