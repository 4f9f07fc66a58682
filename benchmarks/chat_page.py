"""The chat page under a burst: the new page beside the old one, in one run.

A raw client sends N messages as fast as it can to a room a page is showing (a real
`wscli serve`, a real headless Chromium), and reads them back (the server echoes them).

- **shown after echo**: from the moment the raw client has the echo of the burst's last
  message (the server has sent it to everybody) to the first animation frame in which the
  page shows it (wall clocks of the same machine: ``performance.timeOrigin`` + ``now()``);
- **longest task**: the longest main-thread task during the burst (PerformanceObserver
  ``longtask``, which reports tasks over 50 ms; 0 means none was that long);
- **key shown after**: a key pressed in the message field as the burst arrives, from the
  key event's time stamp to the first animation frame after its letter reached the field.

The old page is ``benchmarks/chat_page_old.html`` (the page before its rewrite for large
bursts), served in place of the new one by the browser (``page.route``) from the same
server, so both talk to the same `wscli serve`. Its large bursts take minutes (110.7 s were
measured for 5,000), so it is run only up to ``--old-max`` messages. Numbers are noisy on a shared
machine: compare the two pages within one run.

    .venv/bin/python benchmarks/chat_page.py [--sizes 500,2000,5000] [--old-max 2000]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

HERE = Path(__file__).resolve().parent
OLD_PAGE = (HERE / "chat_page_old.html").read_text("utf-8")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # A page fulfilled by page.route has no address space: without this, Chromium's local
    # network access checks block its WebSocket to 127.0.0.1.
    "--disable-features=LocalNetworkAccessChecks",
]
BANNER = re.compile(r"Serving chat on (https?://[^/]+:(\d+)/)")
LAST = "bot: the last message of the burst"

# Installed before the page's own script: times the last arrival, the first frame showing
# it, and every long task. Wrapping the constructor only adds a listener.
PROBE_JS = """
(() => {
  const probe = window.__burst = { shown: null, start: null, tasks: [], key: null, down: 0 };
  // From the key press (the event's own time stamp) to the first frame showing its letter.
  addEventListener("keydown", (event) => { probe.down = event.timeStamp; }, true);
  addEventListener("input", () => {
    requestAnimationFrame(() => { probe.key = performance.now() - probe.down; });
  }, true);
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) probe.tasks.push([e.startTime, e.duration]);
  }).observe({ type: "longtask", buffered: true });
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        if (probe.start === null) probe.start = performance.now();
      });
    }
  };
  const look = () => {
    // The last item: a child of the list (old page) or of its last group (new page).
    const list = document.getElementById("messages");
    let last = list && list.lastElementChild;
    if (last && last.tagName !== "LI") last = last.lastElementChild;
    if (last && last.textContent.includes("the last message of")) {
      probe.shown = performance.now();
      return;
    }
    requestAnimationFrame(look);
  };
  requestAnimationFrame(look);
})();
"""

RESULT_JS = """() => {
  const p = window.__burst;
  const during = p.tasks.filter(([start, duration]) => start + duration >= p.start);
  return {
    shown_at: performance.timeOrigin + p.shown,
    key_delay: p.key,
    longest_task: Math.max(0, ...during.map(([, d]) => d)),
    long_tasks: during.length,
    items: document.querySelectorAll("#messages li").length,
  };
}"""


@contextmanager
def serve() -> Iterator[int]:
    """A real `wscli serve` on a free port (the entry point beside this interpreter)."""
    wscli = Path(sys.executable).parent / "wscli"
    proc = subprocess.Popen(
        [str(wscli), "serve", "--port", "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 15
        for line in proc.stderr:
            match = BANNER.search(line)
            if match:
                # Keep reading its log, so a full pipe never blocks the server.
                threading.Thread(target=proc.stderr.read, daemon=True).start()
                yield int(match.group(2))
                break
            if time.monotonic() > deadline:
                raise RuntimeError("wscli serve did not start")
    finally:
        proc.terminate()
        proc.wait(10)


def burst(browser: Any, port: int, size: int, old: bool, timeout: float) -> dict[str, Any]:
    """Send ``size`` messages to a page (the old or the new one) and measure it."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_init_script("localStorage.setItem('wscli.chat.nick', 'reader');")
    context.add_init_script(PROBE_JS)
    page = context.new_page()
    url = f"http://127.0.0.1:{port}/"
    if old:
        page.route(url, lambda route: route.fulfill(body=OLD_PAGE, content_type="text/html"))
    page.goto(url + f"#bench-{size}-{'old' if old else 'new'}")
    page.wait_for_selector('#status[data-state="online"]', timeout=10_000)
    room = f"/bench-{size}-{'old' if old else 'new'}"
    page.focus("#text")
    with connect(f"ws://127.0.0.1:{port}{room}", proxy=None, max_queue=None) as raw:
        echoed: list[float] = []

        def read_echoes() -> None:
            while raw.recv(timeout=timeout) != LAST:
                pass
            echoed.append(time.time() * 1000)

        reader = threading.Thread(target=read_echoes, daemon=True)
        reader.start()
        for i in range(size - 1):
            raw.send(f"bot: burst message {i} of {size}")
        raw.send(LAST)
        page.keyboard.press("k")  # typed while the burst arrives
        reader.join(timeout)
        page.wait_for_function("() => window.__burst.shown !== null", timeout=timeout * 1000)
        page.wait_for_function("() => window.__burst.key !== null", timeout=timeout * 1000)
    result: dict[str, Any] = page.evaluate(RESULT_JS)
    result["shown_after_echo"] = result["shown_at"] - echoed[0]
    context.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="500,2000,5000")
    parser.add_argument("--old-max", type=int, default=2000)
    parser.add_argument("--timeout", type=float, default=180)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    from playwright.sync_api import sync_playwright

    print(
        "page  messages  shown after echo (ms)  longest task (ms)  tasks > 50 ms  "
        "key shown after (ms)  items"
    )
    with serve() as port, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        for size in sizes:
            for old in (False, True):
                name = "old" if old else "new"
                if old and size > args.old_max:
                    print(f"{name:4}  {size:8}  (not run: over --old-max {args.old_max})")
                    continue
                r = burst(browser, port, size, old, args.timeout)
                print(
                    f"{name:4}  {size:8}  {r['shown_after_echo']:21.0f}  "
                    f"{r['longest_task']:17.0f}  {r['long_tasks']:13}  "
                    f"{r['key_delay']:20.0f}  {r['items']:5}",
                    flush=True,
                )
        browser.close()


if __name__ == "__main__":
    main()
