"""Screenshots of the chat page for the README: light, dark and a 320x256 screen.

Runs a real `wscli serve` (the entry point beside this interpreter) and Debian's headless
Chromium. Two raw clients and the page (as "ada") chat a little, so the pictures show
messages grouped by author, your own messages marked, a link, an invisible character made
visible and a lookalike name flagged; then it writes docs/chat-light.png, docs/chat-dark.png
and docs/chat-narrow.png.

    .venv/bin/python docs/make_screenshots.py
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

HERE = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic"]
BANNER = re.compile(r"Serving chat on https?://[^/]+:(\d+)/")
# Every page is "ada" in the same tab session: each shot's page takes over the last one's
# name instead of becoming "ada (2)".
PAGE_SETUP = (
    "localStorage.setItem('wscli.chat.nick', 'ada');"
    "sessionStorage.setItem('wscli.chat.session', 'docs-screenshots-ada');"
)

# (who, text or bytes): "ada" is the page itself (your own messages); the others are raw
# clients.
CONVERSATION = [
    ("ada", "Is the deploy done?"),
    ("grace", "Yes, see https://example.com/deploys/42 (all green)."),
    ("grace", "Two lines:\nfirst the API, then the workers."),
    ("\u0430lice", "Hi all, I'm alice (or am I?)"),  # the "а" is Cyrillic
    ("grace", "Invisible characters stay visible: al\u200bice."),
    ("linus", b"\x89PNG\r\n\x1a\n"),
    ("linus", "Nice. Rolling the canary back to 5 %."),
    ("ada", "Thanks! I'll watch the error rate."),
    ("ada", "Back in ten minutes."),
]


def start_server() -> tuple[subprocess.Popen[str], int]:
    wscli = Path(sys.executable).parent / "wscli"
    proc = subprocess.Popen(
        [str(wscli), "serve", "--port", "0", "--history", "20"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        match = BANNER.search(proc.stderr.readline())
        if match:
            return proc, int(match.group(1))
    proc.terminate()
    raise RuntimeError("wscli serve did not start")


def open_page(browser: Any, port: int, **context_args: Any) -> Any:
    context = browser.new_context(**context_args)
    context.add_init_script(PAGE_SETUP)
    page = context.new_page()
    page.goto(f"http://127.0.0.1:{port}/")
    page.wait_for_selector('#status[data-state="online"]', timeout=10_000)
    return page


def converse(browser: Any, port: int) -> None:
    """The conversation, once: kept in the server's history for every shot."""
    page = open_page(browser, port)
    raws: dict[str, ClientConnection] = {}  # closed in the finally clause
    try:
        for who in ("grace", "linus", "\u0430lice"):
            raws[who] = connect(f"ws://127.0.0.1:{port}/chat?nick={who}", proxy=None)
        for who, text in CONVERSATION:
            if who == "ada":
                assert isinstance(text, str)
                page.fill("#text", text)
                page.press("#text", "Enter")
                page.wait_for_selector("#messages li.mine:not(.pending) >> nth=-1")
            elif isinstance(text, bytes):
                raws[who].send(text)
            else:
                raws[who].send(f"{who}: {text}")
            time.sleep(0.15)
        time.sleep(0.5)
    finally:
        for raw in raws.values():
            raw.close()
        page.context.close()


def shoot(browser: Any, port: int, name: str, **context_args: Any) -> None:
    page = open_page(browser, port, **context_args)
    page.fill("#text", "Hello")
    page.wait_for_timeout(800)
    page.screenshot(path=str(HERE / f"chat-{name}.png"))
    page.context.close()
    time.sleep(0.3)


def main() -> None:
    from playwright.sync_api import sync_playwright

    proc, port = start_server()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            converse(browser, port)
            shoot(browser, port, "light", viewport={"width": 860, "height": 620})
            shoot(
                browser,
                port,
                "dark",
                viewport={"width": 860, "height": 620},
                color_scheme="dark",
            )
            shoot(browser, port, "narrow", viewport={"width": 320, "height": 256})
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
