"""The chat page reads like a chat and says who is who (real headless Chromium, a real
`wscli serve`, raw clients): messages grouped by author, compact times with the exact one on
hover, day dividers for replayed history, right-to-left text by its author, a short
placeholder and a whole status line on narrow screens, unique names, lookalike names
framed, and no "0 missed messages restored" when there was nothing to restore."""

from __future__ import annotations

import datetime
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from tests.serve.chat_page_support import (
    PAGE_WAIT_MS,
    Relay,
    lines,
    open_page,
    raw_client,
    recv_until,
    send_from_page,
    wait_line,
    wait_online,
)
from tests.support import requires
from tests.support.serve_process import ServeProcess

pytestmark = requires("chromium")

ITEMS_JS = """() => [...document.querySelectorAll('#messages li')].map((li) => ({
  classes: li.className.split(' '),
  author: li.querySelector('.author') ? li.querySelector('.author').firstChild.textContent : null,
  authorShown: li.querySelector('.author') ? li.querySelector('.author').offsetWidth > 2 : false,
  timeShown: getComputedStyle(li.querySelector('time')).opacity === '1',
  day: li.querySelector('.day') ? li.querySelector('.day').textContent : null,
  body: li.querySelector('.body').textContent,
}))"""


@pytest.fixture
def server() -> Iterator[ServeProcess]:
    with ServeProcess("--history", "50") as proc:
        yield proc


def items(page: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate(ITEMS_JS)
    kinds = {"text", "binary", "pending"}
    return [item for item in found if kinds.intersection(item["classes"])]


def test_messages_are_grouped_by_author_with_the_exact_time_on_hover(
    browser: Any, server: ServeProcess
) -> None:
    page = open_page(browser, server.http_url + "#g", nick="ada")
    try:
        wait_online(page)
        with (
            raw_client(server.ws_url("/g?nick=grace")) as grace,
            raw_client(server.ws_url("/g?nick=linus")) as linus,
        ):
            for text in ("one", "two", "three"):
                grace.send(f"grace: {text}")
            recv_until(grace, "grace: three")
            linus.send(b"\x01\x02")
            recv_until(linus, b"\x01\x02")
            grace.send("grace: four")
            wait_line(page, "text", "four", author="grace")
        send_from_page(page, "mine")
        send_from_page(page, "mine too")
        wait_line(page, "text", "mine too", author="ada")
        shown = items(page)
        assert [(i["author"], i["body"]) for i in shown] == [
            ("grace", "one"),
            ("grace", "two"),
            ("grace", "three"),
            ("linus", "[binary, 2 bytes]"),  # binary messages show their sender
            ("grace", "four"),
            ("ada", "mine"),
            ("ada", "mine too"),
        ]
        # The name and the time once per group; follow-ups only their text.
        assert [i["authorShown"] for i in shown] == [True, False, False, True, True, True, False]
        assert [i["timeShown"] for i in shown] == [True, False, False, True, True, True, False]
        assert ["mine" in i["classes"] for i in shown] == [False] * 5 + [True, True]
        # A follow-up's time appears on hover, and every time's title is the exact one.
        second = page.locator("#messages li.cont").first
        second.hover()
        assert second.locator("time").evaluate("t => getComputedStyle(t).opacity") == "1"
        title = second.locator("time").get_attribute("title")
        assert title is not None and ":" in title and len(title) > 12, title
        assert all(len(line["time"]) == 5 for line in lines(page))  # "14:05", no seconds
        # Screen readers still hear each message's author (hidden only from the eye).
        assert second.locator(".author").inner_text().startswith("grace")
    finally:
        page.context.close()


def test_own_messages_group_when_the_browsers_clock_is_behind_the_servers(
    browser: Any, server: ServeProcess
) -> None:
    # A laptop's clock a minute behind the server's: the first message, acknowledged, has the
    # server's time; the next one, shown at once while it is sent, the page's (earlier).
    # They are one author's group all the same (the second showed its author again).
    context = browser.new_context()
    context.set_default_timeout(PAGE_WAIT_MS)
    context.add_init_script("localStorage.setItem('wscli.chat.nick', 'ada');")
    page = context.new_page()
    try:
        behind = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1)
        page.clock.set_system_time(behind)
        page.goto(server.http_url + "#skew")
        wait_online(page)
        send_from_page(page, "mine")
        wait_line(page, "text", "mine", author="ada")  # acknowledged: the server's time
        server.proc.send_signal(signal.SIGSTOP)  # the next one stays "sending" meanwhile
        try:
            send_from_page(page, "mine too")
            wait_line(page, "pending", "mine too", author="ada")
            shown = items(page)
        finally:
            server.proc.send_signal(signal.SIGCONT)
        assert [i["body"] for i in shown] == ["mine", "mine too"]
        assert [i["authorShown"] for i in shown] == [True, False]
        wait_line(page, "text", "mine too", author="ada")
    finally:
        context.close()


def test_replayed_history_gets_day_dividers(browser: Any, server: ServeProcess) -> None:
    with raw_client(server.ws_url("/days?nick=old")) as old:
        old.send("old: from the past")
        old.send("old: also then")
        recv_until(old, "old: also then")
    context = browser.new_context()
    context.add_init_script("localStorage.setItem('wscli.chat.nick', 'now');")
    page = context.new_page()
    try:
        # The browser lives three days later: the history's own times are from back then.
        later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=3)
        page.clock.set_system_time(later)
        page.goto(server.http_url + "#days")
        wait_online(page)
        wait_line(page, "text", "also then", author="old")
        shown = items(page)
        assert shown[0]["day"] is not None and shown[0]["day"] not in ("Today", "Yesterday")
        assert shown[0]["day"].endswith(str((later - datetime.timedelta(days=3)).year))
        assert shown[1]["day"] is None  # the same day: one divider
    finally:
        context.close()
    page = open_page(browser, server.http_url + "#days", nick="today")
    try:
        wait_line(page, "text", "also then", author="old")
        assert [i["day"] for i in items(page)] == [None, None]  # today's need none
    finally:
        page.context.close()


def test_right_to_left_text_sits_by_its_author(browser: Any, server: ServeProcess) -> None:
    page = open_page(
        browser, server.http_url + "#rtl", nick="ada", viewport={"width": 1280, "height": 800}
    )
    try:
        wait_online(page)
        with raw_client(server.ws_url("/rtl?nick=زينب")) as zeynep:
            zeynep.send("زينب: مرحبا بالعالم")
            wait_line(page, "text", "مرحبا بالعالم", author="زينب")
        # Where the name and the text are drawn (their text, not their boxes).
        author, body = page.evaluate(
            """() => { const li = [...document.querySelectorAll('#messages li.text')].at(-1);
              return [li.querySelector('.author span'), li.querySelector('.body')].map((e) => {
                const range = document.createRange();
                range.selectNodeContents(e);
                const box = range.getBoundingClientRect();
                return [box.left, box.right]; }); }"""
        )
        assert (
            page.evaluate(
                "getComputedStyle([...document.querySelectorAll('#messages li.text .body')].at(-1))"
                ".direction"
            )
            == "rtl"
        )
        # Before: 600 px away at 1280 px. Now the text starts where its author's name does.
        assert abs(body[0] - author[0]) < 4, (author, body)
        assert body[1] - author[0] < 250, (author, body)
    finally:
        page.context.close()


def test_narrow_screens_get_a_short_placeholder_and_the_whole_status(browser: Any) -> None:
    relay = Relay()
    with ServeProcess(*relay.origin) as server:
        relay.restore(server.port)
        page = open_page(browser, relay.url, nick="tiny", viewport={"width": 320, "height": 256})
        try:
            wait_online(page)
            fits = page.evaluate(
                """() => { const t = document.getElementById('text');
                  const style = getComputedStyle(t);
                  const ctx = document.createElement('canvas').getContext('2d');
                  ctx.font = style.font;
                  const room = t.clientWidth - parseFloat(style.paddingLeft)
                    - parseFloat(style.paddingRight);
                  return [t.placeholder, ctx.measureText(t.placeholder).width <= room]; }"""
            )
            assert fits == ["Message", True]
            relay.upgrades = "refuse"
            relay.cut()
            relay.restore(server.port)
            page.wait_for_function(
                "() => /^Offline, reconnecting in \\d+ s$/.test("
                "document.getElementById('status').textContent.trim())",
                timeout=PAGE_WAIT_MS,
            )
            whole = page.evaluate(
                """() => { const s = document.getElementById('status');
                  const box = s.getBoundingClientRect();
                  const cut = [...s.querySelectorAll('*')]
                    .some((e) => e.scrollWidth > e.clientWidth + 1);
                  return [box.right <= innerWidth, !cut, s.scrollWidth <= s.clientWidth + 1]; }"""
            )
            assert whole == [True, True, True]  # "Offli…" before, the countdown lost
            box = page.locator("#scroller").bounding_box()
            assert box is not None and box["height"] >= 128, box  # still half the screen
        finally:
            relay.close()
            page.context.close()


def test_names_are_unique_and_lookalikes_are_framed(browser: Any, server: ServeProcess) -> None:
    with (
        raw_client(server.ws_url("/who?nick=alice")) as alice,
        raw_client(server.ws_url("/who?nick=\u0430lice")) as lookalike,  # Cyrillic а
        raw_client(server.ws_url("/who?nick=東京Tokyo")) as tokyo,
        raw_client(server.ws_url("/who?nick=\u03a9mega")) as omega,  # Greek Ω, Latin rest
    ):
        page = open_page(browser, server.http_url + "#who", nick="alice")
        try:
            wait_online(page)
            # The server gave this page a name of its own, and the page says so.
            wait_line(page, "local", "— The name alice is taken in /who; you are alice (2) there —")
            assert page.inner_text("#status") == "Connected to /who as alice (2)"
            # One at a time, each shown before the next is sent: four connections' messages
            # have no order between them, and the page draws its own at once (it came
            # first at load 14, before the others had reached the page).
            names = ("alice", "\u0430lice", "東京Tokyo", "\u03a9mega")
            for client, name in zip((alice, lookalike, tokyo, omega), names, strict=True):
                client.send("hello")
                wait_line(page, "text", "hello", author=name)
            send_from_page(page, "hello")
            wait_line(page, "text", "hello", author="alice (2)")
            framed = page.evaluate(
                """() => [...document.querySelectorAll('#messages li.text')].map((li) => [
                  li.querySelector('.author').firstChild.textContent,
                  [...li.querySelectorAll('.author .odd')].map((o) => [o.textContent, o.title]),
                  li.classList.contains('mine')])"""
            )
            assert framed == [
                ["alice", [], False],
                ["\u0430lice", [["\u0430", "Cyrillic letter in a Latin name"]], False],
                ["東京Tokyo", [], False],  # Han with Latin: an ordinary Japanese name
                ["\u03a9mega", [["\u03a9", "Greek letter in a Latin name"]], False],
                ["alice (2)", [], True],  # this page's own: marked, the other alice's not
            ]
            notice = page.evaluate(
                "[...document.querySelectorAll('#messages li.notice .odd')].map(o => o.textContent)"
            )
            assert "\u0430" not in notice  # joined before the page: no notice shown for it
        finally:
            page.context.close()


def test_nothing_restored_is_not_announced(browser: Any) -> None:
    # Before: after a nickname change with the default --history 0, the page said
    # "0 missed messages restored; some may be missing".
    with ServeProcess() as server, raw_client(server.ws_url("/n")) as raw:
        page = open_page(browser, server.http_url + "#n", nick="first")
        try:
            wait_online(page)
            raw.send("something to resume after")
            page.wait_for_function(
                "() => document.querySelectorAll('#messages li.text').length === 1"
            )
            page.fill("#nick", "second")
            page.press("#nick", "Enter")
            wait_line(page, "notice", "* second joined")
            # What the reconnect says of its replay is drawn before any live message after it.
            raw.send("live")
            page.wait_for_function(
                "() => [...document.querySelectorAll('#messages li.text .body')]"
                ".some((b) => b.textContent === 'live')"
            )
            assert not [line for line in lines(page, "local") if "missed" in line["body"]]
        finally:
            page.context.close()
