"""The chat page with the keyboard alone, in real headless Chromium against a real
`wscli serve`: join, send, change room, reach "N new messages", Show more and follow a link,
without a mouse. Only Join (or Enter) changes the room or the nickname; the message list is
one tab stop with arrow keys inside it (roving tabindex)."""

from __future__ import annotations

from typing import Any

from tests.serve.chat_page_support import (
    PAGE_WAIT_MS,
    lines,
    open_page,
    raw_client,
    recv_until,
    wait_line,
    wait_online,
    wait_until,
)
from tests.support import requires
from tests.support.serve_process import ServeProcess

pytestmark = requires("chromium")

FOCUSED = "(() => { const e = document.activeElement; return e.id || e.tagName; })()"
# Everything in the message list that Tab stops at.
TAB_STOPS = """() => [...document.querySelectorAll('#messages li, #messages a, #messages button')]
  .filter((e) => e.tabIndex >= 0).length"""
IS_NEWEST = "document.activeElement === [...document.querySelectorAll('#messages li')].at(-1)"
GAP_BELOW = """() => { const s = document.getElementById('scroller');
  const items = s.querySelectorAll('#messages li');
  return [s.scrollHeight - s.scrollTop - s.clientHeight,
    items[items.length - 1].getBoundingClientRect().bottom - s.getBoundingClientRect().bottom];
}"""
AT_END = f"() => {{ const [below, last] = ({GAP_BELOW})(); return below < 2 && last <= 1; }}"


def focused(page: Any) -> str:
    return str(page.evaluate(FOCUSED))


def tab_to(page: Any, target: str, key: str = "Tab", most: int = 12) -> None:
    """Press ``key`` until the element ``target`` (an id or a tag name) has the focus."""
    for _ in range(most):
        if focused(page) == target:
            return
        page.keyboard.press(key)
    raise AssertionError(f"{key} never reached {target}; focus is on {focused(page)}")


def arrow_to(page: Any, selector: str, most: int = 300) -> None:
    """ArrowUp through the list until the focused message holds ``selector``."""
    for _ in range(most):
        if page.evaluate(f"!!document.activeElement.closest('li')?.querySelector({selector!r})"):
            return
        page.keyboard.press("ArrowUp")
    raise AssertionError(f"no message with {selector} above {focused(page)}")


def test_keyboard_only_join_send_switch_new_messages_show_more_and_a_link(browser: Any) -> None:
    with ServeProcess() as server, raw_client(server.ws_url("/kbd")) as watcher:
        page = open_page(
            browser, server.http_url, nick="someone", viewport={"width": 1280, "height": 800}
        )
        try:
            wait_online(page)
            assert focused(page) == "text"  # the page starts in the message field

            # Join: a nickname and a room typed in the settings, Enter. Leaving a half-typed
            # field (Tab) changes nothing: only Join or Enter does.
            tab_to(page, "nick", "Shift+Tab")
            page.keyboard.press("Control+A")
            page.keyboard.type("kay")
            page.keyboard.press("Tab")
            assert focused(page) == "room"
            page.keyboard.press("Control+A")
            page.keyboard.type("/kb")
            page.keyboard.press("Tab")
            page.keyboard.press("Tab")
            page.wait_for_timeout(500)
            assert page.inner_text("#status") == "Connected to /chat as someone"
            tab_to(page, "room", "Shift+Tab")
            page.keyboard.press("End")
            page.keyboard.type("d")
            page.keyboard.press("Enter")
            recv_until(watcher, "* kay joined")
            page.wait_for_function(
                "() => document.getElementById('status').textContent.includes('/kbd as kay')"
            )

            # Send.
            tab_to(page, "text")
            page.keyboard.type("hello by keyboard")
            page.keyboard.press("Enter")
            recv_until(watcher, "kay: hello by keyboard")

            # Change room, and fill it with more than a screen of messages.
            tab_to(page, "room", "Shift+Tab")
            page.keyboard.press("Control+A")
            page.keyboard.type("/kbd2")
            page.keyboard.press("Enter")
            recv_until(watcher, "* kay left")
            wait_online(page)
            page.wait_for_function(
                "() => document.getElementById('status').textContent.includes('/kbd2 as kay')"
            )
            with raw_client(server.ws_url("/kbd2?nick=bot")) as bot:
                bot.send(f"bot: the health check is at {server.http_url}healthz")
                bot.send("bot: " + "a long story " * 100)
                for i in range(200):
                    bot.send(f"bot: line {i}")
                wait_line(page, "text", "line 199", author="bot")

                # The list is one tab stop, however many messages (55 with 200 before).
                assert page.evaluate(TAB_STOPS) == 1
                tab_to(page, "text")
                page.keyboard.press("PageUp")
                page.keyboard.press("PageUp")
                page.keyboard.press("PageUp")
                for i in range(3):
                    bot.send(f"bot: new {i}")
                hint = page.locator("#new-hint")
                hint.wait_for(state="visible")
                assert hint.inner_text() == "3 new messages ↓"

                # Reach "new messages": the button is right before the message field.
                page.keyboard.press("Shift+Tab")
                assert focused(page) == "new-hint"
                page.keyboard.press("Enter")
                assert focused(page) == "text"
                hint.wait_for(state="hidden")
                # The true end, not 176 px short (the end settles over a few frames).
                wait_until(page, AT_END, GAP_BELOW)

            wait_line(page, "notice", "* bot left")  # the last message, before Tab reaches it

            # Show more: into the list, up to the long message, Tab to its button.
            page.keyboard.press("Shift+Tab")
            assert focused(page) == "LI"
            assert page.evaluate(IS_NEWEST)
            ring = page.evaluate(
                "[getComputedStyle(document.activeElement).outlineStyle,"
                " getComputedStyle(document.activeElement).outlineOffset]"
            )
            assert ring == ["solid", "-2px"]  # the whole ring inside the list, not cut off
            arrow_to(page, ".more button")
            page.keyboard.press("Tab")
            assert page.evaluate("document.activeElement.getAttribute('aria-expanded')") == "false"
            page.keyboard.press("Enter")
            assert page.evaluate("document.activeElement.getAttribute('aria-expanded')") == "true"
            assert page.evaluate("document.activeElement.textContent") == "Show less"
            assert page.evaluate(TAB_STOPS) == 2  # the message and its button

            # Follow a link: up to the message holding it, Tab, Enter opens it in a new tab.
            page.keyboard.press("Shift+Tab")
            assert focused(page) == "LI"
            arrow_to(page, "a")
            page.keyboard.press("Tab")
            assert focused(page) == "A"
            with page.context.expect_page(timeout=PAGE_WAIT_MS) as opened:
                page.keyboard.press("Enter")
            health = opened.value
            health.wait_for_load_state()
            assert health.url == server.http_url + "healthz"
            health.close()

            # Escape goes back to the message field; Home and End move within the list.
            page.keyboard.press("Shift+Tab")
            page.keyboard.press("Home")
            assert page.evaluate("document.activeElement.textContent").endswith("kay joined")
            page.keyboard.press("End")
            assert page.evaluate(IS_NEWEST)
            page.keyboard.press("Escape")
            assert focused(page) == "text"
            assert [line["body"] for line in lines(page, "text")][-1] == "new 2"
            assert page.js_errors == []
        finally:
            page.context.close()
