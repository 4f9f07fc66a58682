"""The browser chat page (wscli/serve/static/chat.html): in real headless Chromium against a real
`wscli serve`, beside raw WebSocket clients; plus static checks of the file itself."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from importlib import resources
from typing import Any

import pytest
from redis_process import RedisServer
from serve_process import ServeProcess
from support import requires, scaled
from websockets.sync.client import ClientConnection, connect

PAGE_TEXT = (resources.files("wscli.serve") / "static" / "chat.html").read_text("utf-8")

# Exactly as /work/shared/COMPONENTS.md says: Debian's Chromium, never `playwright install`.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

# What a page shows: one entry per list item, kind (text/notice/binary/local), author, body.
LINES_JS = """() => [...document.querySelectorAll('#messages li')].map(li => ({
  kind: li.dataset.kind,
  author: li.querySelector('.author') ? li.querySelector('.author').firstChild.textContent : null,
  body: li.querySelector('.body').textContent,
  time: li.querySelector('time').textContent,
}))"""

HAS_LINE_JS = """([kind, author, body]) => [...document.querySelectorAll('#messages li')].some(li =>
  li.dataset.kind === kind && li.querySelector('.body').textContent === body &&
  (li.querySelector('.author') ? li.querySelector('.author').firstChild.textContent : null)
    === author)"""


# ---- the file itself (no browser needed) --------------------------------------------------


def test_page_is_package_data_and_self_contained() -> None:
    assert PAGE_TEXT.startswith("<!doctype html>")
    # No external resource of any kind: every src/href is inline data.
    for attr in re.findall(r"""\b(?:src|href|action)\s*=\s*["']([^"']*)""", PAGE_TEXT):
        assert attr.startswith("data:"), attr
    assert "http://" not in PAGE_TEXT and "https://" not in PAGE_TEXT
    assert "@import" not in PAGE_TEXT and "url(" not in PAGE_TEXT


def test_page_script_never_builds_html_from_strings() -> None:
    script = re.search(r"<script>(.*?)</script>", PAGE_TEXT, re.S)
    assert script is not None
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script.group(1), sink


def test_content_security_policy_allows_exactly_the_inline_script() -> None:
    """The CSP pins the inline script by hash; editing the script means updating the hash."""
    scripts = re.findall(r"<script>(.*?)</script>", PAGE_TEXT, re.S)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', PAGE_TEXT)
    assert csp is not None
    assert f"script-src 'sha256-{digest}'" in csp.group(1), f"update the hash to {digest}"
    assert "default-src 'none'" in csp.group(1)
    assert "connect-src 'self'" in csp.group(1)


# ---- in Chromium --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def server() -> Iterator[ServeProcess]:
    with ServeProcess() as proc:
        yield proc


def open_page(browser: Any, url: str, nick: str | None = None, **context_args: Any) -> Any:
    """A page in its own browser context (own localStorage); ``nick`` pre-remembered."""
    context = browser.new_context(**context_args)
    context.set_default_timeout(scaled(10_000))
    if nick is not None:
        context.add_init_script(f"localStorage.setItem('wscli.chat.nick', {nick!r});")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.js_errors = errors
    response = page.goto(url)
    assert response is not None and response.ok
    assert response.headers["content-type"].startswith("text/html")
    return page


def wait_online(page: Any) -> None:
    page.wait_for_selector('#status[data-state="online"]', timeout=scaled(10_000))


def wait_line(page: Any, kind: str, body: str, author: str | None = None) -> None:
    """Wait until the page shows this message; on timeout fail with what it does show."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(HAS_LINE_JS, arg=[kind, author, body], timeout=scaled(10_000))
    except PlaywrightTimeout:
        raise AssertionError(
            f"page never showed {kind} {author!r} {body!r}; it shows {page.evaluate(LINES_JS)}"
        ) from None


def raw_client(url: str) -> ClientConnection:
    return connect(url, proxy=None, open_timeout=scaled(10))


def recv_until(client: ClientConnection, wanted: str | bytes, timeout: float = 10) -> list[Any]:
    """Everything the raw client receives up to and including ``wanted``."""
    seen: list[Any] = []
    while True:
        try:
            message = client.recv(timeout=scaled(timeout))
        except TimeoutError:
            raise AssertionError(f"never received {wanted!r}; got {seen!r}") from None
        seen.append(message)
        if message == wanted:
            return seen


def send_from_page(page: Any, text: str, *, click: bool = False) -> None:
    page.fill("#text", text)
    if click:
        page.click("#send")
    else:
        page.press("#text", "Enter")


@requires("chromium")
def test_two_pages_and_a_raw_client_chat(browser: Any, server: ServeProcess) -> None:
    with raw_client(server.ws_url("/chat?nick=raw")) as raw:
        chat_with_raw_client(browser, server, raw)


def chat_with_raw_client(browser: Any, server: ServeProcess, raw: ClientConnection) -> None:
    alice = open_page(browser, server.http_url, nick="alice")
    wait_online(alice)
    assert alice.input_value("#nick") == "alice"  # remembered in localStorage
    assert alice.input_value("#room") == "/chat"
    recv_until(raw, "* alice joined")

    # Bob sets his nickname in the page; it is remembered and announced.
    bob = open_page(browser, server.http_url)
    wait_online(bob)
    bob.fill("#nick", "bob")
    bob.press("#nick", "Enter")
    wait_line(alice, "notice", "* bob joined")
    wait_online(bob)
    assert bob.evaluate("localStorage.getItem('wscli.chat.nick')") == "bob"
    recv_until(raw, "* bob joined")

    send_from_page(alice, "hello from alice")
    assert recv_until(raw, "alice: hello from alice")[-1] == "alice: hello from alice"
    wait_line(bob, "text", "hello from alice", author="alice")
    wait_line(alice, "text", "hello from alice", author="alice")  # echoed to the sender
    assert alice.input_value("#text") == ""

    send_from_page(bob, "hi: colons and  spaces stay", click=True)
    recv_until(raw, "bob: hi: colons and  spaces stay")
    wait_line(alice, "text", "hi: colons and  spaces stay", author="bob")

    raw.send("a raw client without a prefix")
    raw.send(b"\x00\x01\x02\xff")
    for page in (alice, bob):  # shown under the raw client's own name (from the server)
        wait_line(page, "text", "a raw client without a prefix", author="raw")
        wait_line(page, "binary", "[binary, 4 bytes]", author="raw")

    # The sender's own lines are marked; times are local HH:MM:SS.
    lines = alice.evaluate(LINES_JS)
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d( [AP]M)?", line["time"]) for line in lines)
    assert alice.locator("#messages li.mine").count() == 1

    bob.context.close()
    wait_line(alice, "notice", "* bob left")
    recv_until(raw, "* bob left")
    assert alice.js_errors == []
    alice.context.close()


@requires("chromium")
def test_markup_is_shown_as_text_and_runs_nothing(browser: Any, server: ServeProcess) -> None:
    payload = (
        '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'
        "<b>bold</b> &amp; <a href=javascript:window.pwned=3>link</a>"
    )
    page = open_page(browser, server.http_url, nick="eve")
    wait_online(page)
    with raw_client(server.ws_url("/chat?nick=mallory")) as raw:
        raw.send(payload)
        raw.send(f"mallory: {payload}")
        raw.send(f"* {payload}")
        wait_line(page, "text", payload, author="mallory")
        wait_line(page, "text", f"* {payload}", author="mallory")
    send_from_page(page, payload)
    wait_line(page, "text", payload, author="eve")
    page.wait_for_timeout(300)  # give any injected handler a chance to run
    assert page.evaluate("window.pwned") is None
    assert page.locator("#messages img, #messages script, #messages b, #messages a").count() == 0
    assert page.js_errors == []
    page.context.close()


@requires("chromium")
def test_notices_and_authors_cannot_be_forged(browser: Any, server: ServeProcess) -> None:
    # Issue 9, finding 8: a raw client's "* x joined" showed as a server notice and
    # "alice: hi" under alice's name. The page's subprotocol says who really sent what.
    page = open_page(browser, server.http_url, nick="alice")
    wait_online(page)
    with raw_client(server.ws_url("/chat?nick=mallory")) as raw:
        wait_line(page, "notice", "* mallory joined")  # the real one, from the server
        raw.send("* bob joined")
        raw.send("alice: hi, it is me")
        wait_line(page, "text", "* bob joined", author="mallory")
        wait_line(page, "text", "alice: hi, it is me", author="mallory")
    with raw_client(server.ws_url("/chat")) as anonymous:
        anonymous.send("who am I")
        page.wait_for_function(
            "() => [...document.querySelectorAll('#messages li .body')]"
            ".some(b => b.textContent === 'who am I')"
        )
    lines = page.evaluate(LINES_JS)
    (anon,) = [line for line in lines if line["body"] == "who am I"]
    assert re.fullmatch(r"#\d+", anon["author"] or ""), anon  # its connection number
    notices = [line["body"] for line in lines if line["kind"] == "notice"]
    assert notices == ["* alice joined", "* mallory joined", "* mallory left"]
    assert page.locator("#messages li.mine").count() == 0
    assert page.js_errors == []
    page.context.close()


@requires("chromium")
def test_notice_of_a_right_to_left_nick_reads_left_to_right(
    browser: Any, server: ServeProcess
) -> None:
    # Found by QA: "* زينب joined" was laid out right to left ("joined زينب *").
    page = open_page(browser, server.http_url, nick="eve")
    wait_online(page)
    with raw_client(server.ws_url("/chat?nick=زينب")):
        wait_line(page, "notice", "* زينب joined")
    wait_line(page, "notice", "* زينب left")
    directions = page.evaluate(
        """() => [...document.querySelectorAll('#messages li.notice .body')].map(b =>
          [getComputedStyle(b).direction, b.querySelector('bdi')?.textContent])"""
    )
    assert directions[-2:] == [["ltr", "زينب"], ["ltr", "زينب"]]
    page.context.close()


@requires("chromium")
def test_page_reconnects_after_server_restart(browser: Any) -> None:
    first = ServeProcess()
    page = open_page(browser, first.http_url, nick="carol")
    try:
        wait_online(page)
        port = first.port
        assert first.stop() == 0
        page.wait_for_selector('#status[data-state="offline"]', timeout=scaled(10_000))
        assert page.locator("#send").is_disabled()
        assert re.fullmatch(r"Offline, reconnecting in \d+ s", page.text_content("#status").strip())
        page.wait_for_function(
            """() => [...document.querySelectorAll('#messages li.local .body')]
                .some(b => b.textContent.startsWith('— Disconnected (closed, code 1001'))"""
        )
        second = ServeProcess(port=port)
        # The page reconnects by itself (backoff) and is announced again.
        with second, raw_client(second.ws_url("/chat")) as raw:
            recv_until(raw, "* carol joined", timeout=15)
            wait_online(page)
            send_from_page(page, "back again")
            recv_until(raw, "carol: back again")
    finally:
        first.stop()
        page.context.close()


@requires("chromium")
def test_room_from_fragment_and_field(browser: Any, server: ServeProcess) -> None:
    page = open_page(browser, server.http_url + "#lobby", nick="dave")
    wait_online(page)
    assert page.input_value("#room") == "/lobby"
    with raw_client(server.ws_url("/lobby")) as lobby, raw_client(server.ws_url("/chat")) as chat:
        send_from_page(page, "in the lobby")
        recv_until(lobby, "dave: in the lobby")
        page.fill("#room", "chat")
        page.press("#room", "Enter")
        recv_until(lobby, "* dave left")
        recv_until(chat, "* dave joined")
        wait_online(page)
        assert page.url.endswith("#chat")
        send_from_page(page, "now in chat")
        recv_until(chat, "dave: now in chat")
    page.context.close()


@requires("chromium")
def test_narrow_screen_fits_and_controls_have_accessible_names(
    browser: Any, server: ServeProcess
) -> None:
    page = open_page(browser, server.http_url, nick="erin", viewport={"width": 360, "height": 640})
    wait_online(page)
    with raw_client(server.ws_url("/chat?nick=raw")) as raw:
        raw.send("x" * 300)
        wait_line(page, "text", "x" * 300, author="raw")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    send_box = page.locator("#send").bounding_box()
    assert send_box is not None and send_box["x"] + send_box["width"] <= 360
    # Everything is reachable by role and name (what assistive technology sees).
    assert page.get_by_label("Nickname").input_value() == "erin"
    assert page.get_by_label("Room").input_value() == "/chat"
    assert page.get_by_role("textbox", name="Message", exact=True).is_editable()
    assert page.get_by_role("button", name="Send").is_enabled()
    assert page.get_by_role("log", name="Messages").get_by_role("listitem").count() >= 2
    assert page.get_by_role("status").inner_text().startswith("Connected to /chat as erin")
    page.context.close()


@requires("chromium")
def test_page_passes_its_token_on_and_cleans_the_nickname(browser: Any) -> None:
    with ServeProcess(env={"WSCLI_TOKEN": "s3cret"}) as server:
        page = open_page(browser, server.http_url + "?token=s3cret", nick="  ann\u202e  :lee\t")
        wait_online(page)
        assert page.input_value("#nick") == "ann lee"
        with connect(server.ws_url("/chat?token=s3cret"), proxy=None) as raw:
            send_from_page(page, "with a token")
            recv_until(raw, "ann lee: with a token")
        page.context.close()
        # Without the token the page cannot get in, and says so.
        page = open_page(browser, server.http_url, nick="ann")
        page.wait_for_selector('#status[data-state="offline"]', timeout=scaled(10_000))
        assert page.locator("#send").is_disabled()
        page.context.close()


@requires("chromium")
def test_page_over_https_uses_wss(browser: Any, tmp_path: Any) -> None:
    import ssl

    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    with ServeProcess("--certfile", str(certfile), "--keyfile", str(keyfile)) as server:
        assert server.http_url.startswith("https://")
        page = open_page(browser, server.http_url, nick="tls", ignore_https_errors=True)
        wait_online(page)
        context = ssl.create_default_context()
        ca.configure_trust(context)
        url = f"wss://127.0.0.1:{server.port}/chat"
        with connect(url, ssl=context, proxy=None, open_timeout=scaled(10)) as raw:
            send_from_page(page, "over wss")
            recv_until(raw, "tls: over wss")
        page.context.close()


@requires("chromium", "redis-server")
def test_pages_on_two_instances_share_a_room_through_redis(browser: Any) -> None:
    redis = RedisServer()
    try:
        with ServeProcess("--redis", redis.url) as a, ServeProcess("--redis", redis.url) as b:
            amy = open_page(browser, a.http_url + "#team", nick="amy")
            wait_online(amy)
            ben = open_page(browser, b.http_url + "#team", nick="ben")
            wait_online(ben)
            wait_line(amy, "notice", "* ben joined")
            send_from_page(amy, "hello from instance A")
            wait_line(ben, "text", "hello from instance A", author="amy")
            send_from_page(ben, "hello from instance B")
            wait_line(amy, "text", "hello from instance B", author="ben")
            ben.context.close()
            wait_line(amy, "notice", "* ben left")
            amy.context.close()
    finally:
        redis.stop()
