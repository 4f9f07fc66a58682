"""Screenshots of the chat page for the README: light, dark and a 320x256 screen.

Runs a real `wscli serve` (the entry point beside this interpreter) and Debian's headless
Chromium, has a raw client and a second page chat a little, and writes docs/chat-light.png,
docs/chat-dark.png and docs/chat-narrow.png.

    .venv/bin/python docs/make_screenshots.py
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

HERE = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic"]
BANNER = re.compile(r"Serving chat on https?://[^/]+:(\d+)/")

CONVERSATION = [
    "ada: Is the deploy done?",
    "grace: Yes, see https://example.com/deploys/42 (all green).",
    "linus: Two lines:\nfirst, then second.",
    "ada: ",
    "grace: Names keep their colour: زينب and al\u200bice are shown as they are.",
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


def shoot(browser: Any, port: int, name: str, **context_args: Any) -> None:
    context = browser.new_context(**context_args)
    context.add_init_script("localStorage.setItem('wscli.chat.nick', 'ada');")
    page = context.new_page()
    page.goto(f"http://127.0.0.1:{port}/")
    page.wait_for_selector('#status[data-state="online"]', timeout=10_000)
    page.fill("#text", "Hello")
    page.wait_for_timeout(600)
    page.screenshot(path=str(HERE / f"chat-{name}.png"))
    context.close()


def main() -> None:
    from playwright.sync_api import sync_playwright

    proc, port = start_server()
    try:
        with connect(f"ws://127.0.0.1:{port}/chat", proxy=None) as raw:
            for line in CONVERSATION:
                raw.send(line)
            raw.send(b"\x89PNG\r\n")
            time.sleep(0.3)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            shoot(browser, port, "light", viewport={"width": 860, "height": 540})
            shoot(
                browser,
                port,
                "dark",
                viewport={"width": 860, "height": 540},
                color_scheme="dark",
            )
            shoot(browser, port, "narrow", viewport={"width": 320, "height": 256})
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
