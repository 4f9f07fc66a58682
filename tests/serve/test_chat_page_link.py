"""The chat page never loses a message silently: a dead link is noticed by its own heartbeat,
your messages are shown at once and kept (in sessionStorage) until the server acknowledges
them, and a message re-sent after a reconnect is delivered once. Real headless Chromium, a
real `wscli serve`, a loopback relay that can go silent without closing (as a Wi-Fi drop or
an expired NAT entry does), raw clients watching the room."""

from __future__ import annotations

from typing import Any

import pytest
from websockets.sync.client import ClientConnection

from tests.serve.chat_page_support import (
    CLOCK_STEP_MS,
    PAGE_WAIT_MS,
    Relay,
    drawn,
    lines,
    open_page,
    raw_client,
    recv_until,
    run_offline,
    run_online,
    run_until_online,
    send_from_page,
    wait_line,
    wait_online,
)
from tests.support import requires
from tests.support.serve_process import ServeProcess

pytestmark = requires("chromium")

DETECTED_WITHIN_MS = 10_000  # README: a silent link is noticed within 10 s

# Installed before the page's script: when the status line changed to each state.
STATE_PROBE = """
(() => {
  window.__states = [];
  new MutationObserver(() => {
    const status = document.getElementById("status");
    const last = window.__states[window.__states.length - 1];
    if (!last || last[0] !== status.dataset.state) {
      window.__states.push([status.dataset.state, performance.now()]);
    }
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-state"] });
})();
"""


def received_until(raw: ClientConnection, last: str, timeout: float = 20) -> list[Any]:
    return recv_until(raw, last, timeout=timeout)


def own_lines(page: Any, body: str) -> list[dict[str, Any]]:
    return [line for line in lines(page) if line["body"] == body]


@pytest.mark.parametrize("to_page_only", [False, True], ids=["silent-both-ways", "silent-to-page"])
def test_dead_link_is_noticed_and_a_message_typed_meanwhile_arrives_once(
    browser: Any, to_page_only: bool
) -> None:
    relay = Relay()
    with ServeProcess(*relay.origin) as server, raw_client(server.ws_url("/dead")) as watcher:
        relay.restore(server.port)
        page = open_page(browser, relay.url + "#dead", nick="pat", init=STATE_PROBE, clock=True)
        try:
            wait_online(page)
            recv_until(watcher, "* pat joined")
            # A healthy idle link is not mistaken for a dead one (the heartbeat is answered):
            # 9 s of the page's clock, each ping answered for real before it runs on.
            run_online(page, 9000)
            assert page.evaluate("window.__pongs") >= 2  # a ping after 3 s without a word
            assert page.get_attribute("#status", "data-state") == "online"
            assert lines(page, "local") == []

            relay.silence(to_page_only=to_page_only)
            silenced = page.evaluate("performance.now()")
            send_from_page(page, "typed meanwhile")
            assert page.input_value("#text") == ""
            pending = page.locator("#messages li.pending")
            pending.wait_for()  # shown at once, as not yet sent
            assert pending.locator(".sending").inner_text() == "sending…"

            # The page's clock runs on (nothing real can come: the link is silent) until the
            # page gives the link up.
            for _ in range(0, 3 * DETECTED_WITHIN_MS, CLOCK_STEP_MS):
                if page.evaluate("window.__states.some(([state]) => state === 'offline')"):
                    break
                page.clock.run_for(CLOCK_STEP_MS)
            offline_at = page.evaluate("window.__states.find(([state]) => state === 'offline')[1]")
            assert offline_at - silenced <= DETECTED_WITHIN_MS, offline_at - silenced
            drawn(page)  # the page draws what it says in its next animation frame
            local = [line["body"] for line in lines(page, "local")]
            assert any(
                body.startswith("— Disconnected (no answer from the server for ") for body in local
            ), local

            # Reconnected (a new connection through the same relay): sent once, shown once.
            run_until_online(page)
            wait_line(page, "text", "typed meanwhile", author="pat")
            send_from_page(page, "after the reconnect")
            seen = received_until(watcher, "pat: after the reconnect")
            assert seen.count("pat: typed meanwhile") == 1, seen
            # The page replaced its own stale connection: no "left"/"joined" chatter, no
            # second name.
            assert not [m for m in seen if str(m).startswith("* pat")], seen
            assert len(own_lines(page, "typed meanwhile")) == 1
            # The watcher can get the last message before the page gets its acknowledgement:
            # until then it is pending too (a run failed here with 1 pending item).
            wait_line(page, "text", "after the reconnect", author="pat")
            assert page.locator("#messages li.pending").count() == 0
            # Nothing more comes (exactly once): a last message of the page's, relayed by the
            # server in order behind anything it still had, is the next the watcher gets.
            send_from_page(page, "the last")
            assert received_until(watcher, "pat: the last") == ["pat: the last"]
        finally:
            relay.close()
            page.context.close()


def test_messages_typed_offline_survive_a_reload_and_arrive_once(browser: Any) -> None:
    relay = Relay()
    with ServeProcess(*relay.origin) as server, raw_client(server.ws_url("/keep")) as watcher:
        relay.restore(server.port)
        page = open_page(browser, relay.url + "#keep", nick="kim")
        try:
            wait_online(page)
            relay.upgrades = "refuse"
            relay.cut()
            relay.restore(server.port)
            page.wait_for_selector('#status[data-state="offline"]', timeout=PAGE_WAIT_MS)
            send_from_page(page, "first while offline")
            send_from_page(page, "second while offline")
            page.locator("#messages li.pending").nth(1).wait_for()
            page.reload()  # the tab reloads (or the browser restores it): nothing is lost
            pending = page.locator("#messages li.pending")
            pending.nth(1).wait_for()
            assert [line["body"] for line in lines(page, "pending")] == [
                "first while offline",
                "second while offline",
            ]
            relay.upgrades = "pass"
            wait_online(page)
            wait_line(page, "text", "second while offline", author="kim")
            send_from_page(page, "done")
            seen = received_until(watcher, "kim: done")
            assert [m for m in seen if str(m).startswith("kim: ")] == [
                "kim: first while offline",
                "kim: second while offline",
                "kim: done",
            ]
            # Acknowledged: nothing is kept for a reload any more.
            page.wait_for_function("() => sessionStorage.getItem('wscli.chat.outbox') === '[]'")
        finally:
            relay.close()
            page.context.close()


def test_a_message_the_server_keeps_refusing_is_marked_not_sent_with_a_retry(
    browser: Any,
) -> None:
    # Over --max-size the server closes the connection (1009) each time the page sends it:
    # after a few connections the page stops and says so, instead of looping for ever.
    # The page's clock runs through its backoffs; each connection is refused for real.
    # The message's sends are counted (connections are not: after "not sent" the page
    # reconnects without it, sooner or later as its clock also flows by itself).
    count_sends = """(() => {
      window.__bigSends = 0;
      const send = WebSocket.prototype.send;
      WebSocket.prototype.send = function (data) {
        if (typeof data === "string" && data.includes("x".repeat(400))) window.__bigSends += 1;
        return send.call(this, data);
      };
    })();"""
    with ServeProcess("--max-size", "300") as server:
        page = open_page(
            browser, server.http_url + "#big", nick="max", init=count_sends, clock=True
        )
        try:
            wait_online(page)
            send_from_page(page, "x" * 400)
            failed = page.locator("#messages li.failed")
            until_failed(page)
            assert failed.locator(".sending").inner_text() == "not sent"
            assert page.evaluate("window.__bigSends") == 3  # MAX_ATTEMPTS connections
            retry = failed.get_by_role("button", name="Retry")
            retry.click()
            assert page.locator("#messages li.failed").count() == 0  # trying again
            until_failed(page)
            assert page.evaluate("window.__bigSends") == 6  # MAX_ATTEMPTS again
            # The page goes on: a message that fits is sent. Six connections died by now, so
            # the page's backoff is at its ceiling before it comes back online.
            run_until_online(page)
            send_from_page(page, "small")
            wait_line(page, "text", "small", author="max")
        finally:
            page.context.close()


def until_failed(page: Any) -> None:
    """Until the page marks its message "not sent": each connection is refused for real, the
    page's clock runs through the backoff before the next one."""
    for _ in range(10):
        page.wait_for_selector(
            '#messages li.failed, #status[data-state="offline"]', timeout=PAGE_WAIT_MS
        )
        if page.locator("#messages li.failed").count():
            return
        run_offline(page)
    raise AssertionError(f"never marked not sent: {lines(page)}")


def test_own_messages_are_marked_sent_and_yours(browser: Any) -> None:
    with ServeProcess() as server, raw_client(server.ws_url("/own")) as watcher:
        page = open_page(browser, server.http_url + "#own", nick="ona")
        try:
            wait_online(page)
            send_from_page(page, "at once")
            wait_line(page, "text", "at once", author="ona")
            recv_until(watcher, "ona: at once")
            mine = page.locator("#messages li.mine")
            assert mine.count() == 1 and mine.locator(".sending").count() == 0
            assert page.locator("#messages li.mine .author").inner_text().endswith("(you):")
        finally:
            page.context.close()
