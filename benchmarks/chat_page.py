"""The chat page under a burst: the new page beside the old one, in one run.

A raw client sends N messages as fast as it can to a room a page is showing (a real
`wscli serve`, a real headless Chromium), and reads them back (the server echoes them).

- **shown after echo**: from the moment the raw client has the echo of the burst's last
  message (the server has sent it to everybody) to the first animation frame in which the
  page shows it (wall clocks of the same machine: ``performance.timeOrigin`` + ``now()``);
- **longest task**: the longest main-thread task during the burst (PerformanceObserver
  ``longtask``, which reports tasks over 50 ms; 0 means none was that long);
- **key shown after**: a key pressed in the message field as the burst arrives, from the
  key event's time stamp to the first animation frame after its letter reached the field;
- **renderer CPU**: the CPU time Chromium's renderer processes used from the burst's start to
  the frame showing its end (``/proc``, Linux): unlike the wall-clock columns, it does not
  grow when other work on the machine takes the CPU; with **drawn**, the message items the
  page created for the burst (a page that falls behind skips items it would trim at once).

- **heap**: the page's JavaScript heap after a garbage collection (DevTools
  ``HeapProfiler.collectGarbage``, then ``Runtime.getHeapUsage``) once it has shown 20,000
  and then 40,000 messages (``--heap``): the page keeps at most 2,000 per room, so the two
  should be about equal (flat).

The old page is ``benchmarks/chat_page_old.html`` (the page before its rewrite for large
bursts), served in place of the new one by the browser (``page.route``) from the same
server, so both talk to the same `wscli serve`. Its large bursts take minutes (110.7 s were
measured for 5,000), so it is run only up to ``--old-max`` messages. ``--baseline FILE``
measures another version of the page the same way (e.g. ``git show
main:wscli/serve/static/chat.html > /tmp/base.html``), bursts and heap, to check a change
does not regress. Numbers are noisy on a shared machine: compare the pages within one run.

    .venv/bin/python benchmarks/chat_page.py [--sizes 500,2000,5000] [--old-max 2000]
        [--heap 20000,40000] [--baseline FILE]
"""

from __future__ import annotations

import argparse
import os
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
  const probe = window.__burst = {
    shown: null, start: null, tasks: [], key: null, down: 0, drawn: 0,
  };
  const create = document.createElement.bind(document);
  document.createElement = (tag, options) => {
    if (tag === "li") probe.drawn += 1;
    return create(tag, options);
  };
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
    drawn: p.drawn,
  };
}"""


def renderer_cpu() -> dict[str, float]:
    """CPU seconds used so far by each of Chromium's renderer processes (Linux ``/proc``)."""
    found: dict[str, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                if b"--type=renderer" not in cmdline.read():
                    continue
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        found[pid] = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return found


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


def burst(
    browser: Any, port: int, size: int, name: str, html: str | None, timeout: float
) -> dict[str, Any]:
    """Send ``size`` messages to a page (``html``, or the server's own) and measure it."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_init_script("localStorage.setItem('wscli.chat.nick', 'reader');")
    context.add_init_script(PROBE_JS)
    page = context.new_page()
    url = f"http://127.0.0.1:{port}/"
    serve_page(page, url, html)
    page.goto(url + f"#bench-{size}-{name}")
    page.wait_for_selector('#status[data-state="online"]', timeout=10_000)
    room = f"/bench-{size}-{name}"
    page.focus("#text")
    before = renderer_cpu()
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
    after = renderer_cpu()
    result: dict[str, Any] = page.evaluate(RESULT_JS)
    result["shown_after_echo"] = result["shown_at"] - echoed[0]
    result["cpu"] = 1000 * sum(after[pid] - before[pid] for pid in after if pid in before)
    context.close()
    return result


def serve_page(page: Any, url: str, html: str | None) -> None:
    """Have the browser show ``html`` in place of the server's page (same origin)."""
    if html is not None:
        body = html
        page.route(url, lambda route: route.fulfill(body=body, content_type="text/html"))


LAST_ITEM_JS = """(marker) => {
  const list = document.getElementById("messages");
  let last = list && list.lastElementChild;
  if (last && last.tagName !== "LI") last = last.lastElementChild;
  return !!last && last.textContent.includes(marker);
}"""


def heap(
    browser: Any, port: int, totals: list[int], html: str | None, timeout: float
) -> list[tuple[int, float]]:
    """The page's JavaScript heap (MB, after a garbage collection) once it has shown each of
    ``totals`` messages in all (one room, one raw client sending as fast as it can)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_init_script("localStorage.setItem('wscli.chat.nick', 'reader');")
    page = context.new_page()
    url = f"http://127.0.0.1:{port}/"
    serve_page(page, url, html)
    room = f"heap-{'base' if html is not None else 'new'}"
    page.goto(url + "#" + room)
    page.wait_for_selector('#status[data-state="online"]', timeout=10_000)
    cdp = context.new_cdp_session(page)
    found = []
    sent = 0
    with connect(f"ws://127.0.0.1:{port}/{room}", proxy=None, max_queue=None) as raw:
        for total in totals:
            marker = f"end of {total}"

            def read_echoes(marker: str = marker) -> None:
                while marker not in str(raw.recv(timeout=timeout)):
                    pass

            reader = threading.Thread(target=read_echoes, daemon=True)
            reader.start()
            while sent < total - 1:
                raw.send(f"bot: heap message {sent} with some text to it")
                sent += 1
            raw.send(f"bot: {marker}")
            sent += 1
            reader.join(timeout)
            page.wait_for_function(LAST_ITEM_JS, arg=marker, timeout=timeout * 1000)
            page.wait_for_timeout(500)
            cdp.send("HeapProfiler.collectGarbage")
            used = cdp.send("Runtime.getHeapUsage")["usedSize"]
            found.append((total, used / 2**20))
    context.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="500,2000,5000")
    parser.add_argument("--old-max", type=int, default=2000)
    parser.add_argument("--timeout", type=float, default=180)
    parser.add_argument("--heap", default="20000,40000", help="message totals; '' skips")
    parser.add_argument("--baseline", type=Path, help="another version of the page to compare")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    totals = [int(s) for s in args.heap.split(",") if s]
    base = args.baseline.read_text("utf-8") if args.baseline else None
    pages: list[tuple[str, str | None]] = [("new", None)]
    if base is not None:
        pages.append(("base", base))
    pages.append(("old", OLD_PAGE))
    from playwright.sync_api import sync_playwright

    print(
        "page  messages  shown after echo (ms)  longest task (ms)  tasks > 50 ms  "
        "key shown after (ms)  items  renderer CPU (ms)  drawn"
    )
    with serve() as port, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        for size in sizes:
            for name, html in pages:
                if name == "old" and size > args.old_max:
                    print(f"{name:4}  {size:8}  (not run: over --old-max {args.old_max})")
                    continue
                r = burst(browser, port, size, name, html, args.timeout)
                print(
                    f"{name:4}  {size:8}  {r['shown_after_echo']:21.0f}  "
                    f"{r['longest_task']:17.0f}  {r['long_tasks']:13}  "
                    f"{r['key_delay']:20.0f}  {r['items']:5}  {r['cpu']:17.0f}  {r['drawn']:5}",
                    flush=True,
                )
        if totals:
            print("\npage  messages shown  heap after GC (MB)")
            for name, html in pages:
                if name == "old":
                    continue  # minutes per thousand messages: see the burst table
                for total, used in heap(browser, port, totals, html, args.timeout):
                    print(f"{name:4}  {total:14}  {used:18.1f}", flush=True)
        browser.close()


if __name__ == "__main__":
    main()
