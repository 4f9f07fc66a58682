"""The browser chat page (wscli/serve/static/chat.html): in real headless Chromium against a real
`wscli serve`, beside raw WebSocket clients; plus static checks of the file itself."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from importlib import resources
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from tests.serve.chat_page_support import (
    BACKOFF_MAX_MS,
    PAGE_WAIT_MS,
    lines,
    open_page,
    raw_client,
    recv_until,
    run_until_online,
    send_from_page,
    wait_line,
    wait_online,
)
from tests.support import OPEN_TIMEOUT, requires, scaled
from tests.support.redis_process import RedisServer
from tests.support.serve_process import ServeProcess

PAGE_TEXT = (resources.files("wscli.serve") / "static" / "chat.html").read_text("utf-8")

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


@pytest.fixture
def server() -> Iterator[ServeProcess]:
    with ServeProcess() as proc:
        yield proc


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
        wait_line(page, "binary", "[binary, 4 bytes]", author="raw")  # with its sender

    # The sender's own lines are marked; times are compact local HH:MM (exact on hover).
    shown = lines(alice)
    assert all(re.fullmatch(r"\d\d:\d\d", line["time"]) for line in shown)
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
    shown = lines(page)
    (anon,) = [line for line in shown if line["body"] == "who am I"]
    assert re.fullmatch(r"#\d+", anon["author"] or ""), anon  # its connection number
    notices = [line["body"] for line in shown if line["kind"] == "notice"]
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
    page = open_page(browser, first.http_url, nick="carol", clock=True)
    try:
        wait_online(page)
        port = first.port
        assert first.stop() == 0
        page.wait_for_function(
            """() => /^Offline, reconnecting in \\d+ s$/.test(
                document.querySelector('#status').textContent.trim())"""
        )
        page.wait_for_function(
            """() => [...document.querySelectorAll('#messages li.local .body')]
                .some(b => b.textContent.startsWith('— Disconnected (closed, code 1001'))"""
        )
        # Typing while offline: queued, shown as "sending…", sent on reconnect.
        send_from_page(page, "typed while offline")
        send_from_page(page, "and a second one", click=True)
        assert page.input_value("#text") == ""
        pending = page.locator("#messages li.pending")
        pending.nth(1).wait_for()  # drawn in the next frame
        assert pending.count() == 2
        assert pending.first.locator(".sending").inner_text() == "sending…"
        assert lines(page, "pending")[0]["body"] == "typed while offline"
        # The page reconnects by itself (backoff; it may be at the 7.5-15 s ceiling by now):
        # it may do so between the new server listening and the raw client joining (a CI
        # run saw it), so the server keeps history and the raw client sees the two queued
        # messages either live or replayed.
        # The page's clock runs through its backoff; its attempts are answered for real.
        second = ServeProcess("--history", "10", port=port)
        with second, raw_client(second.ws_url("/chat")) as raw:
            run_until_online(page)
            seen = recv_until(raw, "carol: and a second one")
            said = [line for line in seen if line.startswith("carol: ")]
            assert said == ["carol: typed while offline", "carol: and a second one"]
            wait_line(page, "text", "and a second one", author="carol")  # the echo
            assert page.locator("#messages li.pending").count() == 0
            texts = [line["body"] for line in lines(page, "text")]
            assert texts == ["typed while offline", "and a second one"]
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
    assert page.get_by_role("list", name="Messages").get_by_role("listitem").count() >= 2
    assert page.inner_text("#status").startswith("Connected to /chat as erin")
    # Screen readers hear the state once it lasted (the live region, not the status line).
    page.wait_for_function(
        "() => document.querySelector('[role=status]').textContent === 'Connected to /chat as erin'"
    )
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
        with connect(url, ssl=context, proxy=None, open_timeout=scaled(OPEN_TIMEOUT)) as raw:
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


# ---- refusals: explained, and not retried when retrying cannot help ----------


def admission(server: ServeProcess, query: str, origin: str | None = None) -> Any:
    """``GET /admission?query`` on ``server`` (the page's pre-flight), parsed."""
    request = urllib.request.Request(f"{server.http_url}admission?{query}")
    if origin is not None:
        request.add_header("Origin", origin)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=scaled(10)) as response:
        assert response.headers["Content-Type"] == "application/json"
        assert response.headers["Cache-Control"] == "no-store"
        return json.load(response)


def test_admission_answers_the_verdict_without_upgrading() -> None:
    with ServeProcess(
        "--max-clients", "1", "--origin", "https://ok.example", env={"WSCLI_TOKEN": "s3cret"}
    ) as server:
        assert admission(server, "room=/chat") == {
            "admitted": False,
            "refusal": "token",
            "status": 401,
        }
        assert admission(server, "token=nope")["refusal"] == "token"
        assert admission(server, "token=s3cret") == {"admitted": True}
        # The Origin header wins over ?origin= (which a same-origin fetch needs).
        refused = admission(server, "token=s3cret&origin=http://ok.example", "https://evil.example")
        assert refused == {"admitted": False, "refusal": "origin", "status": 403}
        assert admission(server, "token=s3cret&origin=https://evil.example")["refusal"] == "origin"
        assert admission(server, "token=s3cret&origin=https://ok.example") == {"admitted": True}
        with raw_client(server.ws_url("/chat?token=s3cret")):
            assert admission(server, "token=s3cret") == {
                "admitted": False,
                "refusal": "full",
                "status": 503,
                "retry_after": 30,
            }
        # The query (and its token) never reaches the log.
        assert "s3cret" not in server.stderr


def refused_lines(server: ServeProcess, reason: str, at_least: int = 1) -> int:
    """How many upgrades the server refused for ``reason``, once ``at_least`` are logged (the
    log is read by a thread: wait for it, bounded)."""
    deadline = time.monotonic() + scaled(10)
    while True:
        count = sum(1 for line in server.stderr_lines if "refused" in line and reason in line)
        if count >= at_least or time.monotonic() > deadline:
            return count
        time.sleep(0.05)


@requires("chromium")
@pytest.mark.parametrize(("address", "reason"), [("", "token required"), ("?token=no", "invalid")])
def test_wrong_or_missing_token_is_explained_and_not_retried(
    browser: Any, address: str, reason: str
) -> None:
    with ServeProcess(env={"WSCLI_TOKEN": "s3cret"}) as server:
        page = open_page(browser, server.http_url + address, nick="ann", clock=True)
        page.wait_for_selector('#status[data-state="refused"]', timeout=PAGE_WAIT_MS)
        status = "Not admitted: wrong or missing token (open this page with ?token=…)"
        assert page.text_content("#status").strip() == status
        # The old page retried every 0.25-2 s: the page's clock runs past its longest backoff
        # and it opens no other connection.
        page.clock.run_for(BACKOFF_MAX_MS + 1000)
        assert page.evaluate("window.__sockets") == 1
        assert refused_lines(server, reason) == 1, server.stderr
        assert (
            page.locator("#messages li.local")
            .last.inner_text()
            .endswith("Not retrying; press Join to try again. —")
        )
        # Typing is not lost: queued until the user fixes the address.
        send_from_page(page, "not yet")
        page.locator("#messages li.pending").wait_for()  # drawn in the next frame
        assert page.locator("#messages li.pending").count() == 1
        assert page.locator("#messages li.pending .sending").inner_text() == (
            "not sent (not admitted)"
        )
        page.click("#join")  # asked again: one more try
        page.wait_for_selector('#status[data-state="refused"]', timeout=PAGE_WAIT_MS)
        assert refused_lines(server, reason, at_least=2) == 2, server.stderr
        page.clock.run_for(BACKOFF_MAX_MS + 1000)
        assert page.evaluate("window.__sockets") == 2
        assert refused_lines(server, reason) == 2, server.stderr
        page.context.close()


@requires("chromium")
def test_full_server_is_explained_and_retried_slowly(browser: Any) -> None:
    with ServeProcess("--max-clients", "1") as server, raw_client(server.ws_url("/chat")) as raw:
        page = open_page(browser, server.http_url, nick="ann", clock=True)
        page.wait_for_function(
            "() => document.querySelector('#status').textContent.includes('Server full')"
        )
        assert re.fullmatch(
            r"Server full, retrying in (30|29|28) s", page.text_content("#status").strip()
        )
        # Slowly: 25 s of the page's clock later it has not tried again, and counts down.
        page.clock.run_for(25_000)
        assert page.evaluate("window.__sockets") == 1
        assert re.fullmatch(
            r"Server full, retrying in (5|4|3) s", page.text_content("#status").strip()
        )
        assert refused_lines(server, "server full") == 1, server.stderr
        raw.close()
        page.click("#join")  # a place is free now; Join tries at once
        wait_online(page)
        page.context.close()


class HostRewritingProxy:
    """A reverse proxy on another port that tells the server its own ``Host`` (as nginx with
    ``proxy_set_header Host 127.0.0.1:PORT`` does): the page's origin is then foreign."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        head = b""
        with client, socket.create_connection(("127.0.0.1", self.port)) as upstream:
            client.settimeout(scaled(10))
            while b"\r\n\r\n" not in head and len(head) < 65536:
                chunk = client.recv(4096)
                if not chunk:
                    return
                head += chunk
            head = re.sub(rb"(?im)^host:[^\r]*", b"Host: 127.0.0.1:%d" % self.port, head, count=1)
            upstream.sendall(head)
            threading.Thread(target=_pipe, args=(client, upstream), daemon=True).start()
            _pipe(upstream, client)

    def close(self) -> None:
        self.listener.close()


def _pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            target.sendall(chunk)
        target.shutdown(socket.SHUT_WR)
    except OSError:
        pass


@requires("chromium")
def test_foreign_origin_is_explained_and_not_retried(browser: Any, server: ServeProcess) -> None:
    proxy = HostRewritingProxy(server.port)
    try:
        page = open_page(browser, proxy.url, nick="ann", clock=True)
        page.wait_for_selector('#status[data-state="refused"]', timeout=PAGE_WAIT_MS)
        origin = proxy.url.rstrip("/")
        assert page.text_content("#status").strip() == (
            f"Not admitted: not allowed from this origin ({origin})"
        )
        page.clock.run_for(BACKOFF_MAX_MS + 1000)  # past the longest backoff: no retry
        assert page.evaluate("window.__sockets") == 1
        assert refused_lines(server, "not allowed") == 1, server.stderr
        page.context.close()
    finally:
        proxy.close()
