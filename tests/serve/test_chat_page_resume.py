"""Resume on the chat page: a page that reconnects gets exactly what it missed,
each message once, and says "N missed messages restored". Real headless Chromium, real
`wscli serve` processes, real redis-server; a loopback TCP relay in front of the server
cuts the page's connection (and can point it at another instance)."""

from __future__ import annotations

import time
from typing import Any

from tests.serve.chat_page_support import (
    PAGE_WAIT_MS,
    Relay,
    lines,
    open_page,
    raw_client,
    recv_until,
    run_until_online,
    script_errors,
    wait_line,
    wait_online,
)
from tests.support import requires
from tests.support.redis_process import RedisServer
from tests.support.serve_process import ServeProcess

MISSED = [f"missed {n}" for n in range(12)]


def texts(page: Any) -> list[str]:
    return [line["body"] for line in lines(page, "text")]


def wait_text(page: Any, body: str) -> None:
    """Wait until the page shows a text message ``body`` (from whichever author)."""
    deadline = time.monotonic() + PAGE_WAIT_MS / 1000
    while body not in texts(page):
        assert time.monotonic() < deadline, f"page never showed {body!r}: {lines(page)}"
        page.wait_for_timeout(50)


def wait_local(page: Any, text: str) -> None:
    wait_line(page, "local", f"— {text} —")


def cut_and_wait_offline(page: Any, relay: Relay) -> None:
    relay.cut()
    # A failure bound only: 10 s ran out beside another copy of the suite (load 14).
    page.wait_for_selector('#status[data-state="offline"]', timeout=PAGE_WAIT_MS)


@requires("chromium")
def test_page_reconnecting_gets_exactly_the_gap_without_redis(browser: Any) -> None:
    relay = Relay()
    with ServeProcess("--history", "50", *relay.origin) as server:
        relay.restore(server.port)
        page = open_page(browser, relay.url + "#team", nick="ann", clock=True)
        try:
            wait_online(page)
            with raw_client(server.ws_url("/team")) as raw:
                raw.send("before")
                wait_text(page, "before")
                cut_and_wait_offline(page, relay)
                for text in MISSED:
                    raw.send(text)
                recv_until(raw, MISSED[-1])
                relay.restore(server.port)
                run_until_online(page)  # the backoff on the page's clock
                wait_local(page, "12 missed messages restored")
                raw.send("live")
                wait_text(page, "live")
            assert texts(page) == ["before", *MISSED, "live"]  # each once, in order
            assert not script_errors(page)
        finally:
            relay.close()
            page.context.close()


@requires("chromium", "redis-server")
def test_page_reconnecting_to_the_other_instance_gets_exactly_the_gap(browser: Any) -> None:
    redis = RedisServer()
    relay = Relay()
    options = ("--redis", redis.url, "--history", "50", *relay.origin)
    try:
        with ServeProcess(*options) as a, ServeProcess(*options) as b:
            relay.restore(a.port)
            page = open_page(browser, relay.url + "#team", nick="ann", clock=True)
            try:
                wait_online(page)
                with raw_client(b.ws_url("/team")) as raw:
                    raw.send("before")
                    wait_text(page, "before")
                    cut_and_wait_offline(page, relay)
                    for text in MISSED:
                        raw.send(text)
                    recv_until(raw, MISSED[-1])
                    relay.restore(b.port)  # the load balancer now picks the other instance
                    run_until_online(page)  # the backoff on the page's clock
                    wait_local(page, "12 missed messages restored")
                    raw.send("live")
                    wait_text(page, "live")
                assert texts(page) == ["before", *MISSED, "live"]
                assert not script_errors(page)
            finally:
                relay.close()
                page.context.close()
    finally:
        redis.stop()


@requires("chromium", "redis-server")
def test_page_reconnecting_after_a_server_restart_with_redis(browser: Any) -> None:
    redis = RedisServer()
    relay = Relay()
    options = ("--redis", redis.url, "--history", "50", *relay.origin)
    try:
        with ServeProcess(*options) as b:
            a = ServeProcess(*options)
            relay.restore(a.port)
            page = open_page(browser, relay.url + "#team", nick="ann", clock=True)
            try:
                wait_online(page)
                with raw_client(b.ws_url("/team")) as raw:
                    raw.send("before")
                    wait_text(page, "before")
                    relay.cut()
                    port = a.port
                    assert a.stop() == 0
                    for text in MISSED:
                        raw.send(text)
                    recv_until(raw, MISSED[-1])
                    a = ServeProcess(*options, port=port)
                    # Someone is in the room on the restarted instance already (it has read
                    # the room's history from the stream); then the page comes back.
                    with raw_client(a.ws_url("/team")) as other:
                        recv_until(other, MISSED[-1])
                        relay.restore(port)
                        run_until_online(page)  # the backoff on the page's clock
                        wait_local(page, "12 missed messages restored")
                        raw.send("live")
                        wait_text(page, "live")
                assert texts(page) == ["before", *MISSED, "live"]
                assert not script_errors(page)
            finally:
                relay.close()
                a.stop()
                page.context.close()
    finally:
        redis.stop()


@requires("chromium")
def test_page_says_when_the_history_replay_was_cut_to_the_queue(browser: Any) -> None:
    # Escaped, a message of control characters is 6 times its size: the oldest is left out
    # of the replay so that it stays within --max-queue, and the page says so.
    with ServeProcess("--history", "10", "--max-queue", "64K") as server:
        with raw_client(server.ws_url("/team")) as raw:
            for text in ["\x01" * 20_000, "a", "b"]:
                raw.send(text)
            recv_until(raw, "b")
        page = open_page(browser, server.http_url + "#team", nick="ann")
        try:
            wait_online(page)
            wait_local(
                page, "1 older message not replayed (more than the server sends a newcomer at once)"
            )
            assert texts(page) == ["a", "b"]
            assert not script_errors(page)
        finally:
            page.context.close()
