"""The chat page's view, measured in real headless Chromium against a real
`wscli serve` and raw clients: bursts, history once per room, following the
conversation, the composer, odd content, small screens and the accessibility tree."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.serve.chat_page_support import (
    PAGE_WAIT_MS,
    lines,
    open_page,
    raw_client,
    recv_until,
    run_online,
    wait_line,
    wait_online,
)
from tests.support import TIMEOUT_SCALE, requires, scaled
from tests.support.serve_process import ServeProcess

pytestmark = requires("chromium")


@pytest.fixture
def server() -> Iterator[ServeProcess]:
    with ServeProcess() as proc:
        yield proc


# ---- 1. a burst ---------------------------------------------------------------------------

# Installed before the page's script: the first animation frame showing the burst's last
# message, and every long task during the burst (wrapping WebSocket only adds a listener).
BURST_PROBE = """
(() => {
  const probe = window.__burst = { shown: null, start: null, tasks: [] };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) probe.tasks.push([e.startTime, e.duration]);
  }).observe({ type: "longtask", buffered: true });
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        if (probe.start === null && String(event.data).startsWith("bot: ")) {
          probe.start = performance.now();
        }
      });
    }
  };
  const look = () => {
    const items = document.querySelectorAll("#messages li");
    const last = items[items.length - 1];
    if (last && last.textContent.endsWith("bot-last")) {
      probe.shown = performance.now();
      return;
    }
    requestAnimationFrame(look);
  };
  requestAnimationFrame(look);
})();
"""


def burst(browser: Any, server: ServeProcess, room: str) -> tuple[dict[str, Any], list[str]]:
    """5,000 messages from a raw client into ``room`` shown by a fresh page: the numbers and
    the bodies the page ends up showing."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_init_script("localStorage.setItem('wscli.chat.nick', 'reader');")
    context.add_init_script(BURST_PROBE)
    page = context.new_page()
    page.goto(server.http_url + "#" + room)
    wait_online(page)
    with raw_client(server.ws_url("/" + room + "?nick=bot")) as raw:
        echoed: list[float] = []

        def read_echoes() -> None:  # the moment the server has sent the last one to all
            recv_until(raw, "bot: bot-last", timeout=30)
            echoed.append(time.time() * 1000)

        reader = threading.Thread(target=read_echoes, daemon=True)
        reader.start()
        for i in range(4999):
            raw.send(f"bot: burst message {i}")
        raw.send("bot: bot-last")
        reader.join(scaled(30))
        page.wait_for_function("() => window.__burst.shown !== null", timeout=PAGE_WAIT_MS)
    result: dict[str, Any] = page.evaluate(
        """() => { const p = window.__burst;
          const during = p.tasks.filter(([s, d]) => s + d >= p.start);
          return { shown: performance.timeOrigin + p.shown,
                   longest: Math.max(0, ...during.map(t => t[1])),
                   items: document.querySelectorAll('#messages li').length }; }"""
    )
    result["after"] = result.pop("shown") - echoed[0]
    bodies = [line["body"] for line in lines(page, "text")]
    context.close()
    return result, bodies


def test_burst_of_5000_shown_within_a_second_without_long_tasks(
    browser: Any, server: ServeProcess
) -> None:
    # Issue 15: 5,000 messages took 110.7 s to appear, with an 85.6 s main-thread block
    # (benchmarks/chat_page.py prints the numbers beside the old page's).
    def within_targets(result: dict[str, Any]) -> bool:
        # A regression guard with headroom for a busy machine (the old page took 629 s with
        # 1,306 ms tasks; this one 0.9 s / 61 ms quiet, 2.9 s / 453 ms at load 11): the
        # page's targets themselves (1 s, 100 ms) are measured by benchmarks/chat_page.py.
        after, longest = result["after"], result["longest"]
        return after < 10_000 * TIMEOUT_SCALE and longest < 900 * TIMEOUT_SCALE

    result, bodies = burst(browser, server, "burst1")
    print(f"burst of 5000: {result}")  # shown with -s
    if not within_targets(result):
        # Other processes on the machine stretch wall-clock tasks: the better of two bursts.
        result, bodies = burst(browser, server, "burst2")
        print(f"burst of 5000, again: {result}")
    assert within_targets(result), result
    # Memory stays bounded: 2,000 items (to 2,100: drawn in groups of 100), one unbroken run
    # of the latest messages.
    assert 2000 <= result["items"] <= 2100, result
    assert bodies[-2:] == ["burst message 4998", "bot-last"]
    assert bodies == [f"burst message {i}" for i in range(5000 - len(bodies), 4999)] + ["bot-last"]


# ---- 4. one history per room ----------------------------------------------------------------


def test_history_is_shown_once_across_nick_change_and_room_switch(browser: Any) -> None:
    # Issue 15: a nickname change replayed the history again (with the reconnect's time),
    # and a room switch kept the old room's lines above the new room's.
    with (
        ServeProcess("--history", "50") as server,
        raw_client(server.ws_url("/chat?nick=zed")) as zed,
    ):
        zed.send("zed: one")
        zed.send("zed: two")
        recv_until(zed, "zed: two")
        page = open_page(browser, server.http_url, nick="alice")
        wait_online(page)
        wait_line(page, "notice", "* alice joined")
        wait_line(page, "text", "two", author="zed")
        before = {line["body"]: line["datetime"] for line in lines(page, "text")}
        page.wait_for_timeout(1100)  # a replay now would carry a later time

        page.fill("#nick", "bob")
        page.press("#nick", "Enter")
        wait_line(page, "notice", "* bob joined")
        zed.send("zed: three")
        wait_line(page, "text", "three", author="zed")
        shown = lines(page, "text")
        assert [line["body"] for line in shown] == ["one", "two", "three"]
        assert {line["body"]: line["datetime"] for line in shown[:2]} == before

        # Another room: a clean view.
        page.fill("#room", "/other")
        page.press("#room", "Enter")
        wait_line(page, "notice", "* bob joined")
        assert lines(page, "text") == []
        assert all("/chat" not in line["body"] for line in lines(page))
        zed.send("zed: while you were away")
        with raw_client(server.ws_url("/other?nick=x")) as other:
            other.send("x: in other")
            wait_line(page, "text", "in other", author="x")
        assert [line["body"] for line in lines(page, "text")] == ["in other"]

        # Back: the room's history once, what was missed once, nothing of /other.
        page.fill("#room", "/chat")
        page.press("#room", "Enter")
        wait_line(page, "text", "while you were away", author="zed")
        # Nothing more of the replay follows: a live message comes after all of it.
        zed.send("zed: live")
        wait_line(page, "text", "live", author="zed")
        bodies = [line["body"] for line in lines(page, "text")]
        assert bodies == ["one", "two", "three", "while you were away", "live"]
        page.context.close()


# ---- 5. following the conversation ----------------------------------------------------------


def test_new_messages_hint_and_page_keys_from_the_composer(
    browser: Any, server: ServeProcess
) -> None:
    page = open_page(
        browser, server.http_url, nick="reader", viewport={"width": 800, "height": 500}
    )
    wait_online(page)
    with raw_client(server.ws_url("/chat?nick=bot")) as raw:
        for i in range(80):
            raw.send(f"bot: line {i}")
        wait_line(page, "text", "line 79", author="bot")
        page.wait_for_timeout(200)
        bottom = page.evaluate("document.getElementById('scroller').scrollTop")
        assert page.locator("#new-hint").is_hidden()
        page.focus("#text")
        page.keyboard.press("PageUp")
        page.keyboard.press("PageUp")
        page.wait_for_timeout(200)
        up = page.evaluate("document.getElementById('scroller').scrollTop")
        assert up < bottom - 300
        assert page.evaluate("document.activeElement.id") == "text"  # still typing
        for i in range(3):
            raw.send(f"bot: new {i}")
        wait_line(page, "text", "new 2", author="bot")
        hint = page.locator("#new-hint")
        hint.wait_for(state="visible")
        assert hint.inner_text() == "3 new messages ↓"
        assert page.evaluate("document.getElementById('scroller').scrollTop") == up  # not moved
        page.keyboard.press("PageDown")
        page.wait_for_timeout(200)
        assert page.evaluate("document.getElementById('scroller').scrollTop") > up
        hint.click()
        hint.wait_for(state="hidden")
        at_end = page.evaluate(
            "(() => { const s = document.getElementById('scroller');"
            " return s.scrollHeight - s.scrollTop - s.clientHeight; })()"
        )
        assert at_end < 5
    page.context.close()


# ---- 6. multi-line messages -----------------------------------------------------------------


def test_shift_enter_newline_growing_composer_and_multiline_paste(
    browser: Any, server: ServeProcess
) -> None:
    page = open_page(browser, server.http_url, nick="poet")
    wait_online(page)
    with raw_client(server.ws_url("/chat")) as raw:
        page.focus("#text")
        height = page.evaluate("document.getElementById('text').offsetHeight")
        page.keyboard.type("line one")
        page.keyboard.press("Shift+Enter")
        page.keyboard.type("line two")
        assert page.input_value("#text") == "line one\nline two"
        assert page.evaluate("document.getElementById('text').offsetHeight") > height
        page.keyboard.press("Enter")
        recv_until(raw, "poet: line one\nline two")
        wait_line(page, "text", "line one\nline two", author="poet")
        assert page.input_value("#text") == ""
        assert page.evaluate("document.getElementById('text').offsetHeight") == height
        # A paste keeps its lines (insert_text is what a paste does to the field).
        page.keyboard.insert_text("a\n  b\n\nc")
        assert page.input_value("#text") == "a\n  b\n\nc"
        page.click("#send")
        recv_until(raw, "poet: a\n  b\n\nc")
        wait_line(page, "text", "a\n  b\n\nc", author="poet")
        item = page.locator("#messages li.text").last
        assert item.locator(".body").inner_text() == "a\n  b\n\nc"
    page.context.close()


# ---- 7. long and odd content ----------------------------------------------------------------


def test_links_empty_messages_and_long_messages(browser: Any, server: ServeProcess) -> None:
    page = open_page(browser, server.http_url, nick="reader")
    wait_online(page)
    long_text = "".join(f"line {i:4} " + "y" * 90 + " z\n" for i in range(1000))  # ~100 KB
    with raw_client(server.ws_url("/chat")) as raw:
        raw.send("see https://example.com/a?b=1&c=(2). and http://127.0.0.1:9/x, ok")
        raw.send("javascript:alert(1) and <a href=javascript:alert(2)>x</a> jav\tascript:x")
        raw.send("")
        raw.send("   ")
        page.wait_for_function(
            "() => [...document.querySelectorAll('#messages li .body')]"
            ".some(b => b.textContent === '(blank: 3 whitespace)')"
        )
        with raw_client(server.ws_url("/chat?nick=bob")) as bob:
            bob.send("bob: ")
            wait_line(page, "text", "(empty)", author="bob")
        raw.send(long_text)
        wait_line(page, "text", "(empty)", author="bob")
    links = page.evaluate(
        """() => [...document.querySelectorAll('#messages a')].map(a =>
          [a.getAttribute('href'), a.textContent, a.rel, a.target])"""
    )
    assert links == [
        ["https://example.com/a?b=1&c=(2)", "https://example.com/a?b=1&c=(2)",
         "noopener noreferrer", "_blank"],
        ["http://127.0.0.1:9/x", "http://127.0.0.1:9/x", "noopener noreferrer", "_blank"],
    ]  # fmt: skip
    bodies = [(line["author"], line["body"]) for line in lines(page, "text")]
    anonymous = bodies[0][0]  # its connection number: the server says who sent it
    assert re.fullmatch(r"#\d+", anonymous or ""), bodies
    assert bodies[:5] == [
        (anonymous, "see https://example.com/a?b=1&c=(2). and http://127.0.0.1:9/x, ok"),
        (anonymous, "javascript:alert(1) and <a href=javascript:alert(2)>x</a> jav\tascript:x"),
        (anonymous, "(empty)"),
        (anonymous, "(blank: 3 whitespace)"),
        ("bob", "(empty)"),
    ]
    # 100 KB: collapsed behind "Show more" (it was one 29,000 px item).
    item = page.locator("#messages li.text").last
    assert item.bounding_box()["height"] < 600
    more = item.get_by_role("button", name=re.compile(r"^Show more"))
    assert more.get_attribute("aria-expanded") == "false"
    assert more.inner_text() == f"Show more ({len(long_text)} characters)"
    more.click()
    less = item.get_by_role("button", name="Show less")
    assert less.get_attribute("aria-expanded") == "true"
    assert item.locator(".body").text_content() == long_text
    assert item.bounding_box()["height"] > 5000
    less.click()
    assert item.bounding_box()["height"] < 600
    assert page.js_errors == []
    page.context.close()


def test_bidi_overrides_and_zero_width_lookalikes_are_visible(
    browser: Any, server: ServeProcess
) -> None:
    # Issue 15: a right-to-left override showed "evil.exe" as "exe.live", and reordered what
    # followed; "al<ZWSP>ice" passed for "alice".
    page = open_page(browser, server.http_url, nick="reader")
    wait_online(page)
    # Authors are the server's (a client cannot name another): mallory and alice connect
    # with their nicks; a lookalike name can only be text, and its invisible character is
    # shown there.
    with raw_client(server.ws_url("/chat?nick=mallory")) as mallory:
        mallory.send("mallory: open \u202eexe.live\u202c now")
        wait_line(page, "text", "open U+202Eexe.liveU+202C now", author="mallory")
    with raw_client(server.ws_url("/chat?nick=alice")) as alice:
        alice.send("alice: hi")
        wait_line(page, "text", "hi", author="alice")
    with raw_client(server.ws_url("/chat")) as raw:
        raw.send("al\u200bice: hi")
        raw.send("שלום עולם")
        raw.send("after the hebrew")
        raw.send("family \U0001f468\u200d\U0001f469\u200d\U0001f467 stays")
        page.wait_for_function(
            "() => [...document.querySelectorAll('#messages li .body')]"
            ".some(b => b.textContent.startsWith('family '))"
        )
    shown = [(line["author"], line["body"]) for line in lines(page, "text")]
    anonymous = shown[2][0]
    assert re.fullmatch(r"#\d+", anonymous or ""), shown
    assert shown == [
        ("mallory", "open U+202Eexe.liveU+202C now"),
        ("alice", "hi"),
        (anonymous, "alU+200Bice: hi"),
        (anonymous, "שלום עולם"),
        (anonymous, "after the hebrew"),
        (anonymous, "family \U0001f468\u200d\U0001f469\u200d\U0001f467 stays"),  # an emoji
    ]
    info = page.evaluate(
        """() => [...document.querySelectorAll('#messages li.text')].map(li => ({
          body: getComputedStyle(li.querySelector('.body')).direction,
          dir: li.querySelector('.body').dir,
          author: li.querySelector('.author') ? li.querySelector('.author').tagName : null,
          marks: [...li.querySelectorAll('.ctl')].map(m => m.title),
        }))"""
    )
    assert [i["dir"] for i in info] == ["auto"] * 6  # each message its own bidi paragraph
    assert [i["body"] for i in info] == ["ltr", "ltr", "ltr", "rtl", "ltr", "ltr"]
    assert [i["author"] for i in info[:3]] == ["BDI", "BDI", "BDI"]
    assert info[0]["marks"] == ["invisible character U+202E", "invisible character U+202C"]
    assert info[2]["marks"] == ["invisible character U+200B"]
    # No override character reaches the page's text at all.
    assert "\u202e" not in page.inner_text("#messages")
    page.context.close()


# ---- 8. small screens and zoom ------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height", "scale"),
    [(320, 256, 1), (427, 267, 3)],  # a small screen; 1280x800 at 300 % zoom
)
def test_small_screens_show_messages_in_at_least_half_the_height(
    browser: Any, server: ServeProcess, width: int, height: int, scale: int
) -> None:
    # Issue 15: 62 px of messages (about 1.5 lines) at 320x256, 102 px at 300 % zoom.
    page = open_page(
        browser,
        server.http_url,
        nick="tiny",
        viewport={"width": width, "height": height},
        device_scale_factor=scale,
    )
    wait_online(page)
    box = page.locator("#scroller").bounding_box()
    assert box is not None and box["height"] >= height / 2, box
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    toggle = page.get_by_role("button", name="Settings")
    assert toggle.get_attribute("aria-expanded") == "false"
    assert page.locator("#nick").is_hidden()
    toggle.click()
    assert toggle.get_attribute("aria-expanded") == "true"
    assert page.evaluate("document.activeElement.id") == "nick"
    page.fill("#nick", "tinier")
    page.press("#nick", "Enter")
    wait_line(page, "notice", "* tinier joined")
    toggle.click()
    assert page.locator("#nick").is_hidden()
    send = page.locator("#send").bounding_box()
    assert send is not None and send["x"] + send["width"] <= width
    assert send["y"] + send["height"] <= height
    page.context.close()


# ---- 9. accessibility -----------------------------------------------------------------------


def test_log_is_a_list_bursts_are_summarised_and_tab_order(
    browser: Any, server: ServeProcess
) -> None:
    # The page's clock runs past its announcement delays (pings answered for real).
    page = open_page(browser, server.http_url, nick="sr", clock=True)
    wait_online(page)
    with raw_client(server.ws_url("/chat?nick=zed")) as raw:
        raw.send("zed: hello")
        wait_line(page, "text", "hello", author="zed")
        run_online(page, 1500)
        page.wait_for_function(
            "() => document.getElementById('announcer').lastElementChild?.textContent"
            " === 'zed: hello'"
        )
        for i in range(40):
            raw.send(f"zed: burst {i}")
        wait_line(page, "text", "burst 39", author="zed")
        # The summary comes once the burst is over (1 s quiet), and nothing more follows.
        run_online(page, 3000)
        page.wait_for_function(
            """() => [...document.getElementById('announcer').children]
              .some((p) => / new messages in /.test(p.textContent))"""
        )
        spoken = page.evaluate(
            "[...document.getElementById('announcer').children].map(p => p.textContent)"
        )
    # The leave notice is the last line to come: the list is counted after it, not while it
    # may still arrive between the accessibility snapshot and the count.
    wait_line(page, "notice", "* zed left")
    after = spoken[spoken.index("zed: hello") + 1 :]
    # One or two summaries for the 40, not 40 announcements.
    assert 1 <= len(after) <= 3, spoken
    assert all(re.fullmatch(r"\d+ new messages in /chat", line) for line in after), spoken
    assert sum(int(line.split()[0]) for line in after) == 40

    # Chromium's own accessibility tree: a list named Messages whose items are list items.
    cdp = page.context.new_cdp_session(page)
    nodes = cdp.send("Accessibility.getFullAXTree")["nodes"]
    by_id = {node["nodeId"]: node for node in nodes}

    def role(node: dict[str, Any]) -> str:
        return str(node.get("role", {}).get("value"))

    lists = [n for n in nodes if role(n) == "list" and n.get("name", {}).get("value") == "Messages"]
    assert len(lists) == 1

    def items(node: dict[str, Any]) -> int:
        count = 0
        for child in node.get("childIds", []):
            kid = by_id.get(child)
            if kid is None:
                continue
            count += 1 if role(kid) == "listitem" else items(kid) if kid.get("ignored") else 0
        return count

    assert items(lists[0]) == len(lines(page))
    logs = [n for n in nodes if role(n) == "log"]
    assert [n.get("name", {}).get("value") for n in logs] == ["New messages"]

    # Tab order: settings, the message list (one tab stop: its newest message), the composer.
    page.click("h1")  # start from the top of the page
    order = []
    for _ in range(6):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.id || document.activeElement.tagName"))
    assert order == ["nick", "room", "join", "LI", "text", "send"]
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.textContent").endswith("* zed left")
    page.context.close()
