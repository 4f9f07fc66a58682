"""What a screen reader hears from the chat page, read from Chromium's own accessibility tree
(real headless Chromium, a real `wscli serve`): one announcement per burst with the true
count, your own messages not read back to you, and no status chatter while offline (only
lasting changes, at most one per retry)."""

from __future__ import annotations

import itertools
import threading
from typing import Any

from tests.serve.chat_page_support import (
    Relay,
    open_page,
    raw_client,
    recv_until,
    run_offline,
    run_online,
    run_until_online,
    send_from_page,
    wait_line,
    wait_online,
)
from tests.support import requires, scaled
from tests.support.serve_process import ServeProcess

pytestmark = requires("chromium")

# Installed before the page's script: every change of every live region's text, timed (on
# the page's clock).
SPEECH_PROBE = """
(() => {
  const heard = window.__heard = [];
  const watch = () => {
    const live = '[aria-live], [role=status], [role=log], [role=alert]';
    for (const region of document.querySelectorAll(live)) {
      const role = region.getAttribute('role') || 'live';
      let last = region.textContent;
      new MutationObserver((records) => {
        if (role === 'log') {
          for (const r of records) {
            for (const n of r.addedNodes) heard.push([role, n.textContent, performance.now()]);
          }
        } else if (region.textContent !== last) {
          last = region.textContent;
          heard.push([role, last, performance.now()]);
        }
      }).observe(region, { childList: true, characterData: true, subtree: true });
    }
  };
  document.addEventListener('DOMContentLoaded', watch);
})();
"""


def heard(page: Any, role: str) -> list[str]:
    return [text for kind, text, _ in page.evaluate("window.__heard") if kind == role]


def live_regions(page: Any) -> dict[str, list[str]]:
    """Chromium's accessibility tree: the text each live region (status, log) holds."""
    cdp = page.context.new_cdp_session(page)
    nodes = cdp.send("Accessibility.getFullAXTree")["nodes"]
    cdp.detach()
    by_id = {node["nodeId"]: node for node in nodes}

    def texts(node: dict[str, Any]) -> list[str]:
        found = []
        for child in node.get("childIds", []):
            kid = by_id.get(child)
            if kid is None:
                continue
            if kid.get("role", {}).get("value") == "StaticText":
                found.append(str(kid.get("name", {}).get("value")))
            else:
                found += texts(kid)
        return found

    regions: dict[str, list[str]] = {}
    for node in nodes:
        role = str(node.get("role", {}).get("value"))
        if role in ("status", "log", "alert"):
            regions.setdefault(role, []).extend(texts(node))
    return regions


def test_a_burst_is_one_announcement_with_the_true_count(browser: Any) -> None:
    # Before: a 5,000-message burst was announced as "3606 new messages" (the messages
    # trimmed before drawing were not counted). Own messages were read back too. The page's
    # clock stands still while the burst arrives (at load, a real second without a message
    # came in the middle of it, and 1 s of quiet ends a burst), then runs past its
    # announcement delays.
    with ServeProcess() as server:
        page = open_page(
            browser, server.http_url + "#burst", nick="sam", init=SPEECH_PROBE, clock=True
        )
        try:
            wait_online(page)
            with raw_client(server.ws_url("/burst?nick=bot")) as bot:
                page.wait_for_function(
                    "() => window.__heard.some(([role, text]) => text === 'bot joined')"
                )
                send_from_page(page, "my own words")
                wait_line(page, "text", "my own words", author="sam")
                run_online(page, 1500)
                before = len(heard(page, "log"))
                received = page.evaluate("window.__received")
                page.clock.pause_at(page.evaluate("Date.now()") + 1)

                def read() -> None:
                    recv_until(bot, "bot: the last", timeout=60)

                reader = threading.Thread(target=read, daemon=True)
                reader.start()
                for i in range(4999):
                    bot.send(f"bot: burst {i}")
                bot.send("bot: the last")
                reader.join(scaled(60))
                page.wait_for_function(
                    f"() => window.__received >= {received + 5000}", polling=50
                )  # polled on a real timer: the page draws nothing while its clock stands
                page.clock.resume()
                wait_line(page, "text", "the last", author="bot")
                run_online(page, 3000)  # the burst's end, and nothing else follows
            spoken = heard(page, "log")
            assert spoken[before:] == ["5000 new messages in /burst"], spoken[before:]
            assert not any("my own words" in line for line in spoken), spoken
            # What assistive technology gets: the log region of Chromium's tree holds it.
            regions = live_regions(page)
            assert "5000 new messages in /burst" in regions["log"], regions
            assert not any("my own words" in text for text in regions["log"]), regions
        finally:
            page.context.close()


def test_offline_status_is_announced_once_not_on_every_retry(browser: Any) -> None:
    # Before: offline, the status region changed 17 times in 60 s, 8 of them undone within
    # 100 ms ("Connecting…" then "Offline…"). The page's clock runs through its backoffs; each
    # retry is refused for real.
    relay = Relay()
    with ServeProcess(*relay.origin) as server:
        relay.restore(server.port)
        page = open_page(browser, relay.url + "#talk", nick="sam", init=SPEECH_PROBE, clock=True)
        try:
            wait_online(page)
            page.wait_for_function("() => window.__heard.some(([role]) => role === 'status')")
            assert heard(page, "status") == ["Connected to /talk as sam"]
            sockets = page.evaluate("window.__sockets")
            relay.upgrades = "refuse"
            relay.cut()
            relay.restore(server.port)
            # 20 s of the page's time: retries after 0.25-0.5 s, 0.5-1, 1-2, 2-4, 4-8...
            page.wait_for_selector('#status[data-state="offline"]')
            offline = page.evaluate("performance.now()")
            while page.evaluate("performance.now()") - offline < 20_000:
                run_offline(page)
            retries = page.evaluate("window.__sockets") - sockets
            assert retries >= 4, retries
            changes = page.evaluate("window.__heard.filter(([role]) => role === 'status')")
            assert [text for _, text, _ in changes] == [
                "Connected to /talk as sam",
                "Offline, reconnecting",
            ], changes
            # Nothing said was undone at once: each state lasted before it was spoken.
            times = [at for _, _, at in changes]
            assert all(b - a > 1000 for a, b in itertools.pairwise(times)), times
            # The status line itself is not a live region (it shows the countdown).
            assert page.evaluate(
                "['role', 'aria-live'].map(a => document.getElementById('status').getAttribute(a))"
            ) == [None, None]
            regions = live_regions(page)
            assert regions["status"] == ["Offline, reconnecting"], regions
            relay.upgrades = "pass"
            run_until_online(page)  # 20 s of retries: the backoff is at its ceiling
            page.wait_for_function(
                "() => window.__heard.filter(([role]) => role === 'status').length === 3",
                timeout=scaled(20_000),
            )
            assert heard(page, "status")[-1] == "Connected to /talk as sam"
        finally:
            relay.close()
            page.context.close()
