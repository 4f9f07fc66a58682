"""The chat page of `wscli serve`, loaded in real headless Chromium through `wscli proxy`:
the page and its WebSocket both pass the proxy, and the page reconnects by itself each time
`--disconnect-every` drops its connection."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.serve.chat_page_support import chromium
from tests.support import requires, scaled
from tests.support.proxy_process import ProxyProcess
from tests.support.serve_process import ServeProcess

HAS_TEXT_JS = """(body) => [...document.querySelectorAll('#messages li')].some(li =>
  li.dataset.kind === 'text' && li.querySelector('.body').textContent === body)"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def _send(page: Any, text: str) -> None:
    page.fill("#text", text)
    page.press("#text", "Enter")
    page.wait_for_function(HAS_TEXT_JS, arg=text, timeout=scaled(10_000))


@requires("chromium")
def test_the_chat_page_reconnects_through_disconnect_every(browser: Any) -> None:
    # Through the proxy the page's Origin is the proxy's: let the server accept it.
    with (
        ServeProcess("--origin", "*") as server,
        ProxyProcess(server.ws_url("/chat"), "--disconnect-every", "2s", "--json") as proxy,
    ):
        context = browser.new_context()
        context.set_default_timeout(scaled(10_000))
        page = context.new_page()
        response = page.goto(f"http://127.0.0.1:{proxy.port}/#chat")
        assert response is not None and response.ok  # the page itself came through the proxy
        page.wait_for_selector('#status[data-state="online"]')
        _send(page, "before the drop")
        page.wait_for_selector('#status[data-state="offline"]', timeout=scaled(10_000))
        page.wait_for_selector('#status[data-state="online"]', timeout=scaled(15_000))
        _send(page, "after the reconnect")
        context.close()
        faults = proxy.wait_for_event(lambda e: e["event"] == "fault")
        assert faults is not None and faults["fault"] == "disconnect-every"
        texts = [
            e.get("text")
            for e in proxy.events()
            if e["event"] == "message" and e["from"] == "client"
        ]
        assert any(re.search("before the drop", t or "") for t in texts)
        assert any(re.search("after the reconnect", t or "") for t in texts)
        opens = [e for e in proxy.events() if e["event"] == "open"]
        assert len(opens) >= 2
        pages = [e for e in proxy.events() if e["event"] == "http"]
        assert pages and pages[0]["message"] == "GET /: HTTP 200 OK"


@requires("chromium")
def test_the_chat_page_through_the_proxy_needs_rewrite_origin_and_is_told_so(
    browser: Any,
) -> None:
    # The server accepts only its own page (no --origin): through the proxy, the page's
    # origin is the proxy's, refused with a 403 that the proxy's line now explains.
    with ServeProcess() as server:
        with ProxyProcess(server.ws_url("/chat")) as proxy:
            context = browser.new_context()
            page = context.new_page()
            page.goto(f"http://127.0.0.1:{proxy.port}/#chat")
            line = proxy.wait_for(r"refused by server: HTTP 403", timeout=20)
            assert line is not None
            assert "--rewrite-origin" in line.string
            assert f"wscli serve --origin http://127.0.0.1:{proxy.port}" in line.string
            context.close()
        with ProxyProcess(server.ws_url("/chat"), "--rewrite-origin", "--json") as proxy:
            context = browser.new_context()
            context.set_default_timeout(scaled(10_000))
            page = context.new_page()
            page.goto(f"http://127.0.0.1:{proxy.port}/#chat")
            page.wait_for_selector('#status[data-state="online"]')
            _send(page, "through the proxy")
            context.close()
            assert not [e for e in proxy.events() if e["event"] == "refused"]
