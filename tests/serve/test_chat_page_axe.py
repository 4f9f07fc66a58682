"""axe-core (npm, locked in tests/npm) in real headless Chromium against a real `wscli serve`:
the chat page has no WCAG 2.0/2.1/2.2 A or AA violation in any of the 13 states an
accessibility review checked (empty, joined, 200 messages, expanded, the new-messages hint,
dark, 320x256, 320x256 with the settings open, dark narrow, offline light and dark, refused,
refused narrow dark)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import pytest

from tests.serve.chat_page_support import (
    PAGE_WAIT_MS,
    Relay,
    drawn,
    open_page,
    raw_client,
    script_errors,
    send_from_page,
    wait_line,
    wait_online,
)
from tests.support import npm_packages, requires, scaled
from tests.support.serve_process import ServeProcess

pytestmark = requires("chromium", "npm", "node")

TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
WIDE = {"width": 1280, "height": 800}
NARROW = {"width": 320, "height": 256}


@cache
def axe_source() -> str:
    return (npm_packages() / "node_modules" / "axe-core" / "axe.min.js").read_text("utf-8")


def violations(page: Any) -> list[dict[str, Any]]:
    """axe's WCAG A/AA violations on the page as it is now (injected through the DevTools
    protocol: the page's CSP allows only its own script, rightly)."""
    page.evaluate(axe_source())
    found: list[dict[str, Any]] = page.evaluate(
        """(tags) => axe.run(document, { runOnly: { type: "tag", values: tags },
                                          resultTypes: ["violations"] })
          .then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact,
            nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ") + ": " + n.failureSummary),
          })))""",
        TAGS,
    )
    return found


def chat(server: ServeProcess, room: str, count: int) -> None:
    """``count`` messages of every kind into ``room``, from raw clients with nicknames:
    links, a long one, several lines, right-to-left text, binary, invisible characters,
    a lookalike name, grouped runs of one author."""
    with (
        raw_client(server.ws_url(f"/{room}?nick=grace")) as grace,
        raw_client(server.ws_url(f"/{room}?nick=زينب")) as zeynep,
        raw_client(server.ws_url(f"/{room}?nick=\u0430lice")) as lookalike,
    ):
        for i in range(count):
            kind = i % 10
            if kind == 0:
                grace.send(f"grace: see https://example.com/item/{i} (done).")
            elif kind == 1:
                grace.send(f"grace: and a second line for {i}\nwith more")
            elif kind == 2:
                zeynep.send(f"زينب: مرحبا {i}")
            elif kind == 3:
                zeynep.send(b"\x00\x01\x02")
            elif kind == 4:
                lookalike.send(f"\u0430lice: al\u200bice says {i}")
            elif kind == 5 and i % 50 == 5:
                grace.send("grace: " + "long text " * 120)
            else:
                grace.send(f"grace: message {i}")
        grace.send("grace: the last one")
        grace.recv(timeout=scaled(10))


def joined(browser: Any, server: ServeProcess, room: str, **context: Any) -> Any:
    page = open_page(browser, server.http_url + "#" + room, nick="amy", **context)
    wait_online(page)
    chat(server, room, 12)
    wait_line(page, "text", "the last one", author="grace")
    send_from_page(page, "and mine, with https://example.org/")
    wait_line(page, "text", "and mine, with https://example.org/", author="amy")
    return page


def state_empty(browser: Any, server: ServeProcess, room: str) -> Any:
    relay = Relay()
    relay.upgrades = "hold"
    relay.restore(server.port)
    page = open_page(browser, relay.url + "#" + room, nick="amy", viewport=WIDE)
    page.wait_for_selector('#status[data-state="connecting"]')
    drawn(page)
    page.relay = relay
    return page


def state_joined(browser: Any, server: ServeProcess, room: str) -> Any:
    return joined(browser, server, room, viewport=WIDE)


def state_200(browser: Any, server: ServeProcess, room: str) -> Any:
    page = open_page(browser, server.http_url + "#" + room, nick="amy", viewport=WIDE)
    wait_online(page)
    chat(server, room, 200)
    wait_line(page, "text", "the last one", author="grace")
    return page


def state_expanded(browser: Any, server: ServeProcess, room: str) -> Any:
    page = state_200(browser, server, room)
    more = page.get_by_role("button", name="Show more", exact=False).last
    more.click()
    page.get_by_role("button", name="Show less").wait_for()
    return page


def state_hint(browser: Any, server: ServeProcess, room: str) -> Any:
    page = state_200(browser, server, room)
    page.focus("#text")
    page.keyboard.press("PageUp")
    page.keyboard.press("PageUp")
    with raw_client(server.ws_url(f"/{room}?nick=late")) as late:
        late.send("late: after you scrolled up")
        late.recv(timeout=scaled(10))
    page.locator("#new-hint").wait_for(state="visible")
    return page


def state_dark(browser: Any, server: ServeProcess, room: str) -> Any:
    return joined(browser, server, room, viewport=WIDE, color_scheme="dark")


def state_narrow(browser: Any, server: ServeProcess, room: str) -> Any:
    return joined(browser, server, room, viewport=NARROW)


def state_narrow_settings(browser: Any, server: ServeProcess, room: str) -> Any:
    page = joined(browser, server, room, viewport=NARROW)
    page.get_by_role("button", name="Settings").click()
    page.locator("#nick").wait_for(state="visible")
    return page


def state_dark_narrow(browser: Any, server: ServeProcess, room: str) -> Any:
    return joined(browser, server, room, viewport=NARROW, color_scheme="dark")


def offline(browser: Any, server: ServeProcess, room: str, **context: Any) -> Any:
    relay = Relay()
    relay.restore(server.port)
    page = open_page(browser, relay.url + "#" + room, nick="amy", **context)
    wait_online(page)
    chat(server, room, 12)
    wait_line(page, "text", "the last one", author="grace")
    relay.upgrades = "refuse"
    relay.cut()
    relay.restore(server.port)
    page.wait_for_selector('#status[data-state="offline"]', timeout=PAGE_WAIT_MS)
    send_from_page(page, "typed while offline")
    page.locator("#messages li.pending").wait_for()
    page.relay = relay
    return page


def state_offline(browser: Any, server: ServeProcess, room: str) -> Any:
    return offline(browser, server, room, viewport=WIDE)


def state_offline_dark(browser: Any, server: ServeProcess, room: str) -> Any:
    return offline(browser, server, room, viewport=WIDE, color_scheme="dark")


def refused(browser: Any, server: ServeProcess, room: str, **context: Any) -> Any:
    page = open_page(browser, server.http_url + "#" + room, nick="amy", **context)  # no ?token=
    page.wait_for_selector('#status[data-state="refused"]', timeout=PAGE_WAIT_MS)
    send_from_page(page, "typed while not admitted")
    page.locator("#messages li.pending").wait_for()
    return page


def state_refused(browser: Any, server: ServeProcess, room: str) -> Any:
    return refused(browser, server, room, viewport=WIDE)


def state_refused_narrow_dark(browser: Any, server: ServeProcess, room: str) -> Any:
    return refused(browser, server, room, viewport=NARROW, color_scheme="dark")


STATES: dict[str, Callable[[Any, ServeProcess, str], Any]] = {
    "empty": state_empty,
    "joined": state_joined,
    "200-messages": state_200,
    "expanded": state_expanded,
    "new-messages-hint": state_hint,
    "dark": state_dark,
    "320x256": state_narrow,
    "320x256-settings-open": state_narrow_settings,
    "dark-narrow": state_dark_narrow,
    "offline-light": state_offline,
    "offline-dark": state_offline_dark,
    "refused": state_refused,
    "refused-narrow-dark": state_refused_narrow_dark,
}


OPTIONS = ("--history", "50", "--origin", "*")


@pytest.fixture(scope="module")
def server() -> Iterator[ServeProcess]:
    """One server for the states of the module, each in a room of its own."""
    with ServeProcess(*OPTIONS) as proc:
        yield proc


@pytest.fixture(scope="module")
def token_server() -> Iterator[ServeProcess]:
    """One server that wants a token, for the refused states."""
    with ServeProcess(*OPTIONS, env={"WSCLI_TOKEN": "s3cret"}) as proc:
        yield proc


@pytest.mark.parametrize("state", list(STATES))
def test_no_wcag_violations(browser: Any, state: str, request: pytest.FixtureRequest) -> None:
    # Only the server the state uses is started (getfixturevalue), each state in its room.
    server = request.getfixturevalue("token_server" if state.startswith("refused") else "server")
    page = STATES[state](browser, server, state)
    try:
        drawn(page)
        found = violations(page)
        assert found == [], json.dumps(found, indent=1, ensure_ascii=False)
        assert script_errors(page) == []
    finally:
        page.context.close()
        if hasattr(page, "relay"):
            page.relay.close()
