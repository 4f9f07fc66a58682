"""Helpers for the chat page tests: Debian's Chromium through playwright, pages, raw clients.

Shared by test_chat_page.py and test_chat_page_view.py (the page is tested in a real
headless Chromium against a real `wscli serve`, beside raw WebSocket clients).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from websockets.sync.client import ClientConnection, connect

from tests.support import OPEN_TIMEOUT, scaled

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

PAGE_WAIT_MS = scaled(30_000)
"""How long a page may take to show what a test waits for: a failure bound only, never waited
out when things work (10 s ran out for Chromium beside another copy of the suite, load 20)."""

# What a page shows: one entry per list item, kind (text/notice/binary/local/pending), author,
# body, time.
LINES_JS = """() => [...document.querySelectorAll('#messages li')].map(li => ({
  kind: li.dataset.kind,
  author: li.querySelector('.author') ? li.querySelector('.author').firstChild.textContent : null,
  body: li.querySelector('.body').textContent,
  time: li.querySelector('time').textContent,
  datetime: li.querySelector('time').dateTime,
}))"""

HAS_LINE_JS = """([kind, author, body]) => [...document.querySelectorAll('#messages li')].some(li =>
  li.dataset.kind === kind && li.querySelector('.body').textContent === body &&
  (li.querySelector('.author') ? li.querySelector('.author').firstChild.textContent : null)
    === author)"""


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium for a test module. Never kept longer: while Playwright's sync API
    runs, its event loop counts as running in this thread, and every later asyncio.run() of
    the worker fails ("cannot be called from a running event loop")."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_page(
    browser: Any,
    url: str,
    nick: str | None = None,
    init: str | None = None,
    *,
    clock: bool = False,
    **context_args: Any,
) -> Any:
    """A page in its own browser context (own localStorage); ``nick`` pre-remembered;
    ``init`` a script run before the page's own; ``clock``: the page's timers on Playwright's
    clock (time flows as usual until a test runs it forward: see :func:`run_offline`)."""
    context = browser.new_context(**context_args)
    context.set_default_timeout(PAGE_WAIT_MS)
    if clock:
        context.clock.install()
        context.add_init_script(CLOCK_PROBE)
    if nick is not None:
        context.add_init_script(f"localStorage.setItem('wscli.chat.nick', {nick!r});")
    if init is not None:
        context.add_init_script(init)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.js_errors = errors
    response = page.goto(url)
    assert response is not None and response.ok
    assert response.headers["content-type"].startswith("text/html")
    return page


BROWSER_NETWORK_ERRORS = ("net::ERR_", "WebSocket connection to", "Failed to load resource")
"""How Chromium's own console reports a connection refused, cut or closed while being set
up (ERR_CONNECTION_REFUSED, ERR_SOCKET_NOT_CONNECTED...): what a test's own server stop or
relay cut provokes, not an error of the page's script."""


def script_errors(page: Any) -> list[str]:
    """What went wrong in the page's script, without the browser's network messages (for
    tests that stop, cut or refuse the page's connection on purpose)."""
    return [e for e in page.js_errors if not any(n in e for n in BROWSER_NETWORK_ERRORS)]


# The page's reconnect backoff stops growing at 7.5-15 s: after many dead connections, coming
# back online can take that long plus the connection.
AFTER_BACKOFF = 30.0


def wait_online(page: Any, seconds: float = 10) -> None:
    page.wait_for_selector('#status[data-state="online"]', timeout=scaled(seconds * 1000))


# A page on Playwright's clock (open_page(clock=True)) is run forward in steps this long, each
# followed by a real wait for what the step started: the server and the sockets keep real
# time, so a page whose clock ran on past a connection attempt would see it answered late.
# Shorter than any of the page's waits that a step could otherwise swallow (a state is spoken
# after 1.5 s; the first retry comes after 0.25-0.5 s).
CLOCK_STEP_MS = 250
BACKOFF_MAX_MS = 15_000  # chat.html: the longest wait between two attempts

# Installed before the page's script on a page with a clock: how many WebSockets it opened,
# how many heartbeat pings it sent and how many pongs answered them.
CLOCK_PROBE = """
(() => {
  window.__sockets = 0;
  window.__pings = 0;
  window.__pongs = 0;
  window.__received = 0;  // every other message, counted as it arrives (drawn or not)
  const Native = window.WebSocket;
  const send = Native.prototype.send;
  Native.prototype.send = function (data) {
    if (typeof data === "string" && data.startsWith('{"type":"ping"')) window.__pings += 1;
    return send.call(this, data);
  };
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      window.__sockets += 1;
      this.addEventListener("message", (event) => {
        if (typeof event.data === "string" && event.data.startsWith('{"type":"pong"')) {
          window.__pongs += 1;
        } else {
          window.__received += 1;
        }
      });
    }
  };
})();
"""


def run_offline(page: Any, most_ms: int = BACKOFF_MAX_MS) -> None:
    """The page, once it showed offline, waits for its next attempt (its backoff, up to
    15 s): run its clock on until the attempt starts, firing every timer at its time (the
    countdown, what is spoken); then wait, in real time, until the attempt is answered
    (online or offline again). Fails if no attempt starts within ``most_ms`` of the page's
    time. (Its clock also flows by itself: the attempt may have started already, even been
    answered online, and waiting for "offline" here again failed at load.)"""
    sockets = page.evaluate("window.__sockets")
    now = "[window.__sockets, document.getElementById('status').dataset.state]"
    for _ in range(0, most_ms + 2 * CLOCK_STEP_MS, CLOCK_STEP_MS):
        opened, state = page.evaluate(now)
        # An attempt started (the clock also flows by itself between two steps, as time does):
        # wait for its answer before the clock runs on.
        if opened > sockets or state != "offline":
            page.wait_for_selector('#status:not([data-state="connecting"])')
            return
        page.clock.run_for(CLOCK_STEP_MS)
    raise AssertionError(f"no new attempt within {most_ms} ms: {page.inner_text('#status')}")


def run_until_online(page: Any, attempts: int = 8) -> None:
    """Until the page is online: each time it waits offline, its clock runs to its next
    attempt (:func:`run_offline`); each attempt is answered for real."""
    for _ in range(attempts):
        page.wait_for_selector('#status[data-state="offline"], #status[data-state="online"]')
        if page.get_attribute("#status", "data-state") == "online":
            return
        run_offline(page)
    wait_online(page)


def run_online(page: Any, ms: int) -> None:
    """Run the clock of a page online (open_page(clock=True)) ``ms``
    forward in steps; after each step wait, in real time, until each heartbeat ping the page
    sent is answered, as it is at once over a live link."""
    for _ in range(0, ms, CLOCK_STEP_MS):
        page.clock.run_for(CLOCK_STEP_MS)
        page.wait_for_function("() => window.__pongs >= window.__pings")


def drawn(page: Any) -> None:
    """Wait until the page has drawn what it has (two animation frames: the page draws in
    requestAnimationFrame, and the second frame starts after the first one's layout)."""
    page.evaluate("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")


def wait_until(
    page: Any, condition: str, shown: str, arg: Any = None, what: str = "never true"
) -> None:
    """Wait until the JavaScript function ``condition`` (given ``arg``) is true; on timeout
    fail with ``what`` and what the function ``shown`` gives."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(condition, arg=arg, timeout=PAGE_WAIT_MS)
    except PlaywrightTimeout:
        raise AssertionError(f"{what}: {page.evaluate(shown, arg)}") from None


def wait_line(page: Any, kind: str, body: str, author: str | None = None) -> None:
    """Wait until the page shows this message; on timeout fail with what it does show."""
    what = f"page never showed {kind} {author!r} {body!r}; it shows"
    wait_until(page, HAS_LINE_JS, LINES_JS, [kind, author, body], what)


def lines(page: Any, *kinds: str) -> list[dict[str, Any]]:
    """The items the page shows (of these kinds, if given)."""
    shown: list[dict[str, Any]] = page.evaluate(LINES_JS)
    return [line for line in shown if not kinds or line["kind"] in kinds]


def raw_client(url: str) -> ClientConnection:
    return connect(url, proxy=None, open_timeout=scaled(OPEN_TIMEOUT), max_queue=None)


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


class Relay:
    """A TCP relay on 127.0.0.1 in front of a server (its origin is passed to the servers
    with ``--origin``). ``cut()`` drops every connection and refuses new ones until
    ``restore(port)``, which may point it at another server; ``silence()`` makes the
    connections open now drop every byte while staying open, as a Wi-Fi drop or an expired
    NAT entry does (``to_page_only``: what the page sends still reaches the server); new
    connections are relayed as usual. ``upgrades`` can refuse or hold WebSocket upgrades
    while the page itself still loads."""

    def __init__(self) -> None:
        self.port = 0
        self.open = False
        # What becomes of WebSocket upgrades (pages always load): "pass", "refuse" (closed
        # unanswered) or "hold" (never answered: the page stays "Connecting…").
        self.upgrades = "pass"
        self.lock = threading.Lock()
        self.pairs: list[tuple[socket.socket, socket.socket, threading.Event, threading.Event]] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/"
        self.origin = ("--origin", self.url.rstrip("/"))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with self.lock:
            if not self.open:
                client.close()
                return
            port = self.port
        head = b""
        if self.upgrades != "pass":
            client.settimeout(scaled(5))
            with contextlib.suppress(OSError):
                while b"\r\n\r\n" not in head and len(head) < 65536:
                    chunk = client.recv(4096)
                    if not chunk:
                        break
                    head += chunk
            client.settimeout(None)
            if b"upgrade: websocket" in head.lower():
                if self.upgrades == "hold":
                    with self.lock:
                        self.pairs.append((client, client, threading.Event(), threading.Event()))
                    return
                client.close()
                return
        try:
            upstream = socket.create_connection(("127.0.0.1", port), timeout=scaled(5))
            upstream.sendall(head)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        to_server, to_page = threading.Event(), threading.Event()  # set: drop that way
        with self.lock:
            self.pairs.append((client, upstream, to_server, to_page))
        threading.Thread(target=_pipe, args=(client, upstream, to_server), daemon=True).start()
        _pipe(upstream, client, to_page)

    def cut(self) -> None:
        with self.lock:
            self.open = False
            dropped, self.pairs = self.pairs, []
        for client, upstream, _, _ in dropped:
            for sock in (client, upstream):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def silence(self, to_page_only: bool = False) -> None:
        with self.lock:
            for _, _, to_server, to_page in self.pairs:
                to_page.set()
                if not to_page_only:
                    to_server.set()

    def restore(self, port: int) -> None:
        with self.lock:
            self.port, self.open = port, True

    def close(self) -> None:
        self.cut()
        self.listener.close()


def _pipe(source: socket.socket, target: socket.socket, silent: threading.Event) -> None:
    try:
        while chunk := source.recv(65536):
            if not silent.is_set():
                target.sendall(chunk)
        if not silent.is_set():
            target.shutdown(socket.SHUT_WR)
    except OSError:
        pass
